"""What happens to an accepted inbound message: an explicit registry, message type -> handler.

A handler is ``handler(conn, message) -> dict | None``. It runs inside the transaction that
records the message, its nonce and its acknowledgement, so its writes commit with them or
not at all; it must not do network I/O. ``message`` is an :class:`InboundMessage`. The
returned dict (optional) is echoed in the acknowledgement as ``result``. Raising refuses
the message (503 ``handler_failed``); the sender retries it later.

The joint-task module plugs in by replacing entries in ``app.state.federation_handlers``
(a copy of :data:`HANDLERS` made at startup) or in :data:`HANDLERS` before the app starts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from hub_api.federation.models import inbox


@dataclass(frozen=True)
class InboundMessage:
    message_id: str
    peer: str
    type: str
    payload: dict
    idempotency_key: str
    received_at: datetime


Handler = Callable[[sa.Connection, InboundMessage], dict | None]


def store_in_inbox(conn: sa.Connection, message: InboundMessage) -> dict:
    """Default handler: keep the message in ``federation_inbox`` for a later consumer."""
    conn.execute(inbox.insert().values(
        message_id=message.message_id, peer=message.peer, type=message.type,
        payload=json.dumps(message.payload, ensure_ascii=False, sort_keys=True),
        received_at=message.received_at))
    return {"stored": "inbox"}


HANDLERS: dict[str, Handler] = {
    "assignment": store_in_inbox,
    "acceptance": store_in_inbox,
    "status": store_in_inbox,
    "result": store_in_inbox,
}
