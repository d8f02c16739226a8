"""SQL and JSON helpers shared by the registry processors (entities, links, items).

:func:`upsert` is one executemany ``INSERT ... ON CONFLICT DO UPDATE`` in the SQLite or
PostgreSQL dialect (the batch-friendly write the registries rely on); :func:`jsonable` and
:func:`dumps` turn decoded Avro values (dates, datetimes, decimals) into stable JSON;
:func:`version_key` orders source versions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Table, select

_IN_CHUNK = 500
_NUM = re.compile(r"(\d+)")


def upsert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str],
           update: Iterable[str] | None = None) -> None:
    """Insert ``rows`` or update the columns ``update`` (default: all non-key columns) on key conflict."""
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - the hub supports these two
        raise NotImplementedError(f"upsert for dialect {dialect}")
    stmt = insert(table)
    cols = list(update) if update is not None else [c for c in rows[0] if c not in keys]
    stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_={c: stmt.excluded[c] for c in cols})
    conn.execute(stmt, list(rows))


def select_in(conn: Connection, columns, key_column, values: Iterable[Any], *where) -> list:
    """Rows of ``select(*columns)`` whose ``key_column`` is in ``values`` (chunked IN lists)."""
    values = list(dict.fromkeys(values))
    out: list = []
    for i in range(0, len(values), _IN_CHUNK):
        chunk = values[i:i + _IN_CHUNK]
        out.extend(conn.execute(select(*columns).where(key_column.in_(chunk), *where)).all())
    return out


_PLAIN = (str, int, float, bool, type(None))


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def jsonable(value: Any) -> Any:
    """``value`` with dates as ISO strings, datetimes as epoch millis and decimals as strings."""
    if type(value) in _PLAIN:
        return value
    if isinstance(value, dict):
        return {k: v if type(v) in _PLAIN else jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return _default(value)


def dumps(value: Any) -> str:
    """Stable JSON text of ``value`` (sorted keys; dates / datetimes / decimals as :func:`jsonable`)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=_default)


def to_millis(value: Any) -> int:
    """Epoch millis of a decoded timestamp (datetime or int)."""
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return int(value or 0)


def from_millis(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def to_date(value: Any) -> date | None:
    """A date from a decoded Avro date (date, epoch days int or ISO string)."""
    if value is None or isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, int):
        return date.fromordinal(date(1970, 1, 1).toordinal() + value)
    return date.fromisoformat(str(value))


def version_key(version: str | None) -> tuple:
    """Sort key of a source version: numeric when it is a number, else natural order ("v10" > "v9")."""
    if version is None:
        return (0,)
    v = version.strip()
    if v.isdigit():
        return (1, int(v))
    return (2, tuple(int(p) if p.isdigit() else p for p in _NUM.split(v) if p != ""))


def newer(candidate: str | None, current: str | None) -> bool:
    """True iff source version ``candidate`` is strictly newer than ``current``."""
    a, b = version_key(candidate), version_key(current)
    try:
        return a > b
    except TypeError:  # mixed shapes (int vs str parts): compare as text, deterministically
        return str(a) > str(b)


def hub_envelope(source_system: str, key: str, now: datetime, region_code: str, *, version: str | None = None,
                 operation: str = "u", event_time: datetime | None = None,
                 department_code: str = "hub") -> dict[str, Any]:
    """Envelope of a record the hub itself produces (registries): record id = source:key:version."""
    ms = int(now.timestamp() * 1000)
    version = version or str(ms)
    return {
        "record_id": f"{source_system}:{key}:{version}", "source_system": source_system,
        "source_position": {"partition": source_system, "offset": version}, "operation": operation,
        "event_time": event_time or now, "ingest_time": now, "region_code": region_code,
        "department_code": department_code, "trace_id": None, "batch": None, "source_key": key,
        "source_version": version,
    }
