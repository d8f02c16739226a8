"""Tables of the officer registry. Contract columns (read by double random and the case
tracker; may only be added to): certificate_number, name, department_code, department_name,
region_code, domains, status, valid_from, valid_to.

``status`` is the *effective* status: the source's status (valid / suspended / revoked),
turned to ``expired`` by the daily expiry timer once ``valid_to`` has passed;
``recorded_status`` keeps what the source said.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, DateTime, String, Text
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
