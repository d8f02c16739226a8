"""Harness for processor integration tests: a private broker, the API and ``hub process`` as a subprocess.

Each :class:`ProcessorHub` gets its own Tansu broker (topics provisioned from the catalog),
so consumer-group offsets and topic contents never leak between tests, its own database
(the test's ``database_url``: SQLite file or PostgreSQL schema), the real API on a thread
(schema registry) and ``hub process`` in a subprocess that tests may ``kill -9``.

    with ProcessorHub(database_url, tmp_path, processors="entities") as hub:
        hub.produce("entity.updates", [record, ...])
        hub.start_processor()
        hub.wait_for(lambda: hub.scalar("select count(*) from entities") == 10)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import httpx
from sqlalchemy import text

from hub_api.db import Database
from hub_api.main import create_app
from hub_api.registry.client import RegistryClient
from ops.broker import EmbeddedBroker, free_port
from ops.settings import HubSettings
from ops.threaded_server import ThreadedServer
from schemas import loader
from topics.catalog import get as get_topic
from topics.serde import AvroSerializer
from topics.transport import make_producer

REPO = Path(__file__).resolve().parents[3]


class ProcessorHub:
    def __init__(self, database_url: str, workdir: Path, processors: str | None = None,
                 env: dict[str, str] | None = None, module: str = "ops.cli") -> None:
        self.database_url = database_url
        self.workdir = Path(workdir)
        self.processors = processors
        self.extra_env = env or {}
        self.command = [sys.executable, "-m", module] + (["process"] if module == "ops.cli" else [])
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def __enter__(self) -> ProcessorHub:
        from kafka import KafkaAdminClient

        from topics import provision

        self.broker = EmbeddedBroker(log_path=self.workdir / "broker.log")
        self.bootstrap = self.broker.start()
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=10000)
        try:
            provision.apply(admin, replication_factor=1)
        finally:
            admin.close()
        self.settings = HubSettings(kafka_bootstrap=self.bootstrap, database_url=self.database_url,
                                    environment="test", log_json=False, var_dir=self.workdir / "var")
        self.db = Database(self.database_url)
        self.app = create_app(self.settings, self.db)
        self.api = ThreadedServer(self.app)
        self.api.start()
        self.registry_url = f"{self.api.url}/registry"
        self.registry = RegistryClient(self.registry_url)
        self.producer = make_producer(self.settings)
        self._serializers: dict[str, AvroSerializer] = {}
        self.processor_port = free_port()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_processor()
        self.producer.close()
        self.registry.close()
        self.api.stop()
        self.db.dispose()
        self.broker.stop()

    # -- inputs --------------------------------------------------------------------------
    def serializer(self, topic: str) -> AvroSerializer:
        if topic not in self._serializers:
            spec = get_topic(topic)
            self._serializers[topic] = AvroSerializer(self.registry, spec.value_subject,
                                                      loader.schema_json(spec.value_schema))
        return self._serializers[topic]

    def produce(self, topic: str, values: Iterable[dict], key_field: str | None = None) -> int:
        """Encode ``values`` with the standard schema and produce them (keyed by the catalog key)."""
        spec = get_topic(topic)
        path = (key_field or spec.key_field).split(".")
        ser, n, errors = self.serializer(topic), 0, []
        for value in values:
            key = value
            for part in path:
                key = key[part]
            self.producer.send(topic, ser(value), key=str(key).encode("utf-8"),
                               on_delivery=lambda d: errors.append(d.error) if not d.ok else None)
            n += 1
        self.producer.flush(60)
        assert not errors, errors[:3]
        return n

    def produce_raw(self, topic: str, value: bytes, key: bytes = b"k") -> None:
        self.producer.send(topic, value, key=key)
        self.producer.flush(30)

    # -- the processor subprocess ----------------------------------------------------------
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        env.update({
            "HUB_KAFKA_BOOTSTRAP": self.bootstrap, "HUB_DATABASE_URL": self.database_url,
            "HUB_REGISTRY_URL": self.registry_url, "HUB_PROCESSOR_PORT": str(self.processor_port),
            "HUB_VAR_DIR": str(self.workdir / "var"), "HUB_ENVIRONMENT": "test", "HUB_LOG_JSON": "false",
            "HUB_LOG_LEVEL": "WARNING", "PYTHONPATH": str(REPO),
        })
        if self.processors:
            env["HUB_PROCESSORS"] = self.processors
        env.update(self.extra_env)
        return env

    def start_processor(self, wait: bool = True) -> subprocess.Popen:
        assert self.proc is None or self.proc.poll() is not None, "processor already running"
        self.starts += 1
        log = open(self.workdir / f"process-{self.starts}.log", "wb")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(self.command, env=self.env(), cwd=self.workdir,
                                     stdout=log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_for(self._healthy, timeout=60, what="hub process /healthz")
        return self.proc

    def _healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"hub process exited with {self.proc.returncode}:\n{self.log_tail()}")
        try:
            return httpx.get(f"http://127.0.0.1:{self.processor_port}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def kill_processor(self) -> None:
        """``kill -9``: no shutdown, no commit, no flush."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop_processor(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def log_tail(self, chars: int = 4000) -> str:
        path = self.workdir / f"process-{self.starts}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def metrics(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.processor_port}/metrics", timeout=5).text

    # -- observing -------------------------------------------------------------------------
    def scalar(self, sql: str, **params):
        with self.db.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def rows(self, sql: str, **params) -> list:
        with self.db.engine.connect() as conn:
            return conn.execute(text(sql), params).all()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 90.0, what: str = "condition",
                 interval: float = 0.25) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n--- hub process log ---\n{self.log_tail()}")
