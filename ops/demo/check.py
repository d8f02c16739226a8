"""``hub demo --check --duration N``: run the demo on a private hub, drain, reconcile, exit 0 or 1.

1. Brings up its own process tree exactly as ``hub up`` does (:func:`ops.up.build_children`:
   embedded broker unless ``HUB_KAFKA_BOOTSTRAP`` is set, topics, API, connect worker) on a
   free API port, with a temporary work directory holding the SQLite hub database, the
   worker's state and the simulators' files (``HUB_DATABASE_URL`` / ``HUB_API_PORT``, when set,
   are used instead). The children's output goes to ``<workdir>/hub.log``.
2. Runs the demo driver (:class:`ops.demo.run.DemoDriver`) for N seconds: systems registered
   through the API, sources growing.
3. Stops the sources' growth and waits until every connector drained (offsets and counters
   still for a while; bounded).
4. Consumes every catalog topic and each connector's dead-letter topic from the beginning,
   separates standard records by ``envelope.source_system``, and reconciles each system's
   ledger (:func:`ops.simulators.reconcile.reconcile`).
5. Prints one JSON object on stdout (progress and a summary table go to stderr) and exits
   1 if any system is not ok: a good record missing, unexpected, or under more than one record
   id after deduplication, an expected dead letter missing, or a dead letter nobody expected.

With an external Kafka the topics must be fresh: records left by earlier runs would be
counted as redeliveries (same record ids) or as unexpected.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from ops.simulators.reconcile import reconcile


def dead_letter_check(expected_dead: dict, letters: list[dict]) -> tuple[dict[str, int], int]:
    """Distinct dead letters by reason (a redelivered one counts once: same source position and
    reason) and how many of them no expected dead record accounts for."""
    distinct: dict[tuple, dict] = {}
    for d in letters:
        ident = (d.get("source_partition"), d.get("source_offset"), d.get("source_key"), d.get("source_version"),
                 d.get("reason"))
        distinct.setdefault(ident, d)
    expected = {(str(k), str(v)): reason for (k, v), reason in expected_dead.items()}
    matched: set[tuple[str, str]] = set()
    unexpected, unkeyed = 0, Counter()
    for d in distinct.values():
        if d.get("source_key") and d.get("source_version"):
            key = (d["source_key"], d["source_version"])
            if expected.get(key) == d.get("reason"):
                matched.add(key)
            else:
                unexpected += 1
        else:  # its key could not be read (e.g. an undecodable line): matched by reason
            unkeyed[d.get("reason")] += 1
    for key, reason in expected.items():
        if key not in matched and unkeyed[reason] > 0:
            unkeyed[reason] -= 1
    return dict(Counter(d.get("reason") for d in distinct.values())), unexpected + sum(unkeyed.values())


def system_report(system: str, expected: dict, emitted: int, standard: list[dict], dead: list[dict],
                  **extra) -> dict:
    """:func:`reconcile` plus the dead-letter check; ``ok`` also requires no unexpected dead letter."""
    report = reconcile(system, expected, emitted, standard, dead)
    # Of the redeliveries, those of one source record at one source position: the hub's own
    # at-least-once replays (e.g. after a crash between produce and checkpoint), as opposed to
    # a source re-sending a record (a duplicate or out-of-order update at another position).
    seen: set[tuple] = set()
    by_hub = 0
    for r in standard:
        env = r["envelope"]
        pos = env.get("source_position") or {}
        ident = (env["record_id"], pos.get("partition"), pos.get("offset"))
        by_hub += ident in seen
        seen.add(ident)
    report["redelivered_by_hub"] = by_hub
    distinct, unexpected = dead_letter_check(expected["dead"], dead)
    report["dead_distinct"] = distinct
    report["dead_unexpected"] = unexpected
    report["ok"] = bool(report["ok"] and unexpected == 0 and report["duplicates_after_dedup"] == 0)
    report.update(extra)
    return report


def sink_report(inst, status: dict, drained: dict[str, bool] | None) -> dict:
    """A sink delivers *to* its system: no ledger to reconcile here (its own integration test
    does); it is ok when it drained while RUNNING with no dead letter and no failure."""
    counters = status.get("counters") or {}
    received = getattr(inst.simulator, "feedback", None)
    report = {"system": inst.connector, "kind": "sink", "emitted": 0, "expected_good": 0, "arrived": 0,
              "missing": 0, "duplicates_after_dedup": 0, "redelivered": 0, "unexpected": 0, "dead_missing": 0,
              "dead_unexpected": int(counters.get("dead_lettered", 0)), "dead_expected": {}, "dead_distinct": {},
              "delivered": int(counters.get("produced", 0)), "consumed": int(counters.get("polled", 0)),
              "received_by_system": None if received is None else len(received),
              # Copies of a delivery id it already had (at-least-once; the system deduplicates by it).
              "received_again": getattr(inst.simulator, "feedback_duplicates", None),
              "state": status.get("state"), "counters": counters,
              "drained": None if drained is None else drained.get(inst.connector)}
    report["ok"] = bool(report["state"] == "RUNNING" and report["drained"] is not False
                        and not counters.get("dead_lettered") and not counters.get("failures"))
    return report


def summarize(reports: list[dict], **extra) -> tuple[dict, int]:
    """The check's JSON document and exit code (0: every system ok; 1: otherwise, or none)."""
    ok = bool(reports) and all(r["ok"] for r in reports)
    totals = {k: sum(r[k] for r in reports) for k in
              ("emitted", "expected_good", "arrived", "missing", "duplicates_after_dedup", "redelivered",
               "unexpected", "dead_missing", "dead_unexpected")}
    doc = {"ok": ok, **extra, "totals": totals, "systems": {r["system"]: r for r in reports}}
    return doc, 0 if ok else 1


def collect(driver, timeout: float = 90.0) -> tuple[dict[str, list[dict]], dict[str, list[dict]], int]:
    """Decoded standard records and parsed dead letters per connector of ``driver``, plus the
    number of records that could not be decoded."""
    from connectors.runtime.dlq import parse_dead_letter
    from hub_api.registry.client import RegistryClient
    from ops.demo.topics import read_topics, standard_topics
    from topics.catalog import dead_letter_topic
    from topics.serde import AvroDeserializer

    by_source = {i.source_system: i.connector for i in driver.instances}
    dlq = {dead_letter_topic(i.connector): i.connector for i in driver.instances}
    expected = 0
    for inst in driver.instances:
        exp = inst.simulator.ledger.expected()
        expected += len(exp["good"]) + len(exp["dead"])
    messages = read_topics(driver.bootstrap, standard_topics() + sorted(dlq), expected=expected, timeout=timeout,
                           client_config=driver.settings.kafka_client_config())
    standard = {c: [] for c in by_source.values()}
    dead = {c: [] for c in by_source.values()}
    undecodable = 0
    with RegistryClient(f"{driver.hub_url}/registry") as registry:
        decode = AvroDeserializer(registry)
        for m in messages:
            if m.topic in dlq:
                dead[dlq[m.topic]].append(parse_dead_letter(m.headers, m.value))
                continue
            if m.value is None:
                continue
            try:
                record = decode(m.value)
            except Exception:  # noqa: BLE001 - counted and reported, never fatal
                undecodable += 1
                continue
            envelope = record.get("envelope") if isinstance(record, dict) else None
            connector = by_source.get((envelope or {}).get("source_system"))
            if connector:
                standard[connector].append(record)
    return standard, dead, undecodable


def reconcile_driver(driver, *, drained: dict[str, bool] | None = None, timeout: float = 90.0) -> list[dict]:
    """One report per system of ``driver`` (after it drained)."""
    standard, dead, undecodable = collect(driver, timeout=timeout)
    statuses = driver.statuses()
    reports = []
    for inst in driver.instances:
        ledger = inst.simulator.ledger
        status = statuses.get(inst.connector) or {}
        if inst.kind == "sink":
            reports.append(sink_report(inst, status, drained))
            continue
        reports.append(system_report(
            inst.connector, ledger.expected(), len(ledger), standard[inst.connector], dead[inst.connector],
            source_system=inst.source_system, drained=None if drained is None else drained.get(inst.connector),
            state=status.get("state"), counters=status.get("counters") or {}, undecodable_on_topics=undecodable))
    return reports


def _again(n: int | None) -> str:
    return f" (+{n} again, same delivery id)" if n else ""


def print_table(doc: dict, out) -> None:
    """A human summary of the check's document."""
    rows = list(doc["systems"].values())
    width = max([len(r["system"]) for r in rows] + [6])
    out.write(f"\n{'system':<{width}}  {'emitted':>7} {'good':>6} {'arrived':>7} {'missing':>7} {'dup':>4} "
              f"{'redeliv':>7} {'dead exp/obs':>12}  ok\n")
    for r in rows:
        if r.get("kind") == "sink":
            out.write(f"{r['system']:<{width}}  sink: consumed {r['consumed']}, delivered {r['delivered']}, "
                      f"received by the system {r['received_by_system']} distinct"
                      f"{_again(r.get('received_again'))}  {'yes' if r['ok'] else 'NO'}\n")
            continue
        dead = f"{sum(r['dead_expected'].values())}/{sum(r['dead_distinct'].values())}"
        out.write(f"{r['system']:<{width}}  {r['emitted']:>7} {r['expected_good']:>6} {r['arrived']:>7} "
                  f"{r['missing']:>7} {r['duplicates_after_dedup']:>4} {r['redelivered']:>7} {dead:>12}  "
                  f"{'yes' if r['ok'] else 'NO'}\n")
    out.write(f"\ncheck {'passed' if doc['ok'] else 'FAILED'}\n")
    out.flush()


class _Redirect:
    """Point fds 1 and 2 (this process and every child it spawns) at ``log``; keep the terminal
    as :attr:`out` / :attr:`err` for the check's own output."""

    def __init__(self, log: Path):
        self.log = log

    def __enter__(self) -> _Redirect:
        sys.stdout.flush()
        sys.stderr.flush()
        self._saved = os.dup(1), os.dup(2)
        self.out = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
        self.err = os.fdopen(os.dup(2), "w", encoding="utf-8", buffering=1)
        fd = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        return self

    def __exit__(self, *exc) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(self._saved[0], 1)
        os.dup2(self._saved[1], 2)
        for fd in self._saved:
            os.close(fd)
        self.out.close()
        self.err.close()


def run_check(settings, args) -> int:
    """``hub demo --check`` (see the module docstring)."""
    from ops.broker import free_port
    from ops.demo.run import DemoError, driver_from_args, parse_systems
    from ops.supervisor import Supervisor
    from ops.up import build_children

    try:
        parse_systems(args.systems)
    except KeyError as exc:
        print(f"hub: {exc.args[0]}", file=sys.stderr)
        return 2
    workdir = Path(args.workdir).resolve() if args.workdir else Path(tempfile.mkdtemp(prefix="hub-demo-check-"))
    var = workdir / "var"
    var.mkdir(parents=True, exist_ok=True)
    given = settings.model_fields_set
    port = settings.api_port if "api_port" in given else free_port()
    db_url = settings.database_url if "database_url" in given else f"sqlite:///{var / 'hub.db'}"
    mine = settings.model_copy(update={"api_port": port, "database_url": db_url, "var_dir": var})
    env = {"HUB_API_PORT": str(port), "HUB_DATABASE_URL": db_url, "HUB_VAR_DIR": str(var)}
    log = workdir / "hub.log"
    started = time.monotonic()
    outcome: dict = {}
    with _Redirect(log) as term:
        say = (lambda _msg: None) if args.json else (lambda msg: (term.err.write(f"check: {msg}\n"), term.err.flush()))
        say(f"starting a private hub (work dir {workdir}, logs {log})")
        try:
            children, bootstrap = build_children(mine, extra_env=env)
            supervisor = Supervisor(children)
            supervisor.start()
        except Exception as exc:  # noqa: BLE001 - reported, with the log to read
            if "supervisor" in locals():
                supervisor.stop()
            term.err.write(f"hub: demo check: the hub did not start: {type(exc).__name__}: {exc} (see {log})\n")
            return 1
        except KeyboardInterrupt:  # while waiting for an external broker, before the supervisor
            term.err.write("hub: demo check: interrupted while the hub was starting\n")
            return 130
        if supervisor.stopping:  # Ctrl-C during start
            supervisor.stop()
            term.err.write("hub: demo check: interrupted while the hub was starting\n")
            return 130
        mine = mine.model_copy(update={"kafka_bootstrap": bootstrap})
        driver = driver_from_args(mine, args, workdir / "demo", hub_url=f"http://{mine.api_host}:{port}",
                                  bootstrap=bootstrap, out=term.err, redraw=False)
        stop, done = threading.Event(), threading.Event()

        def work() -> None:
            try:
                driver.start()
                say(f"{len(driver.instances)} systems registered; running {args.duration:g}s")
                driver.run(stop, duration=args.duration, progress_every=args.progress_every, quiet=args.json)
                if stop.is_set():
                    return
                driver.stop_growth()
                say("sources stopped; waiting for every connector to drain")
                drained = driver.wait_drained(timeout=args.drain_timeout, stop=stop)
                if not args.json:
                    driver.show_progress(note="drained" if all(drained.values()) else "drain timed out")
                say("consuming the standard and dead-letter topics")
                outcome["reports"] = reconcile_driver(driver, drained=drained)
            except DemoError as exc:
                outcome["error"] = str(exc)
            except Exception as exc:  # noqa: BLE001 - reported as the check's failure
                outcome["error"] = f"{type(exc).__name__}: {exc}"
            finally:
                done.set()

        thread = threading.Thread(target=work, name="demo-check", daemon=True)
        thread.start()
        tree = supervisor.run(until=done.is_set)  # restarts crashed children; stops the tree at the end
        stop.set()
        thread.join(timeout=30)
        driver.close()
        if "reports" not in outcome:
            why = outcome.get("error") or ("interrupted" if tree == 0 else "a hub process kept failing")
            term.err.write(f"hub: demo check did not complete: {why} (logs: {log})\n")
            return 1
        doc, code = summarize(outcome["reports"], duration_s=args.duration,
                              elapsed_s=round(time.monotonic() - started, 1),
                              systems_checked=[r["system"] for r in outcome["reports"]])
        term.out.write(json.dumps(doc, ensure_ascii=False, indent=2, default=str) + "\n")
        term.out.flush()
        if not args.json:
            print_table(doc, term.err)
        if code and not args.keep:
            term.err.write(f"hub: demo check failed; work dir and logs kept in {workdir}\n")
    if code == 0 and not args.keep and not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    return code
