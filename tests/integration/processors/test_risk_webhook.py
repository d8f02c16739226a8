"""A department registers a signed webhook and receives its dispatches there, on the real broker.

The department's client registers ``PUT /risk/departments/{code}/webhook``; an in-process
connect worker runs the resulting ``http-webhook`` sink; ``hub process --processors risk``
pushes clues for two departments. The department's loopback endpoint receives exactly its own
dispatches, each signed with its secret, each once; the other department's never reach it.
"""

from __future__ import annotations

import json
import threading

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from connectors.plugins import PLUGINS
from connectors.secret_box import SecretBox
from connectors.sinks.signing import verify
from connectors.worker import ConnectWorker
from hub_api.auth.service import AuthService
from hub_api.db import Database
from ops.threaded_server import ThreadedServer
from tests.integration.processors.harness import ProcessorHub
from tests.unit.processors.test_risk_loop import Feed

SECRET = "wjw-webhook-secret-0123456789"
OURS, OTHER = "330106WJW", "330106SCJ"


def token(hub, scopes: list[str], department: str | None = None) -> dict:
    cid, secret = AuthService(hub.db, hub.settings).create_client(f"c-{department}-{len(scopes)}", "service", scopes,
                                                                  department_code=department)
    t = httpx.post(f"{hub.api.url}/oauth/token", data={"grant_type": "client_credentials"},
                   auth=(cid, secret)).json()["access_token"]
    return {"Authorization": f"Bearer {t}"}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.timeout(180)
def test_a_department_receives_its_own_dispatches_on_its_signed_webhook(database_url, tmp_path):
    received: list[tuple[dict, bytes]] = []
    receiver = FastAPI()

    @receiver.post("/dispatches")
    async def take(request: Request) -> Response:
        received.append((dict(request.headers), await request.body()))
        return Response(status_code=204)

    with ProcessorHub(database_url, tmp_path, processors="risk") as hub, ThreadedServer(receiver) as endpoint:
        url = f"{endpoint.url}/dispatches"
        ours = token(hub, ["risk:feedback"], OURS)
        other = token(hub, ["risk:feedback"], OTHER)
        base = f"{hub.api.url}/risk/departments"

        # who may register what
        r = httpx.put(f"{base}/{OURS}/webhook", json={"url": url, "secret": SECRET}, headers=other)
        assert r.status_code == 403 and r.json()["error"] == "wrong_department"
        r = httpx.put(f"{base}/{OURS}/webhook", json={"url": url}, headers=ours)
        assert r.status_code == 422 and r.json()["error"] == "secret_required"
        r = httpx.put(f"{base}/{OURS}/webhook", json={"url": url, "secret": "short"}, headers=ours)
        assert r.status_code == 422
        r = httpx.put(f"{base}/{OURS}/webhook", json={"url": url, "secret": SECRET}, headers=ours)
        assert r.status_code == 201, r.text
        assert r.json()["connector"]["config"]["config"]["secret"] == "********"
        assert r.json()["connector"]["config"]["config"]["where"] == {"department.code": [OURS]}
        # a change without the secret keeps it
        r = httpx.put(f"{base}/{OURS}/webhook", json={"url": url, "timeout_seconds": 5}, headers=ours)
        assert r.status_code == 200 and r.json()["connector"]["config"]["config"]["timeout_seconds"] == 5
        assert httpx.get(f"{base}/{OTHER}/webhook", headers=ours).status_code == 404

        hub.start_processor()
        feed = Feed()
        clues = [feed.clue(f"W{i}", region="330106", depts=((OURS, "卫健"),) if i % 2 else ((OTHER, "市监"),)).value
                 for i in range(10)]
        clues.append(feed.clue("WBOTH", region="330106", depts=((OURS, "卫健"), (OTHER, "市监"))).value)
        hub.produce("risk.alerts", clues)
        want = {f"W{i}:{OURS}" for i in range(1, 10, 2)} | {f"WBOTH:{OURS}"}

        settings = hub.settings.model_copy(update={"registry_url": hub.registry_url, "var_dir": tmp_path / "cw",
                                                   # the key the API sealed the webhook's secret with
                                                   "connector_secrets_key_path": SecretBox.key_path(hub.settings).resolve()})
        worker = ConnectWorker(settings, Database(settings.database_url), worker_id="it-risk-webhook",
                               plugins=PLUGINS, lease_ttl=6.0, status_interval=0.5)
        thread = threading.Thread(target=worker.run, name="connect", daemon=True)
        thread.start()
        try:
            hub.wait_for(lambda: len(received) >= len(want), timeout=90, what="dispatches on the webhook")
            hub.wait_for(lambda: hub.scalar("select count(*) from outbox") == 0, timeout=30, what="outbox drained")
        finally:
            worker.stop()
            thread.join(30)

        bodies = []
        for headers, body in received:
            assert verify(SECRET, headers["x-hub-timestamp"], body, headers["x-hub-signature"])
            bodies.append(json.loads(body))
        got = [b["value"]["dispatch_id"] for b in bodies]
        assert sorted(got) == sorted(want), "exactly this department's dispatches, each once"
        assert {b["value"]["department"]["code"] for b in bodies} == {OURS}
        assert len({h["x-hub-delivery-id"] for h, _ in received}) == len(want)

        status = httpx.get(f"{base}/{OURS}/webhook", headers=ours).json()
        assert status["connector"]["name"] == "risk-dispatch-330106wjw"
        assert httpx.delete(f"{base}/{OURS}/webhook", headers=other).status_code == 403
        assert httpx.delete(f"{base}/{OURS}/webhook", headers=ours).status_code == 204
        assert httpx.get(f"{base}/{OURS}/webhook", headers=ours).status_code == 404
