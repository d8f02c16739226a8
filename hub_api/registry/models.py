"""Schema registry tables (SQLAlchemy 2, SQLite and PostgreSQL).

``registry_schemas`` holds each distinct schema once under its global id;
``registry_subject_versions`` maps ``(subject, version)`` to a schema id, with a soft-delete
flag; ``registry_config`` holds compatibility levels, ``subject = ''`` being the global one.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from hub_api.db import Base


def _now() -> datetime:
    return datetime.now(UTC)


class RegistrySchema(Base):
    """One distinct schema; ``id`` is the global schema id written into every Kafka record."""

    __tablename__ = "registry_schemas"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    schema_type: Mapped[str] = mapped_column(String(16), default="AVRO", nullable=False)
    schema_text: Mapped[str] = mapped_column(Text, nullable=False)
    canonical: Mapped[str] = mapped_column(Text, nullable=False)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=_now, nullable=False
    )


class RegistrySubjectVersion(Base):
    """Version ``version`` of ``subject`` is schema ``schema_id``; ``deleted`` marks a soft delete."""

    __tablename__ = "registry_subject_versions"
    __table_args__ = (
        UniqueConstraint("subject", "version", name="uq_registry_subject_version"),
        Index("ix_registry_subject_versions_schema_id", "schema_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject: Mapped[str] = mapped_column(String(255), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    schema_id: Mapped[int] = mapped_column(ForeignKey("registry_schemas.id"), nullable=False)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=_now, nullable=False
    )


class RegistryConfig(Base):
    """Compatibility level of one subject, or the global level when ``subject == ''``."""

    __tablename__ = "registry_config"

    subject: Mapped[str] = mapped_column(String(255), primary_key=True)
    compatibility: Mapped[str] = mapped_column(String(32), nullable=False)
