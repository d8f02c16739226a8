"""Double random over the API (real HTTP, SQLite and PostgreSQL): commit, draw, publish, verify, refuse."""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, date, datetime

import httpx
import pytest
from sqlalchemy import insert, select, text

from hub_api.auth.service import AuthService
from hub_api.sampling import draw as algo
from processors.entities.models import Entity, EntityItemLink
from processors.items.models import Item
from processors.officers.models import Officer
from processors.runtime.models import OutboxRow
from schemas.codes import make_uscc

pytestmark = pytest.mark.integration

ITEM = "33010000000001"
DEPT_USCC = make_uscc("330100", "00000001", "1", "1")
NOW = datetime(2026, 3, 2, tzinfo=UTC)


def entity_rows(start: int, n: int, region: str = "330102") -> list[dict]:
    return [{"entity_id": make_uscc(region, f"{i:08d}"), "kind": "enterprise", "name": f"企业{i}",
             "uscc": make_uscc(region, f"{i:08d}"), "industry_code": "F52", "region_code": region,
             "status_code": "1", "risk_grade_code": "B", "sources": "aic", "field_sources": "{}", "revision": 1,
             "updated_at": NOW} for i in range(start, start + n)]


def seed_registries(engine, n_entities: int = 60, n_officers: int = 8) -> dict:
    """Entities linked to ITEM (+2 natural persons, +1 unlinked), officers (+ invalid ones), the item."""
    entities = entity_rows(0, n_entities // 2, "330102") + entity_rows(1000, n_entities - n_entities // 2, "330103")
    persons = [{"entity_id": f"P{i:031d}", "kind": "natural_person", "name": f"张三{i}", "uscc": None,
                "industry_code": "F52", "region_code": "330102", "status_code": "1", "risk_grade_code": None,
                "sources": "aic", "field_sources": "{}", "revision": 1, "updated_at": NOW} for i in range(2)]
    unlinked = entity_rows(5000, 1)
    links = [{"link_id": f"L{e['entity_id']}", "entity_id": e["entity_id"], "catalog_code": ITEM,
              "department_code": "scjg", "department_name": "市场监管局", "admin_level": "county",
              "region_code": e["region_code"], "source": "derived", "rule": None, "active": True, "updated_at": NOW}
             for e in entities + persons]

    def officer(i: int, status: str = "valid", domains=("market",), valid_to=date(2030, 1, 1), region="330102"):
        return {"certificate_number": f"ZJ33{i:06d}", "name": f"李执法{i}", "department_code": "scjg",
                "department_name": "市场监管局", "region_code": region, "domains": json.dumps(list(domains)),
                "valid_to": valid_to, "recorded_status": status, "status": status, "event_time": NOW,
                "updated_at": NOW}

    officers = [officer(i, region="330102" if i % 2 else "330103") for i in range(n_officers)]
    invalid = [officer(900, status="suspended"), officer(901, valid_to=date(2020, 1, 1)),
               officer(902, domains=("traffic",))]
    with engine.begin() as conn:
        conn.execute(insert(Entity), entities + persons + unlinked)
        conn.execute(insert(EntityItemLink), links)
        conn.execute(insert(Officer), officers + invalid)
        conn.execute(insert(Item), [{"catalog_code": ITEM, "current_version": "1", "name": "食品经营检查",
                                     "domain_code": "market", "industry_codes": '["F52"]', "implementations": "[]",
                                     "updated_at": NOW}])
    return {"objects": len(entities) + len(persons), "officers": [o["certificate_number"] for o in officers],
            "invalid": [o["certificate_number"] for o in invalid]}


def plan_body(**overrides) -> dict:
    body = {"name": "2026年食品经营双随机抽查", "year": 2026, "region_code": "330100", "department_code": "scjg",
            "department_name": "杭州市市场监督管理局", "department_uscc": DEPT_USCC, "catalog_codes": [ITEM],
            "ratio": 0.1, "inspectors_per_object": 2}
    body.update(overrides)
    return body


def writer(hub) -> httpx.Client:
    cid, secret = AuthService(hub.db, hub.settings).create_client("sampling-office", "service", ["sampling:write"])
    token = httpx.post(f"{hub.url}/oauth/token", data={"grant_type": "client_credentials"},
                       auth=(cid, secret)).json()["access_token"]
    return httpx.Client(base_url=hub.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_commit_draw_publish_verify_and_refuse(live_hub):
    pools = seed_registries(live_hub.db.engine)
    api = writer(live_hub)
    url = live_hub.url

    anon = httpx.post(f"{url}/sampling/plans", json=plan_body())
    assert anon.status_code == 401 and anon.json()["error"] == "unauthorized"
    rid, rsecret = AuthService(live_hub.db, live_hub.settings).create_client("reader", "department", [])
    forbidden = httpx.post(f"{url}/sampling/plans", json=plan_body(), auth=(rid, rsecret))
    assert forbidden.status_code == 403 and forbidden.json()["required_scope"] == "sampling:write"
    both = api.post("/sampling/plans", json=plan_body(count=3))
    assert both.status_code == 422 and both.json()["error"] == "validation_error"
    assert api.post("/sampling/plans", json=plan_body(inspectors_per_object=1)).status_code == 422
    assert api.post("/sampling/plans", json=plan_body(surprise=1)).status_code == 422

    created = api.post("/sampling/plans", json=plan_body(recusal={"same_region": "county"}))
    assert created.status_code == 201, created.text
    plan = created.json()
    plan_id, commitment = plan["plan_id"], plan["seed_commitment"]
    assert plan["status"] == "published" and plan["seed"] is None and len(commitment) == 64
    before = httpx.get(f"{url}/sampling/plans/{plan_id}").json()
    assert before["seed"] is None and "draw" not in before and before["object_snapshot_hash"] is None
    assert httpx.get(f"{url}/sampling/plans/{plan_id}/published").json()["error"] == "not_drawn"
    assert httpx.post(f"{url}/sampling/plans/{plan_id}/draw").status_code == 401

    drawn = api.post(f"/sampling/plans/{plan_id}/draw")
    assert drawn.status_code == 200, drawn.text
    result = drawn.json()
    assert result["status"] == "drawn"
    assert hashlib.sha256(bytes.fromhex(result["seed"])).hexdigest() == commitment
    assert result["object_pool_size"] == pools["objects"]
    assert result["inspector_pool_size"] == len(pools["officers"])
    assert len(result["draw"]) == math.ceil(0.1 * pools["objects"])
    for d in result["draw"]:
        certs = [m["certificate_number"] for m in d["inspectors"]]
        assert len(set(certs)) == 2 and not set(certs) & set(pools["invalid"])
        assert all("*" in m["name"] for m in d["inspectors"])  # masked without pii:read
        assert all(r["reason"] == "same_county" for r in d["recused"])

    published = httpx.get(f"{url}/sampling/plans/{plan_id}/published").json()
    assert algo.verify(published).as_dict() == {"verified": True, "diffs": []}
    assert not any(e[0].startswith("P0") for e in published["objects"]["entries"])  # natural persons pseudonymised
    assert sum(e[0].startswith("NP-") for e in published["objects"]["entries"]) == 2
    assert "李执法" not in json.dumps(published, ensure_ascii=False)
    raw = httpx.get(f"{url}/sampling/plans/{plan_id}/snapshots/objects").content
    assert hashlib.sha256(raw).hexdigest() == result["object_snapshot_hash"]
    assert httpx.get(f"{url}/sampling/plans/{plan_id}/verify").json()["verified"] is True

    again = api.post(f"/sampling/plans/{plan_id}/draw")
    assert again.status_code == 409 and again.json()["error"] == "already_drawn"
    assert api.patch(f"/sampling/plans/{plan_id}", json={"name": "x"}).status_code == 409
    assert api.post(f"/sampling/plans/{plan_id}/cancel").json()["error"] == "plan_immutable"
    assert httpx.get(f"{url}/sampling/plans/{plan_id}/results").json()["error"] == "not_completed"
    after = httpx.get(f"{url}/sampling/plans/{plan_id}").json()
    assert [d["object_id"] for d in after["draw"]] == [d["object_id"] for d in published["draw"]]

    events = [e["event"] for e in httpx.get(f"{url}/sampling/plans/{plan_id}/audit").json()["events"]]
    assert events == ["created", "published", "drawn", "tasks_emitted", "change_refused"]
    with live_hub.db.engine.connect() as conn:
        topics = conn.execute(select(OutboxRow.topic)).scalars().all()
    assert topics.count("sampling.plans") == 2 and topics.count("sampling.draws") == len(result["draw"])

    # A changed pool: one more entity; a new plan freezes a different snapshot.
    with live_hub.db.engine.begin() as conn:
        extra = entity_rows(7000, 1)
        conn.execute(insert(Entity), extra)
        conn.execute(text("insert into entity_item_links (link_id, entity_id, catalog_code, department_code, "
                          "department_name, admin_level, region_code, source, active, updated_at) values "
                          "('Lx', :e, :c, 'scjg', 'x', 'county', '330102', 'derived', :t, :n)"),
                     {"e": extra[0]["entity_id"], "c": ITEM, "t": True, "n": NOW})
    second = api.post("/sampling/plans", json=plan_body()).json()
    second_drawn = api.post(f"/sampling/plans/{second['plan_id']}/draw").json()
    assert second_drawn["object_pool_size"] == pools["objects"] + 1
    assert second_drawn["object_snapshot_hash"] != result["object_snapshot_hash"]
    assert second_drawn["inspector_snapshot_hash"] == result["inspector_snapshot_hash"]


def test_refusals_are_machine_readable(live_hub):
    seed_registries(live_hub.db.engine, n_entities=10, n_officers=3)
    api = writer(live_hub)
    assert api.get("/sampling/plans/DR-none").json()["error"] == "plan_not_found"
    assert api.post("/sampling/plans/DR-none/draw").status_code == 404

    big_team = api.post("/sampling/plans", json=plan_body(inspectors_per_object=4)).json()
    r = api.post(f"/sampling/plans/{big_team['plan_id']}/draw")
    assert r.status_code == 409 and r.json()["error"] == "pool_too_small"
    assert "inspectors per object" in r.json()["message"]
    assert api.get(f"/sampling/plans/{big_team['plan_id']}").json()["status"] == "published"  # rolled back

    empty = api.post("/sampling/plans", json=plan_body(object_filters={"kinds": ["other"]})).json()
    assert api.post(f"/sampling/plans/{empty['plan_id']}/draw").json()["error"] == "empty_pool"
    cancelled = api.post(f"/sampling/plans/{empty['plan_id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert api.post(f"/sampling/plans/{empty['plan_id']}/draw").json()["error"] == "plan_not_drawable"
    events = [e["event"] for e in api.get(f"/sampling/plans/{empty['plan_id']}/audit").json()["events"]]
    assert events == ["created", "published", "draw_refused", "cancelled"]
