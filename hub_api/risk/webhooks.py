"""A department registers where its risk dispatches are pushed: a signed webhook.

``PUT /risk/departments/{code}/webhook`` {url, secret, ...} registers (or changes) the
``http-webhook`` sink connector ``risk-dispatch-<code>`` that delivers ``risk.dispatches``
filtered on ``department.code == code`` — one POST per dispatch with the sink's HMAC
signature, timestamp and stable delivery id, retries and dead letters (``dlq.<connector>``),
exactly as :mod:`connectors.sinks.http_webhook` documents. ``GET`` shows it (secret masked)
with its status; ``DELETE`` removes it (the topic still carries the dispatches).

Who may: a client registered for the department with ``risk:feedback`` (only its own code,
else 403 ``wrong_department``), or any client with ``connectors:write`` (the hub's operators).
The connector is an ordinary one: ``/connectors/risk-dispatch-<code>`` pauses, restarts and
shows it like any other, and the connect worker runs it.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, Response
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr

from connectors.store import ConnectorExists, validate
from hub_api.auth.deps import CurrentPrincipal
from hub_api.auth.service import Principal
from hub_api.connectors import secrets
from hub_api.connectors.routes import _status_view, _view, get_plugins, get_store

router = APIRouter(prefix="/risk/departments", tags=["risk"])
TOPIC = "risk.dispatches"
DepartmentCode = Annotated[str, Path(pattern=r"^[0-9A-Za-z]{6,32}$", description="Department code, e.g. 330000SCJ")]


class WebhookRequest(BaseModel):
    """Where and how to push; the other delivery settings are the sink's defaults."""

    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl = Field(description="Endpoint that receives one signed POST per dispatch")
    secret: SecretStr | None = Field(None, min_length=16, description="HMAC-SHA256 key (16+ chars); omit on a "
                                                                      "change to keep the registered one")
    timeout_seconds: float = Field(10.0, gt=0, le=120, description="Timeout of one request")
    pii_cleared: bool = Field(False, description="The endpoint is cleared for personal data (sent unmasked)")


def connector_name(code: str) -> str:
    return f"risk-dispatch-{re.sub(r'[^a-z0-9]', '', code.lower())}"


def _err(status: int, code: str, message: str, **extra) -> HTTPException:
    return HTTPException(status, detail={"error": code, "message": message, **extra})


def _authorise(principal: Principal, code: str) -> None:
    if principal.has("connectors:write"):
        return
    if not principal.has("risk:feedback"):
        raise _err(403, "forbidden", "registering a department webhook needs risk:feedback (for your own "
                   "department) or connectors:write", required_scope="risk:feedback")
    if principal.department_code != code:
        raise _err(403, "wrong_department", f"this client acts for {principal.department_code or 'no department'}, "
                   f"not {code}")


@router.put("/{code}/webhook", summary="Register or change the department's signed webhook for its dispatches")
def put_webhook(code: DepartmentCode, body: WebhookRequest, request: Request, response: Response,
                principal: CurrentPrincipal) -> dict:
    _authorise(principal, code)
    store, plugins = get_store(request), get_plugins(request)
    name = connector_name(code)
    previous = store.get(name)
    config = {"topic": TOPIC, "where": {"department.code": [code]}, "url": str(body.url),
              "timeout_seconds": body.timeout_seconds, "pii_cleared": body.pii_cleared}
    if body.secret is not None:
        config["secret"] = body.secret.get_secret_value()
    elif previous is None:
        raise _err(422, "secret_required", "a new webhook needs a secret (16+ characters) to sign with")
    else:
        config = secrets.restore({**config, "secret": secrets.MASK}, previous.config.get("config"),
                                 plugins["http-webhook"].config_model)
    connector, _, errors = validate({"name": name, "plugin": "http-webhook", "source_system": "hub.risk",
                                     "batch_size": 100, "config": config}, plugins)
    if errors:
        raise _err(422, "invalid_webhook", "the webhook settings are invalid",
                   errors=[{"field": e["field"], "message": e["message"]} for e in errors])
    if previous is None:
        try:
            record = store.create(connector)
            response.status_code = 201
            return {"department_code": code, "connector": _view(record, plugins)}
        except ConnectorExists:
            pass  # registered concurrently: change it instead
    return {"department_code": code, "connector": _view(store.update_config(connector), plugins)}


@router.get("/{code}/webhook", summary="The department's webhook (secret masked) and its delivery status")
def get_webhook(code: DepartmentCode, request: Request, principal: CurrentPrincipal) -> dict:
    store, plugins = get_store(request), get_plugins(request)
    record = store.get(connector_name(code))
    if record is None:
        raise _err(404, "webhook_not_found", f"department {code} has no webhook; its dispatches are on "
                   f"{TOPIC} (filter department.code); register one with PUT /risk/departments/{code}/webhook")
    status = store.status(record.name)
    return {"department_code": code, "connector": _view(record, plugins),
            "status": _status_view(status, record, plugins) if status else None}


@router.delete("/{code}/webhook", status_code=204, summary="Stop pushing to the department's webhook")
def delete_webhook(code: DepartmentCode, request: Request, principal: CurrentPrincipal) -> Response:
    _authorise(principal, code)
    if not get_store(request).delete(connector_name(code)):
        raise _err(404, "webhook_not_found", f"department {code} has no webhook")
    return Response(status_code=204)
