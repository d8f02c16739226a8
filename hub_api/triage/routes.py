"""Triage leads: list them, report handling (which closes the loop to the complaint platform).

``GET /triage/leads?department=&status=&limit=`` (any authenticated client; a client bound
to a department sees only that department's leads) lists leads with their rule, form,
due dates and the pseudonymous complainant reference -- never the complainant's identity.
``POST /triage/leads/{lead_id}/handling`` (scope ``tasks:write``; a department-bound client
only for its own leads) records the result and, in the same transaction, queues through the
outbox a status update of the original record for the source platform's sink connector:
``complaint.tickets`` with status ``replied`` and ``reply_text`` (same ticket id, every
``pii`` field null), or ``grassroots.events`` with status ``50 已办结`` for grid events.
Errors: 404 ``lead_not_found``, 403 ``wrong_department``, 409 ``already_handled``.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, update

from hub_api.auth.deps import CurrentPrincipal, require_scope
from hub_api.auth.service import Principal
from hub_api.deps import DbDep
from processors.runtime.clock import SystemClock
from processors.runtime.contract import Emitted
from processors.runtime.outbox import enqueue
from processors.triage.models import TriageLead
from processors.triage.records import envelope, ms

router = APIRouter(tags=["triage"])
LEADS = TriageLead.__table__


class LeadView(BaseModel):
    lead_id: str
    source: str = Field(description="complaint / grassroots")
    source_id: str = Field(description="Ticket or grid event id (origin_ref)")
    kind: str | None
    rule_id: str
    form: str = Field(description="lead / inspection_task / joint_task")
    department_code: str
    department_name: str
    departments: list[dict[str, str]]
    region_code: str | None
    entity_id: str | None
    category_code: str | None
    category_name: str | None
    summary: str = Field(description="Complaint text with the complainant's own data redacted")
    complainant_ref: str | None = Field(description="HMAC pseudonym of the complainant; null if anonymous")
    case_id: str | None
    received_at: datetime
    acceptance_due: date
    filing_due: date | None
    status: str
    handling_result: str | None
    reply_text: str | None
    handled_at: datetime | None


class LeadPage(BaseModel):
    items: list[LeadView]
    count: int


class HandlingReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    result: Literal["substantiated", "partly_substantiated", "unsubstantiated", "transferred", "filed"] = Field(
        description="Outcome of the department's handling")
    reply_text: str = Field(min_length=1, max_length=4000, description="Reply for the complainant / platform")


def _view(row) -> LeadView:
    data = dict(row._mapping)
    data["departments"] = json.loads(data["departments"])
    return LeadView.model_validate({k: data[k] for k in LeadView.model_fields})


def _now(request: Request) -> datetime:
    return (getattr(request.app.state, "clock", None) or SystemClock()).now()


@router.get("/triage/leads", response_model=LeadPage, summary="Triage leads, by department and status")
def list_leads(db: DbDep, principal: CurrentPrincipal,
               department: Annotated[str | None, Query(max_length=32)] = None,
               status: Annotated[Literal["open", "handled"] | None, Query()] = None,
               limit: Annotated[int, Query(ge=1, le=500)] = 100) -> LeadPage:
    stmt = select(LEADS)
    if principal.department_code:
        stmt = stmt.where(LEADS.c.department_code == principal.department_code)
    if department:
        stmt = stmt.where(LEADS.c.department_code == department)
    if status:
        stmt = stmt.where(LEADS.c.status == status)
    with db.engine.connect() as conn:
        rows = conn.execute(stmt.order_by(LEADS.c.acceptance_due, LEADS.c.lead_id).limit(limit)).all()
    items = [_view(r) for r in rows]
    return LeadPage(items=items, count=len(items))


@router.post("/triage/leads/{lead_id}/handling", response_model=LeadView,
             summary="Report handling of a lead; the reply flows back to the source platform")
def report_handling(request: Request, db: DbDep, body: HandlingReport,
                    principal: Annotated[Principal, Depends(require_scope("tasks:write"))],
                    lead_id: Annotated[str, Path(max_length=40)]) -> LeadView:
    now = _now(request)
    with db.engine.begin() as conn:
        stmt = select(LEADS).where(LEADS.c.lead_id == lead_id)
        if conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        row = conn.execute(stmt).first()
        if row is None:
            raise HTTPException(404, detail={"error": "lead_not_found", "message": f"no triage lead {lead_id!r}"})
        codes = {d["code"] for d in json.loads(row.departments)}
        if principal.department_code and principal.department_code not in codes:
            raise HTTPException(403, detail={"error": "wrong_department",
                                             "message": "this lead is assigned to another department"})
        if row.status == "handled":
            raise HTTPException(409, detail={"error": "already_handled", "message": f"lead {lead_id} was handled"})
        conn.execute(update(LEADS).where(LEADS.c.lead_id == lead_id).values(
            status="handled", handling_result=body.result, reply_text=body.reply_text,
            handled_by=principal.client_id, handled_at=now, updated_at=now))
        enqueue(conn, [feedback(row, body, now)], now)
        row = conn.execute(select(LEADS).where(LEADS.c.lead_id == lead_id)).first()
    return _view(row)


def feedback(row, body: HandlingReport, now: datetime) -> Emitted:
    """The status update for the source platform, built from the pii-free ``feedback_base``."""
    value = json.loads(row.feedback_base)
    dept = {"code": row.department_code, "name": row.department_name, "code_system": None}
    region = row.region_code or "330000"
    env = envelope(row.source_id, f"handled-{ms(now)}", now, region, row.department_code)
    if row.source == "complaint":
        value.update(envelope=env, status="replied", reply_text=body.reply_text, handling_department=dept,
                     due_date=(row.acceptance_due - date(1970, 1, 1)).days, case_id=row.case_id)
        return Emitted("complaint.tickets", row.source_id, value)
    value.update(envelope=env, status={"code": "50", "name": "已办结", "code_system": None},
                 assigned_department=dept)
    return Emitted("grassroots.events", row.source_id, value)
