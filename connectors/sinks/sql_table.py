"""The ``sql-table`` sink: upsert records into a table of a department's database (SQLite, PostgreSQL).

Each batch is one transaction: an ``INSERT ... ON CONFLICT (key columns) DO UPDATE`` with
executemany (SQLAlchemy Core, the dialect's upsert), so replays and duplicates leave the
table as if each record had been written once (idempotent), and a crash leaves either the
whole batch or none of it. Within a batch the last record per key wins (partition order =
source order per key).

Columns come from ``columns``: column name -> dotted path in the record value (first value
when the path crosses an array; dicts and lists are stored as JSON text), or one of the
record's metadata fields ``$record_id``, ``$delivery_id``, ``$topic``, ``$partition``,
``$offset``, ``$key``, ``$timestamp``. The table must exist, with a primary key or unique
constraint on exactly ``key_columns``; :meth:`SqlTableTask.open` checks it.

Outcomes: a record with an empty key column is refused (``key_missing``). If the batch
statement fails on data (integrity or data errors) the rows are retried one per
transaction to isolate the bad ones, which are dead-lettered (``sql_integrity``,
``sql_data``, reported by error class only: driver messages quote values). Connection
errors are transient: :class:`~connectors.sinks.base.TransientDeliveryError`.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from pydantic import Field, SecretStr, model_validator
from sqlalchemy import exc as sa_exc

from connectors.runtime.pipeline import RecordRejected
from connectors.runtime.plugin import Plugin, PluginContext, SinkTask
from connectors.runtime.rules import values_at
from connectors.sinks.base import SinkConfig, SinkRecord, TransientDeliveryError

META_FIELDS = {"$record_id": "record_id", "$delivery_id": "delivery_id", "$topic": "topic",
               "$partition": "partition", "$offset": "offset", "$key": "key", "$timestamp": "timestamp"}
_IDENT = r"[A-Za-z_][A-Za-z0-9_]{0,62}"


class SqlTableConfig(SinkConfig):
    """Config of the ``sql-table`` sink."""

    url: SecretStr = Field(description="SQLAlchemy URL of the target database, e.g. "
                                       "postgresql+psycopg://user:pass@host/db or sqlite:///path.db.")
    table: str = Field(pattern=rf"^({_IDENT}\.)?{_IDENT}$", description="Target table, optionally `schema.table`.")
    columns: dict[str, str] = Field(min_length=1, description="Column name -> dotted path in the record value, or a "
                                                              "metadata field ($record_id, $delivery_id, $topic, "
                                                              "$partition, $offset, $key, $timestamp).")
    key_columns: list[str] = Field(min_length=1, description="Columns identifying a row (its primary key or a "
                                                             "unique constraint): the upsert's conflict target.")

    @model_validator(mode="after")
    def _check_columns(self) -> SqlTableConfig:
        missing = [c for c in self.key_columns if c not in self.columns]
        if missing:
            raise ValueError(f"key_columns {missing} are not in columns; every key column needs a mapping")
        unknown = [p for p in self.columns.values() if p.startswith("$") and p not in META_FIELDS]
        if unknown:
            raise ValueError(f"unknown metadata fields {unknown}; valid: {', '.join(META_FIELDS)}")
        return self


def _upsert(table: sa.Table, dialect: str, keys: list[str], columns: list[str]):
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        raise ValueError(f"sql-table sink: no upsert for dialect {dialect!r}; supported: sqlite, postgresql")
    stmt = insert(table)
    others = [c for c in columns if c not in keys]
    if not others:
        return stmt.on_conflict_do_nothing(index_elements=keys)
    return stmt.on_conflict_do_update(index_elements=keys, set_={c: stmt.excluded[c] for c in others})


class SqlTableTask(SinkTask):
    """Upserts records into ``config.table``; owns its SQLAlchemy engine."""

    def __init__(self, config: SqlTableConfig):
        self.config = config
        self.keys = list(config.key_columns)
        self._engine: sa.Engine | None = None
        self._stmt = None

    def open(self) -> None:
        if self._engine is not None:
            return
        engine = sa.create_engine(self.config.url.get_secret_value(), pool_pre_ping=True)
        schema, _, name = self.config.table.rpartition(".")
        try:
            table = sa.Table(name, sa.MetaData(), autoload_with=engine, schema=schema or None)
            inspector = sa.inspect(engine)
            unique = [inspector.get_pk_constraint(name, schema=schema or None).get("constrained_columns") or []]
            unique += [u["column_names"] for u in inspector.get_unique_constraints(name, schema=schema or None)]
            unique += [i["column_names"] for i in inspector.get_indexes(name, schema=schema or None) if i.get("unique")]
        except sa_exc.NoSuchTableError:
            engine.dispose()
            raise ValueError(f"sql-table sink: table {self.config.table!r} does not exist") from None
        except BaseException:
            engine.dispose()
            raise
        absent = [c for c in self.config.columns if c not in table.c]
        if absent:
            engine.dispose()
            raise ValueError(f"sql-table sink: table {self.config.table!r} has no columns {absent}; "
                             f"it has {list(table.c.keys())}")
        if not any(set(u) == set(self.keys) for u in unique):
            engine.dispose()
            raise ValueError(f"sql-table sink: key_columns {self.keys} are not the primary key or a unique "
                             f"constraint of {self.config.table!r}; the upsert needs one")
        self._engine = engine
        self._stmt = _upsert(table, engine.dialect.name, self.keys, list(self.config.columns))

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def _row(self, record: SinkRecord) -> dict[str, Any]:
        row = {}
        for column, path in self.config.columns.items():
            if path in META_FIELDS:
                row[column] = record[META_FIELDS[path]]  # type: ignore[literal-required]
                continue
            value = next(values_at(record["value"], path), None)
            if isinstance(value, dict | list):
                value = json.dumps(value, ensure_ascii=False, default=str)
            row[column] = value
        return row

    def deliver(self, records: list[SinkRecord]) -> list[RecordRejected | None]:
        self.open()
        outcomes: list[RecordRejected | None] = [None] * len(records)
        latest: dict[tuple, tuple[int, dict]] = {}  # key -> (index of the last record, row)
        owners: dict[tuple, list[int]] = {}
        for i, record in enumerate(records):
            row = self._row(record)
            key = tuple(row[k] for k in self.keys)
            if any(k is None or k == "" for k in key):
                outcomes[i] = RecordRejected("deliver", "key_missing",
                                             f"key columns {self.keys} are not all filled by the record")
                continue
            latest[key] = (i, row)
            owners.setdefault(key, []).append(i)
        rows = [row for _i, row in latest.values()]
        if not rows:
            return outcomes
        try:
            with self._engine.begin() as conn:
                conn.execute(self._stmt, rows)
            return outcomes
        except sa_exc.StatementError as exc:
            if _kind(exc) != "data":
                raise _failure(exc) from None
        # Isolate the bad rows: one transaction each (only after a data error in the batch).
        for key, (_i, row) in latest.items():
            try:
                with self._engine.begin() as conn:
                    conn.execute(self._stmt, [row])
            except sa_exc.StatementError as exc:
                if _kind(exc) != "data":
                    raise _failure(exc) from None
                reason = "sql_integrity" if isinstance(exc, sa_exc.IntegrityError) else "sql_data"
                for i in owners[key]:
                    outcomes[i] = RecordRejected("deliver", reason,
                                                 f"row refused by the database ({type(exc.orig or exc).__name__})")
        return outcomes


def _kind(exc: sa_exc.StatementError) -> str:
    """``transient`` (connection), ``data`` (this data is refused) or ``fatal`` (schema, permissions, SQL)."""
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError) or getattr(exc, "connection_invalidated", False):
        return "transient"
    if isinstance(exc, sa_exc.IntegrityError | sa_exc.DataError) or not isinstance(exc, sa_exc.DBAPIError):
        return "data"  # a plain StatementError: a bind value SQLAlchemy could not convert
    return "fatal"


def _failure(exc: sa_exc.StatementError) -> Exception:
    """A value-free error for a failed batch (SQLAlchemy's messages quote the bound parameters)."""
    name = type(getattr(exc, "orig", None) or exc).__name__
    if _kind(exc) == "transient":
        return TransientDeliveryError(f"database unavailable ({name})")
    return RuntimeError(f"sql-table sink: the database refused the batch ({name})")


def build(config: SqlTableConfig, context: PluginContext) -> SqlTableTask:
    return SqlTableTask(config)


PLUGIN = Plugin(
    name="sql-table",
    kind="sink",
    description="Upsert a topic's records (optionally filtered) into a SQL table (SQLite, PostgreSQL): column "
                "mapping from dotted record paths, key columns as the conflict target, one transaction per batch.",
    config_model=SqlTableConfig,
    build=build,
)
