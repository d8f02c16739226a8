"""What the source and sink runners share: their reported state and retried external calls."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from tenacity import Retrying, stop_after_attempt, stop_when_event_set, wait_exponential_jitter

from connectors.runtime.batch import ConnectorFailed, too_large

log = logging.getLogger("hub.connectors")
T = TypeVar("T")


class RunnerLifecycle:
    """Mixin for a runner with ``name``, ``metrics`` (or None), ``state``, ``retry_attempts``,
    ``retry_initial``, ``retry_max``, ``max_failures`` attributes and ``run_once()`` (returning a
    result with ``polled``) and ``close()`` methods. Methods run on the runner's worker thread."""

    kind = "connector"
    """What the log and error messages call this runner."""
    fatal: tuple[type[BaseException], ...] = ()
    """Errors that end :meth:`run` at once instead of being retried (e.g. strict mode)."""
    max_failures: int
    producer: Any
    dlq_topic: str

    name: str
    metrics: Any
    state: str
    retry_attempts: int
    retry_initial: float
    retry_max: float
    stop_event: threading.Event | None = None
    """Set when the runner's owner is stopping: retries end at once (their last error is raised)
    and their pauses are cut short, so a worker stops promptly while a system is down."""

    def _set_state(self, state: str) -> None:
        self.state = state
        if self.metrics:
            self.metrics.state(self.name, state)

    def _retrying(self, operation: str, fn: Callable[[], T]) -> T:
        """``fn()`` retried with bounded exponential backoff and jitter; the last error is re-raised."""

        def before_sleep(rs) -> None:
            if self.metrics:
                self.metrics.retried(self.name, operation)
            log.warning("retrying %s", operation, extra={"connector": self.name, "attempt": rs.attempt_number,
                                                         "error_class": type(rs.outcome.exception()).__name__})

        stop, sleep = stop_after_attempt(self.retry_attempts), time.sleep
        if self.stop_event is not None:
            stop, sleep = stop | stop_when_event_set(self.stop_event), self.stop_event.wait
        return Retrying(stop=stop, reraise=True, before_sleep=before_sleep, sleep=sleep,
                        wait=wait_exponential_jitter(initial=self.retry_initial, max=self.retry_max))(fn)

    def _send_dead_letter(self, value: bytes | None, key: bytes, headers: list[tuple[str, bytes]],
                          stage: str, reason: str, on_delivery: Callable) -> None:
        """Send one dead letter; if its original bytes are too large for the broker, send the
        headers (reason, position) with an empty value and ``hub.value.dropped: too_large``."""
        try:
            self.producer.send(self.dlq_topic, value, key=key, headers=headers, on_delivery=on_delivery)
        except Exception as exc:
            if not too_large(exc):
                raise
            self.producer.send(self.dlq_topic, b"", key=key, headers=[*headers, ("hub.value.dropped", b"too_large")],
                               on_delivery=on_delivery)
        if self.metrics:
            self.metrics.dead_lettered(self.name, stage, reason)

    def run(self, stop: threading.Event, idle_initial: float = 0.05, idle_max: float = 1.0) -> None:
        """Run batches until ``stop`` is set; closes the runner on the way out.

        Idle polls back off from ``idle_initial`` to ``idle_max`` seconds. A failed batch is
        retried (the runner rewinds to its last checkpoint) after an exponential, jittered
        pause; after ``max_failures`` consecutive failures the state is FAILED and
        :class:`ConnectorFailed` is raised. Errors in :attr:`fatal` are raised at once.
        """
        self.stop_event = stop
        self._set_state("RUNNING")
        failures, idle = 0, idle_initial
        try:
            while not stop.is_set():
                try:
                    result = self.run_once()
                except self.fatal:
                    raise
                except Exception as exc:
                    failures += 1
                    log.warning(f"{self.kind} batch failed, rewinding", extra={
                        "connector": self.name, "error_class": type(exc).__name__, "failures": failures})
                    if failures >= self.max_failures:
                        self._set_state("FAILED")
                        raise ConnectorFailed(f"{self.kind} {self.name} failed {failures} batches in a row") from exc
                    stop.wait(min(self.retry_max, self.retry_initial * 2 ** failures) * random.uniform(0.5, 1.0))
                    continue
                failures = 0
                if result.polled:
                    idle = idle_initial
                else:
                    stop.wait(idle)
                    idle = min(idle * 2, idle_max)
        finally:
            self.close()
            if self.state != "FAILED":
                self._set_state("STOPPED")
