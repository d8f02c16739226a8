"""The registry of peer hubs: validated writes and reads (SQLAlchemy Core)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator

from hub_api.federation.models import peers
from hub_api.federation.signing import AlgorithmError, scheme

HUB_ID = r"^[0-9A-Za-z_-]{2,32}$"


class PeerSpec(BaseModel):
    """A peer hub as registered by an operator (``PUT /federation/peers/{hub_id}``)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., min_length=1, max_length=200, description="Display name, e.g. 江蘇省 Jiangsu hub.")
    base_url: str = Field(..., pattern=r"^https?://\S+$", max_length=500,
                          description="Base URL of the peer's hub API; messages go to <base_url>/federation/messages.")
    algorithm: str = Field("ed25519", description="Signature algorithm of the peer's key: ed25519 or sm2-sm3.")
    public_key: str = Field(..., min_length=1, description="The peer's public key (ed25519: base64 of the raw 32 bytes; "
                                                           "sm2-sm3: hex of the uncompressed point 04||X||Y, 130 digits).")
    status: Literal["active", "suspended", "revoked"] = Field(
        "active", description="Only active peers may send or receive; revoked is final in intent, not enforced.")

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, v: str) -> str:
        return v.rstrip("/")

    def check_key(self) -> None:
        """AlgorithmError when the algorithm is unavailable or the key does not load."""
        scheme(self.algorithm).load_public(self.public_key)


def upsert(conn: sa.Connection, hub_id: str, spec: PeerSpec, now: datetime) -> dict:
    spec.check_key()
    values = {**spec.model_dump(), "updated_at": now}
    if conn.execute(sa.select(peers.c.hub_id).where(peers.c.hub_id == hub_id)).first():
        conn.execute(peers.update().where(peers.c.hub_id == hub_id).values(**values))
    else:
        conn.execute(peers.insert().values(hub_id=hub_id, **values))
    return get(conn, hub_id)


def set_status(conn: sa.Connection, hub_id: str, status: str, now: datetime) -> bool:
    return conn.execute(peers.update().where(peers.c.hub_id == hub_id)
                        .values(status=status, updated_at=now)).rowcount > 0


def get(conn: sa.Connection, hub_id: str) -> dict | None:
    row = conn.execute(sa.select(peers).where(peers.c.hub_id == hub_id)).mappings().first()
    return dict(row) if row else None


def list_all(conn: sa.Connection) -> list[dict]:
    return [dict(r) for r in conn.execute(sa.select(peers).order_by(peers.c.hub_id)).mappings()]


__all__ = ["AlgorithmError", "PeerSpec", "get", "list_all", "set_status", "upsert"]
