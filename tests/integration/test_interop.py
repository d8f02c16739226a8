"""Interoperability with an independent client: confluent-kafka's Avro serde and the hub's,
through the real broker and the hub's registry served over HTTP (SQLite and PostgreSQL)."""

import io
import uuid

import pytest
from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer as ConfluentAvroDeserializer
from confluent_kafka.schema_registry.avro import AvroSerializer as ConfluentAvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from fastavro import parse_schema, schemaless_reader, schemaless_writer

from hub_api.registry.client import RegistryClient
from ops.simulators.records import RecordFactory
from schemas import loader
from tests.integration.kafka_utils import consume_all
from topics.serde import AvroDeserializer, AvroSerializer, schema_id_of, subject_for
from topics.transport import make_producer

pytestmark = pytest.mark.integration

SCHEMA = "gov.zj.supervision.penalty.PenaltyCaseEvent"
N = 200


def _as_decoded(records):
    """What any fastavro-based reader returns for ``records`` (logical types become date/Decimal/datetime)."""
    parsed = parse_schema(loader.load(SCHEMA))
    out = []
    for r in records:
        buf = io.BytesIO()
        schemaless_writer(buf, parsed, r)
        buf.seek(0)
        out.append(schemaless_reader(buf, parsed))
    return out


@pytest.fixture
def records():
    return [RecordFactory(seed=7).penalty_decision(i) for i in range(N)]


def test_hub_writes_confluent_reads(live_hub, writer_client, records, kafka_bootstrap):
    topic = f"interop-hub-{uuid.uuid4().hex[:8]}"
    registry = RegistryClient(f"{live_hub.url}/registry", auth=writer_client)
    serialize = AvroSerializer(registry, subject_for(topic), loader.schema_json(SCHEMA))
    with make_producer(live_hub.settings) as producer:
        for r in records:
            producer.send(topic, serialize(r), key=r["case_id"].encode())
    assert schema_id_of(serialize(records[0])) == registry.latest(subject_for(topic))[0]

    confluent = ConfluentAvroDeserializer(SchemaRegistryClient({"url": f"{live_hub.url}/registry"}))
    messages = consume_all(kafka_bootstrap, topic, expected=N)
    decoded = [confluent(m.value(), SerializationContext(topic, MessageField.VALUE)) for m in messages]
    by_id = {d["case_id"]: d for d in decoded}
    assert len(decoded) == N
    assert [by_id[r["case_id"]] for r in _as_decoded(records)] == _as_decoded(records)
    assert by_id[records[0]["case_id"]]["counterpart"]["name"] == records[0]["counterpart"]["name"]


def test_confluent_writes_hub_reads(live_hub, writer_client, records, kafka_bootstrap):
    topic = f"interop-confluent-{uuid.uuid4().hex[:8]}"
    client = SchemaRegistryClient({"url": f"{live_hub.url}/registry",
                                   "basic.auth.user.info": f"{writer_client[0]}:{writer_client[1]}"})
    serialize = ConfluentAvroSerializer(client, loader.schema_json(SCHEMA))
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    for r in records:
        producer.produce(topic, serialize(r, SerializationContext(topic, MessageField.VALUE)),
                         key=r["case_id"].encode())
    assert producer.flush(30) == 0

    hub = AvroDeserializer(RegistryClient(f"{live_hub.url}/registry"))  # reads need no credentials
    messages = consume_all(kafka_bootstrap, topic, expected=N)
    decoded = {d["case_id"]: d for d in (hub(m.value()) for m in messages)}
    assert len(messages) == N
    assert [decoded[r["case_id"]] for r in _as_decoded(records)] == _as_decoded(records)
    # The subject the confluent client registered holds the standard's schema, attributes intact.
    latest = client.get_latest_version(subject_for(topic))
    assert '"pii":"name"' in latest.schema.schema_str.replace(" ", "")
