"""sql-poll builds each record's document from the row, not from its JSON: pinned to the round trip.

The poller used to encode a row to JSON, parse it back for the key and version, and the runner
parsed the payload once more. Now :func:`flat_document` converts the row directly, the payload
is encoded only when a dead letter (or a content-hash version) needs it, and the runner works on
a copy of the document. These tests hold every observable output -- offsets, keys, versions,
payload bytes, documents, produced records and dead letters -- to what the round trip gives.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import pickle
import threading
import uuid
from dataclasses import FrozenInstanceError
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from connectors.config import validate_config
from connectors.declarative.common import (
    _pick,
    flat_document,
    identity,
    json_default,
    picker,
    to_payload,
)
from connectors.declarative.sql_poll import SqlPollConfig, SqlPollTask, _offset
from connectors.plugins import get_plugin
from connectors.runtime.batch import DeliveryTracker
from connectors.runtime.contract import RawRecord, SourceTask
from connectors.runtime.offsets import OffsetStore, ensure_schema
from connectors.runtime.pipeline import decode
from connectors.runtime.plugin import PluginContext
from connectors.runtime.runner import SourceRunner
from hub_api.db import Database
from ops.settings import HubSettings
from ops.simulators.ecology import EcologySimulator
from tests.unit.connectors.fakes import FakeProducer, FakeRegistry
from topics.transport import Delivery

EXAMPLE = Path(__file__).resolve().parents[3] / "connectors" / "declarative" / "examples" / "sql_poll_updated_at.json"
SH = ZoneInfo("Asia/Shanghai")


def round_trip_payload(row: dict) -> bytes:
    """The payload as the poller wrote it before (json.dumps per row)."""
    return json.dumps(row, ensure_ascii=False, default=json_default, separators=(",", ":")).encode("utf-8")


def same(a, b) -> bool:
    """Equal documents with equal value types and name order (NaN equal to NaN)."""
    if list(a) != list(b):
        return False
    return all(type(a[k]) is type(b[k]) and (a[k] == b[k] or a[k] != a[k] and b[k] != b[k]) for k in a)


ROWS = [
    {"id": 1, "case_code": "330000STJ-2024-000007", "stage_time": dt.datetime(2024, 10, 10, 8, 54, 18),
     "updated_at": dt.datetime(2026, 11, 29, 12, 20, 13, 619000), "filed_on": dt.date(2024, 2, 29),
     "fine_yuan": Decimal("12500.00"), "paid_yuan": None, "name": "康帆超范围开展诊疗活动案"},
    {"id": 2, "at": dt.time(4, 4, 4, 148), "aware": dt.datetime(2024, 1, 1, 8, tzinfo=SH),
     "utc": dt.datetime(2024, 1, 1, tzinfo=dt.UTC), "flag": True, "off": False, "none": None},
    {"big": 2**70, "neg": -17, "third": 1 / 3, "huge": 1e16, "tiny": 2.5e-8, "negzero": -0.0, "three": 3.0,
     "nan": float("nan"), "inf": float("inf"), "minf": float("-inf")},
    {"exp": Decimal("1E+3"), "dnan": Decimal("NaN"), "dneg": Decimal("-0.00"), "long": Decimal("3.14159265358979323846")},
    {"blob": b"\x00\x01\xfe\xff", "empty": b"", "ba": bytearray(b"ab"), "mv": memoryview(b"xyz")},
    {"quote": 'Zoë "quoted" \\ back', "ctl": "\u0001tab\tnew\nline", "emoji": "emoji 😀", "blank": "", "space": "  "},
    {},
]


@pytest.mark.parametrize("row", ROWS, ids=[f"row{i}" for i in range(len(ROWS))])
def test_flat_document_is_the_payload_round_trip(row):
    doc = flat_document(row)
    assert doc is not None
    assert same(doc, json.loads(round_trip_payload(row)))
    assert to_payload(doc) == to_payload(row) == round_trip_payload(row)


class Color(enum.IntEnum):
    RED = 1


class Tag(str):
    pass


@pytest.mark.parametrize("row", [
    {"list": [1, 2]}, {"dict": {"a": dt.date(2024, 1, 1)}}, {"tuple": (1,)}, {"enum": Color.RED},
    {"sub": Tag("x")}, {"uuid": uuid.UUID(int=1)}, {1: "int name"}, {Tag("name"): 1},
], ids=["list", "dict", "tuple", "intenum", "str-subclass", "uuid", "int-name", "str-subclass-name"])
def test_anything_else_is_left_to_the_round_trip(row):
    assert flat_document(row) is None


@pytest.mark.parametrize(("key", "version"), [
    ("case_code", "updated_at"), ("{id}-{case_code}", "{stage_time}/{filed_on}/{fine_yuan}/{paid_yuan}"),
    ("flag", "{aware}|{utc}|{at}|{off}"), ("third", "{huge}/{negzero}/{three}/{nan}/{inf}/{big}"),
    ("exp", "{dnan}{dneg}{long}"), ("blob", "{empty}{ba}{mv}"), ("quote", "{ctl}{emoji}{blank}"), ("missing", None),
])
def test_key_and_version_match_the_round_trip(key, version):
    config = SqlPollConfig.model_validate({**json.loads(EXAMPLE.read_text(encoding="utf-8"))["config"],
                                           "key": key, "version": version})
    for row in ROWS:
        payload = round_trip_payload(row)
        expected = identity(config, json.loads(payload), payload, "fallback")
        assert identity(config, flat_document(row), payload, "fallback") == expected
        assert identity(config, flat_document(row), lambda row=row: to_payload(row), "fallback") == expected


@pytest.mark.parametrize("path", ["case_code", "id", "missing", "a.b", "list[1]", "list[9]", "{id}-{case_code}",
                                  "{a.b}/{list[0]}", "plain{", "名称", "a b", "{missing}"])
def test_picker_is_pick(path):
    docs = [*(flat_document(row) for row in ROWS), {"a": {"b": 1.0}, "list": ["x", 2, None], "名称": "甲", "a b": 3},
            {"a": None, "list": "not a list", "case_code": 7.5}]
    for doc in docs:
        assert picker(path)(doc) == _pick(doc, path)


@pytest.mark.parametrize("value", ["2024-01-01T00:00:06", 'a "b" \\ c', "批次0001", "\u0001\n", "", 0, -5, 2**64,
                                   None, True, False])
def test_offset_text_is_json_dumps(value):
    for pk in (value, 17, "K-1"):
        assert _offset("ts", value, pk) == json.dumps({"ts": value, "pk": pk}, ensure_ascii=False)


# -- the poller against a table ----------------------------------------------------------------

def odd_table(url: str) -> None:
    """Every type a driver returns for a flat row; ties on updated_at and on cd_batch across polls."""
    engine = sa.create_engine(url)
    table = sa.Table(
        "odd", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True), sa.Column("code", sa.String(40)),
        sa.Column("amount", sa.Numeric(18, 2)), sa.Column("ratio", sa.Float), sa.Column("blob", sa.LargeBinary),
        sa.Column("day", sa.Date), sa.Column("at", sa.Time), sa.Column("flag", sa.Boolean),
        sa.Column("name", sa.Text), sa.Column("cd_batch", sa.String(20)), sa.Column("updated_at", sa.DateTime))
    table.create(engine)
    texts = ["测试名称", 'Zoë "quoted" \\ back', "tab\tnew\nline", "emoji 😀", "\u0001ctl", None, "ascii"]
    with engine.begin() as conn:
        conn.execute(table.insert(), [
            {"id": i, "code": None if i % 11 == 0 else ("" if i % 13 == 0 else f"C-{i:03d}"),
             "amount": None if i % 5 == 0 else Decimal(f"{i * 13.37:.2f}"),
             "ratio": [0.1, 1e16, -0.0, 3.0, 1 / 3, float(i), 2.5e-8][i % 7],
             "blob": None if i % 3 else bytes(range(i % 11)), "day": dt.date(2020, 1 + i % 12, 1 + i % 28),
             "at": dt.time(i % 24, i % 60, i % 60, i * 37 % 1000000), "flag": bool(i % 2), "name": texts[i % 7],
             "cd_batch": f"批次{i // 9:03d}" if i % 2 else f"B{i // 9:03d}",
             "updated_at": dt.datetime(2024, 5, 1) + dt.timedelta(seconds=(i * 7919) % 23)}
            for i in range(1, 160)])
    engine.dispose()


MODES = {"updated_at": {"type": "updated_at", "updated_at_column": "updated_at", "primary_key": "id"},
         "upload_table": {"type": "upload_table", "batch_column": "cd_batch", "primary_key": "id"}}


def odd_config(url: str, mode: str, version: str | None) -> SqlPollConfig:
    base = json.loads(EXAMPLE.read_text(encoding="utf-8"))["config"]
    return SqlPollConfig.model_validate({**base, "url": url, "table": "odd", "mode": MODES[mode], "key": "code",
                                         "version": version, "identifier_fields": []})


def round_trip_records(url: str, config: SqlPollConfig) -> list[tuple]:
    """What the poller produced with the JSON round trip: (offset, key, version, payload) per row."""
    engine = sa.create_engine(url)
    table = sa.Table("odd", sa.MetaData(), autoload_with=engine)
    order = "updated_at" if config.mode.type == "updated_at" else "cd_batch"
    tag = "ts" if order == "updated_at" else "batch"
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.select(table).order_by(table.c[order], table.c.id))]
    engine.dispose()
    out = []
    for row in rows:
        plain = [v.isoformat() if isinstance(v, dt.date) else v for v in (row[order], row["id"])]
        position = {tag: plain[0], "pk": plain[1]}
        payload = round_trip_payload(row)
        key, version = identity(config, json.loads(payload), payload, f"odd@{json.dumps(position)}")
        out.append((json.dumps(position, ensure_ascii=False), key, version, payload))
    return out


def polled(task: SqlPollTask, offsets: dict, size: int) -> list[RawRecord]:
    task.open(offsets)
    out = []
    while batch := task.poll(size):
        out += batch
    task.close()
    return out


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("version", [None, "{amount}/{ratio}/{day}/{at}/{flag}/{blob}/{name}"])
def test_poll_gives_the_round_trip_records(tmp_path, mode, version):
    url = f"sqlite:///{tmp_path / 'odd.db'}"
    odd_table(url)
    config = odd_config(url, mode, version)
    expected = round_trip_records(url, config)
    records = polled(SqlPollTask(config), {}, 7)  # small polls: ties straddle poll boundaries
    assert [(r.offset, r.key, r.version, r.payload) for r in records] == expected
    assert all(r.partition == "odd" and r.encoding == "utf-8" and r.content_type == "application/json"
               for r in records)
    assert all(same(r.decoded, json.loads(r.payload)) and decode(r) == r.decoded for r in records)
    assert any("\\u" in r.key for r in records) == (mode == "upload_table")  # non-ASCII fallback keys

    middle = records[len(records) // 2]
    resumed = polled(SqlPollTask(config), {"odd": middle.offset}, 5)
    assert [(r.offset, r.key, r.version, r.payload) for r in resumed] == expected[len(records) // 2 + 1:]


def test_decode_hands_out_a_copy_of_the_document():
    raw = RawRecord("t", "1", "k", "v", lambda: b'{"a":"x"}', encoding="utf-8", decoded={"a": "x"})
    doc = decode(raw)
    doc["a"] = "changed"
    assert raw.decoded == {"a": "x"} and decode(raw) == {"a": "x"}


# -- the runner: same records and dead letters --------------------------------------------------

class Replay(SourceTask):
    """Serves a fixed list of records in polls of the requested size; offsets are ignored."""

    def __init__(self, records: list[RawRecord]):
        self.records = records

    def open(self, offsets):
        self.pending = list(self.records)

    def poll(self, max_records):
        batch, self.pending = self.pending[:max_records], self.pending[max_records:]
        return batch

    def close(self):
        pass


def run(task: SourceTask, parts, url: str) -> tuple[list[dict], list]:
    settings = HubSettings(kafka_bootstrap="127.0.0.1:9", environment="test", database_url=url)
    db = Database(url)
    ensure_schema(db)
    producer = FakeProducer()
    runner = SourceRunner("ecology-cases", task, parts.mapper, source_system="ecology", settings=settings,
                          producer=producer, registry=FakeRegistry(), offsets=OffsetStore(db), batch_size=50,
                          identifier_fields=parts.identifier_fields, clock=lambda: 1_700_000_000.123)
    results = []
    while (result := runner.run_once()).polled:
        results.append((result.produced, result.dead_lettered, dict(result.rejected), result.committed))
    runner.close()
    db.dispose()
    return producer.sent, results


def test_runner_output_equals_the_round_trip(tmp_path):
    url = f"sqlite:///{tmp_path / 'ecology.db'}"
    sim = EcologySimulator(seed=5, count=240, bad_ratio=0.2, duplicate_ratio=0.05, out_of_order_ratio=0.05, url=url)
    sim.start()
    sim.stop()
    raw = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    raw["config"]["url"] = url
    _, config, errors = validate_config(raw)
    assert errors == []
    settings = HubSettings(kafka_bootstrap="127.0.0.1:9", environment="test", database_url="sqlite://")
    parts = get_plugin("sql-poll").build(config, PluginContext("ecology-cases", settings, tmp_path, lambda: 0.0))

    # The records as the round trip made them: payload bytes, nothing pre-decoded.
    eager = [RawRecord(r.partition, r.offset, r.key, r.version, r.payload, r.encoding)
             for r in polled(parts.task, {}, 50)]
    assert all(r.decoded is None for r in eager)
    sent, results = run(parts.task, parts, f"sqlite:///{tmp_path / 'a.db'}")
    sent_eager, results_eager = run(Replay(eager), parts, f"sqlite:///{tmp_path / 'b.db'}")
    assert sent == sent_eager and results == results_eager
    dead = [m for m in sent if m["topic"] == "dlq.ecology-cases"]
    assert dead and len(dead) < len(sent)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = {r.id: dict(r._mapping) for r in conn.execute(sa.select(sim.table))}
    engine.dispose()
    for m in dead:  # the original bytes: the row as JSON, exactly
        pk = json.loads(m["headers"]["hub.source.offset"])["pk"]
        assert m["value"] == round_trip_payload(rows[pk])


# -- RawRecord with a payload rendered on demand ------------------------------------------------

def test_a_lazy_payload_is_rendered_once_and_behaves_like_bytes():
    calls = []

    def render() -> bytes:
        calls.append(1)
        return b'{"a":1}'

    lazy = RawRecord("t", "1", "k", "v", render, encoding="utf-8", decoded={"a": 1})
    eager = RawRecord("t", "1", "k", "v", b'{"a":1}', encoding="utf-8")
    assert calls == []
    assert lazy == eager and hash(lazy) == hash(eager) and repr(lazy) == repr(eager)
    assert lazy.payload == b'{"a":1}' and lazy.payload is lazy.payload and calls == [1]
    assert lazy != RawRecord("t", "1", "k", "v", b'{"a":2}', encoding="utf-8")
    assert pickle.loads(pickle.dumps(lazy)) == eager
    assert repr(eager) == ("RawRecord(partition='t', offset='1', key='k', version='v', payload=b'{\"a\":1}', "
                           "encoding='utf-8', content_type='application/json')")
    with pytest.raises(FrozenInstanceError):
        eager.key = "other"


def test_delivery_tracker_wakes_the_waiter_when_its_count_is_reached():
    acks = DeliveryTracker()
    acks(Delivery("t", 0, 1))
    assert not acks.wait(3, timeout=0.05)
    late = threading.Timer(0.05, lambda: [acks(Delivery("t", 0, i)) for i in range(2)])
    late.start()
    assert acks.wait(3, timeout=5)
    late.join()
    assert acks.done == 3 and acks.ok_by_topic["t"] == 3 and acks.failed == 0
