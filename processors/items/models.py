"""Tables of the item catalog. Every version of an item is kept (``item_versions``), so an
inspection form can be assembled as of any date; ``items`` points at the current one.
Contract columns (read by entity links, double random and triage): catalog_code, name,
domain_code, industry_codes, implementations.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub_api.db import Base


class ItemVersion(Base):
    __tablename__ = "item_versions"

    catalog_code: Mapped[str] = mapped_column(String(14), primary_key=True)
    version: Mapped[str] = mapped_column(String(32), primary_key=True)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    name: Mapped[str] = mapped_column(String(255))
    national_code: Mapped[str | None] = mapped_column(String(32))
    provincial_code: Mapped[str | None] = mapped_column(String(32))
    power_list_code: Mapped[str | None] = mapped_column(String(64))
    domain_code: Mapped[str | None] = mapped_column(String(32))
    domain_name: Mapped[str | None] = mapped_column(String(255))
    item_type_code: Mapped[str | None] = mapped_column(String(32))
    legal_basis: Mapped[str | None] = mapped_column(Text)
    implementations: Mapped[str] = mapped_column(Text, doc="JSON list of ItemImplementation dicts")
    check_contents: Mapped[str] = mapped_column(Text, doc="JSON list of CheckContent dicts")
    industry_codes: Mapped[str] = mapped_column(Text, doc="JSON list of GB/T 4754 prefixes the item applies to")
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    source_version: Mapped[str | None] = mapped_column(String(64), doc="envelope source version (corrections)")
    operation: Mapped[str | None] = mapped_column(String(1), doc="envelope operation i / u / d")
    record: Mapped[str | None] = mapped_column(Text, doc="JSON: the standard record as received (dates ISO)")


class Item(Base):
    __tablename__ = "items"

    catalog_code: Mapped[str] = mapped_column(String(14), primary_key=True)
    current_version: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255))
    domain_code: Mapped[str | None] = mapped_column(String(32), index=True)
    industry_codes: Mapped[str] = mapped_column(Text)
    implementations: Mapped[str] = mapped_column(Text)
    active: Mapped[str] = mapped_column(String(1), default="y")
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
