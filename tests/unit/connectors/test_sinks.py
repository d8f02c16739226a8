"""Sinks without a broker: signatures, masking, the webhook task (httpx MockTransport), the SQL task
(SQLite), and the sink runner's commit rule with an in-memory consumer and producer."""

import datetime as dt
import hashlib
import hmac
import json
from decimal import Decimal

import httpx
import pytest
import sqlalchemy as sa
from kafka.structs import TopicPartition
from pydantic import ValidationError

from connectors.config import validate_config
from connectors.runtime.batch import BatchNotCommitted
from connectors.runtime.dlq import parse_dead_letter
from connectors.runtime.pipeline import RecordRejected
from connectors.runtime.plugin import SinkTask
from connectors.sinks.base import SinkRecord, TransientDeliveryError, delivery_id, make_filter
from connectors.sinks.http_webhook import WebhookConfig, WebhookTask, classify
from connectors.sinks.masking import mask_id_number, mask_name, mask_phone, mask_record, mask_value
from connectors.sinks.runner import SinkRunner
from connectors.sinks.signing import sign, signed_headers, verify
from connectors.sinks.sql_table import SqlTableConfig, SqlTableTask
from ops.settings import HubSettings
from ops.simulators.records import RecordFactory
from schemas.loader import schema_json
from tests.unit.connectors.fakes import FakeProducer, FakeRegistry
from topics.serde import AvroSerializer

PENALTY_SCHEMA = "gov.zj.supervision.penalty.PenaltyCaseEvent"
SECRET = "s3cret-webhook-key-0123456789"
FACTORY = RecordFactory(seed=11, source_system="unit-sink")


def record(i: int, **value_changes) -> SinkRecord:
    value = FACTORY.penalty_decision(i)
    value.update(value_changes)
    rid = value["envelope"]["record_id"]
    return SinkRecord(topic="penalty.case.events", partition=0, offset=i, timestamp=0, key=value["case_id"],
                      value=value, schema=PENALTY_SCHEMA, record_id=rid,
                      delivery_id=delivery_id(rid, "penalty.case.events", 0, i))


def variant(rec: SinkRecord, **value_changes) -> SinkRecord:
    return {**rec, "value": {**rec["value"], **value_changes}}


# -- signing ---------------------------------------------------------------------------------

def test_sign_is_hmac_sha256_over_timestamp_dot_body():
    body = '{"a":"监管"}'.encode()
    expected = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign(SECRET, 1700000000, body) == f"sha256={expected}"


def test_verify_accepts_fresh_and_refuses_tampered_stale_or_malformed():
    body = b'{"x":1}'
    sig = sign(SECRET, 1000, body)
    assert verify(SECRET, "1000", body, sig, now=1100)
    assert not verify(SECRET, "1000", body + b" ", sig, now=1100)
    assert not verify("another-secret-value-123", "1000", body, sig, now=1100)
    assert not verify(SECRET, "1000", body, sig, now=1000 + 301)  # outside the 300 s window
    assert verify(SECRET, "1000", body, sig, tolerance=None, now=10**10)
    assert not verify(SECRET, "abc", body, sig)
    assert not verify(SECRET, "1000", body, sig.removeprefix("sha256="), now=1000)
    headers = signed_headers(SECRET, body, "d1", timestamp=1234)
    assert headers["X-Hub-Delivery-Id"] == "d1" and verify(SECRET, headers["X-Hub-Timestamp"], body,
                                                           headers["X-Hub-Signature"], now=1234)


def test_delivery_id_is_stable_and_prefers_the_record_id():
    assert delivery_id("sys:abc:1", "t", 0, 5) == delivery_id("sys:abc:1", "t", 3, 99)
    assert delivery_id(None, "t", 0, 5) == delivery_id(None, "t", 0, 5) != delivery_id(None, "t", 0, 6)
    assert len(delivery_id("x", "t", 0, 0)) == 32


# -- masking ---------------------------------------------------------------------------------

def test_masking_rules():
    assert mask_name("张三丰") == "张*丰" and mask_name("张三") == "张*" and mask_name("欧阳娜娜") == "欧**娜"
    assert mask_name("李") == "*"
    assert mask_id_number("33010619900101123X") == "330106********123X"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_value("address", "浙江省杭州市西湖区文三路1号") == "浙江省杭州市" + "*" * 8
    assert mask_value("unknown-kind", "abc") == "***"
    assert mask_id_number("12345") == "*****"  # too short for its rule: all masked


def test_mask_record_masks_every_pii_field_of_the_schema_and_leaves_the_input_alone():
    value = FACTORY.penalty_decision(1)
    masked = mask_record(PENALTY_SCHEMA, value)
    assert masked is not value and value["counterpart"]["id_code"] != masked["counterpart"]["id_code"]
    cp = masked["counterpart"]
    assert cp["id_code"][:6] == value["counterpart"]["id_code"][:6] and "*" * 8 in cp["id_code"]
    assert cp["name"][0] == value["counterpart"]["name"][0] and "*" in cp["name"]
    assert all("*" in o["name"] for o in masked["officers"])  # arrays add no path segment
    assert "*" in masked["submitter"]
    assert masked["case_id"] == value["case_id"] and masked["illegal_facts"] == value["illegal_facts"]
    with pytest.raises(ValueError, match="not in the data standard"):
        mask_record("gov.zj.nope.Record", value)


# -- webhook ---------------------------------------------------------------------------------

def webhook(handler, **config) -> WebhookTask:
    cfg = WebhookConfig(topic="penalty.case.events", url="http://dept.example/hook", secret=SECRET,
                        retry_initial_seconds=0.001, retry_max_seconds=0.002, **config)
    return WebhookTask(cfg, transport=httpx.MockTransport(handler), clock=lambda: 1_700_000_000)


@pytest.mark.parametrize(("status", "verdict"), [
    (200, "delivered"), (204, "delivered"), (400, "reject"), (401, "reject"), (404, "reject"), (409, "reject"),
    (408, "retry"), (429, "retry"), (500, "retry"), (502, "retry"), (503, "retry"), (301, "reject")])
def test_status_classification(status, verdict):
    assert classify(status) == verdict


def test_webhook_signs_masks_and_encodes_dates_and_decimals():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    task = webhook(handler)
    rec = record(1, fine_amount=Decimal("1234.50"), decision_date=dt.date(2024, 5, 6))
    assert task.deliver([rec]) == [None]
    req = seen[0]
    assert req.headers["X-Hub-Delivery-Id"] == rec["delivery_id"]
    assert verify(SECRET, req.headers["X-Hub-Timestamp"], req.content, req.headers["X-Hub-Signature"],
                  now=1_700_000_000)
    body = json.loads(req.content)
    assert body["delivery_id"] == rec["delivery_id"] and body["record_id"] == rec["record_id"]
    assert body["masked"] is True
    assert body["value"]["fine_amount"] == "1234.50" and body["value"]["decision_date"] == "2024-05-06"
    assert body["value"]["counterpart"]["id_code"] != rec["value"]["counterpart"]["id_code"]
    assert rec["value"]["counterpart"]["id_code"] not in req.content.decode()


@pytest.mark.parametrize(("config", "masked"), [({"pii_cleared": True}, False), ({"mask_pii": False}, False),
                                                ({}, True)])
def test_webhook_sends_personal_data_only_to_cleared_destinations(config, masked):
    bodies = []
    task = webhook(lambda r: bodies.append(json.loads(r.content)) or httpx.Response(200), **config)
    rec = record(2)
    task.deliver([rec])
    assert bodies[0]["masked"] is masked
    assert (bodies[0]["value"]["counterpart"]["id_code"] == rec["value"]["counterpart"]["id_code"]) is not masked


def test_webhook_retries_transient_failures_with_the_same_delivery_id():
    statuses = iter([503, 429, 408])
    calls = []

    def handler(request):
        calls.append(request.headers["X-Hub-Delivery-Id"])
        status = next(statuses, 200)
        if status == 200 and len(calls) == 4:
            raise httpx.ConnectError("refused")
        return httpx.Response(status)

    task = webhook(handler, retry_attempts=6)
    rec = record(3)
    assert task.deliver([rec]) == [None]
    assert calls == [rec["delivery_id"]] * 5


def test_webhook_rejects_4xx_permanently_with_reason_http_status():
    task = webhook(lambda r: httpx.Response(400 if json.loads(r.content)["offset"] == 5 else 200))
    outcomes = task.deliver([record(4), record(5), record(6)])
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], RecordRejected)
    assert (outcomes[1].stage, outcomes[1].reason) == ("deliver", "http_400")


def test_webhook_gives_up_with_the_completed_outcomes():
    task = webhook(lambda r: httpx.Response(500 if json.loads(r.content)["offset"] == 8 else 200),
                   retry_attempts=2)
    with pytest.raises(TransientDeliveryError) as info:
        task.deliver([record(7), record(8), record(9)])
    assert info.value.completed == [None]


def test_webhook_timeouts_are_transient():
    def handler(request):
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(TransientDeliveryError):
        webhook(handler, retry_attempts=2).deliver([record(10)])


def test_plugin_configs_validate_without_starting_and_hide_secrets():
    connector, cfg, errors = validate_config({
        "name": "dept-hook", "plugin": "http-webhook", "source_system": "hub",
        "config": {"topic": "risk.dispatches", "url": "https://dept.example/hook", "secret": SECRET}})
    assert errors == [] and SECRET not in repr(cfg) and SECRET not in cfg.model_dump_json()
    _, _, errors = validate_config({"name": "dept-hook", "plugin": "http-webhook", "source_system": "hub",
                                    "config": {"topic": "t", "url": "ftp://x", "secret": "short", "nope": 1}})
    assert {e["field"] for e in errors} == {"config.url", "config.secret", "config.nope"}
    with pytest.raises(ValidationError, match="key_columns"):
        SqlTableConfig(topic="t", url="sqlite://", table="cases", columns={"case_id": "case_id"},
                       key_columns=["id"])
    schema = WebhookConfig.model_json_schema()
    assert all(p.get("description") for p in schema["properties"].values())


def test_filter_matches_dotted_paths():
    keep = make_filter({"envelope.department_code": ["330000SCJ"], "stage": ["decision", "closing"]})
    assert keep({"envelope": {"department_code": "330000SCJ"}, "stage": "decision"})
    assert not keep({"envelope": {"department_code": "330000STJ"}, "stage": "decision"})
    assert not keep({"stage": "decision"})
    assert make_filter({}) is None


# -- sql table -------------------------------------------------------------------------------

@pytest.fixture
def sql_task(sqlite_url):
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as c:
        c.execute(sa.text("CREATE TABLE cases (case_id TEXT PRIMARY KEY, stage TEXT NOT NULL, "
                          "fine NUMERIC, decided DATE, record_id TEXT)"))
    cfg = SqlTableConfig(topic="penalty.case.events", url=sqlite_url, table="cases",
                         columns={"case_id": "case_id", "stage": "stage", "fine": "fine_amount",
                                  "decided": "decision_date", "record_id": "$record_id"},
                         key_columns=["case_id"])
    task = SqlTableTask(cfg)
    task.open()
    yield task, engine
    task.close()
    engine.dispose()


def test_sql_table_upserts_idempotently_and_isolates_bad_rows(sql_task):
    task, engine = sql_task
    records = [record(i) for i in range(5)]
    assert task.deliver(records) == [None] * 5
    assert task.deliver(records) == [None] * 5  # a replay changes nothing
    newer = variant(records[1], stage="closing")
    bad = variant(records[2], stage=None)  # NOT NULL violation
    missing = variant(records[3], case_id=None)
    outcomes = task.deliver([newer, bad, missing, records[4]])
    assert outcomes[0] is None and outcomes[3] is None
    assert (outcomes[1].reason, outcomes[2].reason) == ("sql_integrity", "key_missing")
    with engine.connect() as c:
        rows = dict(c.execute(sa.text("SELECT case_id, stage FROM cases")).all())
    assert len(rows) == 5 and rows[records[1]["value"]["case_id"]] == "closing"


def test_sql_table_open_checks_the_table(sqlite_url):
    cfg = SqlTableConfig(topic="t", url=sqlite_url, table="absent", columns={"a": "a"}, key_columns=["a"])
    with pytest.raises(ValueError, match="does not exist"):
        SqlTableTask(cfg).open()


# -- runner ----------------------------------------------------------------------------------

class Msg:
    def __init__(self, topic, partition, offset, value, key=b"k", headers=()):
        self.topic, self.partition, self.offset, self.value = topic, partition, offset, value
        self.key, self.headers, self.timestamp = key, list(headers), 0


class FakeConsumer:
    """Serves fixed messages from a position per partition; records commits and seeks."""

    def __init__(self, messages):
        self.messages, self.pos, self.commits, self.closed = messages, {}, [], False

    def poll(self, timeout_ms=0, max_records=500):
        out = {}
        for m in self.messages:
            tp = TopicPartition(m.topic, m.partition)
            if m.offset >= self.pos.get(tp, 0) and sum(map(len, out.values())) < max_records:
                out.setdefault(tp, []).append(m)
        for tp, ms in out.items():
            self.pos[tp] = ms[-1].offset + 1
        return out

    def seek(self, tp, offset):
        self.pos[tp] = offset

    def commit(self, offsets):
        self.commits.append({tp: om.offset for tp, om in offsets.items()})

    def close(self, autocommit=True):
        self.closed = True


class FlakyTask(SinkTask):
    def __init__(self, fail_times=0, refuse=()):
        self.fail_times, self.refuse, self.delivered = fail_times, set(refuse), []

    def deliver(self, records):
        if self.fail_times:
            self.fail_times -= 1
            if len(records) > 1:  # the first record got through before the failure
                self.delivered.append(records[0]["offset"])
            raise TransientDeliveryError("HTTP 503", completed=[None] if len(records) > 1 else [])
        out = []
        for r in records:
            self.delivered.append(r["offset"])
            out.append(RecordRejected("deliver", "http_400", "refused") if r["offset"] in self.refuse else None)
        return out


def encoded(n):
    ser = AvroSerializer(REGISTRY, "t-value", schema_json(PENALTY_SCHEMA))
    return [ser(FACTORY.penalty_decision(100 + i)) for i in range(n)]


REGISTRY = FakeRegistry()


def runner(task, consumer, producer, **kw):
    return SinkRunner("unit-sink", task, topic="t", settings=HubSettings(environment="test"), registry=REGISTRY,
                      producer=producer, consumer_factory=lambda: consumer, retry_initial=0.001, retry_max=0.002,
                      **kw)


def test_runner_delivers_retries_dead_letters_and_commits_after_acks():
    values = encoded(4)
    msgs = [Msg("t", 0, i, v) for i, v in enumerate(values)] + [Msg("t", 0, 4, b"not avro"), Msg("t", 0, 5, None)]
    consumer, producer = FakeConsumer(msgs), FakeProducer()
    task = FlakyTask(fail_times=2, refuse={2})
    result = runner(task, consumer, producer).run_once()
    assert (result.polled, result.delivered, result.dead_lettered, result.skipped) == (6, 3, 2, 1)
    assert task.delivered == [0, 1, 2, 3]  # completed outcomes are not delivered again
    assert consumer.commits == [{TopicPartition("t", 0): 6}]
    letters = [parse_dead_letter(m["headers"].items(), m["value"]) for m in producer.on("dlq.unit-sink")]
    assert [(d["stage"], d["reason"], d["source_partition"], d["source_offset"]) for d in letters] == [
        ("decode", "framing", "t:0", "4"), ("deliver", "http_400", "t:0", "2")]
    assert letters[1]["value"] == values[2] and letters[1]["attempts"] == 3


def test_runner_filter_counts_as_handled():
    values = encoded(3)
    consumer, producer = FakeConsumer([Msg("t", 1, i, v) for i, v in enumerate(values)]), FakeProducer()
    task = FlakyTask()
    result = runner(task, consumer, producer, filter=lambda v: v["case_id"].endswith("01")).run_once()
    assert (result.delivered, result.filtered) == (1, 2) and consumer.commits == [{TopicPartition("t", 1): 3}]


def test_runner_commits_nothing_and_rewinds_when_a_dead_letter_is_not_acknowledged():
    values = encoded(2)
    consumer = FakeConsumer([Msg("t", 0, 10 + i, v) for i, v in enumerate(values)])
    producer = FakeProducer(fail=lambda topic, value, key: topic.startswith("dlq."))
    sink = runner(FlakyTask(refuse={11}), consumer, producer)
    with pytest.raises(BatchNotCommitted):
        sink.run_once()
    assert consumer.commits == [] and consumer.pos[TopicPartition("t", 0)] == 10


def test_runner_gives_up_after_retries_and_rewinds():
    consumer = FakeConsumer([Msg("t", 0, 0, encoded(1)[0])])
    sink = runner(FlakyTask(fail_times=99), consumer, FakeProducer(), retry_attempts=3)
    with pytest.raises(TransientDeliveryError):
        sink.run_once()
    assert consumer.commits == [] and consumer.pos[TopicPartition("t", 0)] == 0


def test_dlq_replay_state_round_trips_through_commit_metadata():
    from connectors.dlq_tool import ReplayState, _parse_ranges, _ranges

    assert _ranges([9, 5, 6, 7, 12]) == "5-7,9,12" and _parse_ranges("5-7,9,12") == {5, 6, 7, 9, 12}
    state = ReplayState(low={0: 3})
    for offset in (3, 4, 6, 8):
        state.mark(0, offset)
    state.compact()
    assert state.low[0] == 5 and state.done[0] == {6, 8}
    assert state.replayed(0, 2) and state.replayed(0, 6) and not state.replayed(0, 5)
