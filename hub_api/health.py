"""Health and metrics endpoints: ``/healthz`` (database + broker reachability) and ``/metrics``."""

from __future__ import annotations

import threading
import time

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

router = APIRouter(tags=["health"])

_BROKER_CACHE_SECONDS = 5.0


class BrokerProbe:
    """Cached broker reachability: one metadata request at most every few seconds."""

    def __init__(self, bootstrap: str | None):
        self.bootstrap = bootstrap
        self._lock = threading.Lock()
        self._at = 0.0
        self._result: dict = {}

    def check(self) -> dict:
        with self._lock:
            if time.monotonic() - self._at < _BROKER_CACHE_SECONDS and self._result:
                return self._result
            self._result = self._probe()
            self._at = time.monotonic()
            return self._result

    def _probe(self) -> dict:
        if not self.bootstrap:
            return {"ok": False, "error": "no Kafka bootstrap configured (HUB_KAFKA_BOOTSTRAP)"}
        from kafka import KafkaAdminClient

        started = time.perf_counter()
        try:
            admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=2000,
                                     client_id="hub-healthz")
            try:
                topics = len(admin.list_topics())
            finally:
                admin.close()
        except Exception as exc:  # noqa: BLE001 - any failure means unreachable
            return {"ok": False, "bootstrap": self.bootstrap, "error": f"{type(exc).__name__}: {exc}"[:300]}
        return {"ok": True, "bootstrap": self.bootstrap, "topics": topics,
                "latency_ms": round((time.perf_counter() - started) * 1000, 1)}


def _check_database(request: Request) -> dict:
    started = time.perf_counter()
    try:
        with request.app.state.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": f"{type(exc).__name__}"}
    return {"ok": True, "dialect": request.app.state.db.engine.dialect.name,
            "latency_ms": round((time.perf_counter() - started) * 1000, 1)}


@router.get("/healthz", summary="Liveness and dependency reachability",
            responses={503: {"description": "A dependency is unreachable"}})
async def healthz(request: Request, response: Response) -> dict:
    """200 with ``status: ok`` when the database and the broker answer; 503 otherwise."""
    database = await run_in_threadpool(_check_database, request)
    broker = await run_in_threadpool(request.app.state.broker_probe.check)
    metrics = request.app.state.metrics
    metrics.dependency_checked("database", database["ok"])
    metrics.dependency_checked("kafka", broker["ok"])
    healthy = database["ok"] and broker["ok"]
    response.status_code = 200 if healthy else 503
    return {"status": "ok" if healthy else "degraded", "checks": {"database": database, "kafka": broker}}


@router.get("/metrics", summary="Prometheus exposition", response_class=Response)
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
