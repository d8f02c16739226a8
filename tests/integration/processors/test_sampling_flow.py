"""Double random end to end: API draw -> ``sampling.draws`` on the broker -> inspection records -> completed plan."""

from __future__ import annotations

import httpx
import pytest

from hub_api.auth.service import AuthService
from tests.integration.kafka_utils import consume_all
from tests.integration.processors.harness import ProcessorHub
from tests.integration.test_sampling_api import plan_body, seed_registries
from tests.records import envelope, minimal
from topics.serde import AvroDeserializer

pytestmark = pytest.mark.integration


def test_draws_reach_the_topic_and_inspections_complete_the_plan(database_url, tmp_path):
    with ProcessorHub(database_url, tmp_path, processors="sampling") as hub:
        seed_registries(hub.db.engine, n_entities=20, n_officers=4)
        cid, secret = AuthService(hub.db, hub.settings).create_client("office", "service", ["sampling:write"])
        api = httpx.Client(base_url=hub.api.url, auth=(cid, secret), timeout=30)
        plan = api.post("/sampling/plans", json=plan_body(ratio=None, count=3)).json()
        drawn = api.post(f"/sampling/plans/{plan['plan_id']}/draw").json()
        assert drawn["status"] == "drawn", drawn

        hub.start_processor()  # its outbox relay produces what the API queued
        decode = AvroDeserializer(hub.registry)
        draws = [decode(m.value()) for m in consume_all(hub.bootstrap, "sampling.draws", expected=3, idle_seconds=0.5)]
        # (the API shows natural persons under the plan's pseudonym; the task carries the registry id)
        assert sorted((d["plan_id"], d["draw_index"], d["object_uscc"]) for d in draws) == [
            (plan["plan_id"], d["draw_index"], d["object_uscc"]) for d in drawn["draw"]]
        assert all(len(d["inspectors"]) == 2 for d in draws)
        plans = [decode(m.value()) for m in consume_all(hub.bootstrap, "sampling.plans", expected=2, idle_seconds=0.5)]
        assert [(p["status"], p["seed"] is None) for p in plans] == [("published", True), ("drawn", False)]

        records = []
        for i, d in enumerate(draws):
            value = minimal("gov.zj.supervision.inspection.InspectionRecord", plan_id=d["plan_id"],
                            inspection_number=f"JC-{i}", envelope=envelope("zj-inspect", f"JC-{i}", 1),
                            result={"code": "1", "name": "未发现问题", "code_system": None},
                            inspection_time=1_767_225_600_000, inspectors=d["inspectors"])
            value["counterpart"]["entity_id"] = d["object_id"]
            records.append(value)
        stray = minimal("gov.zj.supervision.inspection.InspectionRecord", plan_id="DR-none",
                        inspection_number="JC-x", envelope=envelope("zj-inspect", "JC-x", 1))
        hub.produce("inspection.records", [*records, stray])

        sql = "select status from sampling_plans where plan_id = :p"
        hub.wait_for(lambda: hub.scalar(sql, p=plan["plan_id"]) == "completed", timeout=60, what="plan completed")
        results = httpx.get(f"{hub.api.url}/sampling/plans/{plan['plan_id']}/results").json()["results"]
        assert [r["result_code"] for r in results] == ["1", "1", "1"]
        metrics = hub.metrics()
        assert 'hub_processor_events_total{event="linked",processor="sampling"} 3.0' in metrics
        assert 'hub_processor_events_total{event="unknown_plan",processor="sampling"} 1.0' in metrics
        completed = [decode(m.value()) for m in consume_all(hub.bootstrap, "sampling.plans", expected=3, idle_seconds=0.5)]
        assert completed[-1]["status"] == "completed"
