"""Tables of the processor runtime, on the hub's declarative base.

``processed_records`` is the idempotence ledger: a record id is inserted in the same
transaction as the registry write it caused, so a redelivered record is recognised and
skipped, and after a crash the set of ids is exactly the set of effects applied.
``outbox`` holds output records written in that same transaction; the relay produces and
then deletes them (transactional outbox), so an output is never lost between the commit and
the produce.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, LargeBinary, String
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

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(255), index=True)
    key: Mapped[str] = mapped_column(String(255))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
