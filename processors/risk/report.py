"""Figures of the loop per department (and in total), for ``GET /risk/report`` and ``/metrics``.

Over responsible dispatches (supervision copies are not counted), optionally filtered by
department code and region subtree (``330100`` covers every county of Hangzhou):

- ``clues_open``: distinct clues with a dispatch pushed, received or handling;
- ``on_time_receipt_rate``: received by ``receive_due`` / (received + unreceived past due);
- ``on_time_feedback_rate``: fed back by ``feedback_due`` / (fed back + open past due);
- ``mean_feedback_s`` / ``p90_feedback_s``: push to feedback, seconds (nearest-rank p90);
- ``overdue``: open dispatches past their receive or feedback deadline;
- ``return_rate``: returned / all dispatches. Rates are null when nothing is decided yet.

Computed in Python over one filtered query; fine for the tens of thousands of dispatches a
province has open, to move into SQL aggregates if that grows.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Connection, Engine, select

from processors.risk.loop import DISPATCHES, utc

log = logging.getLogger("processors.risk")
OPEN = ("pushed", "received", "handling")


@dataclass
class Figures:
    department_code: str | None
    department_name: str | None
    dispatches: int = 0
    clues_open: int = 0
    on_time_receipt_rate: float | None = None
    on_time_feedback_rate: float | None = None
    mean_feedback_s: float | None = None
    p90_feedback_s: float | None = None
    overdue: int = 0
    return_rate: float | None = None
    _open: set = field(default_factory=set, repr=False)
    _rec: list = field(default_factory=lambda: [0, 0], repr=False)
    _fb: list = field(default_factory=lambda: [0, 0], repr=False)
    _durations: list = field(default_factory=list, repr=False)
    _returned: int = 0

    def public(self) -> dict:
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}


def region_prefix(region: str) -> str:
    """``330100`` -> ``3301``, ``330000`` -> ``33``, a county stays whole."""
    if region.endswith("0000"):
        return region[:2]
    if region.endswith("00"):
        return region[:4]
    return region


def figures(conn: Connection, now: datetime, department: str | None = None,
            region: str | None = None) -> tuple[Figures, list[Figures]]:
    """(total, per department sorted by code)."""
    q = select(DISPATCHES).where(DISPATCHES.c.role == "responsible")
    if department:
        q = q.where(DISPATCHES.c.department_code == department)
    if region:
        q = q.where(DISPATCHES.c.region_code.like(region_prefix(region) + "%"))
    total = Figures(None, None)
    per: dict[str, Figures] = {}
    for d in conn.execute(q):
        f = per.setdefault(d.department_code, Figures(d.department_code, d.department_name))
        for x in (total, f):
            _add(x, d, now)
    for x in (total, *per.values()):
        _finish(x)
    return total, [per[k] for k in sorted(per)]


def _add(f: Figures, d, now: datetime) -> None:
    f.dispatches += 1
    received, fed = utc(d.received_at), utc(d.fed_back_at)
    rdue, fdue = utc(d.receive_due), utc(d.feedback_due)
    is_open = d.state in OPEN
    if is_open:
        f._open.add(d.alert_id)
    if d.state == "returned":
        f._returned += 1
    if rdue is not None:
        if received is not None:
            f._rec[1] += 1
            f._rec[0] += received <= rdue
        elif is_open and now >= rdue:
            f._rec[1] += 1
    if fdue is not None:
        if fed is not None:
            f._fb[1] += 1
            f._fb[0] += fed <= fdue
        elif is_open and now >= fdue:
            f._fb[1] += 1
    if fed is not None:
        f._durations.append((fed - utc(d.dispatched_at)).total_seconds())
    if is_open and ((d.state == "pushed" and rdue is not None and now >= rdue)
                    or (fdue is not None and now >= fdue)):
        f.overdue += 1


def _finish(f: Figures) -> None:
    f.clues_open = len(f._open)
    f.on_time_receipt_rate = f._rec[0] / f._rec[1] if f._rec[1] else None
    f.on_time_feedback_rate = f._fb[0] / f._fb[1] if f._fb[1] else None
    if f._durations:
        xs = sorted(f._durations)
        f.mean_feedback_s = sum(xs) / len(xs)
        f.p90_feedback_s = xs[max(0, math.ceil(0.9 * len(xs)) - 1)]
    f.return_rate = f._returned / f.dispatches if f.dispatches else None


_GAUGES = {
    "clues_open": "Clues with a dispatch not yet fed back.",
    "overdue": "Open dispatches past their receive or feedback deadline.",
    "on_time_receipt_rate": "Share of decided receipts made on time, 0-1.",
    "on_time_feedback_rate": "Share of decided feedbacks made on time, 0-1.",
    "mean_feedback_s": "Mean seconds from push to feedback.",
    "p90_feedback_s": "90th percentile seconds from push to feedback.",
    "return_rate": "Share of dispatches returned, 0-1.",
}


class RiskCollector(Collector):
    """``hub_risk_*{department}`` gauges computed at scrape time; a failing query yields no samples."""

    def __init__(self, engine: Engine, clock=lambda: datetime.now(UTC)) -> None:
        self.engine = engine
        self.clock = clock

    def describe(self):
        return []

    def collect(self):
        try:
            with self.engine.connect() as conn:
                _, per = figures(conn, self.clock())
        except Exception as exc:  # noqa: BLE001 - a scrape must not fail because the database blinked
            log.warning("risk gauges unavailable: %s", type(exc).__name__)
            return
        for name, doc in _GAUGES.items():
            g = GaugeMetricFamily(f"hub_risk_{name}", doc, labels=["department"])
            for f in per:
                value = getattr(f, name)
                if value is not None:
                    g.add_metric([f.department_code], float(value))
            yield g
