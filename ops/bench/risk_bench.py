"""Risk-loop latency benchmark: clue on ``risk.alerts`` -> its dispatch visible on ``risk.dispatches``.

One private embedded broker (Tansu), the hub API (schema registry) and ``hub process --processors
risk`` as a subprocess, on a SQLite file. Two measurements:

* ``steady``: a paced producer sends clues at ``--rate`` per second for ``--seconds``; a separate
  consumer (confluent-kafka, ``fetch.wait.max.ms=10``) on ``risk.dispatches`` notes when each
  alert id's dispatch arrives; latency = dispatch visible - clue sent (p50/p90/p99/max). The
  consumer-group join is excluded: producing starts only once a warm-up clue's dispatch is seen.
* ``max``: the processor is stopped, ``--preload`` clues are produced, the processor restarted;
  the sustained rate is dispatches visible per second from the first to the last one.

Each clue names one responsible department (rule ``explicit``), so it costs exactly one push.
What bounds latency: the processor's batch window (``take_events(..., within=0.2)`` in
``processors/app.py``: a batch is applied when 500 records are there or 0.2 s have passed), one
SQLite transaction per batch, the outbox relay right after the commit, and Tansu's fetch wait
(``HUB_KAFKA_FETCH_MAX_WAIT_MS``, 10 ms by default; ``--fetch-wait`` sets it for the processor).

Run: ``python -m ops.bench.risk_bench [--rate 200] [--seconds 20] [--preload 20000] [--json]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from ops.bench.common import progress

REPO = Path(__file__).resolve().parents[2]
DEPARTMENTS = ("330106SCJ", "330102SCJ", "330302WJW", "330782STJ", "330411JTJ")


def clue(alert_id: str, i: int) -> dict:
    """A valid standard RiskAlert with one explicit responsible department."""
    dept = DEPARTMENTS[i % len(DEPARTMENTS)]
    now_ms = int(time.time() * 1000)
    return {
        "envelope": {"record_id": f"bench-risk:{alert_id}:1", "source_system": "bench-risk",
                     "source_position": {"partition": "bench", "offset": str(i)}, "operation": "i",
                     "event_time": now_ms, "ingest_time": now_ms, "region_code": dept[:6],
                     "department_code": "330000WJW", "trace_id": None, "batch": None, "source_key": alert_id,
                     "source_version": "1"},
        "alert_id": alert_id, "risk_system": "bench-risk", "category": {"code": "YF01", "name": "医疗废物产生量异常",
                                                                       "code_system": None},
        "risk_level": "high", "score": 0.9, "title": "bench", "description": "bench clue", "entity_id": None,
        "entity_name": None, "catalog_code": None, "region_code": dept[:6], "detected_time": now_ms,
        "evidence_url": None, "responsible_departments": [{"code": dept, "name": dept, "code_system": None}],
    }


class Watcher:
    """A consumer thread on ``risk.dispatches``: first arrival time (monotonic) per alert id (the key)."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.seen: dict[str, float] = {}
        self.messages = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="risk-bench-watcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from confluent_kafka import Consumer

        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": f"bench-{uuid.uuid4().hex}",
                             "auto.offset.reset": "earliest", "enable.auto.commit": False,
                             "session.timeout.ms": 6000, "fetch.wait.max.ms": 10})
        consumer.subscribe(["risk.dispatches"])
        try:
            while not self._stop.is_set():
                msg = consumer.poll(0.05)
                if msg is None or msg.error() is not None:
                    continue
                now = time.monotonic()
                self.messages += 1
                self.seen.setdefault(msg.key().decode(), now)
        finally:
            consumer.close()

    def wait(self, ids, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(i in self.seen for i in ids):
                return True
            time.sleep(0.02)
        return False

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


class BenchHub:
    """Broker + API + ``hub process --processors risk`` on SQLite in ``workdir``."""

    def __init__(self, workdir: Path, fetch_wait_ms: int | None = None) -> None:
        self.workdir = workdir
        self.fetch_wait_ms = fetch_wait_ms
        self.proc: subprocess.Popen | None = None
        self.stack = contextlib.ExitStack()

    def __enter__(self) -> BenchHub:
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

        s = self.stack
        self.bootstrap = s.enter_context(EmbeddedBroker(log_path=self.workdir / "broker.log")).bootstrap
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        provision.apply(admin, replication_factor=1)
        admin.close()
        self.url = f"sqlite:///{self.workdir}/bench.db"
        self.settings = HubSettings(kafka_bootstrap=self.bootstrap, database_url=self.url, environment="test",
                                    log_level="WARNING", var_dir=self.workdir / "var")
        self.db = Database(self.url)
        self.db.create_schema()
        s.callback(self.db.dispose)
        self.api = s.enter_context(ThreadedServer(create_app(self.settings, self.db)))
        registry = RegistryClient(f"{self.api.url}/registry")
        s.callback(registry.close)
        self.serialize = AvroSerializer(registry, "risk.alerts-value",
                                        loader.schema_json("gov.zj.supervision.risk.RiskAlert"))
        self.producer = make_producer(self.settings)
        s.callback(self.producer.close)
        self.port = free_port()
        s.callback(self.stop_processor)
        return self

    def __exit__(self, *exc) -> None:
        self.stack.close()

    def start_processor(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        env.update(HUB_KAFKA_BOOTSTRAP=self.bootstrap, HUB_DATABASE_URL=self.url,
                   HUB_REGISTRY_URL=f"{self.api.url}/registry", HUB_PROCESSOR_PORT=str(self.port),
                   HUB_VAR_DIR=str(self.workdir / "var"), HUB_PROCESSORS="risk", HUB_LOG_LEVEL="WARNING",
                   HUB_ENVIRONMENT="test", HUB_LOG_JSON="false", PYTHONPATH=str(REPO))
        if self.fetch_wait_ms is not None:
            env["HUB_KAFKA_FETCH_MAX_WAIT_MS"] = str(self.fetch_wait_ms)
        log = open(self.workdir / "process.log", "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen([sys.executable, "-m", "ops.cli", "process"], env=env, cwd=self.workdir,
                                     stdout=log, stderr=subprocess.STDOUT)

    def stop_processor(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def encoded(self, prefix: str, n: int) -> list[tuple[str, bytes]]:
        return [(f"{prefix}{i:06d}", self.serialize(clue(f"{prefix}{i:06d}", i))) for i in range(n)]

    def send(self, alert_id: str, body: bytes) -> None:
        self.producer.send("risk.alerts", body, key=alert_id.encode())


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    k = max(0, min(len(sorted_values) - 1, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


def warm_up(hub: BenchHub, watcher: Watcher, timeout: float = 90.0) -> None:
    """Start the processor and wait until a warm-up clue's dispatch is visible (group joins done)."""
    (aid, body), = hub.encoded("WARM", 1)
    hub.send(aid, body)
    hub.producer.flush(30)
    hub.start_processor()
    if not watcher.wait([aid], timeout):
        raise RuntimeError(f"warm-up dispatch not visible in {timeout:.0f} s: see {hub.workdir / 'process.log'}")


def steady(hub: BenchHub, watcher: Watcher, rate: float, seconds: float, drain_timeout: float = 60.0) -> dict:
    """Paced clues at ``rate``/s for ``seconds``; latency of each dispatch (ms)."""
    batch = hub.encoded(f"S{uuid.uuid4().hex[:6]}-", max(1, round(rate * seconds)))
    sent: dict[str, float] = {}
    t0 = time.monotonic()
    for i, (aid, body) in enumerate(batch):
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sent[aid] = time.monotonic()
        hub.send(aid, body)
    produced_in = time.monotonic() - t0
    hub.producer.flush(30)
    complete = watcher.wait(sent, drain_timeout)
    lat = sorted((watcher.seen[a] - t) * 1000 for a, t in sent.items() if a in watcher.seen)
    if not lat:
        raise RuntimeError("no dispatch seen")
    return {"rate": rate, "clues": len(sent), "dispatched": len(lat), "complete": complete,
            "achieved_rate": round(len(sent) / produced_in, 1), "p50_ms": round(percentile(lat, 50), 1),
            "p90_ms": round(percentile(lat, 90), 1), "p99_ms": round(percentile(lat, 99), 1),
            "max_ms": round(lat[-1], 1), "mean_ms": round(statistics.fmean(lat), 1)}


def max_rate(hub: BenchHub, watcher: Watcher, preload: int, timeout: float = 600.0) -> dict:
    """Stop the processor, pre-load ``preload`` clues, restart: dispatches visible per second."""
    hub.stop_processor()
    batch = hub.encoded(f"M{uuid.uuid4().hex[:6]}-", preload)
    for aid, body in batch:
        hub.send(aid, body)
    hub.producer.flush(120)
    hub.start_processor()
    ids = [a for a, _ in batch]
    complete = watcher.wait(ids, timeout)
    times = sorted(watcher.seen[a] for a in ids if a in watcher.seen)
    # The first batch (up to 500 clues) becomes visible at once: count what came after it.
    first = sum(1 for t in times if t <= times[0] + 0.05) if times else 0
    span = times[-1] - times[0] if times else 0.0
    return {"preload": preload, "dispatched": len(times), "complete": complete, "seconds": round(span, 2),
            "first_batch": first, "per_s": round((len(times) - first) / span, 1) if span > 0.05 else None}


def run(rate: float = 200, seconds: float = 20, preload: int = 20_000, fetch_wait_ms: int | None = None,
        workdir: Path | None = None) -> dict:
    with contextlib.ExitStack() as stack:
        wd = workdir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        hub = stack.enter_context(BenchHub(wd, fetch_wait_ms))
        watcher = Watcher(hub.bootstrap)
        stack.callback(watcher.stop)
        progress("warm-up: processor start and group join")
        warm_up(hub, watcher)
        progress(f"steady: {rate:g} clues/s for {seconds:g} s")
        result = {"steady": steady(hub, watcher, rate, seconds)}
        if preload:
            progress(f"max: {preload:,} pre-loaded clues")
            result["max"] = max_rate(hub, watcher, preload)
        result["repeated_messages"] = watcher.messages - len(watcher.seen)
        return result


def table(r: dict) -> str:
    s = r["steady"]
    lines = ["risk loop: clue -> dispatch visible on risk.dispatches (SQLite, embedded Tansu)",
             f"  steady {s['rate']:g}/s (achieved {s['achieved_rate']:g}/s), {s['dispatched']}/{s['clues']} dispatched",
             f"    p50 {s['p50_ms']} ms   p90 {s['p90_ms']} ms   p99 {s['p99_ms']} ms   max {s['max_ms']} ms"]
    if "max" in r:
        m = r["max"]
        lines.append(f"  max sustained: {m['per_s']} dispatches/s ({m['dispatched']:,}/{m['preload']:,} "
                     f"pre-loaded clues in {m['seconds']} s)")
    lines.append("  method: paced producer; latency = first sight of the alert id's dispatch by a separate consumer "
                 "(fetch.wait.max.ms=10) - send time; group join excluded (warm-up clue). Bounded below by the "
                 "processor's batch window (take_events(..., within=0.2)), one DB transaction per batch, the outbox "
                 "relay after commit and Tansu's fetch wait.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--preload", type=int, default=20_000, help="clues for the max-rate run (0: skip)")
    ap.add_argument("--fetch-wait", type=int, default=None, help="HUB_KAFKA_FETCH_MAX_WAIT_MS for the processor")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    result = run(args.rate, args.seconds, args.preload, args.fetch_wait)
    print(json.dumps(result, indent=2) if args.json else table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
