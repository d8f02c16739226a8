"""FastAPI dependencies for authentication (contract; implementation in hub_api.auth.service).

``require_scope("schemas:write")`` returns a dependency that yields the calling
:class:`Principal` or answers 401 (no or bad credentials) / 403 (missing scope)
with a machine-readable body. It accepts ``Authorization: Bearer <JWT>`` and
``Authorization: Basic <client_id:secret>`` (how Confluent clients authenticate).

The bodies are raised as ``HTTPException(detail={...})``: ``{"error": "unauthorized",
"reason", "message"}`` or ``{"error": "forbidden", "reason": "missing_scope",
"required_scope", "message"}``. Dependencies are plain functions, so FastAPI runs
them (scrypt, database look-ups) in its thread pool, not on the event loop.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPBearer

from hub_api.auth.service import SCOPES, AuthError, AuthService, Principal

REALM = "supervision-hub"
CHALLENGE = f'Bearer realm="{REALM}", Basic realm="{REALM}"'

# Declared only so OpenAPI shows the lock and Swagger's "Authorize" works; never raises.
_bearer_doc = HTTPBearer(auto_error=False, description="Bearer JWT from POST /oauth/token")


def get_auth(request: Request) -> AuthService:
    """The app's AuthService, created on first use from ``app.state.db`` and ``.settings``."""
    state = request.app.state
    auth = getattr(state, "auth", None)
    if auth is None:
        auth = state.auth = AuthService(state.db, state.settings)
    return auth


def unauthorized(reason: str, message: str) -> HTTPException:
    return HTTPException(
        status_code=401,
        detail={"error": "unauthorized", "reason": reason, "message": message},
        headers={"WWW-Authenticate": CHALLENGE},
    )


def parse_basic(value: str) -> tuple[str, str]:
    """``client_id, secret`` from the credentials part of a Basic header; ValueError if malformed."""
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError("Basic credentials are not valid base64 of 'client_id:secret'") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep or not client_id or not secret:
        raise ValueError("Basic credentials must be 'client_id:secret'")
    return client_id, secret


def _principal(request: Request) -> Principal | None:
    """The caller, None without an Authorization header; 401 for bad credentials."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    auth = get_auth(request)
    if scheme == "bearer" and value.strip():
        try:
            return auth.verify_token(value.strip())
        except AuthError as exc:
            raise unauthorized(exc.reason, exc.message) from None
    if scheme == "basic":
        try:
            client_id, secret = parse_basic(value)
        except ValueError as exc:
            raise unauthorized("malformed_credentials", str(exc)) from None
        principal = auth.authenticate(client_id, secret)
        if principal is None:
            raise unauthorized("invalid_client", "unknown client, wrong secret or revoked client")
        return principal
    raise unauthorized(
        "unsupported_scheme", "use 'Authorization: Bearer <token>' or 'Basic <client_id:secret>'"
    )


def get_current_principal(
    request: Request, _doc: Annotated[object, Depends(_bearer_doc)] = None
) -> Principal:
    """Any authenticated client; 401 without or with bad credentials."""
    principal = _principal(request)
    if principal is None:
        raise unauthorized("missing_credentials", "this endpoint requires authentication")
    return principal


def optional_principal(
    request: Request, _doc: Annotated[object, Depends(_bearer_doc)] = None
) -> Principal | None:
    """The caller or None when no credentials are sent; bad credentials still answer 401."""
    return _principal(request)


_scope_deps: dict[str, Callable[..., Principal]] = {}


def require_scope(scope: str) -> Callable[..., Principal]:
    """A dependency yielding a Principal that holds ``scope`` (401/403 otherwise).

    The same callable is returned for the same scope, so FastAPI de-duplicates it
    within a request. An unknown scope is a programming error: ValueError at import.
    """
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; valid scopes: {', '.join(SCOPES)}")
    dep = _scope_deps.get(scope)
    if dep is not None:
        return dep

    def _require(principal: Annotated[Principal, Depends(get_current_principal)]) -> Principal:
        if not principal.has(scope):
            raise HTTPException(
                status_code=403,
                detail={
                    "error": "forbidden",
                    "reason": "missing_scope",
                    "required_scope": scope,
                    "message": f"client {principal.client_id} lacks the scope {scope!r}",
                },
            )
        return principal

    _require.__name__ = f"require_scope_{scope.replace(':', '_')}"
    return _scope_deps.setdefault(scope, _require)


CurrentPrincipal = Annotated[Principal, Depends(get_current_principal)]
OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]
AuthDep = Annotated[AuthService, Depends(get_auth)]
