"""The master-data systems (market-entity register, officers & certificates, item catalog) against
their simulators, the real broker and the live hub.

Each test builds its system exactly as the demo does (``ops.demo.master_systems``, small sizes),
runs the production-shaped ``connectors/systems/<name>.json`` through its declarative plugin into
private topics and reconciles with the simulator's ledger: every good (key, version) exactly
once after deduplication, every bad one dead-lettered with the ledger's reason, nothing else;
then the system keeps working and a restarted task reads exactly what it emitted since.
The standard records are also checked against the pool they come from (ground truth).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from connectors.config import validate_config
from connectors.plugins import get_plugin
from ops.demo.catalog import get_system
from ops.demo.systems import DemoEnv, load_config
from ops.simulators.reconcile import reconcile
from schemas.codes import is_valid_uscc
from schemas.domains import DOMAINS
from schemas.regions import is_known_region
from tests.integration.connectors.harness import ConnectorRun

pytestmark = pytest.mark.integration

BAD_RATIO, MORE = 0.1, 40


def _env(tmp_path, live_hub, seed: int, database_url: str | None = None) -> DemoEnv:
    return DemoEnv(workdir=tmp_path / "demo", hub_url=live_hub.url, seed=seed, count=60, bad_ratio=BAD_RATIO,
                   database_url=database_url, entities=260, officers=160, items=50)


def _run(name, running, live_hub, writer_client, kafka_bootstrap, tmp_path) -> ConnectorRun:
    raw = load_config(get_system(name), running.values, name=f"it-{name.replace('_', '-')}")
    connector, config, errors = validate_config(raw)
    assert errors == [], errors
    return ConnectorRun(live_hub, writer_client, kafka_bootstrap, get_plugin(connector.plugin), config,
                        source_system=connector.source_system, catalog_topic=config.mapping.topic,
                        encoding=connector.encoding, state_dir=tmp_path / "state")


def _reconcile(run: ConnectorRun, sim, polled: int) -> tuple[dict, list[dict]]:
    standard, dead = run.collect(expected=polled)
    report = reconcile(sim.ledger.system, sim.ledger.expected(), len(sim.ledger), standard, dead)
    print(f"\n{report}")
    assert report["missing"] == 0 and report["unexpected"] == 0, report
    assert report["dead_missing"] == 0 and report["dead_observed"] == report["dead_expected"], report
    assert report["duplicates_after_dedup"] == 0 and report["ok"], report
    assert len(standard) + len(dead) == polled == len(sim.ledger)  # one message per emission
    return report, standard


def _exercise(name, running, live_hub, writer_client, kafka_bootstrap, tmp_path, emit=None) -> list[dict]:
    """Drain, reconcile, restart, let the system emit :data:`MORE`, drain, reconcile; the records."""
    sim = running.simulator
    run = _run(name, running, live_hub, writer_client, kafka_bootstrap, tmp_path)
    try:
        polled = run.drain()
        report, _ = _reconcile(run, sim, polled)
        assert sum(report["dead_expected"].values()) >= 5, report  # rejections really exercised
        run.runner.close()  # a restart: the task re-opens at its committed offsets
        n = len((emit or sim.emit)(MORE))
        again = run.drain()
        assert again == n
        _, standard = _reconcile(run, sim, polled + again)
        return standard
    finally:
        run.close()
        sim.stop()


def _latest(standard: list[dict], key) -> dict:
    out: dict = {}
    for r in standard:
        k = key(r)
        if k not in out or int(r["envelope"]["source_version"]) > int(out[k]["envelope"]["source_version"]):
            out[k] = r
    return out


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_market_entity_register(live_hub, writer_client, kafka_bootstrap, tmp_path, database_url):
    running = get_system("market_entities").make(_env(tmp_path, live_hub, 31))
    sim = running.simulator
    pool = sim.pool
    standard = _exercise("market_entities", running, live_hub, writer_client, kafka_bootstrap, tmp_path)

    registered = {pool.entity(i).uscc: pool.entity(i) for i in sim.generator.registered}
    latest = _latest(standard, lambda r: r["entity_id"])
    assert set(latest) <= set(registered) and len(latest) >= 0.85 * len(registered)
    kinds = Counter(r["kind"] for r in latest.values())
    assert kinds["enterprise"] and kinds["individual_business"] and not kinds["natural_person"]
    cities = {r["region_code"][:4] for r in latest.values()}
    assert len(cities) == 11  # all eleven Zhejiang cities
    ops = Counter(r["envelope"]["operation"] for r in standard)
    assert ops["i"] and ops["u"] and ops["d"]  # registrations, changes, cancellations
    for uscc, r in latest.items():
        e = registered[uscc]
        assert is_valid_uscc(r["uscc"]) and r["uscc"][2:8] == e.region_code == r["region_code"]
        assert r["industry"]["code"] == e.industry_code and r["registration_date"] == e.registration_date
        if r["status"]["code"] in ("2", "3"):
            assert r["revocation_date"] is not None and r["revocation_date"] >= r["registration_date"]
        else:
            assert r["name"] == e.name  # names do not change in this register


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_officer_certificate_system(live_hub, writer_client, kafka_bootstrap, tmp_path, database_url):
    # The upload table lives in PostgreSQL too when the hub does (its own SQLite file otherwise).
    pg = database_url if database_url.startswith("postgresql") else None
    env = _env(tmp_path, live_hub, 32, pg)
    running = get_system("officer_certs").make(env)
    sim = running.simulator
    standard = _exercise("officer_certs", running, live_hub, writer_client, kafka_bootstrap, tmp_path,
                         emit=sim.tick)

    latest = _latest(standard, lambda r: r["certificate_number"])
    assert len(latest) >= 0.85 * env.officers
    today = sim.generator.anchor
    statuses = Counter(r["status"] for r in latest.values())
    assert statuses["valid"] and statuses["revoked"] + statuses["suspended"] > 0
    ends = [r["certificate_valid_to"] for r in latest.values()]
    assert any(d < today for d in ends) and any(today <= d < today + dt.timedelta(days=365) for d in ends)
    assert {r["department"]["code"][:4] for r in latest.values()} >= {f"33{c:02d}" for c in range(1, 12)}
    for cert, r in latest.items():
        assert len(cert) == 14 and cert.startswith("33")
        assert 1 <= len(r["enforcement_domains"]) <= 3
        assert {d["code"] for d in r["enforcement_domains"]} <= set(DOMAINS)
        assert r["department"]["code"][:6] == r["enforcement_region"]["code"]
        assert r["certificate_valid_to"] > r["certificate_valid_from"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_item_catalog(live_hub, writer_client, kafka_bootstrap, tmp_path, database_url):
    env = _env(tmp_path, live_hub, 33)
    running = get_system("item_catalog").make(env)
    standard = _exercise("item_catalog", running, live_hub, writer_client, kafka_bootstrap, tmp_path)

    latest = _latest(standard, lambda r: r["catalog_code"])
    assert {r["domain"]["code"] for r in latest.values()} == set(DOMAINS)  # every domain covered
    versions = Counter(r["catalog_code"] for r in standard)
    assert max(versions.values()) >= 2  # items got new versions
    for code, r in latest.items():
        assert len(code) == 14 and code.isdigit() and r["version"] and r["valid_from"]
        assert 3 <= len(r["check_contents"]) <= 8 and len({c["content_code"] for c in r["check_contents"]}) == len(
            r["check_contents"])
        levels = {i["admin_level"]["code"] for i in r["implementations"]}
        assert levels == {"province", "city", "county"}
        for impl in r["implementations"]:
            assert is_valid_uscc(impl["agency_uscc"]) and impl["implementation_code"][:18] == impl["agency_uscc"]
            assert impl["agency"]["code"].startswith(impl["region_code"]) and is_known_region(impl["region_code"])
