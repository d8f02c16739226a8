"""Supervision alerts of the case tracker: rows in ``supervision_alerts`` plus records on ``supervision.alerts``.

:class:`AlertBook` collects, within one transaction, the alerts to raise and to close. An
alert id is deterministic (``case:limit:kind`` for clocks, ``case:rule`` for checks) and a
raise for an id the book already knows is dropped, so a redelivered batch or a second timer
tick never raises the same alert twice. Messages carry codes, dates and counts, never
personal data.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from processors.cases.models import SupervisionAlertRow
from processors.runtime.contract import Context

TOPIC = "supervision.alerts"
SOURCE_SYSTEM = "hub.cases"
_CHUNK = 500

ALERTS = SupervisionAlertRow.__table__


def utc(when: datetime | None) -> datetime | None:
    """Aware UTC (SQLite hands back naive values, which the hub always writes in UTC)."""
    if when is None:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def ms(when: datetime | None) -> int | None:
    return None if when is None else int(utc(when).timestamp() * 1000)


@dataclass
class CaseRef:
    """What an alert says about its case."""

    case_id: str
    department_code: str | None
    department_name: str | None
    region_code: str | None


class AlertBook:
    """Alerts raised and closed in one transaction; :meth:`flush` writes them and emits the new ones."""

    def __init__(self, conn: Connection, ctx: Context) -> None:
        self.conn = conn
        self.ctx = ctx
        self.known: dict[str, str] = {}  # alert id -> status
        self.new: list[dict[str, Any]] = []
        self.closing: dict[str, datetime] = {}

    def load(self, case_ids: Iterable[str]) -> None:
        ids = list(set(case_ids))
        for i in range(0, len(ids), _CHUNK):
            rows = self.conn.execute(select(ALERTS.c.alert_id, ALERTS.c.status)
                                     .where(ALERTS.c.subject_id.in_(ids[i:i + _CHUNK])))
            self.known.update({r.alert_id: r.status for r in rows})

    def raise_(self, alert_id: str, kind: str, case: CaseRef, *, rule_code: str, severity: str,
               message: str, limit_code: str | None = None, due_at: datetime | None = None,
               escalation_level: int = 0, closed: bool = False) -> bool:
        """Raise an alert unless ``alert_id`` was raised before; ``closed`` records an alert already resolved."""
        if alert_id in self.known:
            return False
        now = self.ctx.now
        row = {"alert_id": alert_id, "kind": kind, "subject_type": "penalty_case", "subject_id": case.case_id,
               "limit_code": limit_code, "rule_code": rule_code, "severity": severity, "due_at": utc(due_at),
               "detected_at": now, "department_code": case.department_code,
               "department_name": case.department_name, "region_code": case.region_code,
               "escalation_level": escalation_level, "status": "closed" if closed else "open",
               "closed_at": now if closed else None, "message": message}
        self.known[alert_id] = row["status"]
        self.new.append(row)
        self.ctx.emit(TOPIC, self._record(row))
        self.ctx.count(f"alert_{kind}")
        return True

    def close(self, alert_ids: Iterable[str], when: datetime) -> None:
        """Close open alerts (the clock was met, cancelled or superseded)."""
        for alert_id in alert_ids:
            if self.known.get(alert_id) == "open":
                self.known[alert_id] = "closed"
                self.closing[alert_id] = when
                for row in self.new:
                    if row["alert_id"] == alert_id:
                        row["status"], row["closed_at"] = "closed", when

    def flush(self) -> None:
        if self.new:
            self.conn.execute(insert(ALERTS), self.new)
        new_ids = {r["alert_id"] for r in self.new}
        updates = [{"b_id": a, "b_closed": w} for a, w in self.closing.items() if a not in new_ids]
        if updates:
            self.conn.execute(update(ALERTS).where(ALERTS.c.alert_id == bindparam("b_id"))
                              .values(status="closed", closed_at=bindparam("b_closed")), updates)
        self.new, self.closing = [], {}

    def _record(self, row: dict[str, Any]) -> dict[str, Any]:
        now_ms = ms(self.ctx.now)
        dept = ({"code": row["department_code"], "name": row["department_name"] or row["department_code"],
                 "code_system": None} if row["department_code"] else None)
        return {
            "envelope": {
                "record_id": f"{SOURCE_SYSTEM}:{row['alert_id']}", "source_system": SOURCE_SYSTEM,
                "source_position": {"partition": "supervision_alerts", "offset": row["alert_id"]},
                "operation": "i", "event_time": now_ms, "ingest_time": now_ms,
                "region_code": row["region_code"] or "330000", "department_code": row["department_code"] or "",
                "trace_id": None, "batch": None, "source_key": row["alert_id"], "source_version": "1",
            },
            "alert_id": row["alert_id"], "kind": row["kind"], "subject_type": row["subject_type"],
            "subject_id": row["subject_id"], "rule_code": row["rule_code"], "severity": row["severity"],
            "due_time": ms(row["due_at"]), "detected_time": now_ms, "department": dept,
            "region_code": row["region_code"], "escalation_level": row["escalation_level"],
            "message": row["message"],
        }


def clock_alert_id(case_id: str, limit_code: str, kind: str) -> str:
    return f"{case_id}:{limit_code}:{kind}"
