"""A Zhejiang joint task with a Jiangsu participant round-trips between two real hub processes.

Reuses the two-hub helpers of ``test_federation_hubs`` (``HubProcess``, ``wait_for``): the
assignment reaches Jiangsu's hub, which fans it out to its own departments; their
acceptance and results flow back and Zhejiang's aggregate shows the task completed.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
import sqlalchemy as sa

from hub_api.auth.service import AuthService
from hub_api.db import Database
from ops.settings import HubSettings
from processors.items.models import Item
from tests.integration.test_federation_hubs import HubProcess, wait_for

pytestmark = pytest.mark.integration
FOOD = "33000000000021"


def _writer(hub: HubProcess):
    db = Database(hub.db_url)
    try:
        return AuthService(db, HubSettings(database_url=hub.db_url, environment="test")).create_client(
            f"tasks-{hub.hub_id}", "service", ["tasks:write"])
    finally:
        db.dispose()


@pytest.fixture(scope="module")
def pair(tmp_path_factory, kafka_bootstrap):
    root = tmp_path_factory.mktemp("tasks-federation")
    zj, js = HubProcess(root / "zj", "330000", kafka_bootstrap), HubProcess(root / "js", "320000", kafka_bootstrap)
    try:
        engine = sa.create_engine(zj.db_url)
        with engine.begin() as conn:
            conn.execute(sa.insert(Item).values(catalog_code=FOOD, current_version="1", name="食品经营检查",
                                                domain_code="SPAQ", industry_codes="[]", implementations="[]",
                                                active="y", updated_at=datetime.now(UTC)))
        engine.dispose()
        zj.tasks, js.tasks = _writer(zj), _writer(js)
        zj.wait_ready()
        js.wait_ready()
        for me, other, name in ((zj, js, "江蘇 Jiangsu"), (js, zj, "浙江 Zhejiang")):
            key = httpx.get(f"{other.url}/federation/key").json()
            me.put_peer(other.hub_id, name=name, base_url=other.url, public_key=key["public_key"])
        yield zj, js
    finally:
        zj.stop()
        js.stop()


def test_a_cross_province_task_round_trips_to_completed(pair):
    zj, js = pair

    def task_on(hub, tid):
        r = httpx.get(f"{hub.url}/tasks/{tid}", auth=hub.tasks, timeout=10)
        return r.json() if r.status_code == 200 else None

    created = httpx.post(f"{zj.url}/tasks", auth=zj.tasks, timeout=10, json={
        "title": "长三角跨省食品联合检查", "province_codes": ["32"], "participants": [{"region_code": "330100"}],
        "initiator": {"department_code": "330000SCJ", "department_name": "浙江省市场监督管理局", "region_code": "330000"},
        "catalog_codes": [FOOD], "due_date": "2030-06-28"})
    assert created.status_code == 201, created.text
    tid = created.json()["task_id"]
    assert {a["department"]["code"] for a in created.json()["assignments"]} == {"320000", "330100SCJ"}

    remote = wait_for(lambda: task_on(js, tid), what="Jiangsu to create the task")
    assert remote["origin_peer"] == "330000" and remote["scope"] == "cross_province"
    assert [a["department"]["code"] for a in remote["assignments"]] == ["320000SCJ"]  # fanned out locally
    aid = remote["assignments"][0]["assignment_id"]

    assert httpx.post(f"{js.url}/tasks/{tid}/assignments/{aid}/accept", json={}, auth=js.tasks).status_code == 200
    peer_leg = lambda: next(a for a in task_on(zj, tid)["assignments"] if a["kind"] == "peer")  # noqa: E731
    wait_for(lambda: peer_leg()["status"] == "accepted", what="the acceptance to reach Zhejiang")
    r = httpx.post(f"{js.url}/tasks/{tid}/assignments/{aid}/result", auth=js.tasks,
                   json={"summary": "2 家抽检合格", "inspection_numbers": ["JS-2030-1"]})
    assert r.status_code == 200 and r.json()["state"] == "completed"
    wait_for(lambda: peer_leg()["status"] == "completed", what="the result to reach Zhejiang")
    leg = peer_leg()
    assert leg["result_summary"] == "2 家抽检合格" and leg["inspection_numbers"] == ["JS-2030-1"]
    # Zhejiang's own department is still open, so the task is not completed yet; then it is.
    assert task_on(zj, tid)["state"] == "in_progress"
    local = f"{tid}.330100SCJ"
    assert httpx.post(f"{zj.url}/tasks/{tid}/assignments/{local}/accept", json={}, auth=zj.tasks).status_code == 200
    done = httpx.post(f"{zj.url}/tasks/{tid}/assignments/{local}/result", json={"summary": "ok"}, auth=zj.tasks)
    assert done.json()["state"] == "completed"
    kinds = [e["kind"] for e in httpx.get(f"{zj.url}/tasks/{tid}", params={"events": "true"},
                                          auth=zj.tasks).json()["events"]]
    assert kinds.count("federation_sent") == 1 and "peer_acceptance" in kinds and "peer_result" in kinds
    for hub in (zj, js):
        assert hub.get("/federation/log/verify")["ok"] is True
