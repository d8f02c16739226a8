"""Declarative sources end to end: real loopback sources, the real broker, the live registry, SQLite and PostgreSQL.

Every shape runs the documented example config (``connectors/declarative/examples``) with
only its address changed, against: the public-security simulator (http-pull, cursor +
bearer), a signed push to the push router (http-push), the ecology simulator (sql-poll by
updated_at), an upload table (sql-poll upload_table), GB18030 CSV and XML drops (file-drop).
The sources' events come from :class:`ops.simulators.cases.CaseGenerator` with a known share
of defects, so each test reconciles against the ledger: every good (key, version) exactly
once on the topic by record id, every bad one in the dead-letter topic with its reason,
and a second runner after more source activity re-reads nothing (exact counts).
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from fastapi import FastAPI
from kafka import KafkaAdminClient
from pydantic import SecretStr

from connectors.config import validate_config
from connectors.declarative.push_api import build_push_router, sign
from connectors.plugins import get_plugin
from connectors.runtime.dlq import parse_dead_letter
from connectors.runtime.offsets import OffsetStore, ensure_schema
from connectors.runtime.pipeline import record_id
from connectors.runtime.plugin import PluginContext
from connectors.runtime.runner import SourceRunner
from hub_api.registry.client import RegistryClient
from ops.simulators.cases import CaseGenerator
from ops.simulators.ecology import EcologySimulator
from ops.simulators.ledger import Ledger
from ops.simulators.public_security import PublicSecuritySimulator
from ops.threaded_server import ThreadedServer
from tests.integration.connectors.test_runner_broker import consume
from topics.provision import ensure_topic
from topics.transport import make_producer

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[3] / "connectors" / "declarative" / "examples"
PENALTY = "penalty.case.events"
DT = "%Y-%m-%d %H:%M:%S"


def example(name: str, **overrides) -> dict:
    cfg = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    cfg["name"] = f"{cfg['name']}-{uuid.uuid4().hex[:6]}"
    cfg["config"].update(overrides)
    cfg["batch_size"] = 100
    return cfg


class Harness:
    """Builds runners for one connector config against the live hub and reconciles the topics."""

    def __init__(self, live_hub, writer_client, bootstrap, raw_config: dict, tmp_path: Path):
        self.hub, self.bootstrap, self.tmp = live_hub, bootstrap, tmp_path
        self.connector, self.config, errors = validate_config(raw_config)
        assert errors == []
        self.topic = f"it.decl.{uuid.uuid4().hex[:8]}"
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            ensure_topic(admin, self.topic, partitions=3)
            ensure_topic(admin, f"dlq.{self.connector.name}", partitions=1)
        finally:
            admin.close()
        ensure_schema(live_hub.db)
        self.store = OffsetStore(live_hub.db)
        self.registry = RegistryClient(f"{live_hub.url}/registry", auth=writer_client)
        self.producer = make_producer(live_hub.settings, transport="confluent")

    def run(self) -> tuple[int, int]:
        """A fresh runner (as after a restart) until the source is drained; (produced, dead-lettered)."""
        plugin = get_plugin(self.connector.plugin)
        ctx = PluginContext(self.connector.name, self.hub.settings, self.tmp, clock=time.time)
        parts = plugin.build(self.config, ctx)
        runner = SourceRunner(self.connector.name, parts.task, parts.mapper, source_system=self.connector.source_system,
                              settings=self.hub.settings, producer=self.producer, registry=self.registry,
                              offsets=self.store, batch_size=self.connector.batch_size,
                              identifier_fields=parts.identifier_fields, encoding=self.connector.encoding,
                              topic_names={PENALTY: self.topic}, retry_attempts=2, retry_initial=0.05)
        produced = dead = 0
        try:
            while (result := runner.run_once()).polled:
                produced, dead = produced + result.produced, dead + result.dead_lettered
            runner.run_once()  # one idle poll more (file-drop archives the last file here)
        finally:
            runner.close()
        return produced, dead

    def reconcile(self, ledger: Ledger, extra_dead: dict | None = None, exact: bool = True) -> None:
        """Topic and DLQ match the ledger: every good (key, version) by record id, every dead one with
        its reason; ``exact``: one standard record per emission (nothing re-read across restarts)."""
        assert self.run() == (0, 0)  # a restart with nothing new reads nothing
        expected = ledger.expected()
        dead = dict(expected["dead"]) | (extra_dead or {})
        good = {k for k in expected["good"] if k not in dead}
        emissions = sum(1 for e in ledger.entries if (e["key"], e["version"]) not in dead)
        system = self.connector.source_system
        messages = consume(self.bootstrap, [self.topic, f"dlq.{self.connector.name}"],
                           expected=(emissions if exact else len(good)) + len(dead), idle=0.5)
        ids = [dict(m.headers())["hub.record_id"].decode() for m in messages if m.topic() == self.topic]
        letters = [parse_dead_letter(m.headers(), m.value()) for m in messages if m.topic() != self.topic]
        assert set(ids) == {record_id(system, k, str(v)) for k, v in good}
        if exact:
            assert len(ids) == emissions  # nothing re-read across restarts
        else:
            assert len(ids) <= emissions
        assert Counter(d["reason"] for d in letters) == Counter(dead.values())
        assert {d["source_key"] for d in letters} == {k for k, _ in dead}

    def close(self) -> None:
        self.producer.close()
        self.registry.close()


@pytest.fixture
def harness(live_hub, writer_client, kafka_bootstrap, tmp_path):
    made = []

    def make(raw_config: dict) -> Harness:
        made.append(Harness(live_hub, writer_client, kafka_bootstrap, raw_config, tmp_path))
        return made[-1]

    yield make
    for h in made:
        h.close()


def neutral(ev) -> dict:
    """The neutral dialect of the push / upload-table / CSV / XML examples (all text)."""
    f = ev.fields
    d8 = lambda v: v.strftime("%Y%m%d") if v else None  # noqa: E731
    return {
        "ajbh": f["case_number"], "bbh": str(ev.version), "czlx": ev.operation.upper(), "hj": ev.stage,
        "hjsj": f["stage_time"].strftime(DT), "ajmc": f["penalty_name"], "ajly": f["case_source_code"],
        "dsrlb": "2" if f["party_type"] == "person" else "1", "dsrmc": f["party_name"],
        "zjlx": f["party_id_type"], "zjhm": f["party_id"], "dsrdz": f["party_address"], "xzqh": f["region_code"],
        "sxbm": f["catalog_code"], "ssqdbm": f["implementation_code"], "badw": f["agency_name"],
        "badwdm": f["agency_uscc"], "zfryxm": f"{f['officer1_name']},{f['officer2_name']}",
        "zfryzjh": f"{f['officer1_cert']},{f['officer2_cert']}", "jcbh": f["inspection_number"],
        "wfss": f["facts"], "cfyj": f["legal_basis"], "cxlx": f["procedure"], "larq": d8(f["filing_date"]),
        "jdrq": d8(f["decision_date"]), "jdswh": f["decision_number"], "cfzl": f["penalty_kind_code"],
        "fkje": f["fine_amount"], "cfjg": f["penalty_result"], "zxfs": f["execution_mode"],
        "sjje": f["fine_paid"], "jarq": d8(f["closing_date"]), "ysrq": d8(f["referral_date"]),
        "yy": f["stage_reason"], "wsh": f["stage_document_number"],
    }


def events(seed: int, n: int, dept: str = "330000SIM") -> tuple[list, Ledger]:
    gen = CaseGenerator(seed, dept, 0.08, 0.03, 0.03, delete_ratio=0.1)
    ledger = Ledger(system="it")
    evs = gen.take(n)
    for ev in evs:
        ledger.record(ev)
    return evs, ledger


# -- http-pull ---------------------------------------------------------------------------------

def test_http_pull_cursor_bearer(harness):
    with PublicSecuritySimulator(7, 230) as sim:
        h = harness(example("http_pull_cursor_bearer.json", url=f"{sim.url}/api/cases"))
        h.run()
        sim.emit(40)  # the system keeps working; a restarted connector picks up only the new rows
        h.run()
        h.reconcile(sim.ledger)


def test_http_pull_wrong_token_is_a_config_error():
    from connectors.declarative.common import SourceConfigError

    with PublicSecuritySimulator(7, 5) as sim:
        raw = example("http_pull_cursor_bearer.json", url=f"{sim.url}/api/cases",
                      auth={"type": "bearer", "token": "wrong"})
        _, config, _ = validate_config(raw)
        task = get_plugin("http-pull").build(config, PluginContext("x", None, Path("."))).task  # type: ignore[arg-type]
        task.open({})
        with pytest.raises(SourceConfigError, match="401"):
            task.poll(10)
        task.close()


# -- http-push ---------------------------------------------------------------------------------

def test_http_push_signed_into_inbox(harness, live_hub):
    from hub_api.connectors.routes import store_for_app

    raw = example("http_push_hmac.json")
    h = harness(raw)
    store = store_for_app(live_hub.app)
    store.ensure_schema()
    store.create(h.connector)
    secret = raw["config"]["hmac_secret"]
    app = FastAPI()
    app.state.db, app.state.settings = live_hub.db, live_hub.settings  # the settings name the secrets' key
    app.include_router(build_push_router())
    evs, ledger = events(11, 160, "330000JTT")
    with ThreadedServer(app) as server, httpx.Client(base_url=server.url) as client:
        def push(body: bytes, name=h.connector.name, key=secret, ts=None):
            ts = str(int(time.time()) if ts is None else ts)
            return client.post(f"/connect/push/{name}", content=body,
                               headers={"X-Hub-Timestamp": ts, "X-Hub-Signature": sign(key, ts, body)})

        def send(chunk):
            body = json.dumps([neutral(e) for e in chunk] if len(chunk) > 1 else neutral(chunk[0]),
                              ensure_ascii=False).encode()
            r = push(body)
            assert r.status_code == 202 and r.json() == {"accepted": len(chunk)}

        for i in range(0, 100, 10):
            send(evs[i:i + 10])
        send(evs[100:101])
        body = json.dumps(neutral(evs[0])).encode()
        assert push(body, key="wrong-secret-0123456789").json()["error"] == "bad_signature"
        assert push(body, ts=int(time.time()) - 3600).status_code == 401
        assert push(body, name="no-such-connector").status_code == 404
        # A hub process without the key that sealed the connector's secret: 503, not a false 404 or 401.
        locked = FastAPI()
        locked.state.db = live_hub.db
        locked.state.settings = live_hub.settings.model_copy(
            update={"connector_secrets_keys": SecretStr(Fernet.generate_key().decode())})
        locked.include_router(build_push_router())
        with ThreadedServer(locked) as other:
            ts = str(int(time.time()))
            r = httpx.post(f"{other.url}/connect/push/{h.connector.name}", content=body,
                           headers={"X-Hub-Timestamp": ts, "X-Hub-Signature": sign(secret, ts, body)})
            assert r.status_code == 503 and r.json()["error"] == "connector_unavailable", r.text
            assert secret not in r.text
        h.run()
        for i in range(101, 160, 20):
            send(evs[i:i + 20])
        h.run()
    h.reconcile(ledger)


# -- sql-poll ----------------------------------------------------------------------------------

def test_sql_poll_updated_at(harness, database_url):
    sim = EcologySimulator(5, 200, url=database_url, table=f"hb_{uuid.uuid4().hex[:6]}")
    sim.start()
    try:
        h = harness(example("sql_poll_updated_at.json", url=database_url, table=sim.table_name))
        h.run()
        sim.tick(40)
        h.run()
        # A re-send here touches the existing row: read once if touched before it was read.
        h.reconcile(sim.ledger, exact=False)
    finally:
        sim.stop()


def test_sql_poll_upload_table(harness, database_url):
    name = f"up_{uuid.uuid4().hex[:6]}"
    evs, ledger = events(13, 180, "330000YJJ")
    rows = [neutral(e) for e in evs]
    cols = [c for c in rows[0] if c != "czlx"]
    engine = sa.create_engine(database_url)
    table = sa.Table(name, sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                     *(sa.Column(c, sa.Text) for c in cols), sa.Column("cd_batch", sa.String(13)),
                     sa.Column("cd_operation", sa.String(1)), sa.Column("cd_time", sa.DateTime))
    table.create(engine)

    def load(part, batch):
        with engine.begin() as conn:
            conn.execute(table.insert(), [{**{c: r[c] for c in cols}, "cd_batch": f"20250630{batch:05d}",
                                           "cd_operation": r["czlx"], "cd_time": dt.datetime(2025, 6, 30, 12)} for r in part])
    try:
        load(rows[:120], 1)
        h = harness(example("sql_poll_upload_table.json", url=database_url, table=name))
        h.run()
        load(rows[120:], 2)
        h.run()
        h.reconcile(ledger)
    finally:
        table.drop(engine)
        engine.dispose()


# -- file-drop ---------------------------------------------------------------------------------

def _csv_line(row: dict, cols: list[str]) -> str:
    def cell(v):
        v = "" if v is None else str(v)
        return '"' + v.replace('"', '""') + '"' if any(c in v for c in ',"\n') else v
    return ",".join(cell(row[c]) for c in cols)


def test_file_drop_csv_gb18030(harness, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    evs, ledger = events(17, 200, "330000YJT")
    cols = list(neutral(evs[0]))
    seen = Counter((e["key"], e["version"]) for e in ledger.entries)
    corrupt = {i for i, e in enumerate(ledger.entries) if e["outcome"] == "good" and seen[(e["key"], e["version"])] == 1
               and e["n"] % 29 == 0}

    def write(name, part):
        lines = [",".join(cols).encode("gb18030")]
        for i in part:
            line = _csv_line(neutral(evs[i]), cols).encode("gb18030")
            lines.append(line.replace(b",", b",\xff", 1) if i in corrupt else line)  # not GB18030
        (drop / f"{name}.tmp").write_bytes(b"\r\n".join(lines) + b"\r\n")
        (drop / f"{name}.tmp").rename(drop / name)

    write("cases-20250630-1.csv", range(0, 120))
    (drop / "cases-20250630-2.csv.tmp").write_bytes(b"partial")  # still being written: ignored
    h = harness(example("file_drop_csv_gb18030.json", directory=str(drop), settle_seconds=0))
    h.run()
    assert (drop / "archive" / "cases-20250630-1.csv").is_file()
    write("cases-20250630-2.csv", range(120, 200))
    h.run()
    assert sorted(p.name for p in (drop / "archive").iterdir()) == ["cases-20250630-1.csv", "cases-20250630-2.csv"]
    bad = {(ledger.entries[i]["key"], ledger.entries[i]["version"]): "encoding" for i in corrupt}
    assert bad
    h.reconcile(ledger, extra_dead=bad)


def test_file_drop_xml(harness, tmp_path):
    from xml.sax.saxutils import escape

    drop = tmp_path / "drop"
    drop.mkdir()
    evs, ledger = events(19, 150, "330000ZRT")

    def write(name, part):
        cases = "".join("<Case>" + "".join(f"<{k}>{escape(v or '')}</{k}>" for k, v in neutral(evs[i]).items())
                        + "</Case>" for i in part)
        (drop / name).write_text(f'<?xml version="1.0" encoding="UTF-8"?><Cases>{cases}</Cases>', encoding="utf-8")

    write("zrzy-20250630.xml", range(0, 90))
    (drop / "zz-evil.xml").write_text('<?xml version="1.0"?><!DOCTYPE d [<!ENTITY e "x">]><Cases>&e;</Cases>')
    h = harness(example("file_drop_xml.json", directory=str(drop), settle_seconds=0))
    h.run()
    write("zrzy-20250701.xml", range(90, 150))
    h.run()
    assert not list(drop.glob("*.xml"))
    h.reconcile(ledger, extra_dead={("zz-evil.xml:1", "-"): "xml"})
