"""The runner end to end: real broker, the hub's registry over HTTP, checkpoints in SQLite and PostgreSQL.

2,000 source records (5 % bad, of several kinds) through both producer transports: every good
record exactly once on the standard topic (by record id), every bad one once in the dead-letter
topic with its reason and original bytes, offsets committed to the end; a second runner on the
same database resumes there and produces nothing.
"""

import time
import uuid

import pytest
from confluent_kafka import Consumer
from kafka import KafkaAdminClient

from connectors.runtime.contract import RawRecord
from connectors.runtime.dlq import parse_dead_letter
from connectors.runtime.offsets import OffsetStore, ensure_schema
from connectors.runtime.pipeline import record_id
from connectors.runtime.runner import SourceRunner
from hub_api.registry.client import RegistryClient
from ops.simulators.records import RecordFactory
from schemas.codes import make_uscc
from tests.unit.connectors.fakes import PENALTY, ListTask, penalty_mapper, to_json
from topics.provision import ensure_topic
from topics.serde import AvroDeserializer
from topics.transport import make_producer

pytestmark = pytest.mark.integration

N = 2000
SYSTEM = "it-penalty-system"
FULL_WIDTH = {ord(c): ord(c) + 0xFEE0 for c in "0123456789"}


def _bad(kind: str, value: dict) -> tuple[bytes, str]:
    """(payload, expected reason) for one bad record of ``kind``."""
    if kind == "encoding":
        return to_json({"case": value}).encode("gb18030"), "encoding"
    if kind == "json":
        return to_json({"case": value}).encode()[:-1] + b",", "json"
    if kind == "map":
        return to_json({"row": value}).encode(), "missing_field"
    if kind == "uscc":
        code = make_uscc("330106", "MA2H2X9L")
        value["counterpart"]["id_type"]["code"] = "001"
        value["counterpart"]["id_code"] = code[:17] + ("0" if code[17] != "0" else "1")
        return to_json({"case": value}).encode(), "uscc_check"
    if kind == "region":
        value["region_code"] = "339999"
        return to_json({"case": value}).encode(), "region_unknown"
    if kind == "item":
        value["catalog_code"] = value["catalog_code"][:13]
        return to_json({"case": value}).encode(), "item_code_format"
    if kind == "dates":
        value["decision_date"], value["filing_date"] = value["filing_date"], value["decision_date"]
        return to_json({"case": value}).encode(), "date_order"
    value["stage"] = "bogus"
    return to_json({"case": value}).encode(), "schema"


KINDS = ["encoding", "json", "map", "uscc", "region", "item", "dates", "schema"]


def build_source():
    """Records on two source partitions; returns (records, good record ids, bad {(partition, offset): reason})."""
    factory = RecordFactory(seed=42, source_system=SYSTEM)
    records, good, bad = [], set(), {}
    for i in range(N):
        value = factory.penalty_decision(i)
        partition, offset = ("cases-a", str(i // 2)) if i % 2 == 0 else ("cases-b", str(i // 2))
        key, version = value["case_id"], f"v{i % 3}"
        if i % 20 == 7:  # 5 % bad, every kind
            payload, reason = _bad(KINDS[(i // 20) % len(KINDS)], value)
            bad[(partition, offset)] = (reason, payload)
        else:
            if i % 10 == 3:  # typed by a human: full-width digits and spaces, repaired by the runner
                value["counterpart"]["id_code"] = " " + value["counterpart"]["id_code"].translate(FULL_WIDTH)
            payload = to_json({"case": value}).encode()
            good.add(record_id(SYSTEM, key, version))
        records.append(RawRecord(partition, offset, key, version, payload))
    return records, good, bad


def consume(bootstrap: str, topics: list[str], expected: int, idle: float = 1.0, timeout: float = 60.0) -> list:
    """Every record of ``topics`` (one consumer, one group join), until ``expected`` plus ``idle`` quiet seconds."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"it-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "session.timeout.ms": 6000, "fetch.wait.max.ms": 10})
    consumer.subscribe(topics)
    out, deadline, last = [], time.monotonic() + timeout, time.monotonic()
    try:
        while time.monotonic() < deadline:
            batch = consumer.consume(1000, 0.2)
            got = [m for m in batch if m.error() is None]
            if got:
                out.extend(got)
                last = time.monotonic()
            elif len(out) >= expected and time.monotonic() - last > idle:
                break
    finally:
        consumer.close()
    return out


@pytest.mark.parametrize("transport", ["kafka-python", "confluent"])
def test_runner_against_broker_registry_and_database(live_hub, writer_client, kafka_bootstrap, transport):
    records, good_ids, bad = build_source()
    suffix = uuid.uuid4().hex[:8]
    connector, topic = f"it-{transport}-{suffix}", f"it.penalty.{suffix}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        ensure_topic(admin, topic, partitions=3)
        ensure_topic(admin, f"dlq.{connector}", partitions=1)
    finally:
        admin.close()
    ensure_schema(live_hub.db)
    store = OffsetStore(live_hub.db)
    registry = RegistryClient(f"{live_hub.url}/registry", auth=writer_client)
    producer = make_producer(live_hub.settings, transport=transport)

    def runner(task):
        return SourceRunner(connector, task, penalty_mapper, source_system=SYSTEM, settings=live_hub.settings,
                            producer=producer, registry=registry, offsets=store, batch_size=500,
                            identifier_fields=("case.counterpart.id_code",), topic_names={PENALTY: topic})

    try:
        first = runner(ListTask(records))
        started, produced, dead, batches = time.perf_counter(), 0, 0, []
        while (result := first.run_once()).polled:
            produced, dead = produced + result.produced, dead + result.dead_lettered
            batches.append(time.perf_counter() - started - sum(batches))
        elapsed = time.perf_counter() - started
        first.close()
        steady = (N - 500) / sum(batches[1:]) if len(batches) > 1 else float("nan")
        print(f"\n{transport}: {N} records in {elapsed:.2f}s = {N / elapsed:,.0f} records/s "
              f"(after the first batch, which resolves the schema id and connects: {steady:,.0f} records/s)")
        assert (produced, dead) == (len(good_ids), len(bad))
        last = {"cases-a": str(N // 2 - 1), "cases-b": str(N // 2 - 1)}
        assert store.load(connector) == last

        messages = consume(kafka_bootstrap, [topic, f"dlq.{connector}"], expected=N)
        standard = [m for m in messages if m.topic() == topic]
        letters = [parse_dead_letter(m.headers(), m.value()) for m in messages if m.topic() != topic]
        ids = [dict(m.headers())["hub.record_id"].decode() for m in standard]
        assert len(ids) == len(good_ids) and set(ids) == good_ids  # every good record exactly once

        decode = AvroDeserializer(registry)
        sample = decode(standard[0].value())
        assert sample["envelope"]["record_id"] == ids[0] and sample["envelope"]["source_system"] == SYSTEM
        assert standard[0].key() == sample["case_id"].encode()
        repaired = [decode(m.value()) for m in standard[:200]]
        assert all(" " not in v["counterpart"]["id_code"] and v["counterpart"]["id_code"].isascii() for v in repaired)

        assert len(letters) == len(bad)
        got = {(d["source_partition"], d["source_offset"]): (d["reason"], d["value"]) for d in letters}
        assert got == bad  # right reason and the original bytes, once each
        assert {d["connector"] for d in letters} == {connector}

        # A new runner on the same database opens at the committed offsets and has nothing to do.
        task = ListTask(records)
        second = runner(task)
        result = second.run_once()
        second.close()
        assert task.opened == [last] and (result.polled, result.produced) == (0, 0)
    finally:
        producer.close()
        registry.close()
