"""Federation tables: peers, seen nonces, messages in and out, the default inbox, the hash-chained log.

Times that are hashed (``federation_log.at``) are stored as ISO-8601 UTC text so that
SQLite and PostgreSQL return exactly the bytes that were hashed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub_api.db import Base

PEER_STATUSES = ("active", "suspended", "revoked")
MESSAGE_STATES = ("pending", "acknowledged", "unconfirmed", "failed")
LOG_KINDS = ("request", "ack", "refusal")


class FederationPeer(Base):
    """A peer hub; its status is checked on every inbound request and every dispatch."""

    __tablename__ = "federation_peers"
    hub_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    base_url: Mapped[str] = mapped_column(String(500))
    algorithm: Mapped[str] = mapped_column(String(32))
    public_key: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FederationNonce(Base):
    """Nonces seen per peer; rows older than twice the timestamp window are pruned."""

    __tablename__ = "federation_nonces"
    peer: Mapped[str] = mapped_column(String(32), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(128), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class FederationMessage(Base):
    """One logical message, inbound or outbound; (peer, direction, idempotency_key) is unique.

    ``body`` holds the exact request bytes (as text) so a retry sends identical bytes;
    ``ack`` the signed acknowledgement document (inbound: the one we answered; outbound:
    the one we verified).
    """

    __tablename__ = "federation_messages"
    __table_args__ = (
        UniqueConstraint("peer", "direction", "idempotency_key", name="uq_federation_message_idem"),
        Index("ix_federation_messages_dispatch", "direction", "state", "next_attempt_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(64), index=True)
    direction: Mapped[str] = mapped_column(String(3))
    peer: Mapped[str] = mapped_column(String(32))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    body_sha256: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(300), nullable=True)
    ack: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FederationInbox(Base):
    """Where the default handler puts received messages until a real handler takes the type over."""

    __tablename__ = "federation_inbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    peer: Mapped[str] = mapped_column(String(32))
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FederationLogEntry(Base):
    """Append-only, hash-chained log of requests, acknowledgements and refusals (see ``chain``)."""

    __tablename__ = "federation_log"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40))
    direction: Mapped[str] = mapped_column(String(3))
    peer: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    message_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    body: Mapped[str] = mapped_column(Text)
    signature: Mapped[str | None] = mapped_column(Text, nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


peers = FederationPeer.__table__
nonces = FederationNonce.__table__
messages = FederationMessage.__table__
inbox = FederationInbox.__table__
log = FederationLogEntry.__table__
