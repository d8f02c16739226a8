"""API clients, secret hashing and access tokens: everything auth does, without HTTP.

:class:`AuthService` is safe to share between threads (FastAPI runs sync dependencies
in a thread pool): it keeps no session, only a small lock-protected cache of client
records used when verifying tokens. Secrets are returned exactly once, by
:meth:`AuthService.create_client`, and are never stored or logged.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import jwt
from sqlalchemy import select

from hub_api.auth.hashing import dummy_hash, hash_secret, verify_secret  # noqa: F401 - re-exported
from hub_api.auth.models import ID_PREFIXES, AuthClient, ClientKind
from hub_api.db import Database
from ops.settings import HubSettings

ISSUER = "supervision-hub"
ALGORITHM = "HS256"

#: Every scope the hub knows, with what it allows. Operators get all of them.
SCOPES: dict[str, str] = {
    "schemas:write": "Register schemas and change compatibility in the schema registry.",
    "topics:write": "Create and reconfigure Kafka topics.",
    "connectors:write": "Create, configure, start and stop connectors.",
    "clients:admin": "Create, list and revoke API clients.",
    "pii:read": "See personal data unmasked (ID numbers, phone numbers, names).",
    "registries:write": "Write to the supervision registries (entities, inspectors, matters).",
    "tasks:write": "Create and update inspection tasks.",
    "risk:feedback": "Send risk-model feedback (inspection outcomes) into the risk loop.",
    "federation": "Exchange data with peer provinces through the federation endpoints.",
    "sampling:write": "Run 'double random' sampling draws and record their results.",
    "certificates:issue": "Issue electronic-certificate tokens (電子亮證) for officers with a valid certificate.",
}

_CLIENT_CACHE_TTL = 5.0  # seconds a revocation made by another process may take to be seen
_SECRET_CACHE_TTL = 60.0  # seconds a verified Basic secret skips scrypt


class AuthError(Exception):
    """Credentials were presented but are not acceptable; ``reason`` is machine-readable."""

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(message or reason)
        self.reason = reason
        self.message = message or reason


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of a request."""

    client_id: str
    kind: str
    scopes: frozenset[str]
    department_code: str | None = None
    region_code: str | None = None

    def has(self, scope: str) -> bool:
        return scope in self.scopes


@dataclass(frozen=True)
class ClientInfo:
    """What may be shown about a client: everything except its secret hash."""

    client_id: str
    name: str
    kind: str
    scopes: tuple[str, ...]
    department_code: str | None
    region_code: str | None
    created_at: datetime
    revoked_at: datetime | None

    def as_dict(self) -> dict:
        return {
            "id": self.client_id,
            "name": self.name,
            "kind": self.kind,
            "scopes": list(self.scopes),
            "department_code": self.department_code,
            "region_code": self.region_code,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


def _principal(c: AuthClient) -> Principal:
    return Principal(
        c.client_id, c.kind.value, frozenset(c.scopes.split()), c.department_code, c.region_code
    )


def _aware(ts: datetime | None) -> datetime | None:
    # SQLite returns naive datetimes; every stored time is UTC.
    return ts.replace(tzinfo=UTC) if ts is not None and ts.tzinfo is None else ts


def _info(c: AuthClient) -> ClientInfo:
    return ClientInfo(
        c.client_id,
        c.name,
        c.kind.value,
        tuple(c.scopes.split()),
        c.department_code,
        c.region_code,
        _aware(c.created_at),
        _aware(c.revoked_at),
    )


def _parse_scopes(scopes: Iterable[str] | str | None) -> list[str]:
    if scopes is None:
        return []
    items = scopes.split() if isinstance(scopes, str) else [s for x in scopes for s in x.split()]
    return list(dict.fromkeys(items))  # de-duplicate, keep order


def validate_scopes(scopes: Iterable[str] | str | None) -> list[str]:
    """The scopes as a list; ValueError naming the unknown ones and listing the valid ones."""
    items = _parse_scopes(scopes)
    unknown = [s for s in items if s not in SCOPES]
    if unknown:
        raise ValueError(
            f"unknown scope(s): {', '.join(unknown)}; valid scopes: {', '.join(SCOPES)}"
        )
    return items


def _kind(kind: ClientKind | str) -> ClientKind:
    try:
        return ClientKind(kind)
    except ValueError:
        valid = ", ".join(k.value for k in ClientKind)
        raise ValueError(f"unknown client kind {kind!r}; valid kinds: {valid}") from None


# --- service ---------------------------------------------------------------------------


class AuthService:
    """Client registry, authentication and JWT issue/verification over one :class:`Database`."""

    def __init__(self, db: Database, settings: HubSettings) -> None:
        self.db = db
        self.settings = settings
        self._lock = threading.Lock()
        # client_id -> (fetched_at, Principal-shaped record or None when unknown/revoked)
        self._clients: dict[str, tuple[float, Principal | None]] = {}
        # client_id -> (verified_at, HMAC of the secret under a per-process key)
        self._verified: dict[str, tuple[float, bytes]] = {}
        self._cache_key = secrets.token_bytes(32)

    # clients ---------------------------------------------------------------------------

    def create_client(
        self,
        name: str,
        kind: ClientKind | str,
        scopes: Iterable[str] | str | None,
        department_code: str | None = None,
        region_code: str | None = None,
    ) -> tuple[str, str]:
        """Create a client; returns ``(client_id, secret)`` — the only time the secret exists.

        An operator created without scopes gets every scope; other kinds get exactly
        the scopes given. Raises ValueError for an empty name, unknown kind or scope.
        """
        if not name or not name.strip():
            raise ValueError("client name must not be empty")
        kind = _kind(kind)
        granted = validate_scopes(scopes)
        if kind is ClientKind.operator and not granted:
            granted = list(SCOPES)
        client_id = f"{ID_PREFIXES[kind]}-{secrets.token_hex(8)}"
        secret = secrets.token_urlsafe(32)
        with self.db.session() as s:
            s.add(
                AuthClient(
                    client_id=client_id,
                    name=name.strip(),
                    kind=kind,
                    department_code=department_code,
                    region_code=region_code,
                    scopes=" ".join(granted),
                    secret_hash=hash_secret(secret),
                    created_at=datetime.now(UTC),
                )
            )
        return client_id, secret

    def list_clients(self, include_revoked: bool = True) -> list[ClientInfo]:
        """Every client, oldest first; never exposes secret hashes."""
        stmt = select(AuthClient).order_by(AuthClient.created_at, AuthClient.client_id)
        if not include_revoked:
            stmt = stmt.where(AuthClient.revoked_at.is_(None))
        with self.db.session() as s:
            return [_info(c) for c in s.scalars(stmt)]

    def revoke(self, client_id: str) -> bool:
        """Revoke a client; its secret and every token it holds stop working. False if unknown/already revoked."""
        with self.db.session() as s:
            client = s.get(AuthClient, client_id)
            changed = client is not None and client.revoked_at is None
            if changed:
                client.revoked_at = datetime.now(UTC)
        with self._lock:
            self._clients.pop(client_id, None)
            self._verified.pop(client_id, None)
        return changed

    def ensure_operator(self) -> tuple[str, str] | None:
        """Create an ``operator`` client with every scope if no active operator exists.

        Returns ``(client_id, secret)`` for the caller to print once, else None.
        """
        with self.db.session() as s:
            exists = s.scalar(
                select(AuthClient.client_id)
                .where(AuthClient.kind == ClientKind.operator, AuthClient.revoked_at.is_(None))
                .limit(1)
            )
        if exists:
            return None
        return self.create_client("operator", ClientKind.operator, list(SCOPES))

    # authentication --------------------------------------------------------------------

    def _load(self, client_id: str) -> Principal | None:
        """The active client as a Principal (fresh from the database), None if unknown or revoked."""
        with self.db.session() as s:
            c = s.get(AuthClient, client_id)
            return None if c is None or c.revoked_at is not None else _principal(c)

    def get_client(self, client_id: str) -> ClientInfo | None:
        """One client's public record (revoked ones included), None if unknown."""
        with self.db.session() as s:
            c = s.get(AuthClient, client_id)
            return None if c is None else _info(c)

    def _load_cached(self, client_id: str) -> Principal | None:
        now = time.monotonic()
        with self._lock:
            hit = self._clients.get(client_id)
        if hit and now - hit[0] < _CLIENT_CACHE_TTL:
            return hit[1]
        principal = self._load(client_id)
        with self._lock:
            self._clients[client_id] = (now, principal)
        return principal

    def authenticate(self, client_id: str, secret: str) -> Principal | None:
        """The client's Principal if ``secret`` is right and the client active; else None."""
        with self.db.session() as s:
            c = s.get(AuthClient, client_id)
            if c is None or c.revoked_at is not None:
                stored, principal = dummy_hash(), None
            else:
                stored, principal = c.secret_hash, _principal(c)
        mac = hmac.new(self._cache_key, secret.encode(), hashlib.sha256).digest()
        now = time.monotonic()
        with self._lock:
            hit = self._verified.get(client_id)
        if principal is not None and hit and now - hit[0] < _SECRET_CACHE_TTL:
            ok = hmac.compare_digest(hit[1], mac)
        else:
            # Unknown clients are checked against a dummy hash: same timing as a wrong secret.
            ok = verify_secret(secret, stored) and principal is not None
        if not ok:
            return None
        with self._lock:
            self._verified[client_id] = (now, mac)
            self._clients[client_id] = (now, principal)
        return principal

    # tokens ----------------------------------------------------------------------------

    def issue_token(
        self, principal: Principal, requested_scopes: Iterable[str] | str | None = None
    ) -> tuple[str, int]:
        """Sign an access token; returns ``(jwt, expires_in_seconds)``.

        The token's scope is the granted scopes, narrowed to ``requested_scopes`` when
        given (scopes the client lacks are dropped, not an error).
        """
        granted = principal.scopes
        if requested_scopes is not None:
            granted = granted & frozenset(_parse_scopes(requested_scopes))
        ttl = self.settings.jwt_ttl_seconds
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": principal.client_id,
            "scope": " ".join(sorted(granted)),
            "kind": principal.kind,
            "dept": principal.department_code,
            "region": principal.region_code,
            "iat": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key(), algorithm=ALGORITHM), ttl

    def verify_token(self, token: str) -> Principal:
        """The Principal of a valid token; AuthError if expired, malformed or its client is revoked.

        Revocation is checked against the database, cached for a few seconds per client.
        """
        try:
            claims = jwt.decode(
                token,
                self._key(),
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["exp", "iat", "iss", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token_expired", "the access token has expired") from None
        except jwt.InvalidTokenError as exc:
            raise AuthError("invalid_token", f"the access token is invalid: {exc}") from None
        client = self._load_cached(str(claims["sub"]))
        if client is None:
            raise AuthError("client_revoked", "the client of this token is revoked or unknown")
        # A token never carries more than the client holds now.
        scopes = frozenset(str(claims.get("scope", "")).split()) & client.scopes
        return Principal(
            client.client_id, client.kind, scopes, client.department_code, client.region_code
        )

    def _key(self) -> str:
        return self.settings.jwt_secret.get_secret_value()


# --- CLI entry points (``hub clients create|list|revoke``) ------------------------------


def _cli_service(db: Database, settings: HubSettings) -> AuthService:
    # Only this table, idempotently: `hub clients create` works on a fresh database.
    AuthClient.__table__.create(db.engine, checkfirst=True)
    return AuthService(db, settings)


def cli_create(
    db: Database,
    settings: HubSettings,
    name: str,
    kind: str,
    scopes: Iterable[str] | str | None,
    department_code: str | None = None,
    region_code: str | None = None,
) -> dict:
    """Create a client; the returned dict holds the secret, to print once."""
    svc = _cli_service(db, settings)
    client_id, secret = svc.create_client(name, kind, scopes, department_code, region_code)
    info = svc.get_client(client_id)
    return {
        "id": client_id,
        "secret": secret,
        "name": info.name,
        "kind": info.kind,
        "scopes": list(info.scopes),
    }


def cli_list(db: Database, settings: HubSettings) -> list[dict]:
    """Every client (revoked included) as JSON-ready dicts, without secrets."""
    return [c.as_dict() for c in _cli_service(db, settings).list_clients()]


def cli_revoke(db: Database, settings: HubSettings, client_id: str) -> bool:
    """Revoke a client; False if it is unknown or already revoked."""
    return _cli_service(db, settings).revoke(client_id)
