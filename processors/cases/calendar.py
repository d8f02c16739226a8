"""The PRC working-day calendar: public holidays and make-up working days (调休) as data.

A day is a working day when it is a listed make-up working day, or a Monday-Friday that is
not a listed holiday. Years missing from the data fall back to Monday-Friday
(:meth:`Calendar.covers` says which years are known). Dates are local dates in
Asia/Shanghai; :func:`local_date` and :func:`end_of_local_day` convert from and to aware
UTC datetimes.

Counting follows the Administrative Penalty Law: the day an act happens is not counted
(a limit of *n* days ends on the *n*-th counting day after it). A pause excludes the local
days ``start <= d < end`` (``end`` None: open, every later day is excluded).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Shanghai")
DATA = Path(__file__).parent / "data" / "calendar-cn.json"

Pause = tuple[date, date | None]
"""Local days excluded from counting: ``start <= d < end``; ``end`` None while the pause is open."""

_MAX_SCAN = 4000  # days: a limit that cannot end within ~11 years is a data error, not a loop


def local_date(when: datetime) -> date:
    """The Asia/Shanghai calendar date of aware ``when`` (naive values are taken as UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(TZ).date()


def end_of_local_day(d: date) -> datetime:
    """The first instant after local day ``d`` (exclusive bound), as aware UTC."""
    return datetime.combine(d + timedelta(days=1), time(0), TZ).astimezone(UTC)


def start_of_local_day(d: date) -> datetime:
    return datetime.combine(d, time(0), TZ).astimezone(UTC)


def paused(d: date, pauses: Sequence[Pause]) -> bool:
    return any(start <= d and (end is None or d < end) for start, end in pauses)


@dataclass(frozen=True)
class Calendar:
    """Holidays and make-up working days; immutable and thread-safe."""

    holidays: frozenset[date]
    workdays: frozenset[date]
    years: frozenset[int]
    provisional_years: frozenset[int] = frozenset()

    @classmethod
    def from_dict(cls, data: dict) -> Calendar:
        holidays: set[date] = set()
        workdays: set[date] = set()
        provisional: set[int] = set()
        for year, spec in data["years"].items():
            holidays.update(date.fromisoformat(d) for d in spec.get("holidays", ()))
            workdays.update(date.fromisoformat(d) for d in spec.get("workdays", ()))
            if spec.get("provisional"):
                provisional.add(int(year))
        clash = holidays & workdays
        if clash:
            raise ValueError(f"dates listed both as holiday and as make-up working day: {sorted(clash)[:5]}")
        return cls(frozenset(holidays), frozenset(workdays), frozenset(int(y) for y in data["years"]),
                   frozenset(provisional))

    @classmethod
    def load(cls, path: Path | str = DATA) -> Calendar:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def covers(self, year: int) -> bool:
        """Whether ``year``'s holidays are in the data (else Monday-Friday is assumed)."""
        return year in self.years

    def is_working_day(self, d: date) -> bool:
        if d in self.workdays:
            return True
        return d.weekday() < 5 and d not in self.holidays

    def add_days(self, start: date, n: int, *, working: bool, pauses: Sequence[Pause] = ()) -> date:
        """The ``n``-th counting day after ``start`` (``start`` itself never counts).

        Counting days are working days when ``working``, else every day; paused days never
        count. ``n`` <= 0 gives ``start``. ValueError if the end cannot be reached (an open
        pause, or more than ~11 years).
        """
        d, left = start, n
        for _ in range(_MAX_SCAN):
            if left <= 0:
                return d
            d += timedelta(days=1)
            if (not working or self.is_working_day(d)) and not paused(d, pauses):
                left -= 1
        raise ValueError(f"no end within {_MAX_SCAN} days of {start} (open pause?)")

    def add_working_days(self, start: date, n: int, pauses: Sequence[Pause] = ()) -> date:
        """The ``n``-th working day after ``start``, skipping paused days."""
        return self.add_days(start, n, working=True, pauses=pauses)

    def subtract_working_days(self, end: date, n: int) -> date:
        """The day ``n`` working days before ``end`` (for "warn n working days before the due date")."""
        d, left = end, n
        while left > 0:
            d -= timedelta(days=1)
            if self.is_working_day(d):
                left -= 1
        return d

    def working_days_between(self, start: date, end: date, pauses: Sequence[Pause] = ()) -> int:
        """Counting working days in ``(start, end]`` not paused; negative when ``end`` < ``start``."""
        if end < start:
            return -self.working_days_between(end, start, pauses)
        n, d = 0, start
        while d < end:
            d += timedelta(days=1)
            if self.is_working_day(d) and not paused(d, pauses):
                n += 1
        return n

    def first_working_day_from(self, d: date) -> date:
        """``d`` if it is a working day, else the next one (a limit ending on a holiday moves on)."""
        for _ in range(_MAX_SCAN):
            if self.is_working_day(d):
                return d
            d += timedelta(days=1)
        raise ValueError("calendar has no working day ahead")


@cache
def default_calendar() -> Calendar:
    """The calendar of ``data/calendar-cn.json`` (loaded once)."""
    return Calendar.load()


def merge_pauses(pauses: Iterable[Pause]) -> list[Pause]:
    """Pauses sorted by start (overlaps are harmless: a day is paused if any pause covers it)."""
    return sorted(pauses, key=lambda p: p[0])
