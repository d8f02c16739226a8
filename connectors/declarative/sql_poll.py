"""``sql-poll``: read new and changed rows of a table through SQLAlchemy, incrementally.

Modes (:class:`SqlPollConfig` ``mode``):

* ``updated_at`` -- rows ordered by (``updated_at``, primary key), read with
  ``WHERE updated_at >= :ts AND (updated_at > :ts OR pk > :pk)`` (the row-value comparison
  ``(updated_at, pk) > (:ts, :pk)``, portable to SQLite and PostgreSQL, and a range scan of
  an index on ``updated_at``). **Offset**: JSON ``{"ts": <ISO>, "pk": <pk>}`` of
  the last row. A row must get its ``updated_at`` no earlier than any row committed after
  it (a row committed late with an older timestamp would be missed: the source must stamp at
  commit, or use the upload-table convention).
* ``upload_table`` -- the national upload convention: ``cd_batch`` (date + sequence,
  fixed width), ``cd_operation`` (``I``/``U``/``D``; map ``D`` to ``envelope.operation = "d"``
  with an ``operation`` rule), ``cd_time``; rows ordered by (``cd_batch``, primary key).
  **Offset**: JSON ``{"batch": <cd_batch>, "pk": <pk>}``.

Each row becomes a RawRecord whose payload is the row as UTF-8 JSON (dates and times ISO,
decimals as strings, bytes as hex). Its document -- what the payload decodes to -- is built
from the row directly (:func:`~connectors.declarative.common.flat_values`) and handed to the
runner as ``RawRecord.decoded``; the payload is then encoded only if it is needed (a dead
letter, or a version that is a content hash). The partition is the table name. The table is
reflected on ``open``; a missing table or column raises
:class:`~connectors.declarative.common.SourceConfigError`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from functools import partial
from json.encoder import encode_basestring  # the string encoder of ensure_ascii=False
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from connectors.declarative.common import (
    DeclarativeSource,
    SourceConfigError,
    flat_values,
    identifier,
    parts,
    to_payload,
)
from connectors.runtime.contract import RawRecord, SourceTask
from connectors.runtime.plugin import Plugin, PluginContext, SourceParts
from hub_api.db import make_engine

_IDENT = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"


class UpdatedAtMode(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["updated_at"] = Field(description="Incremental by an update timestamp plus the primary key.")
    updated_at_column: str = Field("updated_at", pattern=_IDENT, description="The update-time column.")
    primary_key: str = Field("id", pattern=_IDENT, description="The primary-key column (tie breaker).")


class UploadTableMode(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["upload_table"] = Field(description="The cd_batch / cd_operation / cd_time upload convention.")
    batch_column: str = Field("cd_batch", pattern=_IDENT, description="Batch column (date + sequence, fixed width).")
    primary_key: str = Field("id", pattern=_IDENT, description="The primary-key column (order within a batch).")


class SqlPollConfig(DeclarativeSource):
    """Config of the ``sql-poll`` plugin."""

    url: SecretStr = Field(description="SQLAlchemy URL of the source database (secret: may hold a password).")
    table: str = Field(pattern=_IDENT, description="Table (or view) to poll.")
    db_schema: str | None = Field(None, pattern=_IDENT, description="Database schema of the table, if not the default.")
    mode: Annotated[UpdatedAtMode | UploadTableMode, Field(discriminator="type")] = Field(
        description="Incremental mode: updated_at or upload_table.")
    columns: list[str] | None = Field(None, description="Columns to read (default: all).")


class SqlPollTask(SourceTask):
    """Polls one table in (order column, pk) order; see the module docstring for offsets."""

    def __init__(self, config: SqlPollConfig):
        self.config = config
        self.engine: sa.Engine | None = None
        self.table: sa.Table | None = None
        self.last: tuple[Any, Any] | None = None
        m = config.mode
        self.order_col = m.updated_at_column if isinstance(m, UpdatedAtMode) else m.batch_column
        self.tag = "ts" if isinstance(m, UpdatedAtMode) else "batch"
        self._statements: dict[tuple[int, bool], sa.Select] = {}

    def open(self, offsets: dict[str, str]) -> None:
        self.engine = make_engine(self.config.url.get_secret_value())
        try:
            self.table = sa.Table(self.config.table, sa.MetaData(), schema=self.config.db_schema,
                                  autoload_with=self.engine)
        except sa.exc.NoSuchTableError:
            raise SourceConfigError(f"source table {self.config.table!r} does not exist") from None
        needed = {self.order_col, self.config.mode.primary_key, *(self.config.columns or [])}
        missing = needed - set(self.table.c.keys())
        if missing:
            raise SourceConfigError(f"source table {self.config.table!r} has no column(s) {', '.join(sorted(missing))}")
        self._statements.clear()  # built on the table reflected here
        stored = offsets.get(self.config.table)
        if stored:
            pos = json.loads(stored)
            self.last = (self._bind(pos[self.tag]), pos["pk"])
        else:
            self.last = None

    def _bind(self, value: Any) -> Any:
        # Offsets keep times as ISO text; compare with the column in its own type.
        try:
            python_type = self.table.c[self.order_col].type.python_type  # type: ignore[union-attr]
        except NotImplementedError:
            return value
        if python_type is dt.datetime and isinstance(value, str):
            return dt.datetime.fromisoformat(value)
        if python_type is dt.date and isinstance(value, str):
            return dt.date.fromisoformat(value)
        return value

    def _statement(self, max_records: int, resume: bool) -> sa.Select:
        """The poll's SELECT, built once per (batch size, resuming) and executed with bound positions."""
        key = (max_records, resume)
        stmt = self._statements.get(key)
        if stmt is None:
            t, pk_name = self.table, self.config.mode.primary_key
            order, pk = t.c[self.order_col], t.c[pk_name]
            cols = [t.c[c] for c in self.config.columns] if self.config.columns else list(t.c)
            # By identity: `in` would compare with ==, which builds a SQL expression per column.
            if not any(c is order for c in cols):
                cols.append(order)
            if not any(c is pk for c in cols):
                cols.append(pk)
            stmt = sa.select(*cols).order_by(order, pk).limit(max_records)
            if resume:
                # (order, pk) > (ts, last_pk), written so an index on the order column serves it as a
                # range scan: with a bare OR, SQLite walks the index from its start on every poll.
                ts = sa.bindparam("ts", type_=order.type)
                stmt = stmt.where(order >= ts, sa.or_(order > ts, pk > sa.bindparam("pk", type_=pk.type)))
            stmt = self._statements[key] = stmt
        return stmt

    def poll(self, max_records: int) -> list[RawRecord]:
        assert self.engine is not None and self.table is not None, "poll before open"
        stmt = self._statement(max_records, self.last is not None)
        params = {"ts": self.last[0], "pk": self.last[1]} if self.last is not None else {}
        with self.engine.connect() as conn:
            result = conn.execute(stmt, params)
            # Reflected names are sqlalchemy's quoted_name (a str subclass); the payload writes
            # them as text and the document must hold them as plain str.
            names = tuple(map(str, result.keys()))
            rows = result.fetchall()
        if not rows:
            return []
        config, table, tag = self.config, self.config.table, self.tag
        i_order, i_pk = names.index(self.order_col), names.index(config.mode.primary_key)
        order_name, identify = names[i_order], identifier(config.key, config.version)
        out = []
        for values in rows:
            # The payload's document is built from the row rather than parsed back from it; the
            # runner reuses it (RawRecord.decoded) instead of parsing the payload once more.
            doc = flat_values(names, values)
            at = values[i_order]
            # A time's ISO text is already in the document (the conversion _plain would repeat).
            at = doc[order_name] if doc is not None and type(at) in _TIMES else _plain(at)
            row_pk = _plain(values[i_pk])
            offset = _offset(tag, at, row_pk)
            payload: bytes | Callable[[], bytes]
            if doc is None:
                payload = to_payload(dict(zip(names, values, strict=True)))
                found = json.loads(payload)
            else:
                # to_payload(doc) is the same bytes as to_payload(row) (dates and decimals already
                # converted), encoded only when needed: for a dead letter or the version hash.
                payload, found = partial(to_payload, doc), doc
                if config.version is None:
                    payload = payload()
            key, version = identify(found, payload, "")
            if not key:
                # No key: the position stands in, as ASCII-escaped JSON -- the offset itself unless
                # the offset has non-ASCII text.
                key = f"{table}@{offset if offset.isascii() else json.dumps({tag: at, 'pk': row_pk})}"
            out.append(RawRecord(table, offset, key, version, payload, encoding="utf-8", decoded=doc))
        self.last = (rows[-1][i_order], rows[-1][i_pk])
        return out

    def close(self) -> None:
        if self.engine is not None:
            self.engine.dispose()
            self.engine, self.table = None, None


_TIMES = frozenset({dt.datetime, dt.date})
"""Exact types :func:`_plain` and the row's document both turn into ``isoformat()`` text."""


def _plain(v: Any) -> Any:
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    return v if isinstance(v, int | str | None) else str(v)


def _offset(tag: str, position: Any, pk: Any) -> str:
    """``json.dumps({tag: position, "pk": pk}, ensure_ascii=False)`` of two :func:`_plain` values.

    Written out for the common exact ``str`` and ``int`` values: json.dumps builds a new
    encoder per call, which cost as much as the rest of the offset.
    """
    return f"{{{encode_basestring(tag)}: {_scalar(position)}, \"pk\": {_scalar(pk)}}}"


def _scalar(v: Any) -> str:
    if type(v) is str:
        return encode_basestring(v)
    if type(v) is int:
        return int.__repr__(v)
    return json.dumps(v, ensure_ascii=False)  # None, bool, subclasses


def build(config: SqlPollConfig, ctx: PluginContext) -> SourceParts:
    """The poller and mapper of one ``sql-poll`` connector (connects in ``open``)."""
    return parts(SqlPollTask(config), config)


PLUGIN = Plugin(
    name="sql-poll", kind="source", config_model=SqlPollConfig, build=build,
    description="Poll a SQL table incrementally (updated_at + primary key, or the cd_batch/cd_operation upload "
                "convention) and map its rows declaratively onto a standard topic.")
