"""Registry build benchmark: entity updates/s from ``entity.updates`` to the SQL registry.

For each database (SQLite file, and PostgreSQL when ``--pg-url`` answers) it measures in one
run, on one broker:

* ``pipeline``: ``hub process --processors entities`` (faust, Avro decode, id ledger,
  source-version check, golden-record merge, outbox of ``entity.registry``) from the first
  applied batch until every record id is in the ledger — the consumer-group join is excluded;
* ``bulk``: a plain SQLAlchemy Core ``insert … on conflict do update`` (executemany, 500 rows per
  statement) of the same rows into a table shaped like ``entities``;

and prints both rates and the ratio pipeline/bulk. Run:
``python -m ops.bench.registry_bench [--records 50000] [--pg-url postgresql://127.0.0.1:5432/test]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from ops.bench.common import progress

REPO = Path(__file__).resolve().parents[2]


def golden_rows(stream: list[dict]) -> list[dict]:
    now = datetime.now(UTC)
    return [{
        "entity_id": r["entity_id"], "kind": r["kind"], "uscc": r["uscc"], "resident_id": None,
        "registration_number": None, "name": r["name"], "industry_code": r["industry"]["code"],
        "industry_name": r["industry"]["name"], "region_code": r["region_code"], "status_code": r["status"]["code"],
        "status_name": r["status"]["name"], "sources": r["envelope"]["source_system"],
        "field_sources": "{}", "revision": 1, "updated_at": now,
    } for r in stream]


def bulk_upsert(url: str, rows: list[dict]) -> float:
    """Rows/s of a plain Core upsert of ``rows`` into a fresh table shaped like ``entities``."""
    from processors.entities.models import Entity

    engine = sa.create_engine(url)
    meta = sa.MetaData()
    table = sa.Table(f"bench_entities_{uuid.uuid4().hex[:8]}", meta,
                     *[sa.Column(c.name, c.type, primary_key=c.primary_key) for c in Entity.__table__.columns])
    meta.create_all(engine)
    if engine.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        from sqlalchemy.dialects.postgresql import insert
    stmt = insert(table)
    stmt = stmt.on_conflict_do_update(index_elements=["entity_id"],
                                      set_={c: stmt.excluded[c] for c in rows[0] if c != "entity_id"})
    started = time.perf_counter()
    for i in range(0, len(rows), 500):
        with engine.begin() as conn:
            conn.execute(stmt, rows[i:i + 500])
    elapsed = time.perf_counter() - started
    meta.drop_all(engine)
    engine.dispose()
    return len(rows) / elapsed


def pipeline(url: str, stream: list[dict], workdir: Path) -> dict:
    """Records/s of ``hub process`` building the registry from ``stream`` on a fresh broker."""
    from kafka import KafkaAdminClient

    from hub_api.db import Database
    from hub_api.main import create_app
    from hub_api.registry.client import RegistryClient
    from ops.broker import EmbeddedBroker, free_port
    from ops.settings import HubSettings
    from ops.threaded_server import ThreadedServer
    from schemas import loader
    from topics import provision
    from topics.serde import AvroSerializer
    from topics.transport import make_producer

    with contextlib.ExitStack() as stack:
        broker = stack.enter_context(EmbeddedBroker(log_path=workdir / "broker.log"))
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        provision.apply(admin, replication_factor=1)
        admin.close()
        settings = HubSettings(kafka_bootstrap=broker.bootstrap, database_url=url, environment="test",
                               log_level="WARNING", var_dir=workdir / "var")
        db = Database(url)
        db.create_schema()
        stack.callback(db.dispose)
        api = stack.enter_context(ThreadedServer(create_app(settings, db)))
        registry = RegistryClient(f"{api.url}/registry")
        ser = AvroSerializer(registry, "entity.updates-value",
                             loader.schema_json("gov.zj.supervision.entity.SupervisedEntity"))
        progress(f"producing {len(stream):,} entity updates")
        with make_producer(settings) as producer:
            for r in stream:
                producer.send("entity.updates", ser(r), key=r["entity_id"].encode())
            producer.flush(120)
        distinct = len({r["envelope"]["record_id"] for r in stream})
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        env.update(HUB_KAFKA_BOOTSTRAP=broker.bootstrap, HUB_DATABASE_URL=url, HUB_REGISTRY_URL=f"{api.url}/registry",
                   HUB_PROCESSOR_PORT=str(port), HUB_VAR_DIR=str(workdir / "var"), HUB_PROCESSORS="entities",
                   HUB_LOG_LEVEL="WARNING", HUB_ENVIRONMENT="test")
        log = stack.enter_context(open(workdir / "process.log", "wb"))
        proc = subprocess.Popen([sys.executable, "-m", "ops.cli", "process"], env=env, cwd=REPO,
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            def done() -> int:
                with db.engine.connect() as conn:
                    return conn.execute(sa.text("select count(*) from processed_records")).scalar()

            first = t0 = None
            deadline = time.monotonic() + 900
            while time.monotonic() < deadline:
                n = done()
                if n and first is None:
                    first, t0 = n, time.perf_counter()
                if n >= distinct:
                    break
                if proc.poll() is not None:
                    raise RuntimeError(f"hub process exited: see {workdir / 'process.log'}")
                time.sleep(0.05)
            else:
                raise RuntimeError("pipeline did not finish in 900 s")
            elapsed = time.perf_counter() - t0
            with db.engine.connect() as conn:
                entities = conn.execute(sa.text("select count(*) from entities")).scalar()
            return {"records": len(stream), "distinct": distinct, "measured": distinct - first,
                    "seconds": round(elapsed, 2), "rate": (distinct - first) / elapsed, "entities": entities}
        finally:
            proc.terminate()
            proc.wait(30)


def pg_available(url: str) -> bool:
    try:
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001
        return False


def pg_schema_url(url: str) -> tuple[str, callable]:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(sa.text(f"create schema {schema}"))

    def drop() -> None:
        with engine.begin() as conn:
            conn.execute(sa.text(f"drop schema {schema} cascade"))
        engine.dispose()

    return f"{url}?options=-csearch_path%3D{schema}", drop


def main(argv: list[str] | None = None) -> int:
    from ops.bench.entity_updates import make_updates

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=50_000)
    ap.add_argument("--pg-url", default="postgresql://127.0.0.1:5432/test")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    stream, expected = make_updates(args.records)
    rows = golden_rows(stream)
    results = {}
    targets = [("sqlite", None)]
    if args.pg_url and pg_available(args.pg_url):
        targets.append(("postgresql", args.pg_url))
    for name, base in targets:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            cleanups = []
            if name == "sqlite":
                url = f"sqlite:///{workdir}/bench.db"
                bulk_url = f"sqlite:///{workdir}/bulk.db"
            else:
                url, drop = pg_schema_url(base)
                bulk_url, drop2 = pg_schema_url(base)
                cleanups += [drop, drop2]
            try:
                progress(f"{name}: bulk upsert baseline ({len(rows):,} rows)")
                bulk = bulk_upsert(bulk_url.replace("postgresql://", "postgresql+psycopg://"), rows)
                progress(f"{name}: hub process pipeline")
                pipe = pipeline(url, stream, workdir)
            finally:
                for c in cleanups:
                    c()
            assert pipe["entities"] == len(expected), pipe
            results[name] = {"pipeline_per_s": round(pipe["rate"]), "bulk_upsert_per_s": round(bulk),
                             "ratio": round(pipe["rate"] / bulk, 3), **pipe}
            progress(f"{name}: pipeline {pipe['rate']:,.0f}/s, bulk upsert {bulk:,.0f}/s, "
                     f"ratio {pipe['rate'] / bulk:.3f}")
    print(json.dumps(results, indent=2) if args.json else "\n".join(
        f"{k:<11} pipeline {v['pipeline_per_s']:>7,}/s   bulk upsert {v['bulk_upsert_per_s']:>7,}/s   "
        f"ratio {v['ratio']:.3f}   ({v['measured']:,} records in {v['seconds']} s)" for k, v in results.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
