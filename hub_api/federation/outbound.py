"""Sending: queue a message (``send``) and deliver it with retries (``Dispatcher``).

``send`` writes the outbound row (state ``pending``) and a ``request`` log entry in one
transaction; the same (peer, idempotency key) again returns the existing row. The
dispatcher posts due rows, each attempt with a fresh timestamp, nonce and signature but
the same body bytes, verifies the signed ack and marks the row ``acknowledged`` (logging
the ack). A failed attempt is retried after ``min(cap, base * 2**(attempts-1))`` seconds
with equal jitter; from ``unconfirmed_after`` failed attempts on the row is
``unconfirmed`` and keeps being retried at about the cap interval. Rows for a suspended
peer wait (no attempt is counted); rows for a revoked or removed peer become ``failed``.
Refusals from the peer are never taken as final (they are unsigned), only retried.

The dispatcher is one daemon thread started by the API's lifespan (``routes.lifespan``)
when ``HUB_FEDERATION_DISPATCHER`` is true; ``stop()`` ends it within one poll interval.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import sqlalchemy as sa

from hub_api.federation import chain, peers
from hub_api.federation.models import messages
from hub_api.federation.protocol import MESSAGES_PATH, check_ack, sign_request
from hub_api.federation.signing import canonical_json, sha256_hex

log = logging.getLogger("hub_api.federation")

Post = Callable[[str, dict, bytes], tuple[int, bytes]]


class SendError(ValueError):
    """The message cannot be queued (unknown peer, key reused for a different message)."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def queue_on(conn: sa.Connection, *, peer: str, type: str, payload: dict, idempotency_key: str,
             now: datetime, same_payload: bool = True) -> tuple[dict, bool]:
    """Queue one message on ``conn`` (the caller's transaction, which must hold the log's append
    lock: :func:`chain.with_retry`); returns (row, created). Idempotent per (peer, idempotency key):
    a key already used returns its message — with ``same_payload`` only if type and payload match
    (else :class:`SendError`); callers whose payload carries a moment's state (joint-task reports)
    pass ``same_payload=False`` and get the first message."""
    if peers.get(conn, peer) is None:
        raise SendError(f"unknown peer {peer!r}: register it with `hub federation peers add`")
    existing = _row(conn, peer, idempotency_key)
    if existing is not None:
        if same_payload and (existing["type"] != type or json.loads(existing["body"])["payload"] != payload):
            raise SendError("this idempotency key was already used for a different message")
        return existing, False
    message_id = uuid.uuid4().hex
    body = canonical_json({"message_id": message_id, "type": type, "payload": payload}).decode()
    conn.execute(messages.insert().values(
        message_id=message_id, direction="out", peer=peer, idempotency_key=idempotency_key, type=type,
        body=body, body_sha256=sha256_hex(body.encode()), state="pending", attempts=0,
        next_attempt_at=now, created_at=now, updated_at=now))
    chain.append(conn, at=now, direction="out", peer=peer, kind="request", message_id=message_id,
                 body=canonical_json({"idempotency_key": idempotency_key, "body": body}).decode())
    return _row(conn, peer, idempotency_key), True


def send(engine: sa.Engine, *, peer: str, type: str, payload: dict, idempotency_key: str,
         now: datetime | None = None) -> tuple[dict, bool]:
    """Queue one message in its own transaction; returns (row, created). See :func:`queue_on`."""
    now = now or utcnow()
    return chain.with_retry(engine, lambda conn: queue_on(conn, peer=peer, type=type, payload=payload,
                                                            idempotency_key=idempotency_key, now=now))


def _row(conn, peer: str, key: str) -> dict | None:
    row = conn.execute(sa.select(messages).where(messages.c.peer == peer, messages.c.direction == "out",
                                                 messages.c.idempotency_key == key)).mappings().first()
    return dict(row) if row else None


def backoff(attempts: int, base_s: float, cap_s: float, rng: random.Random = random) -> float:  # type: ignore[assignment]
    """Seconds before the next attempt after ``attempts`` failures: capped exponential, equal jitter."""
    delay = min(cap_s, base_s * 2 ** max(0, attempts - 1))
    return delay / 2 + rng.uniform(0, delay / 2)


def http_post(timeout_s: float = 10.0) -> Post:
    client = httpx.Client(timeout=timeout_s)

    def post(url: str, headers: dict, body: bytes) -> tuple[int, bytes]:
        response = client.post(url, headers=headers, content=body)
        return response.status_code, response.content

    post.close = client.close  # type: ignore[attr-defined]
    return post


class Dispatcher:
    """Delivers due outbound rows; ``run_once`` is the unit tests drive, ``start`` the thread."""

    def __init__(self, engine: sa.Engine, *, hub_id: str, signer, post: Post | None = None,
                 clock: Callable[[], datetime] = utcnow, base_s: float = 1.0, cap_s: float = 60.0,
                 unconfirmed_after: int = 5, poll_s: float = 0.5) -> None:
        self.engine, self.hub_id, self._signer = engine, hub_id, signer
        self.post = post or http_post()
        self.clock, self.base_s, self.cap_s = clock, base_s, cap_s
        self.unconfirmed_after, self.poll_s = unconfirmed_after, poll_s
        self._stop, self._wake = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def signer(self):
        """The signer; a zero-argument factory is resolved on first use (no key file until needed)."""
        if not hasattr(self._signer, "sign"):
            self._signer = self._signer()
        return self._signer

    # --- thread ---------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="federation-dispatcher", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        close = getattr(self.post, "close", None)
        if close:
            close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 - a database hiccup must not end the loop
                log.exception("federation dispatch round failed")
            self._wake.wait(self.poll_s)
            self._wake.clear()

    # --- one round ------------------------------------------------------------------
    def run_once(self, limit: int = 50) -> int:
        """Attempt every due row once; returns how many were attempted."""
        now = self.clock()
        with self.engine.connect() as conn:
            due = [dict(r) for r in conn.execute(
                sa.select(messages).where(messages.c.direction == "out",
                                          messages.c.state.in_(("pending", "unconfirmed")),
                                          messages.c.next_attempt_at <= now)
                .order_by(messages.c.next_attempt_at).limit(limit)).mappings()]
        attempted = 0
        for row in due:
            if self._stop.is_set():
                break
            attempted += self._attempt(row)
        return attempted

    def _attempt(self, row: dict) -> int:
        now = self.clock()
        with self.engine.connect() as conn:
            peer = peers.get(conn, row["peer"])
        if peer is None or peer["status"] == "revoked":
            self._update(row, state="failed", last_error="peer_revoked" if peer else "peer_unknown", now=now)
            return 0
        if peer["status"] != "active":
            self._update(row, next_attempt_at=now + timedelta(seconds=self.cap_s), last_error="peer_suspended", now=now)
            return 0
        body = row["body"].encode("utf-8")
        headers = sign_request(self.signer, sender=self.hub_id, receiver=peer["hub_id"],
                               idempotency_key=row["idempotency_key"], body=body, timestamp=int(now.timestamp()))
        error, document = None, None
        try:
            status, content = self.post(peer["base_url"] + MESSAGES_PATH, headers, body)
        except httpx.HTTPError as exc:
            error = f"transport: {type(exc).__name__}"
        else:
            try:
                document = json.loads(content)
            except ValueError:
                document = None
            if status != 200:
                reason = document.get("reason") if isinstance(document, dict) else None
                error = f"http {status}: {reason or 'no reason'}"
            else:
                error = check_ack(document, peer=peer, own_hub_id=self.hub_id,
                                  idempotency_key=row["idempotency_key"], request_body=body)
        attempts = row["attempts"] + 1
        if error is None:
            self._acknowledge(row, document, headers, attempts, now)
        else:
            state = "unconfirmed" if attempts >= self.unconfirmed_after else "pending"
            delay = backoff(attempts, self.base_s, self.cap_s)
            self._update(row, state=state, attempts=attempts, last_error=error[:300],
                         next_attempt_at=now + timedelta(seconds=delay), now=now)
            log.info("federation delivery failed", extra={"peer": peer["hub_id"], "attempts": attempts,
                                                          "state": state, "error": error[:120]})
        return 1

    def _acknowledge(self, row: dict, document: dict, headers: dict, attempts: int, now: datetime) -> None:
        def work(conn: sa.Connection):
            conn.execute(messages.update().where(messages.c.id == row["id"]).values(
                state="acknowledged", attempts=attempts, ack=canonical_json(document).decode(),
                last_error=None, next_attempt_at=None, updated_at=now))
            request = {k.removeprefix("x-fed-"): v for k, v in headers.items()
                       if k.startswith("x-fed-") and k != "x-fed-signature"}
            chain.append(conn, at=now, direction="out", peer=row["peer"], kind="ack", message_id=row["message_id"],
                         body=canonical_json({"ack": document["ack"], "request": request,
                                              "request_signature": headers["x-fed-signature"]}).decode(),
                         signature=document["signature"])

        chain.with_retry(self.engine, work)

    def _update(self, row: dict, *, now: datetime, **values) -> None:
        with self.engine.begin() as conn:
            conn.execute(messages.update().where(messages.c.id == row["id"]).values(updated_at=now, **values))
