"""The risk loop end to end: clue on risk.alerts -> dispatch on risk.dispatches -> receive/feedback via API -> closed."""

from __future__ import annotations

import httpx

from hub_api.auth.service import AuthService
from processors.risk.processor import RiskProcessor
from processors.runtime.apply import BatchApplier
from processors.runtime.clock import FixedClock
from tests.integration.kafka_utils import consume_all
from tests.integration.processors.harness import ProcessorHub
from tests.unit.processors.test_risk_loop import Feed, local
from topics.serde import AvroDeserializer


def test_clue_pushed_received_fed_back_closed_and_ignored_clue_escalates(database_url, tmp_path):
    feed = Feed()
    with ProcessorHub(database_url, tmp_path, processors="risk") as hub:
        decode = AvroDeserializer(hub.registry)
        hub.produce("risk.alerts", [feed.clue("I1", depts=(("330106SCJ", "西湖区市场监督管理局"),)).value,
                                    feed.clue("I2", level="medium", region="330106").value])
        hub.start_processor()
        hub.wait_for(lambda: hub.scalar("select count(*) from risk_dispatches") == 2, what="two dispatches")
        msgs = [decode(m.value()) for m in consume_all(hub.bootstrap, "risk.dispatches", expected=2, idle_seconds=0.5)]
        assert sorted((m["alert_id"], m["department"]["code"]) for m in msgs) == [("I1", "330106SCJ"),
                                                                                   ("I2", "330106WJW")]
        cid, secret = AuthService(hub.db, hub.settings).create_client("dept", "service", ["risk:feedback"])
        token = httpx.post(f"{hub.api.url}/oauth/token", data={"grant_type": "client_credentials"},
                           auth=(cid, secret)).json()["access_token"]
        h = {"Authorization": f"Bearer {token}"}
        base = f"{hub.api.url}/risk/clues/I1/dispatches/I1:330106SCJ"
        assert httpx.post(f"{base}/feedback", json={}, headers=h).status_code == 422
        r = httpx.post(f"{base}/receive", json={}, headers=h)
        assert r.status_code == 200 and r.json()["state"] == "received"
        r = httpx.post(f"{base}/feedback", headers=h, json={"result": {"code": "RECTIFIED", "name": "已整改"},
                                                            "officer_certificates": ["33010012345"]})
        assert r.json()["clue_state"] == "closed" and r.json()["changed"] is True
        assert httpx.post(f"{base}/feedback", headers=h, json={"result": {"code": "X", "name": "x"}}).json()[
            "changed"] is False
        assert httpx.post(f"{base}/return", headers=h, json={"reason": "late"}).status_code == 409
        clue = httpx.get(f"{hub.api.url}/risk/clues/I1", headers=h).json()
        assert [e["kind"] for e in clue["events"]] == ["clue", "pushed", "received", "fed_back", "closed"]
        # the steps were published on risk.feedback (and the processor skips them on read-back)
        fb = [decode(m.value()) for m in consume_all(hub.bootstrap, "risk.feedback", expected=2, idle_seconds=0.5)]
        assert [f["step"] for f in fb] == ["received", "handled"]
        report = httpx.get(f"{hub.api.url}/risk/report", params={"region": "330100"}, headers=h).json()
        assert report["total"]["clues_open"] == 1
        hub.wait_for(lambda: "hub_risk_clues_open" in hub.metrics(), what="risk gauges")
        # the ignored clue escalates when the timer runs (in-process, FixedClock, same database)
        app = BatchApplier(hub.db.engine, RiskProcessor(), FixedClock(local("2030-01-01", 12)))
        assert app.run_timer(app.processor.escalate).counters.get("reminder_receive") == 1
        assert hub.scalar("select count(*) from risk_events where kind = 'supervised' and alert_id = 'I2'") == 2
