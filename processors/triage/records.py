"""What every record the triage capability writes shares: its source system, envelope and times."""

from __future__ import annotations

from datetime import datetime
from typing import Any

SOURCE_SYSTEM = "hub.triage"


def ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def envelope(key: str, version: str, now: datetime, region: str, department: str, *,
             operation: str = "u") -> dict[str, Any]:
    """The envelope of a record the hub writes as ``hub.triage`` (record id ``hub.triage:<key>:<version>``)."""
    return {"record_id": f"{SOURCE_SYSTEM}:{key}:{version}", "source_system": SOURCE_SYSTEM,
            "source_position": {"partition": "triage", "offset": version}, "operation": operation,
            "event_time": ms(now), "ingest_time": ms(now), "region_code": region, "department_code": department,
            "trace_id": None, "batch": None, "source_key": key, "source_version": version}
