"""``hub dlq replay`` of sink connectors end to end: real broker, the hub's registry over HTTP, the
connector registered in the hub's store, a loopback webhook receiver and SQLite/PostgreSQL tables.

- webhook: the department refuses some records (400) and the sink dead-letters them; after the fix
  (the endpoint accepts them, the connector's filter excludes one) the replay delivers exactly the
  refused records, under the delivery ids of their first attempts, correctly signed; one still
  refused stays pending and is not dead-lettered again; decode dead letters are not replayable; a
  second replay delivers nothing; an endpoint that is down stops the replay without marking;
- sql-table: rows refused by a NOT NULL constraint are written after the constraint is relaxed,
  with the delivery ids of their first attempt.
"""

import json
import threading
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI, Request, Response

from connectors import dlq_tool
from connectors.config import ConnectorConfig
from connectors.secret_box import SecretBox
from connectors.sinks.base import delivery_id
from connectors.sinks.runner import sink_runner
from connectors.sinks.signing import verify
from hub_api.connectors.routes import store_for_app
from hub_api.registry.client import RegistryClient
from ops import cli
from ops.threaded_server import ThreadedServer
from tests.integration.connectors.test_sinks_broker import (
    drain,
    penalty_values,
    produce_standard,
    topics,
)
from topics.transport import make_producer

pytestmark = pytest.mark.integration

SECRET = "integration-replay-secret-42"
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def registry_client(live_hub, writer_client):
    client = RegistryClient(f"{live_hub.url}/registry", auth=writer_client)
    yield client
    client.close()


def hub_key(live_hub) -> Path:
    return SecretBox.key_path(live_hub.settings).resolve()


@pytest.fixture
def settings(live_hub, tmp_path):
    """The live hub's settings, with plugin state directories under ``tmp_path`` (and the hub's
    key for connector secrets, which lives under its own var dir)."""
    return live_hub.settings.model_copy(update={"var_dir": tmp_path, "connector_secrets_key_path": hub_key(live_hub)})


@pytest.fixture
def hub(live_hub, writer_client, kafka_bootstrap, monkeypatch, capsys, tmp_path):
    """``hub <argv>`` against the live hub (its database, broker and registry): (exit code, stdout)."""
    for name, value in {"KAFKA_BOOTSTRAP": kafka_bootstrap, "ENVIRONMENT": "test",
                        "DATABASE_URL": live_hub.settings.database_url, "VAR_DIR": str(tmp_path),
                        "CONNECTOR_SECRETS_KEY_PATH": str(hub_key(live_hub)),
                        "REGISTRY_URL": f"{live_hub.url}/registry", "REGISTRY_CLIENT_ID": writer_client[0],
                        "REGISTRY_CLIENT_SECRET": writer_client[1]}.items():
        monkeypatch.setenv(f"HUB_{name}", value)

    def run(*argv):
        capsys.readouterr()
        code = cli.main(list(argv))
        return code, capsys.readouterr().out

    return run


def register(live_hub, name, plugin, config, batch_size=20):
    connector = ConnectorConfig(name=name, plugin=plugin, source_system="it-replay", batch_size=batch_size,
                                config=config)
    store = store_for_app(live_hub.app)
    if store.get(name) is None:
        store.create(connector, target_state="STOPPED")  # no worker runs it: the test drives it
    else:
        store.update_config(connector)


def run_sink(settings, registry, name, expected):
    """Drive the registered sink as a connect worker builds it until ``expected`` records are handled."""
    found = dlq_tool.registered(settings, name)
    with make_producer(settings) as producer:
        runner = sink_runner(name, found.plugin_config, found.build(settings), settings=settings,
                             registry=registry, producer=producer, batch_size=found.config.batch_size,
                             retry_initial=0.05)
        try:
            assert drain(runner, expected) == expected
        finally:
            runner.close()


def produce_garbage(settings, topic, n):
    with make_producer(settings) as producer:
        for i in range(n):
            producer.send(topic, b"not avro at all", key=f"junk-{i}".encode())
        producer.flush(30)


# -- webhook ---------------------------------------------------------------------------------

def department(refuse):
    """A department endpoint: checks signatures, refuses (400) the case ids in ``refuse``,
    answers 503 while ``down``. Records every signed attempt and every accepted delivery."""
    state = {"refuse": set(refuse), "down": False, "bad_signatures": 0, "attempts": [], "accepted": []}
    lock = threading.Lock()
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> Response:
        body = await request.body()
        h = request.headers
        with lock:
            if not verify(SECRET, h.get("x-hub-timestamp"), body, h.get("x-hub-signature")):
                state["bad_signatures"] += 1
                return Response(status_code=401)
            doc = json.loads(body)
            assert doc["delivery_id"] == h["x-hub-delivery-id"]
            state["attempts"].append(doc)
            if state["down"]:
                return Response(status_code=503)
            if doc["key"] in state["refuse"]:
                return Response(status_code=400)
            state["accepted"].append(doc)
        return Response(status_code=204)

    return app, state


def position(doc):
    return doc["delivery_id"], doc["topic"], doc["partition"], doc["offset"], doc["key"]


@sqlite_only
def test_webhook_refusals_are_re_delivered_once_after_the_fix(live_hub, registry_client, settings, hub,
                                                              kafka_bootstrap):
    suffix = uuid.uuid4().hex[:8]
    name, topic = f"it-hook-replay-{suffix}", f"it.replay.{suffix}"
    topics(kafka_bootstrap, topic, f"dlq.{name}")
    values = penalty_values(40, seed=13, system=f"it-{suffix}")
    produce_standard(settings, registry_client, topic, values)
    refused = {v["case_id"] for v in values[3::8]}
    assert len(refused) == 5
    app, dept = department(refused)
    with ThreadedServer(app) as server:
        hook = {"topic": topic, "url": f"{server.url}/hook", "secret": SECRET, "retry_attempts": 2,
                "retry_initial_seconds": 0.05, "retry_max_seconds": 0.1}
        register(live_hub, name, "http-webhook", hook)
        run_sink(settings, registry_client, name, len(values))
        produce_garbage(settings, topic, 2)  # after the refusals: their dead letters come last
        run_sink(settings, registry_client, name, 2)

        letters = dlq_tool.read_dead_letters(settings, f"dlq.{name}")
        assert [(d.info["stage"], d.info["reason"]) for d in letters[:5]] == [("deliver", "http_400")] * 5
        assert [d.info["stage"] for d in letters[5:]] == ["decode", "decode"]
        decode_reason = f"decode/{letters[5].info['reason']}"
        first = {doc["key"]: position(doc) for doc in dept["attempts"] if doc["key"] in refused}
        assert len(first) == 5 and len(dept["accepted"]) == 35

        # The fix: the endpoint accepts all but one; the connector's new filter excludes another.
        still_refused, excluded = letters[4].info["source_key"], letters[0].info["source_key"]
        redelivered = refused - {still_refused, excluded}
        dept["refuse"] = {still_refused}
        register(live_hub, name, "http-webhook",
                 {**hook, "where": {"case_id": sorted({v["case_id"] for v in values} - {excluded})}})
        seen = len(dept["attempts"])

        code, out = hub("dlq", "replay", name, "--dry-run")
        assert code == 0 and out.splitlines()[0] == (
            f"{name}: would re-deliver 4 of 7 dead letters (1 skipped by the filter; 0 replayed before, "
            "2 not replayable, 0 not delivered)")
        assert len(dept["attempts"]) == seen  # a dry run contacts nobody

        code, out = hub("dlq", "replay", name, "--json")
        assert code == 0 and json.loads(out) == {
            "connector": name, "kind": "sink", "dry_run": False, "examined": 7, "replayed": 3, "delivered": 3,
            "skipped": 1, "already_replayed": 0, "not_replayable": 2, "not_replayable_by_reason": {decode_reason: 2},
            "failed_delivery": 0, "still_failing": {"deliver/http_400": 1}, "error": None}
        accepted = dept["accepted"][35:]
        assert sorted(doc["key"] for doc in accepted) == sorted(redelivered)  # exactly once each
        assert all(position(doc) == first[doc["key"]] for doc in accepted)  # the first attempt's delivery id
        assert [position(d) for d in dept["attempts"][seen:] if d["key"] == still_refused] == [first[still_refused]]
        assert dept["bad_signatures"] == 0

        code, out = hub("dlq", "replay", name, "--json")
        again = json.loads(out)
        assert code == 0 and len(dept["accepted"]) == 38
        assert (again["examined"], again["replayed"], again["skipped"], again["already_replayed"],
                again["not_replayable"], again["still_failing"]) == (3, 0, 0, 4, 2, {"deliver/http_400": 1})

        dept["down"] = True  # transient: the task's and the runner's retries, then the replay stops
        code, out = hub("dlq", "replay", name, "--json")
        down = json.loads(out)
        assert code == 1 and (down["failed_delivery"], down["replayed"], down["still_failing"]) == (1, 0, {})
        assert down["error"].startswith("TransientDeliveryError")

    assert len(dlq_tool.read_dead_letters(settings, f"dlq.{name}")) == 7  # nothing dead-lettered again
    code, out = hub("dlq", "list", "--connector", name, "--json")
    [row] = json.loads(out)
    assert (row["total"], row["replayed"], row["pending"]) == (7, 4, 3)
    assert row["pending_by_reason"] == {decode_reason: 2, "deliver/http_400": 1}


# -- sql table -------------------------------------------------------------------------------

def test_sql_table_refused_rows_are_written_after_the_fix(live_hub, registry_client, settings, hub,
                                                          kafka_bootstrap, database_url):
    suffix = uuid.uuid4().hex[:8]
    name, topic, table = f"it-sql-replay-{suffix}", f"it.sqlre.{suffix}", f"dept_opinions_{suffix}"
    topics(kafka_bootstrap, topic, f"dlq.{name}")
    values = penalty_values(30, seed=17, system=f"it-{suffix}")
    for i, v in enumerate(values):
        v["legal_review_opinion"] = None if i % 7 == 2 else "同意"
    missing = {v["case_id"] for v in values if v["legal_review_opinion"] is None}
    assert len(missing) == 4
    produce_standard(settings, registry_client, topic, values)
    columns = "case_id VARCHAR(64) PRIMARY KEY, opinion VARCHAR(64) {}, delivery_id VARCHAR(32), " \
              "source_offset INTEGER"
    engine = sa.create_engine(database_url)
    with engine.begin() as c:
        c.execute(sa.text(f"CREATE TABLE {table} ({columns.format('NOT NULL')})"))
    register(live_hub, name, "sql-table", {
        "topic": topic, "url": database_url, "table": table, "key_columns": ["case_id"],
        "columns": {"case_id": "case_id", "opinion": "legal_review_opinion", "delivery_id": "$delivery_id",
                    "source_offset": "$offset"}})

    def rows():
        with engine.connect() as c:
            return {r[0]: tuple(r[1:]) for r in c.execute(sa.text(f"SELECT * FROM {table}"))}

    try:
        run_sink(settings, registry_client, name, len(values))
        assert len(rows()) == 26 and not missing & set(rows())
        letters = dlq_tool.read_dead_letters(settings, f"dlq.{name}")
        assert sorted((d.info["source_key"], d.info["stage"], d.info["reason"]) for d in letters) == \
            sorted((case, "deliver", "sql_integrity") for case in missing)

        with engine.begin() as c:  # the fix: the department relaxes the constraint, keeping its rows
            c.execute(sa.text(f"CREATE TABLE {table}_new ({columns.format('NULL')})"))
            c.execute(sa.text(f"INSERT INTO {table}_new SELECT * FROM {table}"))
            c.execute(sa.text(f"DROP TABLE {table}"))
            c.execute(sa.text(f"ALTER TABLE {table}_new RENAME TO {table}"))
        code, out = hub("dlq", "replay", name, "--json")
        report = json.loads(out)
        assert code == 0 and (report["examined"], report["replayed"], report["delivered"]) == (4, 4, 4)
        assert report["still_failing"] == {} and report["not_replayable"] == 0

        written = rows()
        assert len(written) == 30
        for d in letters:
            topic_of, _, partition = d.info["source_partition"].rpartition(":")
            offset, rid = int(d.info["source_offset"]), dict(d.headers)["hub.record_id"].decode()
            assert written[d.info["source_key"]] == (None, delivery_id(rid, topic_of, int(partition), offset), offset)

        code, out = hub("dlq", "replay", name, "--json")
        assert code == 0 and (json.loads(out)["already_replayed"], json.loads(out)["replayed"]) == (4, 0)
    finally:
        with engine.begin() as c:
            c.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
            c.execute(sa.text(f"DROP TABLE IF EXISTS {table}_new"))
        engine.dispose()
