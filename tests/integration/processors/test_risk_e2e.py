"""The risk loop end to end from a simulated industry risk system, on the real broker.

The medical-waste monitoring system (``ops.simulators.risk_medical_waste``) serves its clues;
its production connector config (``connectors/systems/risk_medical_waste.json``, run by the
``http-pull`` plugin exactly as the demo does) writes them to ``risk.alerts`` of a private
broker; ``hub process --processors risk`` pushes each clue once on ``risk.dispatches``.

Routing: the connector config names the responsible department explicitly (rule ``explicit``,
no registry rows needed). The test recomputes that department independently from the data
standard: medical-waste clues belong to the health domain (``WSJK``), pushed at province level,
so ``schemas.domains.department_code("WSJK", "330000")`` (and its name). One clue is then
received and fed back through the API and closes; the others are left alone and escalate when
the escalation timer runs in-process with a ``FixedClock`` past their deadlines.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import httpx
import pytest

from connectors.config import validate_config
from connectors.plugins import get_plugin
from hub_api.auth.service import AuthService
from ops.demo.http_systems import SPECS
from ops.demo.systems import DemoEnv, load_config
from processors.catalog import PROCESSORS
from processors.runtime.apply import BatchApplier
from processors.runtime.clock import FixedClock
from schemas import domains
from tests.integration.connectors.harness import ConnectorRun
from tests.integration.kafka_utils import consume_all
from tests.integration.processors.harness import ProcessorHub
from topics.serde import AvroDeserializer

SPEC = {spec.name: spec for spec in SPECS}["risk_medical_waste"]


def loop_kinds(hub: ProcessorHub, alert_id: str) -> list[str]:
    """The clue's events in order, without ``updated`` (the source's later versions of the clue)."""
    return [r[0] for r in hub.rows("select kind from risk_events where alert_id = :a and kind <> 'updated' "
                                   "order by id", a=alert_id)]


@pytest.mark.timeout(120)
def test_simulated_risk_system_clue_is_dispatched_fed_back_closed_and_ignored_clue_escalates(database_url, tmp_path):
    with ProcessorHub(database_url, tmp_path, processors="risk") as hub:
        system = SPEC.make(DemoEnv(workdir=tmp_path, hub_url=hub.api.url, seed=31, count=16, bad_ratio=0.0))
        sim = system.simulator
        try:
            connector, plugin_config, errors = validate_config(load_config(SPEC, system.values, name="it-risk-mw"))
            assert errors == []
            writer = AuthService(hub.db, hub.settings).create_client("ci-writer", "service", ["schemas:write"])
            run = ConnectorRun(SimpleNamespace(url=hub.api.url, db=hub.db, settings=hub.settings), writer,
                               hub.bootstrap, get_plugin(connector.plugin), plugin_config,
                               source_system=connector.source_system, catalog_topic="risk.alerts",
                               topic="risk.alerts")
            try:
                assert run.drain() == len(sim.ledger)
            finally:
                run.close()
        finally:
            sim.stop()
        clue_ids = sorted({row["clueId"] for row in sim.rows})
        assert len(clue_ids) >= 2, clue_ids

        hub.start_processor()
        dept = domains.department_code("WSJK", "330000")
        dept_name = domains.department_name("WSJK", "330000")
        expected = {f"{a}:{dept}" for a in clue_ids}
        hub.wait_for(lambda: hub.scalar("select count(*) from risk_dispatches") == len(expected), timeout=60,
                     what="one dispatch per clue")
        decode = AvroDeserializer(hub.registry)
        msgs = [decode(m.value()) for m in consume_all(hub.bootstrap, "risk.dispatches", expected=len(expected),
                                                       idle_seconds=0.5)]
        assert sorted(m["dispatch_id"] for m in msgs) == sorted(expected)  # each pushed once, to the right place
        assert {(m["department"]["code"], m["department"]["name"], m["region_code"]) for m in msgs} == {
            (dept, dept_name, "330000")}
        assert {m["matched_rule"] for m in msgs} == {"explicit"}

        # clue A: received and fed back by the department through the API -> closed
        a, b = clue_ids[0], clue_ids[1]
        cid, secret = AuthService(hub.db, hub.settings).create_client("wjw", "service", ["risk:feedback"])
        token = httpx.post(f"{hub.api.url}/oauth/token", data={"grant_type": "client_credentials"},
                           auth=(cid, secret)).json()["access_token"]
        h = {"Authorization": f"Bearer {token}"}
        base = f"{hub.api.url}/risk/clues/{a}/dispatches/{a}:{dept}"
        r = httpx.post(f"{base}/receive", json={"department_code": dept}, headers=h)
        assert r.status_code == 200 and r.json()["state"] == "received" and r.json()["clue_state"] == "received"
        r = httpx.post(f"{base}/feedback", headers=h, json={"department_code": dept,
                                                            "result": {"code": "RECTIFIED", "name": "已整改"}})
        assert r.status_code == 200 and r.json()["state"] == "fed_back" and r.json()["clue_state"] == "closed"
        clue = httpx.get(f"{hub.api.url}/risk/clues/{a}", headers=h).json()
        assert clue["state"] == "closed" and [d["state"] for d in clue["dispatches"]] == ["fed_back"]
        # the processor reads the API's steps back from risk.feedback and skips them (same event ids)
        hub.wait_for(lambda: hub.scalar("select count(*) from processed_records where record_id like "
                                        "'hub.risk.api:%'") == 2, timeout=30, what="API steps read back")
        assert loop_kinds(hub, a) == ["clue", "pushed", "received", "fed_back", "closed"]

        # clue B (and the rest) left alone: the escalation timer, in-process, a month later
        later = datetime.now(UTC) + timedelta(days=31)
        app = BatchApplier(hub.db.engine, PROCESSORS["risk"], FixedClock(later))
        counters = app.run_timer(PROCESSORS["risk"].escalate).counters
        ignored = len(clue_ids) - 1
        assert counters.get("reminder_receive") == ignored and counters.get("supervised_receive") == ignored
        assert counters.get("reminder_feedback") == ignored
        assert loop_kinds(hub, b) == ["clue", "pushed", "reminder", "supervised", "reminder", "supervised"]
        assert hub.scalar("select count(*) from supervision_alerts where subject_id = :b", b=b) == 4
        assert hub.scalar("select count(*) from risk_events where alert_id = :a and kind in "
                          "('reminder', 'supervised')", a=a) == 0
        # a second tick takes no step twice
        assert app.run_timer(PROCESSORS["risk"].escalate).counters.get("reminder_receive") is None
