"""``hub dlq replay`` for sink connectors: re-deliver refused records after a fix.

A sink's dead letter (:mod:`connectors.sinks.runner`) holds the consumed message's original
bytes (Confluent Avro) and, in its headers, the message's position
(``hub.source.partition`` = ``<topic>:<partition>``, ``hub.source.offset``), its
``hub.record_id`` and its Kafka timestamp (``hub.source.timestamp``; dead letters written
before that header existed get their rejection time ``hub.ts``). Replay rebuilds that
message and runs it through the connector's own runner steps again -- built from the
registered config exactly as a connect worker builds it (``plugin.build`` +
:func:`~connectors.sinks.runner.sink_runner`): :meth:`SinkRunner.prepare` (decode through the
hub's schema registry, then the connector's *current* ``where`` filter) and
:meth:`SinkRunner.deliver` (the task, with the runner's retry policy). The record therefore
carries the delivery id of its first attempt, and the receiver can deduplicate.

Each pending dead letter (see :func:`connectors.dlq_tool.pending_letters`), in DLQ order:

* stage ``deliver``, delivered now: ``replayed``, marked in the replay state;
* excluded by the current filter: ``skipped``, marked (handled, as the runner commits
  filtered records);
* refused again, or no longer decodable: ``still_failing`` by stage/reason, left where it
  is and **not** dead-lettered again (the runner is given a producer that refuses to send);
* stage ``decode`` (the bytes are not a decodable record), value dropped, or no source
  position: ``not_replayable``;
* delivery still failing after the runner's retries (transient, or any other error of the
  task): the replay stops there; that batch and the rest count as ``failed_delivery``,
  unmarked, and ``error`` names the error class. Records the task finished in that batch
  are delivered again by the next replay, under the same delivery id.

Replay state (the ``hub-dlq-replay-<connector>`` group) is the source replay's
(:func:`connectors.dlq_tool.load_state`, :func:`~connectors.dlq_tool.save_state`), committed
once at the end of a run, also a stopped one. ``dry_run`` decodes and filters but neither
delivers nor marks anything.

Runs on the calling thread; the task is opened and closed here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from connectors.dlq_tool import (
    DeadLetter,
    Registered,
    ReplayReport,
    ReplayState,
    load_state,
    pending_letters,
    read_dead_letters,
    registered,
    save_state,
)
from connectors.runtime.pipeline import RecordRejected
from connectors.runtime.plugin import SinkTask
from connectors.sinks.base import SinkConfig, SinkRecord, TransientDeliveryError
from connectors.sinks.runner import SOURCE_TIMESTAMP, SinkRunner, sink_runner
from ops.settings import HubSettings
from topics.catalog import dead_letter_topic
from topics.serde import SchemaSource
from topics.transport import Producer


@dataclass(frozen=True)
class ReplaySink:
    """What replay needs from a sink connector's registered config: its config and a new task."""

    config: SinkConfig
    task: SinkTask
    batch_size: int = 500
    """Records per delivery call (the connector's ``batch_size``)."""


def sink_from_registered(settings: HubSettings, found: Registered) -> ReplaySink:
    """``found``'s sink task, built from its registered config as a connect worker builds it."""
    if found.plugin.kind != "sink":
        raise ValueError(f"connector {found.config.name!r} is a {found.plugin.kind}, not a sink")
    return ReplaySink(found.plugin_config, found.build(settings), found.config.batch_size)  # type: ignore[arg-type]


def sink_from_store(settings: HubSettings, connector: str) -> ReplaySink:
    """``connector``'s sink task from ``connectors.store``; LookupError if not registered."""
    return sink_from_registered(settings, registered(settings, connector))


@dataclass(frozen=True)
class OriginalMessage:
    """A sink's dead letter as the Kafka message the runner first consumed (what ``prepare`` reads)."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]


def original_message(d: DeadLetter) -> OriginalMessage | None:
    """Rebuild the consumed message from a sink's dead letter; None without a valid source position.

    The runner writes a missing key as empty bytes: an empty key comes back as None.
    """
    topic, _, partition = (d.info["source_partition"] or "").rpartition(":")
    offset = d.info["source_offset"] or ""
    if not topic or not partition.isdigit() or not offset.isdigit():
        return None
    stamp = dict(d.headers).get(SOURCE_TIMESTAMP)
    timestamp = int(stamp) if stamp and stamp.lstrip(b"-").isdigit() else (d.info["ts_ms"] or 0)
    return OriginalMessage(topic, int(partition), int(offset), timestamp, d.key or None, d.value, d.headers)


def _replayable(d: DeadLetter) -> bool:
    return d.info["stage"] == "deliver" and original_message(d) is not None


class _NoDeadLetters(Producer):
    """The replay runner's producer: a record refused again stays where it is, never dead-lettered twice."""

    def send(self, topic, value, key=None, headers=None, on_delivery=None, partition=None):
        raise RuntimeError("hub dlq replay never dead-letters a record again")

    def flush(self, timeout=None):
        return 0

    def close(self):
        pass


def replay_runner(settings: HubSettings, connector: str, sink: ReplaySink, registry: SchemaSource,
                  **runner_options: Any) -> SinkRunner:
    """The connector's runner as a connect worker builds it, except that it cannot dead-letter.

    Only its steps are used (:meth:`SinkRunner.prepare`, :meth:`SinkRunner.deliver`): it never
    opens a consumer, joins the connector's group or commits.
    """
    return sink_runner(connector, sink.config, sink.task, settings=settings, registry=registry,
                       producer=_NoDeadLetters(), batch_size=sink.batch_size, **runner_options)


def redeliver(runner: SinkRunner, letters: Sequence[DeadLetter], state: ReplayState, report: ReplayReport, *,
              reason: str | None = None, dry_run: bool = False) -> None:
    """Re-deliver ``letters`` through ``runner``'s steps, marking handled ones in ``state``
    and counting every outcome in ``report`` (see the module docstring). No broker I/O."""
    ready: list[tuple[DeadLetter, SinkRecord]] = []
    for d in pending_letters(letters, state, report, reason=reason, replayable=_replayable):
        try:
            record = runner.prepare(original_message(d))
        except RecordRejected as rej:
            report.still_failing[f"{rej.stage}/{rej.reason}"] += 1
            continue
        if record is None:
            report.skipped += 1
            if not dry_run:
                state.mark(d.partition, d.offset)
        elif dry_run:
            report.replayed += 1
        else:
            ready.append((d, record))
    if ready:
        _deliver(runner, ready, state, report)


def _deliver(runner: SinkRunner, ready: list[tuple[DeadLetter, SinkRecord]], state: ReplayState,
             report: ReplayReport) -> None:
    done = 0
    try:
        runner.task.open()
        for done in range(0, len(ready), runner.batch_size):
            chunk = ready[done:done + runner.batch_size]
            outcomes = runner.deliver([record for _d, record in chunk])
            for (d, _record), outcome in zip(chunk, outcomes, strict=True):
                if outcome is None:
                    report.replayed += 1
                    report.delivered += 1
                    state.mark(d.partition, d.offset)
                else:
                    report.still_failing[f"{outcome.stage}/{outcome.reason}"] += 1
    except Exception as exc:  # noqa: BLE001 - reported; the rest stays pending for the next replay
        report.failed_delivery += len(ready) - done
        # Task messages are value-free by contract only for TransientDeliveryError: others by class name.
        report.error = f"{type(exc).__name__}: {exc}" if isinstance(exc, TransientDeliveryError) else type(exc).__name__
    finally:
        runner.task.close()


def replay_sink(settings: HubSettings, connector: str, sink: ReplaySink, *, registry: SchemaSource,
                reason: str | None = None, dry_run: bool = False, idle: float = 1.0,
                letters: Sequence[DeadLetter] | None = None, **runner_options: Any) -> ReplayReport:
    """Re-deliver ``connector``'s pending dead letters (optionally of one ``reason``); see the module docstring.

    ``runner_options`` tune the runner as a worker's do (``retry_attempts``, ``retry_initial``, ...).
    """
    if letters is None:
        letters = read_dead_letters(settings, dead_letter_topic(connector), idle=idle)
    state = load_state(settings, connector, {d.partition for d in letters})
    runner = replay_runner(settings, connector, sink, registry, **runner_options)
    report = ReplayReport(connector, dry_run, kind="sink")
    try:
        redeliver(runner, letters, state, report, reason=reason, dry_run=dry_run)
    finally:
        if not dry_run and (report.replayed or report.skipped):
            save_state(settings, connector, state)
    return report
