"""Connector registration API, modelled on Kafka Connect's REST API.

Mount with ``app.include_router(router)``. Reads need any authenticated client; every change
needs the ``connectors:write`` scope. Errors are JSON ``{"error": <code>, "message": <what to
do>}``. The plugin table is ``app.state.plugins`` when set (tests), else
:data:`connectors.plugins.PLUGINS`. Secrets (``SecretStr`` fields of a plugin's config) are
never returned: they read as ``********``, and a ``********`` sent back keeps the stored value.

The API only records intent (config, target state, generation) in SQL; connect workers
(:mod:`connectors.worker`) act on it and report status.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from connectors.config import ConnectorConfig
from connectors.plugins import PLUGINS
from connectors.runtime.offsets import OffsetStore
from connectors.runtime.plugin import Plugin
from connectors.secret_box import SecretBox
from connectors.store import (
    ConnectorExists,
    ConnectorRecord,
    ConnectorStatus,
    ConnectorStore,
    validate,
)
from hub_api.auth.deps import CurrentPrincipal, require_scope
from hub_api.auth.service import Principal
from hub_api.connectors import secrets

router = APIRouter(tags=["connectors"])

Writer = Annotated[Principal, Depends(require_scope("connectors:write"))]
_CONFIG_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": ConnectorConfig.model_json_schema()}}}}


def _plugins(app) -> Mapping[str, Plugin]:
    plugins = getattr(app.state, "plugins", None)
    return PLUGINS if plugins is None else plugins


def get_plugins(request: Request) -> Mapping[str, Plugin]:
    return _plugins(request.app)


def secret_box(app) -> SecretBox:
    """The app's :class:`SecretBox` (made from its settings on first use; the lifespan makes it at start)."""
    box = getattr(app.state, "secret_box", None)
    if box is None:
        box = app.state.secret_box = SecretBox.from_settings(app.state.settings)
    return box


def store_for_app(app) -> ConnectorStore:
    """The app's connector store, sealing and opening secrets with the app's key."""
    return ConnectorStore(app.state.db, box=secret_box(app), plugins=_plugins(app))


def get_store(request: Request) -> ConnectorStore:
    return store_for_app(request.app)


PluginsDep = Annotated[Mapping[str, Plugin], Depends(get_plugins)]
StoreDep = Annotated[ConnectorStore, Depends(get_store)]


class OffsetEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    partition: str = Field(description="Source partition (table, endpoint, file, queue).")
    offset: str | None = Field(description="Offset to resume after; null forgets the partition (re-read from the start).")


class OffsetsPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    offsets: list[OffsetEntry] = Field(min_length=1, description="Partitions to set or forget.")


def _error(status: int, code: str, message: str, **extra: Any) -> HTTPException:
    return HTTPException(status, detail={"error": code, "message": message, **extra})


def _not_found(name: str) -> HTTPException:
    return _error(404, "connector_not_found", f"no connector {name!r}; list them with GET /connectors")


def _invalid(errors: list[dict]) -> HTTPException:
    return _error(400, "invalid_config", "the connector config is invalid; fix the listed fields "
                  "(PUT /connector-plugins/{plugin}/config/validate checks a config without saving it)",
                  errors=[{"field": e["field"], "message": e["message"]} for e in errors])


def _view(record: ConnectorRecord, plugins: Mapping[str, Plugin]) -> dict:
    plugin = plugins.get(record.plugin)
    config = dict(record.config)
    config["config"] = secrets.mask(config.get("config") or {}, plugin.config_model if plugin else None)
    return {"name": record.name, "type": plugin.kind if plugin else None, "config": config,
            "target_state": record.target_state, "generation": record.generation,
            "created_at": record.created_at, "updated_at": record.updated_at}


def _status_view(status: ConnectorStatus, record: ConnectorRecord | None, plugins: Mapping[str, Plugin]) -> dict:
    plugin = plugins.get(record.plugin) if record else None
    return {"name": status.name, "type": plugin.kind if plugin else None, "state": status.state,
            "worker_id": status.worker_id, "last_error": status.last_error, "counters": status.counters,
            "target_state": status.target_state, "generation": status.generation, "updated_at": status.updated_at}


def _record(store: ConnectorStore, name: str) -> ConnectorRecord:
    record = store.get(name)
    if record is None:
        raise _not_found(name)
    return record


def _validated(body: Any, plugins: Mapping[str, Plugin], previous: ConnectorRecord | None = None) -> ConnectorConfig:
    if not isinstance(body, dict):
        raise _error(400, "invalid_config", "send the connector config as a JSON object")
    if previous is not None and isinstance(body.get("config"), dict):
        plugin = plugins.get(body.get("plugin", previous.plugin))
        if plugin is not None:
            body = {**body, "config": secrets.restore(body["config"], previous.config.get("config"), plugin.config_model)}
    connector, _plugin_config, errors = validate(body, plugins)
    if errors:
        raise _invalid(errors)
    return connector


def _require_stopped(store: ConnectorStore, name: str) -> None:
    store.settle_stopped()
    status = store.status(name)
    if status is None:
        raise _not_found(name)
    if status.target_state != "STOPPED" or status.state != "STOPPED":
        raise _error(409, "connector_not_stopped",
                     f"offsets of {name!r} change only while it is stopped (target {status.target_state}, "
                     f"reported {status.state}): PUT /connectors/{name}/stop, wait until "
                     f"GET /connectors/{name}/status says STOPPED, then retry")


# -- plugins ---------------------------------------------------------------------------------

@router.get("/connector-plugins", summary="List connector plugins and their config JSON schemas")
def list_plugins(_: CurrentPrincipal, plugins: PluginsDep) -> list[dict]:
    return [{"name": p.name, "kind": p.kind, "description": p.description, "config_schema": p.config_schema()}
            for _, p in sorted(plugins.items())]


@router.put("/connector-plugins/{plugin}/config/validate", openapi_extra=_CONFIG_BODY,
            summary="Validate a connector config without saving or starting it (200 even when invalid)")
def validate_plugin_config(plugin: str, _: CurrentPrincipal, plugins: PluginsDep,
                           body: Annotated[Any, Body()] = None) -> dict:
    if plugin not in plugins:
        raise _error(404, "plugin_not_found",
                     f"no connector plugin {plugin!r}; valid plugins: {', '.join(sorted(plugins)) or '(none)'}")
    if not isinstance(body, dict):
        errors = [{"field": "", "message": "send the connector config as a JSON object"}]
    else:
        body = {**body, "plugin": body.get("plugin", plugin)}
        errors = [] if body["plugin"] == plugin else [
            {"field": "plugin", "message": f"config names plugin {body['plugin']!r}, the URL {plugin!r}"}]
        errors += [{"field": e["field"], "message": e["message"]} for e in validate(body, plugins)[2]]
    return {"name": plugin, "error_count": len(errors), "errors": errors}


# -- connectors ------------------------------------------------------------------------------

@router.get("/connectors", summary="List connectors (names; ?expand=status and/or ?expand=info for details)")
def list_connectors(_: CurrentPrincipal, store: StoreDep, plugins: PluginsDep,
                    expand: Annotated[list[Literal["status", "info"]] | None, Query()] = None) -> Any:
    records = store.list()
    if not expand:
        return [r.name for r in records]
    statuses = store.statuses() if "status" in expand else {}
    out = {}
    for r in records:
        entry = {}
        if "info" in expand:
            entry["info"] = _view(r, plugins)
        if "status" in expand and r.name in statuses:
            entry["status"] = _status_view(statuses[r.name], r, plugins)
        out[r.name] = entry
    return out


@router.post("/connectors", status_code=201, openapi_extra=_CONFIG_BODY, summary="Register a connector")
def create_connector(response: Response, _: Writer, store: StoreDep, plugins: PluginsDep,
                     body: Annotated[Any, Body()] = None,
                     initial_state: Literal["RUNNING", "PAUSED", "STOPPED"] = "RUNNING") -> dict:
    connector = _validated(body, plugins)
    try:
        record = store.create(connector, target_state=initial_state)
    except ConnectorExists:
        raise _error(409, "connector_exists", f"connector {connector.name!r} exists; change it with "
                     f"PUT /connectors/{connector.name}/config or delete it first") from None
    response.headers["Location"] = f"/connectors/{record.name}"
    return _view(record, plugins)


@router.get("/connectors/{name}", summary="A connector's config (secrets masked) and target state")
def get_connector(name: str, _: CurrentPrincipal, store: StoreDep, plugins: PluginsDep) -> dict:
    return _view(_record(store, name), plugins)


@router.put("/connectors/{name}/config", openapi_extra=_CONFIG_BODY,
            summary="Create or replace a connector's config (a change restarts it)")
def put_connector_config(name: str, response: Response, _: Writer, store: StoreDep, plugins: PluginsDep,
                         body: Annotated[Any, Body()] = None) -> dict:
    if isinstance(body, dict) and body.setdefault("name", name) != name:
        raise _error(400, "name_mismatch", f"the body names {body['name']!r}, the URL {name!r}; make them agree")
    previous = store.get(name)
    connector = _validated(body, plugins, previous)
    if previous is None:
        try:
            record = store.create(connector)
            response.status_code = 201
            return _view(record, plugins)
        except ConnectorExists:  # created concurrently: update it instead
            pass
    return _view(store.update_config(connector), plugins)


@router.delete("/connectors/{name}", status_code=204, summary="Delete a connector (its offsets are kept)")
def delete_connector(name: str, _: Writer, store: StoreDep) -> Response:
    if not store.delete(name):
        raise _not_found(name)
    return Response(status_code=204)


@router.get("/connectors/{name}/status", summary="State, worker, last error and counters")
def connector_status(name: str, _: CurrentPrincipal, store: StoreDep, plugins: PluginsDep) -> dict:
    record = _record(store, name)
    return _status_view(store.status(name), record, plugins)


def _set_target(store: ConnectorStore, name: str, state: str) -> dict:
    _record(store, name)
    record = store.set_target_state(name, state)
    if state == "STOPPED":
        store.settle_stopped()  # nobody runs it: STOPPED at once
    return {"name": name, "target_state": record.target_state,
            "message": f"requested {state}; GET /connectors/{name}/status shows when the worker applied it"}


@router.put("/connectors/{name}/pause", status_code=202, summary="Stop polling, keep the assignment")
def pause_connector(name: str, _: Writer, store: StoreDep) -> dict:
    return _set_target(store, name, "PAUSED")


@router.put("/connectors/{name}/resume", status_code=202, summary="Run a paused or stopped connector again")
def resume_connector(name: str, _: Writer, store: StoreDep) -> dict:
    return _set_target(store, name, "RUNNING")


@router.put("/connectors/{name}/stop", status_code=202, summary="Stop the connector and free its worker")
def stop_connector(name: str, _: Writer, store: StoreDep) -> dict:
    return _set_target(store, name, "STOPPED")


@router.post("/connectors/{name}/restart", status_code=202, summary="Restart the connector (also out of FAILED)")
def restart_connector(name: str, _: Writer, store: StoreDep) -> dict:
    _record(store, name)
    record = store.request_restart(name)
    return {"name": name, "generation": record.generation,
            "message": "restart requested; the owning worker restarts it within a few seconds"}


# -- offsets ---------------------------------------------------------------------------------

@router.get("/connectors/{name}/offsets", summary="Committed source offsets per source partition")
def get_offsets(name: str, request: Request, _: CurrentPrincipal, store: StoreDep) -> dict:
    _record(store, name)
    offsets = OffsetStore(request.app.state.db).load(name)
    return {"name": name, "offsets": [{"partition": p, "offset": o} for p, o in sorted(offsets.items())]}


@router.delete("/connectors/{name}/offsets", summary="Forget every committed offset (only while STOPPED)")
def reset_offsets(name: str, request: Request, _: Writer, store: StoreDep) -> dict:
    _record(store, name)
    _require_stopped(store, name)
    n = OffsetStore(request.app.state.db).reset(name)
    return {"name": name, "reset": n,
            "message": f"offsets forgotten; PUT /connectors/{name}/resume re-reads the source from the start"}


@router.patch("/connectors/{name}/offsets", summary="Set or forget offsets of given partitions (only while STOPPED)")
def patch_offsets(name: str, patch: OffsetsPatch, request: Request, _: Writer, store: StoreDep) -> dict:
    _record(store, name)
    _require_stopped(store, name)
    offsets = OffsetStore(request.app.state.db)
    forget = [e.partition for e in patch.offsets if e.offset is None]
    if forget:
        offsets.reset(name, forget)
    offsets.commit(name, {e.partition: e.offset for e in patch.offsets if e.offset is not None})
    return {"name": name, "offsets": [{"partition": p, "offset": o} for p, o in sorted(offsets.load(name).items())]}
