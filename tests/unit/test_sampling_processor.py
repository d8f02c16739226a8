"""The sampling processor on SQLite through the real BatchApplier: inspection records close a plan."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from hub_api.db import Database
from hub_api.sampling import public, service
from hub_api.sampling.models import SamplingAudit
from hub_api.sampling.spec import PlanRequest
from processors.runtime.apply import BatchApplier
from processors.runtime.clock import FixedClock
from processors.runtime.contract import InRecord
from processors.runtime.models import OutboxRow
from processors.sampling.processor import PROCESSOR
from tests.integration.test_sampling_api import plan_body, seed_registries
from tests.records import envelope, minimal

NOW = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.fixture
def drawn(sqlite_url):
    db = Database(sqlite_url)
    db.create_schema()
    seed_registries(db.engine, n_entities=20, n_officers=4)
    plan = service.create_plan(db.engine, PlanRequest(**plan_body(ratio=None, count=3)), "tester", NOW)
    service.draw_plan(db.engine, plan.plan_id, "tester", NOW)
    with db.engine.connect() as conn:
        rows = public.draw_rows(conn, plan.plan_id)
    yield db, plan.plan_id, rows
    db.dispose()


def inspection(plan_id, row, number: str, *, result="1", at_ms=1_767_225_600_000, op="u", offset=0,
               entity_id=None) -> InRecord:
    value = minimal("gov.zj.supervision.inspection.InspectionRecord", plan_id=plan_id, inspection_number=number,
                    envelope=envelope("zj-inspect", number, offset, operation=op),
                    result={"code": result, "name": "未发现问题" if result == "1" else "发现问题", "code_system": None},
                    inspection_time=at_ms,
                    inspectors=[{"certificate_number": m["certificate_number"], "name": "x"}
                                for m in json.loads(row.inspectors)] if row is not None else [])
    value["counterpart"]["entity_id"] = entity_id or row.object_id
    return InRecord("inspection.records", 0, offset, number, value)


def test_inspection_records_complete_the_plan(drawn):
    db, plan_id, rows = drawn
    applier = BatchApplier(db.engine, PROCESSOR, FixedClock(NOW))
    first = applier.handle([inspection(plan_id, rows[0], "I-0"), inspection(plan_id, rows[1], "I-1", result="2")])
    assert first.counters["linked"] == 2 and not first.rejected
    with db.engine.connect() as conn:
        assert service.load_plan(conn, plan_id).status == "drawn"

    noise = applier.handle([
        inspection(None, rows[2], "I-x", offset=5),                                   # not from a draw
        inspection("DR-unknown", rows[2], "I-y", offset=6),                          # unknown plan
        inspection(plan_id, None, "I-z", offset=7, entity_id="91330100NOTDRAWN0"),   # object not drawn
    ])
    assert noise.counters == {"no_plan": 1, "unknown_plan": 1, "object_not_drawn": 1} and not noise.rejected

    last = applier.handle([inspection(plan_id, rows[2], "I-2", offset=8)])
    assert last.counters["plans_completed"] == 1
    with db.engine.connect() as conn:
        plan = service.load_plan(conn, plan_id)
        assert plan.status == "completed"
        results = public.results(conn, plan)
        events = conn.execute(select(SamplingAudit.event).where(SamplingAudit.plan_id == plan_id)).scalars().all()
        emitted = conn.execute(select(OutboxRow.topic)).scalars().all()
    assert [r["result_code"] for r in results] == ["1", "2", "1"]
    assert all(r["inspection_date"] == "2026-01-01" for r in results)
    assert events.count("inspection_linked") == 3 and events[-1] == "completed"
    assert "inspection_unmatched" in events
    assert emitted.count("sampling.plans") == 3  # published, drawn, completed


def test_older_inspection_is_stale_and_delete_reopens(drawn):
    db, plan_id, rows = drawn
    applier = BatchApplier(db.engine, PROCESSOR, FixedClock(NOW))
    applier.handle([inspection(plan_id, r, f"I-{r.draw_index}", offset=r.draw_index) for r in rows])
    older = applier.handle([inspection(plan_id, rows[0], "I-old", at_ms=1_700_000_000_000, offset=10)])
    assert older.stale == 1
    reopened = applier.handle([inspection(plan_id, rows[0], "I-0", op="d", offset=11)])
    assert reopened.counters == {"unlinked": 1, "plans_reopened": 1}
    with db.engine.connect() as conn:
        assert service.load_plan(conn, plan_id).status == "drawn"
