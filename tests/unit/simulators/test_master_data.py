"""The entity pool (ground truth), the master-data generators and the parties shared with the
penalty and complaint generators: valid codes, all eleven cities, determinism, and every
defect rejected by the production connector mapping with the ledger's reason."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date

import pytest

from connectors.config import validate_config
from connectors.declarative.common import to_payload
from connectors.mapping import DeclarativeMapper
from connectors.runtime.contract import MappingError
from connectors.runtime.pipeline import RecordRejected, repair, validate
from ops.demo.catalog import get_system
from ops.demo.systems import load_config
from ops.simulators.cases import CaseGenerator
from ops.simulators.entity_pool import EntityPool, shared_pool
from ops.simulators.item_catalog import ItemCatalogSimulator
from ops.simulators.market_entities import MarketEntitySimulator
from ops.simulators.officer_certs import OfficerGenerator, row
from ops.simulators.tickets import TicketGenerator
from schemas.codes import is_valid_resident_id, is_valid_uscc
from schemas.domains import domains_for_industry
from schemas.regions import cities, is_known_region
from topics.catalog import CATALOG


@pytest.fixture(scope="module")
def pool() -> EntityPool:
    return EntityPool(7, 3000)


def test_pool_codes_are_valid_and_unique(pool):
    entities = list(pool)
    assert len({e.entity_id for e in entities}) == len(entities) == 3000
    for e in entities:
        assert is_known_region(e.region_code) and e.region_code.startswith("33") and e.region_code[4:] != "00"
        if e.kind == "natural_person":
            assert e.uscc is None and is_valid_resident_id(e.resident_id) and e.entity_id == e.resident_id
            assert e.resident_id[:6] == e.region_code
        else:
            assert is_valid_uscc(e.uscc) and e.entity_id == e.uscc and e.uscc[2:8] == e.region_code
            assert e.uscc[:2] == ("91" if e.kind == "enterprise" else "92")
            assert e.name and e.short_name in e.name and e.industry_code and e.registration_date
            assert (e.legal_representative if e.kind == "enterprise" else e.operator_name)


def test_pool_spans_all_eleven_cities_kinds_and_supervised_industries(pool):
    entities = list(pool)
    assert {e.city_code for e in entities} == set(cities())
    assert {e.city_code for e in entities[:300]} == set(cities())  # even a small test register
    kinds = Counter(e.kind for e in entities)
    assert kinds["enterprise"] > kinds["individual_business"] > kinds["natural_person"] > 0
    businesses = [e for e in entities if e.industry_code]
    supervised = sum(bool(domains_for_industry(e.industry_code)) for e in businesses)
    assert supervised / len(businesses) > 0.9


def test_pool_is_deterministic_and_size_independent(pool):
    again, bigger, other = EntityPool(7, 3000), EntityPool(7, 60_000), EntityPool(8, 3000)
    for i in (0, 1, 17, 2999):
        assert pool.entity(i) == again.entity(i) == bigger.entity(i)
        assert pool.entity(i).entity_id != other.entity(i).entity_id
    with pytest.raises(IndexError):
        pool.entity(3000)


def _replay(sim, system: str, values: dict) -> Counter:
    """Push every row of ``sim`` through the production mapping + validation; compare with the ledger."""
    raw = load_config(get_system(system), values)
    _, config, errors = validate_config(raw)
    assert errors == [], errors
    mapper, schema = DeclarativeMapper(config.mapping), CATALOG[config.mapping.topic].value_schema
    outcomes = Counter()
    for doc, entry in zip(sim, sim.ledger.entries if hasattr(sim, "ledger") else [], strict=True):
        doc = repair(json.loads(doc) if isinstance(doc, str) else doc, config.identifier_fields)
        try:
            value = mapper(doc, None)[0].value
            value["envelope"].update(record_id="r", source_system=system, source_position={"partition": "p",
                                     "offset": "1"}, ingest_time=0, source_key="k", source_version="1")
            validate(schema, value)
            reason = None
        except (MappingError, RecordRejected) as exc:
            reason = exc.reason
        expected = entry["reason"] if entry["outcome"] == "dead" else None
        assert reason == expected, (entry, reason)
        outcomes[reason or entry["outcome"]] += 1
    return outcomes


class _Rows(list):
    def __init__(self, rows, ledger):
        super().__init__(rows)
        self.ledger = ledger


def test_market_entity_rows_map_and_defects_match_the_ledger(tmp_path):
    sim = MarketEntitySimulator(3, 300, pool_size=400, bad_ratio=0.15)
    assert sim.generator._next == 400 and len(sim.generator.registered) == sum(
        e.kind != "natural_person" for e in sim.pool)
    out = _replay(_Rows(sim.rows, sim.ledger), "market_entities", {"MARKET_ENTITIES_BASE_URL": "http://h",
                                                                   "MARKET_ENTITIES_TOKEN": "t"})
    assert {"uscc_check", "region_unknown", "schema"} <= set(out) and out["good"] > 500
    stages = Counter(json.loads(r)["BGLX"] for r in sim.rows)
    assert stages["register"] and stages["premises"] and stages["scope"] and stages["revoke"] + stages["cancel"]
    assert [json.loads(r) for r in sim.rows] == [json.loads(r) for r in MarketEntitySimulator(
        3, 300, pool_size=400, bad_ratio=0.15).rows]  # deterministic


def test_officer_rows_map_and_defects_match_the_ledger():
    gen = OfficerGenerator(4, 0.15, officers=300, anchor=date(2026, 1, 15))
    events = gen.take(500)
    from ops.simulators.ledger import Ledger

    ledger = Ledger(system="officer_certs")
    for ev in events:
        ledger.record(ev, reason=gen.reason(ev))
    docs = [json.loads(to_payload(row(ev))) for ev in events]
    out = _replay(_Rows(docs, ledger), "officer_certs", {"OFFICER_CERTS_DB_URL": "sqlite:///x.db"})
    assert {"schema", "unknown_code", "bad_date"} <= set(out)
    assert len({ev.source_key for ev in events if ev.stage == "issuance"}) == 300
    assert {ev.stage for ev in events} >= {"renewal", "suspension", "revocation"}


def test_item_catalog_rows_map_and_defects_match_the_ledger():
    sim = ItemCatalogSimulator(5, 400, items=120, bad_ratio=0.15)
    out = _replay(_Rows(sim.rows, sim.ledger), "item_catalog", {"ITEM_CATALOG_BASE_URL": "http://h",
                                                               "ITEM_CATALOG_API_KEY": "k"})
    assert {"item_code_format", "region_unknown", "schema"} <= set(out)


def test_penalty_parties_and_complaint_targets_are_pool_entities_with_other_data():
    pool = EntityPool(2, 500)
    truth = {e.entity_id: e for e in pool}
    cases = {}
    for ev in CaseGenerator(2, "330000SCJ", pool=pool, pool_share=0.6).take(2000):
        if ev.defect is None:
            cases.setdefault(ev.source_key, ev.fields)  # one party per case
    shared = [f for f in cases.values() if f["party_id"] in truth]
    assert 0.45 < len(shared) / len(cases) < 0.75
    assert {f["party_type"] for f in shared} == {"enterprise", "person"}
    for f in shared:
        e = truth[f["party_id"]]
        assert f["party_name"] in (e.name, e.short_name) and f["party_address"] in (e.premises, e.former_premises)
    assert any(truth[f["party_id"]].name != f["party_name"] for f in shared)  # partly different data
    assert any(truth[f["party_id"]].premises != f["party_address"] for f in shared)

    tickets = {}
    for ev in TicketGenerator(2, pool=pool, pool_share=0.6).take(1500):
        if ev.defect is None:
            tickets.setdefault(ev.source_key, ev.fields)
    hits = [t for t in tickets.values() if t["target_uscc"] in truth]
    assert 0.4 < len(hits) / len(tickets) < 0.75
    assert all(truth[t["target_uscc"]].kind != "natural_person" and t["target_name"] in t["text"] for t in hits)

    assert CaseGenerator(2, "330000SCJ").pool is shared_pool(2)  # the demo's pool by default
    assert CaseGenerator(2, "330000SCJ", pool_share=0.0).pool is None
