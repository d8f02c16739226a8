"""``/federation``: the inbound endpoint peers call, peer registry, outbox, messages and the log.

``POST /federation/messages`` authenticates by signature (no bearer token): see
:mod:`hub_api.federation.inbound` for the checks and refusal reasons. Everything else but
``GET /federation/key`` needs the ``federation`` scope. The router's lifespan starts the
outbound dispatcher thread (``HUB_FEDERATION_DISPATCHER``) and stops it on shutdown.
"""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from hub_api.auth.deps import require_scope
from hub_api.auth.service import Principal
from hub_api.federation import chain, inbound, outbound, peers
from hub_api.federation.handlers import HANDLERS
from hub_api.federation.models import log as log_table
from hub_api.federation.models import messages
from hub_api.federation.protocol import MESSAGES_PATH
from hub_api.federation.signing import AlgorithmError, hub_signer

Operator = Annotated[Principal, Depends(require_scope("federation"))]


@asynccontextmanager
async def lifespan(app):
    """Start the dispatcher (after the app's own lifespan created the schema); stop it on exit."""
    settings, db = app.state.settings, app.state.db
    if not hasattr(app.state, "federation_handlers"):
        app.state.federation_handlers = dict(HANDLERS)
    dispatcher = None
    if settings.federation_dispatcher:
        dispatcher = outbound.Dispatcher(
            db.engine, hub_id=settings.federation_hub_id, signer=lambda: hub_signer(settings),
            base_s=settings.federation_retry_base_s, cap_s=settings.federation_retry_cap_s,
            unconfirmed_after=settings.federation_unconfirmed_after)
        dispatcher.start()
    app.state.federation_dispatcher = dispatcher
    try:
        yield
    finally:
        if dispatcher is not None:
            await run_in_threadpool(dispatcher.stop)


router = APIRouter(prefix="/federation", tags=["federation"], lifespan=lifespan)


def _now(request: Request) -> datetime:
    clock = getattr(request.app.state, "clock", None)
    return clock.now() if clock is not None else datetime.now(UTC)


@router.post(MESSAGES_PATH.removeprefix("/federation"), summary="Receive a signed message from a peer hub",
             responses={200: {"description": "signed ack"}, 401: {}, 403: {}, 409: {}, 422: {}, 503: {}})
async def receive(request: Request) -> JSONResponse:
    body = await request.body()
    settings = request.app.state.settings
    handlers = getattr(request.app.state, "federation_handlers", HANDLERS)
    outcome = await run_in_threadpool(
        inbound.receive, request.app.state.db.engine, hub_id=settings.federation_hub_id,
        signer=hub_signer(settings), handlers=handlers, path=request.url.path, headers=dict(request.headers),
        body=body, now=_now(request))
    return JSONResponse(outcome.body, status_code=outcome.status, headers=outcome.headers)


@router.get("/key", summary="This hub's id, algorithm and public key (to register it as a peer elsewhere)")
def key(request: Request) -> dict:
    settings = request.app.state.settings
    signer = hub_signer(settings)
    return {"hub_id": settings.federation_hub_id, "algorithm": signer.algorithm, "public_key": signer.public_text()}


def _peer_view(p: dict) -> dict:
    return {**p, "updated_at": p["updated_at"].isoformat() if p.get("updated_at") else None}


@router.get("/peers", summary="The registry of peer hubs")
def list_peers(request: Request, _: Operator) -> list[dict]:
    with request.app.state.db.engine.connect() as conn:
        return [_peer_view(p) for p in peers.list_all(conn)]


@router.put("/peers/{hub_id}", summary="Register or update a peer hub (status active / suspended / revoked)")
def put_peer(hub_id: Annotated[str, Path(pattern=peers.HUB_ID)], spec: peers.PeerSpec,
             request: Request, _: Operator) -> dict:
    try:
        with request.app.state.db.engine.begin() as conn:
            return _peer_view(peers.upsert(conn, hub_id, spec, _now(request)))
    except AlgorithmError as exc:
        raise HTTPException(422, detail={"error": "validation_error", "reason": "bad_key", "message": str(exc)}) from None


class OutboxRequest(BaseModel):
    """A message to send to a peer hub."""

    model_config = ConfigDict(extra="forbid")
    peer: str = Field(..., description="Receiving hub id.")
    type: str = Field(..., min_length=1, max_length=64, description="Message type, e.g. assignment.")
    payload: dict = Field(..., description="Message content (JSON object).")
    idempotency_key: str = Field(..., min_length=1, max_length=200,
                                 description="Same key = same message: a retried call queues nothing new.")


def _message_view(m: dict) -> dict:
    body = json.loads(m["body"])
    return {"message_id": m["message_id"], "direction": m["direction"], "peer": m["peer"],
            "idempotency_key": m["idempotency_key"], "type": m["type"], "payload": body.get("payload"),
            "state": m["state"], "attempts": m["attempts"], "last_error": m["last_error"],
            "next_attempt_at": m["next_attempt_at"].isoformat() if m["next_attempt_at"] else None,
            "ack": json.loads(m["ack"]) if m["ack"] else None, "created_at": m["created_at"].isoformat()}


@router.post("/outbox", status_code=202, summary="Queue a message for a peer (delivered with retries)")
def post_outbox(body: OutboxRequest, request: Request, _: Operator) -> JSONResponse:
    try:
        row, created = outbound.send(request.app.state.db.engine, peer=body.peer, type=body.type,
                                     payload=body.payload, idempotency_key=body.idempotency_key, now=_now(request))
    except outbound.SendError as exc:
        raise HTTPException(422, detail={"error": "validation_error", "reason": "not_sendable",
                                         "message": str(exc)}) from None
    dispatcher = getattr(request.app.state, "federation_dispatcher", None)
    if dispatcher is not None:
        dispatcher.wake()
    return JSONResponse(_message_view(row), status_code=202 if created else 200)


@router.get("/messages", summary="Messages in and out; ?state=unconfirmed lists deliveries not yet acknowledged")
def list_messages(request: Request, _: Operator,
                  state: Literal["pending", "acknowledged", "unconfirmed", "failed"] | None = None,
                  direction: Literal["in", "out"] | None = None, peer: str | None = None,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[dict]:
    q = sa.select(messages).order_by(messages.c.id).limit(limit)
    for column, value in ((messages.c.state, state), (messages.c.direction, direction), (messages.c.peer, peer)):
        if value is not None:
            q = q.where(column == value)
    with request.app.state.db.engine.connect() as conn:
        return [_message_view(dict(m)) for m in conn.execute(q).mappings()]


@router.get("/log", summary="The hash-chained message log (requests, acks, refusals with their reason)")
def list_log(request: Request, _: Operator, kind: Literal["request", "ack", "refusal"] | None = None,
             after_seq: int = 0, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[dict]:
    q = sa.select(log_table).where(log_table.c.seq > after_seq).order_by(log_table.c.seq).limit(limit)
    if kind:
        q = q.where(log_table.c.kind == kind)
    with request.app.state.db.engine.connect() as conn:
        return [dict(r) for r in conn.execute(q).mappings()]


@router.get("/log/verify", summary="Recompute the log's hash chain; reports the first altered entry")
def verify_log(request: Request, _: Operator) -> dict:
    with request.app.state.db.engine.connect() as conn:
        return chain.verify(conn).to_dict()
