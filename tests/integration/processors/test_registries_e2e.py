"""End to end on the real broker: simulated master-data systems -> connectors -> processors -> registry API.

The market-entity register, the officer & certificate system and the item catalog are
simulated (bad records, re-sends and changes on), read by their production connector configs
(``connectors/systems/*.json``) into the catalog topics of a private Tansu broker, consumed
by ``hub process --processors items,entities,officers`` and queried over HTTP. Every answer
is compared with a recomputation from the simulators' ledgers, events and entity pool
(:mod:`tests.integration.processors.registries_truth`), never from the processors' code.
"""

from __future__ import annotations

import random
from collections import Counter
from types import SimpleNamespace

import httpx

from connectors.config import validate_config
from connectors.plugins import get_plugin
from hub_api.auth.service import AuthService
from ops.demo.catalog import get_system
from ops.demo.systems import load_config
from ops.simulators.base import now_cst
from ops.simulators.entity_pool import EntityPool
from ops.simulators.item_catalog import ItemCatalogSimulator
from ops.simulators.market_entities import MarketEntitySimulator
from ops.simulators.officer_certs import OfficerCertSimulator
from tests.integration.connectors.harness import ConnectorRun
from tests.integration.processors.harness import ProcessorHub
from tests.integration.processors.registries_truth import (
    EntityTruth,
    expected_entities,
    expected_items,
    expected_links,
    expected_officer_status,
    first_diffs,
    good_versions,
    recording,
)

SEED, ENTITIES, OFFICERS, ITEMS = 41, 300, 120, 40
CHANGES, MORE = 60, 30  # events after the initial load; more of them once the hub is running
BAD, RESEND = 0.1, 0.04  # share of defective records; share of duplicates and of out-of-order re-sends
SUPERVISORS_SAMPLE, PAGE = 50, 13
TOKEN, API_KEY = "e2e-reg-token", "e2e-catalog-key"


def _systems(tmp_path):
    common = {"seed": SEED, "bad_ratio": BAD, "duplicate_ratio": RESEND, "out_of_order_ratio": RESEND}
    market = recording(MarketEntitySimulator)(count=CHANGES, pool=EntityPool(SEED, ENTITIES), token=TOKEN, **common)
    officers = recording(OfficerCertSimulator)(count=OFFICERS + CHANGES, officers=OFFICERS, anchor=now_cst().date(),
                                               url=f"sqlite:///{tmp_path / 'officer_certs.db'}", **common)
    catalog = recording(ItemCatalogSimulator)(count=ITEMS + CHANGES, items=ITEMS, api_key=API_KEY, **common)
    values = {"MARKET_ENTITIES_BASE_URL": market.start(), "MARKET_ENTITIES_TOKEN": TOKEN,
              "OFFICER_CERTS_DB_URL": officers.start(),
              "ITEM_CATALOG_BASE_URL": catalog.start(), "ITEM_CATALOG_API_KEY": API_KEY}
    return {"market_entities": market, "officer_certs": officers, "item_catalog": catalog}, values


def _connector(name: str, values: dict, hub: ProcessorHub, writer, tmp_path) -> ConnectorRun:
    """The production config of ``name``, producing to its catalog topic on the hub's broker."""
    connector, config, errors = validate_config(load_config(get_system(name), values, name=f"e2e-{name}"))
    assert errors == [], errors
    live = SimpleNamespace(url=hub.api.url, db=hub.db, settings=hub.settings)
    return ConnectorRun(live, writer, hub.bootstrap, get_plugin(connector.plugin), config,
                        source_system=connector.source_system, catalog_topic=config.mapping.topic,
                        encoding=connector.encoding, state_dir=tmp_path / "state" / name, topic=config.mapping.topic)


def _token(hub: ProcessorHub) -> dict[str, str]:
    cid, secret = AuthService(hub.db, hub.settings).create_client("e2e-reader", "service", [])
    r = httpx.post(f"{hub.api.url}/oauth/token", data={"grant_type": "client_credentials"}, auth=(cid, secret))
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _check(what: str, want: dict, got: dict) -> None:
    diffs = first_diffs(want, got)
    assert not diffs, f"{what}: {len(want)} expected, mismatches:\n  " + "\n  ".join(diffs)


def test_registries_answer_the_simulators_ground_truth(database_url, tmp_path):
    sims, values = _systems(tmp_path)
    with ProcessorHub(database_url, tmp_path, processors="items,entities,officers") as hub:
        hub.db.create_schema()
        writer = AuthService(hub.db, hub.settings).create_client("e2e-writer", "service", ["schemas:write"])
        runs = {name: _connector(name, values, hub, writer, tmp_path) for name in sims}
        try:
            hub.start_processor()
            for run in runs.values():
                assert run.drain() > 0
            # The systems keep working while the hub runs: changes after the initial load.
            sims["market_entities"].emit(MORE)
            sims["officer_certs"].tick(MORE)
            sims["item_catalog"].emit(MORE)
            for run in runs.values():
                assert run.drain() == MORE
        finally:
            for run in runs.values():
                run.close()
            for sim in sims.values():
                sim.stop()

        # Consumed everything: one processed record id per good (key, version), nothing else.
        want_processed = {"entities": good_versions(sims["market_entities"]),
                          "officers": good_versions(sims["officer_certs"]),
                          "items": good_versions(sims["item_catalog"])}

        def processed() -> dict[str, int]:
            return dict(hub.rows("select processor, count(*) from processed_records group by processor"))
        try:
            hub.wait_for(lambda: processed() == want_processed, timeout=60, what=f"processed == {want_processed}")
        except AssertionError as exc:
            raise AssertionError(f"processed {processed()}, want {want_processed}\n{exc}") from None
        metrics = hub.metrics()
        assert 'outcome="dead_letter"' not in metrics and 'outcome="decode_error"' not in metrics, \
            [line for line in metrics.splitlines() if "hub_processor_records_total{" in line]

        entities = expected_entities(sims["market_entities"])
        items = expected_items(sims["item_catalog"])
        links = expected_links(entities, items)
        statuses = Counter(e.status for e in entities.values())
        assert statuses["1"] and statuses["2"] and statuses["deregistered"], statuses  # changes really exercised
        assert len(items) >= 0.8 * ITEMS and any(not i.active for i in items.values()), items.keys()  # some abolished

        with httpx.Client(base_url=hub.api.url, timeout=10) as api:
            _golden_records(hub, api, entities, sims["market_entities"])
            _who_supervises_me(api, entities, links)
            _whom_do_i_supervise(api, entities, links)
            _what_is_supervised(hub, api, items, links)
            _officers(hub, api, sims["officer_certs"])


def _golden_records(hub, api: httpx.Client, entities: dict[str, EntityTruth], market) -> None:
    """1. Every entity with a good registration record: the latest good version's fields."""
    got = {}
    for uscc in entities:
        r = api.get(f"/registries/entities/{uscc}")
        if r.status_code != 200:
            got[uscc] = f"HTTP {r.status_code}: {r.text[:200]}"
            continue
        rec = r.json()["record"]
        got[uscc] = EntityTruth(uscc, rec["name"], rec["region_code"], (rec.get("industry") or {}).get("code"),
                                (rec.get("status") or {}).get("code"), rec.get("premises"), rec.get("business_scope"))
    _check("golden entity records", entities, got)
    assert hub.scalar("select count(*) from entities") == len(entities)  # nothing from a dead-lettered record
    pool = market.pool
    never_good = [pool.entity(i).uscc for i in market.generator.registered if pool.entity(i).uscc not in entities]
    for uscc in never_good:
        assert api.get(f"/registries/entities/{uscc}").status_code == 404, uscc


def _who_supervises_me(api: httpx.Client, entities: dict[str, EntityTruth], links: dict[str, set]) -> None:
    """2. Items and departments per level of a sample of entities."""
    sample = random.Random(SEED).sample(sorted(entities), SUPERVISORS_SAMPLE)
    assert sum(bool(links[e]) for e in sample) >= SUPERVISORS_SAMPLE // 2  # most entities are supervised
    want, got = {}, {}
    for eid in sample:
        body = api.get(f"/registries/entities/{eid}/supervisors").json()
        e = entities[eid]
        want[eid] = (e.region_code, e.industry_code, sorted(links[eid]), sorted({(lv, d) for _, lv, d in links[eid]}))
        got[eid] = (body["region_code"], body["industry_code"],
                    sorted((i["catalog_code"], d["admin_level"], d["department_code"])
                           for i in body["items"] for d in i["departments"]),
                    sorted((lv, d["department_code"]) for lv, ds in body["departments_by_level"].items() for d in ds))
    _check("who supervises me", want, got)


def _whom_do_i_supervise(api: httpx.Client, entities: dict[str, EntityTruth], links: dict[str, set]) -> None:
    """3. The department with most entities, read page by page."""
    per_dept = Counter(dept for ls in links.values() for dept in {d for _, _, d in ls})
    dept = max(per_dept, key=lambda d: (per_dept[d], d))
    want = {eid: sorted({code for code, _, d in ls if d == dept}) for eid, ls in links.items()
            if any(d == dept for _, _, d in ls)}
    assert len(want) > 2 * PAGE  # several pages
    got, page = {}, 1
    while True:
        body = api.get(f"/registries/departments/{dept}/entities", params={"page": page, "size": PAGE}).json()
        assert body["total"] == len(want), (dept, body["total"], len(want))
        for e in body["entities"]:
            assert e["entity_id"] not in got, f"{e['entity_id']} on two pages"
            got[e["entity_id"]] = sorted(e["catalog_codes"])
        if page * PAGE >= body["total"]:
            break
        page += 1
    _check(f"whom does {dept} supervise", want, got)


def _what_is_supervised(hub, api: httpx.Client, items: dict, links: dict[str, set]) -> None:
    """4. Every item: current version, check contents, active flag, entity count."""
    counts = Counter(code for ls in links.values() for code in {c for c, _, _ in ls})
    want = {code: (it.active, it.version, it.contents, counts.get(code, 0)) for code, it in items.items()}
    got = {}
    for code in items:
        r = api.get(f"/registries/items/{code}")
        if r.status_code != 200:
            got[code] = f"HTTP {r.status_code}"
            continue
        b = r.json()
        got[code] = (b["active"], b["version"], tuple((c["content_code"], c["content"]) for c in b["check_contents"]),
                     b["entity_count"])
    _check("what is supervised (active, version, check contents, entity count)", want, got)
    assert hub.scalar("select count(*) from items") == len(items)


def _officers(hub, api: httpx.Client, officer_sim) -> None:
    """5. Every officer's effective certificate status today (Asia/Shanghai)."""
    want = expected_officer_status(officer_sim, now_cst().date())
    assert {"valid", "expired"} <= set(want.values()) and len(set(want.values())) >= 3, Counter(want.values())
    headers = _token(hub)
    got = {}
    for cert in want:
        r = api.get(f"/officers/{cert}", headers=headers)
        got[cert] = r.json()["status"] if r.status_code == 200 else f"HTTP {r.status_code}"
    _check("officer certificate status", want, got)
    assert hub.scalar("select count(*) from officers") == len(want)
