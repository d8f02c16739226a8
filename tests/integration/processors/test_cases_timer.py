"""The clocks timer in-process (BatchApplier.run_timer + FixedClock) on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from hub_api.db import Database
from processors.cases.processor import CaseProcessor
from processors.runtime.apply import BatchApplier
from processors.runtime.clock import FixedClock
from tests.unit.processors.test_cases_processor import VALID, Feed, alerts_emitted, at, q


@pytest.fixture
def applier(database_url):
    db = Database(database_url)
    db.create_schema()
    yield db, BatchApplier(db.engine, CaseProcessor(), FixedClock(at("2025-06-10", 12)))
    db.dispose()


def test_decision_clock_warns_then_breaches_once_each(applier):
    db, app = applier
    feed = Feed()
    app.handle([feed.event("T-1", "case_source", at("2025-06-09")),
                feed.event("T-1", "filing", at("2025-06-10"), officers=VALID),
                feed.event("T-2", "case_source", at("2025-06-09"))])
    timer = app.processor.check_clocks
    app.clock.set(at("2025-06-27"))  # T-2's filing decision (due 2025-06-30) enters its warning
    assert app.run_timer(timer).emitted == 1
    app.clock.set(at("2025-08-29"))  # T-1's decision clock: 10 days before 2025-09-08
    assert app.run_timer(timer).emitted == 2  # T-1 due soon, T-2 overdue
    assert app.run_timer(timer).emitted == 0
    app.clock.set(at("2025-09-09"))
    assert app.run_timer(timer).emitted == 1
    assert app.run_timer(timer).emitted == 0
    # (no officers in this database: T-1's filing also raised a filing_officers alert, kind "other")
    kinds = sorted((a["subject_id"], a["kind"]) for a in alerts_emitted(db) if a["kind"] != "other")
    assert kinds == [("T-1", "clock_due_soon"), ("T-1", "clock_overdue"), ("T-2", "clock_due_soon"),
                     ("T-2", "clock_overdue")]
    assert sorted(q(db, "select subject_id, kind from supervision_alerts where status = 'open'")) == [
        ("T-1", "clock_overdue"), ("T-1", "other"), ("T-2", "clock_overdue")]
