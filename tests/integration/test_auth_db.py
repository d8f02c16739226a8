"""Auth service against real databases (SQLite file and PostgreSQL): create, authenticate, token, revoke."""

from __future__ import annotations

import pytest

from hub_api.auth.service import SCOPES, AuthError, AuthService, cli_create, cli_list, cli_revoke
from hub_api.db import Base, Database
from ops.settings import HubSettings

pytestmark = pytest.mark.integration


@pytest.fixture
def db(database_url):
    db = Database(database_url)
    try:
        db.create_schema()
    except ModuleNotFoundError as exc:  # registry models not written yet
        if exc.name != "hub_api.registry.models":
            raise
        import hub_api.auth.models  # noqa: F401

        Base.metadata.create_all(db.engine)
    yield db
    db.dispose()


@pytest.fixture
def settings(database_url) -> HubSettings:
    return HubSettings(database_url=database_url, environment="test")


def test_client_lifecycle(db, settings):
    auth = AuthService(db, settings)
    client_id, secret = auth.create_client(
        "Market supervision", "department", ["registries:write", "tasks:write"], "MKT", "330100"
    )
    principal = auth.authenticate(client_id, secret)
    assert principal is not None and principal.department_code == "MKT"
    assert auth.authenticate(client_id, "wrong") is None

    token, _ = auth.issue_token(principal, "tasks:write")
    verified = auth.verify_token(token)
    assert verified.client_id == client_id and verified.scopes == frozenset({"tasks:write"})

    [info] = auth.list_clients()
    assert info.created_at.tzinfo is not None and info.revoked_at is None

    assert auth.revoke(client_id)
    assert auth.authenticate(client_id, secret) is None
    with pytest.raises(AuthError):
        auth.verify_token(token)
    assert auth.list_clients()[0].revoked_at is not None
    assert auth.list_clients(include_revoked=False) == []


def test_operator_bootstrap_and_cli(db, settings):
    auth = AuthService(db, settings)
    op_id, op_secret = auth.ensure_operator()
    assert auth.ensure_operator() is None
    assert auth.authenticate(op_id, op_secret).scopes == frozenset(SCOPES)

    out = cli_create(db, settings, "Jiangsu", "peer", ["federation"])
    assert out["id"].startswith("peer-")
    ids = {c["id"] for c in cli_list(db, settings)}
    assert ids == {op_id, out["id"]}
    assert cli_revoke(db, settings, out["id"]) and not cli_revoke(db, settings, out["id"])
