"""Statutory limits as data (``data/limits.json``) and the due-date arithmetic of one clock.

:class:`Rulebook` holds the limits, the stages that cancel running clocks and per-department
overrides (exact department code, else the longest matching suffix), all validated with
pydantic (``extra="forbid"``) so a typo in the data fails at load, not at 3 a.m.
:func:`evaluate` turns one limit plus a case's facts (start, stop, pauses, extension) into a
:class:`ClockView`: due date, warning time and state. It is pure: the processor and the API
both call it, and the clock tests exercise every limit through it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from processors.cases.calendar import (
    Calendar,
    default_calendar,
    end_of_local_day,
    local_date,
    start_of_local_day,
)

DATA = Path(__file__).parent / "data" / "limits.json"

ClockState = Literal["running", "paused", "met", "breached", "expired", "cancelled"]


class Limit(BaseModel):
    """One statutory limit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule_code: str = Field(description="Rule id carried by alerts, e.g. penalty.decide_within_90_days")
    title: str = Field(description="The rule in words (legal source)")
    kind: Literal["deadline", "window"] = Field(
        "deadline", description="deadline: the agency must act by the due time (alerts); window: the party's "
        "period, during which a violated_by stage must not happen")
    unit: Literal["working_days", "days"] = Field(description="working days (calendar data) or calendar days")
    days: int = Field(gt=0, description="The limit, in unit")
    max_extension_days: int = Field(0, ge=0, description="Largest total approved extension, in unit")
    warn_before: int = Field(0, ge=0, description="Raise clock_due_soon this many units before the due date (0: never)")
    roll_to_working_day: bool = Field(False, description="A due date on a rest day moves to the next working day")
    excludes: tuple[Literal["suspension", "hearing"], ...] = Field((), description="Pause kinds whose days do not count")
    start_on: tuple[str, ...] = Field(min_length=1, description="Stages whose first event starts the clock")
    stop_on: tuple[str, ...] = Field((), description="Stages whose first later event meets the clock")
    violated_by: tuple[str, ...] = Field((), description="Window only: stages that must not happen before it ends")
    requires: Literal["fine", "ordinary"] | None = Field(
        None, description="Only for cases with a fine amount (fine) or in the ordinary procedure (ordinary)")
    severity: Literal["low", "medium", "high", "critical"] = Field("high", description="Severity of an overdue alert")
    enabled: bool = Field(True, description="Disabled limits open no clocks")
    note: str | None = Field(None, description="Why the limit is set as it is")


class LimitPatch(BaseModel):
    """A department's changes to one limit (fields left out keep the statutory value)."""

    model_config = ConfigDict(extra="forbid")

    days: int | None = Field(None, gt=0)
    max_extension_days: int | None = Field(None, ge=0)
    warn_before: int | None = Field(None, ge=0)
    roll_to_working_day: bool | None = None
    excludes: tuple[Literal["suspension", "hearing"], ...] | None = None
    severity: Literal["low", "medium", "high", "critical"] | None = None
    enabled: bool | None = None


class Rulebook(BaseModel):
    """All limits, the stages that cancel clocks and per-department overrides."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    doc: str | None = Field(None, alias="_doc")
    limits: dict[str, Limit]
    cancel_on: tuple[str, ...] = Field(("termination", "criminal_referral", "not_filed"),
                                       description="Stages that cancel every clock not yet met")
    overrides: dict[str, dict[str, LimitPatch]] = Field(
        default_factory=dict, description="department code or suffix -> limit code -> changes")

    def model_post_init(self, _ctx) -> None:
        for dept, patches in self.overrides.items():
            unknown = set(patches) - set(self.limits)
            if unknown:
                raise ValueError(f"override {dept!r} names unknown limit(s) {sorted(unknown)}; "
                                 f"valid: {sorted(self.limits)}")

    def override_key(self, department_code: str | None) -> str | None:
        """The override entry for a department: exact code, else the longest suffix of it."""
        if not department_code:
            return None
        if department_code in self.overrides:
            return department_code
        matches = [k for k in self.overrides if department_code.endswith(k)]
        return max(matches, key=len) if matches else None

    def for_department(self, department_code: str | None) -> dict[str, Limit]:
        """The enabled limits that apply to ``department_code``, overrides applied."""
        key = self.override_key(department_code)
        patches = self.overrides.get(key, {}) if key else {}
        out = {}
        for code, limit in self.limits.items():
            patch = patches.get(code)
            if patch is not None:
                limit = limit.model_copy(update=patch.model_dump(exclude_none=True))
            if limit.enabled:
                out[code] = limit
        return out


def load_rulebook(path: Path | str = DATA) -> Rulebook:
    return Rulebook.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))


@cache
def default_rulebook() -> Rulebook:
    return load_rulebook()


@dataclass(frozen=True)
class PauseSpan:
    """A pause of the case: ``kind`` (suspension / hearing) from ``start`` to ``end`` (None: open)."""

    kind: str
    start: datetime
    end: datetime | None


@dataclass(frozen=True)
class ClockView:
    """A clock's computed state. ``due_at`` is exclusive (start of the day after ``due_date``)."""

    limit: str
    state: ClockState
    started_at: datetime
    due_date: date | None
    due_at: datetime | None
    warn_at: datetime | None
    stopped_at: datetime | None
    extension_days: int


def _local_pauses(limit: Limit, pauses: Sequence[PauseSpan], after: datetime) -> tuple[list, bool]:
    spans, open_ = [], False
    for p in pauses:
        if p.kind not in limit.excludes or (p.end is not None and p.end <= after):
            continue
        if p.end is None:
            open_ = True
        spans.append((local_date(p.start), None if p.end is None else local_date(p.end)))
    return spans, open_


def evaluate(code: str, limit: Limit, started_at: datetime, *, stopped_at: datetime | None = None,
             cancelled_at: datetime | None = None, pauses: Sequence[PauseSpan] = (), extension_days: int = 0,
             calendar: Calendar | None = None, now: datetime | None = None) -> ClockView:
    """The clock of ``limit`` started at ``started_at`` given what happened since, seen at ``now``.

    ``extension_days`` is capped at the limit's ``max_extension_days``. With a pause that is
    still open the due date is unknown and the clock is ``paused``. A stop before the due time
    is ``met``, after it ``breached`` (a window that the party used is ``met``); a cancel
    before the stop is ``cancelled``. Not stopped at ``now`` >= due time: a deadline is
    ``breached``, a window ``expired``.
    """
    cal = calendar or default_calendar()
    extension = min(max(extension_days, 0), limit.max_extension_days)
    spans, open_pause = _local_pauses(limit, pauses, started_at)
    cancelled = cancelled_at is not None and (stopped_at is None or cancelled_at < stopped_at)
    if cancelled:
        stopped_at = cancelled_at
        spans = [(s, e if e is not None else local_date(cancelled_at)) for s, e in spans]
        open_pause = False
    if open_pause and stopped_at is None:
        return ClockView(code, "paused", started_at, None, None, None, None, extension)
    if stopped_at is not None:  # a pause left open at the stop ends there
        spans = [(s, e if e is not None else local_date(stopped_at)) for s, e in spans]
    working = limit.unit == "working_days"
    due = cal.add_days(local_date(started_at), limit.days + extension, working=working, pauses=spans)
    if limit.roll_to_working_day:
        due = cal.first_working_day_from(due)
    due_at = end_of_local_day(due)
    warn_at = None
    if limit.kind == "deadline" and limit.warn_before > 0:
        warn_day = (cal.subtract_working_days(due, limit.warn_before) if working
                    else due - timedelta(days=limit.warn_before))
        warn_at = start_of_local_day(warn_day)
    state: ClockState
    if cancelled:
        state = "cancelled"
    elif stopped_at is None:
        state = "running"
        if now is not None and now >= due_at:
            state = "breached" if limit.kind == "deadline" else "expired"
    else:
        state = "met" if stopped_at < due_at or limit.kind == "window" else "breached"
    return ClockView(code, state, started_at, due, due_at, warn_at, stopped_at, extension)


def remaining_working_days(view: ClockView, now: datetime, calendar: Calendar | None = None) -> int | None:
    """Working days left until the due date (negative once overdue); None without a due date."""
    if view.due_date is None:
        return None
    cal = calendar or default_calendar()
    return cal.working_days_between(local_date(now), view.due_date)
