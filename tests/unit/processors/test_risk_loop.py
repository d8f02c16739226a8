"""Builders shared by the risk-loop tests (clues, feedback records, registry rows)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import insert

from processors.entities.models import Entity, EntityItemLink
from processors.runtime.contract import InRecord
from tests.records import envelope, minimal

SH = ZoneInfo("Asia/Shanghai")


def local(day: str, hh: int = 10, mm: int = 0) -> datetime:
    """An aware instant at local (Asia/Shanghai) time ``day hh:mm``."""
    return datetime.fromisoformat(day).replace(hour=hh, minute=mm, tzinfo=SH)


class Feed:
    """Makes InRecords with increasing offsets."""

    def __init__(self) -> None:
        self.offset = 0

    def _rec(self, topic: str, key: str, value: dict) -> InRecord:
        self.offset += 1
        return InRecord(topic, 0, self.offset, key, value)

    def clue(self, alert_id: str, *, level: str = "high", region: str = "330106", version: int = 1,
             depts: tuple[tuple[str, str], ...] = (), category: str = "YF01", entity_id: str | None = None,
             catalog_code: str | None = None) -> InRecord:
        value = minimal("gov.zj.supervision.risk.RiskAlert",
                        envelope=envelope("risk-sys", alert_id, version, event_time_ms=version * 1000),
                        alert_id=alert_id, risk_system="risk-sys", risk_level=level, region_code=region,
                        title="t", description="d", category={"code": category, "name": "c", "code_system": None},
                        entity_id=entity_id, catalog_code=catalog_code,
                        responsible_departments=[{"code": c, "name": n, "code_system": None} for c, n in depts])
        return self._rec("risk.alerts", alert_id, value)

    def feedback(self, alert_id: str, dispatch_id: str, dept: str, step: str, when: datetime,
                 description: str | None = None, rid: str | None = None) -> InRecord:
        value = minimal("gov.zj.supervision.risk.RiskFeedback",
                        envelope=envelope("dept-sys", f"{dispatch_id}:{step}", 1,
                                          record_id=rid or f"dept-sys:{dispatch_id}:{step}"),
                        alert_id=alert_id, dispatch_id=dispatch_id, step=step, feedback_time=when,
                        department={"code": dept, "name": dept, "code_system": None}, description=description)
        return self._rec("risk.feedback", alert_id, value)

    def supervision_alert(self, alert_id: str, kind: str, dept: str | None, region: str = "330106") -> InRecord:
        value = minimal("gov.zj.supervision.risk.SupervisionAlert",
                        envelope=envelope("hub.cases", alert_id, 1), alert_id=alert_id, kind=kind,
                        subject_type="penalty_case", subject_id="C-1", rule_code="penalty.decide", severity="high",
                        region_code=region, message="m",
                        department={"code": dept, "name": dept, "code_system": None} if dept else None)
        return self._rec("supervision.alerts", "C-1", value)


def add_entity_link(conn, entity_id: str, region: str, dept: str, catalog: str, now: datetime) -> None:
    conn.execute(insert(Entity.__table__).values(entity_id=entity_id, kind="enterprise", name="e",
                                                 region_code=region, sources="s", field_sources="{}", revision=1,
                                                 updated_at=now))
    conn.execute(insert(EntityItemLink.__table__).values(
        link_id=f"{entity_id}:{catalog}", entity_id=entity_id, catalog_code=catalog, department_code=dept,
        department_name=dept, admin_level="county", region_code=dept[:6], source="derived", active=True,
        updated_at=now))


# ---- tests ------------------------------------------------------------------------------------

import json  # noqa: E402

import pytest  # noqa: E402
from sqlalchemy import text  # noqa: E402

from hub_api.db import Database  # noqa: E402
from processors.risk.config import LoopConfig, Span, add_span, load_config  # noqa: E402
from processors.risk.processor import RiskProcessor  # noqa: E402
from processors.runtime.apply import BatchApplier  # noqa: E402
from processors.runtime.clock import FixedClock  # noqa: E402

CFG = load_config()


@pytest.fixture
def hub(sqlite_url):
    db = Database(sqlite_url)
    db.create_schema()
    yield db, BatchApplier(db.engine, RiskProcessor(), FixedClock(local("2025-06-10", 10)))
    db.dispose()


def q(db, sql: str, **params) -> list:
    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def dispatches(db, alert_id: str) -> list[tuple]:
    return q(db, "select d.department_code, d.role, d.state, d.matched_rule from risk_dispatches d "
                 "join risk_events e on e.dispatch_id = d.dispatch_id and e.kind = 'pushed' where d.alert_id = :a "
                 "order by e.id", a=alert_id)


def test_explicit_departments_win(hub):
    db, app = hub
    r = app.handle([Feed().clue("A1", depts=(("330106SCJ", "西湖区市场监督管理局"),))])
    assert r.emitted == 1 and not r.rejected
    assert dispatches(db, "A1") == [("330106SCJ", "responsible", "pushed", "explicit")]
    assert q(db, "select state from risk_clues") == [("pushed",)]


@pytest.mark.parametrize(("level", "expected"), [("high", "330100SCJ"), ("medium", "330106SCJ")])
def test_entity_links_route_at_the_level_of_the_risk(hub, level, expected):
    db, app = hub
    with db.engine.begin() as conn:
        add_entity_link(conn, "E1", "330106", "330106SCJ", "33011200100001", app.clock.now())
    app.handle([Feed().clue("A2", level=level, entity_id="E1", catalog_code="33011200100001")])
    assert dispatches(db, "A2") == [(expected, "responsible", "pushed", "entity_link")]
    # the category domains stay as re-routing candidates, after the linked department
    cands = json.loads(q(db, "select candidates from risk_clues")[0][0])
    assert [c["rule"] for c in cands] == ["category_domain", "category_domain"]


def test_category_domain_fallback_and_unrouted(hub):
    db, app = hub
    feed = Feed()
    app.handle([feed.clue("A3", level="medium", region="330106"), feed.clue("A4", category="ZZ99")])
    assert dispatches(db, "A3") == [("330106WJW", "responsible", "pushed", "category_domain")]
    assert dispatches(db, "A4") == []
    assert q(db, "select alert_id, state from risk_clues order by alert_id") == [("A3", "pushed"), ("A4", "unrouted")]


def test_deadlines_skip_holidays_and_use_make_up_days():
    hour = Span(value=1, unit="working_hours")
    day = Span(value=1, unit="working_days")
    # Tue 30 Sep 2025 17:00: half an hour left that day, then the National Day holiday (1-8 Oct)
    assert add_span(local("2025-09-30", 17), hour, CFG) == local("2025-10-09", 9)
    assert add_span(local("2025-09-30", 17), day, CFG) == local("2025-10-10", 0)
    # Fri 26 Sep 2025: Sunday 28 Sep is a make-up working day (调休)
    assert add_span(local("2025-09-26", 17, 20), day, CFG) == local("2025-09-29", 0)
    # pushed at night or during the lunch break: counting starts at the next opening
    assert add_span(local("2025-06-10", 22), hour, CFG) == local("2025-06-11", 9, 30)
    assert add_span(local("2025-06-10", 12, 30), hour, CFG) == local("2025-06-10", 14, 30)


def test_config_is_validated():
    data = json.loads(CFG.model_dump_json())
    del data["levels"]["low"]
    with pytest.raises(ValueError, match="low"):
        LoopConfig.model_validate(data)
    data = json.loads(CFG.model_dump_json())
    data["category_domains"]["XX"] = ["NOPE"]
    with pytest.raises(ValueError, match="NOPE"):
        LoopConfig.model_validate(data)


def test_escalation_reminder_then_supervision_exactly_once(hub):
    db, app = hub
    app.handle([Feed().clue("A5", depts=(("330106SCJ", "西湖区市场监督管理局"),))])  # high, pushed 10:00
    timer = app.processor.escalate
    app.clock.set(local("2025-06-10", 10, 59))
    assert app.run_timer(timer).emitted == 0
    app.clock.set(local("2025-06-10", 11, 30))  # receive due 11:00
    assert app.run_timer(timer).emitted == 1
    assert app.run_timer(timer).emitted == 0
    app.clock.set(local("2025-06-10", 16, 29))  # 督办 due 4 working hours later: 16:30 (lunch break skipped)
    assert app.run_timer(timer).emitted == 0
    app.clock.set(local("2025-06-10", 16, 31))
    assert app.run_timer(timer).emitted == 2  # supervision alert + copy pushed to the city bureau
    assert app.run_timer(timer).emitted == 0
    assert dispatches(db, "A5") == [("330106SCJ", "responsible", "pushed", "explicit"),
                                    ("330100SCJ", "supervise", "pushed", "supervise")]
    assert q(db, "select kind, escalation_level, department_code, status from supervision_alerts "
                 "order by escalation_level") == [("dispatch_overdue", 1, "330106SCJ", "open"),
                                                   ("dispatch_overdue", 2, "330100SCJ", "open")]
    # a late receipt closes the receipt alerts; feedback is due at the end of the next working day
    app.handle([Feed().feedback("A5", "A5:330106SCJ", "330106SCJ", "received", local("2025-06-10", 17))])
    assert q(db, "select count(*) from supervision_alerts where status = 'open'") == [(0,)]
    app.clock.set(local("2025-06-12", 9))
    assert app.run_timer(timer).emitted == 1
    kinds = q(db, "select kind from risk_events where alert_id = 'A5' order by id")
    assert [k for (k,) in kinds] == ["clue", "pushed", "reminder", "supervised", "pushed", "received", "reminder"]


def test_return_reroutes_never_to_the_same_department_twice(hub):
    db, app = hub
    feed = Feed()
    app.handle([feed.clue("A6", level="medium", region="330106")])  # WJW, candidate STJ
    at = local("2025-06-10", 11)
    app.handle([feed.feedback("A6", "A6:330106WJW", "330106WJW", "returned", at, "not ours")])
    app.handle([feed.feedback("A6", "A6:330106STJ", "330106STJ", "returned", at, "not ours")])
    app.handle([feed.feedback("A6", "A6:330100STJ", "330100STJ", "returned", at, "not ours")])
    app.handle([feed.feedback("A6", "A6:330000STJ", "330000STJ", "returned", at, "not ours")])
    assert dispatches(db, "A6") == [("330106WJW", "responsible", "returned", "category_domain"),
                                    ("330106STJ", "responsible", "returned", "category_domain"),
                                    ("330100STJ", "responsible", "returned", "return_up"),
                                    ("330000STJ", "responsible", "returned", "return_up")]
    assert q(db, "select state from risk_clues") == [("unrouted",)]
    # a step on a returned dispatch, or from another department, is recorded as rejected, not raised
    r = app.handle([feed.feedback("A6", "A6:330106WJW", "330106WJW", "handled", at),
                    feed.feedback("A6", "A6:330106STJ", "330106SCJ", "received", at)])
    assert not r.rejected
    assert r.counters == {"feedback_rejected_invalid_transition": 1, "feedback_rejected_wrong_department": 1}


def test_duplicates_and_stale_versions_push_nothing_twice(hub):
    db, app = hub
    feed = Feed()
    first = feed.clue("A7", depts=(("330106SCJ", "x"),), version=2)
    r = app.handle([first, first, feed.clue("A7", depts=(("330106SCJ", "x"),), version=1)])
    assert (r.applied, r.duplicates, r.stale, r.emitted) == (1, 1, 1, 1)
    r = app.handle([feed.clue("A7", depts=(("330106SCJ", "x"),), version=3)])
    assert (r.applied, r.emitted) == (1, 0)
    assert len(dispatches(db, "A7")) == 1
    fb = feed.feedback("A7", "A7:330106SCJ", "330106SCJ", "received", local("2025-06-10", 10, 30))
    again = feed.feedback("A7", "A7:330106SCJ", "330106SCJ", "received", local("2025-06-10", 10, 40), rid="other")
    app.handle([fb])
    app.handle([fb, again])
    assert q(db, "select count(*) from risk_events where kind = 'received'") == [(1,)]


def test_feedback_closes_the_clue_and_figures_follow(hub):
    db, app = hub
    feed = Feed()
    app.handle([feed.clue("A8", depts=(("330106SCJ", "x"),)), feed.clue("A9", depts=(("330106SCJ", "x"),))])
    app.handle([feed.feedback("A8", "A8:330106SCJ", "330106SCJ", "received", local("2025-06-10", 10, 30)),
                feed.feedback("A8", "A8:330106SCJ", "330106SCJ", "handled", local("2025-06-10", 15))])
    assert q(db, "select alert_id, state from risk_clues order by alert_id") == [("A8", "closed"), ("A9", "pushed")]
    from processors.risk.report import figures

    with db.engine.connect() as conn:
        total, per = figures(conn, local("2025-06-10", 12), region="330100")
    assert [f.department_code for f in per] == ["330106SCJ"]
    assert (total.clues_open, total.overdue, total.on_time_receipt_rate, total.on_time_feedback_rate,
            total.mean_feedback_s, total.return_rate) == (1, 1, 0.5, 1.0, 5 * 3600, 0.0)
    with db.engine.connect() as conn:
        assert figures(conn, local("2025-06-10", 12), region="330200")[0].dispatches == 0


def test_overdue_statutory_clock_becomes_a_hub_clue(hub):
    db, app = hub
    feed = Feed()
    r = app.handle([feed.supervision_alert("C-1:decide:clock_overdue", "clock_overdue", "330106SCJ"),
                    feed.supervision_alert("C-1:decide:clock_due_soon", "clock_due_soon", "330106SCJ")])
    assert r.counters.get("supervision_alert_ignored") == 1
    assert q(db, "select alert_id, origin, risk_level from risk_clues") == [
        ("sa:C-1:decide:clock_overdue", "supervision_alert", "high")]
    assert dispatches(db, "sa:C-1:decide:clock_overdue") == [("330106SCJ", "responsible", "pushed", "explicit")]


def withdrawal(feed: Feed, alert_id: str, version: int = 2, **kw) -> InRecord:
    r = feed.clue(alert_id, version=version, **kw)
    r.value["envelope"]["operation"] = "d"
    return r


def test_a_withdrawn_clue_closes_its_open_dispatches_and_tells_each_department(hub):
    db, app = hub
    feed = Feed()
    depts = (("330106SCJ", "市监"), ("330106WJW", "卫健"), ("330106STHJ", "生态"))
    app.handle([feed.clue("W1", depts=depts)])
    # one department already fed back, one received, one untouched
    for dept, step in (("330106SCJ", "handled"), ("330106WJW", "received")):
        app.handle([feed.feedback("W1", f"W1:{dept}", dept, step, local("2025-06-10", 11))])
    r = app.handle([withdrawal(feed, "W1", depts=depts)])
    assert not r.rejected and r.emitted == 2
    assert q(db, "select dispatch_id, state from risk_dispatches order by dispatch_id") == [
        ("W1:330106SCJ", "fed_back"), ("W1:330106STHJ", "closed"), ("W1:330106WJW", "closed")]
    assert q(db, "select state from risk_clues") == [("withdrawn",)]
    with db.engine.connect() as conn:
        bodies = conn.execute(text("select key from outbox where topic = 'risk.dispatches' order by id")).all()
    assert len(bodies) == 3 + 2  # the three pushes, then two withdrawals
    # a late step changes nothing (closed is past fed_back); a second withdrawal is a no-op
    r = app.handle([feed.feedback("W1", "W1:330106WJW", "330106WJW", "handled", local("2025-06-10", 12)),
                    withdrawal(feed, "W1", version=3, depts=depts)])
    assert r.emitted == 0
    assert q(db, "select state from risk_dispatches where dispatch_id = 'W1:330106WJW'") == [("closed",)]
    assert q(db, "select state from risk_clues") == [("withdrawn",)]
    assert q(db, "select count(*) from risk_events where kind = 'withdrawn'") == [(1,)]


def test_a_withdrawal_before_its_clue_means_the_clue_is_never_pushed(hub):
    db, app = hub
    feed = Feed()
    depts = (("330106SCJ", "市监"),)
    app.handle([withdrawal(feed, "W2", version=2, depts=depts)])
    app.handle([feed.clue("W2", version=1, depts=depts)])
    assert q(db, "select count(*) from risk_dispatches") == [(0,)]
    assert q(db, "select state from risk_clues") == [("withdrawn",)]
