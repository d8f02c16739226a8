"""The items processor and inspection forms as of a date (BatchApplier on SQLite)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from hub_api.db import Database
from processors.items.forms import assemble, pick_version
from processors.items.models import Item, ItemVersion
from processors.items.processor import PROCESSOR as ITEMS
from processors.runtime.apply import BatchApplier
from processors.runtime.clock import FixedClock
from processors.runtime.models import OutboxRow
from tests.unit.processors.entity_data import item, records

CODE = "33000000000101"


@pytest.fixture
def hub(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'hub.db'}")
    db.create_schema()
    yield db, BatchApplier(db.engine, ITEMS, FixedClock(datetime(2026, 3, 1, tzinfo=UTC)))
    db.dispose()


def current(db):
    with db.engine.connect() as c:
        return c.execute(select(Item).where(Item.catalog_code == CODE)).first()


def test_versions_are_kept_current_follows_valid_from_and_older_versions_are_stale(hub):
    db, items = hub
    r = items.handle(records("catalog.updates", [item(CODE, "2", "SPAQ", date(2025, 6, 1), contents=("a", "b"))]))
    assert (r.applied, r.emitted) == (1, 1)
    row = current(db)
    assert row.current_version == "2" and json.loads(row.industry_codes)[:2] == ["H62", "C13"]
    # an older version arrives late: kept for history, counted stale, not current, not emitted
    r = items.handle(records("catalog.updates", [item(CODE, "1", "SPAQ", date(2025, 1, 1), contents=("a",))], 5))
    assert (r.applied, r.stale, r.emitted, r.counters["history_version"]) == (0, 1, 0, 1)
    assert current(db).current_version == "2"
    # a re-sent version with the same source version is stale; a newer source version corrects it
    resent = item(CODE, "2", "SPAQ", date(2025, 6, 1), contents=("z",))
    resent["envelope"]["record_id"] = "item_catalog:resent"
    r = items.handle(records("catalog.updates", [resent], 9))
    assert r.stale == 1
    r = items.handle(records("catalog.updates", [item(CODE, "2", "SPAQ", date(2025, 6, 1), contents=("a", "c"),
                                                      source_version=2)], 10))
    assert (r.applied, r.emitted) == (1, 1)
    with db.engine.connect() as c:
        assert c.execute(select(ItemVersion.version).where(ItemVersion.catalog_code == CODE)
                         .order_by(ItemVersion.version)).scalars().all() == ["1", "2"]
        assert c.execute(select(OutboxRow.topic)).scalars().all() == ["catalog.items", "catalog.items"]


def test_form_as_of_a_date_uses_the_version_valid_then(hub):
    db, items = hub
    items.handle(records("catalog.updates", [
        item(CODE, "1", "SPAQ", date(2025, 1, 1), contents=("a",)),
        item(CODE, "2", "SPAQ", date(2025, 6, 1), contents=("a", "b"), valid_to=date(2026, 12, 31)),
    ]))
    with db.engine.connect() as c:
        assert assemble(c, CODE, date(2024, 12, 31)) is None
        f1 = assemble(c, CODE, date(2025, 5, 31))
        f2 = assemble(c, CODE, date(2025, 6, 1))
        assert assemble(c, CODE, date(2027, 1, 1)) is None
    assert f1["version"] == "1" and [x["content_code"] for x in f1["check_contents"]] == ["a"]
    assert f2["version"] == "2" and [x["content_code"] for x in f2["check_contents"]] == ["a", "b"]
    assert f2["domain"]["code"] == "SPAQ"


def test_pick_version_orders_by_valid_from_then_natural_version_and_respects_withdrawal():
    class V:
        def __init__(self, version, valid_from, valid_to=None, operation="u"):
            self.version, self.valid_from, self.valid_to, self.operation = version, valid_from, valid_to, operation

    vs = [V("v9", date(2025, 1, 1)), V("v10", date(2025, 1, 1)), V("v11", date(2025, 3, 1), operation="d")]
    assert pick_version(vs, date(2025, 2, 1)).version == "v10"
    assert pick_version(vs, date(2025, 3, 1)) is None


def test_bad_item_code_is_dead_lettered(hub):
    _, items = hub
    r = items.handle(records("catalog.updates", [item("123", "1", "SPAQ", date(2025, 1, 1)),
                                                 item(CODE, "1", "SPAQ", date(2025, 1, 1))]))
    assert r.applied == 1 and [x.reason for x in r.rejected] == ["item_code_format"]
