"""Standard records for tests: the smallest valid value of any data-standard schema, plus overrides.

``minimal("gov.zj.supervision.risk.RiskAlert", alert_id="A1")`` fills every field: nulls
for optional ones, first enum symbol, empty arrays and maps, zero numbers, ``"x"``
strings, epoch times; nested records recursively. Overrides replace top-level fields;
``envelope(...)`` builds the exchange envelope with a deterministic record id.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from schemas import loader


def _value(t: Any, named: dict[str, Any]) -> Any:
    if isinstance(t, list):
        return None if "null" in t else _value(t[0], named)
    if isinstance(t, str):
        if t in named:
            return _value(named[t], named)
        return {"string": "x", "int": 0, "long": 0, "double": 0.0, "float": 0.0, "boolean": False,
                "bytes": b"", "null": None}[t]
    logical = t.get("logicalType")
    if logical == "date":
        return date(2026, 1, 1)
    if logical in ("timestamp-millis", "timestamp-micros"):
        return 0
    if logical == "decimal":
        return Decimal("0")
    kind = t["type"]
    if isinstance(kind, dict | list):
        return _value(kind, named)
    if kind == "record":
        named[t["name"]] = t
        if "namespace" in t:
            named[f"{t['namespace']}.{t['name'].split('.')[-1]}"] = t
        return {f["name"]: _value(f["type"], named) for f in t["fields"]}
    if kind == "enum":
        named[t["name"]] = t
        return t["symbols"][0]
    if kind == "array":
        return []
    if kind == "map":
        return {}
    return _value(kind, named)


def minimal(schema: str, **overrides: Any) -> dict[str, Any]:
    """The smallest valid record of ``schema`` (full name) with ``overrides`` applied."""
    parsed = json.loads(loader.schema_json(schema))
    named: dict[str, Any] = {}
    record = _value(parsed, named)
    record.update(overrides)
    return record


def envelope(source_system: str, source_key: str, version: str | int | None = None, *, event_time_ms: int = 0,
             operation: str = "u", region_code: str = "330100", department_code: str = "x",
             record_id: str | None = None) -> dict[str, Any]:
    """An exchange envelope whose record id is ``source_system:source_key:version`` unless given."""
    version = None if version is None else str(version)
    return {
        "record_id": record_id or f"{source_system}:{source_key}:{version}",
        "source_system": source_system,
        "source_position": {"partition": source_system, "offset": str(version or 0)},
        "operation": operation, "event_time": event_time_ms, "ingest_time": event_time_ms,
        "region_code": region_code, "department_code": department_code, "trace_id": None, "batch": None,
        "source_key": source_key, "source_version": version,
    }
