"""Shared benchmark scaffolding: a broker and a hub registry for one run, and timing helpers."""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass
class BenchEnv:
    bootstrap: str
    registry_url: str
    writer: tuple[str, str]


@contextlib.contextmanager
def bench_env() -> Iterator[BenchEnv]:
    """A broker (``HUB_KAFKA_BOOTSTRAP`` or an embedded Tansu) and a hub API with its registry on a temp SQLite DB."""
    from hub_api.auth.service import AuthService
    from hub_api.db import Database
    from hub_api.main import create_app
    from ops.broker import EmbeddedBroker
    from ops.settings import HubSettings
    from ops.threaded_server import ThreadedServer

    with contextlib.ExitStack() as stack:
        bootstrap = os.environ.get("HUB_KAFKA_BOOTSTRAP")
        if not bootstrap:
            bootstrap = stack.enter_context(EmbeddedBroker()).bootstrap
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        settings = HubSettings(kafka_bootstrap=bootstrap, database_url=f"sqlite:///{tmp}/bench.db",
                               environment="test", log_level="WARNING")
        db = Database(settings.database_url)
        db.create_schema()
        writer = AuthService(db, settings).create_client("bench", "service", ["schemas:write"])
        server = stack.enter_context(ThreadedServer(create_app(settings, db)))
        yield BenchEnv(bootstrap, f"{server.url}/registry", writer)


class DeliveryCounter:
    """Counts delivery outcomes from any thread; ``wait`` checks nothing was lost."""

    def __init__(self):
        self.ok = 0
        self.failed = 0
        self._lock = threading.Lock()

    def __call__(self, delivery) -> None:
        with self._lock:
            if delivery.ok:
                self.ok += 1
            else:
                self.failed += 1

    def confluent(self, err, _msg) -> None:
        with self._lock:
            if err is None:
                self.ok += 1
            else:
                self.failed += 1


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def progress(label: str) -> None:
    print(f"  … {label}", flush=True)
