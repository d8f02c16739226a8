"""The sink runner: consume -> decode -> filter -> deliver -> dead-letter -> commit.

One :class:`SinkRunner` drives one :class:`~connectors.runtime.plugin.SinkTask` on one worker
thread (the thread calling :meth:`SinkRunner.run` or :meth:`SinkRunner.run_once`). It reads
its topic with a kafka-python ``KafkaConsumer`` in the group ``hub-sink-<name>``
(auto-commit off, ``earliest`` for a new group), decodes Confluent-framed Avro through the
schema registry and hands the task batches of :class:`~connectors.sinks.base.SinkRecord`.

**Commit rule** (at-least-once). The consumer offsets of a batch are committed -- the next
offset per partition -- only after every record of the batch is *handled*: delivered by the
task, filtered out, or dead-lettered *and* the dead letter acknowledged by the broker. If
delivery keeps failing (transient errors, retried with bounded exponential backoff and
jitter), a dead letter is not acknowledged, or the commit fails, nothing is committed and
the consumer seeks back to the batch's first offsets, so the batch is delivered again
(receivers deduplicate on the stable delivery id). Dead letters are sent only after the
task answered for the whole batch, so a retried batch does not dead-letter twice.

**Dead letters** go to ``dlq.<name>`` with the :mod:`connectors.runtime.dlq` headers: stage
``decode`` (not Confluent Avro, unknown schema id, corrupt) or ``deliver`` (refused by the
destination, e.g. ``http_400``); source partition ``<topic>:<partition>`` and source offset
the Kafka offset; plus ``hub.record_id`` (if the record had one) and ``hub.source.timestamp``
(its Kafka timestamp); the value is the original message bytes. ``hub dlq replay``
(:mod:`connectors.dlq_sink_replay`) rebuilds the record from them and runs it through
:meth:`SinkRunner.prepare` and :meth:`SinkRunner.deliver` again. No log line carries values.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from connectors.runtime.batch import BatchNotCommitted, DeliveryTracker
from connectors.runtime.dlq import dead_letter_headers
from connectors.runtime.lifecycle import RunnerLifecycle
from connectors.runtime.metrics import ConnectorMetrics
from connectors.runtime.pipeline import RecordRejected
from connectors.runtime.plugin import SinkTask
from connectors.sinks.base import SinkConfig, SinkRecord, TransientDeliveryError, delivery_id
from ops.settings import HubSettings
from topics.catalog import dead_letter_topic
from topics.serde import AvroDeserializer, SchemaSource, SerializationError, schema_id_of
from topics.transport import Producer

log = logging.getLogger("hub.connectors.sinks")
__all__ = ["SOURCE_TIMESTAMP", "SinkBatchResult", "SinkRunner", "sink_runner"]

SOURCE_TIMESTAMP = "hub.source.timestamp"
"""Extra dead-letter header of sinks: the consumed record's Kafka timestamp (epoch ms)."""


@dataclass
class SinkBatchResult:
    """Outcome of one :meth:`SinkRunner.run_once` cycle."""

    polled: int = 0
    delivered: int = 0
    filtered: int = 0
    skipped: int = 0
    """Tombstones (null values): nothing to deliver."""
    dead_lettered: int = 0
    rejected: Counter = field(default_factory=Counter)
    """``"stage/reason"`` -> dead letters of the batch."""
    committed: dict[str, int] = field(default_factory=dict)
    """``"<topic>:<partition>"`` -> committed (next) offset."""


class SinkRunner(RunnerLifecycle):
    """Runs one sink connector. See the module docstring for the commit rule.

    ``producer`` (dead letters) and ``registry`` belong to the caller; the runner owns the
    consumer and the task (opens and closes both). ``filter`` gets the decoded value and
    returns whether to deliver it. ``consumer_factory`` replaces the Kafka consumer (tests).
    """

    kind = "sink"
    fatal = ()

    def __init__(self, name: str, task: SinkTask, *, topic: str, settings: HubSettings, registry: SchemaSource,
                 producer: Producer, filter: Callable[[dict], bool] | None = None,  # noqa: A002 - the brief's name
                 group_id: str | None = None, batch_size: int = 500, metrics: ConnectorMetrics | None = None,
                 clock: Callable[[], float] = time.time, retry_attempts: int = 5, retry_initial: float = 0.2,
                 retry_max: float = 5.0, flush_timeout: float = 60.0, max_failures: int = 5,
                 poll_timeout_ms: int = 500, consumer_factory: Callable[[], Any] | None = None):
        if batch_size < 1 or retry_attempts < 1 or max_failures < 1:
            raise ValueError("batch_size, retry_attempts and max_failures must be at least 1")
        self.name, self.task, self.topic, self.settings = name, task, topic, settings
        self.registry, self.producer, self.filter = registry, producer, filter
        self.group_id = group_id or f"hub-sink-{name}"
        self.batch_size, self.metrics, self.clock = batch_size, metrics, clock
        self.retry_attempts, self.retry_initial, self.retry_max = retry_attempts, retry_initial, retry_max
        self.flush_timeout, self.max_failures, self.poll_timeout_ms = flush_timeout, max_failures, poll_timeout_ms
        self.dlq_topic = dead_letter_topic(name)
        self.decoder = AvroDeserializer(registry)
        self.state = "STOPPED"
        self.attempt = 1  # delivery tries of the current batch; the hub.attempts header
        self._consumer_factory = consumer_factory or self._kafka_consumer
        self._consumer = None

    # -- lifecycle -------------------------------------------------------------------------

    def _kafka_consumer(self):
        from kafka import KafkaConsumer

        session = self.settings.kafka_session_timeout_ms
        consumer = KafkaConsumer(
            **self.settings.kafka_client_config(), client_id=f"{self.settings.kafka_client_id}-sink-{self.name}",
            group_id=self.group_id, enable_auto_commit=False, auto_offset_reset="earliest",
            session_timeout_ms=session, heartbeat_interval_ms=max(500, session // 3),
            fetch_max_wait_ms=self.settings.kafka_fetch_max_wait_ms, max_poll_records=self.batch_size)
        consumer.subscribe([self.topic])
        return consumer

    def open(self) -> None:
        """Open the task and the consumer (joins the group on the first poll). Idempotent."""
        if self._consumer is None:
            self.task.open()
            self._consumer = self._consumer_factory()
            log.info("sink opened", extra={"connector": self.name, "topic": self.topic, "group": self.group_id})

    def close(self) -> None:
        """Leave the group without committing and close the task (producer and registry are the caller's)."""
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            try:
                consumer.close(autocommit=False)
            finally:
                self.task.close()

    # -- one batch -------------------------------------------------------------------------

    def run_once(self) -> SinkBatchResult:
        """One cycle: poll a batch, deliver it, dead-letter refusals, flush, commit.

        Raises :class:`BatchNotCommitted` if a dead letter was not acknowledged, or the task's
        last error once the delivery retries are exhausted; either way the consumer is moved
        back to the batch's first offsets, so the next call delivers the batch again.
        """
        self.open()
        started = time.perf_counter()
        polled = self._consumer.poll(timeout_ms=self.poll_timeout_ms, max_records=self.batch_size)
        messages = [m for records in polled.values() for m in records]
        if self.metrics:
            self.metrics.poll_latency(self.name, time.perf_counter() - started)
            self.metrics.polled(self.name, len(messages))
        if not messages:
            return SinkBatchResult()
        try:
            return self._run_batch(messages)
        except BaseException:
            self._rewind(messages)
            raise

    def _rewind(self, messages: list) -> None:
        from kafka import TopicPartition

        first: dict[tuple[str, int], int] = {}
        for m in messages:
            first.setdefault((m.topic, m.partition), m.offset)
        for (topic, partition), offset in first.items():
            try:
                self._consumer.seek(TopicPartition(topic, partition), offset)
            except Exception:  # noqa: BLE001 - revoked meanwhile: its new owner starts at the committed offset
                log.info("partition not rewound (no longer assigned)", extra={"connector": self.name,
                                                                               "partition": partition})

    # -- the steps of one record (also ``hub dlq replay``'s, on rebuilt dead letters) -----------

    def prepare(self, message) -> SinkRecord | None:
        """Decode ``message`` and apply the ``where`` filter: the record to deliver, or None if filtered out.

        ``message`` has kafka-python's ``topic``, ``partition``, ``offset``, ``timestamp``,
        ``key``, ``value`` (Confluent-framed Avro) and ``headers``; the record's delivery id
        derives from them (:func:`~connectors.sinks.base.delivery_id`). Raises
        :class:`RecordRejected`: stage ``decode`` (not Avro, unknown schema id, corrupt) or
        ``deliver``/``filter_error`` (the filter raised; reported by class name only).
        """
        try:
            value = self.decoder(message.value)
            schema = self.decoder.writer_schema(schema_id_of(message.value)).get("name", "")
        except SerializationError as exc:
            raise RecordRejected("decode", exc.reason, str(exc)) from None
        headers = dict(message.headers or [])
        rid = headers.get("hub.record_id")
        rid = rid.decode("utf-8", "replace") if rid else (value.get("envelope") or {}).get("record_id")
        key = message.key.decode("utf-8", "replace") if message.key is not None else None
        try:
            keep = self.filter is None or self.filter(value)
        except Exception as exc:  # noqa: BLE001 - a filter bug rejects the record, by class name only
            raise RecordRejected("deliver", "filter_error", f"filter raised {type(exc).__name__}") from None
        if not keep:
            return None
        return SinkRecord(topic=message.topic, partition=message.partition, offset=message.offset,
                          timestamp=message.timestamp, key=key, value=value, schema=schema, record_id=rid,
                          delivery_id=delivery_id(rid, message.topic, message.partition, message.offset))

    def _run_batch(self, messages: list) -> SinkBatchResult:
        result = SinkBatchResult(polled=len(messages))
        rejected: list[tuple[Any, RecordRejected]] = []
        batch: list[tuple[Any, SinkRecord]] = []
        for m in messages:
            if m.value is None:
                result.skipped += 1
                continue
            try:
                record = self.prepare(m)
            except RecordRejected as rej:
                rejected.append((m, rej))
                continue
            if record is None:
                result.filtered += 1
            else:
                batch.append((m, record))
        started = time.perf_counter()
        outcomes = self.deliver([r for _m, r in batch]) if batch else []
        for (m, _record), outcome in zip(batch, outcomes, strict=True):
            if outcome is None:
                result.delivered += 1
            else:
                rejected.append((m, outcome))
        acks = DeliveryTracker()
        for m, rej in rejected:
            self._dead_letter(m, rej, acks)
            result.dead_lettered += 1
            result.rejected[f"{rej.stage}/{rej.reason}"] += 1
        if rejected:
            self.producer.flush(self.flush_timeout)
            if not acks.wait(len(rejected), self.flush_timeout) or acks.failed:
                raise BatchNotCommitted(
                    f"sink {self.name}: {acks.failed} of {len(rejected)} dead letters failed "
                    f"({acks.first_error or 'no error class'}), {len(rejected) - acks.done} without outcome; "
                    "nothing committed, rewinding")
        if self.metrics:
            self.metrics.produce_latency(self.name, time.perf_counter() - started)
        self._commit(messages, result)
        self.attempt = 1
        if result.dead_lettered:
            log.info("batch dead letters", extra={"connector": self.name, "rejected": dict(result.rejected)})
        return result

    def deliver(self, records: list[SinkRecord]) -> list[RecordRejected | None]:
        """The task's outcome per record (None delivered, :class:`RecordRejected` refused).

        Transient failures are retried with the runner's backoff (``retry_attempts`` tries in
        all), handing the task only the records it did not finish; then the last error is
        raised. Sets :attr:`attempt` (the ``hub.attempts`` header of refusals).
        """
        outcomes: list = []
        self.attempt = 0

        def attempt() -> None:
            self.attempt += 1
            rest = records[len(outcomes):]
            try:
                got = self.task.deliver(rest)
            except TransientDeliveryError as exc:
                outcomes.extend(exc.completed[:len(rest)])
                raise
            if len(got) != len(rest):
                raise RuntimeError(f"sink task returned {len(got)} outcomes for {len(rest)} records")
            outcomes.extend(got)

        self._retrying("deliver", attempt)
        for outcome in outcomes:
            if outcome is not None and not isinstance(outcome, RecordRejected):
                raise TypeError(f"sink task returned {type(outcome).__name__}; expected None or RecordRejected")
        return outcomes

    def _dead_letter(self, m, rej: RecordRejected, acks: DeliveryTracker) -> None:
        key = m.key or b""
        headers = dead_letter_headers(
            connector=self.name, stage=rej.stage, error_class=type(rej).__name__, reason=rej.reason,
            message=rej.message, partition=f"{m.topic}:{m.partition}", offset=str(m.offset),
            key=key.decode("utf-8", "replace"), attempts=max(1, self.attempt), ts_ms=int(self.clock() * 1000))
        rid = dict(m.headers or []).get("hub.record_id")
        if rid:
            headers.append(("hub.record_id", rid))
        # With the record id and the source position, what a replay needs to rebuild the exact record.
        headers.append((SOURCE_TIMESTAMP, str(m.timestamp).encode()))
        self._send_dead_letter(m.value, key, headers, rej.stage, rej.reason, acks)

    def _commit(self, messages: list, result: SinkBatchResult) -> None:
        from kafka import TopicPartition
        from kafka.structs import OffsetAndMetadata

        last: dict[tuple[str, int], int] = {}
        for m in messages:
            last[(m.topic, m.partition)] = max(m.offset, last.get((m.topic, m.partition), -1))
        offsets = {TopicPartition(t, p): OffsetAndMetadata(o + 1, "", -1) for (t, p), o in last.items()}
        self._retrying("commit", lambda: self._consumer.commit(offsets))
        result.committed = {f"{t}:{p}": o + 1 for (t, p), o in last.items()}
        if self.metrics:
            self.metrics.committed(self.name, len(last), result.polled, self.clock())

    # -- the loop --------------------------------------------------------------------------

def sink_runner(name: str, config: SinkConfig, task: SinkTask, **kwargs) -> SinkRunner:
    """A :class:`SinkRunner` for a sink plugin's ``config`` (its ``topic`` and ``where`` filter).

    ``kwargs`` are the runner's shared services and tuning (settings, registry, producer,
    metrics, batch_size, ...). This is what a connect worker calls after ``plugin.build``.
    """
    return SinkRunner(name, task, topic=config.topic, filter=config.record_filter(), **kwargs)
