"""Auth endpoints: the OAuth2 token endpoint, ``whoami`` and client administration.

``POST /oauth/token`` implements the client-credentials grant (RFC 6749 §4.4) with
error bodies per §5.2. Handlers are plain functions: FastAPI runs them in its thread
pool, which keeps scrypt and database work off the event loop.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from hub_api.auth.deps import REALM, AuthDep, CurrentPrincipal, parse_basic, require_scope
from hub_api.auth.models import ClientKind
from hub_api.auth.service import SCOPES, Principal, validate_scopes

router = APIRouter(tags=["auth"])

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    headers = dict(_NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = f'Basic realm="{REALM}"'
    return JSONResponse({"error": error, "error_description": description}, status, headers)


@router.post("/oauth/token", summary="OAuth2 client-credentials token")
def token(
    request: Request,
    auth: AuthDep,
    grant_type: Annotated[str | None, Form()] = None,
    scope: Annotated[str | None, Form()] = None,
    client_id: Annotated[str | None, Form()] = None,
    client_secret: Annotated[str | None, Form()] = None,
) -> JSONResponse:
    """Exchange client credentials (HTTP Basic or form fields) for a bearer JWT.

    ``scope`` narrows the token to those scopes; scopes the client lacks are dropped,
    and a request for none of its scopes (or for unknown scopes) is ``invalid_scope``.
    """
    header = request.headers.get("authorization", "")
    if header[:6].lower() == "basic ":
        if client_id or client_secret:
            return _oauth_error(400, "invalid_request", "send client credentials in one place only")
        try:
            client_id, client_secret = parse_basic(header[6:])
        except ValueError as exc:
            return _oauth_error(401, "invalid_client", str(exc))
    if not grant_type:
        return _oauth_error(400, "invalid_request", "grant_type is required")
    if grant_type != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "only client_credentials is supported")
    if not client_id or not client_secret:
        return _oauth_error(401, "invalid_client", "client credentials are required")
    principal = auth.authenticate(client_id, client_secret)
    if principal is None:
        return _oauth_error(401, "invalid_client", "unknown client, wrong secret or revoked client")
    requested = None
    if scope is not None and scope.strip():
        try:
            requested = set(validate_scopes(scope))
        except ValueError as exc:
            return _oauth_error(400, "invalid_scope", str(exc))
        if not requested & principal.scopes:
            return _oauth_error(
                400, "invalid_scope", "the client holds none of the requested scopes"
            )
    access_token, expires_in = auth.issue_token(principal, requested)
    granted = principal.scopes & requested if requested is not None else principal.scopes
    return JSONResponse(
        {
            "access_token": access_token,
            "token_type": "bearer",
            "expires_in": expires_in,
            "scope": " ".join(sorted(granted)),
        },
        headers=_NO_STORE,
    )


def _principal_out(p: Principal) -> dict:
    return {
        "client_id": p.client_id,
        "kind": p.kind,
        "scopes": sorted(p.scopes),
        "department_code": p.department_code,
        "region_code": p.region_code,
    }


@router.get("/auth/whoami", summary="The authenticated client")
def whoami(principal: CurrentPrincipal) -> dict:
    return _principal_out(principal)


@router.get("/auth/scopes", summary="Every scope the hub knows")
def scopes() -> dict[str, str]:
    return SCOPES


class ClientCreate(BaseModel):
    """Request body of ``POST /auth/clients``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="Human-readable client name.")
    kind: ClientKind = Field(description="operator, department, connector, peer or service.")
    scopes: list[str] = Field(
        default_factory=list, description="Granted scopes (an operator without scopes gets all)."
    )
    department_code: str | None = Field(None, max_length=64, description="Owning department.")
    region_code: str | None = Field(
        None, max_length=64, description="Region (administrative code)."
    )


_admin = [Depends(require_scope("clients:admin"))]


@router.get("/auth/clients", dependencies=_admin, summary="List API clients")
def list_clients(auth: AuthDep) -> list[dict]:
    return [c.as_dict() for c in auth.list_clients()]


@router.post("/auth/clients", status_code=201, dependencies=_admin, summary="Create an API client")
def create_client(body: ClientCreate, auth: AuthDep) -> JSONResponse:
    """Create a client; the response is the only place its secret ever appears."""
    try:
        client_id, secret = auth.create_client(
            body.name, body.kind, body.scopes, body.department_code, body.region_code
        )
    except ValueError as exc:
        raise HTTPException(
            422, {"error": "invalid_client_metadata", "message": str(exc)}
        ) from None
    out = auth.get_client(client_id).as_dict()
    out["secret"] = secret
    return JSONResponse(out, status_code=201, headers=_NO_STORE)


@router.delete(
    "/auth/clients/{client_id}",
    status_code=204,
    dependencies=_admin,
    summary="Revoke an API client",
)
def revoke_client(client_id: str, auth: AuthDep) -> Response:
    if not auth.revoke(client_id):
        raise HTTPException(
            404, {"error": "not_found", "message": f"no active client {client_id!r}"}
        )
    return Response(status_code=204)
