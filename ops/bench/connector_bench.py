"""Connector runner benchmark: a declarative ``sql-poll`` connector pulling N records end to end.

For each producer transport it measures, in one run on one broker:

* ``connector``: the runner from the source table to acknowledged Avro records on the broker,
  with checkpoints committed (poll → decode → repair → map → validate → encode → produce → commit);
* ``bare``: a loop that only Avro-encodes and produces the same, already-mapped records with the
  same transport (and flushes);

and prints records/s and the ratio connector/bare (target ≥ 0.5), plus the same comparison in
process CPU time (steadier on a shared machine). Both run under the garbage-collector threshold of a
connect worker (``HUB_CONNECT_GC_THRESHOLD``; ``--gc-threshold 700`` for Python's default). With
``--profile`` it runs the connector once
more under cProfile and prints the share of its batch time spent in each stage.
Run: ``python -m ops.bench.connector_bench [--records 200000] [--rounds 3] [--profile]``; with
``--rounds`` the figures are medians over rounds that alternate connector and bare runs.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import pstats
import statistics
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


def run(records: int, transports: list[str], profile: bool, rounds: int = 1, gc_threshold: int | None = None) -> dict:
    from connectors.config import validate_config
    from connectors.plugins import get_plugin
    from connectors.runtime.collector import tune_collector
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
        # The process runs as a connect worker does (connectors/worker.py): same collector schedule.
        threshold = gc_threshold or settings.connect_gc_threshold
        previous_gc = tune_collector(threshold)
        results["gc_threshold"] = threshold
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

            cpu = time.process_time()
            elapsed = timed(go)
            cpu = time.process_time() - cpu
            runner.close()
            producer.close()
            return elapsed, produced, cpu

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
        # The premapped records are the bare loop's input, not part of either workload: freeze
        # them (and everything built so far) so that full collections during both measurements
        # do not rescan them -- a connector process does not hold a million such objects.
        gc.freeze()

        for transport in transports:
            rounds_out = []
            for round_no in range(1, rounds + 1):
                progress(f"connector/{transport} (round {round_no}/{rounds}): {records:,} records end to end")
                elapsed, produced, cpu = connector_run(transport)
                if produced != len(mapped):
                    raise SystemExit(f"connector/{transport} produced {produced}, expected {len(mapped)}")
                connector_rate = produced / elapsed

                progress(f"bare/{transport} (round {round_no}/{rounds}): encode + produce the same "
                         f"{len(mapped):,} mapped records")
                topic = f"bench.bare.{transport}.{uuid.uuid4().hex[:6]}"
                serialize = AvroSerializer(registry, subject_for(topic), loader.schema_json(spec.value_schema))
                serialize(mapped[0][0])
                producer, counter = make_producer(settings, transport=transport), DeliveryCounter()

                def bare(producer=producer, counter=counter, serialize=serialize, topic=topic):
                    for value, key in mapped:
                        producer.send(topic, serialize(value), key=key, on_delivery=counter)
                    producer.flush()

                bare_cpu = time.process_time()
                bare_elapsed = timed(bare)
                bare_cpu = time.process_time() - bare_cpu
                producer.close()
                if counter.ok != len(mapped):
                    raise SystemExit(f"bare/{transport}: {counter.ok} acknowledged of {len(mapped)}")
                bare_rate = len(mapped) / bare_elapsed
                # cpu_ratio: process CPU seconds (all threads, client I/O threads included) of the
                # bare loop over the connector's; far less sensitive to a busy machine than rates.
                rounds_out.append({"connector": connector_rate, "bare": bare_rate,
                                   "ratio": connector_rate / bare_rate, "cpu_ratio": bare_cpu / cpu})
            # Medians of the rounds; the ratio is the median of per-round ratios (same round,
            # same machine load), not the ratio of the medians.
            results[transport] = {k: statistics.median(r[k] for r in rounds_out)
                                  for k in ("connector", "bare", "ratio", "cpu_ratio")}
            results[transport]["ratios"] = [round(r["ratio"], 3) for r in rounds_out]

        if profile:
            n = min(records, 20000)
            progress(f"profiling the connector over {n:,} records ({transports[0]})")
            prof = cProfile.Profile()
            prof.enable()
            connector_run(transports[0], limit=n)
            prof.disable()
            results["profile"], results["profiled"] = _stages(prof), transports[0]
            if os.environ.get("HUB_BENCH_PROFILE_TOP"):
                pstats.Stats(prof).sort_stats("tottime").print_stats(int(os.environ["HUB_BENCH_PROFILE_TOP"]))
        registry.close()
        db.dispose()
        gc.set_threshold(*previous_gc)
    gc.unfreeze()
    return results


STAGES = [  # (stage, fragment of the code's file path, function name): entry points the runner calls
    ("poll", "declarative/sql_poll.py", "poll"), ("decode", "runtime/pipeline.py", "decode"),
    ("repair", "runtime/pipeline.py", "repair"), ("map", "connectors/mapping.py", "__call__"),
    ("encode", "topics/serde.py", "__call__"), ("validate", "runtime/pipeline.py", "check_code_rules"),
    ("produce", "topics/transport.py", "send"), ("flush", "topics/transport.py", "flush"),
    ("flush", "runtime/batch.py", "wait"), ("commit", "runtime/offsets.py", "commit"),
]


def _stages(prof: cProfile.Profile) -> dict[str, float]:
    """Share of the runner's batch time (inclusive, wall clock) spent in each stage's entry point.

    ``runner`` is the rest of ``_run_batch``: record ids, envelope stamps, keys, bookkeeping.
    """
    stats = pstats.Stats(prof).stats
    total = sum(ct for (path, _l, fn), (_cc, _nc, _tt, ct, _c) in stats.items()
                if fn == "_run_batch" and "runtime/runner.py" in path) or 1.0
    out: dict[str, float] = {}
    for (path, _line, fn), (_cc, _nc, _tt, ct, _callers) in stats.items():
        stage = next((s for s, frag, name in STAGES if fn == name and frag in path), None)
        if stage:
            out[stage] = out.get(stage, 0.0) + ct
    out["runner"] = max(0.0, total - sum(out.values()))
    return {k: round(v / total, 3) for k, v in sorted(out.items(), key=lambda kv: -kv[1])}


def report(results: dict, records: int) -> None:
    print(f"\nConnector benchmark: sql-poll → declarative mapping → PenaltyCaseEvent, {records:,} records, "
          f"acks=all, idempotent, checkpoints committed, gc threshold {results['gc_threshold']}")
    print(f"{'transport':<14}{'connector rec/s':>16}{'bare rec/s':>12}{'ratio':>8}{'cpu ratio':>11}")
    for t, r in results.items():
        if t not in ("profile", "profiled", "gc_threshold"):
            print(f"{t:<14}{r['connector']:>16,.0f}{r['bare']:>12,.0f}{r['ratio']:>8.2f}{r['cpu_ratio']:>11.2f}"
                  f"   per round: {', '.join(f'{x:.2f}' for x in r['ratios'])}")
    print("ratio = connector / bare encode-and-produce loop (target ≥ 0.50); cpu ratio = bare / connector "
          "process CPU per record")
    if "profile" in results:
        print(f"\nwhere the connector's time goes (share of its batch time under cProfile, {results['profiled']}):")
        for stage, share in results["profile"].items():
            print(f"  {stage:<12}{share:>7.1%}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--transports", nargs="*", default=["kafka-python", "confluent"])
    parser.add_argument("--profile", action="store_true", help="also profile the connector by stage")
    parser.add_argument("--rounds", type=int, default=1, help="alternate connector and bare runs R times; "
                                                              "report medians")
    parser.add_argument("--gc-threshold", type=int, default=None,
                        help="first-generation GC threshold (default: HUB_CONNECT_GC_THRESHOLD, as a connect worker)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = run(args.records, args.transports, args.profile, args.rounds, args.gc_threshold)
    report(results, args.records)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
