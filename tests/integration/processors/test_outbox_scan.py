"""The relay's in-doubt lookup on the real broker, and the relay lock on real PostgreSQL."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert

from hub_api.db import Database
from ops.settings import HubSettings
from processors.runtime.models import OutboxRow
from processors.runtime.outbox import OutboxRelay
from processors.runtime.outbox_scan import HEADER, TopicScanner
from processors.runtime.relay_lock import RelayLock
from tests.conftest import _drop_pg_schema, _pg_schema_url
from tests.integration.kafka_utils import consume_all
from topics.transport import make_producer


def test_the_scan_finds_the_last_record_of_a_batch_and_reports_the_true_end(kafka_bootstrap):
    settings = HubSettings(kafka_bootstrap=kafka_bootstrap, environment="test")
    topic = f"scan-{uuid.uuid4().hex[:8]}"
    with make_producer(settings) as producer:
        # One batch of 50 on partition 0: Tansu reports the end as the batch start + 1, so a scan
        # that stopped at the reported end would miss the last ones.
        for i in range(50):
            token = b"ours" if i % 10 else b"other"
            producer.send(topic, b"v", key=b"k", partition=0, headers=[(HEADER, token + b":%d" % i)])
        producer.flush(30)
    scan = TopicScanner(settings, idle_s=0.5)
    wanted = {b"ours:49", b"ours:48", b"ours:1", b"ours:999", b"ours:10"}  # 10 is "other", 999 never sent
    result = scan(topic, {}, wanted)
    assert result.found == {b"ours:49", b"ours:48", b"ours:1"}
    assert result.ends == {0: 50, 1: 0, 2: 0, 3: 0}  # the topic was auto-created with 4 partitions
    later = scan(topic, {0: 45}, wanted)
    assert later.found == {b"ours:49", b"ours:48"}
    assert scan(topic, {0: 45}, {b"ours:48"}).found == {b"ours:48"}  # stops as soon as all are found


def test_the_scan_of_a_topic_that_does_not_exist_finds_nothing(kafka_bootstrap):
    settings = HubSettings(kafka_bootstrap=kafka_bootstrap, environment="test")
    result = TopicScanner(settings, idle_s=0.2)(f"absent-{uuid.uuid4().hex[:8]}", {}, {b"x:1"})
    assert result.found == set()


def test_one_relay_per_postgresql_schema():
    (url_a, schema_a), (url_b, schema_b) = _pg_schema_url(), _pg_schema_url()
    db_a, db_b = Database(url_a), Database(url_b)
    try:
        first, second, elsewhere = RelayLock(db_a.engine), RelayLock(db_a.engine), RelayLock(db_b.engine)
        assert first.acquire() and first.acquire()
        assert not second.acquire()
        assert elsewhere.acquire(), "another hub's schema in the same database has its own lock"
        first.release()
        assert second.acquire()
        second.release()
        elsewhere.release()
    finally:
        db_a.dispose()
        db_b.dispose()
        _drop_pg_schema(schema_a)
        _drop_pg_schema(schema_b)


class Crash(BaseException):
    """Stands for the process dying: nothing after it runs."""


class DiesInFlush:
    """A real producer that passes on only the first ``reach`` records of a batch, then 'dies'."""

    def __init__(self, producer, reach: int) -> None:
        self.producer, self.reach, self.seen = producer, reach, 0

    def send(self, *args, **kwargs):
        self.seen += 1
        if self.seen <= self.reach:
            self.producer.send(*args, **kwargs)

    def flush(self, timeout=None):
        self.producer.flush(timeout)
        raise Crash


@pytest.mark.parametrize("reach", [0, 130, 300])
def test_a_relay_that_died_after_producing_does_not_produce_twice(kafka_bootstrap, database_url, reach):
    settings = HubSettings(kafka_bootstrap=kafka_bootstrap, database_url=database_url, environment="test")
    topic = f"relay-{uuid.uuid4().hex[:8]}"
    db = Database(database_url)
    db.create_schema()
    now = datetime.now(UTC)

    def add(n: int) -> None:
        with db.engine.begin() as conn:
            conn.execute(insert(OutboxRow), [{"topic": topic, "key": f"k{i}", "body": b"b", "created_at": now}
                                             for i in range(n)])

    def relay_with(producer, scanner=None) -> OutboxRelay:
        relay = OutboxRelay(db.engine, producer, registry=None, batch=200, scanner=scanner)
        relay._headers[topic] = b"\0hdr"
        return relay

    try:
        with make_producer(settings) as producer:
            first = relay_with(producer)
            add(100)
            assert first.drain() == 100  # a clean batch: checkpoints recorded
            add(300)
            dying = relay_with(DiesInFlush(producer, reach), TopicScanner(settings, idle_s=0.5))
            first.close()
            with pytest.raises(Crash):
                dying.relay()  # batch of 200; `reach` of them (at most 200) reached the broker
            dying.close()  # the kernel releases a dead process's lock
            restarted = relay_with(producer, TopicScanner(settings, idle_s=0.5))
            assert restarted.drain() == 400 - 100 - min(reach, 200)
            assert (restarted.recovered, restarted.resent) == (min(reach, 200), 200 - min(reach, 200))
            restarted.close()
        msgs = consume_all(kafka_bootstrap, topic, expected=400, idle_seconds=1.0, timeout=60)
        ids = Counter(dict(m.headers())[HEADER] for m in msgs)
        assert len(ids) == 400 and max(ids.values()) == 1
    finally:
        db.dispose()
