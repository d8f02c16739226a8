"""The HTTP-pulled systems against their simulators, the real broker and the live registry.

Each test builds its system exactly as the demo does (``ops.demo.http_systems``: simulator +
``connectors/systems/<system>.json`` with its ``${NAME}`` placeholders filled), validates the
config as ``POST /connectors`` would, runs the declarative ``http-pull`` plugin into private
topics and reconciles with the simulator's ledger: every good (key, version) exactly once
after deduplication, every bad one in the dead-letter topic with its reason, nothing else.
Then the system keeps working: a restarted task reads exactly the records emitted since.

The 12345 platform also gets its handling feedback back: the ``http-webhook`` sink of
``complaint_feedback.json`` delivers feedback records to the platform's signed receiver,
each exactly once, with personal data masked.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter

import pytest
from kafka import KafkaAdminClient

from connectors.config import validate_config
from connectors.plugins import get_plugin
from connectors.sinks.runner import sink_runner
from ops.demo.http_systems import SPECS
from ops.demo.systems import DemoEnv, RunningSystem, load_config
from ops.simulators.reconcile import reconcile
from schemas.loader import schema_json
from tests.integration.connectors.harness import ConnectorRun
from tests.integration.kafka_utils import consume_all
from topics.catalog import CATALOG
from topics.provision import ensure_topic
from topics.serde import AvroSerializer
from topics.transport import make_producer

pytestmark = pytest.mark.integration

SPEC = {spec.name: spec for spec in SPECS}
COUNT, BAD_RATIO, MORE = 250, 0.08, 30
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def start(name: str, tmp_path, seed: int) -> tuple[RunningSystem, dict]:
    """The running simulator of ``name`` and its validated connector config (raw dict)."""
    env = DemoEnv(workdir=tmp_path, hub_url="http://127.0.0.1:9", seed=seed, count=COUNT, bad_ratio=BAD_RATIO)
    system = SPEC[name].make(env)
    return system, load_config(SPEC[name], system.values, name=f"it-{name.replace('_', '-')}")


def connector_run(live_hub, writer_client, kafka_bootstrap, raw: dict) -> ConnectorRun:
    connector, plugin_config, errors = validate_config(raw)
    assert errors == [], errors
    assert connector.plugin == "http-pull"
    return ConnectorRun(live_hub, writer_client, kafka_bootstrap, get_plugin(connector.plugin), plugin_config,
                        source_system=connector.source_system, catalog_topic=plugin_config.mapping.topic,
                        encoding=connector.encoding)


def check(run: ConnectorRun, sim, system: str) -> tuple[dict, list[dict]]:
    """Reconcile the run's topics with the ledger; returns the report and the standard records."""
    standard, dead = run.collect(expected=len(sim.ledger))
    report = reconcile(system, sim.ledger.expected(), len(sim.ledger), standard, dead)
    assert report["missing"] == 0 and report["unexpected"] == 0, report
    assert report["dead_missing"] == 0 and report["dead_observed"] == report["dead_expected"], report
    assert report["duplicates_after_dedup"] == 0 and report["ok"], report
    assert sum(report["dead_expected"].values()) >= 5, report  # the run really exercised rejections
    assert len(standard) + len(dead) == len(sim.ledger)  # one message per emission, nothing re-read
    print(f"\n{system}: {report}")
    return report, standard


def wait_past_lag(sim, lag_seconds: float) -> None:
    """Time-window sources only see records stamped before ``now - lag``: wait until the last one is."""
    last_ms = sim.stamps[-1] if sim.stamps else 0
    delay = last_ms / 1000 + lag_seconds + 0.3 - time.time()
    if delay > 0:
        time.sleep(delay)


def exercise(name: str, tmp_path, live_hub, writer_client, kafka_bootstrap, *, seed: int) -> tuple:
    system, raw = start(name, tmp_path, seed)
    sim = system.simulator
    lag = raw["config"]["paging"].get("lag_seconds", 0) if raw["config"]["paging"]["type"] == "time_window" else 0
    run = connector_run(live_hub, writer_client, kafka_bootstrap, raw)
    try:
        if lag:
            wait_past_lag(sim, lag)
        assert run.drain() == len(sim.ledger)
        report, standard = check(run, sim, raw["source_system"])

        # The system keeps working; a restarted task resumes at its committed offset and reads
        # exactly the records emitted since, not the ones before them.
        run.runner.close()
        more = sim.emit(MORE)
        if lag:
            wait_past_lag(sim, lag)
        assert run.drain() == len(more)
        check(run, sim, raw["source_system"])
    except BaseException:
        run.close()
        sim.stop()
        raise
    return system, run, report, standard


@sqlite_only
@pytest.mark.parametrize(("name", "seed"), [
    ("public_security", 21), ("health", 22), ("market_regulation", 23), ("unified_cases", 24),
    ("risk_medical_waste", 25), ("grassroots", 26),
])
def test_http_system_reconciles_with_its_simulator(name, seed, tmp_path, live_hub, writer_client, kafka_bootstrap):
    system, run, _, _ = exercise(name, tmp_path, live_hub, writer_client, kafka_bootstrap, seed=seed)
    run.close()
    system.simulator.stop()


# -- 12345: pull by time window, then handling feedback back through the webhook sink ---------

def feedback_values(standard: list[dict]) -> tuple[list[dict], list[dict]]:
    """Handling feedback on a few pulled tickets: (delivered statuses, one the sink filters out)."""
    latest: dict[str, dict] = {}
    for value in standard:
        if value["complainant_id_number"] and value["complainant_name"]:
            latest[value["ticket_id"]] = value
    tickets = sorted(latest)[:6]
    out = []
    for i, ticket in enumerate(tickets):
        value = dict(latest[ticket], status=("replied", "closed", "refused", "handling")[i % 4],
                     reply_text="经核查，反映问题属实，已责令整改。")
        value["envelope"] = dict(value["envelope"], record_id=f"it-handling:{ticket}:{i}", source_system="it-handling",
                                 source_key=ticket, source_version=str(i))
        out.append(value)
    return [v for v in out if v["status"] != "handling"], [v for v in out if v["status"] == "handling"]


@sqlite_only
def test_complaints_reconcile_and_feedback_reaches_the_platform_once(tmp_path, live_hub, writer_client,
                                                                     kafka_bootstrap):
    system, run, report, standard = exercise("complaints", tmp_path, live_hub, writer_client, kafka_bootstrap,
                                             seed=27)
    sim = system.simulator
    try:
        assert report["dead_expected"].get("id_check", 0) > 0  # complainant resident IDs are checked
        delivered, filtered = feedback_values(standard)
        assert len(delivered) >= 4 and filtered

        suffix = uuid.uuid4().hex[:8]
        topic, name = f"it.complaint.feedback.{suffix}", f"it-complaint-feedback-{suffix}"
        admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        try:
            ensure_topic(admin, topic, partitions=3)
            ensure_topic(admin, f"dlq.{name}", partitions=1)
        finally:
            admin.close()
        serialize = AvroSerializer(run.registry, f"{topic}-value",
                                   schema_json(CATALOG["complaint.tickets"].value_schema))
        with make_producer(live_hub.settings) as producer:
            for value in delivered + filtered:
                producer.send(topic, serialize(value), key=value["ticket_id"].encode(),
                              headers=[("hub.record_id", value["envelope"]["record_id"].encode())])
            producer.flush(30)

        raw = load_config(SPEC["complaint_feedback"], SPEC["complaint_feedback"].make(
            DemoEnv(workdir=tmp_path, hub_url="http://127.0.0.1:9", seed=27, count=COUNT, bad_ratio=BAD_RATIO)
        ).values | {"COMPLAINT_FEEDBACK_TOPIC": topic}, name=name)
        connector, config, errors = validate_config(raw)
        assert errors == [] and connector.plugin == "http-webhook", errors
        assert str(config.url).startswith(sim.url)  # the same platform the tickets came from
        task = get_plugin("http-webhook").build(config, None)
        with make_producer(live_hub.settings) as dlq_producer:
            sink = sink_runner(name, config, task, settings=live_hub.settings, registry=run.registry,
                               producer=dlq_producer, batch_size=20, retry_initial=0.05)
            handled, deadline = 0, time.monotonic() + 40
            try:
                while handled < len(delivered) + len(filtered) and time.monotonic() < deadline:
                    r = sink.run_once()
                    handled += r.delivered + r.filtered + r.dead_lettered
            finally:
                sink.close()
        assert handled == len(delivered) + len(filtered)

        received = list(sim.feedback.values())  # stored only after the signature verified
        assert len(received) == len(delivered)
        assert Counter(fb["ticket"] for fb in received) == Counter(v["ticket_id"] for v in delivered)
        assert {fb["body"]["record_id"] for fb in received} == {v["envelope"]["record_id"] for v in delivered}
        for fb in received:
            body, value = fb["body"], fb["body"]["value"]
            assert fb["delivery_id"] == body["delivery_id"] and body["masked"] is True
            original = next(v for v in delivered if v["ticket_id"] == fb["ticket"])
            assert value["complainant_id_number"] != original["complainant_id_number"]
            assert "*" in value["complainant_id_number"] and "*" in value["complainant_name"]
            assert value["status"] in ("replied", "closed", "refused")
        assert not consume_all(kafka_bootstrap, f"dlq.{name}", expected=0, idle_seconds=0.5)  # nothing refused
    finally:
        run.close()
        sim.stop()
