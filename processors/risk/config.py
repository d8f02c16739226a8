"""Deadlines and routing rules of the risk loop, as data (``data/deadlines.json``), and deadline arithmetic.

Per risk level: the region level a clue is pushed to (``dispatch_level``), the time to
receive (签收) and to feed back, and how long after a missed deadline the reminder turns
into 督办 by the department one region level up. Units:

- ``working_hours``: office hours (``office_hours``, Asia/Shanghai) of working days of the
  PRC calendar (:mod:`processors.cases.calendar`); a clue pushed at night starts counting
  at the next opening.
- ``working_days``: the end of the *n*-th working day after the local day of the start
  (the start day never counts, as for statutory limits).
- ``hours`` / ``days``: plain elapsed time.

``category_domains`` maps a category-code prefix to enforcement domains (first = pushed,
the rest = re-routing candidates) for clues with neither entity links nor a catalogued item.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from processors.cases.calendar import TZ, Calendar, default_calendar, end_of_local_day, local_date
from schemas.domains import DOMAINS

DATA = Path(__file__).parent / "data" / "deadlines.json"
RISK_LEVELS = ("low", "medium", "high", "critical")


class Span(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: int = Field(ge=0, description="How many units")
    unit: Literal["working_hours", "working_days", "hours", "days"] = Field(description="Unit of value")


class LevelRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dispatch_level: Literal["province", "city", "county"] = Field(description="Region level pushed to")
    receive: Span = Field(description="Time to receive (签收) from the push")
    feedback: Span = Field(description="Time to feed back from the push")
    supervise_after: Span = Field(description="Time after a missed deadline before 督办 one level up")


class LoopConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    office_hours: list[tuple[str, str]] = Field(description="Local office hours of a working day, HH:MM pairs")
    levels: dict[str, LevelRule] = Field(description="Rule per risk level (low, medium, high, critical)")
    category_domains: dict[str, list[str]] = Field(description="Category-code prefix -> enforcement domains")
    severity_levels: dict[str, str] = Field(description="Supervision-alert severity -> risk level of its clue")

    @field_validator("office_hours")
    @classmethod
    def _hours(cls, v: list[tuple[str, str]]) -> list[tuple[str, str]]:
        prev = time(0)
        for start, end in v:
            a, b = time.fromisoformat(start), time.fromisoformat(end)
            if not (prev <= a < b):
                raise ValueError("office hours must be increasing, non-overlapping HH:MM pairs")
            prev = b
        if not v:
            raise ValueError("office hours must not be empty")
        return v

    @model_validator(mode="after")
    def _complete(self) -> LoopConfig:
        missing = [lv for lv in RISK_LEVELS if lv not in self.levels]
        if missing:
            raise ValueError(f"deadlines missing for risk level(s) {', '.join(missing)}")
        unknown = sorted({d for ds in self.category_domains.values() for d in ds if d not in DOMAINS})
        if unknown:
            raise ValueError(f"unknown enforcement domain(s) {', '.join(unknown)}; valid: {', '.join(DOMAINS)}")
        return self

    def rule(self, risk_level: str) -> LevelRule:
        return self.levels.get(risk_level) or self.levels["medium"]

    def domains_for_category(self, code: str | None) -> list[str]:
        """Domains of the longest matching category prefix (empty if none)."""
        if not code:
            return []
        best = max((p for p in self.category_domains if code.startswith(p)), key=len, default=None)
        return list(self.category_domains[best]) if best is not None else []


@cache
def load_config(path: Path | str = DATA) -> LoopConfig:
    return LoopConfig.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))


def add_span(start: datetime, span: Span, cfg: LoopConfig, calendar: Calendar | None = None) -> datetime:
    """The instant ``span`` after aware ``start`` (see the module docstring for units)."""
    cal = calendar or default_calendar()
    start = start.astimezone(UTC)
    if span.unit == "hours":
        return start + timedelta(hours=span.value)
    if span.unit == "days":
        return start + timedelta(days=span.value)
    if span.unit == "working_days":
        return end_of_local_day(cal.add_working_days(local_date(start), span.value))
    return _add_working_hours(start, span.value, cfg, cal)


def _add_working_hours(start: datetime, hours: int, cfg: LoopConfig, cal: Calendar) -> datetime:
    left = timedelta(hours=hours)
    local = start.astimezone(TZ)
    day = local.date()
    for _ in range(4000):
        if cal.is_working_day(day):
            for a, b in cfg.office_hours:
                lo = datetime.combine(day, time.fromisoformat(a), TZ)
                hi = datetime.combine(day, time.fromisoformat(b), TZ)
                lo = max(lo, local)
                if lo >= hi:
                    continue
                if lo + left <= hi:
                    return (lo + left).astimezone(start.tzinfo)
                left -= hi - lo
        day += timedelta(days=1)
    raise ValueError("no working hours within ~11 years (calendar data error)")
