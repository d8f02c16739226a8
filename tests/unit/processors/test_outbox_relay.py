"""The outbox relay: headers, checkpoints, settling in-doubt rows, monotonic ids, the relay lock.

The producer and the topic scanner are fakes here (the broker is not the point); the real
broker path is ``tests/integration/processors/test_outbox_scan.py`` and the risk crash test.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import create_engine, insert, select, text

from processors.runtime.models import OutboxCheckpoint, OutboxRow, upgrade_outbox
from processors.runtime.outbox import OutboxRelay
from processors.runtime.outbox_scan import HEADER, ScanResult
from processors.runtime.relay_lock import RelayLock
from topics.transport import Delivery, Producer

TOPIC = "risk.dispatches"


class FakeProducer(Producer):
    """Appends to an in-memory 'topic' (partition = row parity); ``fail`` ids are refused."""

    def __init__(self) -> None:
        self.log: list[tuple[str, int, bytes, dict]] = []  # (topic, partition, value, headers)
        self.fail: set[bytes] = set()
        self._pending: list = []

    def send(self, topic, value, key=None, headers=None, on_delivery=None, partition=None):
        hdrs = dict(headers or [])
        self._pending.append((topic, value, hdrs, on_delivery))

    def flush(self, timeout=None):
        for topic, value, hdrs, cb in self._pending:
            if hdrs[HEADER] in self.fail:
                cb(Delivery(topic, None, None, RuntimeError("refused")))
                continue
            partition = int(hdrs[HEADER].split(b":")[1]) % 2
            offset = sum(1 for t, p, _, _ in self.log if (t, p) == (topic, partition))
            self.log.append((topic, partition, value, hdrs))
            cb(Delivery(topic, partition, offset))
        self._pending = []
        return 0

    def close(self):
        pass

    def ids(self) -> list[bytes]:
        return [h[HEADER] for _, _, _, h in self.log]


class FakeScanner:
    """Reads the fake producer's log from the given offsets, like TopicScanner does."""

    def __init__(self, producer: FakeProducer) -> None:
        self.producer = producer
        self.calls: list[tuple[str, dict]] = []

    def __call__(self, topic, start, wanted):
        self.calls.append((topic, dict(start)))
        found, ends = set(), {}
        for partition in (0, 1):
            records = [(v, h) for t, p, v, h in self.producer.log if (t, p) == (topic, partition)]
            for _, h in records[start.get(partition, 0):]:
                if h[HEADER] in wanted:
                    found.add(h[HEADER])
            ends[partition] = len(records)
        return ScanResult(found, ends)


def add(db, n: int, topic: str = TOPIC) -> None:
    now = datetime.now(UTC)
    with db.engine.begin() as conn:
        conn.execute(insert(OutboxRow), [{"topic": topic, "key": f"k{i}", "body": b"b", "created_at": now}
                                         for i in range(n)])


def relay_for(db, producer, scanner=None, batch=2000) -> OutboxRelay:
    relay = OutboxRelay(db.engine, producer, registry=None, batch=batch, scanner=scanner)
    relay._headers[TOPIC] = b"\0hdr"
    return relay


def pending(db) -> int:
    with db.engine.connect() as conn:
        return conn.execute(text("select count(*) from outbox")).scalar()


def checkpoints(db) -> dict:
    with db.engine.connect() as conn:
        return {(r.topic, r.partition): r.next_offset for r in conn.execute(select(OutboxCheckpoint))}


def test_rows_carry_a_token_and_id_header_and_checkpoints_follow_the_acknowledgements(db):
    producer = FakeProducer()
    relay = relay_for(db, producer)
    add(db, 5)
    assert relay.drain() == 5 and pending(db) == 0
    token = producer.ids()[0].split(b":")[0]
    assert producer.ids() == [token + b":%d" % i for i in range(1, 6)]
    assert checkpoints(db) == {(TOPIC, 0): 2, (TOPIC, 1): 3}
    assert all(v.startswith(b"\0hdr") for _, _, v, _ in producer.log)


def test_after_a_crash_rows_already_on_the_topic_are_not_sent_again(db):
    producer = FakeProducer()
    add(db, 10)
    # A relay that sent everything and "died" before deleting: the rows are pending and in doubt.
    crashed = relay_for(db, producer)
    crashed.engine = db.engine
    token, _ = crashed._state()
    rows = crashed._select()
    with db.engine.begin() as conn:
        conn.execute(text("update outbox_relay set inflight_max_id = :m"), {"m": rows[-1].id})
    for row in rows[:6]:  # only six reached the broker before the crash
        producer.send(TOPIC, b"v", headers=[(HEADER, f"{token}:{row.id}".encode())], on_delivery=lambda d: None)
    producer.flush()

    scanner = FakeScanner(producer)
    restarted = relay_for(db, producer, scanner)
    add(db, 3)  # new work after the restart
    assert restarted.drain() == 7
    assert pending(db) == 0
    ids = producer.ids()
    assert len(ids) == len(set(ids)) == 13, "each row on the topic exactly once"
    assert (restarted.recovered, restarted.resent) == (6, 4)
    assert scanner.calls == [(TOPIC, {})]  # no checkpoint yet: from the beginning


def test_a_partly_failed_batch_keeps_its_checkpoint_and_is_settled_before_resending(db):
    producer = FakeProducer()
    scanner = FakeScanner(producer)
    relay = relay_for(db, producer, scanner)
    add(db, 4)
    relay.drain()
    assert checkpoints(db) == {(TOPIC, 0): 2, (TOPIC, 1): 2}
    token = producer.ids()[0].split(b":")[0]
    add(db, 4)  # ids 5..8
    producer.fail = {token + b":6"}
    assert relay.relay() == 3
    assert checkpoints(db) == {(TOPIC, 0): 2, (TOPIC, 1): 2}, "a failure in the batch holds the checkpoints"
    producer.fail = set()
    assert relay.relay() == 1
    # the retry first looked for id 6 from the held checkpoints, did not find it, then sent it
    assert scanner.calls == [(TOPIC, {0: 2, 1: 2})]
    assert (relay.recovered, relay.resent) == (0, 1)
    ids = producer.ids()
    assert len(ids) == len(set(ids)) == 8
    assert checkpoints(db) == {(TOPIC, 0): 4, (TOPIC, 1): 4}


def test_without_a_scanner_in_doubt_rows_are_resent(db):
    producer = FakeProducer()
    add(db, 2)
    relay = relay_for(db, producer)
    with db.engine.begin() as conn:
        conn.execute(text("insert into outbox_relay (name, token, inflight_max_id) values ('relay', 't', 99)"))
    assert relay.drain() == 2 and relay.recovered == 0


def test_outbox_ids_are_never_reused_after_the_table_empties(db):
    producer = FakeProducer()
    relay = relay_for(db, producer)
    add(db, 3)
    relay.drain()
    add(db, 1)
    with db.engine.connect() as conn:
        assert conn.execute(text("select id from outbox")).scalar() == 4


def test_an_old_sqlite_outbox_is_upgraded_to_monotonic_ids_keeping_its_rows(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as conn:
        conn.execute(text("create table outbox (id INTEGER NOT NULL PRIMARY KEY, topic VARCHAR(255), "
                          "key VARCHAR(255), body BLOB, created_at DATETIME)"))
        conn.execute(text("create index ix_outbox_topic on outbox (topic)"))
        conn.execute(text("insert into outbox values (7, 't', 'k', x'00', '2026-01-01')"))
    upgrade_outbox(engine)
    upgrade_outbox(engine)  # idempotent
    with engine.begin() as conn:
        assert "AUTOINCREMENT" in conn.execute(text("select sql from sqlite_master where name = 'outbox'")).scalar()
        assert conn.execute(text("select id, topic from outbox")).all() == [(7, "t")]
        conn.execute(text("delete from outbox"))
        conn.execute(text("insert into outbox (topic, key, body, created_at) values ('t', 'k', x'00', '2026-01-01')"))
        assert conn.execute(text("select id from outbox")).scalar() == 8


def test_one_relay_per_sqlite_database(db, tmp_path):
    first, second = RelayLock(db.engine), RelayLock(db.engine)
    assert first.acquire() and first.acquire()
    assert not second.acquire()
    first.release()
    assert second.acquire()
    second.release()
    producer = FakeProducer()
    holder, other = relay_for(db, producer), relay_for(db, producer)
    add(db, 2)
    assert other.lock.acquire()
    assert holder.drain() == 0 and pending(db) == 2, "a host without the lock does not relay"
    other.close()
    assert holder.drain() == 2
