"""Sinks and ``hub dlq`` end to end: real broker, the hub's registry over HTTP, a real loopback
webhook receiver, SQLite and PostgreSQL targets.

- webhook: every record delivered exactly once after dedupe by delivery id, despite transient
  5xx answers; permanent 400s in ``dlq.<name>`` with their reason and original bytes; offsets
  committed (a new runner in the same group delivers nothing);
- sql-table: exact row counts, upserts idempotent when the topic is replayed;
- ``hub dlq list|show|replay`` on a DLQ filled by a source runner: after the code table gains
  the unknown code, replay moves exactly those records to the standard topic.
"""

import json
import threading
import time
import uuid

import pytest
import sqlalchemy as sa
from fastapi import FastAPI, Request, Response
from kafka import KafkaAdminClient

from connectors import dlq_tool
from connectors.runtime.contract import Mapped, MappingError, RawRecord
from connectors.runtime.offsets import OffsetStore, ensure_schema
from connectors.runtime.runner import SourceRunner
from connectors.sinks.http_webhook import WebhookConfig, WebhookTask
from connectors.sinks.runner import SinkRunner
from connectors.sinks.signing import verify
from connectors.sinks.sql_table import SqlTableConfig, SqlTableTask
from hub_api.registry.client import RegistryClient
from ops import cli
from ops.simulators.records import RecordFactory
from ops.threaded_server import ThreadedServer
from schemas.codes import make_uscc
from schemas.loader import schema_json
from tests.integration.kafka_utils import consume_all
from tests.unit.connectors.fakes import PENALTY, ListTask, penalty_mapper, to_json
from topics.provision import ensure_topic
from topics.serde import AvroSerializer
from topics.transport import make_producer

pytestmark = pytest.mark.integration

SECRET = "integration-webhook-secret-42"
SCHEMA = "gov.zj.supervision.penalty.PenaltyCaseEvent"
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def topics(bootstrap, *names, partitions=3):
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        for name in names:
            ensure_topic(admin, name, partitions=1 if name.startswith("dlq.") else partitions)
    finally:
        admin.close()


@pytest.fixture
def registry(live_hub, writer_client):
    client = RegistryClient(f"{live_hub.url}/registry", auth=writer_client)
    yield client
    client.close()


def produce_standard(settings, registry, topic, values) -> dict[str, bytes]:
    """Produce ``values`` as the hub does; returns record id -> message bytes."""
    serialize = AvroSerializer(registry, f"{topic}-value", schema_json(SCHEMA))
    out = {}
    with make_producer(settings) as producer:
        for v in values:
            rid = v["envelope"]["record_id"]
            out[rid] = data = serialize(v)
            producer.send(topic, data, key=v["case_id"].encode(), headers=[("hub.record_id", rid.encode())])
        producer.flush(30)
    return out


def penalty_values(n, seed, system):
    factory = RecordFactory(seed=seed, source_system=system)
    return [factory.penalty_decision(i) for i in range(n)]


def drain(runner, expected, timeout=40.0):
    """run_once until ``expected`` records were handled (delivered + filtered + dead-lettered)."""
    handled, deadline = 0, time.monotonic() + timeout
    while handled < expected and time.monotonic() < deadline:
        try:
            r = runner.run_once()
        except Exception:  # noqa: BLE001 - the runner rewinds; the next cycle retries
            continue
        handled += r.delivered + r.filtered + r.dead_lettered
    return handled


def settle_idle(runner, seconds=8.0):
    """Poll until the consumer is assigned and a few polls came back empty; returns records seen."""
    seen, empty, deadline = 0, 0, time.monotonic() + seconds
    while time.monotonic() < deadline and empty < 3:
        r = runner.run_once()
        seen += r.polled
        empty = empty + 1 if (r.polled == 0 and runner._consumer.assignment()) else 0
    return seen


# -- webhook ---------------------------------------------------------------------------------

def receiver(bad_case_ids, transient_first=3):
    """A department endpoint: checks signatures, 503s the first requests, 400s some records."""
    state = {"requests": 0, "bad_signatures": 0, "deliveries": {}, "posts": 0}
    lock = threading.Lock()
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> Response:
        body = await request.body()
        h = request.headers
        with lock:
            state["requests"] += 1
            if not verify(SECRET, h.get("x-hub-timestamp"), body, h.get("x-hub-signature")):
                state["bad_signatures"] += 1
                return Response(status_code=401)
            if state["requests"] <= transient_first:
                return Response(status_code=503)
            doc = json.loads(body)
            if doc["key"] in bad_case_ids:
                return Response(status_code=400)
            state["posts"] += 1
            state["deliveries"].setdefault(h["x-hub-delivery-id"], doc)
        return Response(status_code=204)

    return app, state


@sqlite_only
def test_webhook_sink_delivers_once_dead_letters_refusals_and_commits(live_hub, registry, kafka_bootstrap):
    suffix = uuid.uuid4().hex[:8]
    name, topic = f"it-hook-{suffix}", f"it.sink.{suffix}"
    topics(kafka_bootstrap, topic, f"dlq.{name}")
    values = penalty_values(60, seed=7, system=f"it-{suffix}")
    sent = produce_standard(live_hub.settings, registry, topic, values)
    bad = {v["case_id"] for v in values[5::12]}  # 5 records the department refuses
    app, state = receiver(bad)
    with ThreadedServer(app) as server, make_producer(live_hub.settings) as dlq_producer:
        config = WebhookConfig(topic=topic, url=f"{server.url}/hook", secret=SECRET,
                               retry_initial_seconds=0.05, retry_max_seconds=0.2)

        def runner():
            return SinkRunner(name, WebhookTask(config), topic=topic, settings=live_hub.settings,
                              registry=registry, producer=dlq_producer, batch_size=20, retry_initial=0.05)

        first = runner()
        try:
            assert drain(first, len(values)) == len(values)
        finally:
            first.close()
        good = {v["envelope"]["record_id"] for v in values if v["case_id"] not in bad}
        assert state["bad_signatures"] == 0 and state["requests"] >= len(values) + 3
        assert {d["record_id"] for d in state["deliveries"].values()} == good  # exactly once after dedupe
        assert len(state["deliveries"]) == len(good)
        sample = next(iter(state["deliveries"].values()))
        assert sample["masked"] and "*" in sample["value"]["counterpart"]["id_code"]

        letters = consume_all(kafka_bootstrap, f"dlq.{name}", expected=len(bad), idle_seconds=1.0)
        parsed = [dlq_tool.parse_dead_letter(m.headers(), m.value()) for m in letters]
        assert len(parsed) == len(bad)
        assert {(d["stage"], d["reason"]) for d in parsed} == {("deliver", "http_400")}
        by_rid = {dict(m.headers())["hub.record_id"].decode(): m.value() for m in letters}
        assert by_rid == {rid: sent[rid] for rid in sent if rid not in good}  # original bytes
        assert all(d["source_partition"].startswith(f"{topic}:") for d in parsed)

        before = state["requests"]
        second = runner()  # same group: starts at the committed offsets
        try:
            assert settle_idle(second) == 0
        finally:
            second.close()
        assert state["requests"] == before


# -- sql table -------------------------------------------------------------------------------

def test_sql_table_sink_exact_rows_and_idempotent_replay(live_hub, registry, kafka_bootstrap, database_url):
    suffix = uuid.uuid4().hex[:8]
    name, topic, table = f"it-sql-{suffix}", f"it.sql.{suffix}", f"dept_cases_{suffix}"
    topics(kafka_bootstrap, topic, f"dlq.{name}")
    values = penalty_values(80, seed=9, system=f"it-{suffix}")
    for i, v in enumerate(values[60:]):  # 20 later events of earlier cases: upserts
        v["case_id"] = values[i]["case_id"]
        v["stage"] = "closing"
    produce_standard(live_hub.settings, registry, topic, values)
    engine = sa.create_engine(database_url)
    with engine.begin() as c:
        c.execute(sa.text(f"CREATE TABLE {table} (case_id VARCHAR(64) PRIMARY KEY, stage VARCHAR(32) NOT NULL, "
                          "fine NUMERIC(18, 2), decided DATE, region VARCHAR(6), record_id VARCHAR(200))"))
    config = SqlTableConfig(topic=topic, url=database_url, table=table, key_columns=["case_id"],
                            columns={"case_id": "case_id", "stage": "stage", "fine": "fine_amount",
                                     "decided": "decision_date", "region": "region_code",
                                     "record_id": "$record_id"})

    def run(group):
        with make_producer(live_hub.settings) as producer:
            runner = SinkRunner(name, SqlTableTask(config), topic=topic, settings=live_hub.settings,
                                registry=registry, producer=producer, group_id=group, batch_size=50)
            try:
                assert drain(runner, len(values)) == len(values)
            finally:
                runner.close()

    def rows():
        with engine.connect() as c:
            return sorted(tuple(r) for r in c.execute(sa.text(f"SELECT case_id, stage, fine, decided, region "
                                                              f"FROM {table}")))

    try:
        run(f"it-sql-a-{suffix}")
        first = rows()
        assert len(first) == 60 and sum(r[1] == "closing" for r in first) == 20
        run(f"it-sql-b-{suffix}")  # a replay of the whole topic through another group
        assert rows() == first
    finally:
        with engine.begin() as c:
            c.execute(sa.text(f"DROP TABLE {table}"))
        engine.dispose()


# -- hub dlq ---------------------------------------------------------------------------------

DEPARTMENTS = {"SCJ": "330000SCJ", "STJ": "330000STJ", "JTT": "330000JTT", "YJJ": "330000YJJ"}


def coded_mapper(table):
    """Source documents carry a short department code, translated through ``table``."""
    def mapper(doc, raw: RawRecord):
        code = doc.get("dept") if isinstance(doc, dict) else None
        if code not in table:
            raise MappingError("unknown_code", "field dept: code not in the department code table")
        [mapped] = penalty_mapper(doc, raw)
        mapped.value["envelope"]["department_code"] = table[code]
        return [Mapped(mapped.topic, mapped.value)]
    return mapper


@sqlite_only
def test_hub_dlq_list_show_replay(live_hub, registry, writer_client, kafka_bootstrap, monkeypatch, capsys):
    suffix = uuid.uuid4().hex[:8]
    name, std = f"it-dlq-{suffix}", f"it.std.{suffix}"
    topics(kafka_bootstrap, std, f"dlq.{name}")
    factory = RecordFactory(seed=5, source_system="it-dlq")
    records, unknown, broken = [], 0, 0
    for i in range(40):
        value = factory.penalty_decision(i)
        dept = "SCJ"
        if i % 8 == 1:
            dept, unknown = "NEW", unknown + 1  # fixed later by adding NEW to the table
        elif i % 8 == 5:
            code = make_uscc("330106", "MA2H2X9L")
            value["counterpart"]["id_type"]["code"] = "001"
            value["counterpart"]["id_code"] = code[:17] + ("0" if code[17] != "0" else "1")
            broken += 1  # stays broken
        records.append(RawRecord("cases", str(i), value["case_id"], "1",
                                 to_json({"case": value, "dept": dept}).encode()))
    ensure_schema(live_hub.db)
    with make_producer(live_hub.settings) as producer:
        source = SourceRunner(name, ListTask(records), coded_mapper(DEPARTMENTS), source_system="it-dlq",
                              settings=live_hub.settings, producer=producer, registry=registry,
                              offsets=OffsetStore(live_hub.db), topic_names={PENALTY: std})
        while source.run_once().polled:
            pass
        source.close()
    good = 40 - unknown - broken

    monkeypatch.setenv("HUB_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("HUB_ENVIRONMENT", "test")
    monkeypatch.setenv("HUB_REGISTRY_URL", f"{live_hub.url}/registry")
    monkeypatch.setenv("HUB_REGISTRY_CLIENT_ID", writer_client[0])
    monkeypatch.setenv("HUB_REGISTRY_CLIENT_SECRET", writer_client[1])

    def hub(*argv):
        capsys.readouterr()
        code = cli.main(list(argv))
        return code, capsys.readouterr().out

    code, out = hub("dlq", "list", "--connector", name, "--json")
    [row] = json.loads(out)
    assert code == 0 and row["total"] == row["pending"] == unknown + broken
    assert row["by_reason"] == {"map/unknown_code": unknown, "validate/uscc_check": broken}

    code, out = hub("dlq", "show", name, "--limit", "3", "--reason", "unknown_code", "--json")
    shown = json.loads(out)
    assert len(shown) == 3 and all(s["reason"] == "unknown_code" and s["source_partition"] == "cases" for s in shown)
    assert all(set(s["value"]) == {"length", "sha256", "head_hex"} for s in shown)  # no decoded personal data

    fixed = dlq_tool.ReplaySource(coded_mapper({**DEPARTMENTS, "NEW": "330000NEW"}), "it-dlq",
                                  topic_names={PENALTY: std})
    monkeypatch.setattr(dlq_tool, "source_from_store", lambda settings, connector: fixed)
    code, out = hub("dlq", "replay", name, "--dry-run", "--json")
    dry = json.loads(out)
    assert (dry["replayed"], dry["still_failing"]) == (unknown, {"validate/uscc_check": broken})
    code, out = hub("dlq", "replay", name, "--json")
    report = json.loads(out)
    assert code == 0 and report["replayed"] == report["produced"] == unknown
    assert report["still_failing"] == {"validate/uscc_check": broken}

    messages = consume_all(kafka_bootstrap, std, expected=good + unknown, idle_seconds=1.0)
    replayed = [m for m in messages if "hub.replayed_from" in dict(m.headers())]
    assert len(messages) == good + unknown and len(replayed) == unknown
    assert all(dict(m.headers())["hub.replayed_from"].decode().startswith(f"dlq.{name}:0:") for m in replayed)

    # Again: nothing new after deduplication. Replayed offsets above the first still-failing one
    # are remembered in the group's commit metadata, which Tansu drops (Kafka keeps it): there
    # they are replayed again, with the same record ids.
    code, out = hub("dlq", "replay", name, "--json")
    again = json.loads(out)
    assert again["replayed"] + again["already_replayed"] == unknown
    assert again["still_failing"] == {"validate/uscc_check": broken}
    messages = consume_all(kafka_bootstrap, std, expected=good + unknown, idle_seconds=1.0)
    ids = {dict(m.headers())["hub.record_id"] for m in messages}
    assert len(ids) == good + unknown
    code, out = hub("dlq", "list", "--connector", name, "--json")
    [row] = json.loads(out)
    assert row["pending_by_reason"]["validate/uscc_check"] == broken and row["replayed"] >= 1
