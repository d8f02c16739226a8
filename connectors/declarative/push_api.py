"""``POST /connect/push/{connector}``: the endpoint an existing system pushes JSON records to.

Contract for the sending system:

* body: one JSON object (one record) or a JSON array of them, UTF-8;
* ``X-Hub-Timestamp``: the send time, epoch seconds, within +/-300 s of the hub's clock;
* ``X-Hub-Signature: sha256=<hex>``: HMAC-SHA256 with the connector's ``hmac_secret`` over
  ``timestamp + "." + body`` (the raw bytes).

Answers: ``202 {"accepted": n}`` only after the n records were committed to the durable
inbox (:mod:`connectors.declarative.inbox`), so an acknowledged push is never lost; ``401
{"error": "bad_signature", "detail": ...}`` (missing, stale or wrong signature); ``404
{"error": "unknown_connector"}`` (no such ``http-push`` connector); ``400 {"error":
"invalid_json"}``; ``413 {"error": "too_large"}``. A re-sent request inside the window is
stored again; its records keep their key and version, so their record ids deduplicate.

The secret is looked up per request by ``app.state.push_secret_lookup(name) -> SecretStr |
None`` when the app sets one, else in the connector store (``connectors.store``) on
``app.state.db``. The inbox is on ``app.state.db`` (created on first use).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import SecretStr, ValidationError
from starlette.concurrency import run_in_threadpool

from connectors.declarative import inbox

WINDOW_SECONDS = 300
MAX_BODY_BYTES = 10 * 1024 * 1024


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Hub-Signature`` value for ``body`` sent at ``timestamp`` (senders and tests use it)."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def store_secret_lookup(store) -> Callable[[str], SecretStr | None]:
    """Secret lookup through a :class:`connectors.store.ConnectorStore` (one that opens secrets):
    the ``hmac_secret`` of an ``http-push`` connector; None if there is no such connector, and
    :class:`connectors.secret_box.SecretsUnavailable` if this process cannot open its secret."""
    from connectors.declarative.http_push import HttpPushConfig

    def lookup(name: str) -> SecretStr | None:
        record = store.get(name)
        if record is None or record.plugin != "http-push":
            return None
        try:  # connector_config raises SecretsUnavailable when the secret cannot be opened
            return HttpPushConfig.model_validate(record.connector_config.config).hmac_secret
        except ValidationError:
            return None

    return lookup


def _error(status: int, error: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status)


def _check_signature(secret: SecretStr, headers, body: bytes, now: float) -> str | None:
    """None if valid, else why not (no secret or signature in the answer)."""
    timestamp, signature = headers.get("x-hub-timestamp"), headers.get("x-hub-signature")
    if not timestamp or not signature:
        return "X-Hub-Timestamp and X-Hub-Signature headers are required"
    try:
        sent = int(timestamp)
    except ValueError:
        return "X-Hub-Timestamp must be epoch seconds"
    if abs(now - sent) > WINDOW_SECONDS:
        return f"X-Hub-Timestamp is outside the +/-{WINDOW_SECONDS} s window"
    expected = sign(secret.get_secret_value(), timestamp, body)
    if not hmac.compare_digest(expected, signature.strip()):
        return "signature does not match"
    return None


def _split(body: bytes) -> list[bytes] | None:
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if isinstance(doc, list):
        return [json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode("utf-8") for item in doc]
    return [body]


def build_push_router(clock: Callable[[], float] = time.time) -> APIRouter:
    """The push router; mount it on the hub app (it reads ``app.state.db`` and the optional lookup)."""
    from connectors.secret_box import SecretsUnavailable
    from hub_api.connectors.routes import get_store

    router = APIRouter(tags=["connect-push"])
    ready: set[int] = set()

    @router.post("/connect/push/{connector}", status_code=202,
                 responses={401: {"description": "bad_signature"}, 404: {"description": "unknown_connector"},
                            503: {"description": "connector_unavailable: its secret cannot be opened here"},
                            400: {"description": "invalid_json"}, 413: {"description": "too_large"}})
    async def push(connector: str, request: Request):
        """Accept signed JSON records for an ``http-push`` connector into its durable inbox."""
        state = request.app.state
        lookup = getattr(state, "push_secret_lookup", None) or store_secret_lookup(get_store(request))
        try:
            secret = await run_in_threadpool(lookup, connector)
        except SecretsUnavailable as exc:
            return _error(503, "connector_unavailable", str(exc))
        if secret is None:
            return _error(404, "unknown_connector", "no http-push connector of that name")
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return _error(413, "too_large", f"body exceeds {MAX_BODY_BYTES} bytes")
        why = _check_signature(secret, request.headers, body, clock())
        if why is not None:
            return _error(401, "bad_signature", why)
        records = _split(body)
        if records is None:
            return _error(400, "invalid_json", "body is not UTF-8 JSON (an object or an array)")
        engine = state.db.engine
        if id(engine) not in ready:
            await run_in_threadpool(inbox.ensure_schema, engine)
            ready.add(id(engine))
        await run_in_threadpool(inbox.append, engine, connector, records)
        return {"accepted": len(records)}

    return router
