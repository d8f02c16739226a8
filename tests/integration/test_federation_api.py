"""The federation API in-process over real HTTP, on SQLite and PostgreSQL (``database_url``).

The hub under test (330000) talks to a second in-process hub (320000, SQLite).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest
import sqlalchemy as sa

from hub_api.auth.service import AuthService
from hub_api.db import Database
from hub_api.federation import protocol
from hub_api.federation.models import log
from hub_api.federation.signing import canonical_json
from hub_api.main import create_app
from ops.settings import HubSettings
from ops.threaded_server import ThreadedServer

pytestmark = pytest.mark.integration


def _hub(tmp_path, name, url, hub_id, bootstrap):
    settings = HubSettings(database_url=url, kafka_bootstrap=bootstrap, environment="test", log_json=False,
                           var_dir=tmp_path / name, federation_hub_id=hub_id, registry_register_standard=False,
                           federation_retry_base_s=0.2, federation_retry_cap_s=1.0)
    db = Database(url)
    server = ThreadedServer(create_app(settings, db)).__enter__()
    server.db, server.settings = db, settings
    server.auth = AuthService(db, settings).create_client(f"ops-{hub_id}", "service", ["federation"])
    return server


@pytest.fixture
def pair(tmp_path, database_url, kafka_bootstrap):
    zj = _hub(tmp_path, "zj", database_url, "330000", kafka_bootstrap)
    js = _hub(tmp_path, "js", f"sqlite:///{tmp_path / 'js.db'}", "320000", kafka_bootstrap)
    yield zj, js
    for hub in (zj, js):
        hub.stop()
        hub.db.engine.dispose()


def _register(me, other):
    key = httpx.get(f"{other.url}/federation/key").json()
    return httpx.put(f"{me.url}/federation/peers/{other.settings.federation_hub_id}", auth=me.auth,
                     json={"name": "peer", "base_url": other.url, "public_key": key["public_key"]})


def test_peer_registry_needs_the_scope_and_a_valid_key(pair):
    zj, js = pair
    url = f"{zj.url}/federation/peers/320000"
    body = {"name": "Jiangsu", "base_url": js.url, "public_key": "bm90IGEga2V5"}
    assert httpx.put(url, json=body).status_code == 401
    bad = httpx.put(url, json=body, auth=zj.auth)
    assert (bad.status_code, bad.json()["reason"]) == (422, "bad_key")
    sm2 = httpx.put(url, json={**body, "algorithm": "sm2-sm3"}, auth=zj.auth)
    assert (sm2.status_code, sm2.json()["reason"]) == (422, "bad_key") and "04||X||Y" in sm2.json()["message"]
    assert httpx.put(url, json={**body, "extra": 1}, auth=zj.auth).status_code == 422
    assert _register(zj, js).status_code == 200
    listed = httpx.get(f"{zj.url}/federation/peers", auth=zj.auth).json()
    assert [(p["hub_id"], p["status"]) for p in listed] == [("320000", "active")]


def test_outbox_delivers_and_inbound_refusals_are_audited(pair):
    zj, js = pair
    assert _register(zj, js).status_code == 200
    assert _register(js, zj).status_code == 200
    sent = httpx.post(f"{zj.url}/federation/outbox", auth=zj.auth, json={
        "peer": "320000", "type": "assignment", "payload": {"task_id": "JT-1"}, "idempotency_key": "JT-1/a"})
    assert sent.status_code == 202, sent.text
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        rows = httpx.get(f"{zj.url}/federation/messages", params={"direction": "out"}, auth=zj.auth).json()
        if rows[0]["state"] == "acknowledged":
            break
        time.sleep(0.1)
    assert rows[0]["state"] == "acknowledged", rows

    # JS answers; ZJ (the database under test) receives, with a replay refused.
    body = canonical_json({"message_id": "r-1", "type": "result", "payload": {"task_id": "JT-1"}})
    headers = protocol.sign_request(_signer(js), sender="320000",
                                    receiver="330000", idempotency_key="JT-1/r", body=body,
                                    timestamp=int(datetime.now(UTC).timestamp()))
    first = httpx.post(f"{zj.url}/federation/messages", headers=headers, content=body)
    assert first.status_code == 200, first.text
    replay = httpx.post(f"{zj.url}/federation/messages", headers=headers, content=body)
    assert (replay.status_code, replay.json()["reason"]) == (409, "replayed_nonce")
    with zj.db.engine.connect() as conn:
        kinds = [(r.kind, r.direction) for r in conn.execute(sa.select(log.c.kind, log.c.direction).order_by(log.c.seq))]
    assert kinds == [("request", "out"), ("ack", "out"), ("request", "in"), ("ack", "in"), ("refusal", "in")]
    assert httpx.get(f"{zj.url}/federation/log/verify", auth=zj.auth).json()["ok"] is True


def _signer(hub):
    from hub_api.federation.signing import hub_signer

    return hub_signer(hub.settings)
