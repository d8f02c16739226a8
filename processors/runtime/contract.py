"""The processor contract.

A processor is a plain object with a ``name``, the standard ``topics`` it consumes and an
``apply(conn, records, ctx)`` method that writes its effects with SQLAlchemy Core on
``conn``. The runtime (:class:`processors.runtime.apply.BatchApplier`) calls it inside
one database transaction per batch, after removing records whose id it has already
processed, and records the ids of ``records`` in that same transaction. So ``apply``:

- must be deterministic given the database state and the records (it may be re-run on
  the same batch after a rollback);
- must not commit, produce to Kafka or call out over the network: outputs go through
  :meth:`Context.emit` (the transactional outbox);
- reports records it ignored as older than what it holds with ``ctx.stale(record)``;
- may raise: the batch is then rolled back and retried record by record, and a record
  that fails on its own is dead-lettered with the error, never crashing the pipeline.

Timed work (daily certificate expiry, statutory clocks) is a :class:`Timer` whose ``fn``
runs in its own transaction with a fresh context; time is read only from ``ctx.now``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection

from topics.catalog import get as get_topic


@dataclass(frozen=True, slots=True)
class InRecord:
    """One decoded input record and where it came from."""

    topic: str
    partition: int
    offset: int
    key: str | None
    value: dict[str, Any]
    raw: bytes = b""
    timestamp_ms: int | None = None

    @property
    def envelope(self) -> dict[str, Any]:
        return self.value.get("envelope") or {}

    @property
    def record_id(self) -> str:
        """The envelope's deterministic record id (source system + key + version), else the position."""
        rid = self.envelope.get("record_id")
        return rid or f"{self.topic}:{self.partition}:{self.offset}"

    @property
    def source_system(self) -> str:
        return self.envelope.get("source_system") or ""

    @property
    def source_version(self) -> str | None:
        return self.envelope.get("source_version")


@dataclass(frozen=True, slots=True)
class Emitted:
    """An output record queued in the outbox by :meth:`Context.emit`."""

    topic: str
    key: str
    value: dict[str, Any]


@dataclass
class Context:
    """Per-transaction services for a processor: time, outputs and counters."""

    now: datetime
    emitted: list[Emitted] = field(default_factory=list)
    counters: Counter = field(default_factory=Counter)
    stale_ids: set[str] = field(default_factory=set)

    def emit(self, topic: str, value: dict[str, Any], key: str | None = None) -> None:
        """Queue ``value`` for ``topic`` (a catalog topic); key defaults to the catalog key field."""
        if key is None:
            key = _dotted(value, get_topic(topic).key_field)
        self.emitted.append(Emitted(topic, str(key), value))

    def count(self, name: str, n: int = 1) -> None:
        """Add to a named counter (exported as ``hub_processor_events_total{event=name}``)."""
        self.counters[name] += n

    def stale(self, record: InRecord) -> None:
        """Mark ``record`` as ignored because a newer source version is already applied."""
        self.stale_ids.add(record.record_id)
        self.counters["stale"] += 1


@dataclass(frozen=True, slots=True)
class Timer:
    """Work a processor does on a schedule: ``fn(conn, ctx)`` every ``interval_s`` seconds."""

    name: str
    interval_s: float
    fn: Callable[[Connection, Context], None]


class Processor(Protocol):
    name: str
    topics: tuple[str, ...]
    timers: tuple[Timer, ...]

    def apply(self, conn: Connection, records: Sequence[InRecord], ctx: Context) -> None:
        """Apply ``records`` (new to this processor, in consumption order) to its tables."""


def _dotted(value: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        value = value[part]
    return value
