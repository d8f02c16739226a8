"""The connector registration API over real HTTP on SQLite and PostgreSQL, with a test plugin injected."""

import json

import httpx
import pytest
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from connectors.runtime.offsets import OffsetStore
from connectors.runtime.plugin import Plugin
from hub_api.auth.service import AuthService
from hub_api.connectors.routes import router as connectors_router
from hub_api.db import Database
from hub_api.main import create_app
from ops.threaded_server import ThreadedServer

pytestmark = pytest.mark.integration


class Auth(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str = Field(description="User name.")
    password: SecretStr = Field(description="Password.")


class DemoConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://", description="Base URL of the system.")
    token: SecretStr = Field(description="Bearer token.")
    page_size: int = Field(100, ge=1, le=1000, description="Records per page.")
    auth: Auth | None = Field(None, description="Basic auth, if any.")


def _build(config, ctx):  # never called: the API does not run connectors
    raise AssertionError("the API must not build connectors")


PLUGINS = {"demo-pull": Plugin("demo-pull", "source", "A demo HTTP pull source.", DemoConfig, _build)}


def connector(name="pull-a", **config):
    return {"name": name, "plugin": "demo-pull", "source_system": "demo-sys",
            "config": {"url": "http://127.0.0.1:1/cases", "token": "s3cret-token",
                       "auth": {"user": "u", "password": "p4ss"}, **config}}


def mount(app, plugins=PLUGINS):
    if not any(getattr(r, "path", "") == "/connectors" for r in app.routes):
        app.include_router(connectors_router)  # what the lead adds to create_app
    app.state.plugins = plugins


@pytest.fixture
def hub(live_hub):
    mount(live_hub.app)
    auth = AuthService(live_hub.db, live_hub.settings)
    writer = auth.create_client("ci-connect", "service", ["connectors:write"])
    reader = auth.create_client("ci-reader", "service", ["schemas:write"])
    with httpx.Client(base_url=live_hub.url, auth=writer, timeout=10) as w, \
            httpx.Client(base_url=live_hub.url, auth=reader, timeout=10) as r:
        yield live_hub, w, r


def test_plugins_and_validation(hub):
    live, w, r = hub
    plugins = r.get("/connector-plugins").json()
    assert [p["name"] for p in plugins] == ["demo-pull"]
    assert plugins[0]["config_schema"]["properties"]["token"]["writeOnly"] is True

    ok = r.put("/connector-plugins/demo-pull/config/validate", json=connector())
    assert ok.status_code == 200 and ok.json() == {"name": "demo-pull", "error_count": 0, "errors": []}
    bad = r.put("/connector-plugins/demo-pull/config/validate",
                json=connector(url="ftp://x", page_size=0, surprise=1) | {"mode": "lenient"})
    assert bad.status_code == 200
    fields = {e["field"] for e in bad.json()["errors"]}
    assert fields == {"mode"}  # the shared part is checked first
    bad = r.put("/connector-plugins/demo-pull/config/validate", json=connector(url="ftp://x", page_size=0, surprise=1))
    assert {e["field"] for e in bad.json()["errors"]} == {"config.url", "config.page_size", "config.surprise"}
    assert bad.json()["error_count"] == 3
    missing = r.put("/connector-plugins/nope/config/validate", json=connector())
    assert missing.status_code == 404 and "demo-pull" in missing.json()["message"]


def test_crud_auth_secrets_states_offsets(hub):
    live, w, r = hub
    anonymous = httpx.post(f"{live.url}/connectors", json=connector())
    assert anonymous.status_code == 401
    assert r.post("/connectors", json=connector()).status_code == 403
    assert httpx.get(f"{live.url}/connectors").status_code == 401

    invalid = w.post("/connectors", json=connector(page_size=-1))
    assert invalid.status_code == 400 and invalid.json()["error"] == "invalid_config"
    assert invalid.json()["errors"][0]["field"] == "config.page_size"

    created = w.post("/connectors", json=connector())
    assert created.status_code == 201, created.text
    assert w.post("/connectors", json=connector()).status_code == 409
    body = r.get("/connectors/pull-a").json()
    assert body["config"]["config"]["token"] == "********"
    assert body["config"]["config"]["auth"] == {"user": "u", "password": "********"}
    assert "s3cret" not in r.get("/connectors/pull-a").text and "p4ss" not in r.get("/connectors?expand=info").text
    assert r.get("/connectors").json() == ["pull-a"]
    assert r.get("/connectors/ghost").json()["error"] == "connector_not_found"

    # Round trip: GET, change one field, PUT back with the masked secrets: secrets kept, generation bumped.
    changed = dict(body["config"], config={**body["config"]["config"], "page_size": 50})
    put = w.put("/connectors/pull-a/config", json=changed)
    assert put.status_code == 200 and put.json()["generation"] == 2
    # At rest the secrets are sealed (never in the row's text); the app's store opens them unchanged.
    from sqlalchemy import select

    from connectors.secret_box import is_sealed
    from connectors.store import ConnectorRow
    from hub_api.connectors.routes import store_for_app
    with live.app.state.db.session() as s:
        raw = s.scalar(select(ConnectorRow.config).where(ConnectorRow.name == "pull-a"))
    assert is_sealed(raw["config"]["token"]) and is_sealed(raw["config"]["auth"]["password"])
    assert "s3cret" not in json.dumps(raw) and "p4ss" not in json.dumps(raw)
    assert raw["config"]["page_size"] == 50 and raw["config"]["auth"]["user"] == "u"
    opened = store_for_app(live.app).get("pull-a").config["config"]
    assert (opened["token"], opened["auth"]["password"]) == ("s3cret-token", "p4ss")
    assert w.put("/connectors/pull-b/config", json={k: v for k, v in connector("x").items() if k != "name"}).status_code == 201
    assert w.put("/connectors/pull-b/config", json=connector("other")).json()["error"] == "name_mismatch"

    # No worker runs: RUNNING means UNASSIGNED; offsets cannot be reset until STOPPED.
    status = r.get("/connectors/pull-a/status").json()
    assert (status["state"], status["target_state"]) == ("UNASSIGNED", "RUNNING")
    OffsetStore(live.db).commit("pull-a", {"cases": "41", "files": "7"})
    assert r.get("/connectors/pull-a/offsets").json()["offsets"] == [
        {"partition": "cases", "offset": "41"}, {"partition": "files", "offset": "7"}]
    refused = w.delete("/connectors/pull-a/offsets")
    assert refused.status_code == 409 and refused.json()["error"] == "connector_not_stopped"

    assert w.put("/connectors/pull-a/pause").json()["target_state"] == "PAUSED"
    assert r.put("/connectors/pull-a/pause").status_code == 403
    assert w.put("/connectors/pull-a/resume").json()["target_state"] == "RUNNING"
    assert w.post("/connectors/pull-a/restart").json()["generation"] == 3
    assert w.put("/connectors/pull-a/stop").status_code == 202
    assert r.get("/connectors/pull-a/status").json()["state"] == "STOPPED"
    expanded = r.get("/connectors", params={"expand": "status"}).json()
    assert expanded["pull-a"]["status"]["state"] == "STOPPED" and expanded["pull-b"]["status"]["state"] == "UNASSIGNED"

    patched = w.patch("/connectors/pull-a/offsets", json={"offsets": [{"partition": "cases", "offset": "10"},
                                                                       {"partition": "files", "offset": None}]})
    assert patched.status_code == 200 and patched.json()["offsets"] == [{"partition": "cases", "offset": "10"}]
    assert w.delete("/connectors/pull-a/offsets").json()["reset"] == 1
    assert r.get("/connectors/pull-a/offsets").json()["offsets"] == []

    # Configs survive an API restart: a new app on the same database.
    db = Database(live.settings.database_url)
    app = create_app(live.settings, db)
    mount(app)
    try:
        with ThreadedServer(app) as again, httpx.Client(base_url=again.url, auth=w.auth) as w2:
            assert w2.get("/connectors").json() == ["pull-a", "pull-b"]
            assert w2.get("/connectors/pull-a").json()["config"]["config"]["page_size"] == 50
            assert w2.delete("/connectors/pull-a").status_code == 204
            assert w2.get("/connectors/pull-a").status_code == 404
            assert w2.delete("/connectors/pull-a").status_code == 404
    finally:
        db.dispose()
