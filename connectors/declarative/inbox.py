"""The durable inbox of pushed records: ``connector_push_inbox``, written by the push API, read by ``http-push``.

One row per pushed record: ``(connector, seq, payload, received_at)``; ``seq`` is a global
autoincrement, so each connector's rows are read in ``seq`` order and ``seq`` is the
source offset. Commit order must equal ``seq`` order or a reader could commit past a row
that commits later: :func:`append` therefore serialises writers (PostgreSQL: a
``SHARE ROW EXCLUSIVE`` table lock, which does not block readers; SQLite has a single
writer anyway). Rows are never updated; purging old rows is an operator job (below the
committed offset only).

Thread-safety: functions take an engine and use their own connection per call.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import (
    BigInteger,
    DateTime,
    Engine,
    Integer,
    LargeBinary,
    String,
    insert,
    select,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from hub_api.db import Base


class PushInboxRow(Base):
    """One record pushed to the hub for a connector, kept until an operator purges it."""

    __tablename__ = "connector_push_inbox"
    __table_args__ = {"sqlite_autoincrement": True}  # never reuse a seq, even after a purge

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                     autoincrement=True)
    connector: Mapped[str] = mapped_column(String(200), nullable=False, index=True)
    payload: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)


INBOX = PushInboxRow.__table__


def ensure_schema(engine: Engine) -> None:
    """Create ``connector_push_inbox`` if missing (idempotent)."""
    Base.metadata.create_all(engine, tables=[INBOX])


def append(engine: Engine, connector: str, payloads: Sequence[bytes]) -> list[int]:
    """Store ``payloads`` for ``connector`` in one transaction, in order; returns their seqs.

    Returns only after the commit: a caller may acknowledge the sender once it returns.
    """
    now = dt.datetime.now(dt.UTC)
    seqs = []
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"LOCK TABLE {INBOX.name} IN SHARE ROW EXCLUSIVE MODE"))
        for payload in payloads:
            result = conn.execute(insert(INBOX).values(connector=connector, payload=payload, received_at=now))
            seqs.append(result.inserted_primary_key[0])
    return seqs


def read_after(engine: Engine, connector: str, after: int, limit: int) -> list[tuple[int, bytes]]:
    """Up to ``limit`` ``(seq, payload)`` of ``connector`` with ``seq > after``, in seq order."""
    stmt = (select(INBOX.c.seq, INBOX.c.payload).where(INBOX.c.connector == connector, INBOX.c.seq > after)
            .order_by(INBOX.c.seq).limit(limit))
    with engine.connect() as conn:
        return [(int(seq), bytes(payload)) for seq, payload in conn.execute(stmt)]
