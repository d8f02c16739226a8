"""Apply a batch of input records to a processor's tables, exactly once in effect.

One database transaction per batch holds: the processor's writes, the outbox rows it
emitted and the ids of the records it consumed (``processed_records``). Records whose id
is already there — redeliveries after a crash, duplicates from a source — are counted and
skipped before the processor sees them; duplicates inside one batch are skipped too.

If ``apply`` raises, the transaction is rolled back and the batch is retried one record
per transaction, so one bad record cannot hold back the others. A record that still fails
is returned as a :class:`Rejected` for the caller to dead-letter; its id is recorded with
outcome ``dead_letter`` by :meth:`BatchApplier.record_dead_letters` once the dead letter
is acknowledged, so it is not retried forever and the id ledger has no gaps.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, insert, select

from processors.runtime.clock import Clock, SystemClock
from processors.runtime.contract import Context, InRecord, Processor
from processors.runtime.models import ProcessedRecord
from processors.runtime.outbox import enqueue

log = logging.getLogger("processors.apply")

_IN_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Rejected:
    record: InRecord
    error_class: str
    reason: str
    message: str


@dataclass
class BatchResult:
    applied: int = 0
    duplicates: int = 0
    stale: int = 0
    emitted: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)


class BatchApplier:
    """Runs one processor's ``apply`` over batches with the guarantees described above."""

    def __init__(self, engine: Engine, processor: Processor, clock: Clock | None = None) -> None:
        self.engine = engine
        self.processor = processor
        self.clock = clock or SystemClock()

    def handle(self, records: Sequence[InRecord]) -> BatchResult:
        result = BatchResult()
        try:
            with self.engine.begin() as conn:
                fresh = self._fresh(conn, records, result)
                if fresh:
                    self._apply(conn, fresh, result)
            return result
        except Exception as exc:  # noqa: BLE001 - isolate the failing record below
            if len(records) == 1:
                return self._reject(records[0], exc)
            log.warning("processor %s: batch of %d failed (%s); retrying record by record",
                        self.processor.name, len(records), type(exc).__name__)
        total = BatchResult()
        for record in records:
            part = self.handle([record])
            total.applied += part.applied
            total.duplicates += part.duplicates
            total.stale += part.stale
            total.emitted += part.emitted
            total.rejected.extend(part.rejected)
            for k, v in part.counters.items():
                total.counters[k] = total.counters.get(k, 0) + v
        return total

    def _fresh(self, conn: Connection, records: Sequence[InRecord], result: BatchResult) -> list[InRecord]:
        ids = list({r.record_id for r in records})
        seen: set[str] = set()
        for i in range(0, len(ids), _IN_CHUNK):
            chunk = ids[i:i + _IN_CHUNK]
            seen.update(conn.execute(
                select(ProcessedRecord.record_id).where(
                    ProcessedRecord.processor == self.processor.name, ProcessedRecord.record_id.in_(chunk))
            ).scalars())
        fresh = []
        for record in records:
            if record.record_id in seen:
                result.duplicates += 1
                continue
            seen.add(record.record_id)
            fresh.append(record)
        return fresh

    def _apply(self, conn: Connection, fresh: list[InRecord], result: BatchResult) -> None:
        ctx = Context(now=self.clock.now())
        self.processor.apply(conn, fresh, ctx)
        result.emitted += enqueue(conn, ctx.emitted, ctx.now)
        conn.execute(insert(ProcessedRecord), [
            {"processor": self.processor.name, "record_id": r.record_id, "topic": r.topic,
             "partition": r.partition, "offset": r.offset,
             "outcome": "stale" if r.record_id in ctx.stale_ids else "applied", "processed_at": ctx.now}
            for r in fresh
        ])
        result.stale += len(ctx.stale_ids)
        result.applied += len(fresh) - len(ctx.stale_ids)
        for k, v in ctx.counters.items():
            if k != "stale":
                result.counters[k] = result.counters.get(k, 0) + v

    def _reject(self, record: InRecord, exc: Exception) -> BatchResult:
        reason = getattr(exc, "reason", None) or "processing"
        message = f"{type(exc).__name__} in processor {self.processor.name}: {str(exc)[:300]}"
        log.warning("processor %s: record rejected (%s, %s)", self.processor.name, reason, type(exc).__name__,
                    extra={"record_id": record.record_id, "topic": record.topic, "offset": record.offset})
        return BatchResult(rejected=[Rejected(record, type(exc).__name__, reason, message)])

    def record_dead_letters(self, rejected: Sequence[Rejected]) -> None:
        """Mark dead-lettered records processed (call after the dead letters were acknowledged)."""
        if not rejected:
            return
        now = self.clock.now()
        with self.engine.begin() as conn:
            fresh = self._fresh(conn, [r.record for r in rejected], BatchResult())
            if fresh:
                conn.execute(insert(ProcessedRecord), [
                    {"processor": self.processor.name, "record_id": r.record_id, "topic": r.topic,
                     "partition": r.partition, "offset": r.offset, "outcome": "dead_letter", "processed_at": now}
                    for r in fresh
                ])

    def run_timer(self, fn) -> BatchResult:
        """Run timed work ``fn(conn, ctx)`` in its own transaction; outputs go to the outbox."""
        result = BatchResult()
        with self.engine.begin() as conn:
            ctx = Context(now=self.clock.now())
            fn(conn, ctx)
            result.emitted = enqueue(conn, ctx.emitted, ctx.now)
            result.counters = dict(ctx.counters)
        return result
