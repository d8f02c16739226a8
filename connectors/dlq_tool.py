"""``hub dlq list|show|replay``: inspect dead-letter topics and replay them after a fix.

This module reads dead letters, keeps the replay state and replays *source* connectors' dead
letters; a *sink* connector's are re-delivered by :mod:`connectors.dlq_sink_replay`, which
shares the reading, the state and the report kept here.

Dead letters are read by consuming ``dlq.<connector>`` from the beginning with a group-less
consumer (assigned partitions, nothing committed), until no new record arrived for
``idle`` seconds -- Tansu's end offsets are too low to stop on.

**Replay** feeds each dead letter's original bytes through the connector's source pipeline
again (decode -> repair -> map -> validate -> serialize, exactly
:class:`~connectors.runtime.runner.SourceRunner`'s code), with the connector's registered
config (mapper, identifier fields, encoding). Records that now pass are produced to the
standard topics with their record id and a ``hub.replayed_from`` header
(``dlq.<connector>:<partition>:<offset>``); records that still fail stay where they are, are
counted by ``stage/reason`` and are *not* dead-lettered again.

**Replay state** lives in the consumer group ``hub-dlq-replay-<connector>``: per DLQ
partition, the committed offset is the low-water mark below which every dead letter was
replayed, and the commit metadata lists the replayed offsets above it (``"5-9,12"``). A
replay skips both, so a record is replayed once even when earlier ones keep failing. The
state is committed only after the broker acknowledged every replayed record. Brokers that
drop commit metadata (Tansu, measured) keep only the low-water mark: records replayed after
a still-failing one are replayed again by the next run, with the same record id, so
downstream deduplication absorbs them.

Output never decodes dead-letter values unless asked (``--raw``): they hold personal data.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from connectors.runtime.batch import DeliveryTracker
from connectors.runtime.contract import Mapper, RawRecord, SourceTask
from connectors.runtime.dlq import HEADERS, parse_dead_letter
from connectors.runtime.pipeline import RecordRejected
from connectors.runtime.runner import SourceRunner
from ops.settings import HubSettings
from topics.catalog import dead_letter_topic
from topics.serde import SchemaSource
from topics.transport import Producer

if TYPE_CHECKING:
    from pydantic import BaseModel

    from connectors.config import ConnectorConfig
    from connectors.runtime.plugin import Plugin, SinkTask, SourceParts

PREFIX = "dlq."
REPLAYED_FROM = "hub.replayed_from"
PREVIEW_BYTES = 16
_MAX_METADATA = 3000  # Kafka's offset.metadata.max.bytes defaults to 4096


def replay_group(connector: str) -> str:
    return f"hub-dlq-replay-{connector}"


@dataclass(frozen=True)
class DeadLetter:
    """One record of a dead-letter topic: its DLQ position, raw headers and the parsed fields."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    value: bytes
    info: dict[str, Any]


# -- reading ---------------------------------------------------------------------------------

def _consumer(settings: HubSettings, group_id: str | None = None):
    from kafka import KafkaConsumer

    if not settings.kafka_bootstrap:
        raise ValueError("no Kafka bootstrap configured: set HUB_KAFKA_BOOTSTRAP")
    return KafkaConsumer(**settings.kafka_client_config(), client_id=f"{settings.kafka_client_id}-dlq",
                         group_id=group_id, enable_auto_commit=False, auto_offset_reset="earliest",
                         fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms)


def dlq_topics(settings: HubSettings, connector: str | None = None) -> list[str]:
    """Dead-letter topics on the broker (``dlq.*``), or only ``connector``'s, sorted."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(**settings.kafka_client_config(), client_id=f"{settings.kafka_client_id}-admin",
                             request_timeout_ms=10000)
    try:
        names = admin.list_topics()
    finally:
        admin.close()
    wanted = dead_letter_topic(connector) if connector else None
    return sorted(n for n in names if n.startswith(PREFIX) and (wanted is None or n == wanted))


def read_dead_letters(settings: HubSettings, topic: str, *, idle: float = 1.0, timeout: float = 120.0) -> list[DeadLetter]:
    """Every record of ``topic``, in partition/offset order, read until ``idle`` quiet seconds."""
    from kafka import TopicPartition

    consumer = _consumer(settings)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        out: list[DeadLetter] = []
        deadline, last = time.monotonic() + timeout, time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - last < idle:
            for records in consumer.poll(timeout_ms=100, max_records=5000).values():
                last = time.monotonic()
                for m in records:
                    headers = tuple(m.headers or ())
                    out.append(DeadLetter(m.topic, m.partition, m.offset, m.key, headers, m.value or b"",
                                          parse_dead_letter(headers, m.value)))
        out.sort(key=lambda d: (d.partition, d.offset))
        return out
    finally:
        consumer.close(autocommit=False)


# -- replay state ----------------------------------------------------------------------------

def _ranges(offsets: Iterable[int]) -> str:
    out, run = [], None
    for o in sorted(set(offsets)):
        if run and o == run[1] + 1:
            run[1] = o
        else:
            if run:
                out.append(run)
            run = [o, o]
    if run:
        out.append(run)
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in out)


def _parse_ranges(text: str | None) -> set[int]:
    done: set[int] = set()
    for part in (text or "").split(","):
        a, _, b = part.strip().partition("-")
        if a.isdigit() and (not b or b.isdigit()):
            done.update(range(int(a), int(b or a) + 1))
    return done


@dataclass
class ReplayState:
    """Per DLQ partition: low-water mark (all replayed below) and replayed offsets above it."""

    low: dict[int, int] = field(default_factory=dict)
    done: dict[int, set[int]] = field(default_factory=dict)

    def replayed(self, partition: int, offset: int) -> bool:
        return offset < self.low.get(partition, 0) or offset in self.done.get(partition, ())

    def mark(self, partition: int, offset: int) -> None:
        self.done.setdefault(partition, set()).add(offset)

    def compact(self) -> None:
        for p, done in self.done.items():
            low = self.low.get(p, 0)
            while low in done:
                low += 1
            self.low[p] = low
            self.done[p] = {o for o in done if o > low}


def load_state(settings: HubSettings, connector: str, partitions: Iterable[int]) -> ReplayState:
    """The replay state committed in ``hub-dlq-replay-<connector>`` (empty if never replayed)."""
    from kafka import TopicPartition

    topic, state = dead_letter_topic(connector), ReplayState()
    consumer = _consumer(settings, replay_group(connector))
    try:
        for p in partitions:
            committed = consumer.committed(TopicPartition(topic, p), metadata=True)
            if committed is not None and committed.offset is not None and committed.offset >= 0:
                state.low[p] = committed.offset
                state.done[p] = _parse_ranges(committed.metadata)
    finally:
        consumer.close(autocommit=False)
    return state


def save_state(settings: HubSettings, connector: str, state: ReplayState) -> None:
    """Commit ``state`` to ``hub-dlq-replay-<connector>`` (a simple, unsubscribed group commit)."""
    from kafka import TopicPartition
    from kafka.structs import OffsetAndMetadata

    state.compact()
    topic = dead_letter_topic(connector)
    offsets = {}
    for p, low in state.low.items():
        meta = _ranges(state.done.get(p, ()))
        offsets[TopicPartition(topic, p)] = OffsetAndMetadata(low, meta if len(meta) <= _MAX_METADATA else "", -1)
    if not offsets:
        return
    consumer = _consumer(settings, replay_group(connector))
    try:
        consumer.commit(offsets)
    finally:
        consumer.close(autocommit=False)


# -- list and show ---------------------------------------------------------------------------

def list_dead_letters(settings: HubSettings, connector: str | None = None, idle: float = 1.0) -> list[dict]:
    """Per dead-letter topic: totals, replayed, and counts by ``stage/reason`` (all and pending)."""
    rows = []
    for topic in dlq_topics(settings, connector):
        name = topic[len(PREFIX):]
        letters = read_dead_letters(settings, topic, idle=idle)
        state = load_state(settings, name, {d.partition for d in letters})
        by_reason, pending = Counter(), Counter()
        for d in letters:
            reason = f"{d.info['stage']}/{d.info['reason']}"
            by_reason[reason] += 1
            if not state.replayed(d.partition, d.offset):
                pending[reason] += 1
        rows.append({"connector": name, "topic": topic, "total": len(letters),
                     "replayed": len(letters) - sum(pending.values()), "pending": sum(pending.values()),
                     "by_reason": dict(sorted(by_reason.items())), "pending_by_reason": dict(sorted(pending.items()))})
    return rows


def preview(d: DeadLetter, replayed: bool, raw: bool = False) -> dict:
    """A dead letter for display: headers and a safe fingerprint of the value (text only if ``raw``)."""
    info = {k: v for k, v in d.info.items() if k != "value"}
    extra = {n: v.decode("utf-8", "replace") for n, v in d.headers if n not in HEADERS and v is not None}
    out = {"dlq_partition": d.partition, "dlq_offset": d.offset, "replayed": replayed, **info,
           "extra_headers": extra,
           "value": {"length": len(d.value), "sha256": hashlib.sha256(d.value).hexdigest(),
                     "head_hex": d.value[:PREVIEW_BYTES].hex()}}
    if raw:
        out["value"]["text"] = d.value.decode("utf-8", "replace")
    return out


def show_dead_letters(settings: HubSettings, connector: str, *, limit: int = 20, reason: str | None = None,
                      raw: bool = False, idle: float = 1.0) -> list[dict]:
    """Up to ``limit`` dead letters of ``connector`` (optionally of one ``reason``), oldest first."""
    letters = read_dead_letters(settings, dead_letter_topic(connector), idle=idle)
    state = load_state(settings, connector, {d.partition for d in letters})
    chosen = [d for d in letters if reason is None or d.info["reason"] == reason][:limit]
    return [preview(d, state.replayed(d.partition, d.offset), raw) for d in chosen]


# -- replay ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReplaySource:
    """What replay needs from a source connector's registered config."""

    mapper: Mapper
    source_system: str
    identifier_fields: tuple[str, ...] = ()
    encoding: str = "utf-8"
    topic_names: dict[str, str] = field(default_factory=dict)
    """Catalog topic -> topic actually produced to (as the connector's runner has it)."""


@dataclass(frozen=True)
class Registered:
    """A registered connector: its stored config, its plugin and the validated plugin config."""

    config: ConnectorConfig
    plugin: Plugin
    plugin_config: BaseModel

    def build(self, settings: HubSettings) -> SourceParts | SinkTask:
        """The plugin's parts, built as a connect worker builds them (same private state directory)."""
        from connectors.runtime.plugin import PluginContext

        state_dir = settings.var_dir / "connectors" / self.config.name
        state_dir.mkdir(parents=True, exist_ok=True)
        return self.plugin.build(self.plugin_config, PluginContext(self.config.name, settings, state_dir, time.time))


def registered(settings: HubSettings, connector: str) -> Registered:
    """``connector``'s registered config (``connectors.store``); LookupError if there is none."""
    from connectors.plugins import get_plugin
    from connectors.secret_box import SecretBox
    from connectors.store import ConnectorStore
    from hub_api.db import Database

    db = Database(settings.database_url)
    try:
        record = ConnectorStore(db, box=SecretBox.from_settings(settings)).get(connector)
    finally:
        db.dispose()
    if record is None:
        raise LookupError(f"no registered connector {connector!r}")
    config = record.connector_config
    plugin = get_plugin(config.plugin)
    return Registered(config, plugin, plugin.config_model.model_validate(config.config))


class SinkConnectorError(ValueError):
    """:func:`source_from_store` met a sink connector; ``registered`` is its loaded config, for
    :func:`connectors.dlq_sink_replay.sink_from_registered`."""

    def __init__(self, found: Registered):
        super().__init__(f"connector {found.config.name!r} is a sink: its dead letters are re-delivered, "
                         "not replayed through a source pipeline")
        self.registered = found


def source_from_store(settings: HubSettings, connector: str) -> ReplaySource:
    """Build ``connector``'s mapper from its registered config (``connectors.store``) and plugin.

    Raises LookupError if it is not registered, :class:`SinkConnectorError` if it is a sink.
    """
    found = registered(settings, connector)
    if found.plugin.kind != "source":
        raise SinkConnectorError(found)
    parts = found.build(settings)
    return ReplaySource(parts.mapper, found.config.source_system, tuple(parts.identifier_fields),
                        found.config.encoding)


class _NoTask(SourceTask):
    """Replay drives the runner's pipeline directly; it never polls a task."""

    def open(self, offsets):  # pragma: no cover - never called
        raise NotImplementedError

    def poll(self, max_records):  # pragma: no cover
        raise NotImplementedError

    def close(self):  # pragma: no cover
        pass


@dataclass
class ReplayReport:
    """What one replay did. Each dead letter it *examined* (pending, of the chosen reason) is
    exactly one of: ``replayed`` (produced -- a source's -- or delivered -- a sink's -- again;
    with ``dry_run``: would be), ``skipped`` (a sink's current filter excludes it: handled),
    ``still_failing`` (by stage/reason), ``not_replayable`` (by its own stage/reason) or
    ``failed_delivery`` (not acknowledged, or delivery failed after the retries: replay again
    later; ``error`` names the error class)."""

    connector: str
    dry_run: bool
    kind: str = "source"
    examined: int = 0
    replayed: int = 0
    produced: int = 0
    """Source: records produced (a dead letter may map to several)."""
    delivered: int = 0
    """Sink: records the destination accepted."""
    skipped: int = 0
    already_replayed: int = 0
    not_replayable: int = 0
    failed_delivery: int = 0
    still_failing: Counter = field(default_factory=Counter)
    not_replayable_by_reason: Counter = field(default_factory=Counter)
    error: str | None = None

    def to_dict(self) -> dict:
        done = {"produced": self.produced} if self.kind == "source" else {"delivered": self.delivered}
        return {"connector": self.connector, "kind": self.kind, "dry_run": self.dry_run, "examined": self.examined,
                "replayed": self.replayed, **done, "skipped": self.skipped,
                "already_replayed": self.already_replayed, "not_replayable": self.not_replayable,
                "not_replayable_by_reason": dict(sorted(self.not_replayable_by_reason.items())),
                "failed_delivery": self.failed_delivery, "still_failing": dict(sorted(self.still_failing.items())),
                "error": self.error}


def pending_letters(letters: Iterable[DeadLetter], state: ReplayState, report: ReplayReport, *,
                    replayable: Callable[[DeadLetter], bool], reason: str | None = None) -> Iterator[DeadLetter]:
    """The dead letters to replay now, in order: of ``reason`` (any if None), not replayed
    before and ``replayable``. Counts the others in ``report`` (``already_replayed``,
    ``not_replayable``) and every one it yields as ``examined``. A dead letter whose original
    bytes were too large to keep (``hub.value.dropped``) is never replayable."""
    for d in letters:
        if reason is not None and d.info["reason"] != reason:
            continue
        if state.replayed(d.partition, d.offset):
            report.already_replayed += 1
            continue
        report.examined += 1
        if any(n == "hub.value.dropped" for n, _ in d.headers) or not replayable(d):
            report.not_replayable += 1
            report.not_replayable_by_reason[f"{d.info['stage']}/{d.info['reason']}"] += 1
            continue
        yield d


def _raw_record(d: DeadLetter) -> RawRecord:
    """The dead letter as the source once delivered it (position, key, version, encoding)."""
    extra = {n: v.decode("utf-8", "replace") for n, v in d.headers if v is not None}
    offset = d.info["source_offset"] or str(d.offset)
    return RawRecord(partition=d.info["source_partition"] or "default", offset=offset,
                     key=d.info["source_key"] or "", version=extra.get("hub.source.version") or offset,
                     payload=d.value, encoding=extra.get("hub.source.encoding"),
                     content_type=extra.get("hub.source.content_type") or "application/json")


def replay(settings: HubSettings, connector: str, source: ReplaySource, *, producer: Producer,
           registry: SchemaSource, reason: str | None = None, dry_run: bool = False, idle: float = 1.0,
           flush_timeout: float = 60.0, letters: Sequence[DeadLetter] | None = None) -> ReplayReport:
    """Replay ``connector``'s pending dead letters (optionally of one ``reason``); see the module docstring."""
    topic = dead_letter_topic(connector)
    if letters is None:
        letters = read_dead_letters(settings, topic, idle=idle)
    state = load_state(settings, connector, {d.partition for d in letters})
    runner = SourceRunner(connector, _NoTask(), source.mapper, source_system=source.source_system,
                          settings=settings, producer=producer, registry=registry, offsets=None,  # type: ignore[arg-type]
                          identifier_fields=source.identifier_fields, encoding=source.encoding,
                          topic_names=source.topic_names)
    report = ReplayReport(connector, dry_run)
    pending: list[tuple[DeadLetter, DeliveryTracker, int]] = []
    ingest_ms = int(time.time() * 1000)
    # A "deliver" dead letter in a source's DLQ has no source pipeline stage to run again.
    for d in pending_letters(letters, state, report, reason=reason, replayable=lambda d: d.info["stage"] != "deliver"):
        try:
            sends = runner.prepare(_raw_record(d), ingest_ms)  # the source runner's own pipeline
        except RecordRejected as rej:
            report.still_failing[f"{rej.stage}/{rej.reason}"] += 1
            continue
        if dry_run:
            report.replayed += 1
            continue
        acks = DeliveryTracker()
        marker = (REPLAYED_FROM, f"{topic}:{d.partition}:{d.offset}".encode())
        for s in sends:
            producer.send(s.topic, s.value, key=s.key, headers=[*s.headers, marker], on_delivery=acks)
        pending.append((d, acks, len(sends)))
    if dry_run:
        return report
    producer.flush(flush_timeout)
    for d, acks, n in pending:
        if acks.wait(n, flush_timeout) and not acks.failed:
            report.replayed += 1
            report.produced += n
            state.mark(d.partition, d.offset)
        else:
            report.failed_delivery += 1
    if report.replayed:
        save_state(settings, connector, state)
    return report


def format_summary(report: ReplayReport) -> str:
    if report.kind == "sink":
        verb = "would re-deliver" if report.dry_run else "re-delivered"
        done, unfinished = f"{report.skipped} skipped by the filter", "not delivered"
    else:
        verb = "would replay" if report.dry_run else "replayed"
        done, unfinished = f"{report.produced} records produced", "not acknowledged"
    lines = [f"{report.connector}: {verb} {report.replayed} of {report.examined} dead letters "
             f"({done}; {report.already_replayed} replayed before, {report.not_replayable} not replayable, "
             f"{report.failed_delivery} {unfinished})"]
    for key, n in sorted(report.still_failing.items()):
        lines.append(f"  still failing   {key:<40} {n}")
    for key, n in sorted(report.not_replayable_by_reason.items()):
        lines.append(f"  not replayable  {key:<40} {n}")
    if report.error:
        lines.append(f"  stopped by {report.error}: run the replay again later")
    return "\n".join(lines)


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=2, default=str)
