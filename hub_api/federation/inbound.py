"""Receiving one federation request: every check, the handler call, the signed ack, the audit.

:func:`receive` is transport-free (the route passes the raw method, path, headers and body),
so unit tests and the outbound dispatcher's tests can call it directly. Checks, in order —
each refusal is answered with ``{"error", "reason", "message"}`` and appended to the log as
a ``refusal`` entry (reason, signed headers, body hash; never the body):

=====  =========================  ==========================================================
422    missing_header             a required ``X-Fed-*`` header is absent
422    wrong_receiver             ``X-Fed-Receiver`` is not this hub
401    unknown_peer               the sender is not in ``federation_peers``
403    peer_suspended / revoked   the peer's status is not ``active``
401    algorithm_mismatch         ``X-Fed-Algorithm`` is not the peer's registered one
401    timestamp_out_of_window    more than ``WINDOW_S`` (300 s) from this hub's clock
401    bad_signature              the signature does not verify with the peer's key
409    replayed_nonce             the peer already used this nonce (within 2 x window)
409    idempotency_conflict       the key was used before for a different body
422    invalid_body               the body is not ``{"message_id", "type", "payload"}``
422    unknown_message_type       no handler is registered for ``type``
503    handler_failed             the handler raised; nothing of the message was kept
=====  =========================  ==========================================================

A request whose idempotency key was accepted before (same body, fresh nonce, valid
signature) is answered with the stored ack again and creates nothing new.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from pydantic import ValidationError

from hub_api.federation import chain, peers
from hub_api.federation.handlers import Handler, InboundMessage
from hub_api.federation.models import messages, nonces
from hub_api.federation.protocol import (
    H_ALGORITHM,
    H_IDEMPOTENCY,
    H_NONCE,
    H_RECEIVER,
    H_SENDER,
    H_SIGNATURE,
    H_TIMESTAMP,
    REQUIRED_HEADERS,
    WINDOW_S,
    MessageBody,
    make_ack,
    verify_request,
)
from hub_api.federation.signing import AlgorithmError, canonical_json, scheme, sha256_hex

log = logging.getLogger("hub_api.federation")

ERRORS = {401: "unauthorized", 403: "forbidden", 409: "conflict", 422: "validation_error", 503: "unavailable"}


class Refusal(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(reason)
        self.status, self.reason, self.message = status, reason, message


@dataclass
class Outcome:
    status: int
    body: dict
    headers: dict = field(default_factory=dict)
    refused: str | None = None


def _signed_fields(headers: Mapping[str, str], body: bytes) -> dict:
    fields = {h.removeprefix("x-fed-"): headers.get(h) for h in REQUIRED_HEADERS if h != H_SIGNATURE}
    return {**fields, "body_sha256": sha256_hex(body)}


def receive(engine: sa.Engine, *, hub_id: str, signer, handlers: Mapping[str, Handler], path: str,
            headers: Mapping[str, str], body: bytes, now: datetime, window_s: int = WINDOW_S) -> Outcome:
    """Check, record and hand over one inbound request; never raises for bad input."""
    headers = {k.lower(): v for k, v in headers.items()}
    try:
        return _accept(engine, hub_id, signer, handlers, path, headers, body, now, window_s)
    except Refusal as refusal:
        _audit_refusal(engine, refusal, headers, body, now)
        log.info("federation request refused", extra={"reason": refusal.reason, "status": refusal.status})
        return Outcome(refusal.status, {"error": ERRORS.get(refusal.status, "error"), "reason": refusal.reason,
                                        "message": refusal.message}, refused=refusal.reason)


def _audit_refusal(engine, refusal: Refusal, headers: dict, body: bytes, now: datetime) -> None:
    entry = {"status": refusal.status, "reason": refusal.reason, "request": _signed_fields(headers, body)}
    chain.with_retry(engine, lambda conn: chain.append(
        conn, at=now, direction="in", peer=str(headers.get(H_SENDER) or "?"), kind="refusal",
        reason=refusal.reason, body=canonical_json(entry).decode(), signature=headers.get(H_SIGNATURE)))


def _check_peer(engine, hub_id: str, headers: dict, body: bytes, now: datetime, window_s: int) -> dict:
    missing = [h for h in REQUIRED_HEADERS if not headers.get(h)]
    if missing:
        raise Refusal(422, "missing_header", f"missing header(s): {', '.join(missing)}")
    if headers[H_RECEIVER] != hub_id:
        raise Refusal(422, "wrong_receiver", f"this hub is {hub_id}, not {headers[H_RECEIVER][:32]}")
    with engine.connect() as conn:
        peer = peers.get(conn, headers[H_SENDER])
    if peer is None:
        raise Refusal(401, "unknown_peer", "the sending hub is not a registered peer")
    if peer["status"] != "active":
        raise Refusal(403, f"peer_{peer['status']}", f"peer {peer['hub_id']} is {peer['status']}")
    if headers[H_ALGORITHM] != peer["algorithm"]:
        raise Refusal(401, "algorithm_mismatch", f"peer {peer['hub_id']} signs with {peer['algorithm']}")
    try:
        skew = abs(now.timestamp() - int(headers[H_TIMESTAMP]))
    except ValueError:
        raise Refusal(422, "invalid_timestamp", "X-Fed-Timestamp must be integer Unix seconds") from None
    if skew > window_s:
        raise Refusal(401, "timestamp_out_of_window", f"timestamp is {int(skew)} s from this hub's clock "
                                                      f"(window ±{window_s} s)")
    try:
        verifier = scheme(peer["algorithm"]).load_public(peer["public_key"])
    except AlgorithmError as exc:
        raise Refusal(401, "algorithm_unavailable", str(exc)) from None
    if not verify_request(verifier, headers, body):
        raise Refusal(401, "bad_signature", "the signature does not verify with the peer's registered key")
    return peer


def _accept(engine, hub_id, signer, handlers, path, headers, body, now, window_s) -> Outcome:
    peer = _check_peer(engine, hub_id, headers, body, now, window_s)
    peer_id, nonce, key = peer["hub_id"], headers[H_NONCE], headers[H_IDEMPOTENCY]
    request_log = canonical_json({"request": {**_signed_fields(headers, body), "path": path},
                                  "body": body.decode("utf-8", errors="replace")}).decode()

    def work(conn: sa.Connection) -> Outcome:
        conn.execute(nonces.delete().where(nonces.c.seen_at < now - timedelta(seconds=2 * window_s)))
        seen = conn.execute(sa.select(nonces.c.nonce).where(nonces.c.peer == peer_id, nonces.c.nonce == nonce)).first()
        if seen:
            raise Refusal(409, "replayed_nonce", "this nonce was already used by this peer")
        conn.execute(nonces.insert().values(peer=peer_id, nonce=nonce, seen_at=now))
        existing = conn.execute(sa.select(messages).where(
            messages.c.peer == peer_id, messages.c.direction == "in", messages.c.idempotency_key == key)
        ).mappings().first()
        if existing is not None:
            if existing["body_sha256"] != sha256_hex(body):
                raise Refusal(409, "idempotency_conflict", "this idempotency key was used for a different body")
            chain.append(conn, at=now, direction="in", peer=peer_id, kind="request", body=request_log,
                         signature=headers[H_SIGNATURE], message_id=existing["message_id"], reason="duplicate")
            return Outcome(200, json.loads(existing["ack"]), {"x-fed-duplicate": "true"})
        try:
            parsed = MessageBody.model_validate_json(body)
        except ValidationError:
            raise Refusal(422, "invalid_body", 'the body must be JSON {"message_id", "type", "payload"}') from None
        handler = handlers.get(parsed.type)
        if handler is None:
            raise Refusal(422, "unknown_message_type",
                          f"no handler for type {parsed.type[:64]!r}; valid types: {', '.join(handlers)}")
        conn.execute(messages.insert().values(
            message_id=parsed.message_id, direction="in", peer=peer_id, idempotency_key=key, type=parsed.type,
            body=body.decode("utf-8"), body_sha256=sha256_hex(body), state="acknowledged", attempts=1,
            created_at=now, updated_at=now))
        chain.append(conn, at=now, direction="in", peer=peer_id, kind="request", body=request_log,
                     signature=headers[H_SIGNATURE], message_id=parsed.message_id)
        message = InboundMessage(parsed.message_id, peer_id, parsed.type, parsed.payload, key, now)
        try:
            result = handler(conn, message)
        except Exception as exc:  # noqa: BLE001 - a handler bug must not crash the endpoint
            log.warning("federation handler failed", extra={"type": parsed.type, "error": type(exc).__name__})
            raise Refusal(503, "handler_failed", f"the {parsed.type} handler failed; retry later") from None
        document = make_ack(signer, sender=hub_id, receiver=peer_id, message_id=parsed.message_id,
                            idempotency_key=key, request_body=body, now=now, result=result)
        ack_text = canonical_json(document).decode()
        conn.execute(messages.update().where(messages.c.peer == peer_id, messages.c.direction == "in",
                                             messages.c.idempotency_key == key).values(ack=ack_text))
        chain.append(conn, at=now, direction="in", peer=peer_id, kind="ack", body=canonical_json(document["ack"]).decode(),
                     signature=document["signature"], message_id=parsed.message_id)
        return Outcome(200, document)

    return chain.with_retry(engine, work)
