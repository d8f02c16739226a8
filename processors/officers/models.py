"""Tables of the officer registry.

``officers`` — one row per certificate. Contract columns (read by double random and the
case tracker; may only be added to): certificate_number, name, department_code,
department_name, region_code, domains, status, valid_from, valid_to.

``status`` is the *effective* status: the source's status (valid / suspended / revoked /
expired), turned to ``expired`` by the processor or its daily expiry timer once
``valid_to`` lies before today (Asia/Shanghai); ``recorded_status`` keeps what the source
said. ``payload`` is the newest source record (standard shape, JSON) that the registry
output is rebuilt from; ``revision`` counts changes and makes each output's record id new.

``officer_status_history`` — every change of effective status (first one: ``from_status``
NULL), with its cause: ``source`` (an update) or ``expiry`` (the timer).

``certificate_tokens`` — audit of every electronic-certificate token the API issued
(jti, certificate, issued at, expires at, issuing API client). Tokens themselves are not
stored: they are signed, and only their id is needed to recognise them.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub_api.db import Base


class Officer(Base):
    __tablename__ = "officers"

    certificate_number: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    resident_id: Mapped[str | None] = mapped_column(String(18))
    phone: Mapped[str | None] = mapped_column(String(32))
    sex_code: Mapped[str | None] = mapped_column(String(8))
    department_code: Mapped[str] = mapped_column(String(64), index=True)
    department_name: Mapped[str] = mapped_column(String(255))
    department_uscc: Mapped[str | None] = mapped_column(String(18))
    region_code: Mapped[str] = mapped_column(String(6), index=True, doc="enforcement region (GB/T 2260)")
    domains: Mapped[str] = mapped_column(Text, doc="JSON list of enforcement-domain codes")
    issuing_authority: Mapped[str | None] = mapped_column(String(255))
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    recorded_status: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True, doc="valid / suspended / revoked / expired")
    is_supervisor: Mapped[bool | None] = mapped_column(Boolean)
    source_version: Mapped[str | None] = mapped_column(String(64))
    event_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    source_system: Mapped[str | None] = mapped_column(String(64))
    revision: Mapped[int] = mapped_column(Integer, default=1, doc="incremented on every change")
    payload: Mapped[str | None] = mapped_column(Text, doc="newest source record, standard shape (JSON)")

    __table_args__ = (Index("ix_officers_status_valid_to", "status", "valid_to"),)


class OfficerStatusHistory(Base):
    __tablename__ = "officer_status_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    certificate_number: Mapped[str] = mapped_column(String(32), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    cause: Mapped[str] = mapped_column(String(16), doc="source / expiry")
    record_id: Mapped[str | None] = mapped_column(String(200), doc="input record that caused it (cause=source)")


class CertificateToken(Base):
    __tablename__ = "certificate_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    certificate_number: Mapped[str] = mapped_column(String(32), index=True)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    issued_by: Mapped[str] = mapped_column(String(128), doc="API client id that asked for the token")
    key_id: Mapped[str] = mapped_column(String(32))
