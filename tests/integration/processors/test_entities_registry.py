"""Items + entities processors through ``hub process`` on the real broker, then the registry API.

Two sources describe the same entities (with duplicates and out-of-order versions); the
golden records must equal an independent recomputation of the merge rules, the outputs
must reach the compacted topics, and the API must answer from them with personal data
masked unless the caller holds ``pii:read`` (unmasked access audited).
"""

from __future__ import annotations

import random
from datetime import date

import httpx

from hub_api.auth.service import AuthService
from processors.entities.merge import pseudonym
from schemas import regions
from schemas.codes import make_resident_id, make_uscc
from tests.integration.kafka_utils import consume_all
from tests.integration.processors.harness import ProcessorHub
from tests.unit.processors.entity_data import coded, entity, item

FOOD, MARKET = "33000000000001", "33000000000002"
INDUSTRIES = ["H6210", "F5221", "C2710", "E4700"]


def build(n_orgs: int = 120, n_people: int = 10, seed: int = 7):
    """Source records (shuffled, with duplicates) and, per entity, the versions each source sent."""
    rng = random.Random(seed)
    counties = [c for city in regions.cities() for c in regions.counties(city)]
    sent: dict[str, dict[str, list]] = {}
    values = []
    for i in range(n_orgs + n_people):
        region = rng.choice(counties)
        person = i >= n_orgs
        ident = {"resident_id": make_resident_id(region, date(1970 + i % 30, 1 + i % 12, 1 + i % 28), i % 1000)} \
            if person else {"uscc": make_uscc(region, f"{i:08d}")}
        key = pseudonym(ident["resident_id"]) if person else ident["uscc"]
        for source in ("market_entities", "taxation"):
            for version in range(1, rng.randint(1, 3) + 1):
                fields = {"name": f"{source}名称{i}v{version}", "region_code": region,
                          "industry": coded(rng.choice(INDUSTRIES)),
                          "premises": None if source == "market_entities" and version % 2 else f"{source}地址{i}"}
                v = entity(source, version, event_time_ms=rng.randint(1, 10**9), **ident, **fields)
                sent.setdefault(key, {}).setdefault(source, []).append(v)
                values.append(v)
    values += rng.sample(values, 40)  # duplicates from the sources
    rng.shuffle(values)  # out of order versions
    return values, sent


def expected(sent):
    """Independent recomputation: registration system owns the name; latest event time wins industry."""
    out = {}
    for key, by_source in sent.items():
        latest = {s: max(vs, key=lambda v: int(v["envelope"]["source_version"])) for s, vs in by_source.items()}
        reg, tax = latest["market_entities"], latest["taxation"]
        newest = max((reg, tax), key=lambda v: (v["envelope"]["event_time"], v["envelope"]["source_system"]))
        out[key] = {"name": reg["name"], "premises": reg["premises"] or tax["premises"],
                    "industry_code": newest["industry"]["code"], "region_code": reg["region_code"]}
    return out


def token(hub, scopes):
    cid, secret = AuthService(hub.db, hub.settings).create_client(f"c{len(scopes)}", "service", scopes)
    r = httpx.post(f"{hub.api.url}/oauth/token", data={"grant_type": "client_credentials"}, auth=(cid, secret))
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_registry_merges_two_sources_and_answers_who_supervises_whom(database_url, tmp_path):
    values, sent = build()
    want = expected(sent)
    distinct = len({v["envelope"]["record_id"] for v in values})
    with ProcessorHub(database_url, tmp_path, processors="items,entities") as hub:
        hub.produce("catalog.updates", [item(FOOD, "1", "SPAQ", date(2025, 1, 1), levels=("city", "county")),
                                        item(MARKET, "1", "SCJG", date(2025, 1, 1), contents=("a", "b"))])
        hub.produce("entity.updates", values)
        hub.start_processor()
        hub.wait_for(lambda: hub.scalar("select count(*) from processed_records where processor = 'entities'")
                     == distinct, what=f"{distinct} entity records processed")
        hub.wait_for(lambda: hub.scalar("select count(*) from items") == 2, what="items")

        rows = {r.entity_id: r for r in hub.rows(
            "select entity_id, name, premises, industry_code, region_code, revision, kind from entities")}
        assert rows.keys() == want.keys()
        for key, exp in want.items():
            got = rows[key]
            assert (got.name, got.premises, got.industry_code, got.region_code) == tuple(exp.values()), key
        assert hub.scalar("select count(*) from processed_records where outcome = 'dead_letter'") == 0

        # links: every entity in a food-safety industry is linked at city and county level
        food_entities = {k for k, e in want.items() if e["industry_code"].startswith(("H62", "F522"))}
        linked = {r[0] for r in hub.rows("select distinct entity_id from entity_item_links "
                                         "where catalog_code = :c and active", c=FOOD)}
        assert linked == food_entities
        hub.wait_for(lambda: hub.scalar("select count(*) from outbox") == 0, what="outbox drained")
        registry = consume_all(hub.bootstrap, "entity.registry", expected=sum(r.revision for r in rows.values()))
        assert len(registry) == sum(r.revision for r in rows.values())
        assert {m.key().decode() for m in registry} == set(want)

        # --- the API ---------------------------------------------------------------------
        api = hub.api.url
        org = next(k for k in want if not k.startswith("P") and k in food_entities)
        body = httpx.get(f"{api}/registries/entities/{org}").json()
        assert body["record"]["name"] == want[org]["name"]  # organisation names are public
        assert {s["source_system"] for s in body["source_versions"]} == {"market_entities", "taxation"}
        assert body["field_sources"]["name"] == "market_entities"

        sup = httpx.get(f"{api}/registries/entities/{org}/supervisors").json()
        region = want[org]["region_code"]
        city = region[:4] + "00"
        assert {d["department_code"] for d in sup["departments_by_level"]["county"]} >= {f"{region}SCJ"}
        assert [d["department_code"] for d in sup["departments_by_level"]["city"]] == [f"{city}SCJ"]
        assert FOOD in {i["catalog_code"] for i in sup["items"]}

        page = httpx.get(f"{api}/registries/departments/{city}SCJ/entities",
                         params={"item": FOOD, "size": 500}).json()
        in_city = {k for k in food_entities if want[k]["region_code"].startswith(city[:4])}
        assert page["total"] == len(in_city) and {e["entity_id"] for e in page["entities"]} == in_city

        item_body = httpx.get(f"{api}/registries/items/{FOOD}").json()
        assert item_body["entity_count"] == len(food_entities)
        form = httpx.get(f"{api}/registries/items/{MARKET}/form", params={"as_of": "2025-06-01"}).json()
        assert [c["content_code"] for c in form["check_contents"]] == ["a", "b"]
        assert httpx.get(f"{api}/registries/items/{MARKET}/form", params={"as_of": "2024-06-01"}).status_code == 404

        bad = httpx.get(f"{api}/registries/entities/{org[:17]}{'0' if org[17] != '0' else '1'}")
        assert bad.status_code == 422 and bad.json()["reason"] == "uscc_check"
        assert httpx.get(f"{api}/registries/entities/{make_uscc('330106', '99999999')}").status_code == 404

        # natural persons: masked without pii:read, unmasked and audited with it; reachable by resident ID
        person = next(k for k in want if k.startswith("P"))
        rid = next(v["resident_id"] for vs in sent[person].values() for v in vs)
        masked = httpx.get(f"{api}/registries/entities/{rid}", headers=token(hub, [])).json()
        assert masked["entity_id"] == person and masked["record"]["resident_id"] != rid
        assert masked["record"]["name"] != want[person]["name"] and "*" in masked["record"]["name"]
        assert hub.scalar("select count(*) from pii_access_log") == 0
        clear = httpx.get(f"{api}/registries/entities/{person}", headers=token(hub, ["pii:read"])).json()
        assert clear["record"]["resident_id"] == rid and clear["record"]["name"] == want[person]["name"]
        assert hub.scalar("select count(*) from pii_access_log where subject_id = :p", p=person) >= 1

        # explicit link through the API (registries:write) is stored, emitted and listed
        link = {"catalog_code": MARKET, "department_code": "330000SCJ", "department_name": "浙江省市场监督管理局",
                "admin_level": "province", "region_code": "330000"}
        assert httpx.post(f"{api}/registries/entities/{org}/links", json=link, headers=token(hub, [])).status_code == 403
        made = httpx.post(f"{api}/registries/entities/{org}/links", json=link,
                          headers=token(hub, ["registries:write"]))
        assert made.status_code == 201, made.text
        sup = httpx.get(f"{api}/registries/entities/{org}/supervisors").json()
        assert [d["source"] for d in sup["departments_by_level"]["province"]] == ["explicit"]
        hub.wait_for(lambda: hub.scalar("select count(*) from outbox") == 0, what="explicit link relayed")
