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
import random
import signal
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from connectors.plugins import PLUGINS
from connectors.runtime.batch import BatchNotCommitted, ConnectorFailed, ConnectorStrictModeError
from connectors.runtime.metrics import ConnectorMetrics
from connectors.runtime.offsets import OffsetStore
from connectors.runtime.plugin import Plugin, PluginContext, SinkTask, SourceParts
from connectors.runtime.runner import SourceRunner
from connectors.sinks.runner import SinkRunner, sink_runner
from connectors.store import COUNTERS, ConnectorRecord, ConnectorStore
from hub_api.db import Database
from hub_api.registry.client import RegistryClient, RegistryError
from ops.metrics import new_registry
from ops.settings import HubSettings
from topics.transport import make_producer

log = logging.getLogger("hub.connectors.worker")


class LeaseLost(RuntimeError):
    """This worker no longer holds (or is about to lose) the connector's lease: do not commit."""


class ConnectorUnavailable(RuntimeError):
    """The connector cannot be built as configured (unknown plugin, sink plugin, stale config)."""


_SAFE_MESSAGES = (ConnectorStrictModeError, BatchNotCommitted, ConnectorFailed, LeaseLost, ConnectorUnavailable,
                  RegistryError)


def describe_error(exc: BaseException) -> str:
    """``last_error`` text without personal data: the runtime's own messages (codes, positions)
    verbatim; any other error by class only, as its message may quote source values."""
    if isinstance(exc, ConnectorFailed) and exc.__cause__ is not None:
        return f"{exc}; last: {describe_error(exc.__cause__)}"[:1000]
    if isinstance(exc, _SAFE_MESSAGES):
        return f"{type(exc).__name__}: {exc}"[:1000]
    return f"{type(exc).__name__} (message withheld: it may quote source data)"


class ConnectorThread:
    """One owned connector on its own thread: build, run batches, pause, restart with backoff.

    The worker's loop thread calls :meth:`start`, :meth:`pause`, :meth:`stop` and reads
    :meth:`snapshot`; everything else runs on the connector's thread. A failed batch is
    retried after a jittered exponential pause; ``runner.max_failures`` failures in a row
    restart the connector (new task, runner and producer) after a backoff of
    ``restart_initial * 2**n`` (capped, jittered); ``max_restarts`` consecutive restarts
    without progress leave it FAILED with ``last_error`` set. Strict-mode errors and
    unbuildable configs are FAILED at once (retrying cannot help).
    """

    def __init__(self, worker: ConnectWorker, record: ConnectorRecord, counters: Mapping[str, int]):
        self.worker, self.record = worker, record
        self.name, self.generation = record.name, record.generation
        self.state = "RUNNING"
        self.last_error: str | None = None
        self.counters = {k: int(counters.get(k, 0)) for k in COUNTERS}
        self.stopping = False
        self._progress = False  # a batch polled something since the last restart
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._thread = threading.Thread(target=self._main, name=f"connector-{self.name}", daemon=True)

    # -- called by the worker loop ---------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def pause(self, paused: bool) -> None:
        (self._paused.set if paused else self._paused.clear)()

    def stop(self, wait: float = 0.0) -> bool:
        """Ask the thread to stop after its current batch; True if it ended within ``wait`` seconds."""
        self.stopping = True
        self._stop.set()
        if wait and self._thread.is_alive():
            self._thread.join(wait)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def snapshot(self) -> tuple[str, str | None, dict[str, int]]:
        with self._lock:
            return self.state, self.last_error, dict(self.counters)

    # -- the connector's thread ------------------------------------------------------------

    def _set(self, state: str, error: BaseException | None = None) -> None:
        with self._lock:
            changed = state != self.state
            self.state = state
            if error is not None:
                self.last_error = describe_error(error)
        if changed:
            if state in ("RUNNING", "PAUSED", "STOPPED", "FAILED"):
                self.worker.metrics.state(self.name, state)
            self.worker.wake()

    def _count(self, **deltas: int) -> None:
        with self._lock:
            for key, n in deltas.items():
                self.counters[key] += n

    def _main(self) -> None:
        restarts = 0
        while not self._stop.is_set():
            self._progress = False
            try:
                self._run_generation()
                break
            except LeaseLost as exc:
                log.warning("lease lost, connector stopped", extra={"connector": self.name})
                self._set("UNASSIGNED", exc)
                return
            except (ConnectorStrictModeError, ConnectorUnavailable) as exc:
                self._set("FAILED", exc)
                return
            except Exception as exc:  # noqa: BLE001 - any failure restarts the connector
                restarts = 1 if self._progress else restarts + 1
                self._count(failures=1)
                if restarts >= self.worker.max_restarts:
                    log.error("connector failed", extra={"connector": self.name, "restarts": restarts,
                                                         "error_class": type(exc).__name__})
                    self._set("FAILED", exc)
                    return
                self._set("RUNNING", exc)
                pause = min(self.worker.restart_max, self.worker.restart_initial * 2 ** (restarts - 1))
                log.warning("connector restarting", extra={"connector": self.name, "restarts": restarts,
                                                           "error_class": type(exc).__name__,
                                                           "in_s": round(pause, 2)})
                self._stop.wait(pause * random.uniform(0.5, 1.0))
        self._set("STOPPED")

    def _build(self) -> tuple[Plugin, Any, SourceParts | SinkTask]:
        cfg = self.record.connector_config
        plugin: Plugin | None = self.worker.plugins.get(cfg.plugin)
        if plugin is None:
            raise ConnectorUnavailable(f"unknown connector plugin {cfg.plugin!r}; valid plugins: "
                                       f"{', '.join(sorted(self.worker.plugins)) or '(none)'}")
        try:
            plugin_config = plugin.config_model.model_validate(cfg.config)
        except ValidationError as exc:
            fields = ", ".join(sorted({".".join(map(str, e["loc"])) for e in exc.errors()}))
            raise ConnectorUnavailable(f"stored config is not valid for plugin {cfg.plugin!r} (fields: {fields}); "
                                       "PUT a corrected config") from None
        state_dir = self.worker.state_dir / self.name
        state_dir.mkdir(parents=True, exist_ok=True)
        parts = plugin.build(plugin_config, PluginContext(self.name, self.worker.settings, state_dir, time.time))
        return plugin, plugin_config, parts

    def _run_generation(self) -> None:
        cfg = self.record.connector_config
        plugin, plugin_config, parts = self._build()
        producer = make_producer(self.worker.settings)  # sources: records; sinks: dead letters
        services = {"settings": self.worker.settings, "producer": producer, "registry": self.worker.registry,
                    "metrics": self.worker.metrics, "batch_size": cfg.batch_size}
        if plugin.kind == "sink":
            # Sinks are fenced by their Kafka consumer group: a zombie member's offset commit
            # is refused by the group coordinator once the group rebalanced.
            runner = sink_runner(self.name, plugin_config, parts, **services, **self.worker.options_for(SinkRunner))
        else:
            runner = SourceRunner(
                self.name, parts.task, parts.mapper, source_system=cfg.source_system, offsets=self.worker.offsets,
                mode=cfg.mode, identifier_fields=parts.identifier_fields, encoding=cfg.encoding,
                topic_names=self.worker.topic_names, before_commit=self._fence, **services,
                **self.worker.options_for(SourceRunner))
        try:
            self._drive(runner)
        finally:
            try:
                runner.close()
            finally:
                producer.close()

    def _drive(self, runner: SourceRunner) -> None:
        failures, idle, idle_max = 0, 0.05, 1.0
        while not self._stop.is_set():
            if self._paused.is_set():
                runner.close()  # the task re-opens at the committed offsets on resume
                self._set("PAUSED")
                while self._paused.is_set() and not self._stop.wait(0.1):
                    pass
                continue
            self._set("RUNNING")
            try:
                result = runner.run_once()
            except (ConnectorStrictModeError, LeaseLost):
                raise
            except Exception as exc:
                failures += 1
                self._count(failures=1)
                with self._lock:
                    self.last_error = describe_error(exc)
                if failures >= runner.max_failures:
                    raise ConnectorFailed(f"connector {self.name} failed {failures} batches in a row") from exc
                pause = min(runner.retry_max, runner.retry_initial * 2 ** failures)
                self._stop.wait(pause * random.uniform(0.5, 1.0))
                continue
            failures = 0
            if result.polled:
                self._progress = True
                produced = getattr(result, "produced", None)
                self._count(polled=result.polled, dead_lettered=result.dead_lettered,
                            produced=result.delivered if produced is None else produced,
                            committed=result.polled if result.committed else 0)
                idle = 0.05
            else:
                self._stop.wait(idle)
                idle = min(idle * 2, idle_max)

    def _fence(self) -> None:
        if not self.worker.store.holds(self.name, self.worker.worker_id, margin=self.worker.fence_margin):
            raise LeaseLost(f"worker {self.worker.worker_id} no longer holds the lease of {self.name}; "
                            "batch not committed")


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
        self.store = ConnectorStore(db)
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
    from ops.logging import configure_logging
    from ops.threaded_server import ThreadedServer

    configure_logging(settings.log_level, settings.log_json)
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
