"""Tables of double random: plans, frozen pool snapshots, draws and the append-only audit trail.

A plan is created ``published`` (its seed commitment is public from the start), becomes
``drawn`` once (seed revealed, pools frozen in ``sampling_snapshots``, one
``sampling_draws`` row per drawn object) and ``completed`` when every drawn object has an
inspection record. After the draw the plan's rules, pools and draw never change: the API
answers 409 to any change, and only the inspection link columns of ``sampling_draws``
are written afterwards (by the ``sampling`` processor).

Snapshots are stored as zlib-compressed chunks of the canonical lines of
:mod:`hub_api.sampling.draw` (50,000 entries per row), so a 1,000,000-object pool is
~20 rows and the stored bytes hash to the published snapshot hash.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub_api.db import Base

STATUSES = ("draft", "published", "drawn", "completed", "cancelled")


class SamplingPlan(Base):
    __tablename__ = "sampling_plans"

    plan_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    year: Mapped[int] = mapped_column(Integer)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    region_name: Mapped[str] = mapped_column(String(255))
    department_code: Mapped[str] = mapped_column(String(64), index=True)
    department_name: Mapped[str] = mapped_column(String(255))
    department_uscc: Mapped[str] = mapped_column(String(18))
    catalog_codes: Mapped[str] = mapped_column(Text, doc="JSON list of 14-digit item codes")
    object_filters: Mapped[str] = mapped_column(Text, doc="JSON ObjectFilters")
    inspector_filters: Mapped[str] = mapped_column(Text, doc="JSON InspectorFilters")
    ratio: Mapped[str | None] = mapped_column(String(16), doc="decimal string in (0, 1], or null with count")
    count: Mapped[int | None] = mapped_column(Integer)
    inspectors_per_object: Mapped[int] = mapped_column(Integer)
    recusal: Mapped[str] = mapped_column(Text, doc="JSON Recusal rules as requested")
    status: Mapped[str] = mapped_column(String(16), index=True, doc="draft/published/drawn/completed/cancelled")
    algorithm: Mapped[str] = mapped_column(String(64))
    seed: Mapped[str] = mapped_column(String(64), doc="hex; secret until the draw")
    seed_commitment: Mapped[str] = mapped_column(String(64))
    pseudonym_key: Mapped[str] = mapped_column(String(64), doc="hex; secret, keys natural persons' pool ids")
    object_snapshot_hash: Mapped[str | None] = mapped_column(String(64))
    inspector_snapshot_hash: Mapped[str | None] = mapped_column(String(64))
    object_pool_size: Mapped[int | None] = mapped_column(Integer)
    inspector_pool_size: Mapped[int | None] = mapped_column(Integer)
    conflicts: Mapped[str | None] = mapped_column(Text, doc="JSON: effective conflict list used by the draw")
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    drawn_by: Mapped[str | None] = mapped_column(String(128))
    drawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SamplingSnapshot(Base):
    """One compressed chunk of a frozen pool (kind ``objects`` or ``inspectors``)."""

    __tablename__ = "sampling_snapshots"

    plan_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    chunk: Mapped[int] = mapped_column(Integer, primary_key=True)
    entries: Mapped[int] = mapped_column(Integer)
    body: Mapped[bytes] = mapped_column(LargeBinary, doc="zlib of canonical lines")


class SamplingDraw(Base):
    """One drawn object, its team, recusals and (later) the inspection record that closed it."""

    __tablename__ = "sampling_draws"

    plan_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    draw_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    object_key: Mapped[str] = mapped_column(String(64), doc="the pool key (entity id or NP- pseudonym)")
    object_id: Mapped[str] = mapped_column(String(32), doc="entity id in the registry")
    object_kind: Mapped[str | None] = mapped_column(String(32))
    object_name: Mapped[str] = mapped_column(String(255))
    object_uscc: Mapped[str | None] = mapped_column(String(18))
    object_region_code: Mapped[str | None] = mapped_column(String(6))
    inspectors: Mapped[str] = mapped_column(Text, doc="JSON list of {certificate_number, name}")
    recused: Mapped[str] = mapped_column(Text, doc="JSON list of {certificate_number, reason}")
    inspection_number: Mapped[str | None] = mapped_column(String(128))
    inspection_result_code: Mapped[str | None] = mapped_column(String(32))
    inspection_result_name: Mapped[str | None] = mapped_column(String(255))
    inspection_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    linked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_sampling_draws_plan_object", "plan_id", "object_id"),)


class SamplingAudit(Base):
    """Append-only: created, drawn, tasks_emitted, inspection_linked, completed, cancelled, refused."""

    __tablename__ = "sampling_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(String(64), index=True)
    event: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    detail: Mapped[str] = mapped_column(Text, doc="JSON; never personal data")
