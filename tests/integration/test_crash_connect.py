"""Crash test: ``kill -9`` the connect worker at random moments; nothing is lost, nothing duplicated.

Real pieces only: the Tansu broker (session fixture), the hub API over HTTP (``create_app`` on a
thread, SQLite), ``hub connect`` as a subprocess, and demo systems from ``ops/demo/catalog.py``
(simulators on loopback, connectors registered through ``POST /connectors`` by the demo driver).
The sources keep growing while the worker is killed ``KILLS`` times at seeded-random moments
after it took the connectors over, and restarted each time. Then the sources stop, the last
worker drains, and every system's ledger is reconciled against what is on the standard topics
and the dead-letter topics: 0 missing, 0 duplicates after deduplication (one record id per
source record), every bad record dead-lettered with its reason, no unexpected dead letter.

Take-over after a kill: the worker runs with ``--lease-ttl 3``; after every kill the restarted
worker takes the connectors over only when the dead worker's leases have expired by themselves
(nothing is released by hand: a killed worker releases nothing). The fencing of a *live* zombie
is covered in ``connectors/test_connect_worker.py``.

Each system gets a unique ``source_system`` (the shared session broker may hold other tests'
records on the same catalog topics); reconciliation separates records by it.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
from kafka import KafkaAdminClient

from connectors.runtime.offsets import OffsetStore
from connectors.secret_box import SecretBox
from connectors.store import ConnectorStore
from ops.demo.catalog import SYSTEMS
from ops.demo.check import reconcile_driver
from ops.demo.run import DemoDriver
from topics import provision

pytestmark = pytest.mark.integration

SEED = 20250917
KILLS = 6
LEASE_TTL = 3.0  # seconds; passed to `hub connect --lease-ttl`
PREFERRED = ("taxation", "public_security", "ecology", "market_regulation", "health")
COUNT, GROW = 300, 5  # records per system at start; added per system every second
BURST = (300, 700)  # before a kill, each system adds this many at once: the worker is busy when killed


def pick_systems() -> list[str]:
    """2-3 pull-style systems from the catalog, taxation first; taxation again if fewer exist."""
    names = [n for n in PREFERRED if n in SYSTEMS][:3]
    while len(names) < 3:
        names.append("taxation")
    return names


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_kill_9_the_connect_worker_repeatedly_loses_and_duplicates_nothing(live_hub, kafka_bootstrap, tmp_path):
    rng = random.Random(SEED)
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        provision.apply(admin)
    finally:
        admin.close()
    suffix = uuid.uuid4().hex[:6]
    driver = DemoDriver(live_hub.settings, tmp_path / "demo", hub_url=live_hub.url, bootstrap=kafka_bootstrap,
                        count=COUNT, grow=GROW, bad_ratio=0.06)
    for k, name in enumerate(pick_systems()):
        driver.add(name, connector=f"crash-{name.replace('_', '-')}-{k}-{suffix}",
                   source_system=f"{name.replace('_', '-')}-{k}-{suffix}", seed=SEED + k)
    store, offsets = ConnectorStore(live_hub.db, box=None), OffsetStore(live_hub.db)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update({"HUB_KAFKA_BOOTSTRAP": kafka_bootstrap, "HUB_DATABASE_URL": live_hub.settings.database_url,
                "HUB_REGISTRY_URL": f"{live_hub.url}/registry", "HUB_VAR_DIR": str(tmp_path / "var"),
                # The API sealed the connectors' secrets: the workers open them with the same key.
                "HUB_CONNECTOR_SECRETS_KEY_PATH": str(SecretBox.key_path(live_hub.settings).resolve()),
                "HUB_ENVIRONMENT": "test", "HUB_LOG_LEVEL": "WARNING", "HUB_LOG_JSON": "false"})

    def spawn(n: int) -> tuple[subprocess.Popen, str]:
        worker_id = f"crash-worker-{n}-{suffix}"
        log = open(tmp_path / f"worker-{n}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen([sys.executable, "-m", "ops.cli", "connect", "--worker-id", worker_id,
                                 "--lease-ttl", str(LEASE_TTL)],
                                env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
        log.close()
        return proc, worker_id

    def owns_all(worker_id: str) -> bool:
        statuses = store.statuses([i.connector for i in driver.instances])
        return len(statuses) == len(driver.instances) and all(
            s.worker_id == worker_id and s.state == "RUNNING" for s in statuses.values())

    stop_growth = threading.Event()
    grower = threading.Thread(target=driver.run, args=(stop_growth,), kwargs={"quiet": True}, daemon=True)
    proc = None
    started = time.monotonic()
    kill_log, checkpoints = [], {}
    try:
        driver.start()
        grower.start()
        proc, worker_id = spawn(0)
        for n in range(1, KILLS + 1):
            wait_for(lambda wid=worker_id: owns_all(wid), 45, f"worker {worker_id} to run every connector")
            time.sleep(rng.uniform(0.3, 2.0))
            for inst in driver.instances:
                inst.simulator.emit(rng.randint(*BURST))
            time.sleep(rng.uniform(0.2, 1.8))  # somewhere in polling, producing or committing them
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            now = {i.connector: offsets.load(i.connector) for i in driver.instances}
            moved = sum(now[c] != checkpoints.get(c) for c in now)  # committed during this worker's life
            checkpoints = now
            kill_log.append((n, round(time.monotonic() - started, 1), sum(i.emitted for i in driver.instances), moved))
            proc, worker_id = spawn(n)
        wait_for(lambda wid=worker_id: owns_all(wid), 45, f"worker {worker_id} to run every connector")
        stop_growth.set()
        grower.join(timeout=10)
        driver.stop_growth()
        drained = driver.wait_drained(quiet=8.0, timeout=90.0)
        reports = reconcile_driver(driver, drained=drained)
    finally:
        stop_growth.set()
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        driver.close()

    print(f"\ncrash test: {len(kill_log)} kill -9 in {time.monotonic() - started:.0f}s "
          f"(leases of {LEASE_TTL:.0f}s expire on their own after each kill)")
    for n, at, emitted, moved in kill_log:
        print(f"  kill {n}: at {at:>5}s  emitted so far {emitted:>5}  checkpoints moved since the last kill: "
              f"{moved}/{len(driver.instances)} connectors")
    for r in reports:
        print(f"  {r['system']:<32} emitted {r['emitted']:>5}  good {r['expected_good']:>5}  arrived {r['arrived']:>5}  "
              f"raw {r['raw_arrivals']:>5}  redelivered {r['redelivered']:>4} (by the hub after kills "
              f"{r['redelivered_by_hub']})  missing {r['missing']}  "
              f"dup-after-dedup {r['duplicates_after_dedup']}  dead {sum(r['dead_distinct'].values())}"
              f"/{sum(r['dead_expected'].values())}  drained {r['drained']}")
    print(f"  total: emitted {sum(r['emitted'] for r in reports)}, redelivered by the hub "
          f"{sum(r['redelivered_by_hub'] for r in reports)}, missing {sum(r['missing'] for r in reports)}, "
          f"duplicates after dedup {sum(r['duplicates_after_dedup'] for r in reports)}")
    assert len(kill_log) >= 5
    assert sum(r["emitted"] for r in reports) >= 2000
    for r in reports:
        assert r["missing"] == 0, r
        assert r["duplicates_after_dedup"] == 0, r
        assert r["unexpected"] == 0, r
        assert r["dead_missing"] == 0 and r["dead_unexpected"] == 0, r
        assert r["dead_distinct"] == r["dead_expected"], r
        assert r["ok"], r
