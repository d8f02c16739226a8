"""The connect worker (``hub connect``): runs the registered connectors it holds a lease on.

**Assignment model: leases in SQL with a TTL, and a fair share.** Every worker, every
``lease_ttl / 3`` seconds, on its loop thread:

1. heartbeats (``connect_workers``);
2. renews the leases of the connectors it runs (``connector_leases``: ``expires_at = now +
   ttl``); a lease it could not renew -- expired, e.g. after a long GC pause or a database
   outage, or deleted -- is *lost*: that connector is stopped at once, no status reported;
3. gives back leases above its fair share ``ceil(active connectors / live workers)`` (a new
   worker joined), then claims free or expired leases up to it. A claim is a conditional
   ``UPDATE ... WHERE worker_id IS NULL OR expires_at < now`` that exactly one racing worker
   wins (see :mod:`connectors.store`);
4. reconciles what it owns with the target states: RUNNING starts (or resumes) the
   connector; PAUSED stops polling but keeps the lease; STOPPED stops it, reports STOPPED and
   releases the lease; a new ``generation`` (config change, restart request) restarts it;
5. reports state, last error and counters to ``connector_status`` every ``status_interval``.

A worker that dies stops heartbeating and renewing: within one TTL its leases expire and its
connectors are claimed by the others (whose fair share grew). A worker stopped by SIGTERM /
SIGINT lets every runner finish its current batch, releases its leases and leaves the live
set, so the others take over at their next tick. No consumer-group protocol is involved:
the database the API already needs is the coordination point.

**Fencing.** A lease proves ownership only while it is live, so the runner asks before every
checkpoint commit (``SourceRunner(before_commit=...)``): if this worker does not hold the lease
for at least ``fence_margin`` more seconds, the commit is refused (:class:`LeaseLost`), the
batch is not committed and the connector thread stops. Records already produced by a zombie
are duplicates with the same record id (at-least-once), never a moved checkpoint. Residual
window: a pause longer than ``fence_margin`` between the check and the commit statement.
Sink connectors (:mod:`connectors.sinks.runner`) commit Kafka consumer offsets in their
consumer group ``hub-sink-<name>``; the group coordinator refuses a zombie member's commit.

**Threads.** One loop thread (the caller of :meth:`ConnectWorker.run`) does all lease and
status I/O. Each running connector has its own thread (:class:`ConnectorThread`) that builds
the plugin, owns the task, the runner (source or sink) and **its own producer**: a producer per connector
isolates failures (a producer in a fatal idempotence state is recreated by restarting just
that connector) and keeps one connector's ``flush`` from waiting on another's records; it costs
one connection and I/O thread per connector, fine for tens per worker. The schema-registry
client (stateless, thread-safe) and the offset store are shared. ``/healthz`` and ``/metrics``
are served by uvicorn on a third thread.
"""

from __future__ import annotations

import inspect
import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from connectors.connector_thread import (  # noqa: F401 - LeaseLost re-exported
    ConnectorThread,
    ConnectorUnavailable,
    LeaseLost,
    describe_error,
)
from connectors.plugins import PLUGINS
from connectors.runtime.metrics import ConnectorMetrics
from connectors.runtime.offsets import OffsetStore
from connectors.runtime.plugin import Plugin
from connectors.secret_box import SecretBox
from connectors.store import ConnectorRecord, ConnectorStore
from hub_api.db import Database
from hub_api.registry.client import RegistryClient
from ops.metrics import new_registry
from ops.settings import HubSettings

log = logging.getLogger("hub.connectors.worker")


class ConnectWorker:
    """Runs the connectors this worker holds leases on (see the module docstring).

    ``plugins`` is the plugin table (tests inject their own); ``runner_options`` are passed to
    every runner that accepts them (``retry_attempts``, ``max_failures``, ``flush_timeout``, ...);
    ``topic_names`` maps catalog topics to the topics actually produced to (tests, staging).
    """

    def __init__(self, settings: HubSettings, db: Database, worker_id: str | None = None,
                 plugins: Mapping[str, Plugin] = PLUGINS, lease_ttl: float = 15.0, status_interval: float = 2.0,
                 max_restarts: int = 5, restart_initial: float = 1.0, restart_max: float = 60.0,
                 runner_options: Mapping[str, Any] | None = None, topic_names: Mapping[str, str] | None = None,
                 state_dir: Path | None = None, stop_timeout: float = 30.0):
        self.settings, self.db, self.plugins = settings, db, plugins
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.lease_ttl, self.status_interval = lease_ttl, status_interval
        self.interval = lease_ttl / 3
        self.fence_margin = lease_ttl / 5
        self.max_restarts, self.restart_initial, self.restart_max = max_restarts, restart_initial, restart_max
        self.runner_options = dict(runner_options or {})
        self.topic_names = dict(topic_names or {})
        self.state_dir = state_dir or settings.var_dir / "connectors"
        self.stop_timeout = stop_timeout
        self.store = ConnectorStore(db, box=SecretBox.from_settings(settings), plugins=plugins)
        self.offsets = OffsetStore(db)
        self.metrics = ConnectorMetrics(new_registry())
        auth = ((settings.registry_client_id, settings.registry_client_secret.get_secret_value())
                if settings.registry_client_id and settings.registry_client_secret else None)
        self.registry = RegistryClient(settings.effective_registry_url, auth=auth)
        self.connectors: dict[str, ConnectorThread] = {}
        self._retiring: dict[str, ConnectorThread] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._reported = 0.0
        self._dirty = False
        self.last_tick = 0.0
        """``time.monotonic()`` of the last completed loop round (``/healthz``)."""

    # -- lifecycle -------------------------------------------------------------------------

    def wake(self) -> None:
        """Run the next loop round now and report (a connector changed state)."""
        self._dirty = True
        self._wake.set()

    def stop(self) -> None:
        """Ask :meth:`run` to stop (signal handlers, tests); it drains and releases leases."""
        self._stop.set()
        self._wake.set()

    def run(self, release_leases: bool = True) -> None:
        """Loop on the calling thread until :meth:`stop`; then stop every connector after its
        current batch and, if ``release_leases``, report, release the leases and leave the live
        set (``False`` leaves them to expire, as a crash would: tests)."""
        self._ensure_schema()
        log.info("connect worker started", extra={"worker_id": self.worker_id, "lease_ttl": self.lease_ttl})
        try:
            while not self._stop.is_set():
                try:
                    self.tick()
                except Exception as exc:  # noqa: BLE001 - a database hiccup must not kill the worker
                    log.warning("worker loop round failed", extra={"worker_id": self.worker_id,
                                                                   "error_class": type(exc).__name__})
                self._wake.wait(self.interval)
                self._wake.clear()
        finally:
            self._shutdown(release_leases)

    def options_for(self, runner_class: type) -> dict[str, Any]:
        """The ``runner_options`` that ``runner_class`` accepts (sources and sinks share most)."""
        accepted = inspect.signature(runner_class.__init__).parameters
        return {k: v for k, v in self.runner_options.items() if k in accepted}

    def _ensure_schema(self, attempts: int = 5) -> None:
        # The API may be creating the same tables right now (hub up): retry a lost race.
        for attempt in range(1, attempts + 1):
            try:
                self.db.create_schema()
                return
            except Exception:
                if attempt == attempts:
                    raise
                time.sleep(0.5 * attempt)

    def _shutdown(self, release: bool) -> None:
        for conn in self.connectors.values():
            conn.stop()
        deadline = time.monotonic() + self.stop_timeout
        for conn in self.connectors.values():
            conn.stop(wait=max(0.1, deadline - time.monotonic()))
        if release:
            for name, conn in self.connectors.items():
                _state, error, counters = conn.snapshot()
                self.store.report_status(name, self.worker_id, "UNASSIGNED", error, counters)
            self.store.release(self.worker_id)
            self.store.forget_worker(self.worker_id)
        self.connectors.clear()
        self.registry.close()
        log.info("connect worker stopped", extra={"worker_id": self.worker_id, "released": release})

    # -- one loop round --------------------------------------------------------------------

    def tick(self) -> None:
        """One round: heartbeat, renew, rebalance, claim, reconcile, report (loop thread only)."""
        store, ttl = self.store, self.lease_ttl
        store.heartbeat(self.worker_id)
        held = store.renew(self.worker_id, list(self.connectors), ttl)
        for name in [n for n in self.connectors if n not in held]:
            log.warning("lease lost", extra={"worker_id": self.worker_id, "connector": name})
            self._retire(name, wait=0.0, release=False)
        records = {r.name: r for r in store.list(held)}
        for name in sorted(held):
            record = records.get(name)
            if record is None or record.target_state == "STOPPED":
                self._retire(name, wait=self.interval, final="STOPPED" if record else None)
                held.discard(name)
        quota = store.fair_share(ttl)
        for name in sorted(held)[quota:]:  # a worker joined: give back the surplus
            log.info("rebalancing: releasing", extra={"worker_id": self.worker_id, "connector": name})
            self._retire(name, wait=self.interval)
            held.discard(name)
        claimed = store.claim(self.worker_id, ttl)
        if claimed:
            log.info("claimed connectors", extra={"worker_id": self.worker_id, "connectors": claimed})
            records.update({r.name: r for r in store.list(claimed)})
        for name in sorted(held | set(claimed)):
            self._reconcile(records[name])
        store.settle_stopped()
        if self._dirty or time.monotonic() - self._reported >= self.status_interval:
            self._dirty = False
            self._report()
        self.last_tick = time.monotonic()

    def _reconcile(self, record: ConnectorRecord) -> None:
        name, conn = record.name, self.connectors.get(record.name)
        if conn is not None and conn.generation != record.generation and not conn.stopping:
            log.info("restarting: new generation", extra={"connector": name, "generation": record.generation})
            conn.stop()
        if conn is not None and conn.stopping:
            if conn.alive:
                return  # let it finish its batch before its successor opens the task
            conn = None
        if conn is None or (not conn.alive and conn.state not in ("FAILED",)):
            retiring = self._retiring.get(name)
            if retiring is not None and retiring.alive:
                return
            self._retiring.pop(name, None)
            status = self.store.status(name)
            conn = self.connectors[name] = ConnectorThread(self, record, status.counters if status else {})
            conn.pause(record.target_state == "PAUSED")
            conn.start()
            return
        conn.pause(record.target_state == "PAUSED")

    def _retire(self, name: str, wait: float, release: bool = True, final: str | None = None) -> None:
        """Stop ``name``'s thread (waiting up to ``wait`` s), report ``final`` and release its lease."""
        conn = self.connectors.pop(name, None)
        if conn is not None:
            conn.stop(wait=wait)
            if conn.alive:
                self._retiring[name] = conn  # fenced: it can no longer commit once the lease is gone
        if final is not None:
            counters = conn.snapshot()[2] if conn else None
            self.store.report_status(name, self.worker_id, final, conn.last_error if conn else None, counters)
        if release:
            self.store.release(self.worker_id, [name])

    def _report(self) -> None:
        for name, conn in list(self.connectors.items()):
            state, error, counters = conn.snapshot()
            self.store.report_status(name, self.worker_id, state, error, counters)
        self._reported = time.monotonic()

    def health(self) -> tuple[bool, dict]:
        """(healthy, body) for ``/healthz``: the loop ran within three rounds."""
        age = time.monotonic() - self.last_tick if self.last_tick else None
        ok = age is not None and age < self.interval * 3 + 5
        return ok, {"status": "ok" if ok else "stalled", "worker_id": self.worker_id,
                    "loop_age_s": None if age is None else round(age, 2),
                    "connectors": {n: c.snapshot()[0] for n, c in self.connectors.items()}}


def build_app(worker: ConnectWorker):
    """The worker's HTTP surface: ``/healthz`` and ``/metrics`` (its own Prometheus registry)."""
    from fastapi import FastAPI, Response
    from fastapi.responses import JSONResponse
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    app = FastAPI(title="Supervision Integration Hub connect worker", docs_url=None, redoc_url=None)

    @app.get("/healthz")
    def healthz():
        ok, body = worker.health()
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(worker.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def run_worker(settings: HubSettings, host: str = "127.0.0.1", port: int = 0, worker_id: str | None = None,
               lease_ttl: float = 15.0) -> int:
    """``hub connect``: one worker until SIGTERM / SIGINT; serves /healthz and /metrics on ``port``
    (0: a free port, printed)."""
    from connectors.runtime.collector import tune_collector
    from ops.logging import configure_logging
    from ops.threaded_server import ThreadedServer

    configure_logging(settings.log_level, settings.log_json)
    tune_collector(settings.connect_gc_threshold)
    db = Database(settings.database_url)
    worker = ConnectWorker(settings, db, worker_id=worker_id, lease_ttl=lease_ttl)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: worker.stop())
    server = ThreadedServer(build_app(worker), host=host, port=port or None)
    server.start()
    print(f"hub connect: worker {worker.worker_id} serving /healthz and /metrics on {server.url}", flush=True)
    try:
        worker.run()
    finally:
        server.stop()
        db.dispose()
    return 0
