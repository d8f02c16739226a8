"""The data-store, drop, push and Kafka systems of the demo table against their simulators,
the real broker and the live hub: every good record once after deduplication, every bad one
dead-lettered with its reason, nothing else; then a restarted task reads exactly what the
system emitted since (resume at the committed offsets).

Each test runs the production-shaped config (``connectors/systems/<name>.json``) filled by the
demo table (``ops.demo.data_systems``), as ``hub demo`` does.
"""

from __future__ import annotations

import pytest

from connectors.config import validate_config
from connectors.plugins import get_plugin
from ops.demo.catalog import get_system
from ops.demo.systems import DemoEnv, RunningSystem, load_config
from ops.simulators.reconcile import reconcile
from tests.integration.connectors.harness import ConnectorRun

pytestmark = pytest.mark.integration

COUNT, BAD_RATIO = 400, 0.08


def _env(tmp_path, live_hub, seed: int, database_url: str | None = None) -> DemoEnv:
    return DemoEnv(workdir=tmp_path / "demo", hub_url=live_hub.url, seed=seed, count=COUNT, bad_ratio=BAD_RATIO,
                   database_url=database_url)


def _connector(live_hub, writer_client, kafka_bootstrap, tmp_path, name: str, running: RunningSystem,
               **overrides) -> ConnectorRun:
    raw = load_config(get_system(name), running.values)
    raw["config"].update(overrides)
    connector, config, errors = validate_config(raw)
    assert errors == [], errors
    return ConnectorRun(live_hub, writer_client, kafka_bootstrap, get_plugin(connector.plugin), config,
                        source_system=connector.source_system, catalog_topic=config.mapping.topic,
                        encoding=connector.encoding, state_dir=tmp_path / "state")


def _reconcile(run: ConnectorRun, sim, polled: int) -> dict:
    standard, dead = run.collect(expected=polled)
    report = reconcile(sim.ledger.system, sim.ledger.expected(), len(sim.ledger), standard, dead)
    print(report)
    assert report["missing"] == 0 and report["unexpected"] == 0, report
    assert report["dead_missing"] == 0 and report["dead_observed"] == report["dead_expected"], report
    assert report["duplicates_after_dedup"] == 0 and report["ok"], report
    return report


def _check(run: ConnectorRun, sim, *, more: int = 30, exact: bool = True, emit=None) -> None:
    """Drain, reconcile; close the task, let the system emit ``more``, re-drain and reconcile again."""
    polled = run.drain()
    assert polled >= len(sim.ledger) * 0.9
    report = _reconcile(run, sim, polled)
    assert sum(report["dead_expected"].values()) >= 5  # the run really exercised rejections
    run.runner.close()  # a restart: the task re-opens at the committed offsets
    n = len((emit or sim.emit)(more))
    again = run.drain()
    assert again == n if exact else 0 < again <= n
    _reconcile(run, sim, polled + again)


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
@pytest.mark.parametrize("name", ["ecology", "drug_admin"])
def test_sql_systems(name, live_hub, writer_client, kafka_bootstrap, tmp_path, database_url):
    # The source table lives in PostgreSQL too when the hub does (its own SQLite file otherwise).
    pg = database_url if database_url.startswith("postgresql") else None
    running = get_system(name).make(_env(tmp_path, live_hub, 21, pg))
    sim = running.simulator
    run = _connector(live_hub, writer_client, kafka_bootstrap, tmp_path, name, running)
    try:
        # ecology: a duplicate re-send touches an existing row, so a few may fold into one read
        _check(run, sim, exact=name != "ecology", emit=sim.tick)
    finally:
        run.close()
        sim.stop()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("name", ["emergency", "natural_resources", "risk_road_transport"])
def test_file_drop_systems(name, live_hub, writer_client, kafka_bootstrap, tmp_path):
    running = get_system(name).make(_env(tmp_path, live_hub, 22))
    sim = running.simulator
    run = _connector(live_hub, writer_client, kafka_bootstrap, tmp_path, name, running, settle_seconds=0)
    try:
        _check(run, sim)
        drop = sim.directory
        assert not [p for p in drop.iterdir() if p.is_file()]  # every file taken and archived
        assert len(list((drop / "archive").iterdir())) == len(sim.files)
    finally:
        run.close()
        sim.stop()
    if name == "natural_resources":
        assert sim.ledger.summary()["dead"].get("encoding", 0) > 0  # GB18030 files under a UTF-8 declaration


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_transport_push_system(live_hub, writer_client, kafka_bootstrap, tmp_path):
    from connectors.config import ConnectorConfig
    from hub_api.connectors.routes import store_for_app

    spec = get_system("transport")
    running = spec.make(_env(tmp_path, live_hub, 23))
    sim = running.simulator
    run = _connector(live_hub, writer_client, kafka_bootstrap, tmp_path, "transport", running)
    try:
        # Registered in the hub's connector store under the run's name, so the push endpoint
        # finds its HMAC secret; the system then pushes to that connector (as the demo does).
        raw = load_config(spec, running.values, name=run.connector)
        store = store_for_app(live_hub.app)
        store.ensure_schema()
        store.create(ConnectorConfig.model_validate(raw))
        sim.webhook_url = f"{live_hub.url}/connect/push/{run.connector}"
        running.start()
        sim.join(timeout=60)
        assert sim.delivered == COUNT and sim.failed == 0
        _check(run, sim)
        assert sim.failed == 0
    finally:
        run.close()
        sim.stop()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_enforcement_kafka_system(live_hub, writer_client, kafka_bootstrap, tmp_path):
    running = get_system("enforcement").make(_env(tmp_path, live_hub, 24))
    sim = running.simulator
    try:
        assert running.values["ENFORCEMENT_KAFKA_BOOTSTRAP"] != kafka_bootstrap  # a second broker
        run = _connector(live_hub, writer_client, kafka_bootstrap, tmp_path, "enforcement", running,
                         poll_timeout_ms=200)
        try:
            _check(run, sim)
            assert sim.ledger.summary()["dead"].get("encoding", 0) > 0  # GB18030 values under a UTF-8 header
        finally:
            run.close()
    finally:
        sim.stop()
    assert sim.broker is None  # stop() stopped the second broker
