"""Case status, case history and supervision alerts (read-only; any authenticated client).

``GET /cases/{case_id}`` gives the state, the statutory clocks with due dates and working
days left, the officers (names masked unless the caller holds ``pii:read``; unmasked access
is audited) and the anomalies; ``GET /cases/{case_id}/history`` every event taken into
account, in stage-time order; ``GET /supervision/alerts`` the alerts, filtered by department,
region subtree (``330100`` matches every county of Hangzhou), status and kind, paged.
Unknown cases answer 404 ``{"error": "case_not_found", ...}``. "Now" is
``app.state.clock`` when set (tests), else the system clock.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from hub_api.auth.deps import CurrentPrincipal
from hub_api.deps import DbDep
from hub_api.pii import PiiViewer, get_pii_viewer
from processors.cases.alerts import utc
from processors.cases.calendar import default_calendar, local_date
from processors.cases.models import Case, CaseAnomaly, CaseClock, CaseEvent, SupervisionAlertRow
from processors.runtime.clock import SystemClock

router = APIRouter(tags=["cases"])

CASES, EVENTS, CLOCKS, ANOMALIES, ALERTS = (m.__table__ for m in (Case, CaseEvent, CaseClock, CaseAnomaly,
                                                                  SupervisionAlertRow))
PiiViewerDep = Annotated[PiiViewer, Depends(get_pii_viewer)]


class Department(BaseModel):
    code: str | None
    name: str | None


class OfficerView(BaseModel):
    name: str | None = Field(description="Masked unless the caller holds pii:read")
    certificate_number: str | None


class ClockView(BaseModel):
    limit: str
    rule_code: str
    kind: Literal["deadline", "window"]
    unit: str
    days: int
    extension_days: int
    started_at: datetime
    due_date: date | None = Field(description="Last day of the limit (Asia/Shanghai); null while paused")
    due_at: datetime | None = Field(description="Exclusive: the limit is breached from this instant")
    state: str = Field(description="running / paused / met / breached / expired / cancelled")
    stopped_at: datetime | None
    remaining_working_days: int | None = Field(description="Working days left (negative: overdue); null unless running or breached")


class AnomalyView(BaseModel):
    kind: str
    stage: str | None
    state: str | None
    detail: str
    detected_at: datetime


class AlertView(BaseModel):
    alert_id: str
    kind: str
    subject_type: str
    subject_id: str
    limit_code: str | None
    rule_code: str
    severity: str
    due_at: datetime | None
    detected_at: datetime
    department: Department
    region_code: str | None
    escalation_level: int
    status: Literal["open", "closed"]
    closed_at: datetime | None
    message: str


class CaseStatus(BaseModel):
    case_id: str
    state: str | None
    last_stage: str | None
    last_stage_time: datetime | None
    department: Department
    region_code: str | None
    procedure: str | None
    lead_at: datetime | None
    filed_at: datetime | None
    decided_at: datetime | None
    closed_at: datetime | None
    withdrawn: bool
    pauses: list[dict] = Field(description="{kind, start, end}; end null while the pause is open")
    extensions: dict[str, int] = Field(description="limit -> approved extension in the limit's unit")
    officers: list[OfficerView]
    clocks: list[ClockView]
    anomalies: list[AnomalyView]
    alerts: list[AlertView]


class HistoryEvent(BaseModel):
    stage: str
    stage_time: datetime
    outcome: str = Field(description="applied / repeat / out_of_order / invalid / unknown_stage / withdrawn")
    from_state: str | None
    to_state: str | None
    document_number: str | None
    reason: str | None
    extension_days: int | None
    source_system: str | None
    source_version: str | None
    received_at: datetime


class AlertPage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[AlertView]
    total: int
    page: int
    size: int


def _now(request: Request) -> datetime:
    clock = getattr(request.app.state, "clock", None) or SystemClock()
    return clock.now()


def _not_found(case_id: str) -> HTTPException:
    return HTTPException(404, detail={"error": "case_not_found",
                                      "message": f"no case {case_id!r}; cases appear once an event of theirs was processed"})


def _alert(r) -> AlertView:
    return AlertView(alert_id=r.alert_id, kind=r.kind, subject_type=r.subject_type, subject_id=r.subject_id,
                     limit_code=r.limit_code, rule_code=r.rule_code, severity=r.severity, due_at=utc(r.due_at),
                     detected_at=utc(r.detected_at), department=Department(code=r.department_code,
                                                                           name=r.department_name),
                     region_code=r.region_code, escalation_level=r.escalation_level, status=r.status,
                     closed_at=utc(r.closed_at), message=r.message)


CaseId = Annotated[str, Path(max_length=128, description="Case id (department code + source case key)")]


@router.get("/cases/{case_id}", response_model=CaseStatus, summary="Case status, clocks, officers and anomalies")
def get_case(case_id: CaseId, request: Request, db: DbDep, _p: CurrentPrincipal, viewer: PiiViewerDep) -> CaseStatus:
    with db.engine.connect() as conn:
        case = conn.execute(select(CASES).where(CASES.c.case_id == case_id)).first()
        if case is None:
            raise _not_found(case_id)
        clocks = conn.execute(select(CLOCKS).where(CLOCKS.c.case_id == case_id).order_by(CLOCKS.c.started_at)).all()
        anomalies = conn.execute(select(ANOMALIES).where(ANOMALIES.c.case_id == case_id)
                                 .order_by(ANOMALIES.c.id)).all()
        alerts = conn.execute(select(ALERTS).where(ALERTS.c.subject_id == case_id)
                              .order_by(ALERTS.c.detected_at)).all()
    today = local_date(_now(request))
    cal = default_calendar()
    return CaseStatus(
        case_id=case.case_id, state=case.state, last_stage=case.last_stage, last_stage_time=utc(case.last_stage_time),
        department=Department(code=case.department_code, name=case.department_name), region_code=case.region_code,
        procedure=case.procedure, lead_at=utc(case.lead_at), filed_at=utc(case.filed_at),
        decided_at=utc(case.decided_at), closed_at=utc(case.closed_at), withdrawn=case.withdrawn,
        pauses=json.loads(case.pauses), extensions=json.loads(case.extensions),
        officers=[OfficerView(name=viewer.value("name", o.get("name"), "penalty_case", case_id, "officers.name"),
                              certificate_number=o.get("certificate_number")) for o in json.loads(case.officers)],
        clocks=[ClockView(limit=c.limit_code, rule_code=c.rule_code, kind=c.kind, unit=c.unit, days=c.days,
                          extension_days=c.extension_days, started_at=utc(c.started_at), due_date=c.due_date,
                          due_at=utc(c.due_at), state=c.state, stopped_at=utc(c.stopped_at),
                          remaining_working_days=(cal.working_days_between(today, c.due_date)
                                                  if c.due_date and c.state in ("running", "breached")
                                                  and c.stopped_at is None else None))
                for c in clocks],
        anomalies=[AnomalyView(kind=a.kind, stage=a.stage, state=a.state, detail=a.detail,
                               detected_at=utc(a.detected_at)) for a in anomalies],
        alerts=[_alert(a) for a in alerts],
    )


@router.get("/cases/{case_id}/history", response_model=list[HistoryEvent], summary="Every event of a case")
def get_history(case_id: CaseId, db: DbDep, _p: CurrentPrincipal) -> list[HistoryEvent]:
    with db.engine.connect() as conn:
        if conn.execute(select(CASES.c.case_id).where(CASES.c.case_id == case_id)).first() is None:
            raise _not_found(case_id)
        rows = conn.execute(select(EVENTS).where(EVENTS.c.case_id == case_id)
                            .order_by(EVENTS.c.stage_time, EVENTS.c.id)).all()
    return [HistoryEvent(stage=r.stage, stage_time=utc(r.stage_time), outcome=r.outcome, from_state=r.from_state,
                         to_state=r.to_state, document_number=r.document_number, reason=r.reason,
                         extension_days=r.extension_days, source_system=r.source_system,
                         source_version=r.source_version, received_at=utc(r.received_at)) for r in rows]


def region_prefix(code: str) -> str:
    """The prefix of a GB/T 2260 code's subtree: 330000 -> 33, 330100 -> 3301, 330102 -> 330102."""
    if code.endswith("0000"):
        return code[:2]
    if code.endswith("00"):
        return code[:4]
    return code


@router.get("/supervision/alerts", response_model=AlertPage, summary="Supervision alerts by department and region")
def list_alerts(
    db: DbDep, _p: CurrentPrincipal,
    department: Annotated[str | None, Query(max_length=64, description="Department code (exact)")] = None,
    region: Annotated[str | None, Query(pattern=r"^\d{6}$", description="Region code; matches its whole subtree")] = None,
    status: Annotated[Literal["open", "closed", "all"], Query()] = "open",
    kind: Annotated[str | None, Query(max_length=24, description="clock_due_soon, clock_overdue, other")] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> AlertPage:
    where = []
    if department:
        where.append(ALERTS.c.department_code == department)
    if region:
        where.append(ALERTS.c.region_code.like(region_prefix(region) + "%"))
    if status != "all":
        where.append(ALERTS.c.status == status)
    if kind:
        where.append(ALERTS.c.kind == kind)
    with db.engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(ALERTS).where(*where)).scalar_one()
        rows = conn.execute(select(ALERTS).where(*where)
                            .order_by(ALERTS.c.detected_at.desc(), ALERTS.c.alert_id)
                            .limit(size).offset((page - 1) * size)).all()
    return AlertPage(items=[_alert(r) for r in rows], total=total, page=page, size=size)
