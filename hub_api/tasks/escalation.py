"""Overdue joint-task assignments: a reminder, then the same department one region level up.

:func:`escalate` is the ``tasks`` processor's timer (and callable from tests with a
:class:`~processors.runtime.clock.FixedClock`). For every open assignment past its due
time it takes at most one step per run, each exactly once (``reminded_at`` /
``escalated_at`` are set in the same transaction that records and emits the step):

1. at the due time: a reminder to the assigned department (``task_events`` ``reminder``,
   ``task.status`` ``overdue``, ``supervision.alerts`` ``task_overdue`` level 0);
2. ``escalate_after_working_days`` working days later (the hub's working-day calendar):
   escalation to the parent region's department of the same kind (``330106SCJ`` ->
   ``330100SCJ``), recorded the same way at level 1. A province-level or peer-province
   assignment has nobody above it in this hub: the step is recorded with no target.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from hub_api.tasks import resolve
from hub_api.tasks.models import task_assignments
from hub_api.tasks.service import OPEN, SOURCE, emit_status, envelope, event, get_task, ms, utc
from processors.cases.calendar import default_calendar, end_of_local_day, local_date
from processors.runtime.contract import Context


@dataclass(frozen=True)
class EscalationPolicy:
    """When the steps happen (data, not code: a deployment may pass its own)."""

    escalate_after_working_days: int = 1


def escalation_time(due_time, policy: EscalationPolicy):
    due_day = local_date(utc(due_time) - timedelta(microseconds=1))
    try:
        day = default_calendar().add_working_days(due_day, policy.escalate_after_working_days)
    except ValueError:
        day = due_day + timedelta(days=policy.escalate_after_working_days)
    return end_of_local_day(day)


def escalate(conn: sa.Connection, ctx: Context, policy: EscalationPolicy = EscalationPolicy()) -> None:
    """Take the due reminder / escalation steps for every overdue open assignment."""
    due = conn.execute(sa.select(task_assignments).where(
        task_assignments.c.status.in_(OPEN), task_assignments.c.due_time.is_not(None),
        task_assignments.c.due_time <= ctx.now, task_assignments.c.escalated_at.is_(None),
    ).order_by(task_assignments.c.due_time)).mappings().all()
    for row in due:
        a = dict(row)
        task = get_task(conn, a["task_id"])
        if task is None:
            continue
        if a["reminded_at"] is None:
            _step(conn, ctx, task, a, "reminder", 0, a["department_code"], a["department_name"], a["region_code"])
            conn.execute(task_assignments.update().where(task_assignments.c.assignment_id == a["assignment_id"])
                         .values(reminded_at=ctx.now))
            ctx.count("task_reminder")
        elif ctx.now >= escalation_time(a["due_time"], policy):
            up = resolve.parent_department(a["department_code"], a["region_code"]) if a["kind"] == "local" else None
            code, region = up if up else (None, None)
            name = _name_like(a, code, region) if code else None
            _step(conn, ctx, task, a, "escalated", 1, code, name, region)
            conn.execute(task_assignments.update().where(task_assignments.c.assignment_id == a["assignment_id"])
                         .values(escalated_at=ctx.now, escalated_to=code))
            ctx.count("task_escalated")


def _name_like(a: dict, code: str, region: str) -> str:
    from schemas import regions

    own = regions.region_name(a["region_code"]) or ""
    suffix = a["department_name"][len(own):] if own and a["department_name"].startswith(own) else a["department_name"]
    return f"{regions.region_name(region) or region}{suffix}"


def _step(conn, ctx: Context, task: dict, a: dict, kind: str, level: int, code: str | None, name: str | None,
          region: str | None) -> None:
    note = "reminder: overdue" if kind == "reminder" else (
        f"escalated to {code}" if code else "escalation: no higher level in this hub")
    version = event(conn, ctx, task["task_id"], kind, SOURCE, a["assignment_id"], to=code, level=level)
    emit_status(ctx, task, a, "overdue", version, note=note)
    ctx.emit("supervision.alerts", {
        "envelope": envelope(f"task:{a['assignment_id']}:{kind}", version, ctx.now, region or a["region_code"],
                             code or a["department_code"], "i"),
        "alert_id": f"task:{a['assignment_id']}:{kind}", "kind": "task_overdue", "subject_type": "task_assignment",
        "subject_id": a["assignment_id"], "rule_code": f"TASK_OVERDUE_{kind.upper()}",
        "severity": "medium" if level == 0 else "high", "due_time": ms(a["due_time"]), "detected_time": ms(ctx.now),
        "department": {"code": code, "name": name, "code_system": None} if code else None,
        "region_code": region, "escalation_level": level,
        "message": f"joint task {task['task_id']}: assignment to {a['department_code']} overdue; {note}"})
