"""The cases processor through BatchApplier on SQLite: lifecycle, filing check, anomalies, clocks and the timer."""

from __future__ import annotations

import io
import json
from datetime import date, datetime, time
from decimal import Decimal

import pytest
from fastavro import parse_schema, schemaless_reader
from sqlalchemy import insert, select, text

from hub_api.db import Database
from processors.cases.calendar import TZ
from processors.cases.models import CaseClock
from processors.cases.processor import CaseProcessor
from processors.officers.models import Officer
from processors.runtime.apply import BatchApplier
from processors.runtime.clock import FixedClock
from processors.runtime.contract import InRecord
from schemas import loader
from tests.records import envelope, minimal

PCE = "gov.zj.supervision.penalty.PenaltyCaseEvent"
DEPT = "330100SFJ"
VALID = [{"name": "甲", "certificate_number": "C-1"}, {"name": "乙", "certificate_number": "C-2"}]


def at(d: str, hour: int = 10) -> datetime:
    return datetime.combine(date.fromisoformat(d), time(hour), TZ)


class Feed:
    """Builds versioned events per case, as a source system would."""

    def __init__(self) -> None:
        self.versions: dict[str, int] = {}
        self.offset = 0

    def event(self, case_id: str, stage: str, when: datetime, op: str = "u", **fields) -> InRecord:
        v = self.versions[case_id] = self.versions.get(case_id, 0) + 1
        value = minimal(PCE, envelope=envelope("sys-a", case_id, v, department_code=DEPT, operation=op),
                        case_id=case_id, stage=stage, stage_time=when, region_code="330102",
                        implementing_agency={"code": DEPT, "name": "杭州市综合行政执法局", "code_system": None},
                        **fields)
        self.offset += 1
        return InRecord("penalty.case.events", 0, self.offset, case_id, value)


@pytest.fixture
def hub(sqlite_url):
    db = Database(sqlite_url)
    db.create_schema()
    clock = FixedClock(at("2025-03-03"))
    applier = BatchApplier(db.engine, CaseProcessor(), clock)
    now = clock.now()
    with db.engine.begin() as conn:
        conn.execute(insert(Officer), [
            {"certificate_number": cert, "name": "x", "department_code": DEPT, "department_name": "d",
             "region_code": "330100", "domains": "[]", "recorded_status": status, "status": status,
             "valid_to": valid_to, "event_time": now, "updated_at": now}
            for cert, status, valid_to in [("C-1", "valid", None), ("C-2", "valid", date(2030, 1, 1)),
                                           ("C-3", "suspended", None), ("C-4", "valid", date(2024, 12, 31))]])
    yield db, applier, clock, Feed()
    db.dispose()


def q(db, sql: str, **params):
    with db.engine.connect() as conn:
        return conn.execute(text(sql), params).all()


def alerts_emitted(db) -> list[dict]:
    schema = parse_schema(json.loads(loader.schema_json("gov.zj.supervision.risk.SupervisionAlert")))
    rows = q(db, "select body from outbox where topic = 'supervision.alerts' order by id")
    return [schemaless_reader(io.BytesIO(r.body), schema) for r in rows]


def clocks(db, case_id: str) -> dict:
    table = CaseClock.__table__
    with db.engine.connect() as conn:
        return {r.limit_code: r for r in conn.execute(select(table).where(table.c.case_id == case_id))}


def test_full_lifecycle_in_one_batch(hub):
    db, applier, clock, feed = hub
    c = "K-1"
    batch = [feed.event(c, "case_source", at("2025-03-03")),
             feed.event(c, "filing", at("2025-03-10"), officers=VALID),
             feed.event(c, "investigation", at("2025-03-12")),
             feed.event(c, "notice", at("2025-04-01")),
             feed.event(c, "decision", at("2025-04-15"), fine_amount=Decimal("5000.00")),
             feed.event(c, "execution", at("2025-04-20")),
             feed.event(c, "closing", at("2025-04-25")),
             feed.event(c, "archive", at("2025-05-06"))]
    clock.set(at("2025-05-07"))
    result = applier.handle(batch)
    assert result.applied == 8 and not result.rejected
    [case] = q(db, "select * from cases")
    assert (case.state, case.department_code, case.region_code, case.event_count) == ("archived", DEPT, "330102", 8)
    outcomes = [r.outcome for r in q(db, "select outcome from case_events order by stage_time")]
    assert outcomes == ["applied"] * 8
    cl = clocks(db, c)
    assert {k: v.state for k, v in cl.items()} == {"filing_decision": "met", "decision": "met",
                                                   "statement_window": "expired", "fine_payment": "met"}
    assert q(db, "select * from case_anomalies") == [] and alerts_emitted(db) == []


@pytest.mark.parametrize("officers,ok,detail", [
    (VALID, True, None),
    ([VALID[0], {"name": "丙", "certificate_number": "C-3"}], False, "1 suspended"),
    ([VALID[0], {"name": "丁", "certificate_number": "C-9"}], False, "1 unknown"),
    ([VALID[0], {"name": "戊", "certificate_number": "C-4"}], False, "1 expired"),
    ([VALID[0], VALID[0]], False, "1 of 1"),
    ([], False, "0 of 0"),
])
def test_filing_needs_two_validly_certified_officers(hub, officers, ok, detail):
    db, applier, clock, feed = hub
    applier.handle([feed.event("K-2", "case_source", at("2025-03-03")),
                    feed.event("K-2", "filing", at("2025-03-04"), officers=officers)])
    anomalies = q(db, "select kind, detail from case_anomalies")
    alerts = alerts_emitted(db)
    if ok:
        assert anomalies == [] and alerts == []
        return
    assert [a.kind for a in anomalies] == ["filing_officers"] and detail in anomalies[0].detail
    assert [(a["kind"], a["rule_code"], a["subject_id"]) for a in alerts] == [("other", "penalty.filing_officers", "K-2")]
    assert "甲" not in anomalies[0].detail and "C-1" not in alerts[0]["message"]  # no personal data


def test_invalid_transition_unknown_stage_and_out_of_order_are_recorded(hub):
    db, applier, clock, feed = hub
    c = "K-3"
    applier.handle([feed.event(c, "case_source", at("2025-03-03")),
                    feed.event(c, "filing", at("2025-03-04"), officers=VALID),
                    feed.event(c, "archive", at("2025-03-05")),          # invalid from filed
                    feed.event(c, "other", at("2025-03-06"))])           # unknown stage
    applier.handle([feed.event(c, "investigation", at("2025-03-07")),
                    feed.event(c, "suspension", at("2025-03-06", 9))])  # older than the investigation
    [case] = q(db, "select state from cases")
    assert case.state == "investigating"
    history = [(r.stage, r.outcome, r.to_state) for r in q(db, "select * from case_events order by id")]
    assert history[2:] == [("archive", "invalid", "filed"), ("other", "unknown_stage", "filed"),
                           ("investigation", "applied", "investigating"),
                           ("suspension", "out_of_order", "investigating")]
    kinds = sorted(r.kind for r in q(db, "select kind from case_anomalies"))
    assert kinds == ["invalid_transition", "out_of_order", "unknown_stage"]
    assert clocks(db, c)["decision"].state == "running"  # the invalid archive did not stop anything


def test_timer_raises_due_soon_and_overdue_exactly_once(hub):
    db, applier, clock, feed = hub
    c = "K-4"
    clock.set(at("2025-09-26", 11))
    applier.handle([feed.event(c, "case_source", at("2025-09-26"))])  # filing decision due 2025-10-23
    assert applier.run_timer(applier.processor.check_clocks).emitted == 0
    clock.set(at("2025-10-17", 12))  # 4 working days left: not yet
    assert applier.run_timer(applier.processor.check_clocks).emitted == 0
    clock.set(at("2025-10-20", 0))  # 3 working days left
    assert applier.run_timer(applier.processor.check_clocks).emitted == 1
    assert applier.run_timer(applier.processor.check_clocks).emitted == 0
    clock.set(at("2025-10-23", 23))
    assert applier.run_timer(applier.processor.check_clocks).emitted == 0
    clock.set(at("2025-10-24", 0))
    assert applier.run_timer(applier.processor.check_clocks).emitted == 1
    clock.advance(days=3)
    assert applier.run_timer(applier.processor.check_clocks).emitted == 0
    alerts = alerts_emitted(db)
    assert [a["kind"] for a in alerts] == ["clock_due_soon", "clock_overdue"]
    assert alerts[1]["rule_code"] == "penalty.file_within_15_working_days"
    assert alerts[1]["due_time"] == datetime(2025, 10, 24, 0, 0, tzinfo=TZ)  # end of the due day, Shanghai
    status = dict(q(db, "select kind, status from supervision_alerts"))
    assert status == {"clock_due_soon": "closed", "clock_overdue": "open"}
    assert clocks(db, c)["filing_decision"].state == "breached"
    # the late filing closes the overdue alert; nothing new is raised
    applier.handle([feed.event(c, "filing", at("2025-10-28"), officers=VALID)])
    assert dict(q(db, "select kind, status from supervision_alerts")) == {"clock_due_soon": "closed",
                                                                         "clock_overdue": "closed"}
    assert len(alerts_emitted(db)) == 2
    assert clocks(db, c)["filing_decision"].state == "breached"


def test_old_events_breach_on_arrival_and_redelivery_raises_nothing(hub):
    db, applier, clock, feed = hub
    clock.set(at("2026-03-01"))
    batch = [feed.event("K-5", "case_source", at("2025-05-06")), feed.event("K-5", "filing", at("2025-05-08"), officers=VALID)]
    applier.handle(batch)
    assert [(a["kind"], a["rule_code"]) for a in alerts_emitted(db)] == [("clock_overdue", "penalty.decide_within_90_days")]
    again = applier.handle(batch)
    assert again.duplicates == 2
    assert applier.run_timer(applier.processor.check_clocks).emitted == 0
    assert len(alerts_emitted(db)) == 1


def test_suspension_pauses_the_decision_clock(hub):
    db, applier, clock, feed = hub
    c = "K-6"
    clock.set(at("2025-06-10", 12))
    applier.handle([feed.event(c, "case_source", at("2025-06-09")),
                    feed.event(c, "filing", at("2025-06-10"), officers=VALID),
                    feed.event(c, "suspension", at("2025-07-01"))])
    assert clocks(db, c)["decision"].state == "paused" and clocks(db, c)["decision"].due_at is None
    clock.set(at("2026-01-01"))
    assert applier.run_timer(applier.processor.check_clocks).emitted == 0  # paused: never overdue
    clock.set(at("2025-07-11", 12))
    applier.handle([feed.event(c, "resumption", at("2025-07-11"))])
    cl = clocks(db, c)["decision"]
    assert (cl.state, cl.due_date) == ("running", date(2025, 9, 18))  # 10 suspended days added


def test_extension_moves_the_due_date_and_excess_is_an_anomaly(hub):
    db, applier, clock, feed = hub
    c = "K-7"
    clock.set(at("2025-06-11"))
    applier.handle([feed.event(c, "case_source", at("2025-06-09")),
                    feed.event(c, "filing", at("2025-06-10"), officers=VALID),
                    feed.event(c, "investigation", at("2025-06-11"), extension_days=30)])
    assert clocks(db, c)["decision"].due_date == date(2025, 10, 9)  # Sep 8 + 30 = Oct 8 (holiday) -> Oct 9
    applier.handle([feed.event(c, "investigation", at("2025-06-12"), extension_days=10)])
    assert clocks(db, c)["decision"].extension_days == 30
    assert [r.kind for r in q(db, "select kind from case_anomalies")] == ["extension_exceeds_limit"]


def test_decision_inside_the_statement_window_is_flagged(hub):
    db, applier, clock, feed = hub
    c = "K-8"
    clock.set(at("2025-10-10"))
    applier.handle([feed.event(c, "case_source", at("2025-09-01")),
                    feed.event(c, "filing", at("2025-09-02"), officers=VALID),
                    feed.event(c, "notice", at("2025-09-29")),      # window ends 2025-10-13
                    feed.event(c, "decision", at("2025-10-10"))])
    assert [r.kind for r in q(db, "select kind from case_anomalies")] == ["statement_window"]
    assert [(a["kind"], a["rule_code"]) for a in alerts_emitted(db)] == [
        ("other", "penalty.statement_or_hearing_within_5_working_days")]


def test_withdrawal_cancels_clocks_and_closes_alerts(hub):
    db, applier, clock, feed = hub
    c = "K-9"
    clock.set(at("2025-10-24"))
    applier.handle([feed.event(c, "case_source", at("2025-09-26"))])
    assert dict(q(db, "select kind, status from supervision_alerts")) == {"clock_overdue": "open"}
    applier.handle([feed.event(c, "case_source", at("2025-10-24"), op="d")])
    assert clocks(db, c)["filing_decision"].state == "cancelled"
    assert dict(q(db, "select kind, status from supervision_alerts")) == {"clock_overdue": "closed"}
    assert [r.outcome for r in q(db, "select outcome from case_events order by id")] == ["applied", "withdrawn"]
