"""Two real hub processes on loopback (Zhejiang 330000, Jiangsu 320000), each with its own database.

Both point at the session broker (federation itself does not use Kafka). A joint task
round-trips ZJ -> JS -> ZJ; forged, replayed, expired and revoked-peer requests are refused
and audited; ``hub federation verify`` passes, then finds one edited log row. Two more hubs
configured with ``HUB_FEDERATION_ALGORITHM=sm2-sm3`` exchange a message and its ack.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub_api.auth.service import AuthService
from hub_api.db import Database
from hub_api.federation import protocol
from hub_api.federation.signing import Ed25519Signer, canonical_json
from ops.broker import free_port
from ops.settings import HubSettings

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


class HubProcess:
    """``python -m ops.cli api`` with its own SQLite file, port, var dir and federation id."""

    def __init__(self, workdir: Path, hub_id: str, bootstrap: str):
        self.hub_id, self.port = hub_id, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        self.db_url = f"sqlite:///{workdir / 'hub.db'}"
        self.env = {**os.environ, "HUB_DATABASE_URL": self.db_url, "HUB_API_PORT": str(self.port),
                    "HUB_FEDERATION_HUB_ID": hub_id, "HUB_KAFKA_BOOTSTRAP": bootstrap,
                    "HUB_VAR_DIR": str(workdir / "var"), "HUB_ENVIRONMENT": "test", "HUB_LOG_JSON": "false",
                    "HUB_REGISTRY_REGISTER_STANDARD": "false", "HUB_FEDERATION_RETRY_BASE_S": "0.2",
                    "HUB_FEDERATION_RETRY_CAP_S": "1", "HUB_FEDERATION_UNCONFIRMED_AFTER": "2"}
        db = Database(self.db_url)
        db.create_schema()
        settings = HubSettings(database_url=self.db_url, environment="test")
        self.auth = AuthService(db, settings).create_client(f"fed-ops-{hub_id}", "service", ["federation"])
        db.engine.dispose()
        self.log = open(workdir / "api.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([sys.executable, "-m", "ops.cli", "api"], cwd=ROOT, env=self.env,
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"hub {self.hub_id} exited"
            try:
                if httpx.get(f"{self.url}/federation/key", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"hub {self.hub_id} did not start")

    def get(self, path: str, **params):
        r = httpx.get(f"{self.url}{path}", params=params, auth=self.auth, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def put_peer(self, other_id: str, **body):
        r = httpx.put(f"{self.url}/federation/peers/{other_id}", json=body, auth=self.auth, timeout=10)
        assert r.status_code == 200, r.text

    def send(self, peer: str, type: str, payload: dict, key: str) -> httpx.Response:
        return httpx.post(f"{self.url}/federation/outbox", auth=self.auth, timeout=10,
                          json={"peer": peer, "type": type, "payload": payload, "idempotency_key": key})

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "ops.cli", "federation", *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=60)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def wait_for(predicate, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def hubs(tmp_path_factory, kafka_bootstrap):
    root = tmp_path_factory.mktemp("federation")
    zj, js = HubProcess(root / "zj", "330000", kafka_bootstrap), HubProcess(root / "js", "320000", kafka_bootstrap)
    try:
        zj.wait_ready()
        js.wait_ready()
        for me, other, name in ((zj, js, "江蘇 Jiangsu"), (js, zj, "浙江 Zhejiang")):
            key = httpx.get(f"{other.url}/federation/key").json()
            assert key["hub_id"] == other.hub_id
            me.put_peer(other.hub_id, name=name, base_url=other.url, public_key=key["public_key"])
        yield zj, js
    finally:
        zj.stop()
        js.stop()


def by_type(rows):
    return {r["type"]: r for r in rows}


def test_a_joint_task_round_trips_between_two_hubs(hubs):
    zj, js = hubs
    task = f"JT-{uuid.uuid4().hex[:8]}"
    assignment = {"task_id": task, "lead": "330000", "participants": ["320000"], "subject": "cross-border food case"}
    assert zj.send("320000", "assignment", assignment, f"{task}/assignment").status_code == 202
    received = wait_for(lambda: by_type(js.get("/federation/messages", direction="in")).get("assignment"),
                        what="JS to receive the assignment")
    assert received["payload"] == assignment and received["peer"] == "330000"

    for kind, payload in (("acceptance", {"task_id": task, "accepted": True}),
                          ("status", {"task_id": task, "status": "inspecting"}),
                          ("result", {"task_id": task, "outcome": "closed", "penalty_cases": 1})):
        assert js.send("330000", kind, payload, f"{task}/{kind}").status_code == 202
    back = wait_for(lambda: (lambda m: m if len(m) == 3 else None)(
        by_type(zj.get("/federation/messages", direction="in"))), what="ZJ to receive acceptance, status, result")
    assert back["result"]["payload"]["outcome"] == "closed"
    wait_for(lambda: all(m["state"] == "acknowledged" for m in js.get("/federation/messages", direction="out")),
             what="JS's messages acknowledged")
    out = zj.get("/federation/messages", direction="out")
    assert [m["state"] for m in out] == ["acknowledged"] and out[0]["ack"]["ack"]["sender"] == "320000"

    # A retried dispatch (same idempotency key) queues and delivers nothing new.
    again = zj.send("320000", "assignment", assignment, f"{task}/assignment")
    assert again.status_code == 200 and again.json()["message_id"] == out[0]["message_id"]
    time.sleep(0.5)
    assert len(js.get("/federation/messages", direction="in", peer="330000")) == 1

    # A peer that never answers shows as unconfirmed and keeps being retried.
    zj.put_peer("310000", name="上海 Shanghai (down)", base_url=f"http://127.0.0.1:{free_port()}",
                public_key=Ed25519Signer(Ed25519PrivateKey.generate()).public_text())
    assert zj.send("310000", "assignment", {"task_id": task}, f"{task}/sh").status_code == 202
    stuck = wait_for(lambda: zj.get("/federation/messages", state="unconfirmed"), what="an unconfirmed row")
    assert stuck[0]["peer"] == "310000" and stuck[0]["attempts"] >= 2 and stuck[0]["last_error"]

    for hub in (zj, js):
        assert hub.get("/federation/log/verify")["ok"] is True


def _signed(signer, sender, key, *, timestamp=None, payload=None):
    body = canonical_json({"message_id": uuid.uuid4().hex, "type": "status", "payload": payload or {"p": 1}})
    ts = timestamp if timestamp is not None else int(datetime.now(UTC).timestamp())
    return protocol.sign_request(signer, sender=sender, receiver="320000", idempotency_key=key, body=body,
                                 timestamp=ts), body


def test_forged_replayed_expired_and_revoked_requests_are_refused_and_audited(hubs):
    zj, js = hubs
    anhui = Ed25519Signer(Ed25519PrivateKey.generate())  # a third hub whose key the test holds
    js.put_peer("340000", name="安徽 Anhui", base_url="http://127.0.0.1:9", public_key=anhui.public_text())
    url = f"{js.url}/federation/messages"
    before = [e["seq"] for e in js.get("/federation/log", kind="refusal")]
    after_seq = max(before, default=0)

    def post(headers_body):
        headers, body = headers_body
        return httpx.post(url, headers=headers, content=body, timeout=10)

    forged = post(_signed(anhui, "330000", "f-1"))  # claims to be Zhejiang
    assert (forged.status_code, forged.json()["reason"]) == (401, "bad_signature")

    valid = _signed(anhui, "340000", "a-1")
    first = post(valid)
    assert first.status_code == 200, first.text
    replay = post(valid)
    assert (replay.status_code, replay.json()["reason"]) == (409, "replayed_nonce")
    retry = post(_signed(anhui, "340000", "a-1"))  # same key, a different message
    assert (retry.status_code, retry.json()["reason"]) == (409, "idempotency_conflict")
    headers, body = valid
    same = httpx.post(url, content=body, timeout=10, headers={
        **protocol.sign_request(anhui, sender="340000", receiver="320000", idempotency_key="a-1", body=body,
                                timestamp=int(datetime.now(UTC).timestamp()))})
    assert same.status_code == 200 and same.json() == first.json()  # the same signed ack again
    assert len(js.get("/federation/messages", direction="in", peer="340000")) == 1

    expired = post(_signed(anhui, "340000", "a-2", timestamp=int(datetime.now(UTC).timestamp()) - 400))
    assert (expired.status_code, expired.json()["reason"]) == (401, "timestamp_out_of_window")

    js.put_peer("340000", name="安徽 Anhui", base_url="http://127.0.0.1:9", public_key=anhui.public_text(),
                status="revoked")
    revoked = post(_signed(anhui, "340000", "a-3"))
    assert (revoked.status_code, revoked.json()["reason"]) == (403, "peer_revoked")

    audited = [e["reason"] for e in js.get("/federation/log", kind="refusal", after_seq=after_seq)]
    assert audited == ["bad_signature", "replayed_nonce", "idempotency_conflict", "timestamp_out_of_window",
                       "peer_revoked"]

    # The chain verifies from the command line, then finds one row edited with SQL.
    ok = js.cli("verify")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    engine = sa.create_engine(js.db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE federation_log SET body = :b WHERE seq = 3"), {"b": '{"edited":true}'})
    engine.dispose()
    broken = js.cli("verify")
    assert broken.returncode == 1 and "BROKEN at entry 3" in broken.stdout, broken.stdout


def test_two_sm2_hubs_exchange_a_signed_message_and_ack(tmp_path, kafka_bootstrap, monkeypatch):
    # HubProcess copies os.environ into each hub's environment: both hubs (and the CLI) sign with SM2.
    monkeypatch.setenv("HUB_FEDERATION_ALGORITHM", "sm2-sm3")
    zj, js = HubProcess(tmp_path / "zj", "330000", kafka_bootstrap), HubProcess(tmp_path / "js", "320000", kafka_bootstrap)
    try:
        zj.wait_ready()
        js.wait_ready()
        for me, other in ((zj, js), (js, zj)):
            key = httpx.get(f"{other.url}/federation/key").json()
            assert key["algorithm"] == "sm2-sm3" and len(key["public_key"]) == 130, key
            me.put_peer(other.hub_id, name=other.hub_id, base_url=other.url, algorithm="sm2-sm3",
                        public_key=key["public_key"])
        cli = zj.cli("key")
        assert cli.returncode == 0, cli.stderr
        assert json.loads(cli.stdout) == httpx.get(f"{zj.url}/federation/key").json()
        assert (tmp_path / "zj" / "var" / "keys" / "federation-sm2.key").exists()

        assignment = {"task_id": "JT-SM2", "lead": "330000", "participants": ["320000"]}
        assert zj.send("320000", "assignment", assignment, "JT-SM2/assignment").status_code == 202
        out = wait_for(lambda: (lambda m: m if m and m[0]["state"] == "acknowledged" else None)(
            zj.get("/federation/messages", direction="out")), what="ZJ's assignment acknowledged")
        ack = out[0]["ack"]
        assert ack["ack"]["algorithm"] == "sm2-sm3" and ack["ack"]["sender"] == "320000"
        assert js.get("/federation/messages", direction="in")[0]["payload"] == assignment
        for hub in (zj, js):
            assert hub.get("/federation/log/verify")["ok"] is True
    finally:
        zj.stop()
        js.stop()
