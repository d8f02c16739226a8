"""Sink dead-letter replay without a broker: dead letters written by the real sink runner (in-memory
consumer and producer) are re-delivered through the replay's steps with an in-memory task."""

import pytest

from connectors.dlq_sink_replay import (
    ReplaySink,
    original_message,
    redeliver,
    replay_runner,
)
from connectors.dlq_tool import DeadLetter, ReplayReport, ReplayState, format_summary
from connectors.runtime.dlq import dead_letter_headers, parse_dead_letter
from connectors.runtime.pipeline import RecordRejected
from connectors.runtime.plugin import SinkTask
from connectors.sinks.base import SinkConfig, TransientDeliveryError, delivery_id
from ops.settings import HubSettings
from tests.unit.connectors.fakes import FakeProducer
from tests.unit.connectors.test_sinks import REGISTRY, FakeConsumer, Msg, encoded, runner

SETTINGS = HubSettings(environment="test")
T0 = 1_700_000_000_000


class Destination(SinkTask):
    """Records every delivery; refuses the offsets in ``refuse``; raises after ``fail_after`` records."""

    def __init__(self, refuse=(), fail_after=None):
        self.refuse, self.fail_after = set(refuse), fail_after
        self.seen, self.opened, self.closed = [], 0, 0

    def open(self):
        self.opened += 1

    def close(self):
        self.closed += 1

    def deliver(self, records):
        out = []
        for r in records:
            if self.fail_after is not None and len(self.seen) >= self.fail_after:
                raise TransientDeliveryError("HTTP 503", completed=out)
            self.seen.append(r)
            out.append(RecordRejected("deliver", "http_422", "refused") if r["offset"] in self.refuse else None)
        return out


def dead_lettered(refuse, n=5, garbage=(3,)):
    """Run the real sink runner over ``n`` messages of topic ``t`` partition 2: ``refuse``d offsets
    and the non-Avro ones at ``garbage`` land in the DLQ. Returns (letters, first attempts by offset)."""
    values = encoded(n)
    msgs = []
    for i, v in enumerate(values):
        m = Msg("t", 2, 40 + i, b"not avro" if i in garbage else v, key=f"case-{i}".encode(),
                headers=[("hub.record_id", f"rid-{i}".encode())])
        m.timestamp = T0 + i
        msgs.append(m)
    first, producer = Destination(refuse={40 + i for i in refuse}), FakeProducer()
    runner(first, FakeConsumer(msgs), producer).run_once()
    letters = [DeadLetter("dlq.unit-sink", 0, off, m["key"], tuple(m["headers"].items()), m["value"],
                          parse_dead_letter(m["headers"].items(), m["value"]))
               for off, m in enumerate(producer.on("dlq.unit-sink"))]
    return letters, {r["offset"]: r for r in first.seen}


def replay(task, letters, state=None, where=None, dry_run=False, batch_size=500, **kw):
    sink = ReplaySink(SinkConfig(topic="t", where=where or {}), task, batch_size)
    replayer = replay_runner(SETTINGS, "unit-sink", sink, REGISTRY, retry_attempts=2, retry_initial=0.001,
                             retry_max=0.002)
    state = state if state is not None else ReplayState()
    report = ReplayReport("unit-sink", dry_run, kind="sink")
    redeliver(replayer, letters, state, report, dry_run=dry_run, **kw)
    return report, state


def test_refused_records_are_re_delivered_as_first_attempted_and_marked_once():
    letters, first = dead_lettered(refuse={1, 4})
    assert [(d.info["stage"], d.info["source_offset"]) for d in letters] == [
        ("decode", "43"), ("deliver", "41"), ("deliver", "44")]
    fixed = Destination()
    report, state = replay(fixed, letters)
    assert [r["offset"] for r in fixed.seen] == [41, 44] and fixed.opened == fixed.closed == 1
    for again in fixed.seen:  # same position, timestamp, key, record id: the same delivery id
        assert again == first[again["offset"]]
        assert again["delivery_id"] == delivery_id(again["record_id"], "t", 2, again["offset"])
    assert report.to_dict() == {
        "connector": "unit-sink", "kind": "sink", "dry_run": False, "examined": 3, "replayed": 2, "delivered": 2,
        "skipped": 0, "already_replayed": 0, "not_replayable": 1, "not_replayable_by_reason": {"decode/framing": 1},
        "failed_delivery": 0, "still_failing": {}, "error": None}
    state.compact()
    assert state.low == {0: 0} and state.done == {0: {1, 2}}  # the decode dead letter stays pending

    again = Destination()
    report, _ = replay(again, letters, state)
    assert again.seen == [] and (report.already_replayed, report.examined, report.replayed) == (2, 1, 0)


def test_refused_again_is_counted_and_left_pending():
    letters, _ = dead_lettered(refuse={0, 2}, garbage=())
    report, state = replay(Destination(refuse={42}), letters)
    assert (report.replayed, dict(report.still_failing)) == (1, {"deliver/http_422": 1})
    assert state.replayed(0, 0) and not state.replayed(0, 1)


def test_the_current_filter_skips_and_handles():
    letters, first = dead_lettered(refuse={0, 1}, garbage=())
    keep = first[40]["value"]["case_id"]
    task = Destination()
    report, state = replay(task, letters, where={"case_id": [keep]})
    assert [r["offset"] for r in task.seen] == [40]
    assert (report.replayed, report.skipped) == (1, 1) and state.replayed(0, 1)
    assert "1 skipped by the filter" in format_summary(report)


def test_transient_failure_stops_without_marking_the_unfinished():
    letters, _ = dead_lettered(refuse={0, 1, 2}, garbage=())
    task = Destination(fail_after=1)
    report, state = replay(task, letters, batch_size=1)
    assert (report.replayed, report.failed_delivery) == (1, 2)
    assert report.error == "TransientDeliveryError: HTTP 503" and task.closed == 1
    assert state.replayed(0, 0) and not state.replayed(0, 1) and not state.replayed(0, 2)
    assert "stopped by TransientDeliveryError" in format_summary(report)


def test_dry_run_delivers_and_marks_nothing():
    letters, _ = dead_lettered(refuse={0, 1})
    task = Destination()
    report, state = replay(task, letters, where={"case_id": ["nobody"]}, dry_run=True)
    assert task.seen == [] and task.opened == 0 and state.done == {}
    assert (report.examined, report.skipped, report.not_replayable) == (3, 2, 1)


def test_reason_selects_dead_letters():
    letters, _ = dead_lettered(refuse={0})
    report, _ = replay(Destination(), letters, reason="framing")
    assert (report.examined, report.not_replayable, report.replayed) == (1, 1, 0)


def letter(**headers):
    base = dict(connector="c", stage="deliver", error_class="RecordRejected", reason="http_400", message="",
                partition="risk.dispatches:7", offset="12", key="", attempts=1, ts_ms=T0)
    hs = tuple(dead_letter_headers(**{**base, **headers}))
    return DeadLetter("dlq.c", 0, 0, b"", hs, b"\0", parse_dead_letter(hs, b"\0"))


@pytest.mark.parametrize(("headers", "expected"), [
    ({}, ("risk.dispatches", 7, 12, T0, None)),  # no hub.source.timestamp: the rejection time
    ({"partition": "7"}, None),
    ({"partition": "risk.dispatches:x"}, None),
    ({"offset": ""}, None),
])
def test_original_message_from_the_headers(headers, expected):
    m = original_message(letter(**headers))
    assert (m and (m.topic, m.partition, m.offset, m.timestamp, m.key)) == expected
