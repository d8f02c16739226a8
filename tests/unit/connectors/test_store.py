"""The connector store on SQLite: CRUD, target states, generations, and lease claim/renew/expiry/fair share."""

import datetime as dt
import threading

import pytest

from connectors.config import ConnectorConfig
from connectors.store import ConnectorExists, ConnectorNotFound, ConnectorStore
from hub_api.db import Database

TTL = 10.0


class Clock:
    def __init__(self):
        self.now = dt.datetime(2024, 5, 1, 8, 0, tzinfo=dt.UTC)

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(sqlite_url, clock):
    db = Database(sqlite_url)
    db.create_schema()
    yield ConnectorStore(db, clock=clock, box=None)
    db.dispose()


def cfg(name: str, **config) -> ConnectorConfig:
    return ConnectorConfig(name=name, plugin="test-list", source_system="sys-a", config=config)


def test_crud_and_generations(store):
    created = store.create(cfg("alpha", count=3))
    assert (created.target_state, created.generation) == ("RUNNING", 1)
    with pytest.raises(ConnectorExists):
        store.create(cfg("alpha"))
    assert store.get("alpha").config["config"] == {"count": 3}
    assert store.get("nope") is None

    assert store.update_config(cfg("alpha", count=3)).generation == 1  # unchanged: no restart
    assert store.update_config(cfg("alpha", count=4)).generation == 2
    assert store.request_restart("alpha").generation == 3
    with pytest.raises(ConnectorNotFound):
        store.update_config(cfg("ghost"))
    with pytest.raises(ConnectorNotFound):
        store.request_restart("ghost")

    store.create(cfg("beta"), target_state="STOPPED")
    assert [r.name for r in store.list()] == ["alpha", "beta"]
    assert store.status("beta").state == "STOPPED"
    assert store.status("alpha").state == "UNASSIGNED"

    assert store.delete("alpha") is True
    assert store.delete("alpha") is False
    assert store.status("alpha") is None


def test_target_states_and_status_reports(store, clock):
    store.create(cfg("alpha"))
    for state in ("PAUSED", "STOPPED", "RUNNING"):
        assert store.set_target_state("alpha", state).target_state == state
    with pytest.raises(ValueError, match="valid"):
        store.set_target_state("alpha", "SLEEPING")

    # Only the lease holder may report.
    assert store.report_status("alpha", "w1", "RUNNING") is False
    store.heartbeat("w1")
    assert store.claim("w1", TTL) == ["alpha"]
    assert store.report_status("alpha", "w1", "RUNNING", counters={"polled": 5}) is True
    status = store.status("alpha")
    assert (status.state, status.worker_id, status.counters["polled"]) == ("RUNNING", "w1", 5)

    # The owner died: after the TTL the report no longer counts.
    clock.advance(TTL + 1)
    assert (store.status("alpha").state, store.status("alpha").worker_id) == ("UNASSIGNED", None)

    # Stopped while nobody holds it: settled to STOPPED (offsets may then be reset).
    store.set_target_state("alpha", "STOPPED")
    assert store.settle_stopped() == ["alpha"]
    assert store.status("alpha").state == "STOPPED"
    store.set_target_state("alpha", "RUNNING")
    assert store.status("alpha").state == "UNASSIGNED"


def test_leases_claim_renew_expire_release(store, clock):
    for name in ("ca", "cb", "cc"):
        store.create(cfg(name))
    store.create(cfg("stopped"), target_state="STOPPED")
    store.heartbeat("w1")
    assert store.claim("w1", TTL) == ["ca", "cb", "cc"]  # alone: takes every active connector
    assert store.claim("w1", TTL) == []
    assert store.holds("ca", "w1") and not store.holds("ca", "w2")
    assert store.holds("ca", "w1", margin=TTL - 1) and not store.holds("ca", "w1", margin=TTL + 1)

    clock.advance(TTL / 2)
    assert store.renew("w1", ["ca", "cb"], TTL) == {"ca", "cb"}
    clock.advance(TTL / 2 + 1)  # c expired; a and b were renewed
    assert store.owned("w1") == ["ca", "cb"]
    assert store.renew("w1", ["ca", "cb", "cc"], TTL) == {"ca", "cb"}  # an expired lease is lost

    store.heartbeat("w2")
    assert store.claim("w2", TTL) == ["cc"]
    assert store.release("w1", ["ca"]) == 1
    assert store.owned("w1") == ["cb"]
    assert store.release("w1") == 1
    assert store.owned("w1") == []


def test_fair_share_between_two_workers(store, clock):
    for i in range(5):
        store.create(cfg(f"c{i}"))
    store.heartbeat("w1")
    store.heartbeat("w2")
    assert store.fair_share(TTL) == 3
    first = store.claim("w1", TTL)
    second = store.claim("w2", TTL)
    assert (len(first), len(second)) == (3, 2)
    assert not set(first) & set(second)

    # w2 stops heartbeating: after its leases expire, w1's share grows and it takes them.
    clock.advance(TTL + 1)
    store.heartbeat("w1")
    assert store.renew("w1", first, TTL) == set()  # w1 forgot to renew too: all expired
    assert store.fair_share(TTL) == 5
    assert sorted(store.claim("w1", TTL)) == [f"c{i}" for i in range(5)]

    store.forget_worker("w1")
    assert store.live_workers(TTL) == 0


def test_no_double_ownership_under_racing_claims(store):
    for i in range(12):
        store.create(cfg(f"c{i:02d}"))
    workers = [f"w{i}" for i in range(4)]
    for w in workers:
        store.heartbeat(w)
    results: dict[str, list[str]] = {}
    barrier = threading.Barrier(len(workers))

    def claim(worker: str) -> None:
        barrier.wait()
        results[worker] = store.claim(worker, TTL)

    threads = [threading.Thread(target=claim, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [name for names in results.values() for name in names]
    assert len(claimed) == len(set(claimed))  # nobody claimed a connector twice
    assert all(len(names) <= 3 for names in results.values())  # fair share: ceil(12 / 4)
    for worker, names in results.items():
        assert sorted(store.owned(worker)) == sorted(names)


def test_runner_fence_refuses_commits_without_a_live_lease(sqlite_url, clock, tmp_path):
    from connectors.worker import ConnectorThread, ConnectWorker, LeaseLost
    from ops.settings import HubSettings

    db = Database(sqlite_url)
    db.create_schema()
    worker = ConnectWorker(HubSettings(database_url=sqlite_url, var_dir=tmp_path), db, worker_id="w1",
                           plugins={}, lease_ttl=TTL)
    worker.store.clock = clock
    record = worker.store.create(cfg("alpha"))
    thread = ConnectorThread(worker, record, {})
    with pytest.raises(LeaseLost):
        thread._fence()  # never claimed
    worker.store.heartbeat("w1")
    worker.store.claim("w1", TTL)
    thread._fence()  # holds it: the commit may go ahead
    clock.advance(TTL - worker.fence_margin + 0.1)  # about to expire (a long pause): refuse already
    with pytest.raises(LeaseLost):
        thread._fence()
    worker.registry.close()
    db.dispose()
