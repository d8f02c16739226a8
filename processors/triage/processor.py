"""The ``triage`` processor: complaint tickets and grid events -> scenario rule -> lead for a department.

Consumes ``complaint.tickets`` and ``grassroots.events``. Each ticket / event is triaged
once, when first seen in an open stage (complaints: received / accepted / dispatched; grid
events: not yet disposed); later updates of the same ticket, deletions and the hub's own
handling reports (``source_system`` ``hub.triage``) are counted and skipped. Per record:

1. the target entity's industry is looked up in ``entities`` (by entity id or USCC);
2. the rule set (:mod:`processors.triage.rules`) picks a rule, reasons and departments;
3. a ``triage_decisions`` row and a ``triage_leads`` row are written: the lead carries the
   pseudonymous complainant reference (HMAC, never the identity), the text with the
   complainant's own data redacted, and due dates on the working-day calendar: acceptance 7
   working days after receipt, filing decision 15 working days after receipt for form ``lead``;
4. form ``lead`` emits a ``penalty.case.events`` record, stage ``case_source``, case id = lead
   id, ``origin_ref`` = ticket id, so the ``cases`` tracker starts its filing clock; form
   ``joint_task`` emits a ``task.joint`` record naming every department; form
   ``inspection_task`` is recorded only (the department reads it from ``GET /triage/leads``);
5. a complaint naming an entity may raise a "repeated complaints" risk clue on ``risk.alerts``
   (:mod:`processors.triage.repeated`).

Bad input (no ticket id, no region) is counted as ``invalid`` and skipped, never raised.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, insert, or_, select

from processors.cases.calendar import Calendar, default_calendar, local_date
from processors.entities.models import Entity
from processors.runtime.contract import Context, InRecord
from processors.triage.engine import TOPIC_SOURCE, explain, subject_of
from processors.triage.models import TriageDecision, TriageLead
from processors.triage.pseudonym import complainant_ref, hub_secret, redact
from processors.triage.records import SOURCE_SYSTEM, envelope, ms
from processors.triage.repeated import RepeatRule, load_rule, raise_repeated
from processors.triage.rules import RuleSet, load_rules
from schemas import loader

DECISIONS, LEADS, ENTITIES = TriageDecision.__table__, TriageLead.__table__, Entity.__table__
SCHEMAS = {"complaint.tickets": "gov.zj.supervision.complaint.Complaint",
           "grassroots.events": "gov.zj.supervision.grassroots.GridEvent"}
OPEN_COMPLAINT = ("received", "accepted", "dispatched")
CLOSED_GRID = ("50", "60")  # 已办结, 已核查归档
ACCEPTANCE_DAYS, FILING_DAYS = 7, 15
CASE_SOURCE_CODES = {"complaint": ("03", "投诉"), "report": ("04", "举报"), "other": ("03", "投诉"),
                     "grassroots": ("09", "基层治理平台移送")}


def as_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(int(value) / 1000, UTC)


def lead_id_of(decision_id: str) -> str:
    return "TL-" + hashlib.sha256(decision_id.encode()).hexdigest()[:20].upper()


def pii_fields(topic: str) -> tuple[str, ...]:
    """Top-level fields the data standard marks ``pii`` in ``topic``'s schema."""
    attrs = loader.field_attributes(SCHEMAS[topic])
    return tuple(path for path, a in attrs.items() if "." not in path and a.get("pii"))


def _json_default(v: Any) -> Any:
    if isinstance(v, datetime):
        return ms(v)
    if isinstance(v, date):
        return (v - date(1970, 1, 1)).days
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


class TriageProcessor:
    """See the module docstring."""

    name = "triage"
    topics = ("complaint.tickets", "grassroots.events")
    timers = ()

    def __init__(self, rules: RuleSet | None = None, calendar: Calendar | None = None,
                 secret: bytes | None = None, repeat: RepeatRule | None = None) -> None:
        self.rules = rules or load_rules()
        self.repeat = repeat or load_rule()
        self.calendar = calendar or default_calendar()
        self._secret = secret
        self._pii = {t: pii_fields(t) for t in self.topics}

    @property
    def secret(self) -> bytes:
        return self._secret or hub_secret()

    def apply(self, conn: Connection, records: Sequence[InRecord], ctx: Context) -> None:
        todo: dict[str, InRecord] = {}
        for r in records:
            reason = self._skip_reason(r)
            if reason:
                ctx.count(reason)
                continue
            todo.setdefault(f"{TOPIC_SOURCE[r.topic]}:{self._sid(r)}", r)
        if not todo:
            return
        done = set(conn.execute(select(DECISIONS.c.decision_id)
                                .where(DECISIONS.c.decision_id.in_(list(todo)))).scalars())
        for did in done:
            del todo[did]
        ctx.count("already_triaged", len(done))
        industries = self._industries(conn, [r.value.get("target_entity_id") for r in todo.values()])
        decisions, leads = [], []
        for did, r in todo.items():
            d, lead = self._triage(did, r, industries, ctx)
            decisions.append(d)
            leads.append(lead)
        if decisions:
            conn.execute(insert(DECISIONS), decisions)
            conn.execute(insert(LEADS), leads)
            raise_repeated(conn, ctx, self.repeat, leads)

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _sid(r: InRecord) -> str | None:
        return r.value.get("ticket_id" if r.topic == "complaint.tickets" else "event_id")

    def _skip_reason(self, r: InRecord) -> str | None:
        if r.topic not in SCHEMAS:
            return "unknown_topic"
        if r.source_system == SOURCE_SYSTEM:
            return "own_feedback"
        if r.envelope.get("operation") == "d":
            return "deleted"
        v = r.value
        if not self._sid(r) or not v.get("region_code"):
            return "invalid"
        if r.topic == "complaint.tickets":
            return None if v.get("status") in OPEN_COMPLAINT else "not_open"
        return "not_open" if (v.get("status") or {}).get("code") in CLOSED_GRID else None

    @staticmethod
    def _industries(conn: Connection, refs: list[str | None]) -> dict[str, str | None]:
        refs = sorted({x for x in refs if x})
        if not refs:
            return {}
        out: dict[str, str | None] = {}
        rows = conn.execute(select(ENTITIES.c.entity_id, ENTITIES.c.uscc, ENTITIES.c.industry_code)
                            .where(or_(ENTITIES.c.entity_id.in_(refs), ENTITIES.c.uscc.in_(refs))))
        for row in rows:
            for key in (row.entity_id, row.uscc):
                if key in refs:
                    out[key] = row.industry_code
        return out

    def _triage(self, did: str, r: InRecord, industries: dict, ctx: Context) -> tuple[dict, dict]:
        v, source = r.value, TOPIC_SOURCE[r.topic]
        subject = subject_of(r.topic, v, industries.get(v.get("target_entity_id") or ""))
        decision = explain(self.rules, subject)
        lead_id = lead_id_of(did)
        received = as_time(v.get("received_time") if source == "complaint" else v.get("reported_time"))
        day = local_date(received)
        acceptance_due = self.calendar.add_working_days(day, ACCEPTANCE_DAYS)
        filing_due = self.calendar.add_working_days(day, FILING_DAYS) if decision.form == "lead" else None
        depts = list(decision.departments)
        text = redact(subject.text, v)
        category = v.get("category") or {}
        base = {k: val for k, val in v.items() if k != "envelope"}
        base.update(dict.fromkeys(self._pii[r.topic]))
        base["text" if source == "complaint" else "description"] = redact(
            (v.get("text") if source == "complaint" else v.get("description")) or "", v)
        if source == "grassroots" and base.get("title"):
            base["title"] = redact(base["title"], v)
        case_id = lead_id if decision.form == "lead" else None
        lead = {
            "lead_id": lead_id, "decision_id": did, "source": source, "source_id": subject.source_id,
            "kind": subject.kind, "rule_id": decision.rule.id, "form": decision.form,
            "department_code": depts[0]["code"], "department_name": depts[0]["name"],
            "departments": json.dumps(depts, ensure_ascii=False), "region_code": subject.region_code,
            "entity_id": subject.entity_id, "category_code": category.get("code"),
            "category_name": category.get("name"), "summary": text, "complainant_ref": complainant_ref(v, self.secret),
            "case_id": case_id, "received_at": received, "acceptance_due": acceptance_due, "filing_due": filing_due,
            "status": "open", "handling_result": None, "reply_text": None, "handled_by": None, "handled_at": None,
            "feedback_base": json.dumps(base, ensure_ascii=False, default=_json_default),
            "created_at": ctx.now, "updated_at": ctx.now,
        }
        row = {"decision_id": did, "source": source, "source_id": subject.source_id, "record_id": r.record_id,
               "rule_id": decision.rule.id, "rules_version": self.rules.version, "form": decision.form,
               "reasons": json.dumps(list(decision.reasons), ensure_ascii=False),
               "departments": lead["departments"], "region_code": subject.region_code,
               "entity_id": subject.entity_id, "lead_id": lead_id, "decided_at": ctx.now}
        if decision.form == "lead":
            ctx.emit("penalty.case.events", self._case_source(lead, received, ctx.now))
        elif decision.form == "joint_task":
            ctx.emit("task.joint", self._joint_task(lead, decision.rule.name, day, ctx.now))
        ctx.count("triaged")
        ctx.count(f"form_{decision.form}")
        return row, lead

    def _case_source(self, lead: dict, received: datetime, now: datetime) -> dict[str, Any]:
        key = "grassroots" if lead["source"] == "grassroots" else (lead["kind"] or "complaint")
        code, name = CASE_SOURCE_CODES[key]
        region = lead["region_code"]
        return {
            "envelope": envelope(lead["case_id"], "1", now, region, lead["department_code"]),
            "case_id": lead["case_id"], "stage": "case_source", "stage_time": ms(received),
            "stage_document_number": None, "stage_reason": f"triage rule {lead['rule_id']}",
            "extension_days": None, "officers": [], "origin_ref": lead["source_id"],
            "penalty_name": None, "penalty_number": None, "catalog_code": None, "implementation_code": None,
            "implementing_agency": {"code": lead["department_code"], "name": lead["department_name"],
                                    "code_system": None},
            "entrusted_department": None, "counterpart": None, "region_code": region,
            "case_source": {"code": code, "name": name, "code_system": None},
            "inspection_number": None, "illegal_facts": None, "legal_basis": None, "procedure": None,
            "hearing_held": None, "criminal_referral": None, "filing_date": None, "major_case": None,
            "legal_review": None, "legal_review_date": None, "legal_review_opinion": None,
            "collective_discussion": None, "collective_discussion_date": None,
            "collective_discussion_conclusion": None, "decision_document_number": None, "decision_date": None,
            "penalty_kinds": [], "fine_amount": None, "confiscation_amount": None, "penalty_result": None,
            "reconsideration": None, "litigation": None, "execution_mode": None, "execution_result": None,
            "fine_paid": None, "no_penalty": None, "closing_date": None, "other_handling": None,
            "referral_date": None, "submitted_time": ms(now), "submitter": None,
        }

    @staticmethod
    def _joint_task(lead: dict, rule_name: str, start: date, now: datetime) -> dict[str, Any]:
        depts = json.loads(lead["departments"])
        coded = [{"code": d["code"], "name": d["name"], "code_system": None} for d in depts]
        return {
            "envelope": envelope(lead["lead_id"], "1", now, lead["region_code"], lead["department_code"]),
            "task_id": lead["lead_id"], "title": f"{rule_name}: {lead['category_name'] or lead['source_id']}",
            "scope": "cross_department", "description": lead["summary"], "initiator": coded[0],
            "region_code": lead["region_code"], "participants": coded, "province_codes": [], "catalog_codes": [],
            "target_entity_ids": [lead["entity_id"]] if lead["entity_id"] else [],
            "origin_ref": lead["source_id"], "start_date": start, "due_date": lead["acceptance_due"],
            "created_time": ms(now),
        }


PROCESSOR = TriageProcessor()
