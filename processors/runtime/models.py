"""Tables of the processor runtime, on the hub's declarative base.

``processed_records`` is the idempotence ledger: a record id is inserted in the same
transaction as the registry write it caused, so a redelivered record is recognised and
skipped, and after a crash the set of ids is exactly the set of effects applied.
``outbox`` holds output records written in that same transaction; the relay produces and
then deletes them (transactional outbox), so an output is never lost between the commit and
the produce. ``outbox_relay`` and ``outbox_checkpoints`` let the relay tell, after a crash,
which rows it had already produced (see :mod:`processors.runtime.outbox`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Engine, Integer, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from hub_api.db import Base


class ProcessedRecord(Base):
    """One input record a processor has taken into account (applied, duplicate-free)."""

    __tablename__ = "processed_records"

    processor: Mapped[str] = mapped_column(String(64), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    topic: Mapped[str] = mapped_column(String(255))
    partition: Mapped[int] = mapped_column(Integer)
    offset: Mapped[int] = mapped_column(BigInteger)
    outcome: Mapped[str] = mapped_column(String(16), doc="applied / stale / dead_letter")
    processed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OutboxRow(Base):
    """One output record waiting to be produced: standard Avro body without the registry header."""

    __tablename__ = "outbox"
    # Ids must never be reused (SQLite reuses the highest deleted rowid without AUTOINCREMENT):
    # the relay recognises its own records on the topic by id.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(255), index=True)
    key: Mapped[str] = mapped_column(String(255))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OutboxRelayState(Base):
    """The relay's memory: which rows may be on the broker without having been deleted.

    Rows with ``id <= inflight_max_id`` that are still pending were handed to the producer and
    not (all) acknowledged: they are *in doubt* and are looked up on the topic before any resend.
    ``token`` names this database in the record headers, so another hub's relay writing to the
    same topic is never mistaken for this one.
    """

    __tablename__ = "outbox_relay"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    token: Mapped[str] = mapped_column(String(32))
    inflight_max_id: Mapped[int] = mapped_column(BigInteger, default=0)


class OutboxCheckpoint(Base):
    """Per partition, the offset before which every relayed record is accounted for."""

    __tablename__ = "outbox_checkpoints"

    topic: Mapped[str] = mapped_column(String(255), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    next_offset: Mapped[int] = mapped_column(BigInteger)


def upgrade_outbox(engine: Engine) -> None:
    """Give an ``outbox`` table created before ids were AUTOINCREMENT (SQLite) monotonic ids.

    Copies the rows into a new table inside one transaction; the AUTOINCREMENT counter starts
    above the highest id, so an id is never handed out twice. PostgreSQL sequences never reuse.
    """
    if engine.dialect.name != "sqlite":
        return
    with engine.begin() as conn:
        ddl = conn.execute(text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'outbox'")).scalar()
        if not ddl or "AUTOINCREMENT" in ddl.upper():
            return
        conn.execute(text("ALTER TABLE outbox RENAME TO outbox_before_autoincrement"))
        conn.execute(text("DROP INDEX IF EXISTS ix_outbox_topic"))
        OutboxRow.__table__.create(conn)
        conn.execute(text("INSERT INTO outbox (id, topic, key, body, created_at) "
                          "SELECT id, topic, key, body, created_at FROM outbox_before_autoincrement"))
        conn.execute(text("DROP TABLE outbox_before_autoincrement"))
