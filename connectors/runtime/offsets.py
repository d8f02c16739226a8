"""Source checkpoints in SQL: the last committed offset per (connector, source partition).

One row per partition in ``connector_offsets``; :meth:`OffsetStore.commit` upserts a whole
batch's offsets in one transaction, so a crash leaves either the previous checkpoint or the
new one, never half of it. SQLAlchemy Core (not the ORM: this is the hot path), with the
dialect's ``INSERT ... ON CONFLICT DO UPDATE`` on SQLite and PostgreSQL.

Thread-safety: an :class:`OffsetStore` holds only the :class:`hub_api.db.Database`; each call
uses its own connection, so it can be shared by runners on different threads.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

from sqlalchemy import DateTime, String, Text, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from hub_api.db import Base, Database


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ConnectorOffset(Base):
    """The last committed source offset of one source partition of one connector."""

    __tablename__ = "connector_offsets"

    connector: Mapped[str] = mapped_column(String(200), primary_key=True)
    partition: Mapped[str] = mapped_column(String(500), primary_key=True)
    offset: Mapped[str] = mapped_column(Text, nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=_utcnow)


def ensure_schema(db: Database) -> None:
    """Create ``connector_offsets`` if it does not exist (idempotent)."""
    Base.metadata.create_all(db.engine, tables=[ConnectorOffset.__table__])


def _upsert(dialect: str):
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        raise NotImplementedError(f"offset upsert for {dialect!r}; supported: sqlite, postgresql")
    stmt = insert(ConnectorOffset.__table__)
    return stmt.on_conflict_do_update(
        index_elements=["connector", "partition"],
        set_={"offset": stmt.excluded.offset, "updated_at": stmt.excluded.updated_at},
    )


class OffsetStore:
    """Load, commit and reset source offsets of connectors."""

    def __init__(self, db: Database):
        self.db = db
        self._stmt = _upsert(db.engine.dialect.name)

    def load(self, connector: str) -> dict[str, str]:
        """Last committed offset per source partition of ``connector`` (empty if never committed)."""
        table = ConnectorOffset.__table__
        with self.db.engine.connect() as conn:
            rows = conn.execute(select(table.c.partition, table.c.offset).where(table.c.connector == connector))
            return {partition: offset for partition, offset in rows}

    def commit(self, connector: str, offsets: Mapping[str, str]) -> None:
        """Upsert ``{partition: offset}`` of ``connector`` in one transaction (all or nothing)."""
        if not offsets:
            return
        now = _utcnow()
        rows = [{"connector": connector, "partition": p, "offset": o, "updated_at": now} for p, o in offsets.items()]
        with self.db.engine.begin() as conn:
            conn.execute(self._stmt, rows)

    def reset(self, connector: str, partitions: Iterable[str] | None = None) -> int:
        """Forget the offsets of ``connector`` (all, or only ``partitions``); returns rows deleted.

        The connector re-reads those partitions from the beginning when it next opens; only
        call this while the connector is stopped.
        """
        table = ConnectorOffset.__table__
        stmt = delete(table).where(table.c.connector == connector)
        if partitions is not None:
            stmt = stmt.where(table.c.partition.in_(list(partitions)))
        with self.db.engine.begin() as conn:
            return conn.execute(stmt).rowcount
