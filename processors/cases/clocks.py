"""Clock alerts: from a clock's view and what was already raised, the alerts to raise or close.

:func:`reconcile` is called for every clock of a case an event touched; :func:`check_clocks`
is the ``clocks`` timer, which looks only at running clocks whose warning or due time has
passed (one indexed query) and moves them on. Both raise ``clock_due_soon`` once when a
deadline is within its ``warn_before`` and ``clock_overdue`` once when it is breached; the
flags on ``case_clocks`` and the deterministic alert ids make "once" hold across batches,
ticks and redeliveries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, bindparam, or_, select, update

from processors.cases.alerts import AlertBook, CaseRef, clock_alert_id, utc
from processors.cases.calendar import Calendar
from processors.cases.models import Case, CaseClock
from processors.cases.rules import ClockView, Limit, Rulebook, remaining_working_days
from processors.runtime.contract import Context

CLOCKS, CASES = CaseClock.__table__, Case.__table__


@dataclass(frozen=True)
class ClockFlags:
    due_soon: bool = False
    overdue: bool = False


def reconcile(view: ClockView, limit: Limit, flags: ClockFlags, case: CaseRef, book: AlertBook,
              now: datetime, calendar: Calendar) -> ClockFlags:
    """Raise / close the alerts ``view`` calls for; returns the updated flags."""
    if limit.kind != "deadline":
        return flags
    soon_id = clock_alert_id(case.case_id, view.limit, "clock_due_soon")
    overdue_id = clock_alert_id(case.case_id, view.limit, "clock_overdue")
    due_soon, overdue = flags.due_soon, flags.overdue
    if (view.state == "running" and view.warn_at is not None and now >= view.warn_at and not due_soon):
        left = remaining_working_days(view, now, calendar)
        book.raise_(soon_id, "clock_due_soon", case, rule_code=limit.rule_code, severity="medium",
                    limit_code=view.limit, due_at=view.due_at, escalation_level=0,
                    message=f"case {case.case_id}: {view.limit} due {view.due_date} "
                            f"({left} working days left) - {limit.title}")
        due_soon = True
    if view.state == "breached" and not overdue:
        late = "met late" if view.stopped_at is not None else "not met"
        book.raise_(overdue_id, "clock_overdue", case, rule_code=limit.rule_code, severity=limit.severity,
                    limit_code=view.limit, due_at=view.due_at, escalation_level=1,
                    closed=view.stopped_at is not None,
                    message=f"case {case.case_id}: {view.limit} was due {view.due_date}, {late} - {limit.title}")
        overdue = True
    if view.state != "running":
        book.close([soon_id], now)
    if view.state in ("met", "cancelled") or view.stopped_at is not None:
        book.close([overdue_id], now)
    return ClockFlags(due_soon, overdue)


def check_clocks(conn: Connection, ctx: Context, rulebook: Rulebook, calendar: Calendar) -> None:
    """Timer body: running clocks whose warn or due time is at or before ``ctx.now``."""
    now = ctx.now
    rows = conn.execute(
        select(CLOCKS, CASES.c.department_code, CASES.c.department_name, CASES.c.region_code)
        .join(CASES, CASES.c.case_id == CLOCKS.c.case_id)
        .where(CLOCKS.c.state == "running",
               or_(CLOCKS.c.due_at <= now,
                   and_(CLOCKS.c.due_soon_alerted.is_(False), CLOCKS.c.warn_at <= now)))
    ).all()
    if not rows:
        return
    book = AlertBook(conn, ctx)
    book.load(r.case_id for r in rows)
    updates = []
    for r in rows:
        limit = rulebook.for_department(r.department_code).get(r.limit_code)
        if limit is None:  # disabled since the clock started: leave it alone
            continue
        due_at = utc(r.due_at)
        state = r.state
        if due_at is not None and now >= due_at:
            state = "breached" if limit.kind == "deadline" else "expired"
        view = ClockView(r.limit_code, state, utc(r.started_at), r.due_date, due_at, utc(r.warn_at), None,
                         r.extension_days)
        case = CaseRef(r.case_id, r.department_code, r.department_name, r.region_code)
        flags = reconcile(view, limit, ClockFlags(r.due_soon_alerted, r.overdue_alerted), case, book, now, calendar)
        updates.append({"k_case": r.case_id, "k_limit": r.limit_code, "v_state": state,
                        "v_soon": flags.due_soon, "v_overdue": flags.overdue, "v_at": now})
    if updates:
        conn.execute(update(CLOCKS).where(CLOCKS.c.case_id == bindparam("k_case"),
                                          CLOCKS.c.limit_code == bindparam("k_limit"))
                     .values(state=bindparam("v_state"), due_soon_alerted=bindparam("v_soon"),
                             overdue_alerted=bindparam("v_overdue"), updated_at=bindparam("v_at")), updates)
    book.flush()
    ctx.count("clock_checks", len(updates))
