"""The demo driver: simulated systems, connected to a running hub through its own connector API.

For every selected system (:data:`ops.demo.catalog.SYSTEMS`) the driver builds the simulator
(``spec.make``), fills the production-shaped connector config (``load_config``), registers it
with ``POST /connectors`` on the hub API (bearer token from ``/oauth/token``) and starts the
system. Then, until stopped, it keeps the sources growing at a modest rate and shows live
progress (per system: state, emitted, polled / produced / dead-lettered from the connector's
status, dead letters by reason tailed from its dead-letter topic).

The demo is a local administrator of the hub's database: it creates its own API client with
the ``connectors:write`` scope on the configured database (and revokes it when it stops),
exactly as ``hub clients create`` would.

A demo run is a fresh session: its work directory (``var/demo`` under ``hub up --demo``) is
emptied at start, and a connector of the same name left by an earlier run is stopped, its
offsets reset and its config replaced (the simulators start from scratch, and the embedded
broker kept nothing).

``hub demo --check`` (:mod:`ops.demo.check`) drives the same class for a fixed time, then
drains and reconciles.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import httpx

from ops.demo.catalog import SYSTEMS, get_system
from ops.demo.progress import ProgressPrinter, Row, format_block
from ops.demo.systems import DemoEnv, RunningSystem, SystemSpec, load_config
from ops.settings import HubSettings


class DemoError(RuntimeError):
    """The demo could not set a system up (the message says which and why)."""


def parse_systems(text: str | None) -> list[str]:
    """``"a,b"`` -> ``["a", "b"]`` (validated against the catalog); empty/None -> every system."""
    if not text:
        return list(SYSTEMS)
    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        get_system(name)  # KeyError naming the valid ones
    return list(dict.fromkeys(names))


class TokenAuth(httpx.Auth):
    """Bearer token from ``POST /oauth/token`` (client credentials), fetched again on a 401."""

    def __init__(self, hub_url: str, client_id: str, secret: str):
        self.token_url, self.credentials = f"{hub_url}/oauth/token", (client_id, secret)
        self.token: str | None = None

    def _fetch(self) -> str:
        r = httpx.post(self.token_url, data={"grant_type": "client_credentials"}, auth=self.credentials, timeout=10)
        if r.status_code != 200:
            raise DemoError(f"the hub refused the demo's token request ({r.status_code}): {r.text[:300]}")
        return r.json()["access_token"]

    def auth_flow(self, request):
        if self.token is None:
            self.token = self._fetch()
        request.headers["Authorization"] = f"Bearer {self.token}"
        response = yield request
        if response.status_code == 401:
            self.token = self._fetch()
            request.headers["Authorization"] = f"Bearer {self.token}"
            yield request


@dataclass
class Instance:
    """One simulated system connected to the hub by one connector."""

    spec: SystemSpec
    connector: str
    source_system: str
    seed: int
    workdir: Path
    running: RunningSystem | None = None
    config: dict = field(default_factory=dict)
    kind: str = "source"
    """``source`` (reconciled against the standard topics) or ``sink`` (delivers to the system)."""

    @property
    def simulator(self):
        return self.running.simulator if self.running else None

    @property
    def emitted(self) -> int:
        return len(self.simulator.ledger) if self.running else 0


class DemoDriver:
    """Builds, registers, grows and watches the demo's systems (see the module docstring).

    ``grow`` records are emitted per system every ``grow_interval`` seconds while
    :meth:`run` runs. Use as a context manager or call :meth:`close`.
    """

    def __init__(self, settings: HubSettings, workdir: Path, *, hub_url: str | None = None,
                 bootstrap: str | None = None, seed: int = 1, count: int = 200, bad_ratio: float = 0.05,
                 grow: int = 2, grow_interval: float = 1.0, out: TextIO | None = None,
                 redraw: bool | None = None, fresh_workdir: bool = True):
        self.settings = settings
        self.workdir = Path(workdir)
        self.hub_url = (hub_url or f"http://{settings.api_host}:{settings.api_port}").rstrip("/")
        self.bootstrap = bootstrap or settings.kafka_bootstrap
        self.seed, self.count, self.bad_ratio = seed, count, bad_ratio
        self.grow, self.grow_interval = grow, grow_interval
        self.out = out or sys.stdout
        self.printer = ProgressPrinter(self.out, redraw)
        self.fresh_workdir = fresh_workdir
        self.instances: list[Instance] = []
        self.http: httpx.Client | None = None
        self.tail = None
        self._client: tuple[str, str] | None = None
        self._db = None
        self._started = time.monotonic()
        self._samples: dict[str, deque] = {}
        self._baseline: dict[str, dict] = {}
        self.growing = True

    # -- setup -----------------------------------------------------------------------------

    def add(self, name: str, *, connector: str | None = None, source_system: str | None = None,
            seed: int | None = None) -> Instance:
        """Select system ``name`` (before :meth:`start`); ``connector`` / ``source_system`` override
        the config file's (e.g. two instances of one system), ``seed`` the driver's."""
        spec = get_system(name)
        # One shared work dir, as the system table expects (systems may share a simulator, e.g.
        # the 12345 platform and its feedback sink); a renamed second instance gets its own.
        inst = Instance(spec, connector or "", source_system or "", self.seed if seed is None else seed,
                        self.workdir / connector if connector else self.workdir)
        self.instances.append(inst)
        return inst

    def _ensure_client(self) -> tuple[str, str]:
        from hub_api.auth import service
        from hub_api.db import Database

        self._db = Database(self.settings.database_url)
        out = service.cli_create(self._db, self.settings, "demo driver", "service", ["connectors:write"])
        return out["id"], out["secret"]

    def _ensure_dead_letter_topics(self) -> None:
        from kafka import KafkaAdminClient

        from topics.catalog import dead_letter_topic
        from topics.provision import ensure_topic

        admin = KafkaAdminClient(**{**self.settings.kafka_client_config(), "bootstrap_servers": self.bootstrap},
                                 client_id="hub-demo-admin", request_timeout_ms=10000)
        try:
            for inst in self.instances:
                ensure_topic(admin, dead_letter_topic(inst.connector), partitions=1,
                             replication_factor=self.settings.topic_replication_factor)
        finally:
            admin.close()

    def start(self) -> None:
        """Create the demo client, then build, register and start every selected system."""
        from ops.demo.topics import DeadLetterTail
        from topics.catalog import dead_letter_topic

        if not self.instances:
            raise DemoError("no systems selected")
        if self.fresh_workdir and self.workdir.exists():
            shutil.rmtree(self.workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._client = self._ensure_client()
        self.http = httpx.Client(base_url=self.hub_url, auth=TokenAuth(self.hub_url, *self._client), timeout=30)
        for inst in self.instances:
            inst.workdir.mkdir(parents=True, exist_ok=True)
            env = DemoEnv(inst.workdir, self.hub_url, seed=inst.seed, count=self.count, bad_ratio=self.bad_ratio)
            try:
                inst.running = inst.spec.make(env)
                config = load_config(inst.spec, inst.running.values, name=inst.connector or None)
            except Exception as exc:
                raise DemoError(f"{inst.spec.name}: could not start its simulator: {type(exc).__name__}: {exc}") from exc
            if inst.source_system:
                config["source_system"] = inst.source_system
            inst.connector, inst.source_system, inst.config = config["name"], config["source_system"], config
        if self.bootstrap:
            self._ensure_dead_letter_topics()
        for inst in self.instances:
            self._register(inst.config)
            inst.kind = self._call("GET", f"/connectors/{inst.connector}").json().get("type") or "source"
            inst.running.start()
        # Counters are kept across restarts of a connector: show this run's share.
        self._baseline = {name: dict(st.get("counters") or {}) for name, st in self.statuses().items()}
        if self.bootstrap:
            self.tail = DeadLetterTail(self.bootstrap, {i.connector: dead_letter_topic(i.connector)
                                                        for i in self.instances},
                                       self.settings.kafka_client_config()).start()
        self._started = time.monotonic()

    def _call(self, method: str, path: str, ok: tuple[int, ...] = (200, 201, 202, 204), **kw) -> httpx.Response:
        r = self.http.request(method, path, **kw)
        if r.status_code not in ok:
            raise DemoError(f"{method} {path}: HTTP {r.status_code}: {r.text[:500]}")
        return r

    def _register(self, config: dict) -> None:
        name = config["name"]
        r = self._call("POST", "/connectors", json=config, ok=(201, 409))
        if r.status_code == 201:
            return
        # Left by an earlier demo run: that data is gone, start this connector afresh.
        self._call("PUT", f"/connectors/{name}/stop")
        deadline = time.monotonic() + 60
        while self._call("GET", f"/connectors/{name}/status").json()["state"] != "STOPPED":
            if time.monotonic() > deadline:
                raise DemoError(f"connector {name} did not stop within 60 s (is a connect worker running?)")
            time.sleep(0.5)
        self._call("DELETE", f"/connectors/{name}/offsets")
        self._call("PUT", f"/connectors/{name}/config", json=config)
        self._call("PUT", f"/connectors/{name}/resume")

    # -- running ---------------------------------------------------------------------------

    def grow_once(self) -> None:
        """Every system emits ``grow`` more records (when growing)."""
        if not self.growing or self.grow <= 0:
            return
        for sim in {id(i.simulator): i.simulator for i in self.instances}.values():  # a shared one once
            sim.emit(self.grow)

    def stop_growth(self) -> None:
        self.growing = False

    def statuses(self) -> dict[str, dict]:
        """``GET /connectors?expand=status``: the status of each of the demo's connectors."""
        body = self._call("GET", "/connectors", params={"expand": "status"}).json()
        return {i.connector: (body.get(i.connector) or {}).get("status") or {} for i in self.instances}

    def offsets(self, connector: str) -> dict[str, str]:
        body = self._call("GET", f"/connectors/{connector}/offsets").json()
        return {o["partition"]: o["offset"] for o in body["offsets"]}

    def rows(self) -> list[Row]:
        statuses, now, rows = self.statuses(), time.monotonic(), []
        for inst in self.instances:
            st = statuses.get(inst.connector) or {}
            base = self._baseline.get(inst.connector) or {}
            c = {k: int(v) - int(base.get(k, 0)) for k, v in (st.get("counters") or {}).items()}
            polled = int(c.get("polled", 0))
            # rate over the last ~10 s (the worker reports counters every few seconds)
            samples = self._samples.setdefault(inst.connector, deque())
            samples.append((now, polled))
            while len(samples) > 2 and now - samples[1][0] >= 10:
                samples.popleft()
            at, before = samples[0]
            rate = (polled - before) / (now - at) if now - at > 0.5 and polled >= before else 0.0
            rows.append(Row(inst.spec.name if inst.connector == inst.spec.name else inst.connector, inst.connector,
                            st.get("state", "?"), inst.emitted, polled, int(c.get("produced", 0)),
                            int(c.get("dead_lettered", 0)), int(c.get("failures", 0)), rate, st.get("last_error")))
        return rows

    def show_progress(self, note: str | None = None) -> None:
        try:
            rows = self.rows()
        except (httpx.HTTPError, DemoError) as exc:
            self.out.write(f"demo: hub API not answering ({type(exc).__name__}); retrying\n")
            self.out.flush()
            return
        reasons = self.tail.snapshot() if self.tail else {}
        self.printer.show(format_block(rows, reasons, time.monotonic() - self._started, note))

    def run(self, stop: threading.Event, duration: float | None = None, progress_every: float = 2.0,
            quiet: bool = False) -> None:
        """Grow the sources and show progress until ``stop`` is set or ``duration`` seconds passed."""
        end = None if duration is None else time.monotonic() + duration
        next_grow = next_show = time.monotonic()
        while not stop.is_set() and (end is None or time.monotonic() < end):
            now = time.monotonic()
            if now >= next_grow:
                self.grow_once()
                next_grow = now + self.grow_interval
            if not quiet and now >= next_show:
                self.show_progress()
                next_show = now + progress_every
            stop.wait(max(0.05, min(next_grow, next_show if not quiet else next_grow,
                                    end or float("inf")) - time.monotonic()))

    def wait_drained(self, quiet: float = 8.0, timeout: float = 120.0, stop: threading.Event | None = None,
                     on_wait=None) -> dict[str, bool]:
        """After :meth:`stop_growth`: wait until no connector moves any more.

        A connector is drained when it is RUNNING on a live worker and neither its committed
        offsets (read from the API; committed per batch) nor its reported counters changed for
        ``quiet`` seconds (longer than a worker's status round). Bounded by ``timeout``;
        returns ``{connector: drained}``.
        """
        names = [i.connector for i in self.instances]
        seen: dict[str, tuple] = {}
        since: dict[str, float] = {}
        drained = dict.fromkeys(names, False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(drained.values()):
            if stop is not None and stop.is_set():
                break
            statuses = self.statuses()
            now = time.monotonic()
            for name in names:
                st = statuses.get(name) or {}
                snap = (st.get("state"), st.get("worker_id"), tuple(sorted((st.get("counters") or {}).items())),
                        tuple(sorted(self.offsets(name).items())))
                if snap != seen.get(name):
                    seen[name], since[name] = snap, now
                drained[name] = snap[0] == "RUNNING" and now - since[name] >= quiet
            if on_wait:
                on_wait(drained)
            time.sleep(0.5)
        return drained

    # -- stopping --------------------------------------------------------------------------

    def close(self, stop_connectors: bool = False) -> None:
        """Stop the simulators (and, if asked, the connectors), revoke the demo's client."""
        if self.tail:
            self.tail.stop()
        if stop_connectors and self.http:
            for inst in self.instances:
                with contextlib.suppress(httpx.HTTPError):
                    self.http.put(f"/connectors/{inst.connector}/stop", timeout=5)
        for inst in self.instances:
            if inst.running:
                try:
                    inst.simulator.stop()
                except Exception as exc:  # noqa: BLE001 - stop the others regardless
                    print(f"demo: {inst.spec.name}: simulator did not stop cleanly: {type(exc).__name__}",
                          file=sys.stderr)
        if self.http:
            self.http.close()
            self.http = None
        if self._db is not None:
            from hub_api.auth import service

            if self._client:
                with contextlib.suppress(Exception):  # the database may be gone already
                    service.cli_revoke(self._db, self.settings, self._client[0])
            self._db.dispose()
            self._db = None

    def __enter__(self) -> DemoDriver:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def driver_from_args(settings: HubSettings, args, workdir: Path, **kw) -> DemoDriver:
    driver = DemoDriver(settings, workdir, seed=args.seed, count=args.count, bad_ratio=args.bad_ratio,
                        grow=args.grow, grow_interval=args.grow_interval, **kw)
    for name in parse_systems(args.systems):
        driver.add(name)
    return driver


def run_demo(settings: HubSettings, args) -> int:
    """``hub demo run``: drive the demo against the running hub until SIGINT / SIGTERM."""
    try:
        driver = driver_from_args(settings, args, Path(args.workdir) if args.workdir else settings.var_dir / "demo",
                                  redraw=False if args.plain else None)
    except KeyError as exc:
        print(f"hub: {exc.args[0]}", file=sys.stderr)
        return 2
    if not driver.bootstrap:
        print("hub: the demo needs HUB_KAFKA_BOOTSTRAP (hub up --demo sets it)", file=sys.stderr)
        return 2
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        driver.start()
        print(f"demo: {len(driver.instances)} systems connected through {driver.hub_url}/connectors "
              f"(work dir {driver.workdir}); Ctrl-C stops", flush=True)
        for inst in driver.instances:
            print(f"demo:   {inst.connector:<24} {inst.spec.title}", flush=True)
        driver.run(stop, progress_every=args.progress_every)
        return 0
    except DemoError as exc:
        print(f"hub: demo: {exc}", file=sys.stderr)
        return 1
    finally:
        driver.close(stop_connectors=True)
        for s, h in previous.items():
            signal.signal(s, h)
        print("demo: simulators stopped", flush=True)

