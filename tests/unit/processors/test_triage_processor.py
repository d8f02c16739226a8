"""The triage processor through BatchApplier on SQLite: leads, pseudonyms, due dates, emitted records, skips."""

from __future__ import annotations

import io
import json
from datetime import date, datetime, time, timedelta

import pytest
from fastavro import parse_schema, schemaless_reader
from sqlalchemy import insert, select, text

from hub_api.db import Database
from hub_api.triage.routes import HandlingReport, feedback
from processors.cases.calendar import TZ
from processors.entities.models import Entity
from processors.runtime.apply import BatchApplier
from processors.runtime.clock import FixedClock
from processors.runtime.contract import InRecord
from processors.runtime.outbox import encode_body
from processors.triage.models import TriageLead
from processors.triage.processor import TriageProcessor
from processors.triage.pseudonym import complainant_ref
from processors.triage.repeated import RepeatRule
from schemas import loader
from tests.records import envelope, minimal

CPL, GRID = "gov.zj.supervision.complaint.Complaint", "gov.zj.supervision.grassroots.GridEvent"
SCHEMA = {"penalty.case.events": "gov.zj.supervision.penalty.PenaltyCaseEvent",
          "task.joint": "gov.zj.supervision.task.JointTask"}
SECRET = b"unit-test-secret"
ID_NUMBER, PHONE, NAME = "330106199001011234", "13800001111", "张小明"
RECEIVED = datetime.combine(date(2025, 9, 26), time(10), TZ)  # Friday before the National Day holiday


def ticket(tid: str, text: str, code: str = "0101", region: str = "330106", kind: str = "report",
           version: int = 1, status: str = "received", source: str = "complaints", **fields) -> InRecord:
    value = minimal(CPL, envelope=envelope(source, tid, version), ticket_id=tid, kind=kind, text=text,
                    category={"code": code, "name": "c", "code_system": None}, region_code=region,
                    status=status, received_time=RECEIVED, complainant_name=NAME, complainant_phone=PHONE,
                    complainant_id_number=ID_NUMBER, complainant_address="西湖区某路1号", **fields)
    return InRecord("complaint.tickets", 0, version, tid, value)


def grid(eid: str, description: str, code: str = "02", status: str = "10") -> InRecord:
    value = minimal(GRID, envelope=envelope("grassroots", eid, 1), event_id=eid, description=description,
                    category={"code": code, "name": "违法建设", "code_system": None}, region_code="330281",
                    grid_code="G-1", reported_time=RECEIVED, reporter_name="李四", reporter_phone="13900002222",
                    status={"code": status, "name": "s", "code_system": None})
    return InRecord("grassroots.events", 0, 1, eid, value)


@pytest.fixture
def hub(sqlite_url):
    db = Database(sqlite_url)
    db.create_schema()
    clock = FixedClock(datetime.combine(date(2025, 9, 27), time(9), TZ))
    return db, BatchApplier(db.engine, TriageProcessor(secret=SECRET), clock)


def leads(db) -> dict[str, TriageLead]:
    with db.engine.connect() as conn:
        return {r.source_id: r for r in conn.execute(select(TriageLead.__table__))}


def outbox(db, topic: str) -> list[dict]:
    schema = parse_schema(json.loads(loader.schema_json(SCHEMA[topic])))
    with db.engine.connect() as conn:
        rows = conn.execute(text("select body from outbox where topic = :t order by id"), {"t": topic}).all()
    return [schemaless_reader(io.BytesIO(r.body), schema) for r in rows]


def test_lead_carries_a_pseudonym_due_dates_and_starts_a_case(hub):
    db, applier = hub
    result = applier.handle([ticket("T-1", f"举报假冒商品，联系人{NAME}，电话{PHONE}")])
    assert result.applied == 1 and not result.rejected
    lead = leads(db)["T-1"]
    assert (lead.rule_id, lead.form, lead.department_code) == ("counterfeit", "lead", "330106SCJ")
    assert lead.complainant_ref == complainant_ref({"complainant_id_number": ID_NUMBER}, SECRET)
    # National Day 2025: Oct 1-8 off; Sun Sep 28 and Sat Oct 11 are make-up working days.
    # 7: Sep 28, 29, 30, Oct 9, 10, 11, 13; 15: then Oct 14-17, 20-23
    assert lead.acceptance_due == date(2025, 10, 13)
    assert lead.filing_due == date(2025, 10, 23)
    assert NAME not in lead.summary and PHONE not in lead.summary and "***" in lead.summary
    [event] = outbox(db, "penalty.case.events")
    assert (event["case_id"], event["stage"], event["origin_ref"]) == (lead.lead_id, "case_source", "T-1")
    assert event["implementing_agency"]["code"] == "330106SCJ"
    assert event["stage_time"] == RECEIVED
    assert outbox(db, "task.joint") == []


def test_pseudonym_never_contains_the_identity_and_is_stable(hub):
    db, applier = hub
    applier.handle([ticket("T-1", "假冒"), ticket("T-2", "假冒"),
                    ticket("T-3", "假冒", anonymous=True)])
    found = leads(db)
    ref = found["T-1"].complainant_ref
    assert ref.startswith("cp-") and ref == found["T-2"].complainant_ref
    assert found["T-3"].complainant_ref is None
    assert complainant_ref({"complainant_id_number": ID_NUMBER}, b"other") != ref
    with db.engine.connect() as conn:
        dump = " ".join(str(v) for t in ("triage_leads", "triage_decisions")
                        for row in conn.execute(text(f"select * from {t}")) for v in row)
        bodies = b"".join(r.body for r in conn.execute(text("select body from outbox")))
    for secret in (ID_NUMBER, PHONE, NAME, "西湖区某路1号"):
        assert secret not in dump and secret.encode() not in bodies


def test_joint_task_grid_event_and_industry_from_the_entity_registry(hub):
    db, applier = hub
    now = datetime.now(TZ)
    with db.engine.begin() as conn:
        conn.execute(insert(Entity), [{"entity_id": "E-1", "kind": "enterprise", "uscc": "91330203MA2XXXXXX1",
                                       "name": "某诊所", "industry_code": "Q8415", "region_code": "330203",
                                       "sources": "s", "field_sources": "{}", "revision": 1, "updated_at": now}])
    applier.handle([ticket("T-9", "收费不透明", code="0199", region="330203", target_entity_id="E-1"),
                    grid("G-1", "村民擅自加建两层")])
    found = leads(db)
    assert (found["T-9"].rule_id, found["T-9"].form) == ("medical-beauty", "joint_task")
    assert found["T-9"].filing_due is None
    [task] = outbox(db, "task.joint")
    assert [p["code"] for p in task["participants"]] == ["330203WJW", "330203SCJ"]
    assert task["target_entity_ids"] == ["E-1"] and task["origin_ref"] == "T-9"
    assert (found["G-1"].rule_id, found["G-1"].department_code) == ("illegal-construction", "330281ZHZF")
    assert found["G-1"].complainant_ref.startswith("cp-")


def test_each_ticket_is_triaged_once_and_bad_or_closed_input_is_skipped(hub):
    db, applier = hub
    applier.handle([ticket("T-1", "假冒")])
    r = applier.handle([ticket("T-1", "假冒", version=2, status="accepted"),
                        ticket("T-5", "假冒", status="replied"),
                        ticket("T-6", "假冒", source="hub.triage"),
                        ticket("T-7", "假冒", region=""),
                        grid("G-2", "违建", status="50")])
    assert not r.rejected
    assert r.counters == {"already_triaged": 1, "not_open": 2, "own_feedback": 1, "invalid": 1}
    assert set(leads(db)) == {"T-1"}


def test_handling_feedback_has_no_complainant_data(hub):
    db, applier = hub
    applier.handle([ticket("T-1", f"假冒，我是{NAME}"), grid("G-1", "违建")])
    now = datetime.now(TZ)
    found = leads(db)
    fb = feedback(found["T-1"], HandlingReport(result="substantiated", reply_text="已立案查处"), now)
    assert (fb.topic, fb.key) == ("complaint.tickets", "T-1")
    v = fb.value
    assert (v["status"], v["reply_text"], v["ticket_id"], v["case_id"]) == ("replied", "已立案查处", "T-1",
                                                                          found["T-1"].lead_id)
    assert all(v[f] is None for f in ("complainant_name", "complainant_phone", "complainant_id_number",
                                      "complainant_address", "target_entity_name"))
    assert NAME not in v["text"] and v["envelope"]["source_system"] == "hub.triage"
    gfb = feedback(found["G-1"], HandlingReport(result="filed", reply_text="已拆除"), now)
    assert gfb.topic == "grassroots.events" and gfb.value["status"]["code"] == "50"
    assert gfb.value["reporter_name"] is None and gfb.value["reporter_phone"] is None
    assert encode_body(fb.topic, fb.value) and encode_body(gfb.topic, gfb.value)  # both fit the schemas


# -- the repeated-complaints rule ------------------------------------------------------------

ALERT = "gov.zj.supervision.risk.RiskAlert"


def alerts(db) -> list[dict]:
    schema = parse_schema(json.loads(loader.schema_json(ALERT)))
    with db.engine.connect() as conn:
        rows = conn.execute(text("select body from outbox where topic = 'risk.alerts' order by id")).all()
    return [schemaless_reader(io.BytesIO(r.body), schema) for r in rows]


def about(tid: str, entity: str, days_after: float) -> InRecord:
    r = ticket(tid, "这家店卖假货", target_entity_id=entity)
    r.value["received_time"] = RECEIVED + timedelta(days=days_after)
    return r


def test_three_complaints_about_one_entity_in_30_days_raise_one_risk_clue(hub):
    db, applier = hub
    with db.engine.begin() as conn:
        conn.execute(insert(Entity.__table__).values(entity_id="E-9", uscc="91330106MA2B3C4D5E", kind="enterprise",
                                                     name="某某商贸有限公司", region_code="330106", sources="s",
                                                     field_sources="{}", revision=1, updated_at=RECEIVED))
    applier.handle([about("R-1", "E-9", 0), about("R-2", "E-9", 10), about("X-1", "E-7", 1)])
    assert alerts(db) == []
    applier.handle([about("R-3", "E-9", 29)])
    [clue] = alerts(db)
    assert (clue["risk_system"], clue["category"]["code"], clue["risk_level"]) == ("hub.triage", "RC01", "medium")
    assert (clue["entity_id"], clue["entity_name"], clue["region_code"]) == ("E-9", "某某商贸有限公司", "330106")
    assert clue["responsible_departments"] == [] and clue["score"] == 3.0
    by_id = leads(db)
    assert [by_id[t].lead_id in clue["description"] for t in ("R-1", "R-2", "R-3")] == [True] * 3
    assert NAME not in json.dumps(clue, default=str) and PHONE not in json.dumps(clue, default=str)
    # a fourth inside the window, and a replay of the third, raise nothing more
    applier.handle([about("R-4", "E-9", 31), about("R-3", "E-9", 29)])
    assert len(alerts(db)) == 1
    # a complaint 30+ days after the clue's, with 3 in its own window, raises the next one
    applier.handle([about("R-5", "E-9", 40), about("R-6", "E-9", 58)])
    assert len(alerts(db)) == 1, "R-4, R-5, R-6 are 3 in 30 days, but R-6 came 29 days after the first clue's complaint"
    applier.handle([about("R-7", "E-9", 60)])
    assert len(alerts(db)) == 2


def test_complaints_spread_wider_than_the_window_raise_nothing_and_the_rule_can_be_off(hub, sqlite_url):
    db, applier = hub
    applier.handle([about("S-1", "E-5", 0), about("S-2", "E-5", 20), about("S-3", "E-5", 41)])
    assert alerts(db) == []
    off = BatchApplier(db.engine, TriageProcessor(secret=SECRET, repeat=RepeatRule(threshold=0)),
                       FixedClock(datetime.combine(date(2025, 9, 27), time(9), TZ)))
    off.handle([about("S-4", "E-5", 42), about("S-5", "E-5", 43)])
    assert alerts(db) == []
