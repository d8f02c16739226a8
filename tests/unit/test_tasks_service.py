"""Joint tasks without a broker: region resolution, fan-out, merged visits, aggregate state, escalation."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from hub_api.db import Database
from hub_api.tasks import resolve, service
from hub_api.tasks.models import task_events
from hub_api.tasks.spec import Accept, Decline, Result, TaskCreate
from processors.items.models import Item
from processors.runtime.apply import BatchApplier
from processors.runtime.clock import FixedClock
from processors.runtime.contract import Context
from processors.runtime.models import OutboxRow
from processors.runtime.outbox import enqueue
from processors.tasks.processor import TaskProcessor
from schemas.codes import make_uscc

FOOD, MARKET, ENV = "33000000000001", "33000000000002", "33000000000003"
START = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 10:00 in Hangzhou


@pytest.fixture
def db(sqlite_url):
    database = Database(sqlite_url)
    database.create_schema()
    with database.engine.begin() as conn:
        for code, domain in ((FOOD, "SPAQ"), (MARKET, "SCJG"), (ENV, "STHJ")):
            conn.execute(sa.insert(Item).values(catalog_code=code, current_version="1", name=f"item {code}",
                                                domain_code=domain, industry_codes="[]", implementations="[]",
                                                active="y", updated_at=START))
    yield database
    database.dispose()


def body(**kw) -> TaskCreate:
    base = {"title": "食品联合检查", "initiator": {"department_code": "330100SCJ", "department_name": "杭州市市场监督管理局",
                                             "region_code": "330100"},
            "catalog_codes": [FOOD, MARKET, ENV], "due_date": "2026-03-06"}
    return TaskCreate(**{**base, **kw})


def create(db, clock_now=START, **kw):
    with db.engine.begin() as conn:
        ctx = Context(now=clock_now)
        task, _ = service.create(conn, ctx, body(**kw), actor="t", own_province="330000")
        enqueue(conn, ctx.emitted, ctx.now)
        return task, ctx


def act(db, task_id, aid, action, payload, now=START):
    with db.engine.begin() as conn:
        ctx = Context(now=now)
        service.act(conn, ctx, task_id, aid, action, payload, actor="t")
        enqueue(conn, ctx.emitted, ctx.now)


def view(db, task_id, now=START):
    with db.engine.connect() as conn:
        return service.view(conn, task_id, now)


@pytest.mark.parametrize("region", ["330000", "330100", "330106"])
def test_a_region_at_any_level_resolves_to_one_department_per_distinct_department_of_the_items(region):
    targets = resolve.departments_for_region(region, {FOOD: "SPAQ", MARKET: "SCJG", ENV: "STHJ"})
    by_code = {t.department_code: t for t in targets}
    assert set(by_code) == {f"{region}SCJ", f"{region}STJ"}  # food + market share the market bureau
    assert by_code[f"{region}SCJ"].catalog_codes == (FOOD, MARKET)
    assert by_code[f"{region}STJ"].catalog_codes == (ENV,)
    assert all(t.region_code == region for t in targets)
    assert by_code[f"{region}SCJ"].department_name.endswith("市场监督管理局")


def test_parent_department_walks_one_level_up_and_stops_at_the_province():
    assert resolve.parent_department("330106SCJ", "330106") == ("330100SCJ", "330100")
    assert resolve.parent_department("330100STJ", "330100") == ("330000STJ", "330000")
    assert resolve.parent_department("330000SCJ", "330000") is None


def test_fan_out_one_assignment_per_department_and_province_and_records_on_the_outbox(db):
    task, ctx = create(db, participants=[{"region_code": "330106"}, {"region_code": "330200"},
                                         {"region_code": "330106", "department_code": "330106SCJ",
                                          "department_name": "西湖区市场监督管理局"},
                                         {"region_code": "330110", "department_code": "330110GA",
                                          "department_name": "余杭区公安分局"}],
                       province_codes=["32"])
    v = view(db, task["task_id"])
    codes = sorted(a["department"]["code"] for a in v["assignments"])
    # 330106SCJ named twice (region + explicit) gives one assignment.
    assert codes == ["320000", "330106SCJ", "330106STJ", "330110GA", "330200SCJ", "330200STJ"]
    assert v["scope"] == "cross_province" and v["state"] == "dispatched"
    topics = [e.topic for e in ctx.emitted]
    assert topics.count("task.joint") == 1 and topics.count("task.assignments") == 6
    assert topics.count("task.status") == 1
    with db.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(OutboxRow)).scalar_one() == 8


def test_unknown_items_and_foreign_regions_are_refused_with_a_reason(db):
    with pytest.raises(service.TaskError) as e:
        create(db, participants=[{"region_code": "330106"}], catalog_codes=["33999999999999"])
    assert (e.value.status, e.value.reason) == (422, "unknown_items")
    with pytest.raises(service.TaskError) as e:
        create(db, participants=[{"region_code": "320100"}])
    assert e.value.reason == "foreign_region"
    with pytest.raises(service.TaskError) as e:
        create(db, participants=[{"region_code": "330106"}], plan_id="P-none")
    assert e.value.reason == "unknown_plan"


def test_assignments_for_the_same_entity_and_day_merge_into_one_visit(db):
    inside = make_uscc("330106", "12345678")
    elsewhere = make_uscc("330212", "23456789")  # Ningbo: outside Xihu's area
    t1, _ = create(db, participants=[{"region_code": "330106"}], target_entity_ids=[inside, elsewhere],
                   visit_date="2026-03-04")
    t2, _ = create(db, title="消防联查", participants=[{"region_code": "330106", "department_code": "330106XF",
                                                        "department_name": "西湖区消防救援大队"}],
                   catalog_codes=[], target_entity_ids=[inside], visit_date="2026-03-04")
    with db.engine.connect() as conn:
        merged = service.visits(conn, date(2026, 3, 4))
        fire = service.visits(conn, date(2026, 3, 4), department="330106XF")
        none = service.visits(conn, date(2026, 3, 5))
    assert len(merged) == 1, merged  # the Ningbo entity is not Xihu's to visit
    visit = merged[0]
    assert visit["entity_id"] == inside
    assert {d["code"] for d in visit["departments"]} == {"330106SCJ", "330106STJ", "330106XF"}
    assert set(visit["catalog_codes"]) == {FOOD, MARKET, ENV}
    assert set(visit["task_ids"]) == {t1["task_id"], t2["task_id"]} and len(visit["assignment_ids"]) == 3
    assert fire == merged and none == []

    # Moving one department's day splits the visit; declining removes it.
    aid = f"{t1['task_id']}.330106STJ"
    act(db, t1["task_id"], aid, "accept", Accept(visit_date=date(2026, 3, 5)))
    with db.engine.connect() as conn:
        assert {d["code"] for d in service.visits(conn, date(2026, 3, 4))[0]["departments"]} == {"330106SCJ", "330106XF"}
        assert [v["assignment_ids"] for v in service.visits(conn, date(2026, 3, 5))] == [[aid]]
    act(db, t2["task_id"], f"{t2['task_id']}.330106XF", "decline", Decline(reason="no capacity"))
    with db.engine.connect() as conn:
        assert {d["code"] for d in service.visits(conn, date(2026, 3, 4))[0]["departments"]} == {"330106SCJ"}


def test_aggregate_state_follows_the_assignments(db):
    task, _ = create(db, participants=[{"region_code": "330106"}, {"region_code": "330108"}])
    tid = task["task_id"]
    ids = [a["assignment_id"] for a in view(db, tid)["assignments"]]
    assert len(ids) == 4 and view(db, tid)["state"] == "dispatched"
    act(db, tid, ids[0], "accept", Accept())
    assert view(db, tid)["state"] == "in_progress"
    act(db, tid, ids[1], "decline", Decline(reason="not ours"))
    for aid in (ids[2], ids[3]):
        act(db, tid, aid, "accept", Accept())
    for aid in (ids[0], ids[2]):
        act(db, tid, aid, "result", Result(summary="ok", inspection_numbers=[f"I-{aid[-6:]}"]))
    after_due = START + timedelta(days=5)
    assert view(db, tid, after_due)["state"] == "overdue"  # ids[3] accepted but not done by Friday
    act(db, tid, ids[3], "result", Result(summary="ok"), now=after_due)
    v = view(db, tid, after_due)
    assert v["state"] == "completed" and v["counts"] == {"completed": 3, "declined": 1}
    with pytest.raises(service.TaskError) as e:
        act(db, tid, ids[3], "result", Result(summary="again"))
    assert (e.value.status, e.value.reason) == (409, "invalid_transition")
    with db.engine.connect() as conn:
        kinds = list(conn.execute(sa.select(task_events.c.kind).where(task_events.c.task_id == tid)).scalars())
    assert kinds.count("completed") == 1


def test_overdue_assignments_get_one_reminder_then_one_escalation_one_level_up(db):
    clock = FixedClock(START)
    task, _ = create(db, participants=[{"region_code": "330106"}], catalog_codes=[FOOD])
    tid, aid = task["task_id"], f"{task['task_id']}.330106SCJ"
    applier = BatchApplier(db.engine, TaskProcessor(interval_s=1), clock)
    timer = applier.processor.timers[0].fn

    assert applier.run_timer(timer).emitted == 0  # not due yet
    clock.set(datetime(2026, 3, 6, 17, 0, tzinfo=UTC))  # Saturday 01:00 local: past Friday's deadline
    first = applier.run_timer(timer)
    assert first.counters == {"task_reminder": 1} and first.emitted == 2  # task.status + supervision.alerts
    assert applier.run_timer(timer).emitted == 0  # reminded once only
    clock.set(datetime(2026, 3, 9, 12, 0, tzinfo=UTC))  # Monday: one working day not over yet
    assert applier.run_timer(timer).emitted == 0
    clock.set(datetime(2026, 3, 9, 16, 30, tzinfo=UTC))  # Tuesday 00:30 local
    second = applier.run_timer(timer)
    assert second.counters == {"task_escalated": 1} and second.emitted == 2
    for _ in range(2):
        clock.advance(days=3)
        assert applier.run_timer(timer).emitted == 0
    a = view(db, tid, clock.now())["assignments"][0]
    assert a["escalated_to"] == "330100SCJ" and a["overdue"] is True
    with db.engine.connect() as conn:
        steps = [(r.kind, json.loads(r.detail)) for r in conn.execute(
            sa.select(task_events).where(task_events.c.assignment_id == aid,
                                         task_events.c.kind.in_(("reminder", "escalated"))).order_by(task_events.c.id))]
    assert steps == [("reminder", {"level": 0, "to": "330106SCJ"}), ("escalated", {"level": 1, "to": "330100SCJ"})]
