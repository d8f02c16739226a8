"""Connector runner benchmark: a declarative ``sql-poll`` connector pulling N records end to end.

For each producer transport it measures, in one run on one broker:

* ``connector``: the runner from the source table to acknowledged Avro records on the broker,
  with checkpoints committed (poll → decode → repair → map → validate → encode → produce → commit);
* ``bare``: a loop that only Avro-encodes and produces the same, already-mapped records with the
  same transport (and flushes);

and prints records/s and the ratio connector/bare (target ≥ 0.5). With ``--profile`` it runs
the connector once more under cProfile and prints where the time goes, by stage.
Run: ``python -m ops.bench.connector_bench [--records 200000] [--profile]``.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

EXAMPLE = Path(__file__).resolve().parents[2] / "connectors" / "declarative" / "examples" / "sql_poll_updated_at.json"


def build_source(url: str, records: int) -> None:
    """``records`` realistic ecology-dialect rows: 2,000 simulated ones, replicated with new keys."""
    from ops.bench.common import progress
    from ops.simulators.ecology import EcologySimulator

    seedrows = min(records, 2000)
    progress(f"simulating {seedrows:,} ecology case rows, replicating to {records:,}")
    sim = EcologySimulator(seed=3, count=seedrows, bad_ratio=0.0, duplicate_ratio=0.0, out_of_order_ratio=0.0,
                           url=url)
    sim.start()
    sim.stop()
    engine = sa.create_engine(url)
    table = sa.Table("hb_xzcf_case", sa.MetaData(), autoload_with=engine)
    cols = [c.name for c in table.columns if c.name != "id"]
    with engine.begin() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.select(*[table.c[c] for c in cols]))]
        base = len(rows)
        copy = 1
        while base * copy < records:
            n = min(base, records - base * copy)
            conn.execute(table.insert(), [
                {**r, "case_code": f"{r['case_code']}-R{copy}",
                 "updated_at": r["updated_at"].replace(year=r["updated_at"].year + copy)}
                for r in rows[:n]])
            copy += 1
    engine.dispose()


def run(records: int, transports: list[str], profile: bool) -> dict:
    from connectors.config import validate_config
    from connectors.plugins import get_plugin
    from connectors.runtime.offsets import OffsetStore
    from connectors.runtime.pipeline import decode, record_id, repair, stamp_envelope
    from connectors.runtime.plugin import PluginContext
    from connectors.runtime.runner import SourceRunner
    from hub_api.db import Database
    from hub_api.registry.client import RegistryClient
    from ops.bench.common import DeliveryCounter, bench_env, progress, timed
    from ops.settings import HubSettings
    from schemas import loader
    from topics.catalog import get
    from topics.serde import AvroSerializer, subject_for
    from topics.transport import make_producer

    tmp = Path(tempfile.mkdtemp(prefix="hub-bench-"))
    source_url = f"sqlite:///{tmp / 'ecology.db'}"
    build_source(source_url, records)
    raw_config = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    raw_config["config"]["url"] = source_url
    connector, plugin_config, errors = validate_config(raw_config)
    assert not errors, errors
    plugin = get_plugin(connector.plugin)
    results: dict[str, dict] = {}

    with bench_env() as env:
        settings = HubSettings(kafka_bootstrap=env.bootstrap, environment="test",
                               database_url=f"sqlite:///{tmp / 'hub.db'}")
        db = Database(settings.database_url)
        db.create_schema()
        offsets = OffsetStore(db)
        registry = RegistryClient(env.registry_url, auth=env.writer)

        def connector_run(transport: str, limit: int | None = None) -> tuple[float, int]:
            name = f"bench-{transport}-{uuid.uuid4().hex[:6]}"
            parts = plugin.build(plugin_config, PluginContext(name, settings, tmp / name, time.time))
            producer = make_producer(settings, transport=transport)
            runner = SourceRunner(name, parts.task, parts.mapper, source_system=connector.source_system,
                                  settings=settings, producer=producer, registry=registry, offsets=offsets,
                                  identifier_fields=parts.identifier_fields, batch_size=connector.batch_size,
                                  topic_names={"penalty.case.events": f"bench.{name}"})
            produced = 0

            def go():
                nonlocal produced
                while (result := runner.run_once()).polled:
                    produced += result.produced
                    if limit and produced >= limit:
                        break

            elapsed = timed(go)
            runner.close()
            producer.close()
            return elapsed, produced

        # The already-mapped records for the bare loop: the same mapper, outside the clock.
        progress("mapping the records once for the bare loop (not timed)")
        parts = plugin.build(plugin_config, PluginContext("bench-premap", settings, tmp / "premap", time.time))
        parts.task.open({})
        spec = get("penalty.case.events")
        mapped = []
        while batch := parts.task.poll(5000):
            for raw in batch:
                doc = decode(raw, "utf-8")
                repair(doc, parts.identifier_fields)
                for m in parts.mapper(doc, raw):
                    stamp_envelope(m.value, record_id=record_id(connector.source_system, raw.key, raw.version),
                                   source_system=connector.source_system, raw=raw, ingest_time_ms=0)
                    mapped.append((m.value, m.value["case_id"].encode()))
        parts.task.close()

        for transport in transports:
            progress(f"connector/{transport}: {records:,} records end to end")
            elapsed, produced = connector_run(transport)
            if produced != len(mapped):
                raise SystemExit(f"connector/{transport} produced {produced}, expected {len(mapped)}")
            connector_rate = produced / elapsed

            progress(f"bare/{transport}: encode + produce the same {len(mapped):,} mapped records")
            topic = f"bench.bare.{transport}.{uuid.uuid4().hex[:6]}"
            serialize = AvroSerializer(registry, subject_for(topic), loader.schema_json(spec.value_schema))
            serialize(mapped[0][0])
            producer, counter = make_producer(settings, transport=transport), DeliveryCounter()

            def bare(producer=producer, counter=counter, serialize=serialize, topic=topic):
                for value, key in mapped:
                    producer.send(topic, serialize(value), key=key, on_delivery=counter)
                producer.flush()

            bare_elapsed = timed(bare)
            producer.close()
            if counter.ok != len(mapped):
                raise SystemExit(f"bare/{transport}: {counter.ok} acknowledged of {len(mapped)}")
            bare_rate = len(mapped) / bare_elapsed
            results[transport] = {"connector": connector_rate, "bare": bare_rate, "ratio": connector_rate / bare_rate}

        if profile:
            n = min(records, 20000)
            progress(f"profiling the connector over {n:,} records (kafka-python)")
            prof = cProfile.Profile()
            prof.enable()
            connector_run(transports[0], limit=n)
            prof.disable()
            results["profile"] = _stages(prof)
        registry.close()
        db.dispose()
    return results


STAGES = [  # (stage, substring of the code's file path) - first match wins
    ("map", "connectors/mapping.py"), ("validate", "runtime/pipeline.py"), ("validate", "runtime/rules.py"),
    ("validate", "schemas/codes.py"), ("validate", "fastavro/_validation"), ("encode", "fastavro/_write"),
    ("encode", "topics/serde.py"), ("produce", "/kafka/"), ("produce", "confluent_kafka"),
    ("produce", "topics/transport.py"), ("poll", "declarative/sql_poll.py"), ("poll+commit", "sqlalchemy"),
    ("decode", "json/"), ("runner", "runtime/runner.py"), ("runner", "runtime/batch.py"),
]


def _stages(prof: cProfile.Profile) -> dict[str, float]:
    """Own (tottime) seconds per pipeline stage."""
    stats = pstats.Stats(prof)
    out: dict[str, float] = {}
    for (path, _line, _fn), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():
        stage = next((s for s, frag in STAGES if frag in path), "other")
        out[stage] = out.get(stage, 0.0) + tottime
    total = sum(out.values()) or 1.0
    return {k: round(v / total, 3) for k, v in sorted(out.items(), key=lambda kv: -kv[1])}


def report(results: dict, records: int) -> None:
    print(f"\nConnector benchmark: sql-poll → declarative mapping → PenaltyCaseEvent, {records:,} records, "
          "acks=all, idempotent, checkpoints committed")
    print(f"{'transport':<14}{'connector rec/s':>16}{'bare rec/s':>12}{'ratio':>8}")
    for t, r in results.items():
        if t != "profile":
            print(f"{t:<14}{r['connector']:>16,.0f}{r['bare']:>12,.0f}{r['ratio']:>8.2f}")
    print("ratio = connector / bare encode-and-produce loop (target ≥ 0.50)")
    if "profile" in results:
        print("\nwhere the connector's time goes (share of own CPU time, kafka-python):")
        for stage, share in results["profile"].items():
            print(f"  {stage:<12}{share:>7.1%}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--transports", nargs="*", default=["kafka-python", "confluent"])
    parser.add_argument("--profile", action="store_true", help="also profile the connector by stage")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = run(args.records, args.transports, args.profile)
    report(results, args.records)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
