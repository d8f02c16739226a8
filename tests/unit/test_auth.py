"""Auth service and HTTP surface on a SQLite file: secrets, tokens, scopes, 401/403 bodies."""

from __future__ import annotations

import base64
import time

import jwt
import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from hub_api.auth.deps import CurrentPrincipal, OptionalPrincipal, require_scope
from hub_api.auth.routes import router
from hub_api.auth.service import (
    SCOPES,
    AuthError,
    AuthService,
    Principal,
    cli_create,
    cli_list,
    cli_revoke,
    hash_secret,
    verify_secret,
)
from hub_api.db import Base, Database
from ops.settings import HubSettings


def make_db(url: str) -> Database:
    db = Database(url)
    try:
        db.create_schema()
    except ModuleNotFoundError as exc:  # registry models not written yet
        if exc.name != "hub_api.registry.models":
            raise
        import hub_api.auth.models  # noqa: F401

        Base.metadata.create_all(db.engine)
    return db


@pytest.fixture
def db(tmp_path):
    db = make_db(f"sqlite:///{tmp_path}/a.db")
    yield db
    db.dispose()


@pytest.fixture
def settings(tmp_path) -> HubSettings:
    return HubSettings(database_url=f"sqlite:///{tmp_path}/a.db", environment="test")


@pytest.fixture
def auth(db, settings) -> AuthService:
    return AuthService(db, settings)


def basic(client_id: str, secret: str) -> dict[str, str]:
    token = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def body(resp) -> dict:
    """The error body, whether or not an app-wide handler unwraps HTTPException.detail."""
    data = resp.json()
    return data["detail"] if isinstance(data.get("detail"), dict) else data


# --- secrets ---------------------------------------------------------------------------


def test_hash_is_salted_self_describing_and_verifies():
    h1, h2 = hash_secret("s3cret"), hash_secret("s3cret")
    assert h1 != h2 and h1.startswith("scrypt$16384$8$1$")
    assert verify_secret("s3cret", h1) and verify_secret("s3cret", h2)
    assert not verify_secret("s3cret!", h1)
    assert not verify_secret("s3cret", "bcrypt$garbage")
    assert not verify_secret("s3cret", "scrypt$x$y$z$$")


def test_create_stores_only_the_hash(auth, db):
    from hub_api.auth.models import AuthClient

    client_id, secret = auth.create_client("Market dept", "department", ["registries:write"], "MKT")
    assert client_id.startswith("dept-") and len(secret) >= 43
    with db.session() as s:
        row = s.get(AuthClient, client_id)
        assert secret not in row.secret_hash and secret not in repr(row)
        assert row.scopes == "registries:write" and row.department_code == "MKT"


def test_authenticate_right_and_wrong_secret(auth):
    client_id, secret = auth.create_client("conn", "connector", "connectors:write topics:write")
    p = auth.authenticate(client_id, secret)
    assert p == Principal(client_id, "connector", frozenset({"connectors:write", "topics:write"}))
    assert auth.authenticate(client_id, secret)  # second call goes through the verified cache
    assert auth.authenticate(client_id, secret + "x") is None
    assert auth.authenticate("conn-unknown", secret) is None


def test_unknown_scope_and_kind_rejected_with_valid_list(auth):
    with pytest.raises(
        ValueError, match=r"unknown scope\(s\): pii:write; valid scopes: .*pii:read"
    ):
        auth.create_client("x", "department", ["pii:write"])
    with pytest.raises(ValueError, match="valid kinds: operator, department"):
        auth.create_client("x", "robot", [])


def test_operator_gets_all_scopes_by_default(auth):
    client_id, secret = auth.create_client("ops", "operator", None)
    assert client_id.startswith("op-")
    assert auth.authenticate(client_id, secret).scopes == frozenset(SCOPES)


def test_revoked_client_cannot_authenticate_and_its_token_stops_working(auth):
    client_id, secret = auth.create_client("peer", "peer", ["federation"], region_code="320000")
    token, _ = auth.issue_token(auth.authenticate(client_id, secret))
    assert auth.verify_token(token).region_code == "320000"
    assert auth.revoke(client_id) is True
    assert auth.revoke(client_id) is False
    assert auth.authenticate(client_id, secret) is None
    with pytest.raises(AuthError) as exc:
        auth.verify_token(token)
    assert exc.value.reason == "client_revoked"


def test_revocation_by_another_service_instance_is_seen(auth, db, settings):
    client_id, secret = auth.create_client("svc", "service", ["tasks:write"])
    token, _ = auth.issue_token(auth.authenticate(client_id, secret))
    other = AuthService(db, settings)  # e.g. the CLI in another process
    assert other.revoke(client_id)
    with pytest.raises(AuthError):
        AuthService(db, settings).verify_token(token)  # fresh cache: sees it at once


def test_token_claims_and_scope_intersection(auth, settings):
    client_id, secret = auth.create_client(
        "dept", "department", ["registries:write", "tasks:write"], "MKT", "330100"
    )
    p = auth.authenticate(client_id, secret)
    token, expires_in = auth.issue_token(p, ["tasks:write", "pii:read"])
    assert expires_in == settings.jwt_ttl_seconds
    claims = jwt.decode(
        token,
        settings.jwt_secret.get_secret_value(),
        algorithms=["HS256"],
        issuer="supervision-hub",
    )
    assert claims["sub"] == client_id and claims["scope"] == "tasks:write"
    assert (claims["kind"], claims["dept"], claims["region"]) == ("department", "MKT", "330100")
    assert claims["exp"] - claims["iat"] == expires_in and claims["jti"]
    verified = auth.verify_token(token)
    assert verified.scopes == frozenset({"tasks:write"}) and verified.department_code == "MKT"
    full, _ = auth.issue_token(p)
    assert auth.verify_token(full).scopes == p.scopes


def test_expired_and_forged_tokens_rejected(auth, settings):
    client_id, secret = auth.create_client("svc", "service", ["tasks:write"])
    now = int(time.time())
    key = settings.jwt_secret.get_secret_value()
    claims = {
        "iss": "supervision-hub",
        "sub": client_id,
        "scope": "tasks:write",
        "iat": now - 7200,
        "exp": now - 3600,
    }
    with pytest.raises(AuthError) as exc:
        auth.verify_token(jwt.encode(claims, key, algorithm="HS256"))
    assert exc.value.reason == "token_expired"
    claims["exp"] = now + 3600
    with pytest.raises(AuthError) as exc:
        auth.verify_token(
            jwt.encode(claims, "not-the-signing-key-of-this-hub-at-all", algorithm="HS256")
        )
    assert exc.value.reason == "invalid_token"
    with pytest.raises(AuthError, match="invalid"):
        auth.verify_token("not.a.jwt")
    assert auth.verify_token(jwt.encode(claims, key, algorithm="HS256")).client_id == client_id


def test_ensure_operator_returns_credentials_once(auth):
    created = auth.ensure_operator()
    assert created is not None
    client_id, secret = created
    assert auth.authenticate(client_id, secret).scopes == frozenset(SCOPES)
    assert auth.ensure_operator() is None
    auth.revoke(client_id)
    assert auth.ensure_operator() is not None  # a revoked operator does not count


def test_cli_functions(db, settings):
    out = cli_create(db, settings, "Tax bureau", "department", "registries:write", "TAX")
    assert out["id"].startswith("dept-") and out["secret"] and out["scopes"] == ["registries:write"]
    listed = cli_list(db, settings)
    assert [c["id"] for c in listed] == [out["id"]]
    assert "secret" not in listed[0] and "secret_hash" not in listed[0]
    assert cli_revoke(db, settings, out["id"]) is True
    assert cli_revoke(db, settings, "dept-nope") is False
    assert cli_list(db, settings)[0]["revoked_at"] is not None


# --- HTTP ------------------------------------------------------------------------------


@pytest.fixture
def client(db, settings):
    app = FastAPI()
    app.state.settings = settings
    app.state.db = db
    app.include_router(router)

    @app.post("/guarded")
    def guarded(p=Depends(require_scope("schemas:write"))):  # noqa: B008
        return {"client_id": p.client_id}

    @app.get("/maybe")
    def maybe(p: OptionalPrincipal):
        return {"client_id": p.client_id if p else None}

    @app.get("/any")
    def any_client(p: CurrentPrincipal):
        return {"client_id": p.client_id}

    with TestClient(app) as c:
        yield c


@pytest.fixture
def creds(auth):
    writer = auth.create_client("registry writer", "connector", ["schemas:write", "topics:write"])
    reader = auth.create_client("dept", "department", ["tasks:write"], "MKT")
    return writer, reader


def get_token(client, client_id, secret, **form) -> str:
    r = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", **form},
        headers=basic(client_id, secret),
    )
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def test_token_endpoint_with_basic(client, creds):
    (cid, secret), _ = creds
    r = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "schemas:write"},
        headers=basic(cid, secret),
    )
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    data = r.json()
    assert data["token_type"] == "bearer" and data["scope"] == "schemas:write"
    assert data["expires_in"] == 3600 and data["access_token"].count(".") == 2


def test_token_endpoint_with_form_credentials(client, creds):
    (cid, secret), _ = creds
    r = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret},
    )
    assert r.status_code == 200
    assert r.json()["scope"] == "schemas:write topics:write"


def test_token_endpoint_errors(client, creds):
    (cid, secret), _ = creds
    r = client.post("/oauth/token", data={"grant_type": "password"}, headers=basic(cid, secret))
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
    r = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(cid, "wrong")
    )
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert r.json()["error_description"] and "Basic" in r.headers["www-authenticate"]
    r = client.post("/oauth/token", data={"grant_type": "client_credentials"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "nope"},
        headers=basic(cid, secret),
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"
    r = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "pii:read"},
        headers=basic(cid, secret),
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"


def test_guarded_route(client, creds):
    (wid, wsecret), (rid, rsecret) = creds
    r = client.post("/guarded")
    assert r.status_code == 401
    assert (
        r.headers["www-authenticate"].startswith("Bearer")
        and 'Basic realm="supervision-hub"' in r.headers["www-authenticate"]
    )
    assert body(r)["error"] == "unauthorized" and body(r)["reason"] == "missing_credentials"

    r = client.post("/guarded", headers=bearer(get_token(client, rid, rsecret)))
    assert r.status_code == 403
    assert body(r) | {"message": ""} == {
        "error": "forbidden",
        "reason": "missing_scope",
        "required_scope": "schemas:write",
        "message": "",
    }

    r = client.post("/guarded", headers=bearer(get_token(client, wid, wsecret)))
    assert r.status_code == 200 and r.json() == {"client_id": wid}

    # A token narrowed to another scope does not carry schemas:write.
    narrow = get_token(client, wid, wsecret, scope="topics:write")
    assert client.post("/guarded", headers=bearer(narrow)).status_code == 403

    r = client.post("/guarded", headers=basic(wid, wsecret))  # Confluent basic.auth.user.info
    assert r.status_code == 200 and r.json() == {"client_id": wid}


def test_bad_credentials_answer_401_with_reason(client, creds, auth):
    (wid, wsecret), _ = creds
    cases = {
        "invalid_token": bearer("garbage"),
        "invalid_client": basic(wid, "wrong"),
        "malformed_credentials": {"Authorization": "Basic !!!"},
        "unsupported_scheme": {"Authorization": "Digest abc"},
    }
    for reason, headers in cases.items():
        r = client.post("/guarded", headers=headers)
        assert r.status_code == 401 and body(r)["reason"] == reason, (reason, r.text)
    token = get_token(client, wid, wsecret)
    client.app.state.auth.revoke(wid)
    r = client.post("/guarded", headers=bearer(token))
    assert r.status_code == 401 and body(r)["reason"] == "client_revoked"


def test_current_and_optional_principal_and_whoami(client, creds):
    _, (rid, rsecret) = creds
    assert client.get("/any").status_code == 401
    assert client.get("/maybe").json() == {"client_id": None}
    assert client.get("/maybe", headers=basic(rid, rsecret)).json() == {"client_id": rid}
    assert client.get("/maybe", headers=bearer("garbage")).status_code == 401
    r = client.get("/auth/whoami", headers=bearer(get_token(client, rid, rsecret)))
    assert r.status_code == 200
    assert r.json() == {
        "client_id": rid,
        "kind": "department",
        "scopes": ["tasks:write"],
        "department_code": "MKT",
        "region_code": None,
    }


def test_admin_client_endpoints(client, auth):
    admin_id, admin_secret = auth.ensure_operator()
    h = bearer(get_token(client, admin_id, admin_secret))
    r = client.post(
        "/auth/clients",
        json={
            "name": "Zhejiang peer",
            "kind": "peer",
            "scopes": ["federation"],
            "region_code": "330000",
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["id"].startswith("peer-") and new["secret"] and new["scopes"] == ["federation"]
    listed = client.get("/auth/clients", headers=h).json()
    assert {c["id"] for c in listed} == {admin_id, new["id"]}
    assert all("secret" not in c for c in listed)
    r = client.post(
        "/auth/clients", json={"name": "x", "kind": "peer", "scopes": ["bogus"]}, headers=h
    )
    assert r.status_code == 422 and "valid scopes" in body(r)["message"]
    assert client.get("/auth/clients", headers=basic(new["id"], new["secret"])).status_code == 403
    assert client.delete(f"/auth/clients/{new['id']}", headers=h).status_code == 204
    assert client.delete(f"/auth/clients/{new['id']}", headers=h).status_code == 404
    assert client.get("/auth/whoami", headers=basic(new["id"], new["secret"])).status_code == 401


def test_require_scope_is_cached_and_checks_names():
    assert require_scope("pii:read") is require_scope("pii:read")
    with pytest.raises(ValueError, match="valid scopes"):
        require_scope("pii:reed")
