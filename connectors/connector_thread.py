"""One running connector on a connect worker: its thread, its runner, its producer, its restarts.

Used by :class:`connectors.worker.ConnectWorker`, which owns the leases; see that module for
the assignment and fencing model.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from connectors.runtime.batch import BatchNotCommitted, ConnectorFailed, ConnectorStrictModeError
from connectors.runtime.plugin import Plugin, PluginContext, SinkTask, SourceParts
from connectors.runtime.runner import SourceRunner
from connectors.sinks.runner import SinkRunner, sink_runner
from connectors.store import COUNTERS, ConnectorRecord
from hub_api.registry.client import RegistryError
from topics.transport import make_producer

if TYPE_CHECKING:  # the worker imports this module; the annotation only needs the name
    from connectors.worker import ConnectWorker

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
        if self.record.secrets_error:
            raise ConnectorUnavailable(self.record.secrets_error)
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
        plugin, plugin_config, parts = self._build()
        cfg = self.record.connector_config
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
        runner.stop_event = self._stop  # a stop cuts retries against a system that is down short
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
