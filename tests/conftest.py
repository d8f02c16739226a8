"""Shared fixtures: a real embedded broker (Tansu) and real databases (SQLite, PostgreSQL)."""

from __future__ import annotations

import os
import uuid

import pytest

from ops.broker import EmbeddedBroker
from ops.threaded_server import ThreadedServer

PG_ADMIN_URL = os.environ.get("HUB_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory) -> str:
    """Bootstrap address of a Tansu broker started for this test session on a free port."""
    external = os.environ.get("HUB_TEST_KAFKA_BOOTSTRAP")
    if external:
        yield external
        return
    broker = EmbeddedBroker(log_path=tmp_path_factory.mktemp("broker") / "tansu.log")
    broker.start()
    yield broker.bootstrap
    broker.stop()


def _pg_schema_url() -> str:
    """A PostgreSQL URL whose search_path is a fresh schema, so tests never see each other's tables."""
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:12]}"
    eng = sa.create_engine(PG_ADMIN_URL)
    try:
        with eng.begin() as c:
            c.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is required for the integration tests: {exc}")
    finally:
        eng.dispose()
    return f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}", schema


def _drop_pg_schema(schema: str) -> None:
    import sqlalchemy as sa

    eng = sa.create_engine(PG_ADMIN_URL)
    with eng.begin() as c:
        c.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    eng.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """A fresh, empty database URL: a SQLite file, then a throw-away PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.db'}"
        return
    url, schema = _pg_schema_url()
    yield url
    _drop_pg_schema(schema)


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'hub.db'}"


@pytest.fixture
def hub_settings(kafka_bootstrap, database_url):
    from ops.settings import HubSettings

    return HubSettings(kafka_bootstrap=kafka_bootstrap, database_url=database_url, environment="test",
                       log_json=False)


@pytest.fixture
def live_hub(hub_settings):
    """The full hub API (create_app) served over real HTTP, on SQLite and PostgreSQL."""
    from hub_api.db import Database
    from hub_api.main import create_app

    db = Database(hub_settings.database_url)
    app = create_app(hub_settings, db)
    with ThreadedServer(app) as server:
        server.app, server.db, server.settings = app, db, hub_settings
        yield server
    db.dispose()


@pytest.fixture
def writer_client(live_hub):
    """(client_id, secret) of a client holding ``schemas:write`` on the live hub."""
    from hub_api.auth.service import AuthService

    return AuthService(live_hub.db, live_hub.settings).create_client("ci-writer", "service", ["schemas:write"])
