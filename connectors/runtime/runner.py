"""The source runner: poll -> decode -> repair -> map -> validate -> encode -> produce -> checkpoint.

One :class:`SourceRunner` drives one :class:`~connectors.runtime.contract.SourceTask` on one
worker thread (the thread calling :meth:`SourceRunner.run` or :meth:`SourceRunner.run_once`).

**Checkpoint rule** (at-least-once). A batch's offsets are committed -- the last offset per
source partition, in one SQL transaction -- only after ``producer.flush()`` and only if every
record sent for the batch (standard records *and* dead letters) was acknowledged by the
broker. If any delivery failed or has no outcome, nothing is committed: the batch raises
:class:`BatchNotCommitted` and the next cycle closes the task and re-opens it at the
committed offsets, so the batch is polled and produced again (duplicates carry the same
record id). Any other failure after a poll (registry, flush, SQL) rewinds the same way.

**Read-ahead.** While the broker acknowledges a batch, the runner already polls and prepares
the next one (``prefetch``), so the acknowledgement round trip overlaps work instead of
idling the thread. Preparing has no effect outside the runner: the read-ahead batch is sent
by the next cycle, and dropped on close or rewind (the task re-opens at the committed
offsets and reads it again). A read-ahead that fails is dropped the same way and the next
cycle polls afresh, where the error surfaces with its retries.

**Rejections.** A record failing a stage (:class:`~connectors.runtime.pipeline.RecordRejected`)
is, in ``tolerant`` mode, sent to ``dlq.<connector>`` with its original bytes and the
:mod:`connectors.runtime.dlq` headers, and counts as handled (its offset is committed once
the dead letter is acknowledged). In ``strict`` mode the batch stops at it: the records
before it are flushed and, if all acknowledged, their offsets committed; then
:class:`ConnectorStrictModeError` is raised and the connector is FAILED. Nothing past the
bad record is committed.

No log line or error message carries record values: only connector names, counts, reason
codes, stages and source positions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from connectors.runtime.batch import (
    BatchNotCommitted,
    BatchResult,
    ConnectorFailed,
    ConnectorStrictModeError,
    DeliveryTracker,
    Send,
    too_large,
)
from connectors.runtime.contract import Mapped, Mapper, MappingError, RawRecord, SourceTask
from connectors.runtime.dlq import dead_letter_headers
from connectors.runtime.lifecycle import RunnerLifecycle
from connectors.runtime.metrics import ConnectorMetrics
from connectors.runtime.offsets import OffsetStore
from connectors.runtime.pipeline import (
    RecordRejected,
    check_code_rules,
    check_schema,
    decode,
    record_id,
    repairer,
    stamp_envelope,
)
from connectors.runtime.rules import first_value_at
from ops.settings import HubSettings
from schemas.loader import schema_json
from topics.catalog import CATALOG, dead_letter_topic
from topics.serde import AvroSerializer, SchemaSource, SerializationError, subject_for
from topics.transport import Producer

log = logging.getLogger("hub.connectors.runner")
MODES = ("tolerant", "strict")
__all__ = ["MODES", "BatchNotCommitted", "BatchResult", "ConnectorFailed", "ConnectorStrictModeError",
           "SourceRunner"]


class SourceRunner(RunnerLifecycle):
    """Runs one source connector. See the module docstring for the checkpoint rule.

    ``producer``, ``registry`` and ``offsets`` are shared services the caller owns and
    closes; the runner owns ``task`` (opens, rewinds and closes it). ``topic_names`` maps a
    catalog topic to the topic actually produced to (tests and staging use private names);
    the schema and key still come from the catalog. ``identifier_fields`` are dotted paths
    in the *source* document repaired before mapping. ``encoding`` is the connector's
    declared encoding, used for records that declare none.
    """

    kind = "connector"
    fatal = (ConnectorStrictModeError,)

    def __init__(self, name: str, task: SourceTask, mapper: Mapper, *, source_system: str,
                 settings: HubSettings, producer: Producer, registry: SchemaSource, offsets: OffsetStore,
                 metrics: ConnectorMetrics | None = None, mode: Literal["tolerant", "strict"] = "tolerant",
                 batch_size: int = 500, identifier_fields: Iterable[str] = (), encoding: str = "utf-8",
                 clock: Callable[[], float] = time.time, topic_names: Mapping[str, str] | None = None,
                 retry_attempts: int = 5, retry_initial: float = 0.2, retry_max: float = 5.0,
                 flush_timeout: float = 60.0, max_failures: int = 5,
                 before_commit: Callable[[], None] | None = None, prefetch: bool = True):
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; valid modes: {', '.join(MODES)}")
        if batch_size < 1 or retry_attempts < 1 or max_failures < 1:
            raise ValueError("batch_size, retry_attempts and max_failures must be at least 1")
        self.name, self.task, self.mapper, self.source_system = name, task, mapper, source_system
        self.settings, self.producer, self.registry, self.offsets = settings, producer, registry, offsets
        self.metrics, self.mode, self.batch_size = metrics, mode, batch_size
        self.identifier_fields, self.encoding, self.clock = tuple(identifier_fields), encoding, clock
        self.topic_names = dict(topic_names or {})
        self.dlq_topic = dead_letter_topic(name)
        self.retry_attempts, self.retry_initial, self.retry_max = retry_attempts, retry_initial, retry_max
        self.flush_timeout, self.max_failures = flush_timeout, max_failures
        # Fencing hook (connect worker): raises if this process may no longer commit for the
        # connector (lost lease); the batch is then not committed and rewinds.
        self.before_commit = before_commit
        self.prefetch = prefetch
        self._read_ahead: _Prepared | None = None
        self.state = "STOPPED"
        self.attempt = 1  # tries of the current uncommitted position; the hub.attempts header
        self._open = False
        self._rewind = False
        self._outputs: dict[str, _Output] = {}  # catalog topic -> what its records need
        self._repair = repairer(self.identifier_fields)
        self._newest_event_ms = 0  # newest envelope.event_time prepared so far (commit-lag metric)
        self._catalog_of: dict[str, str] = {}

    # -- lifecycle -------------------------------------------------------------------------

    def _ensure_open(self) -> None:
        if self._open and not self._rewind:
            return
        if self._open:
            self.close()
            self.attempt += 1
            if self.metrics:
                self.metrics.retried(self.name, "rewind")
        offsets = self._retrying("load_offsets", lambda: self.offsets.load(self.name))
        self.task.open(offsets)
        self._open, self._rewind = True, False
        log.info("task opened", extra={"connector": self.name, "partitions": len(offsets), "attempt": self.attempt})

    def close(self) -> None:
        """Close the task if open (the producer, registry and store belong to the caller)."""
        self._read_ahead = None  # polled past the committed offsets: read again after re-opening
        if self._open:
            self._open = False
            self.task.close()

    # -- one record ------------------------------------------------------------------------

    def _output(self, topic: str) -> _Output:
        """What records for catalog ``topic`` need (serializer, key reader, ...), built on first use."""
        out = self._outputs.get(topic)
        if out is None:
            if topic not in CATALOG:
                raise RecordRejected("map", "unknown_topic", f"mapper returned topic {topic!r}, not in the catalog")
            spec = CATALOG[topic]
            actual = self.topic_names.get(topic, topic)
            serializer = AvroSerializer(self.registry, subject_for(actual), schema_json(spec.value_schema))
            self._retrying("registry", lambda: serializer.header)  # resolve the schema id once
            out = self._outputs[topic] = _Output(actual, spec.value_schema, spec.key_field, serializer,
                                                 first_value_at(spec.key_field))
            self._catalog_of[actual] = topic
        return out

    def prepare(self, raw: RawRecord, ingest_ms: int) -> list[Send]:
        """Every standard record of ``raw``, encoded; raises RecordRejected (nothing is sent)."""
        doc = decode(raw, self.encoding)
        self._repair(doc)
        try:
            mapped: list[Mapped] = self.mapper(doc, raw)
        except MappingError as exc:
            raise RecordRejected("map", exc.reason, exc.message) from None
        except RecordRejected:
            raise
        except Exception as exc:  # noqa: BLE001 - a mapper bug rejects the record, by class name only
            raise RecordRejected("map", "mapper_error", f"mapper raised {type(exc).__name__}") from None
        rid = record_id(self.source_system, raw.key, raw.version)
        sends = []
        for i, m in enumerate(mapped):
            out = self._output(m.topic)
            this_id = rid if len(mapped) == 1 else f"{rid}#{i}"
            value = m.value
            stamp_envelope(value, record_id=this_id, source_system=self.source_system, raw=raw,
                           ingest_time_ms=ingest_ms)
            # Encoding checks the schema anyway; the slower walk that names the bad field runs
            # only for a record that fails to encode (the happy path pays for one pass, not two).
            try:
                data = out.serialize(value)
            except SerializationError as exc:
                check_schema(out.schema, value)
                raise RecordRejected("serialize", exc.reason, str(exc)) from None
            check_code_rules(out.schema, value)
            event_ms = (value.get("envelope") or {}).get("event_time")
            if isinstance(event_ms, int) and event_ms > self._newest_event_ms:
                self._newest_event_ms = event_ms
            key = out.key_of(value)
            if not isinstance(key, str) or not key:
                raise RecordRejected("validate", "key_missing", f"key field {out.key_field} is empty")
            sends.append(Send(out.topic, data, key.encode("utf-8"), [("hub.record_id", this_id.encode("utf-8"))]))
        return sends

    def _send(self, send: Send, acks: DeliveryTracker) -> None:
        try:
            self.producer.send(send.topic, send.value, key=send.key, headers=send.headers, on_delivery=acks)
        except Exception as exc:
            if too_large(exc):
                raise RecordRejected("produce", "too_large", f"record refused by the producer ({type(exc).__name__})") from None
            raise  # not a record problem (closed producer, ...): the batch fails and rewinds

    def _dead_letter(self, raw: RawRecord, rej: RecordRejected, acks: DeliveryTracker) -> None:
        headers = dead_letter_headers(
            connector=self.name, stage=rej.stage, error_class=type(rej).__name__, reason=rej.reason,
            message=rej.message, partition=raw.partition, offset=raw.offset, key=raw.key,
            attempts=self.attempt, ts_ms=int(self.clock() * 1000), version=raw.version,
            encoding=raw.encoding or self.encoding, content_type=raw.content_type)
        self._send_dead_letter(raw.payload, raw.key.encode("utf-8"), headers, rej.stage, rej.reason, acks)
        log.debug("record dead-lettered", extra={"connector": self.name, "stage": rej.stage, "reason": rej.reason,
                                                 "partition": raw.partition, "offset": raw.offset})

    # -- one batch -------------------------------------------------------------------------

    def run_once(self) -> BatchResult:
        """One cycle: poll a batch, process and produce it, flush, commit. See the module docstring.

        Raises :class:`BatchNotCommitted` (retriable; the next call rewinds),
        :class:`ConnectorStrictModeError` (strict mode; after committing the good prefix), or
        the task's / store's / registry's error once its retries are exhausted (also rewinds).
        """
        self._ensure_open()
        try:
            return self._run_batch()
        except BaseException:
            self._rewind = True
            raise

    def _poll_and_prepare(self) -> _Prepared:
        started = time.perf_counter()
        raws = self._retrying("poll", lambda: self.task.poll(self.batch_size))
        if self.metrics:
            self.metrics.poll_latency(self.name, time.perf_counter() - started)
            self.metrics.polled(self.name, len(raws))
        ingest_ms = int(self.clock() * 1000)
        # Prepare the whole batch, then send it in one tight loop: the producer's I/O thread
        # then gets full batches instead of a wake-up every few records (GIL hand-offs).
        prepared: list[tuple[RawRecord, list[Send] | RecordRejected]] = []
        for raw in raws:
            try:
                prepared.append((raw, self.prepare(raw, ingest_ms)))
            except RecordRejected as rej:
                prepared.append((raw, rej))
                if self.mode == "strict":
                    break
        return _Prepared(len(raws), prepared, self._newest_event_ms)

    def _prefetch(self) -> None:
        try:
            batch = self._poll_and_prepare()
        except Exception as exc:  # noqa: BLE001 - dropped; the next cycle re-opens and polls again
            log.debug("read-ahead failed", extra={"connector": self.name, "error_class": type(exc).__name__})
            self._rewind = True  # the task may have moved past what it returned
            return
        self._read_ahead = batch if batch.polled else None

    def _run_batch(self) -> BatchResult:
        batch, self._read_ahead = self._read_ahead or self._poll_and_prepare(), None
        result = BatchResult(polled=batch.polled)
        if not batch.polled:
            return result
        acks, sent, last = DeliveryTracker(), 0, {}
        strict_error: ConnectorStrictModeError | None = None
        send_started = time.perf_counter()
        for raw, sends in batch.prepared:
            try:
                if isinstance(sends, RecordRejected):
                    raise sends
                for send in sends:
                    self._send(send, acks)
                    sent += 1
                result.skipped += not sends
            except RecordRejected as rej:
                if self.mode == "strict":
                    strict_error = ConnectorStrictModeError(self.name, rej, raw.partition, raw.offset)
                    break
                self._dead_letter(raw, rej, acks)
                sent += 1
                result.dead_lettered += 1
                result.rejected[f"{rej.stage}/{rej.reason}"] += 1
            last[raw.partition] = raw.offset
        sending = time.perf_counter() - send_started
        if self.prefetch and strict_error is None:
            self._prefetch()  # overlaps the broker's acknowledgements of this batch
        flush_started = time.perf_counter()
        self.producer.flush(self.flush_timeout)
        complete = acks.wait(sent, self.flush_timeout)
        if not complete or acks.failed:
            raise BatchNotCommitted(
                f"connector {self.name}: {acks.failed} of {sent} deliveries failed "
                f"({acks.first_error or 'no error class'}), {sent - acks.done} without outcome; "
                "nothing committed, rewinding to the last checkpoint")
        if self.metrics:
            # Sending plus waiting for the acknowledgements; the read-ahead in between is not produce time.
            self.metrics.produce_latency(self.name, sending + time.perf_counter() - flush_started)
        result.produced = sum(n for t, n in acks.ok_by_topic.items() if t != self.dlq_topic)
        if last:
            if self.before_commit is not None:
                self.before_commit()
            self._retrying("commit", lambda: self.offsets.commit(self.name, last))
            result.committed = dict(last)
        self.attempt = 1
        self._record(result, acks, len(last), batch.newest_event_ms)
        if strict_error is not None:
            log.error("strict mode: connector failed", extra={
                "connector": self.name, "stage": strict_error.rejection.stage,
                "reason": strict_error.rejection.reason, "partition": strict_error.partition,
                "offset": strict_error.offset})
            self._set_state("FAILED")
            raise strict_error
        return result

    def _record(self, result: BatchResult, acks: DeliveryTracker, partitions: int, newest_ms: int) -> None:
        if self.metrics:
            for topic, n in acks.ok_by_topic.items():
                if topic != self.dlq_topic:
                    self.metrics.produced(self.name, self._catalog_of.get(topic, topic), n)
            if partitions:
                newest = newest_ms / 1000 if newest_ms else None
                self.metrics.committed(self.name, partitions, result.polled, self.clock(), newest)
        if result.dead_lettered:
            log.info("batch dead letters", extra={"connector": self.name, "rejected": dict(result.rejected)})
        log.debug("batch committed", extra={"connector": self.name, "polled": result.polled,
                                            "produced": result.produced, "dead_lettered": result.dead_lettered,
                                            "partitions": partitions})

    # -- the loop --------------------------------------------------------------------------


@dataclass(slots=True)
class _Prepared:
    """A polled batch, each record prepared (its sends) or rejected; ``newest_event_ms`` as of its end."""

    polled: int
    prepared: list[tuple[RawRecord, list[Send] | RecordRejected]]
    newest_event_ms: int


@dataclass(frozen=True, slots=True)
class _Output:
    """One catalog topic as the runner produces it: the actual topic name, schema, key and serializer."""

    topic: str
    schema: str
    key_field: str
    serialize: AvroSerializer
    key_of: Callable[[dict], object]
