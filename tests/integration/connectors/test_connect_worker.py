"""Two connect workers (threads, one database, the real broker, the registry on the live hub).

Three connectors are shared without ever running twice; every record arrives; a worker
that dies (leases left to expire) hands its connectors over within about two lease TTLs and
no record is lost; pause stops production; a broken source ends FAILED with its last error, and
so does one whose secrets the workers cannot open (they hold another key than the API).
"""

import threading
import time
import uuid

import httpx
import pytest
from kafka import KafkaAdminClient
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from connectors.runtime.contract import RawRecord
from connectors.runtime.offsets import OffsetStore
from connectors.runtime.pipeline import record_id
from connectors.runtime.plugin import Plugin, SourceParts
from connectors.store import ConnectorStore
from connectors.worker import ConnectWorker, build_app
from hub_api.auth.service import AuthService
from hub_api.connectors.routes import router as connectors_router
from hub_api.db import Database
from ops.simulators.records import RecordFactory
from ops.threaded_server import ThreadedServer
from tests.integration.kafka_utils import consume_all
from tests.unit.connectors.fakes import PENALTY, ListTask, penalty_mapper, to_json
from topics.provision import ensure_topic

pytestmark = pytest.mark.integration

TTL = 2.0
N = 300  # records per connector


class ListSourceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = Field(ge=0, description="Records the source holds.")
    delay: float = Field(0.0, ge=0, description="Seconds each poll takes (a slow system).")
    fail: bool = Field(False, description="Every poll raises (a broken system).")
    token: SecretStr | None = Field(None, description="A secret (sealed at rest by the API).")


class SlowListTask(ListTask):
    def __init__(self, records, delay: float, fail: bool):
        super().__init__(records)
        self.delay, self.fail = delay, fail

    def poll(self, max_records):
        if self.fail:
            raise ConnectionError("source unreachable at 10.0.0.1 for 张三")  # never shown as is
        time.sleep(self.delay)
        return super().poll(max_records)


def source_records(source_system: str, count: int) -> list[RawRecord]:
    factory = RecordFactory(seed=7, source_system=source_system)
    out = []
    for i in range(count):
        value = factory.penalty_decision(i)
        out.append(RawRecord("cases", str(i), value["case_id"], "v1", to_json({"case": value}).encode()))
    return out


def build(config: ListSourceConfig, ctx) -> SourceParts:
    return SourceParts(SlowListTask(source_records(f"sys-{ctx.connector}", config.count), config.delay, config.fail),
                       penalty_mapper)


PLUGINS = {"test-list": Plugin("test-list", "source", "Serves generated penalty cases.", ListSourceConfig, build)}


def wait_for(predicate, timeout: float, what: str, store=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; {store.statuses() if store else ''}")


def test_two_workers_share_fail_over_pause_and_fail(live_hub, kafka_bootstrap, tmp_path):
    suffix = uuid.uuid4().hex[:8]
    topic = f"it.connect.{suffix}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        ensure_topic(admin, topic, partitions=3)
    finally:
        admin.close()
    auth = AuthService(live_hub.db, live_hub.settings)
    registry_id, registry_secret = auth.create_client("ci-worker", "connector", ["schemas:write"])
    api = httpx.Client(base_url=live_hub.url, timeout=10,
                       auth=auth.create_client("ci-ops", "operator", ["connectors:write"]))
    live_hub.app.include_router(connectors_router)
    live_hub.app.state.plugins = PLUGINS
    settings = live_hub.settings.model_copy(update={
        "registry_url": f"{live_hub.url}/registry", "registry_client_id": registry_id,
        "registry_client_secret": SecretStr(registry_secret),
        # Another var dir than the API's, so another key for connector secrets: see "locked" below.
        "var_dir": tmp_path})
    store = ConnectorStore(live_hub.db, box=None)  # status and leases only

    def worker(worker_id: str, release: bool):
        w = ConnectWorker(settings, Database(settings.database_url), worker_id=worker_id, plugins=PLUGINS,
                          lease_ttl=TTL, status_interval=0.3, max_restarts=3, restart_initial=0.05, restart_max=0.2,
                          runner_options={"retry_attempts": 2, "retry_initial": 0.02, "retry_max": 0.1,
                                          "max_failures": 2, "flush_timeout": 20.0},
                          topic_names={PENALTY: topic})
        thread = threading.Thread(target=w.run, kwargs={"release_leases": release}, name=worker_id, daemon=True)
        thread.start()
        return w, thread

    a, a_thread = worker("worker-a", release=False)  # "crashes" later: its leases must expire
    b, b_thread = worker("worker-b", release=True)
    try:
        wait_for(lambda: store.live_workers(TTL) == 2, 10, "two live workers")
        names = [f"c{i}-{suffix}" for i in range(3)]
        for name in names:
            created = api.post("/connectors", json={"name": name, "plugin": "test-list", "source_system": f"sys-{name}",
                                                    "batch_size": 10, "config": {"count": N, "delay": 0.06}})
            assert created.status_code == 201, created.text

        # Every connector runs on exactly one worker (fair share: 2 + 1).
        def assigned():
            owned_a, owned_b = set(store.owned("worker-a")), set(store.owned("worker-b"))
            return owned_a, owned_b if owned_a | owned_b == set(names) else None
        owned_a, owned_b = wait_for(lambda: assigned()[1] is not None and assigned(), 15, "all connectors assigned")
        assert not owned_a & owned_b and {len(owned_a), len(owned_b)} == {1, 2}
        wait_for(lambda: all(s.state == "RUNNING" for s in store.statuses(names).values()), 10, "RUNNING")
        statuses = store.statuses(names)
        assert {n for n in names if statuses[n].worker_id == "worker-a"} == owned_a

        # worker-a dies mid-stream (it stops, keeps its leases): worker-b takes over within ~2 TTLs.
        wait_for(lambda: all(store.status(n).counters.get("produced", 0) >= 30 for n in owned_a), 20, "progress on a")
        assert all(store.status(n).counters.get("produced", 0) < N for n in owned_a), "source too fast for the test"
        a.stop()
        a_thread.join(30)
        died = time.monotonic()
        wait_for(lambda: set(store.owned("worker-b")) == set(names), 3 * TTL + 2, "worker-b owning everything")
        assert time.monotonic() - died <= 2 * TTL + 1.5
        assert not store.owned("worker-a")
        offsets = OffsetStore(live_hub.db)
        wait_for(lambda: all(offsets.load(n) == {"cases": str(N - 1)} for n in names), 40, "every record committed", store)
        assert all(s.worker_id == "worker-b" for s in store.statuses(names).values())

        # Pause stops production; a broken source is FAILED after the cap, with its last error.
        paused, broken, locked = f"pause-{suffix}", f"broken-{suffix}", f"locked-{suffix}"
        for name, config in ((paused, {"count": 3000, "delay": 0.05}), (broken, {"count": 10, "fail": True}),
                             (locked, {"count": 10, "token": "s3cret-token"})):
            assert api.post("/connectors", json={"name": name, "plugin": "test-list", "source_system": f"sys-{name}",
                                                 "batch_size": 10, "config": config}).status_code == 201
        wait_for(lambda: store.status(paused).counters.get("produced", 0) > 0, 20, "the paused one producing", store)
        assert api.put(f"/connectors/{paused}/pause").status_code == 202
        wait_for(lambda: store.status(paused).state == "PAUSED", 10, "PAUSED")
        time.sleep(0.5)  # the report after the pause carries the final counters
        before = store.status(paused).counters["produced"]
        time.sleep(1.5)
        after = store.status(paused)
        assert (after.state, after.counters["produced"]) == ("PAUSED", before)

        failed = wait_for(lambda: (s := store.status(broken)).state == "FAILED" and s, 20, "FAILED")
        assert "ConnectionError" in failed.last_error and "10.0.0.1" not in failed.last_error
        assert "张三" not in failed.last_error and failed.counters["failures"] >= 3
        assert failed.worker_id == "worker-b"
        failed = wait_for(lambda: (s := store.status(locked)).state == "FAILED" and s, 20, "FAILED (secrets)")
        assert "sealed with a key this process does not have" in failed.last_error
        assert "s3cret" not in failed.last_error and failed.counters.get("produced", 0) == 0

        with ThreadedServer(build_app(b)) as http:
            assert httpx.get(f"{http.url}/healthz").json()["connectors"][paused] == "PAUSED"
            assert "hub_connector_records_polled_total" in httpx.get(f"{http.url}/metrics").text
        api.delete(f"/connectors/{paused}")
    finally:
        a.stop()
        b.stop()
        a_thread.join(30)
        b_thread.join(30)
        api.close()
    assert not store.owned("worker-b") and store.live_workers(TTL) == 0  # b released everything on the way out

    # Every record of the three connectors arrived (duplicates from the fail-over are deduplicated).
    expected = {record_id(f"sys-{n}", r.key, r.version) for n in names for r in source_records(f"sys-{n}", N)}
    messages = consume_all(kafka_bootstrap, topic, expected=len(expected), idle_seconds=2.0)
    ids = {dict(m.headers())["hub.record_id"].decode() for m in messages}
    assert expected <= ids
    print(f"\n{len(messages)} records consumed for {len(expected)} expected ids "
          f"({len([m for m in messages if dict(m.headers())['hub.record_id'].decode() in expected]) - len(expected)} "
          "duplicates after the fail-over)")
