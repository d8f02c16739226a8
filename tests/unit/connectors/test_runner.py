"""The runner with an in-memory producer and registry, a list-backed task and a SQLite checkpoint store."""

import hashlib
import threading

import pytest
from prometheus_client import CollectorRegistry

from connectors.runtime.contract import RawRecord
from connectors.runtime.dlq import parse_dead_letter
from connectors.runtime.metrics import ConnectorMetrics
from connectors.runtime.offsets import OffsetStore, ensure_schema
from connectors.runtime.runner import (
    BatchNotCommitted,
    ConnectorFailed,
    ConnectorStrictModeError,
    SourceRunner,
)
from hub_api.db import Database
from ops.settings import HubSettings
from ops.simulators.records import RecordFactory
from schemas.codes import make_uscc
from tests.unit.connectors.fakes import (
    PENALTY,
    FakeProducer,
    FakeRegistry,
    ListTask,
    penalty_mapper,
    to_json,
)
from topics.serde import AvroDeserializer

FACTORY = RecordFactory(seed=3, source_system="unit")


def good(i: int, partition: str = "cases") -> RawRecord:
    value = FACTORY.penalty_decision(i)
    return RawRecord(partition, str(i), value["case_id"], "1", to_json({"case": value}).encode())


def bad_uscc(i: int, partition: str = "cases") -> RawRecord:
    value = FACTORY.penalty_decision(i)
    value["counterpart"]["id_type"]["code"] = "001"
    code = make_uscc("330106", "MA2H2X9L")
    value["counterpart"]["id_code"] = code[:17] + ("0" if code[17] != "0" else "1")
    return RawRecord(partition, str(i), value["case_id"], "1", to_json({"case": value}).encode())


def gb18030(i: int, partition: str = "cases") -> RawRecord:
    value = FACTORY.penalty_decision(i)
    return RawRecord(partition, str(i), value["case_id"], "1", to_json({"case": value}).encode("gb18030"))


@pytest.fixture
def store(sqlite_url):
    db = Database(sqlite_url)
    ensure_schema(db)
    yield OffsetStore(db)
    db.dispose()


@pytest.fixture
def metrics():
    return ConnectorMetrics(CollectorRegistry())


def make_runner(task, store, producer, registry=None, metrics=None, **kw):
    kw.setdefault("retry_initial", 0.001)
    kw.setdefault("retry_max", 0.01)
    return SourceRunner("unit-conn", task, penalty_mapper, source_system="unit",
                        settings=HubSettings(environment="test"), producer=producer,
                        registry=registry or FakeRegistry(), offsets=store, metrics=metrics,
                        identifier_fields=("case.counterpart.id_code",), **kw)


def test_good_records_produced_bad_ones_dead_lettered_then_committed(store, metrics):
    records = [good(0), bad_uscc(1), good(2), gb18030(3), RawRecord("cases", "4", "K4", "1", b"{not json"),
               RawRecord("cases", "5", "K5", "1", b'{"other": 1}'), good(6, "cases-b")]
    producer, registry = FakeProducer(), FakeRegistry()
    runner = make_runner(ListTask(records), store, producer, registry, metrics)
    result = runner.run_once()

    assert (result.polled, result.produced, result.dead_lettered) == (7, 3, 4)
    assert result.rejected == {"validate/uscc_check": 1, "decode/encoding": 1, "decode/json": 1,
                               "map/missing_field": 1}
    std = producer.on(PENALTY)
    decode = AvroDeserializer(registry)
    values = [decode(m["value"]) for m in std]
    assert [m["key"] for m in std] == [v["case_id"].encode() for v in values]
    for m, v, r in zip(std, values, [records[0], records[2], records[6]], strict=True):
        assert m["headers"]["hub.record_id"].decode() == v["envelope"]["record_id"]
        assert v["envelope"]["record_id"] == f"unit:{hashlib.sha256(r.key.encode()).hexdigest()[:16]}:1"
        assert v["envelope"]["source_position"] == {"partition": r.partition, "offset": r.offset}

    dead = producer.on("dlq.unit-conn")
    assert [m["value"] for m in dead] == [records[i].payload for i in (1, 3, 4, 5)]
    letters = [parse_dead_letter(m["headers"].items(), m["value"]) for m in dead]
    assert [(d["stage"], d["reason"]) for d in letters] == [
        ("validate", "uscc_check"), ("decode", "encoding"), ("decode", "json"), ("map", "missing_field")]
    first = letters[0]
    assert first["connector"] == "unit-conn" and first["error_class"] == "RecordRejected"
    assert (first["source_partition"], first["source_offset"], first["source_key"]) == ("cases", "1", records[1].key)
    assert first["attempts"] == 1 and first["ts_ms"] > 0 and "counterpart.id_code" in first["message"]
    assert dead[0]["key"] == records[1].key.encode()

    assert store.load("unit-conn") == {"cases": "5", "cases-b": "6"} == result.committed
    reg = metrics.registry
    assert reg.get_sample_value("hub_connector_records_polled_total", {"connector": "unit-conn"}) == 7
    assert reg.get_sample_value("hub_connector_records_produced_total",
                                {"connector": "unit-conn", "topic": PENALTY}) == 3
    assert reg.get_sample_value("hub_connector_dead_letters_total",
                                {"connector": "unit-conn", "stage": "decode", "reason": "json"}) == 1
    assert reg.get_sample_value("hub_connector_commits_total", {"connector": "unit-conn"}) == 1
    # Lag: commit time minus the newest committed event time (the runner's clock is real time here).
    newest = max(v["envelope"]["event_time"] for v in values).timestamp()
    lag = reg.get_sample_value("hub_connector_committed_lag_seconds", {"connector": "unit-conn"})
    committed_at = reg.get_sample_value("hub_connector_last_commit_timestamp_seconds", {"connector": "unit-conn"})
    assert lag == pytest.approx(committed_at - newest, abs=1e-3)


def test_full_width_identifiers_are_repaired_before_validation(store):
    value = FACTORY.penalty_decision(9)
    value["counterpart"]["id_type"]["code"] = "001"
    uscc = make_uscc("330106", "MA2H2X9L")
    value["counterpart"]["id_code"] = uscc[:4].translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"}) + " " + uscc[4:]
    producer, registry = FakeProducer(), FakeRegistry()
    result = make_runner(ListTask([RawRecord("cases", "9", "K9", "1", to_json({"case": value}).encode())]),
                         store, producer, registry).run_once()
    assert result.produced == 1
    assert AvroDeserializer(registry)(producer.sent[0]["value"])["counterpart"]["id_code"] == uscc


def test_failed_delivery_commits_nothing_and_the_batch_is_polled_again(store, metrics):
    records = [good(i) for i in range(4)]
    task = ListTask(records)
    flaky = {"fail": True}
    producer = FakeProducer(fail=lambda topic, value, key: flaky["fail"] and key == records[2].key.encode())
    runner = make_runner(task, store, producer, metrics=metrics, batch_size=10)

    store.commit("unit-conn", {"cases": "0"})  # an earlier checkpoint: record 0 is done
    with pytest.raises(BatchNotCommitted, match="1 of 3 deliveries failed"):
        runner.run_once()
    assert store.load("unit-conn") == {"cases": "0"}
    assert task.opened == [{"cases": "0"}]

    flaky["fail"] = False
    result = runner.run_once()  # rewinds: close, re-open at the committed offsets, poll again
    assert task.opened == [{"cases": "0"}, {"cases": "0"}] and task.closed == 1
    assert result.produced == 3 and store.load("unit-conn") == {"cases": "3"}
    ids = [m["headers"]["hub.record_id"] for m in producer.on(PENALTY)]
    assert len(ids) == 5 and len(set(ids)) == 3  # records 1 and 3 twice, with the same record id
    assert runner.run_once().polled == 0
    assert metrics.registry.get_sample_value("hub_connector_retries_total",
                                             {"connector": "unit-conn", "operation": "rewind"}) == 1


def test_strict_mode_stops_before_the_bad_record_and_commits_the_good_prefix(store, metrics):
    records = [good(0), good(1, "cases-b"), good(2), bad_uscc(3), good(4), good(5, "cases-b")]
    producer = FakeProducer()
    task = ListTask(records)
    runner = make_runner(task, store, producer, metrics=metrics, mode="strict")
    with pytest.raises(ConnectorStrictModeError) as info:
        runner.run_once()
    err = info.value
    assert (err.partition, err.offset, err.rejection.reason) == ("cases", "3", "uscc_check")
    assert "91330106" not in str(err) and records[3].key not in str(err)
    assert store.load("unit-conn") == {"cases": "2", "cases-b": "1"}
    assert len(producer.on(PENALTY)) == 3 and producer.on("dlq.unit-conn") == []
    assert runner.state == "FAILED"
    assert metrics.registry.get_sample_value("hub_connector_state", {"connector": "unit-conn", "state": "FAILED"}) == 1
    # A restart re-reads from the bad record and fails again: nothing past it is ever committed.
    with pytest.raises(ConnectorStrictModeError):
        runner.run_once()
    assert task.opened[-1] == {"cases": "2", "cases-b": "1"}
    assert store.load("unit-conn") == {"cases": "2", "cases-b": "1"}


def test_record_refused_by_the_producer_is_a_produce_dead_letter(store):
    records = [good(0), good(1)]
    producer = FakeProducer(refuse=lambda topic, value: topic == PENALTY and len(producer.queue) == 1)
    result = make_runner(ListTask(records), store, producer).run_once()
    assert result.rejected == {"produce/too_large": 1} and result.produced == 1
    letter = parse_dead_letter(producer.on("dlq.unit-conn")[0]["headers"].items(), b"")
    assert (letter["stage"], letter["reason"], letter["source_offset"]) == ("produce", "too_large", "1")
    assert store.load("unit-conn") == {"cases": "1"}


def test_transient_poll_errors_are_retried(store, metrics):
    task = ListTask([good(0)])
    real_poll, calls = task.poll, []

    def flaky_poll(n):
        calls.append(n)
        if len(calls) < 3:
            raise ConnectionError("source down")
        return real_poll(n)

    task.poll = flaky_poll
    result = make_runner(task, store, FakeProducer(), metrics=metrics).run_once()
    assert result.produced == 1 and len(calls) == 4  # three tries for the batch, then the read-ahead
    assert metrics.registry.get_sample_value("hub_connector_retries_total",
                                             {"connector": "unit-conn", "operation": "poll"}) == 2


def test_a_stop_cuts_the_retries_against_a_system_that_is_down_short(store, metrics):
    task, calls = ListTask([good(0)]), []

    def down(n):
        calls.append(n)
        raise ConnectionError("source down")

    task.poll = down
    # 50 attempts with pauses of up to 30 s: minutes of retrying without the stop.
    runner = make_runner(task, store, FakeProducer(), metrics=metrics, retry_attempts=50, retry_initial=5.0,
                         retry_max=30.0)
    stop = threading.Event()
    runner.stop_event = stop
    threading.Timer(0.3, stop.set).start()
    with pytest.raises(ConnectionError):
        runner.run_once()  # returns as soon as the stop is set: inside the first pause
    assert stop.is_set() and len(calls) == 2, "the first try and the one after the cut-short pause, no more"
    assert store.load("unit-conn") == {}


def test_run_loop_drains_then_stops_and_a_new_runner_resumes(store, metrics):
    records = [good(i) for i in range(25)]
    producer = FakeProducer()
    runner = make_runner(ListTask(records), store, producer, metrics=metrics, batch_size=10)
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,))
    thread.start()
    for _ in range(200):
        if store.load("unit-conn") == {"cases": "24"}:
            break
        threading.Event().wait(0.01)
    stop.set()
    thread.join(5)
    assert not thread.is_alive() and runner.state == "STOPPED"
    assert len(producer.on(PENALTY)) == 25
    task2 = ListTask(records)
    again = make_runner(task2, store, producer).run_once()
    assert task2.opened == [{"cases": "24"}] and again.polled == 0


def test_run_gives_up_after_max_failures(store, metrics):
    producer = FakeProducer(fail=lambda *a: True)
    runner = make_runner(ListTask([good(0)]), store, producer, metrics=metrics, max_failures=3)
    with pytest.raises(ConnectorFailed):
        runner.run(threading.Event())
    assert runner.state == "FAILED" and store.load("unit-conn") == {}


def test_bad_mode_lists_valid_ones(store):
    with pytest.raises(ValueError, match="tolerant, strict"):
        make_runner(ListTask([]), store, FakeProducer(), mode="lenient")


# -- read-ahead: the next batch is polled and prepared while this one is acknowledged -------------


class EventLog(FakeProducer):
    """A FakeProducer that logs flushes into a shared event list."""

    def __init__(self, events: list, **kw):
        super().__init__(**kw)
        self.events = events

    def flush(self, timeout=None):
        self.events.append(("flush", len(self.queue)))
        return super().flush(timeout)


def logged_task(records, events):
    task = ListTask(records)
    real_poll = task.poll

    def poll(n):
        batch = real_poll(n)
        events.append(("poll", [r.offset for r in batch]))
        return batch
    task.poll = poll
    return task


def test_next_batch_is_read_ahead_before_the_flush_and_sent_by_the_next_cycle(store):
    events, records = [], [good(i) for i in range(5)]
    producer = EventLog(events)
    runner = make_runner(logged_task(records, events), store, producer, batch_size=2)
    first = runner.run_once()
    assert events == [("poll", ["0", "1"]), ("poll", ["2", "3"]), ("flush", 2)]
    assert first.produced == 2 and first.committed == {"cases": "1"} and store.load("unit-conn") == {"cases": "1"}
    second = runner.run_once()  # sends the read-ahead batch, reads the next one ahead
    assert events[3:] == [("poll", ["4"]), ("flush", 2)] and second.committed == {"cases": "3"}
    third = runner.run_once()
    assert events[5:] == [("poll", []), ("flush", 1)] and third.committed == {"cases": "4"}
    assert runner.run_once().polled == 0
    assert [m["key"] for m in producer.on(PENALTY)] == [r.key.encode() for r in records]


def test_read_ahead_is_dropped_when_the_batch_fails_and_read_again(store):
    # The first batch's deliveries fail: nothing is committed, and the batch read ahead
    # (polled past the committed offsets) must not be sent as if it followed a commit.
    failing = {"on": True}
    producer = FakeProducer(fail=lambda topic, value, key: failing["on"])
    records = [good(i) for i in range(4)]
    task = ListTask(records)
    runner = make_runner(task, store, producer, batch_size=2)
    with pytest.raises(BatchNotCommitted):
        runner.run_once()
    failing["on"] = False
    results = [runner.run_once() for _ in range(3)]
    assert task.opened == [{}, {}]  # re-opened at the (empty) committed offsets
    assert [r.committed for r in results] == [{"cases": "1"}, {"cases": "3"}, {}]
    assert [m["key"] for m in producer.on(PENALTY)] == [r.key.encode() for r in records]


def test_a_failing_read_ahead_leaves_the_batch_committed_and_the_next_cycle_polls_again(store):
    records = [good(i) for i in range(4)]
    task = ListTask(records)
    real_poll, calls = task.poll, []

    def poll(n):
        calls.append(n)
        if len(calls) in (2, 3):  # the read-ahead, and its one retry
            raise ConnectionError("source down")
        return real_poll(n)
    task.poll = poll
    producer = FakeProducer()
    runner = make_runner(task, store, producer, batch_size=2, retry_attempts=2)
    first = runner.run_once()
    assert first.committed == {"cases": "1"} and store.load("unit-conn") == {"cases": "1"}
    second = runner.run_once()  # re-opens at the checkpoint: the task may have moved on
    assert task.opened == [{}, {"cases": "1"}] and second.committed == {"cases": "3"}
    assert [m["key"] for m in producer.on(PENALTY)] == [r.key.encode() for r in records]


def test_close_drops_the_read_ahead(store):
    events: list = []
    producer, task = FakeProducer(), logged_task([good(i) for i in range(4)], events)
    runner = make_runner(task, store, producer, batch_size=2)
    runner.run_once()
    runner.close()
    assert runner.run_once().committed == {"cases": "3"}
    assert task.opened == [{}, {"cases": "1"}]
    assert events == [("poll", ["0", "1"]), ("poll", ["2", "3"]),  # the batch, its read-ahead
                      ("poll", ["2", "3"]), ("poll", [])]  # after re-opening: read again
    assert len(producer.on(PENALTY)) == 4


def test_strict_mode_does_not_read_ahead_past_a_bad_record(store):
    events: list = []
    runner = make_runner(logged_task([good(0), bad_uscc(1), good(2), good(3)], events), store, EventLog(events),
                         batch_size=2, mode="strict")
    with pytest.raises(ConnectorStrictModeError):
        runner.run_once()
    assert events == [("poll", ["0", "1"]), ("flush", 1)] and store.load("unit-conn") == {"cases": "0"}


def test_without_prefetch_each_cycle_polls_only_its_own_batch(store):
    events: list = []
    runner = make_runner(logged_task([good(i) for i in range(3)], events), store, EventLog(events),
                         batch_size=2, prefetch=False)
    runner.run_once()
    assert events == [("poll", ["0", "1"]), ("flush", 2)]
