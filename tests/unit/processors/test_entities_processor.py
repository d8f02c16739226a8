"""The entities processor through the real BatchApplier on SQLite: merge, stale, duplicates, links."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from hub_api.db import Database
from processors.entities.merge import pseudonym
from processors.entities.models import Entity, EntityItemLink, EntitySourceVersion
from processors.entities.processor import PROCESSOR as ENTITIES
from processors.items.processor import PROCESSOR as ITEMS
from processors.runtime.apply import BatchApplier
from processors.runtime.clock import FixedClock
from processors.runtime.contract import InRecord
from processors.runtime.models import OutboxRow
from schemas.codes import make_resident_id, make_uscc
from tests.records import envelope, minimal
from tests.unit.processors.entity_data import coded, entity, item, records

A = make_uscc("330106", "10000001")
B = make_uscc("330212", "10000002")


@pytest.fixture
def hub(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'hub.db'}")
    db.create_schema()
    clock = FixedClock(datetime(2026, 3, 1, tzinfo=UTC))
    yield db, BatchApplier(db.engine, ENTITIES, clock), BatchApplier(db.engine, ITEMS, clock)
    db.dispose()


def golden(db, entity_id):
    with db.engine.connect() as c:
        return c.execute(select(Entity).where(Entity.entity_id == entity_id)).first()


def outbox(db, topic):
    with db.engine.connect() as c:
        return c.execute(select(OutboxRow.key).where(OutboxRow.topic == topic).order_by(OutboxRow.id)).scalars().all()


def test_precedence_recency_stale_and_duplicates(hub):
    db, ents, _ = hub
    r = ents.handle(records("entity.updates", [
        entity("market_entities", 2, A, name="杭州甲餐饮有限公司", industry=coded("H6210")),
        entity("taxation", 5, A, name="甲餐饮", premises="文三路1号", industry=coded("F5221")),
    ]))
    assert (r.applied, r.stale, r.rejected) == (2, 0, [])
    g = golden(db, A)
    assert g.name == "杭州甲餐饮有限公司" and g.premises == "文三路1号" and g.industry_code == "F5221"
    assert json.loads(g.field_sources)["name"] == "market_entities" and g.revision == 1 and g.sources == "market_entities,taxation"
    # older or equal version of the same source (other record id): stale; the same record again: duplicate
    same_version = entity("market_entities", 2, A, name="同版本不同内容")
    same_version["envelope"]["record_id"] = "market_entities:resent:2"
    r = ents.handle(records("entity.updates", [
        entity("market_entities", 1, A, name="旧名"), same_version,
        entity("taxation", 5, A, name="甲餐饮", premises="文三路1号", industry=coded("F5221")),
    ], start=10))
    assert (r.applied, r.stale, r.duplicates) == (0, 2, 1)
    assert golden(db, A).name == "杭州甲餐饮有限公司" and golden(db, A).revision == 1
    # a newer version changes the golden record and bumps its revision; out-of-order inside one batch
    r = ents.handle(records("entity.updates", [entity("market_entities", 4, A, name="新名", industry=coded("H6210")),
                                               entity("market_entities", 3, A, name="中间名")], start=20))
    assert (r.applied, r.stale) == (1, 1)
    g = golden(db, A)
    assert g.name == "新名" and g.revision == 2
    assert outbox(db, "entity.registry") == [A, A]
    with db.engine.connect() as c:
        assert c.execute(select(EntitySourceVersion.source_version).where(
            EntitySourceVersion.entity_id == A, EntitySourceVersion.source_system == "market_entities")).scalar() == "4"


def test_deletion_by_owner_marks_deregistered_and_keeps_history(hub):
    db, ents, _ = hub
    ents.handle(records("entity.updates", [entity("market_entities", 1, A, name="甲", status=coded("1", "存续"))]))
    ents.handle(records("entity.updates", [entity("market_entities", 2, A, name="甲", operation="d")], start=5))
    g = golden(db, A)
    assert g.status_code == "deregistered" and g.name == "甲" and g.revision == 2


def test_invalid_identity_is_dead_lettered_without_holding_back_the_batch(hub):
    db, ents, _ = hub
    bad = A[:17] + ("0" if A[17] != "0" else "1")
    r = ents.handle(records("entity.updates", [entity("market_entities", 1, B, name="乙"),
                                               entity("market_entities", 1, bad, name="坏")]))
    assert r.applied == 1 and len(r.rejected) == 1 and r.rejected[0].reason == "uscc_check"
    assert golden(db, B) is not None


def test_natural_person_is_keyed_by_pseudonym_and_mentions_are_merged_or_counted(hub):
    db, ents, _ = hub
    rid = make_resident_id("330106", date(1985, 1, 2), 11)
    ents.handle(records("entity.updates", [entity("market_entities", 1, resident_id=rid, name="张三")]))
    g = golden(db, pseudonym(rid))
    assert g.resident_id == rid and g.kind == "natural_person" and rid not in g.entity_id

    def case(code, id_type, name="乙公司", t=1000):
        cp = {"entity_id": None, "object_type": None, "name": name, "nature": coded("1"), "id_type": coded(id_type),
              "id_code": code, "registered_address": None, "operating_address": "某路1号"}
        return minimal("gov.zj.supervision.penalty.PenaltyCaseEvent", counterpart=cp, region_code="330212",
                       envelope=envelope("penalty_sys", f"c{code}{t}", 1, event_time_ms=t))

    ticket = minimal("gov.zj.supervision.complaint.Complaint", target_entity_id=A, target_entity_name="甲公司",
                     region_code="330106", envelope=envelope("complaints", "t1", 1, event_time_ms=5))
    r = ents.handle([InRecord("penalty.case.events", 0, 0, None, case(B, "001")),
                     InRecord("penalty.case.events", 0, 1, None, case("NOTANID", "001", t=2000)),
                     InRecord("complaint.tickets", 0, 0, None, ticket)])
    assert r.rejected == [] and r.counters["mention_invalid_id"] == 1
    assert golden(db, B).name == "乙公司" and golden(db, B).premises == "某路1号"
    assert golden(db, A).name == "甲公司" and golden(db, A).kind == "enterprise"
    # the registration system's name wins over a mention
    ents.handle(records("entity.updates", [entity("market_entities", 1, B, name="宁波乙有限公司")], start=50))
    assert golden(db, B).name == "宁波乙有限公司"


def links_of(db, entity_id):
    with db.engine.connect() as c:
        return {(r.catalog_code, r.department_code, r.admin_level, r.active)
                for r in c.execute(select(EntityItemLink).where(EntityItemLink.entity_id == entity_id))}


def test_links_follow_industry_region_and_item_changes(hub):
    db, ents, items = hub
    food, market = "33000000000001", "33000000000002"
    items.handle(records("catalog.updates", [item(food, "1", "SPAQ", date(2025, 1, 1), levels=("city", "county")),
                                             item(market, "1", "SCJG", date(2025, 1, 1))]))
    ents.handle(records("entity.updates", [entity("market_entities", 1, A, industry=coded("H6210"))]))
    assert links_of(db, A) == {(food, "330100SCJ", "city", True), (food, "330106SCJ", "county", True)}
    # region moves to Ningbo, industry to retail (F5221: food safety F522 and market regulation F52)
    ents.handle(records("entity.updates", [entity("market_entities", 2, A, industry=coded("F5221"),
                                                  region_code="330212")], start=10))
    assert {x for x in links_of(db, A) if x[3]} == {(food, "330200SCJ", "city", True),
                                                    (food, "330212SCJ", "county", True),
                                                    (market, "330212SCJ", "county", True)}
    assert {x for x in links_of(db, A) if not x[3]} == {(food, "330100SCJ", "city", False),
                                                        (food, "330106SCJ", "county", False)}
    # the item is withdrawn: its links go inactive and are emitted
    before = len(outbox(db, "entity.item-links"))
    items.handle(records("catalog.updates", [item(food, "1", "SPAQ", date(2025, 1, 1), source_version=2,
                                                  operation="d")], start=10))
    assert {x for x in links_of(db, A) if x[3]} == {(market, "330212SCJ", "county", True)}
    assert len(outbox(db, "entity.item-links")) == before + 2
