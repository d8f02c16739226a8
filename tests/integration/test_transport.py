"""Both producer transports against the real broker: every record acknowledged once, read back once."""

import threading
import uuid

import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from ops.settings import HubSettings
from tests.integration.kafka_utils import consume_all
from topics.transport import TRANSPORTS, make_producer

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
def test_transport_delivers_every_record_with_callbacks(kafka_bootstrap, transport):
    topic = f"transport-{transport}-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics([NewTopic(topic, 3, 1)])
    admin.close()
    settings = HubSettings(kafka_bootstrap=kafka_bootstrap, producer_transport=transport)
    n = 3000
    outcomes, lock = [], threading.Lock()

    def on_delivery(d):
        with lock:
            outcomes.append(d)

    with make_producer(settings) as producer:
        for i in range(n):
            producer.send(topic, f"案件-{i}".encode(), key=str(i).encode(),
                          headers=[("source", b"test")], on_delivery=on_delivery)
        assert producer.flush(30) == 0
    assert len(outcomes) == n
    assert all(d.ok and d.topic == topic and d.offset is not None for d in outcomes)
    # Offsets are unique per partition: nothing acknowledged twice.
    assert len({(d.partition, d.offset) for d in outcomes}) == n
    records = consume_all(kafka_bootstrap, topic, expected=n)
    assert sorted(int(m.key()) for m in records) == list(range(n))
    assert records[0].headers() == [("source", b"test")]


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
def test_close_delivers_what_was_sent_then_refuses_more(kafka_bootstrap, transport):
    topic = f"close-{transport}-{uuid.uuid4().hex[:8]}"
    outcomes = []
    producer = make_producer(HubSettings(kafka_bootstrap=kafka_bootstrap), transport=transport)
    for i in range(10):
        producer.send(topic, b"v", key=str(i).encode(), on_delivery=outcomes.append)
    producer.close()
    producer.close()  # idempotent
    assert len(outcomes) == 10 and all(d.ok for d in outcomes)
    with pytest.raises(Exception):  # noqa: B017,PT011 - each client has its own "closed" error
        producer.send(topic, b"late")
    assert len(consume_all(kafka_bootstrap, topic, expected=10)) == 10


def test_unknown_transport_lists_the_valid_ones(kafka_bootstrap):
    with pytest.raises(ValueError, match="confluent, kafka-python|kafka-python, confluent"):
        make_producer(HubSettings(kafka_bootstrap=kafka_bootstrap), transport="nope")


def test_delivery_failure_reaches_the_callback(kafka_bootstrap):
    """A record above the broker's size limit fails locally or on delivery, never silently."""
    settings = HubSettings(kafka_bootstrap=kafka_bootstrap)
    errors = []
    with make_producer(settings, max_request_size=1024) as producer:
        try:
            producer.send("any-topic", b"x" * 4096, on_delivery=errors.append)
        except Exception as exc:  # noqa: BLE001 - local refusal is also a visible failure
            errors.append(exc)
        producer.flush(10)
    assert errors and (isinstance(errors[0], Exception) or not errors[0].ok)
