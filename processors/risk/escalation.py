"""The escalation timer: a missed deadline is first a reminder, then 督办 one region level up.

For each responsible dispatch still ``pushed`` past ``receive_due`` (kind
``dispatch_overdue``) or not fed back past ``feedback_due`` (kind ``feedback_overdue``):

1. at the deadline: a ``reminder`` event and a ``supervision.alerts`` record to the
   department (escalation level 1);
2. ``supervise_after`` later: a ``supervised`` event, a ``supervision.alerts`` record to the
   department one region level up (level 2) and a copy of the clue pushed to it on
   ``risk.dispatches`` (role ``supervise``, ``escalation_level`` 1).

Each step is recorded on the dispatch (``receive_escalation`` / ``feedback_escalation``)
and by deterministic ids, so a step happens exactly once however often the timer runs.
"""

from __future__ import annotations

from sqlalchemy import Connection, insert, select, update

from processors.risk.config import LoopConfig, add_span
from processors.risk.loop import ALERTS, CLUES, DISPATCHES, envelope, ms, push, record_event, utc
from processors.risk.routing import supervisor_of
from processors.runtime.contract import Context

TOPIC = "supervision.alerts"
_PHASES = (("receive", "dispatch_overdue", ("pushed",)),
           ("feedback", "feedback_overdue", ("pushed", "received", "handling")))


def escalate(conn: Connection, ctx: Context, cfg: LoopConfig) -> int:
    """Take every escalation step due at ``ctx.now``; returns how many were taken."""
    taken = 0
    for phase, kind, states in _PHASES:
        due_col = DISPATCHES.c[f"{phase}_due"]
        level_col = DISPATCHES.c[f"{phase}_escalation"]
        rows = conn.execute(select(DISPATCHES).where(
            DISPATCHES.c.role == "responsible", DISPATCHES.c.state.in_(states), due_col <= ctx.now,
            level_col < 2).order_by(DISPATCHES.c.dispatch_id)).all()
        for d in rows:
            due = utc(getattr(d, f"{phase}_due"))
            level = getattr(d, f"{phase}_escalation")
            if level == 0:
                _remind(conn, ctx, d, phase, kind, due)
                level, taken = 1, taken + 1
            supervise_at = add_span(due, cfg.rule(d.risk_level).supervise_after, cfg)
            if level == 1 and ctx.now >= supervise_at:
                _supervise(conn, ctx, cfg, d, phase, kind, supervise_at)
                level, taken = 2, taken + 1
            conn.execute(update(DISPATCHES).where(DISPATCHES.c.dispatch_id == d.dispatch_id)
                         .values(**{f"{phase}_escalation": level}))
    return taken


def _remind(conn: Connection, ctx: Context, d, phase: str, kind: str, due) -> None:
    if record_event(conn, f"{d.dispatch_id}:{kind}:1", d.alert_id, "reminder", ctx.now, actor="timer",
                    dispatch_id=d.dispatch_id, department_code=d.department_code,
                    detail={"phase": phase, "due": due.isoformat()}):
        _alert(conn, ctx, d, kind, 1, due, d.department_code, d.department_name, d.region_code,
               f"risk dispatch {d.dispatch_id}: {phase} deadline {due.isoformat()} missed; reminder (催办)")
        ctx.count(f"reminder_{phase}")


def _supervise(conn: Connection, ctx: Context, cfg: LoopConfig, d, phase: str, kind: str, supervise_at) -> None:
    up = supervisor_of(d.department_code, d.department_name, d.region_code)
    if not record_event(conn, f"{d.dispatch_id}:{kind}:2", d.alert_id, "supervised", ctx.now, actor="timer",
                        dispatch_id=d.dispatch_id, department_code=up.code if up else None,
                        detail={"phase": phase, "supervisor": up.code if up else None}):
        return
    msg = f"risk dispatch {d.dispatch_id}: {phase} still overdue; supervision (督办) by the level above"
    if up is None:
        _alert(conn, ctx, d, kind, 2, supervise_at, None, None, d.region_code, msg + " (none: province level)")
    else:
        _alert(conn, ctx, d, kind, 2, supervise_at, up.code, up.name, up.region_code, msg)
        clue_level = conn.execute(select(CLUES.c.risk_level).where(CLUES.c.alert_id == d.alert_id)).scalar()
        push(conn, ctx, d.alert_id, clue_level or d.risk_level, up, cfg, role="supervise", escalation_level=1,
             note=f"督办: {phase} overdue at {d.department_code}")
    ctx.count(f"supervised_{phase}")


def _alert(conn: Connection, ctx: Context, d, kind: str, level: int, due, dept_code, dept_name, region,
           message: str) -> None:
    alert_id = f"{d.dispatch_id}:{kind}:{level}"
    severity = d.risk_level if d.risk_level in ("low", "medium", "high", "critical") else "medium"
    conn.execute(insert(ALERTS).values(
        alert_id=alert_id, kind=kind, subject_type="risk_dispatch", subject_id=d.alert_id, limit_code=None,
        rule_code=f"risk.{kind}", severity=severity, due_at=due, detected_at=ctx.now, department_code=dept_code,
        department_name=dept_name, region_code=region, escalation_level=level, status="open", closed_at=None,
        message=message))
    now_ms = ms(ctx.now)
    ctx.emit(TOPIC, {
        "envelope": envelope(alert_id, "1", ctx.now, region or "330000", dept_code or ""),
        "alert_id": alert_id, "kind": kind, "subject_type": "risk_dispatch", "subject_id": d.alert_id,
        "rule_code": f"risk.{kind}", "severity": severity, "due_time": ms(due), "detected_time": now_ms,
        "department": {"code": dept_code, "name": dept_name or dept_code, "code_system": None} if dept_code else None,
        "region_code": region, "escalation_level": level, "message": message})
