"""Outbound delivery without HTTP: ack verification, lost acks, backoff, unconfirmed, peer status."""

import json
import random
from datetime import timedelta

import httpx
import sqlalchemy as sa

from hub_api.federation import outbound
from hub_api.federation.models import inbox, log, messages
from tests.unit.test_federation_inbound import T0, Hub, pair  # noqa: F401 - fixture


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now


def wire(zj: Hub, js: Hub, clock: Clock, drop_acks: int = 0, down: bool = False):
    """A post() that hands the request to ``js`` in-process; can lose acks or be unreachable."""
    state = {"dropped": 0, "down": down, "calls": 0}

    def post(url, headers, body):
        state["calls"] += 1
        if state["down"]:
            raise httpx.ConnectError("connection refused")
        out = js.receive(headers, body, now=clock())
        if state["dropped"] < drop_acks:
            state["dropped"] += 1
            raise httpx.ReadTimeout("ack lost")
        return out.status, json.dumps(out.body).encode()

    return post, state


def dispatcher(zj, post, clock, **kw):
    return outbound.Dispatcher(zj.db.engine, hub_id=zj.hub_id, signer=zj.signer, post=post, clock=clock,
                               base_s=1.0, cap_s=8.0, unconfirmed_after=3, **kw)


def out_row(zj):
    with zj.db.engine.connect() as conn:
        return conn.execute(sa.select(messages).where(messages.c.direction == "out")).mappings().one()


def test_send_is_idempotent_per_key(pair):  # noqa: F811
    zj, js = pair
    row, created = outbound.send(zj.db.engine, peer="320000", type="assignment", payload={"a": 1},
                                 idempotency_key="jt-1", now=T0)
    again, created_again = outbound.send(zj.db.engine, peer="320000", type="assignment", payload={"a": 1},
                                         idempotency_key="jt-1", now=T0)
    assert created and not created_again and again["message_id"] == row["message_id"]
    for bad in ({"peer": "999999"}, {"payload": {"a": 2}}):
        args = dict(peer="320000", type="assignment", payload={"a": 1}, idempotency_key="jt-1", now=T0) | bad
        try:
            outbound.send(zj.db.engine, **args)
        except outbound.SendError:
            continue
        raise AssertionError(f"{bad} was accepted")


def test_delivery_is_acknowledged_and_logged(pair):  # noqa: F811
    zj, js = pair
    clock = Clock()
    post, _ = wire(zj, js, clock)
    outbound.send(zj.db.engine, peer="320000", type="assignment", payload={"a": 1}, idempotency_key="jt-1", now=T0)
    assert dispatcher(zj, post, clock).run_once() == 1
    row = out_row(zj)
    assert (row["state"], row["attempts"]) == ("acknowledged", 1)
    assert json.loads(row["ack"])["ack"]["sender"] == "320000"
    with zj.db.engine.connect() as conn:
        assert [r.kind for r in conn.execute(sa.select(log.c.kind).order_by(log.c.seq))] == ["request", "ack"]


def test_a_lost_ack_is_retried_and_creates_one_inbound_message(pair):  # noqa: F811
    zj, js = pair
    clock = Clock()
    post, _ = wire(zj, js, clock, drop_acks=1)
    d = dispatcher(zj, post, clock)
    outbound.send(zj.db.engine, peer="320000", type="assignment", payload={"a": 1}, idempotency_key="jt-1", now=T0)
    d.run_once()
    row = out_row(zj)
    assert (row["state"], row["attempts"]) == ("pending", 1) and "ReadTimeout" in row["last_error"]
    assert d.run_once() == 0  # not due yet: backoff
    clock.now = row["next_attempt_at"].replace(tzinfo=T0.tzinfo) + timedelta(milliseconds=1)
    assert d.run_once() == 1
    assert out_row(zj)["state"] == "acknowledged"
    assert js.scalar(sa.select(sa.func.count()).select_from(inbox)) == 1
    assert js.scalar(sa.select(sa.func.count()).select_from(messages)) == 1


def test_an_unreachable_peer_turns_unconfirmed_and_is_retried_at_the_cap(pair):  # noqa: F811
    zj, js = pair
    clock = Clock()
    post, state = wire(zj, js, clock, down=True)
    d = dispatcher(zj, post, clock)
    outbound.send(zj.db.engine, peer="320000", type="status", payload={"s": "x"}, idempotency_key="s-1", now=T0)
    delays = []
    for _ in range(6):
        before = clock.now
        d.run_once()
        row = out_row(zj)
        nxt = row["next_attempt_at"].replace(tzinfo=T0.tzinfo)
        delays.append((nxt - before).total_seconds())
        clock.now = nxt
    assert row["state"] == "unconfirmed" and row["attempts"] == 6
    assert all(0.5 <= d_ <= 8.0 for d_ in delays) and delays[-1] >= 4.0  # capped at 8 s, equal jitter
    state["down"] = False
    d.run_once()
    assert out_row(zj)["state"] == "acknowledged"


def test_suspended_peer_waits_revoked_peer_fails(pair):  # noqa: F811
    zj, js = pair
    clock = Clock()
    post, state = wire(zj, js, clock)
    d = dispatcher(zj, post, clock)
    zj.trust(js, status="suspended")
    outbound.send(zj.db.engine, peer="320000", type="status", payload={}, idempotency_key="s-1", now=T0)
    d.run_once()
    assert (out_row(zj)["state"], out_row(zj)["attempts"], state["calls"]) == ("pending", 0, 0)
    zj.trust(js, status="revoked")
    clock.now = T0 + timedelta(seconds=9)
    d.run_once()
    assert (out_row(zj)["state"], state["calls"]) == ("failed", 0)


def test_a_forged_ack_is_not_accepted(pair, tmp_path):  # noqa: F811
    zj, js = pair
    clock = Clock()
    impostor = Hub(tmp_path, "impostor")
    impostor.hub_id = "320000"
    impostor.trust(zj)
    post, _ = wire(zj, impostor, clock)  # answers with a valid-looking ack signed by the wrong key
    outbound.send(zj.db.engine, peer="320000", type="status", payload={}, idempotency_key="s-1", now=T0)
    dispatcher(zj, post, clock).run_once()
    assert (out_row(zj)["state"], out_row(zj)["last_error"]) == ("pending", "ack_bad_signature")


def test_backoff_is_capped_with_equal_jitter():
    rng = random.Random(7)
    values = [outbound.backoff(n, 1.0, 60.0, rng) for n in range(1, 12)]
    assert 0.5 <= values[0] <= 1.0 and all(30.0 <= v <= 60.0 for v in values[6:])
