"""The risk loop over HTTP (统一风险预警中心).

``POST /risk/clues/{alert_id}/dispatches/{dispatch_id}/{receive|handling|feedback|return}``
(scope ``risk:feedback``) applies a department's step **directly to the tables** in one
transaction with :func:`processors.risk.loop.apply_step`, so the answer already shows the
new state, and publishes the step on ``risk.feedback`` through the outbox in that same
transaction (record id = event id, so the ``risk`` processor skips it when it reads it
back). A repeated call is idempotent (200, ``changed: false``). A client registered for a
department may act only on that department's dispatches (403 ``wrong_department``).
Errors: 404 ``dispatch_not_found``, 409 ``invalid_transition`` (e.g. feedback after return).

``GET /risk/clues/{alert_id}`` gives the clue, its dispatches and its events;
``GET /risk/report?department=&region=`` the figures of :mod:`processors.risk.report`
(any authenticated client). "Now" is ``app.state.clock`` when set (tests), else UTC now.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from hub_api.auth.deps import CurrentPrincipal, require_scope
from hub_api.auth.service import Principal
from processors.risk.config import load_config
from processors.risk.loop import CLUES, DISPATCHES, EVENTS, StepError, apply_step, envelope, ms, utc
from processors.risk.report import figures
from processors.runtime.contract import Context
from processors.runtime.outbox import enqueue

router = APIRouter(prefix="/risk", tags=["risk"])
Feedbacker = Annotated[Principal, Depends(require_scope("risk:feedback"))]
_FEEDBACK_STEP = {"receive": "received", "handling": "handling", "feedback": "handled", "return": "returned"}
_STATUS = {"dispatch_not_found": 404, "wrong_department": 403, "invalid_transition": 409}


class Coded(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=64, description="Result code")
    name: str = Field(min_length=1, max_length=255, description="Result name")


class StepRequest(BaseModel):
    """A department's step. ``feedback`` needs ``result``; ``return`` needs ``reason``."""

    model_config = ConfigDict(extra="forbid")

    department_code: str | None = Field(None, max_length=64, description="Acting department (checked if given)")
    note: str | None = Field(None, max_length=2000, description="Free text (no personal data, please)")
    result: Coded | None = Field(None, description="Handling result (feedback)")
    measures: str | None = Field(None, max_length=4000, description="Measures taken (feedback)")
    officer_certificates: list[str] = Field(default_factory=list, max_length=20,
                                            description="Certificate numbers of the officers who handled it")
    case_id: str | None = Field(None, max_length=128, description="Penalty case opened, if any")
    reason: str | None = Field(None, max_length=2000, description="Why the clue is not ours (return)")


class StepAnswer(BaseModel):
    alert_id: str
    dispatch_id: str
    state: str = Field(description="Dispatch state after the step")
    clue_state: str
    changed: bool = Field(description="False when the step had already been applied")


def _now(request: Request) -> datetime:
    clock = getattr(request.app.state, "clock", None)
    return clock.now() if clock is not None else datetime.now(UTC)


def _err(status: int, code: str, message: str) -> HTTPException:
    return HTTPException(status, detail={"error": code, "message": message})


@router.post("/clues/{alert_id}/dispatches/{dispatch_id}/{step}", response_model=StepAnswer,
             summary="Receive (签收), report handling, feed back or return (退回) a dispatched clue")
def step(alert_id: str, dispatch_id: str, step: Literal["receive", "handling", "feedback", "return"],
         body: StepRequest, request: Request, principal: Feedbacker) -> StepAnswer:
    if step == "feedback" and body.result is None:
        raise _err(422, "result_required", "feedback needs a result {code, name}")
    if step == "return" and not (body.reason or "").strip():
        raise _err(422, "reason_required", "a return needs a reason")
    if principal.department_code and body.department_code and principal.department_code != body.department_code:
        raise _err(403, "wrong_department", "this client acts for another department")
    dept = principal.department_code or body.department_code
    now = utc(_now(request))
    ctx = Context(now=now)
    event_id = f"hub.risk.api:{dispatch_id}:{step}"
    detail = {"measures": body.measures, "officer_certificates": body.officer_certificates or None,
              "case_id": body.case_id, "note": body.note, "client": principal.client_id}
    with request.app.state.db.engine.begin() as conn:
        try:
            state, changed = apply_step(conn, ctx, load_config(), alert_id=alert_id, dispatch_id=dispatch_id,
                                        step=step, at=now, event_id=event_id, actor="api", department_code=dept,
                                        result=body.result.model_dump() if body.result else None,
                                        reason=body.reason, detail=detail)
        except StepError as exc:
            raise _err(_STATUS[exc.code], exc.code, str(exc)) from None
        if changed:
            d = conn.execute(select(DISPATCHES).where(DISPATCHES.c.dispatch_id == dispatch_id)).first()
            env = envelope(f"{dispatch_id}:{step}", "1", now, d.region_code, d.department_code)
            env["record_id"] = event_id
            ctx.emit("risk.feedback", {
                "envelope": env, "alert_id": alert_id, "dispatch_id": dispatch_id,
                "department": {"code": d.department_code, "name": d.department_name, "code_system": None},
                "step": _FEEDBACK_STEP[step], "feedback_time": ms(now), "handler_name": None,
                "result": {**body.result.model_dump(), "code_system": None} if body.result else None,
                "description": body.reason if step == "return" else (body.measures or body.note),
                "case_id": body.case_id})
        enqueue(conn, ctx.emitted, now)
        clue_state = conn.execute(select(CLUES.c.state).where(CLUES.c.alert_id == alert_id)).scalar()
    return StepAnswer(alert_id=alert_id, dispatch_id=dispatch_id, state=state, clue_state=clue_state,
                      changed=changed)


@router.get("/clues/{alert_id}", summary="A clue's state, dispatches and events")
def clue(alert_id: str, request: Request, principal: CurrentPrincipal) -> dict:
    with request.app.state.db.engine.connect() as conn:
        c = conn.execute(select(CLUES).where(CLUES.c.alert_id == alert_id)).first()
        if c is None:
            raise _err(404, "clue_not_found", "no such clue")
        dispatches = conn.execute(select(DISPATCHES).where(DISPATCHES.c.alert_id == alert_id)
                                  .order_by(DISPATCHES.c.dispatched_at, DISPATCHES.c.dispatch_id)).all()
        events = conn.execute(select(EVENTS).where(EVENTS.c.alert_id == alert_id).order_by(EVENTS.c.id)).all()
    out = _row(c, exclude={"candidates"})
    out["candidates"] = json.loads(c.candidates or "[]")
    out["dispatches"] = [_row(d) for d in dispatches]
    out["events"] = [{**_row(e, exclude={"id", "detail"}), "detail": json.loads(e.detail) if e.detail else None}
                     for e in events]
    return out


@router.get("/report", summary="Figures per department: open, on-time receipt/feedback, feedback time, overdue, returns")
def report(request: Request, principal: CurrentPrincipal,
           department: Annotated[str | None, Query(max_length=64)] = None,
           region: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None) -> dict:
    now = _now(request)
    with request.app.state.db.engine.connect() as conn:
        total, per = figures(conn, now, department=department, region=region)
    return {"as_of": now, "department": department, "region": region, "total": total.public(),
            "departments": [f.public() for f in per]}


def _row(row, exclude: set[str] = frozenset()) -> dict:
    out = {}
    for k, v in row._mapping.items():
        if k in exclude:
            continue
        out[k] = utc(v) if isinstance(v, datetime) else v
    return out
