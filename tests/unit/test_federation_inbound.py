"""Inbound checks on SQLite, no HTTP: window, nonce, signature, peer status, idempotency, audit."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub_api.db import Database
from hub_api.federation import chain, inbound, peers, protocol
from hub_api.federation.handlers import HANDLERS
from hub_api.federation.models import inbox, log, messages
from hub_api.federation.signing import Ed25519Signer, canonical_json

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


class Hub:
    """One hub's database, key and id, without HTTP."""

    def __init__(self, tmp_path, hub_id: str):
        self.hub_id = hub_id
        self.db = Database(f"sqlite:///{tmp_path / f'{hub_id}.db'}")
        self.db.create_schema()
        self.signer = Ed25519Signer(Ed25519PrivateKey.generate())
        self.handlers = dict(HANDLERS)

    def trust(self, other: "Hub", status: str = "active", url: str = "http://peer.invalid") -> None:
        spec = peers.PeerSpec(name=other.hub_id, base_url=url, public_key=other.signer.public_text(), status=status)
        with self.db.engine.begin() as conn:
            peers.upsert(conn, other.hub_id, spec, T0)

    def receive(self, headers, body, now=T0, path=protocol.MESSAGES_PATH):
        return inbound.receive(self.db.engine, hub_id=self.hub_id, signer=self.signer, handlers=self.handlers,
                               path=path, headers=headers, body=body, now=now)

    def scalar(self, q):
        with self.db.engine.connect() as conn:
            return conn.execute(q).scalar()


def request(sender: Hub, receiver_id: str, *, key="k1", type="assignment", payload=None, now=T0, **over):
    body = canonical_json({"message_id": f"m-{key}", "type": type, "payload": payload or {"task": "JT-1"}})
    headers = protocol.sign_request(sender.signer, sender=sender.hub_id, receiver=receiver_id, idempotency_key=key,
                                    body=body, timestamp=int(now.timestamp()), **over)
    return headers, body


@pytest.fixture
def pair(tmp_path):
    zj, js = Hub(tmp_path, "330000"), Hub(tmp_path, "320000")
    zj.trust(js)
    js.trust(zj)
    yield zj, js
    zj.db.engine.dispose()
    js.db.engine.dispose()


def refusals(hub: Hub) -> list[str]:
    with hub.db.engine.connect() as conn:
        return [r.reason for r in conn.execute(sa.select(log.c.reason).where(log.c.kind == "refusal").order_by(log.c.seq))]


def test_accepted_message_is_stored_handed_over_and_acked(pair):
    zj, js = pair
    out = js.receive(*request(zj, js.hub_id))
    assert out.status == 200, out.body
    with zj.db.engine.connect() as conn:
        peer = peers.get(conn, "320000")
    headers, body = request(zj, js.hub_id)
    assert protocol.check_ack(out.body, peer=peer, own_hub_id="330000", idempotency_key="k1", request_body=body) is None
    assert js.scalar(sa.select(sa.func.count()).select_from(inbox)) == 1
    assert js.scalar(sa.select(inbox.c.payload)) == json.dumps({"task": "JT-1"})
    assert out.body["ack"]["result"] == {"stored": "inbox"}


def test_retry_with_same_key_gets_the_same_ack_and_creates_nothing(pair):
    zj, js = pair
    first = js.receive(*request(zj, js.hub_id))
    again = js.receive(*request(zj, js.hub_id, now=T0 + timedelta(seconds=5)), now=T0 + timedelta(seconds=5))
    assert again.status == 200 and again.headers["x-fed-duplicate"] == "true"
    assert again.body == first.body
    assert js.scalar(sa.select(sa.func.count()).select_from(messages)) == 1
    assert js.scalar(sa.select(sa.func.count()).select_from(inbox)) == 1
    conflict = js.receive(*request(zj, js.hub_id, payload={"task": "JT-2"}))
    assert (conflict.status, conflict.refused) == (409, "idempotency_conflict")


@pytest.mark.parametrize("skew,accepted", [(-300, True), (300, True), (-301, False), (301, False)])
def test_timestamp_window_is_300_seconds_each_way(pair, skew, accepted):
    zj, js = pair
    out = js.receive(*request(zj, js.hub_id, now=T0 + timedelta(seconds=skew)))
    assert (out.status == 200) is accepted, out.body
    if not accepted:
        assert (out.status, out.body["reason"]) == (401, "timestamp_out_of_window")
        assert refusals(js) == ["timestamp_out_of_window"]


def test_replayed_nonce_is_refused_and_audited(pair):
    zj, js = pair
    headers, body = request(zj, js.hub_id)
    assert js.receive(headers, body).status == 200
    replay = js.receive(headers, body, now=T0 + timedelta(seconds=1))
    assert (replay.status, replay.body["reason"], replay.body["error"]) == (409, "replayed_nonce", "conflict")
    assert refusals(js) == ["replayed_nonce"]


def test_old_nonces_are_pruned_after_twice_the_window(pair):
    from hub_api.federation.models import nonces

    zj, js = pair
    js.receive(*request(zj, js.hub_id, key="a"))
    later = T0 + timedelta(seconds=601)
    js.receive(*request(zj, js.hub_id, key="b", now=later), now=later)
    assert js.scalar(sa.select(sa.func.count()).select_from(nonces)) == 1


def test_forged_tampered_and_unknown_senders_are_refused(tmp_path, pair):
    zj, js = pair
    mallory = Hub(tmp_path, "999999")
    mallory.hub_id = "330000"  # claims to be Zhejiang, signs with its own key
    forged = js.receive(*request(mallory, js.hub_id))
    assert (forged.status, forged.body["reason"]) == (401, "bad_signature")
    headers, body = request(zj, js.hub_id)
    tampered = js.receive(headers, body.replace(b"JT-1", b"JT-9"))
    assert tampered.refused == "bad_signature"
    mallory.hub_id = "999999"
    assert js.receive(*request(mallory, js.hub_id)).refused == "unknown_peer"
    assert js.receive(*request(zj, "310000")).refused == "wrong_receiver"
    no_sig = {k: v for k, v in headers.items() if k != "x-fed-signature"}
    assert js.receive(no_sig, body).status == 422
    assert js.scalar(sa.select(sa.func.count()).select_from(messages)) == 0
    assert refusals(js) == ["bad_signature", "bad_signature", "unknown_peer", "wrong_receiver", "missing_header"]
    with js.db.engine.connect() as conn:
        entry = conn.execute(sa.select(log).where(log.c.seq == 1)).mappings().one()
        assert chain.verify(conn).ok
    audit = json.loads(entry["body"])
    assert audit["request"]["sender"] == "330000" and "body" not in audit  # the refused body is not kept


@pytest.mark.parametrize("status", ["suspended", "revoked"])
def test_inactive_peers_are_refused(tmp_path, pair, status):
    zj, js = pair
    js.trust(zj, status=status)
    out = js.receive(*request(zj, js.hub_id))
    assert (out.status, out.body["reason"]) == (403, f"peer_{status}")


def test_unknown_type_and_failing_handler_keep_nothing(pair):
    zj, js = pair
    out = js.receive(*request(zj, js.hub_id, type="gossip"))
    assert out.status == 422 and "assignment" in out.body["message"]

    def broken(conn, message):
        raise RuntimeError("boom")

    js.handlers["assignment"] = broken
    failed = js.receive(*request(zj, js.hub_id, key="k2"))
    assert (failed.status, failed.refused) == (503, "handler_failed")
    assert js.scalar(sa.select(sa.func.count()).select_from(messages)) == 0
    js.handlers = dict(HANDLERS)
    assert js.receive(*request(zj, js.hub_id, key="k2")).status == 200  # the sender's retry succeeds
