"""The hub API application factory.

``create_app(settings, db)`` builds a FastAPI app whose state holds the settings,
the database, the metrics and the broker probe. On startup it creates the schema
(idempotent) and, on first start only, an operator client whose credentials it
prints once to stderr.
"""

from __future__ import annotations

import logging
import sys
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from connectors.declarative.push_api import build_push_router
from hub_api.auth.deps import require_scope
from hub_api.auth.routes import router as auth_router
from hub_api.auth.service import AuthService
from hub_api.cases.routes import router as cases_router
from hub_api.connectors.routes import router as connectors_router
from hub_api.connectors.routes import store_for_app
from hub_api.db import Database
from hub_api.federation.routes import router as federation_router
from hub_api.health import BrokerProbe
from hub_api.health import router as health_router
from hub_api.officers.routes import router as officers_router
from hub_api.quality.routes import router as quality_router
from hub_api.registries.entities import router as entities_router
from hub_api.registries.items import router as items_router
from hub_api.registry.routes import build_router as build_registry_router
from hub_api.registry.routes import http_error_response as registry_http_response
from hub_api.registry.routes import install_error_handlers as install_registry_error_handlers
from hub_api.registry.routes import validation_error_response as registry_validation_response
from hub_api.registry.standard import register_standard
from hub_api.risk.routes import router as risk_router
from hub_api.risk.webhooks import router as risk_webhooks_router
from hub_api.sampling.routes import router as sampling_router
from hub_api.tasks.routes import router as tasks_router
from hub_api.triage.routes import router as triage_router
from ops.metrics import ApiMetrics, new_registry
from ops.settings import HubSettings, get_settings

log = logging.getLogger("hub_api")

API_VERSION = "0.1.0"

TAGS = [
    {"name": "schema-registry", "description": "Confluent Schema Registry REST API (統一數據標準 / data standard)."},
    {"name": "connectors", "description": "Connector registration, modelled on Kafka Connect's REST API."},
    {"name": "auth", "description": "OAuth2 client-credentials tokens for API clients."},
    {"name": "health", "description": "Health and Prometheus metrics."},
    {"name": "cases", "description": "Penalty-case tracker (1+N): case status, history, statutory clocks and supervision alerts (執法監督)."},
    {"name": "registries", "description": "Supervised-object registry and item catalog: who supervises whom, for what."},
    {"name": "sampling", "description": "Double random, one public (雙隨機、一公開): plans, verifiable draws, results."},
    {"name": "quality", "description": "Data quality per source system and department (統一數據標準)."},
    {"name": "federation", "description": "Cross-province dispatch between hubs: signed, replay-proof, idempotent messages (跨省協同)."},
    {"name": "risk", "description": "Risk push-and-feedback loop (統一風險預警中心): receive, feed back, return; clue state and figures."},
    {"name": "tasks", "description": "Joint supervision tasks (聯合監管任務): fan-out, actions, merged visits, escalation, cross-province leg."},
    {"name": "officers", "description": "Officer registry, electronic certificates and public verification (統一執法主體庫)."},
    {"name": "triage", "description": "Complaint-to-enforcement triage (統一業務協同中心): leads per department, handling feedback."},
]


def announce_operator(creds: tuple[str, str]) -> None:
    """Print the first operator's credentials once; they are not stored in clear anywhere."""
    client_id, secret = creds
    print(
        "\n=== Supervision Integration Hub: operator client created (shown once) ===\n"
        f"client_id:     {client_id}\nclient_secret: {secret}\n"
        "Store the secret now; manage clients with `hub clients create|list|revoke`.\n",
        file=sys.stderr, flush=True,
    )


def create_app(settings: HubSettings | None = None, db: Database | None = None) -> FastAPI:
    """Build the API. Passing ``db`` lets tests and ``hub up`` share one engine."""
    settings = settings or get_settings()
    db = db or Database(settings.database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        db.create_schema()
        resealed = store_for_app(app).reseal()
        if resealed["resealed"] or resealed["unreadable"]:
            log.warning("connector secrets resealed", extra=resealed)
        if settings.registry_register_standard:
            register_standard(db, settings)
        creds = AuthService(db, settings).ensure_operator()
        if creds:
            announce_operator(creds)
        log.info("hub api started", extra={"database": db.engine.dialect.name})
        yield
        log.info("hub api stopping")

    app = FastAPI(
        title="Supervision Integration Hub API",
        version=API_VERSION,
        description=(
            "互聯網+監管 integration hub: schema registry, authentication, health. "
            "Errors are JSON with a machine-readable `error` (or Confluent `error_code` under /registry)."
        ),
        openapi_tags=TAGS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.metrics = ApiMetrics(new_registry())
    app.state.broker_probe = BrokerProbe(settings.kafka_bootstrap)

    _install_request_metrics(app)
    install_registry_error_handlers(app)  # first: ours below replace its generic handlers and delegate
    _install_error_handlers(app)
    app.include_router(health_router)
    app.include_router(auth_router)
    app.include_router(connectors_router)
    app.include_router(cases_router)
    app.include_router(entities_router)
    app.include_router(items_router)
    app.include_router(sampling_router)
    app.include_router(quality_router)
    app.include_router(officers_router)
    app.include_router(federation_router)
    app.include_router(tasks_router)
    app.include_router(risk_router)
    app.include_router(risk_webhooks_router)
    app.include_router(triage_router)
    app.include_router(build_push_router())
    app.include_router(
        build_registry_router(require_scope("schemas:write")), prefix="/registry", tags=["schema-registry"]
    )
    return app


def _install_request_metrics(app: FastAPI) -> None:
    metrics: ApiMetrics = app.state.metrics

    @app.middleware("http")
    async def record(request: Request, call_next):
        metrics.request_started()
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            elapsed = time.perf_counter() - started
            template = _route_template(request.scope)
            metrics.observe_request(request.method, template, status, elapsed)
            if template not in ("/metrics", "/healthz"):
                log.info("request", extra={"method": request.method, "route": template,
                                           "status": status, "ms": round(elapsed * 1000, 2)})


def _route_template(scope: dict) -> str:
    """The matched route's full path template (bounded label), or ``unmatched``."""
    # FastAPI >= 0.16x keeps an included router's route with its own (unprefixed) path in
    # scope["route"]; the effective context carries the full template.
    context = (scope.get("fastapi") or {}).get("effective_route_context")
    path = getattr(context, "path", None) or getattr(scope.get("route"), "path", None)
    return path or "unmatched"


def _install_error_handlers(app: FastAPI) -> None:
    """Machine-readable error bodies outside /registry (which keeps Confluent's shape)."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if request.url.path.startswith("/registry"):
            return registry_http_response(exc)
        body = exc.detail if isinstance(exc.detail, dict) else {"error": _error_name(exc.status_code), "message": str(exc.detail)}
        return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        if request.url.path.startswith("/registry"):
            return registry_validation_response(exc)
        return JSONResponse(
            {"error": "validation_error", "message": "request does not match the schema; see `detail`",
             "detail": _jsonable_errors(exc.errors())},
            status_code=422,
        )


def _error_name(status: int) -> str:
    return {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
            405: "method_not_allowed", 409: "conflict", 422: "validation_error"}.get(status, "error")


def _jsonable_errors(errors) -> list[dict]:
    return [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in errors]
