"""The state machine of the loop: push a clue, apply a department's step, re-route a return.

Shared by the processor (``risk.alerts``, ``risk.feedback``) and the API (which applies a
step in its own transaction and publishes it on ``risk.feedback`` through the outbox; the
processor then finds the step's ``event_id`` already recorded and skips it). Every
function writes with SQLAlchemy Core on the caller's connection and never commits.

Dispatch states: ``pushed -> received -> handling -> fed_back`` (a later step implies the
earlier ones), ``returned`` (退回, then re-routed) and ``closed``. A clue is ``closed`` once
every dispatch not returned is fed back or closed, ``unrouted`` when no department is left,
``withdrawn`` (final) when its risk system withdrew it: open dispatches are then closed and each
department gets a ``risk.dispatches`` record with envelope operation ``d``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from processors.cases.models import SupervisionAlertRow
from processors.risk.config import LoopConfig, add_span
from processors.risk.models import RiskClue, RiskDispatch, RiskEvent
from processors.risk.routing import Target, route
from processors.runtime.contract import Context

CLUES, DISPATCHES, EVENTS = RiskClue.__table__, RiskDispatch.__table__, RiskEvent.__table__
ALERTS = SupervisionAlertRow.__table__
SOURCE_SYSTEM = "hub.risk"
PROGRESS = {"pushed": 0, "received": 1, "handling": 2, "fed_back": 3, "closed": 4}
STEPS = ("receive", "handling", "feedback", "return", "close")


def utc(when: datetime | None) -> datetime | None:
    if when is None:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def ms(when: datetime | None) -> int | None:
    return None if when is None else int(utc(when).timestamp() * 1000)


def record_event(conn: Connection, event_id: str, alert_id: str, kind: str, at: datetime, *, actor: str,
                 dispatch_id: str | None = None, department_code: str | None = None,
                 detail: dict[str, Any] | None = None) -> bool:
    """Insert an event unless ``event_id`` is known; False when it was."""
    if conn.execute(select(EVENTS.c.id).where(EVENTS.c.event_id == event_id)).first():
        return False
    conn.execute(insert(EVENTS).values(event_id=event_id, alert_id=alert_id, dispatch_id=dispatch_id, kind=kind,
                                       at=utc(at), department_code=department_code, actor=actor,
                                       detail=json.dumps(detail, ensure_ascii=False) if detail else None))
    return True


def envelope(key: str, version: str, now: datetime, region_code: str, department_code: str, *,
             operation: str = "i") -> dict[str, Any]:
    now_ms = ms(now)
    return {"record_id": f"{SOURCE_SYSTEM}:{key}:{version}", "source_system": SOURCE_SYSTEM,
            "source_position": {"partition": "risk", "offset": key}, "operation": operation, "event_time": now_ms,
            "ingest_time": now_ms, "region_code": region_code or "330000", "department_code": department_code or "",
            "trace_id": None, "batch": None, "source_key": key, "source_version": version}


# ---- clues and pushes -------------------------------------------------------------------------

def open_clue(conn: Connection, ctx: Context, clue: dict, cfg: LoopConfig, *, origin: str,
              event_time: datetime | None) -> str:
    """Create a clue and push it, or update a known one; returns created / updated / stale."""
    alert_id = clue["alert_id"]
    row = conn.execute(select(CLUES).where(CLUES.c.alert_id == alert_id)).first()
    if row is not None:
        if event_time is not None and row.event_time is not None and utc(event_time) <= utc(row.event_time):
            return "stale"
        conn.execute(update(CLUES).where(CLUES.c.alert_id == alert_id).values(
            risk_level=clue["risk_level"], title=clue.get("title"), event_time=utc(event_time), updated_at=ctx.now))
        record_event(conn, f"{alert_id}:updated:{ms(event_time) or ms(ctx.now)}", alert_id, "updated", ctx.now,
                     actor="source", detail={"risk_level": clue["risk_level"]})
        return "updated"
    r = route(conn, clue, cfg)
    _insert_clue(conn, ctx, clue, origin=origin, event_time=event_time, state="unrouted",
                 candidates=[t.as_dict() for t in r.candidates])
    record_event(conn, f"{alert_id}:clue", alert_id, "clue", ctx.now, actor="source",
                 detail={"origin": origin, "risk_level": clue["risk_level"], "candidates": len(r.candidates)})
    for target in r.primary:
        push(conn, ctx, alert_id, clue["risk_level"], target, cfg)
    if not r.primary:
        record_event(conn, f"{alert_id}:unrouted", alert_id, "unrouted", ctx.now, actor="hub")
        ctx.count("clue_unrouted")
    refresh_clue(conn, ctx, alert_id)
    ctx.count("clue_opened")
    return "created"


def withdraw_clue(conn: Connection, ctx: Context, clue: dict, *, event_time: datetime | None) -> str:
    """The risk system withdrew ``clue`` (operation ``d``); returns withdrawn / already / stale.

    Open dispatches (pushed, received, handling) are closed, their overdue alerts closed, and
    each department is told on ``risk.dispatches`` (same dispatch id, operation ``d``). Fed-back
    and returned dispatches keep their state. A withdrawal that arrives before its clue stores
    the clue as withdrawn, so the late clue is never pushed.
    """
    alert_id = clue["alert_id"]
    row = conn.execute(select(CLUES).where(CLUES.c.alert_id == alert_id)).first()
    if row is not None and row.state == "withdrawn":
        return "already"
    if row is not None and event_time is not None and row.event_time is not None \
            and utc(event_time) < utc(row.event_time):
        return "stale"
    if row is None:
        _insert_clue(conn, ctx, clue, origin="risk_system", event_time=event_time, state="withdrawn", candidates=[])
    else:
        conn.execute(update(CLUES).where(CLUES.c.alert_id == alert_id).values(
            state="withdrawn", event_time=utc(event_time) or row.event_time, updated_at=ctx.now, closed_at=ctx.now))
    open_dispatches = conn.execute(select(DISPATCHES).where(
        DISPATCHES.c.alert_id == alert_id, DISPATCHES.c.state.in_(("pushed", "received", "handling")))).all()
    record_event(conn, f"{alert_id}:withdrawn", alert_id, "withdrawn", ctx.now, actor="source",
                 detail={"open_dispatches": len(open_dispatches)})
    for d in open_dispatches:
        conn.execute(update(DISPATCHES).where(DISPATCHES.c.dispatch_id == d.dispatch_id)
                     .values(state="closed", closed_at=ctx.now, updated_at=ctx.now))
        _close_alerts(conn, ctx, d.dispatch_id, "fed_back")
        target = Target(d.department_code, d.department_name, d.region_code, d.matched_rule)
        ctx.emit("risk.dispatches", _dispatch_record(
            alert_id, d.dispatch_id, target, ctx.now, dispatched=d.dispatched_at, due=None,
            note="withdrawn by the risk system (风险线索已撤回): no further action", version="withdrawn",
            operation="d"))
    ctx.count("clue_withdrawn")
    return "withdrawn"


def push(conn: Connection, ctx: Context, alert_id: str, risk_level: str, target: Target, cfg: LoopConfig, *,
         role: str = "responsible", note: str | None = None, escalation_level: int = 0) -> bool:
    """Push ``alert_id`` to ``target`` once (False if that department already has it in that role)."""
    dispatch_id = f"{alert_id}:{target.code}" + (":supervise" if role == "supervise" else "")
    if conn.execute(select(DISPATCHES.c.state).where(DISPATCHES.c.dispatch_id == dispatch_id)).first():
        ctx.count("push_duplicate")
        return False
    rule = cfg.rule(risk_level)
    now = ctx.now
    receive_due = add_span(now, rule.receive, cfg) if role == "responsible" else None
    feedback_due = add_span(now, rule.feedback, cfg) if role == "responsible" else None
    conn.execute(insert(DISPATCHES).values(
        dispatch_id=dispatch_id, alert_id=alert_id, role=role, department_code=target.code,
        department_name=target.name, region_code=target.region_code, matched_rule=target.rule,
        risk_level=risk_level, state="pushed", dispatched_at=now, receive_due=receive_due,
        feedback_due=feedback_due, receive_escalation=0, feedback_escalation=0, updated_at=now))
    record_event(conn, f"{dispatch_id}:pushed", alert_id, "pushed", now, actor="hub", dispatch_id=dispatch_id,
                 department_code=target.code, detail={"rule": target.rule, "role": role})
    ctx.emit("risk.dispatches", _dispatch_record(alert_id, dispatch_id, target, now, dispatched=now,
                                                 due=receive_due, note=note, escalation_level=escalation_level))
    ctx.count("dispatch_pushed" if role == "responsible" else "dispatch_supervise")
    return True


def _insert_clue(conn: Connection, ctx: Context, clue: dict, *, origin: str, event_time: datetime | None,
                 state: str, candidates: list[dict]) -> None:
    category = clue.get("category") or {}
    conn.execute(insert(CLUES).values(
        alert_id=clue["alert_id"], origin=origin, risk_system=clue.get("risk_system"),
        category_code=category.get("code"), category_name=category.get("name"), risk_level=clue["risk_level"],
        title=(clue.get("title") or "")[:500], entity_id=clue.get("entity_id"), catalog_code=clue.get("catalog_code"),
        region_code=clue["region_code"], detected_at=utc(_from_ms(clue.get("detected_time"))) or ctx.now,
        event_time=utc(event_time), state=state, candidates=json.dumps(candidates, ensure_ascii=False),
        created_at=ctx.now, updated_at=ctx.now, closed_at=ctx.now if state == "withdrawn" else None))


def _dispatch_record(alert_id: str, dispatch_id: str, target: Target, now: datetime, *, dispatched: datetime,
                     due: datetime | None, note: str | None, escalation_level: int = 0, version: str = "1",
                     operation: str = "i") -> dict[str, Any]:
    """A ``risk.dispatches`` value: a push (operation ``i``) or a withdrawal (``d``)."""
    return {
        "envelope": envelope(dispatch_id, version, now, target.region_code, target.code, operation=operation),
        "alert_id": alert_id, "dispatch_id": dispatch_id,
        "department": {"code": target.code, "name": target.name, "code_system": None},
        "region_code": target.region_code, "dispatched_time": ms(dispatched), "due_time": ms(due),
        "matched_rule": target.rule, "escalation_level": escalation_level, "note": note}


def refresh_clue(conn: Connection, ctx: Context, alert_id: str) -> str:
    """Recompute the clue's state from its responsible dispatches; records ``closed`` once."""
    clue = conn.execute(select(CLUES.c.state).where(CLUES.c.alert_id == alert_id)).first()
    if clue.state == "withdrawn":
        return clue.state  # final: steps on already fed-back dispatches do not reopen it
    states = [s for s in conn.execute(select(DISPATCHES.c.state).where(
        DISPATCHES.c.alert_id == alert_id, DISPATCHES.c.role == "responsible")).scalars() if s != "returned"]
    if not states:
        state = "unrouted"
    elif all(s in ("fed_back", "closed") for s in states):
        state = "closed"
    else:
        state = min(states, key=PROGRESS.__getitem__)
    if clue.state != state:
        values: dict[str, Any] = {"state": state, "updated_at": ctx.now}
        if state == "closed":
            values["closed_at"] = ctx.now
            record_event(conn, f"{alert_id}:closed", alert_id, "closed", ctx.now, actor="hub")
            ctx.count("clue_closed")
        conn.execute(update(CLUES).where(CLUES.c.alert_id == alert_id).values(**values))
    return state


# ---- department steps ---------------------------------------------------------------------------

class StepError(Exception):
    """A step that cannot apply: ``code`` is dispatch_not_found / wrong_department / invalid_transition."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def apply_step(conn: Connection, ctx: Context, cfg: LoopConfig, *, alert_id: str, dispatch_id: str, step: str,
               at: datetime, event_id: str, actor: str, department_code: str | None = None,
               result: dict | None = None, reason: str | None = None,
               detail: dict[str, Any] | None = None) -> tuple[str, bool]:
    """Apply one step; returns (dispatch state after, whether anything changed). StepError if it cannot."""
    d = conn.execute(select(DISPATCHES).where(DISPATCHES.c.dispatch_id == dispatch_id,
                                              DISPATCHES.c.alert_id == alert_id)).first()
    if d is None or d.role != "responsible":
        raise StepError("dispatch_not_found", "no such dispatch for this clue")
    if department_code and department_code != d.department_code:
        raise StepError("wrong_department", "the dispatch was pushed to another department")
    if conn.execute(select(EVENTS.c.id).where(EVENTS.c.event_id == event_id)).first():
        return d.state, False
    at = utc(at)
    target = {"receive": "received", "handling": "handling", "feedback": "fed_back", "return": "returned",
              "close": "closed"}[step]
    if d.state == target or (target in PROGRESS and d.state in PROGRESS and PROGRESS[d.state] > PROGRESS[target]
                             and target != "closed"):
        return d.state, False  # already there (a repeated receipt is harmless)
    if d.state in ("returned", "closed") or (target == "returned" and d.state == "fed_back"):
        raise StepError("invalid_transition", f"cannot {step} a dispatch that is {d.state}")
    values: dict[str, Any] = {"state": target, "updated_at": ctx.now}
    if target in ("received", "handling", "fed_back", "returned") and d.received_at is None:
        values["received_at"] = at
    if target in ("handling", "fed_back") and d.handling_at is None:
        values["handling_at"] = at
    if target == "fed_back":
        values["fed_back_at"] = at
        if result:
            values["result_code"], values["result_name"] = result.get("code"), result.get("name")
    if target == "returned":
        values["returned_at"], values["return_reason"] = at, (reason or "")[:2000]
    if target == "closed":
        values["closed_at"] = at
    conn.execute(update(DISPATCHES).where(DISPATCHES.c.dispatch_id == dispatch_id).values(**values))
    record_event(conn, event_id, alert_id, target, at, actor=actor, dispatch_id=dispatch_id,
                 department_code=d.department_code,
                 detail={k: v for k, v in {**(detail or {}), "reason": reason,
                                           "result": result and result.get("code")}.items() if v})
    _close_alerts(conn, ctx, dispatch_id, target)
    ctx.count(f"step_{target}")
    if target == "returned":
        reroute(conn, ctx, cfg, alert_id, d)
    refresh_clue(conn, ctx, alert_id)
    return target, True


def reroute(conn: Connection, ctx: Context, cfg: LoopConfig, alert_id: str, returned) -> Target | None:
    """Push to the next candidate never pushed before, else the returning department's supervisor."""
    from processors.risk.routing import supervisor_of

    clue = conn.execute(select(CLUES).where(CLUES.c.alert_id == alert_id)).first()
    used = set(conn.execute(select(DISPATCHES.c.department_code).where(
        DISPATCHES.c.alert_id == alert_id, DISPATCHES.c.role == "responsible")).scalars())
    options = [Target(**c) for c in json.loads(clue.candidates or "[]")]
    up = supervisor_of(returned.department_code, returned.department_name, returned.region_code)
    if up is not None:
        options.append(Target(up.code, up.name, up.region_code, "return_up"))
    for t in options:
        if t.code not in used:
            push(conn, ctx, alert_id, clue.risk_level, t, cfg, note="re-routed after return (退回改派)")
            record_event(conn, f"{returned.dispatch_id}:rerouted", alert_id, "rerouted", ctx.now, actor="hub",
                         dispatch_id=returned.dispatch_id, department_code=t.code, detail={"rule": t.rule})
            ctx.count("clue_rerouted")
            return t
    record_event(conn, f"{returned.dispatch_id}:unrouted", alert_id, "unrouted", ctx.now, actor="hub",
                 dispatch_id=returned.dispatch_id)
    ctx.count("clue_unrouted")
    return None


def _close_alerts(conn: Connection, ctx: Context, dispatch_id: str, target: str) -> None:
    kinds = ["dispatch_overdue"] if target == "received" else ["dispatch_overdue", "feedback_overdue"]
    ids = [f"{dispatch_id}:{k}:{lv}" for k in kinds for lv in (1, 2)]
    conn.execute(update(ALERTS).where(ALERTS.c.alert_id.in_(ids), ALERTS.c.status == "open")
                 .values(status="closed", closed_at=ctx.now))


def _from_ms(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromtimestamp(value / 1000, UTC)
