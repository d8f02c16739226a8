"""What one runner cycle produces and raises: batch results, delivery bookkeeping, runner errors.

:class:`DeliveryTracker` collects the broker's acknowledgements of one batch; the producer
calls it from its I/O thread (kafka-python) or from the thread flushing (confluent), so it
is lock-protected and the runner waits on it after ``flush``.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

from connectors.runtime.pipeline import RecordRejected
from topics.transport import Delivery


class ConnectorStrictModeError(RuntimeError):
    """Strict mode met a bad record: the connector is FAILED; offsets stop before the record."""

    def __init__(self, connector: str, rejection: RecordRejected, partition: str, offset: str):
        super().__init__(f"connector {connector} (strict) rejected the record at {partition}@{offset}: "
                         f"{rejection.stage}/{rejection.reason}: {rejection.message}")
        self.connector, self.rejection, self.partition, self.offset = connector, rejection, partition, offset


class BatchNotCommitted(RuntimeError):
    """A batch's deliveries did not all succeed; retriable: the runner rewinds to the last checkpoint."""


class ConnectorFailed(RuntimeError):
    """:meth:`SourceRunner.run` gave up after ``max_failures`` consecutive failed batches."""


@dataclass
class BatchResult:
    """Outcome of one :meth:`SourceRunner.run_once` cycle."""

    polled: int = 0
    produced: int = 0
    dead_lettered: int = 0
    skipped: int = 0
    rejected: Counter = field(default_factory=Counter)
    """``"stage/reason"`` -> dead letters of the batch."""
    committed: dict[str, str] = field(default_factory=dict)
    """Offsets committed for the batch, per source partition."""


class DeliveryTracker:
    """Delivery outcomes of one batch. Callbacks may arrive on the producer's I/O thread."""

    def __init__(self) -> None:
        # Callbacks take the plain lock (a C-level context manager, once per record); the
        # condition shares it, so notifying under it is allowed.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self.done = 0
        self.failed = 0
        self.ok_by_topic: Counter = Counter()
        self.first_error: str | None = None
        self._awaited: int | None = None  # the count a waiter waits for; None: nobody waits

    def __call__(self, delivery: Delivery) -> None:
        with self._lock:
            self.done += 1
            if delivery.ok:
                self.ok_by_topic[delivery.topic] += 1
            else:
                self.failed += 1
                self.first_error = self.first_error or type(delivery.error).__name__
            # Wake the waiter once, when its count is reached, not on each of a batch's records.
            if self._awaited is not None and self.done >= self._awaited:
                self._cond.notify_all()

    def wait(self, expected: int, timeout: float) -> bool:
        with self._cond:
            self._awaited = expected
            try:
                return self._cond.wait_for(lambda: self.done >= expected, timeout)
            finally:
                self._awaited = None


class Send(NamedTuple):
    """One encoded record ready for ``Producer.send`` (a tuple: one is built per record)."""

    topic: str
    value: bytes
    key: bytes
    headers: list[tuple[str, bytes]]


def too_large(exc: Exception) -> bool:
    """Whether a local producer error means the record itself is too large (a ``produce`` rejection)."""
    text = f"{type(exc).__name__} {exc}".lower()
    return "toolarge" in text or "too_large" in text or "too large" in text
