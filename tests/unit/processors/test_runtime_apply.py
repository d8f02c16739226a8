"""The batch applier: id ledger, duplicates, isolation of a failing record, outbox, timers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from hub_api.db import Database
from processors.runtime.apply import BatchApplier
from processors.runtime.clock import FixedClock
from processors.runtime.contract import InRecord, Timer
from processors.runtime.models import OutboxRow
from tests.records import envelope, minimal

ALERT = "gov.zj.supervision.risk.RiskAlert"


class Echo:
    """Stores alert ids; raises on the id ``bad``; emits a supervision alert for ids starting with ``E``."""

    name = "echo"
    topics = ("risk.alerts",)
    timers = ()

    def __init__(self):
        self.calls = 0

    def apply(self, conn, records, ctx):
        self.calls += 1
        for r in records:
            alert_id = r.value["alert_id"]
            if alert_id == "bad":
                raise ValueError("cannot handle this one")
            if alert_id.startswith("S"):
                ctx.stale(r)
                continue
            conn.execute(text("insert into echo(alert_id) values (:a)"), {"a": alert_id})
            if alert_id.startswith("E"):
                ctx.emit("supervision.alerts", minimal("gov.zj.supervision.risk.SupervisionAlert",
                                                       alert_id=f"sa-{alert_id}", subject_id=alert_id,
                                                       envelope=envelope("hub", alert_id, 1)))
                ctx.count("escalated")


def rec(alert_id: str, offset: int, version: int = 1) -> InRecord:
    value = minimal(ALERT, alert_id=alert_id, envelope=envelope("risk", alert_id, version))
    return InRecord("risk.alerts", 0, offset, alert_id, value, b"raw-" + alert_id.encode())


@pytest.fixture
def db(sqlite_url):
    database = Database(sqlite_url)
    database.create_schema()
    with database.engine.begin() as conn:
        conn.execute(text("create table echo(alert_id varchar(64) primary key)"))
    yield database
    database.dispose()


def count(db, sql):
    with db.engine.connect() as conn:
        return conn.execute(text(sql)).scalar()


def test_a_batch_is_applied_once_and_redelivery_is_skipped(db):
    applier = BatchApplier(db.engine, Echo(), FixedClock(datetime(2026, 11, 2, tzinfo=UTC)))
    batch = [rec(f"A{i}", i) for i in range(10)]
    first = applier.handle(batch)
    assert (first.applied, first.duplicates, first.rejected) == (10, 0, [])
    again = applier.handle(batch + [rec("A3", 99)])  # a redelivery plus a repeat inside the batch
    assert (again.applied, again.duplicates) == (0, 11)
    assert count(db, "select count(*) from echo") == 10
    assert count(db, "select count(*) from processed_records where outcome = 'applied'") == 10


def test_duplicates_inside_one_batch_reach_the_processor_once(db):
    applier = BatchApplier(db.engine, Echo())
    result = applier.handle([rec("A1", 0), rec("A1", 1), rec("A2", 2)])
    assert (result.applied, result.duplicates) == (2, 1)


def test_a_failing_record_is_isolated_and_the_rest_applied(db):
    processor = Echo()
    applier = BatchApplier(db.engine, processor)
    result = applier.handle([rec("A1", 0), rec("bad", 1), rec("A2", 2)])
    assert result.applied == 2
    assert [r.record.value["alert_id"] for r in result.rejected] == ["bad"]
    rejected = result.rejected[0]
    assert (rejected.error_class, rejected.reason) == ("ValueError", "processing")
    assert "cannot handle" in rejected.message and rejected.record.raw == b"raw-bad"
    assert count(db, "select count(*) from echo") == 2
    # Once dead-lettered, the id is in the ledger: a redelivery does not fail again.
    applier.record_dead_letters(result.rejected)
    assert count(db, "select outcome from processed_records where record_id = 'risk:bad:1'") == "dead_letter"
    assert applier.handle([rec("bad", 1)]).duplicates == 1


def test_stale_records_are_counted_and_recorded_as_stale(db):
    applier = BatchApplier(db.engine, Echo())
    result = applier.handle([rec("S1", 0), rec("A1", 1)])
    assert (result.applied, result.stale) == (1, 1)
    assert count(db, "select count(*) from processed_records where outcome = 'stale'") == 1


def test_outputs_commit_with_the_batch_and_counters_are_reported(db):
    applier = BatchApplier(db.engine, Echo())
    result = applier.handle([rec("E1", 0), rec("E2", 1), rec("A1", 2)])
    assert result.emitted == 2 and result.counters == {"escalated": 2}
    with db.engine.connect() as conn:
        rows = conn.execute(OutboxRow.__table__.select().order_by(OutboxRow.id)).all()
    assert [(r.topic, r.key) for r in rows] == [("supervision.alerts", "E1"), ("supervision.alerts", "E2")]


def test_a_rolled_back_batch_leaves_no_outputs_behind(db):
    applier = BatchApplier(db.engine, Echo())
    result = applier.handle([rec("E1", 0), rec("bad", 1)])
    # The batch failed as a whole, then E1 alone succeeded: exactly one output, not two.
    assert result.emitted == 1
    assert count(db, "select count(*) from outbox") == 1


def test_timers_run_in_their_own_transaction_with_the_injected_clock(db):
    clock = FixedClock(datetime(2026, 10, 1, 8, tzinfo=UTC))
    seen = []

    def tick(conn, ctx):
        seen.append(ctx.now)
        ctx.count("ticked")
        ctx.emit("supervision.alerts", minimal("gov.zj.supervision.risk.SupervisionAlert", subject_id="T",
                                               envelope=envelope("hub", "T", 1)))

    applier = BatchApplier(db.engine, Echo(), clock)
    result = applier.run_timer(Timer("tick", 60, tick).fn)
    assert seen == [clock.now()] and result.counters == {"ticked": 1} and result.emitted == 1


def test_an_output_that_does_not_match_its_schema_rejects_the_record(db):
    class BadOutput(Echo):
        def apply(self, conn, records, ctx):
            for r in records:
                ctx.emit("supervision.alerts", {"alert_id": r.value["alert_id"], "subject_id": "x"})

    result = BatchApplier(db.engine, BadOutput()).handle([rec("A1", 0)])
    assert result.applied == 0 and result.rejected[0].reason == "schema"
