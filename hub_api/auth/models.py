"""ORM table of API clients (``auth_clients``) and the closed set of client kinds.

Only the scrypt hash of a client secret is stored; the secret itself is shown once,
when the client is created, and never persisted or logged.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import DateTime, Enum, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub_api.db import Base


class ClientKind(enum.StrEnum):
    """Who a client is; decides the client-id prefix and the default scopes."""

    operator = "operator"
    department = "department"
    connector = "connector"
    peer = "peer"
    service = "service"


#: Client-id prefix per kind, so a log line shows at a glance who called.
ID_PREFIXES: dict[ClientKind, str] = {
    ClientKind.operator: "op",
    ClientKind.department: "dept",
    ClientKind.connector: "conn",
    ClientKind.peer: "peer",
    ClientKind.service: "svc",
}


def _utcnow() -> datetime:
    return datetime.now(UTC)


class AuthClient(Base):
    """One API client: a department, connector, peer province, service or operator."""

    __tablename__ = "auth_clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # VARCHAR + CHECK rather than a native PostgreSQL enum: adding a kind needs no type migration.
    kind: Mapped[ClientKind] = mapped_column(
        Enum(
            ClientKind,
            native_enum=False,
            length=16,
            validate_strings=True,
            values_callable=lambda e: [m.value for m in e],
            name="auth_client_kind",
        ),
        index=True,
    )
    department_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    region_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: Granted scopes, space-separated (the OAuth2 ``scope`` format).
    scopes: Mapped[str] = mapped_column(Text, default="")
    #: ``scrypt$n$r$p$salt$hash`` (salt and hash urlsafe-base64).
    secret_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    def __repr__(self) -> str:  # never include secret_hash
        return f"AuthClient({self.client_id!r}, kind={self.kind.value!r}, revoked={self.revoked_at is not None})"
