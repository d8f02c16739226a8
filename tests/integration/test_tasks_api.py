"""The joint-task API over real HTTP on SQLite and PostgreSQL (``live_hub``)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
import sqlalchemy as sa

from hub_api.auth.service import AuthService
from processors.items.models import Item
from processors.runtime.models import OutboxRow
from schemas.codes import make_uscc

pytestmark = pytest.mark.integration
FOOD, ENV = "33000000000011", "33000000000012"


@pytest.fixture
def hub(live_hub):
    with live_hub.db.engine.begin() as conn:
        for code, domain in ((FOOD, "SPAQ"), (ENV, "STHJ")):
            conn.execute(sa.insert(Item).values(catalog_code=code, current_version="1", name=code, domain_code=domain,
                                                industry_codes="[]", implementations="[]", active="y",
                                                updated_at=datetime.now(UTC)))
    auth = AuthService(live_hub.db, live_hub.settings)
    live_hub.writer = auth.create_client("tasks-writer", "service", ["tasks:write"])
    live_hub.reader = auth.create_client("no-tasks", "service", ["pii:read"])
    return live_hub


def test_a_joint_task_is_fanned_out_acted_on_and_merged_into_visits(hub):
    url, auth = f"{hub.url}/tasks", hub.writer
    entity = make_uscc("330106", "34567890")
    body = {"title": "春季食品联合检查",
            "initiator": {"department_code": "330100SCJ", "department_name": "杭州市市场监督管理局", "region_code": "330100"},
            "participants": [{"region_code": "330106"}], "catalog_codes": [FOOD, ENV],
            "target_entity_ids": [entity], "visit_date": "2030-05-06", "due_date": "2030-05-10"}
    assert httpx.post(url, json=body).status_code == 401
    assert httpx.post(url, json=body, auth=hub.reader).status_code == 403
    bad = httpx.post(url, json={**body, "colour": "red"}, auth=auth)
    assert bad.status_code == 422 and bad.json()["error"] == "validation_error"
    unknown = httpx.post(url, json={**body, "catalog_codes": ["33999999999999"]}, auth=auth)
    assert (unknown.status_code, unknown.json()["reason"]) == (422, "unknown_items")
    no_peer = httpx.post(url, json={**body, "province_codes": ["34"]}, auth=auth)
    assert (no_peer.status_code, no_peer.json()["reason"]) == (422, "unknown_peer")

    created = httpx.post(url, json=body, auth=auth)
    assert created.status_code == 201, created.text
    task = created.json()
    tid = task["task_id"]
    assert task["state"] == "dispatched"
    assert sorted(a["department"]["code"] for a in task["assignments"]) == ["330106SCJ", "330106STJ"]

    visits = httpx.get(f"{url}/visits", params={"date": "2030-05-06", "department": "330106STJ"}, auth=auth).json()
    assert len(visits) == 1 and {d["code"] for d in visits[0]["departments"]} == {"330106SCJ", "330106STJ"}
    assert visits[0]["entity_id"] == entity and set(visits[0]["catalog_codes"]) == {FOOD, ENV}

    for code in ("330106SCJ", "330106STJ"):
        aid = f"{tid}.{code}"
        r = httpx.post(f"{url}/{tid}/assignments/{aid}/accept", json={}, auth=auth)
        assert r.status_code == 200, r.text
    assert r.json()["state"] == "in_progress"
    again = httpx.post(f"{url}/{tid}/assignments/{tid}.330106SCJ/decline", json={"reason": "late"}, auth=auth)
    assert (again.status_code, again.json()["reason"]) == (409, "invalid_transition")
    for code in ("330106SCJ", "330106STJ"):
        r = httpx.post(f"{url}/{tid}/assignments/{tid}.{code}/result",
                       json={"summary": "no problems", "inspection_numbers": [f"JC-{code}"]}, auth=auth)
        assert r.status_code == 200, r.text
    final = httpx.get(f"{url}/{tid}", params={"events": "true"}, auth=auth).json()
    assert final["state"] == "completed" and final["counts"] == {"completed": 2}
    assert [e["kind"] for e in final["events"]].count("completed") == 1

    mine = httpx.get(url, params={"department": "330106STJ"}, auth=auth).json()
    assert [t["task_id"] for t in mine] == [tid] and mine[0]["state"] == "completed"
    assert httpx.get(url, params={"department": "330999XX"}, auth=auth).json() == []
    assert httpx.get(f"{url}/nope", auth=auth).status_code == 404
    with hub.db.engine.connect() as conn:
        by_topic = dict(conn.execute(sa.select(OutboxRow.topic, sa.func.count()).group_by(OutboxRow.topic)).all())
    # 1 task, 2 assignments; status: created + 2 accepts + 2 results + task completed.
    assert by_topic == {"task.joint": 1, "task.assignments": 2, "task.status": 6}


def test_a_department_client_acts_only_for_its_own_department(hub):
    url = f"{hub.url}/tasks"
    auth = AuthService(hub.db, hub.settings)
    city = auth.create_client("hz-scj", "service", ["tasks:write"], department_code="330100SCJ")
    scj = auth.create_client("xh-scj", "service", ["tasks:write"], department_code="330106SCJ")
    body = {"title": "联合检查",
            "initiator": {"department_code": "330100SCJ", "department_name": "杭州市市场监督管理局", "region_code": "330100"},
            "participants": [{"region_code": "330106"}], "catalog_codes": [FOOD, ENV],
            "target_entity_ids": [make_uscc("330106", "45678901")], "visit_date": "2030-05-06",
            "due_date": "2030-05-10"}
    as_other = httpx.post(url, json=body, auth=scj)
    assert (as_other.status_code, as_other.json()["reason"]) == (403, "wrong_department")
    created = httpx.post(url, json=body, auth=city)
    assert created.status_code == 201, created.text
    tid = created.json()["task_id"]
    # the market bureau may not accept the environment bureau's assignment, only its own
    theirs = httpx.post(f"{url}/{tid}/assignments/{tid}.330106STJ/accept", json={}, auth=scj)
    assert (theirs.status_code, theirs.json()["reason"]) == (403, "wrong_department")
    assert httpx.post(f"{url}/{tid}/assignments/{tid}.330106SCJ/accept", json={}, auth=scj).status_code == 200
    # a client without a department (the hub's operators) is not restricted
    assert httpx.post(f"{url}/{tid}/assignments/{tid}.330106STJ/accept", json={}, auth=hub.writer).status_code == 200
    statuses = {a["department"]["code"]: a["status"] for a in httpx.get(f"{url}/{tid}", auth=city).json()["assignments"]}
    assert statuses == {"330106SCJ": "accepted", "330106STJ": "accepted"}
