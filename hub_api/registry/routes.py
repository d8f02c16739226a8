"""Confluent Schema Registry REST API (AVRO only), built as a router the app mounts at ``/registry``.

Mounting (the lead's app)::

    from hub_api.auth.deps import require_scope
    from hub_api.registry.routes import build_router, install_error_handlers

    app.include_router(build_router(require_scope("schemas:write")), prefix="/registry")
    install_error_handlers(app)  # 404/405 on unknown /registry paths in Confluent's shape

Reads are open; every write (register, config changes, deletes) runs ``write_dependency``
first. Every error of a registry route -- store errors, request validation, an
``HTTPException`` from ``write_dependency`` -- is answered by the route class itself as
``{"error_code": int, "message": str}`` with ``application/vnd.schemaregistry.v1+json``,
whatever exception handlers the app installs. Handlers are sync and run in the thread pool.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub_api.deps import SessionDep, SettingsDep
from hub_api.registry.store import RegistryAPIError, RegistryStore

MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"


class RegistryJSONResponse(JSONResponse):
    media_type = MEDIA_TYPE


def error_response(
    status: int, error_code: int, message: str, headers: dict | None = None
) -> JSONResponse:
    """A Confluent error body: ``{"error_code": ..., "message": ...}``."""
    return RegistryJSONResponse(
        {"error_code": error_code, "message": message}, status_code=status, headers=headers
    )


def validation_error_response(exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(400, 400, "Malformed JSON request body")
    text = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in errors
    )
    on_schema = any(tuple(e.get("loc", ()))[:2] == ("body", "schema") for e in errors)
    return error_response(422, 42201 if on_schema else 422, text or "Unprocessable entity")


def http_error_response(exc: StarletteHTTPException) -> JSONResponse:
    detail: Any = exc.detail
    if isinstance(detail, dict):
        code = detail.get("error_code", exc.status_code)
        message = detail.get("message") or detail.get("detail") or str(detail)
    else:
        code, message = exc.status_code, str(detail)
    return error_response(
        exc.status_code,
        int(code) if str(code).isdigit() else exc.status_code,
        str(message),
        headers=getattr(exc, "headers", None),
    )


class _RegistryRoute(APIRoute):
    """Answers every error raised while handling a registry request in Confluent's shape."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def handle(request: Request):
            try:
                return await handler(request)
            except RegistryAPIError as exc:
                return error_response(exc.status, exc.error_code, exc.message)
            except RequestValidationError as exc:
                return validation_error_response(exc)
            except StarletteHTTPException as exc:
                return http_error_response(exc)

        return handle


def install_error_handlers(app: FastAPI, prefix: str = "/registry") -> None:
    """Answer HTTP and validation errors on paths under ``prefix`` (e.g. an unknown registry
    path) in Confluent's error shape; other paths keep FastAPI's default answers.

    Installs handlers for ``HTTPException``, ``RequestValidationError`` and
    :class:`RegistryAPIError`; an app that has its own handlers for the first two should call
    this first and delegate, or rely on the route class, which covers every registry route.
    """

    def ours(request: Request) -> bool:
        return request.url.path.startswith(prefix)

    async def on_http(request: Request, exc: StarletteHTTPException):
        return http_error_response(exc) if ours(request) else await http_exception_handler(request, exc)

    async def on_validation(request: Request, exc: RequestValidationError):
        if ours(request):
            return validation_error_response(exc)
        return await request_validation_exception_handler(request, exc)

    async def on_registry(_request: Request, exc: RegistryAPIError):
        return error_response(exc.status, exc.error_code, exc.message)

    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(RegistryAPIError, on_registry)


class SchemaRequest(BaseModel):
    """Body of register, lookup and compatibility requests (extra Confluent fields ignored)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    schema_text: str = Field(alias="schema", min_length=1)
    schema_type: str | None = Field("AVRO", alias="schemaType")
    references: list[dict] | None = None

    def checked(self) -> SchemaRequest:
        if self.references:
            raise RegistryAPIError(
                422, 42201, "Invalid schema: schema references are not supported"
            )
        return self


class ConfigRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    compatibility: str | None = None
    compatibilityLevel: str | None = None  # noqa: N815 - Confluent's field name

    @property
    def level(self) -> str | None:
        return self.compatibility or self.compatibilityLevel


def get_store(session: SessionDep, settings: SettingsDep) -> RegistryStore:
    return RegistryStore(session, settings.registry_default_compatibility)


StoreDep = Annotated[RegistryStore, Depends(get_store)]
SchemaBody = Annotated[SchemaRequest, Body()]


def _version_body(subject: str, row, schema) -> dict:
    return {
        "subject": subject,
        "version": row.version,
        "id": schema.id,
        "schema": schema.schema_text,
    }


def build_router(write_dependency: Callable[..., Any]) -> APIRouter:
    """The registry router; ``write_dependency`` guards every write endpoint (e.g.
    ``require_scope("schemas:write")``), reads are unguarded. Mount it at ``/registry``."""
    router = APIRouter(
        route_class=_RegistryRoute,
        default_response_class=RegistryJSONResponse,
        tags=["schema registry"],
    )
    write = [Depends(write_dependency)]

    # ---- schemas by id ----
    @router.get("/schemas/types")
    def schema_types() -> list[str]:
        return ["AVRO"]

    @router.get("/schemas/ids/{schema_id}")
    def schema_by_id(schema_id: int, store: StoreDep, subject: str | None = None) -> dict:
        return {"schema": store.schema_by_id(schema_id).schema_text}

    @router.get("/schemas/ids/{schema_id}/schema")
    def raw_schema_by_id(schema_id: int, store: StoreDep) -> Any:
        return RegistryJSONResponse(_raw(store.schema_by_id(schema_id).schema_text))

    @router.get("/schemas/ids/{schema_id}/versions")
    def schema_versions(schema_id: int, store: StoreDep, deleted: bool = False) -> list[dict]:
        return [{"subject": s, "version": v} for s, v in store.schema_versions(schema_id, deleted)]

    @router.get("/schemas/ids/{schema_id}/subjects")
    def schema_subjects(schema_id: int, store: StoreDep, deleted: bool = False) -> list[str]:
        return sorted({s for s, _ in store.schema_versions(schema_id, deleted)})

    # ---- subjects ----
    @router.get("/subjects")
    def subjects(
        store: StoreDep, deleted: bool = False, subjectPrefix: str | None = None
    ) -> list[str]:  # noqa: N803
        return store.subjects(include_deleted=deleted, prefix=subjectPrefix)

    @router.get("/subjects/{subject}/versions")
    def versions(subject: str, store: StoreDep, deleted: bool = False) -> list[int]:
        return store.versions(subject, include_deleted=deleted)

    @router.get("/subjects/{subject}/versions/{version}")
    def version(subject: str, version: str, store: StoreDep, deleted: bool = False) -> dict:
        row, schema = store.get_version(subject, version, include_deleted=deleted)
        return _version_body(subject, row, schema)

    @router.get("/subjects/{subject}/versions/{version}/schema")
    def version_schema(subject: str, version: str, store: StoreDep, deleted: bool = False) -> Any:
        _row, schema = store.get_version(subject, version, include_deleted=deleted)
        return RegistryJSONResponse(_raw(schema.schema_text))

    @router.get("/subjects/{subject}/versions/{version}/referencedby")
    def referenced_by(subject: str, version: str, store: StoreDep) -> list[int]:
        store.get_version(subject, version)
        return []

    @router.post("/subjects/{subject}/versions", dependencies=write)
    def register(subject: str, body: SchemaBody, store: StoreDep) -> dict:
        req = body.checked()
        schema_id, _version = store.register(subject, req.schema_text, req.schema_type)
        return {"id": schema_id}

    @router.post("/subjects/{subject}")
    def lookup(subject: str, body: SchemaBody, store: StoreDep, deleted: bool = False) -> dict:
        req = body.checked()
        row, schema = store.lookup(
            subject, req.schema_text, req.schema_type, include_deleted=deleted
        )
        return _version_body(subject, row, schema)

    @router.delete("/subjects/{subject}", dependencies=write)
    def delete_subject(subject: str, store: StoreDep, permanent: bool = False) -> list[int]:
        return store.delete_subject(subject, permanent=permanent)

    @router.delete("/subjects/{subject}/versions/{version}", dependencies=write)
    def delete_version(subject: str, version: str, store: StoreDep, permanent: bool = False) -> int:
        return store.delete_version(subject, version, permanent=permanent)

    # ---- compatibility ----
    def _compat_answer(messages: list[str], verbose: bool) -> dict:
        out: dict[str, Any] = {"is_compatible": not messages}
        if verbose:
            out["messages"] = messages
        return out

    @router.post("/compatibility/subjects/{subject}/versions/{version}")
    def check_version(
        subject: str, version: str, body: SchemaBody, store: StoreDep, verbose: bool = False
    ) -> dict:
        req = body.checked()
        return _compat_answer(
            store.check(subject, req.schema_text, version, req.schema_type), verbose
        )

    @router.post("/compatibility/subjects/{subject}/versions")
    def check_all(subject: str, body: SchemaBody, store: StoreDep, verbose: bool = False) -> dict:
        req = body.checked()
        return _compat_answer(store.check(subject, req.schema_text, None, req.schema_type), verbose)

    # ---- config and mode ----
    @router.get("/config")
    def get_global_config(store: StoreDep) -> dict:
        return {"compatibilityLevel": store.compatibility()}

    @router.put("/config", dependencies=write)
    def put_global_config(body: ConfigRequest, store: StoreDep) -> dict:
        return {"compatibility": store.set_compatibility(body.level)}

    @router.delete("/config", dependencies=write)
    def delete_global_config(store: StoreDep) -> dict:
        return {"compatibilityLevel": store.delete_compatibility()}

    @router.get("/config/{subject}")
    def get_subject_config(subject: str, store: StoreDep, defaultToGlobal: bool = False) -> dict:  # noqa: N803
        return {
            "compatibilityLevel": store.compatibility(subject, default_to_global=defaultToGlobal)
        }

    @router.put("/config/{subject}", dependencies=write)
    def put_subject_config(subject: str, body: ConfigRequest, store: StoreDep) -> dict:
        return {"compatibility": store.set_compatibility(body.level, subject)}

    @router.delete("/config/{subject}", dependencies=write)
    def delete_subject_config(subject: str, store: StoreDep) -> dict:
        return {"compatibilityLevel": store.delete_compatibility(subject)}

    @router.get("/mode")
    def get_mode() -> dict:
        return {"mode": "READWRITE"}

    @router.get("/mode/{subject}")
    def get_subject_mode(subject: str) -> dict:
        return {"mode": "READWRITE"}

    return router


def _raw(schema_text: str) -> Any:
    """The stored schema as JSON (the ``/schema`` endpoints return it unwrapped)."""
    return json.loads(schema_text)
