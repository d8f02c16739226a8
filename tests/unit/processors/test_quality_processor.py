"""The quality processor through the batch applier on SQLite: windows, duplicates, dead letters,
reports exactly once per closed window, and the rolling gauges."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select, text

from connectors.store import ConnectorRow, ConnectorStatusRow
from hub_api.db import Database
from processors.quality.collector import QualityCollector
from processors.quality.models import QualityRejection, QualityWindow
from processors.quality.processor import QualityConfig, QualityProcessor
from processors.runtime.apply import BatchApplier
from processors.runtime.clock import FixedClock
from processors.runtime.contract import InRecord
from processors.runtime.models import OutboxRow
from tests.unit.processors.test_quality_measures import HOUR_MS, coded, entity, inspection

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
START_MS = int(START.timestamp() * 1000)


def rec(topic: str, value: dict, offset: int) -> InRecord:
    return InRecord(topic, 0, offset, value["envelope"]["source_key"], value)


@pytest.fixture
def setup(sqlite_url):
    db = Database(sqlite_url)
    db.create_schema()
    clock = FixedClock(START)
    processor = QualityProcessor(QualityConfig(window_s=3600, report_delay_s=300, timer_s=60, timely_within_s=3600))
    yield db, clock, processor, BatchApplier(db.engine, processor, clock)
    db.dispose()


def windows(db) -> dict:
    with db.engine.connect() as conn:
        return {(r.source_system, r.department_code, r.window_start_ms): r
                for r in conn.execute(select(QualityWindow))}


def test_batches_add_up_per_source_department_and_window(setup):
    db, clock, _, applier = setup
    t0 = START_MS + 60_000
    first = [
        rec("entity.updates", entity("sys-a", "e1", ingest_ms=t0, latency_s=5), 0),
        rec("entity.updates", entity("sys-a", "e2", ingest_ms=t0, latency_s=7200, industry=None), 1),
        rec("inspection.records", inspection("sys-b", "i1", ingest_ms=t0, inspectors=[]), 2),
    ]
    assert applier.handle(first).applied == 3
    second = [
        # same content as e1 under a new version: a duplicate resend; bad USCC on e3.
        rec("entity.updates", entity("sys-a", "e1", ingest_ms=t0 + 1000, version=2, latency_s=5), 3),
        rec("entity.updates", entity("sys-a", "e3", ingest_ms=t0 + HOUR_MS, uscc="91330106000000000X"), 4),
        rec("entity.updates", entity("sys-a", "e4", ingest_ms=t0, dept="330100SCJ"), 5),
    ]
    result = applier.handle(second)
    assert result.applied == 3 and result.rejected == []
    assert result.counters["duplicate"] == 1 and result.counters["inaccurate"] == 1
    w = windows(db)
    assert set(w) == {("sys-a", "330106SCJ", START_MS), ("sys-a", "330106SCJ", START_MS + HOUR_MS),
                      ("sys-b", "330203STJ", START_MS), ("sys-a", "330100SCJ", START_MS)}
    a = w[("sys-a", "330106SCJ", START_MS)]
    assert (a.records, a.duplicates, a.invalid, a.fields_missing, a.timely, a.latency_count) == (3, 1, 0, 1, 2, 3)
    assert a.missing_counts == {"industry": 1} and a.latency_max_ms == 7_200_000
    late = w[("sys-a", "330106SCJ", START_MS + HOUR_MS)]
    assert late.records == 1 and late.invalid == 1 and late.error_counts == {"uscc:uscc_check": 1}
    b = w[("sys-b", "330203STJ", START_MS)]
    assert b.records == 1 and b.missing_counts == {"inspectors": 1}
    # A redelivered batch changes nothing (the runtime's id ledger), figures stay exact.
    assert applier.handle(first).duplicates == 3
    assert windows(db)[("sys-a", "330106SCJ", START_MS)].records == 3


def test_reports_once_per_closed_window(setup):
    db, clock, processor, applier = setup
    reports = next(t for t in processor.timers if t.name == "reports")
    applier.handle([rec("entity.updates", entity("sys-a", "e1", ingest_ms=START_MS + 1000, industry=None), 0),
                    rec("inspection.records", inspection("sys-b", "i1", ingest_ms=START_MS + 2000), 1)])
    clock.set(START.replace(minute=59))
    assert applier.run_timer(reports.fn).emitted == 0  # window still open
    clock.advance(minutes=1 + 4)
    assert applier.run_timer(reports.fn).emitted == 0  # closed, but within the report delay
    clock.advance(minutes=1, seconds=1)
    assert applier.run_timer(reports.fn).emitted == 2
    assert applier.run_timer(reports.fn).emitted == 0
    clock.advance(hours=5)
    assert applier.run_timer(reports.fn).emitted == 0
    with db.engine.connect() as conn:
        assert conn.execute(select(OutboxRow.topic, OutboxRow.key).order_by(OutboxRow.key)).all() == [
            ("quality.reports", "sys-a"), ("quality.reports", "sys-b")]
    report = processor.report_value("sys-a", "330106SCJ", START_MS, _tally(db, "sys-a"), START_MS)
    assert report["records_total"] == 1 and report["missing_field_counts"] == {"industry": 1}
    assert report["completeness"] < 1.0 and report["accuracy"] == 1.0 and report["latency_p50_ms"] == 1000
    assert report["window_end"] - report["window_start"] == HOUR_MS
    # A straggler for the reported window is still counted, never reported twice.
    result = applier.handle([rec("entity.updates", entity("sys-a", "e9", ingest_ms=START_MS + 5000), 2)])
    assert result.counters["late_after_report"] == 1
    assert applier.run_timer(reports.fn).emitted == 0
    assert windows(db)[("sys-a", "330106SCJ", START_MS)].records == 2


def _tally(db, source):
    from processors.quality.report import tallies

    with db.engine.connect() as conn:
        return tallies(conn, 0, START_MS + HOUR_MS, source=source)[(source, "330106SCJ")]


def _connector(conn, name: str, source: str, dead: int) -> None:
    now = START
    conn.execute(insert(ConnectorRow).values(name=name, plugin="kafka-json", config={"name": name, "source_system": source},
                                             target_state="RUNNING", generation=1, created_at=now, updated_at=now))
    conn.execute(insert(ConnectorStatusRow).values(name=name, state="RUNNING", counters={"dead_lettered": dead},
                                                   updated_at=now))


def test_dead_letters_counted_from_connector_status_deltas(setup):
    db, clock, processor, applier = setup
    timer = next(t for t in processor.timers if t.name == "dead_letters")
    with db.engine.begin() as conn:
        _connector(conn, "conn-a", "sys-a", 3)
        _connector(conn, "conn-a2", "sys-a", 1)
        _connector(conn, "conn-b", "sys-b", 0)
    assert applier.run_timer(timer.fn).counters["dead_letters_counted"] == 4
    assert applier.run_timer(timer.fn).counters == {}  # nothing new
    clock.advance(hours=1)
    with db.engine.begin() as conn:
        conn.execute(text("update connector_status set counters = :c where name = 'conn-a'"),
                     {"c": '{"dead_lettered": 5}'})
        conn.execute(text("update connector_status set counters = :c where name = 'conn-a2'"),
                     {"c": '{"dead_lettered": 0}'})  # re-created connector: counter restarted
    applier.run_timer(timer.fn)
    with db.engine.connect() as conn:
        rows = conn.execute(select(QualityRejection.source_system, QualityRejection.window_start_ms,
                                   QualityRejection.rejected).order_by(QualityRejection.window_start_ms)).all()
    assert rows == [("sys-a", START_MS, 4), ("sys-a", START_MS + HOUR_MS, 2)]


def test_rolling_gauges_from_windows(setup):
    db, clock, _, applier = setup
    t0 = START_MS + 1000
    applier.handle([
        rec("entity.updates", entity("sys-a", "e1", ingest_ms=t0, latency_s=5), 0),
        rec("entity.updates", entity("sys-a", "e2", ingest_ms=t0, latency_s=7200, industry=coded("")), 1),
        rec("entity.updates", entity("sys-a", "e3", ingest_ms=t0 - 30 * HOUR_MS), 2),  # outside the 24 h
    ])
    with db.engine.begin() as conn:
        conn.execute(insert(QualityRejection).values(source_system="sys-a", window_start_ms=START_MS, rejected=2))
    collector = QualityCollector(db.engine, rolling_s=86400, window_ms=HOUR_MS, clock=lambda: START_MS / 1000 + 600)
    samples = {(s.name, s.labels["source_system"], s.labels["department"]): s.value
               for family in collector.collect() for s in family.samples}
    assert samples[("hub_quality_records", "sys-a", "330106SCJ")] == 2
    assert samples[("hub_quality_rejected", "sys-a", "")] == 2
    assert samples[("hub_quality_accuracy", "sys-a", "")] == 0.0
    assert samples[("hub_quality_accuracy", "sys-a", "330106SCJ")] == 1.0
    assert samples[("hub_quality_timeliness", "sys-a", "330106SCJ")] == 0.5
    assert samples[("hub_quality_timeliness_p95_seconds", "sys-a", "330106SCJ")] == 7200
    assert samples[("hub_quality_duplicates", "sys-a", "330106SCJ")] == 0
    assert ("hub_quality_completeness", "sys-a", "") not in samples  # nothing measured there
    assert samples[("hub_quality_completeness", "sys-a", "330106SCJ")] < 1.0
