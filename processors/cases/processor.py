"""The ``cases`` processor: penalty-case events -> cases, history, statutory clocks, supervision alerts.

Per batch (one transaction) it reads the touched cases, their clocks and alerts and the
officers named at filing with one query per table, runs every event through the state
machine (:mod:`processors.cases.state`), then recomputes each touched case's clocks from
its facts (milestones, pauses, extensions; :func:`processors.cases.rules.evaluate`) and
raises or closes alerts against ``ctx.now``. The ``clocks`` timer does the same for running
clocks whose warning or due time has come, without any event.

Bad input never raises: an unknown stage, an invalid transition, an out-of-order event, a
filing without two validly certified officers or an extension beyond the limit is stored in
``case_anomalies`` (and, for the last three kinds of rule breach, raised as an alert).
Invalid events are kept in the history but change neither the state nor the clocks;
out-of-order events fill in milestones they are the first to report, never the state.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from processors.cases.alerts import AlertBook, CaseRef, clock_alert_id, utc
from processors.cases.calendar import Calendar, default_calendar, local_date
from processors.cases.clocks import ClockFlags, check_clocks, reconcile
from processors.cases.models import Case, CaseAnomaly, CaseClock, CaseEvent
from processors.cases.rules import ClockView, Limit, PauseSpan, Rulebook, default_rulebook, evaluate
from processors.cases.state import PAUSE_OPEN, STAGE_STATE, step
from processors.officers.models import Officer
from processors.runtime.contract import Context, InRecord, Timer

CASES, EVENTS, CLOCKS, ANOMALIES = (m.__table__ for m in (Case, CaseEvent, CaseClock, CaseAnomaly))
OFFICERS = Officer.__table__
_CHUNK = 500
MIN_OFFICERS = 2


def as_time(value: Any) -> datetime:
    """A standard timestamp (aware datetime from the decoder, or epoch millis) as aware UTC."""
    if isinstance(value, datetime):
        return utc(value)
    return datetime.fromtimestamp(int(value) / 1000, UTC)


@dataclass
class CaseFile:
    """One case in memory while a batch is applied."""

    case_id: str
    new: bool = True
    state: str | None = None
    last_stage: str | None = None
    last_stage_time: datetime | None = None
    department_code: str | None = None
    department_name: str | None = None
    region_code: str | None = None
    procedure: str | None = None
    penalty_name: str | None = None
    fine_amount: str | None = None
    milestones: dict[str, datetime] = field(default_factory=dict)
    officers: list[dict] = field(default_factory=list)
    pauses: list[dict] = field(default_factory=list)
    extensions: dict[str, int] = field(default_factory=dict)
    withdrawn: bool = False
    source_system: str | None = None
    source_version: str | None = None
    event_count: int = 0
    anomaly_count: int = 0
    created_at: datetime | None = None

    @classmethod
    def from_row(cls, row) -> CaseFile:
        return cls(
            case_id=row.case_id, new=False, state=row.state, last_stage=row.last_stage,
            last_stage_time=utc(row.last_stage_time), department_code=row.department_code,
            department_name=row.department_name, region_code=row.region_code, procedure=row.procedure,
            penalty_name=row.penalty_name, fine_amount=row.fine_amount,
            milestones={k: datetime.fromisoformat(v) for k, v in json.loads(row.milestones).items()},
            officers=json.loads(row.officers), pauses=json.loads(row.pauses),
            extensions=json.loads(row.extensions), withdrawn=row.withdrawn, source_system=row.source_system,
            source_version=row.source_version, event_count=row.event_count, anomaly_count=row.anomaly_count,
            created_at=utc(row.created_at))

    def row(self, now: datetime) -> dict[str, Any]:
        m = self.milestones
        return {
            "case_id": self.case_id, "state": self.state, "last_stage": self.last_stage,
            "last_stage_time": self.last_stage_time, "department_code": self.department_code,
            "department_name": self.department_name, "region_code": self.region_code,
            "procedure": self.procedure, "penalty_name": self.penalty_name, "fine_amount": self.fine_amount,
            "lead_at": m.get("case_source"), "filed_at": m.get("filing"), "decided_at": m.get("decision"),
            "closed_at": m.get("closing"),
            "milestones": json.dumps({k: v.isoformat() for k, v in sorted(m.items())}),
            "officers": json.dumps(self.officers, ensure_ascii=False), "pauses": json.dumps(self.pauses),
            "extensions": json.dumps(self.extensions, sort_keys=True), "withdrawn": self.withdrawn,
            "source_system": self.source_system, "source_version": self.source_version,
            "event_count": self.event_count, "anomaly_count": self.anomaly_count,
            "created_at": self.created_at or now, "updated_at": now,
        }

    @property
    def ref(self) -> CaseRef:
        return CaseRef(self.case_id, self.department_code, self.department_name, self.region_code)

    def pause_spans(self) -> list[PauseSpan]:
        return [PauseSpan(p["kind"], datetime.fromisoformat(p["start"]),
                          None if p["end"] is None else datetime.fromisoformat(p["end"])) for p in self.pauses]

    def has_fine(self) -> bool:
        try:
            return self.fine_amount is not None and Decimal(self.fine_amount) > 0
        except InvalidOperation:
            return False


def case_views(case: CaseFile, limits: dict[str, Limit], cancel_on: Sequence[str], calendar: Calendar,
               now: datetime | None) -> dict[str, tuple[Limit, ClockView]]:
    """Every clock of ``case``: limit code -> (limit, view); limits not started or not applicable are left out."""
    m, out = case.milestones, {}
    pauses = case.pause_spans()
    for code, limit in limits.items():
        if limit.requires == "fine" and not case.has_fine():
            continue
        if limit.requires == "ordinary" and case.procedure == "simple":
            continue
        starts = [m[s] for s in limit.start_on if s in m]
        if not starts:
            continue
        start = min(starts)
        stops = [m[s] for s in limit.stop_on if s in m and m[s] >= start]
        cancels = [m[s] for s in (*cancel_on, "withdrawn") if s in m and s not in limit.stop_on and m[s] >= start]
        out[code] = (limit, evaluate(code, limit, start, stopped_at=min(stops) if stops else None,
                                     cancelled_at=min(cancels) if cancels else None, pauses=pauses,
                                     extension_days=case.extensions.get(code, 0), calendar=calendar, now=now))
    return out


class CaseProcessor:
    """Tracks penalty cases from ``penalty.case.events``; see the module docstring."""

    name = "cases"
    topics = ("penalty.case.events",)

    def __init__(self, rulebook: Rulebook | None = None, calendar: Calendar | None = None,
                 clock_interval_s: float = 60.0) -> None:
        self.rulebook = rulebook or default_rulebook()
        self.calendar = calendar or default_calendar()
        self.timers = (Timer("clocks", clock_interval_s, self.check_clocks),)

    # ------------------------------------------------------------------ events
    def apply(self, conn: Connection, records: Sequence[InRecord], ctx: Context) -> None:
        ids = list(dict.fromkeys(str(r.value["case_id"]) for r in records))
        cases = {cid: CaseFile(cid) for cid in ids}
        for row in _select_in(conn, CASES, CASES.c.case_id, ids):
            cases[row.case_id] = CaseFile.from_row(row)
        stored = {(r.case_id, r.limit_code): r for r in _select_in(conn, CLOCKS, CLOCKS.c.case_id, ids)}
        certs = {o.get("certificate_number") for r in records if r.value.get("stage") == "filing"
                 for o in r.value.get("officers") or () if o.get("certificate_number")}
        officers = {o.certificate_number: o for o in _select_in(conn, OFFICERS, OFFICERS.c.certificate_number,
                                                                sorted(certs))}
        book = AlertBook(conn, ctx)
        book.load(ids)
        events: list[dict] = []
        anomalies: list[dict] = []
        for record in records:
            case = cases[str(record.value["case_id"])]
            self._event(case, record, ctx, officers, book, events, anomalies)
        clock_inserts, clock_updates = [], []
        for case in cases.values():
            limits = self.rulebook.for_department(case.department_code)
            for code, (limit, view) in case_views(case, limits, self.rulebook.cancel_on, self.calendar,
                                                  ctx.now).items():
                old = stored.get((case.case_id, code))
                flags = ClockFlags(bool(old and old.due_soon_alerted), bool(old and old.overdue_alerted))
                flags = reconcile(view, limit, flags, case.ref, book, ctx.now, self.calendar)
                row = _clock_row(case.case_id, limit, view, flags, ctx.now)
                (clock_updates if old is not None else clock_inserts).append(row)
        new_cases = [c.row(ctx.now) for c in cases.values() if c.new]
        old_cases = [c.row(ctx.now) for c in cases.values() if not c.new]
        if new_cases:
            conn.execute(insert(CASES), new_cases)
        if old_cases:
            _update_many(conn, CASES, ("case_id",), old_cases)
        if events:
            conn.execute(insert(EVENTS), events)
        if anomalies:
            conn.execute(insert(ANOMALIES), anomalies)
        if clock_inserts:
            conn.execute(insert(CLOCKS), clock_inserts)
        if clock_updates:
            _update_many(conn, CLOCKS, ("case_id", "limit_code"), clock_updates)
        book.flush()
        ctx.count("events", len(records))

    def _event(self, case: CaseFile, record: InRecord, ctx: Context, officers: dict, book: AlertBook,
               events: list[dict], anomalies: list[dict]) -> None:
        v = record.value
        stage = str(v.get("stage") or "other")
        when = as_time(v["stage_time"])
        before = case.state

        def anomaly(kind: str, detail: str) -> None:
            case.anomaly_count += 1
            anomalies.append({"case_id": case.case_id, "record_id": record.record_id, "kind": kind,
                              "stage": stage, "state": before, "detail": detail, "detected_at": ctx.now})
            ctx.count(f"anomaly_{kind}")

        case.event_count += 1
        if record.envelope.get("operation") == "d":
            outcome = "withdrawn"
            case.withdrawn = True
            case.milestones.setdefault("withdrawn", when)
            self._describe(case, record, fill_only=False)
        else:
            result = step(case.state, case.last_stage_time, stage, when)
            outcome = result.outcome
            if result.anomaly:
                anomaly(result.anomaly, _anomaly_text(result.anomaly, stage, before, case.last_stage_time, when))
            if outcome in ("applied", "repeat", "out_of_order"):
                first = stage not in case.milestones or when < case.milestones[stage]
                if first and stage in STAGE_STATE:
                    case.milestones[stage] = when
                self._describe(case, record, fill_only=outcome == "out_of_order")
            if outcome in ("applied", "repeat"):
                case.state = result.state
                case.last_stage = stage
                case.last_stage_time = max(filter(None, (case.last_stage_time, when)))
                if outcome == "applied":
                    self._pauses(case, stage, when)
                    if stage == "filing":
                        self._check_officers(case, v, when, officers, book, anomaly)
                    self._check_windows(case, stage, when, book, anomaly)
                if v.get("extension_days"):
                    self._extend(case, int(v["extension_days"]), anomaly)
        events.append({
            "case_id": case.case_id, "record_id": record.record_id, "stage": stage, "stage_time": when,
            "outcome": outcome, "from_state": before, "to_state": case.state,
            "document_number": v.get("stage_document_number"), "reason": v.get("stage_reason"),
            "extension_days": v.get("extension_days"), "source_system": record.source_system or None,
            "source_version": record.source_version, "received_at": ctx.now,
        })
        ctx.count(f"event_{outcome}")

    @staticmethod
    def _describe(case: CaseFile, record: InRecord, *, fill_only: bool) -> None:
        """Copy the case's descriptive fields from an event (an older event only fills gaps)."""
        v, env = record.value, record.envelope
        agency = v.get("implementing_agency") or {}
        fine = v.get("fine_amount")
        found = {
            "department_code": env.get("department_code") or agency.get("code"),
            "department_name": agency.get("name"), "region_code": v.get("region_code"),
            "procedure": v.get("procedure"), "penalty_name": v.get("penalty_name"),
            "fine_amount": None if fine is None else str(fine),
            "source_system": record.source_system or None, "source_version": record.source_version,
        }
        for attr, value in found.items():
            if value is not None and (not fill_only or getattr(case, attr) is None):
                setattr(case, attr, value)
        named = [{"name": o.get("name"), "certificate_number": o.get("certificate_number")}
                 for o in v.get("officers") or ()]
        if named and (not fill_only or not case.officers):
            case.officers = named

    @staticmethod
    def _pauses(case: CaseFile, stage: str, when: datetime) -> None:
        closes = {kind for kind, closer in PAUSE_OPEN.values() if closer is None or closer == stage}
        exits = stage in ("termination", "criminal_referral")
        for p in case.pauses:
            if p["end"] is None and (exits or p["kind"] in closes):
                p["end"] = when.isoformat()
        if stage in PAUSE_OPEN:
            case.pauses.append({"kind": PAUSE_OPEN[stage][0], "start": when.isoformat(), "end": None})

    def _check_officers(self, case: CaseFile, v: dict, when: datetime, officers: dict, book: AlertBook,
                        anomaly) -> None:
        """Filing needs at least two named officers whose certificates are valid on the filing day."""
        day = local_date(when)
        certs = list(dict.fromkeys(o.get("certificate_number") for o in v.get("officers") or ()
                                   if o.get("certificate_number")))
        problems: dict[str, int] = {}
        valid = 0
        for cert in certs:
            officer = officers.get(cert)
            reason = ("unknown" if officer is None else
                      officer.status if officer.status != "valid" else
                      "expired" if officer.valid_to is not None and officer.valid_to < day else None)
            if reason is None:
                valid += 1
            else:
                problems[reason] = problems.get(reason, 0) + 1
        if valid >= MIN_OFFICERS:
            return
        detail = (f"{valid} of {len(certs)} named officers hold a valid certificate at filing "
                  f"(at least {MIN_OFFICERS} required)"
                  + ("; " + ", ".join(f"{n} {r}" for r, n in sorted(problems.items())) if problems else ""))
        anomaly("filing_officers", detail)
        book.raise_(f"{case.case_id}:filing_officers", "other", case.ref, rule_code="penalty.filing_officers",
                    severity="high", escalation_level=1, message=f"case {case.case_id}: {detail}")

    def _check_windows(self, case: CaseFile, stage: str, when: datetime, book: AlertBook, anomaly) -> None:
        """A stage that must wait for a party's window (a decision before the statement period ended)."""
        limits = self.rulebook.for_department(case.department_code)
        for code, (limit, view) in case_views(case, limits, self.rulebook.cancel_on, self.calendar, None).items():
            if limit.kind != "window" or stage not in limit.violated_by or view.due_at is None:
                continue
            if view.state in ("running", "expired") and when < view.due_at and when >= view.started_at:
                detail = f"{stage} on {local_date(when)} before the {code} ended on {view.due_date}"
                anomaly(code, detail)
                book.raise_(clock_alert_id(case.case_id, code, "violated"), "other", case.ref,
                            rule_code=limit.rule_code, severity="high", escalation_level=1, limit_code=code,
                            due_at=view.due_at, message=f"case {case.case_id}: {detail} ({limit.title})")

    def _extend(self, case: CaseFile, days: int, anomaly) -> None:
        """An approved extension applies to the extendable clocks still running after the event."""
        limits = self.rulebook.for_department(case.department_code)
        for code, (limit, view) in case_views(case, limits, self.rulebook.cancel_on, self.calendar, None).items():
            if limit.max_extension_days <= 0 or view.state not in ("running", "paused"):
                continue
            total = case.extensions.get(code, 0) + days
            case.extensions[code] = total
            if total > limit.max_extension_days:
                anomaly("extension_exceeds_limit", f"{code}: extensions total {total}, at most "
                        f"{limit.max_extension_days} allowed ({limit.unit}); capped")

    # ------------------------------------------------------------------ timer
    def check_clocks(self, conn: Connection, ctx: Context) -> None:
        """Timer: raise due-soon / overdue alerts for running clocks whose time has come (each once)."""
        check_clocks(conn, ctx, self.rulebook, self.calendar)


def _clock_row(case_id: str, limit: Limit, view: ClockView, flags: ClockFlags, now: datetime) -> dict[str, Any]:
    return {"case_id": case_id, "limit_code": view.limit, "rule_code": limit.rule_code, "kind": limit.kind,
            "unit": limit.unit, "days": limit.days, "extension_days": view.extension_days,
            "started_at": view.started_at, "due_date": view.due_date, "due_at": view.due_at,
            "warn_at": view.warn_at, "stopped_at": view.stopped_at, "state": view.state,
            "due_soon_alerted": flags.due_soon, "overdue_alerted": flags.overdue, "updated_at": now}


def _select_in(conn: Connection, table, column, values: Sequence) -> list:
    rows: list = []
    for i in range(0, len(values), _CHUNK):
        rows.extend(conn.execute(select(table).where(column.in_(values[i:i + _CHUNK]))).all())
    return rows


def _update_many(conn: Connection, table, keys: tuple[str, ...], rows: list[dict]) -> None:
    """One executemany UPDATE of ``rows`` (all with the same columns) matched on ``keys``."""
    cols = [c for c in rows[0] if c not in keys]
    stmt = update(table).where(*(table.c[k] == bindparam(f"k_{k}") for k in keys)).values(
        {c: bindparam(f"v_{c}") for c in cols})
    conn.execute(stmt, [{**{f"k_{k}": r[k] for k in keys}, **{f"v_{c}": r[c] for c in cols}} for r in rows])


def _anomaly_text(kind: str, stage: str, state: str | None, latest: datetime | None, when: datetime) -> str:
    if kind == "out_of_order":
        return f"{stage} at {when.isoformat()} is older than the latest applied event ({latest.isoformat()})"
    if kind == "unknown_stage":
        return f"stage {stage!r} is not part of the penalty-case lifecycle"
    if kind == "started_mid_lifecycle":
        return f"first event of the case is {stage}, not case_source"
    return f"{stage} is not allowed in state {state}"


