"""Tables of the supervised-object registry.

``entities`` holds one golden record per entity (merged from every source, see
:mod:`processors.entities.merge`); ``entity_source_versions`` keeps what each source last
said (its full standard record as JSON), so the golden record can be recomputed and its
provenance shown; ``entity_item_links`` says which items an entity is supervised for and by
which department at which region level (derived from industry / item scope, or explicit).

Other capabilities (double random, case tracker, risk routing) read these tables; the
columns listed in each class docstring are a contract and may only be added to.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub_api.db import Base


class Entity(Base):
    """Golden record. Contract columns: entity_id, kind, uscc, resident_id, name, industry_code,
    region_code, status_code, risk_grade_code, updated_at."""

    __tablename__ = "entities"

    entity_id: Mapped[str] = mapped_column(
        String(32), primary_key=True,
        doc="USCC for organisations; for natural persons a hub pseudonym of the resident ID "
            "(processors.entities.identity.pseudonym), never the ID itself")
    kind: Mapped[str] = mapped_column(String(32), doc="enterprise / individual_business / natural_person / other")
    uscc: Mapped[str | None] = mapped_column(String(18), index=True)
    resident_id: Mapped[str | None] = mapped_column(String(18), index=True)
    registration_number: Mapped[str | None] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255))
    industry_code: Mapped[str | None] = mapped_column(String(8), doc="GB/T 4754 code (section letter + digits)")
    industry_name: Mapped[str | None] = mapped_column(String(255))
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    status_code: Mapped[str | None] = mapped_column(String(32))
    status_name: Mapped[str | None] = mapped_column(String(64))
    risk_grade_code: Mapped[str | None] = mapped_column(String(16))
    legal_representative: Mapped[str | None] = mapped_column(String(64))
    operator_name: Mapped[str | None] = mapped_column(String(64))
    premises: Mapped[str | None] = mapped_column(String(255))
    business_scope: Mapped[str | None] = mapped_column(Text)
    registration_date: Mapped[date | None] = mapped_column(Date)
    revocation_date: Mapped[date | None] = mapped_column(Date)
    longitude: Mapped[float | None] = mapped_column(Float)
    latitude: Mapped[float | None] = mapped_column(Float)
    sources: Mapped[str] = mapped_column(String(255), doc="comma-separated source systems that describe it")
    field_sources: Mapped[str] = mapped_column(Text, doc="JSON: golden field -> source system it came from")
    revision: Mapped[int] = mapped_column(Integer, doc="incremented on every change of the golden record")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    record: Mapped[str | None] = mapped_column(
        Text, doc="JSON: the merged standard record (SupervisedEntity without envelope, dates ISO)")

    __table_args__ = (Index("ix_entities_region_industry", "region_code", "industry_code"),
                      Index("ix_entities_industry", "industry_code"))


class EntitySourceVersion(Base):
    """What one source last said about one entity (its newest version)."""

    __tablename__ = "entity_source_versions"

    entity_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    source_system: Mapped[str] = mapped_column(String(64), primary_key=True)
    source_version: Mapped[str | None] = mapped_column(String(64))
    event_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    record_id: Mapped[str] = mapped_column(String(200))
    operation: Mapped[str] = mapped_column(String(1))
    payload: Mapped[str] = mapped_column(Text, doc="the source's standard record (JSON)")
    source_kind: Mapped[str | None] = mapped_column(
        String(16), doc="registry (entity.updates) / mention (a party in penalty or complaint records)")


class EntityItemLink(Base):
    """Entity -> item -> department at a region level. Contract columns: every one below."""

    __tablename__ = "entity_item_links"

    link_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    entity_id: Mapped[str] = mapped_column(String(32), index=True)
    catalog_code: Mapped[str] = mapped_column(String(14), index=True)
    department_code: Mapped[str] = mapped_column(String(64), index=True)
    department_name: Mapped[str] = mapped_column(String(255))
    admin_level: Mapped[str] = mapped_column(String(16), doc="province / city / county")
    region_code: Mapped[str] = mapped_column(String(6), index=True, doc="region of the responsible department")
    source: Mapped[str] = mapped_column(String(16), doc="derived / explicit")
    rule: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
