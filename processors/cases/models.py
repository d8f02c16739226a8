"""Tables of the case tracker.

``cases`` is one row per case (current state and the facts the clocks need: milestones,
pauses, extensions); ``case_events`` the history of every event taken into account,
including out-of-order and invalid ones; ``case_clocks`` one row per case and statutory
limit; ``case_anomalies`` what was wrong (invalid transition, out of order, officers at
filing, ...); ``supervision_alerts`` the alerts raised, open or closed. Alert ids are
deterministic (``case:limit:kind``), so an alert is never raised twice.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub_api.db import Base

_ID = BigInteger().with_variant(Integer, "sqlite")


class Case(Base):
    __tablename__ = "cases"

    case_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    state: Mapped[str | None] = mapped_column(String(24), index=True)
    last_stage: Mapped[str | None] = mapped_column(String(24))
    last_stage_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    department_code: Mapped[str | None] = mapped_column(String(64), index=True)
    department_name: Mapped[str | None] = mapped_column(String(255))
    region_code: Mapped[str | None] = mapped_column(String(6), index=True)
    procedure: Mapped[str | None] = mapped_column(String(16))
    penalty_name: Mapped[str | None] = mapped_column(String(255))
    fine_amount: Mapped[str | None] = mapped_column(String(32))
    lead_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    filed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    milestones: Mapped[str] = mapped_column(Text, doc="JSON: stage -> ISO time of its first event")
    officers: Mapped[str] = mapped_column(Text, doc="JSON list of {name, certificate_number} (latest named)")
    pauses: Mapped[str] = mapped_column(Text, doc="JSON list of {kind, start, end} (end null while open)")
    extensions: Mapped[str] = mapped_column(Text, doc="JSON: limit code -> approved extension (limit's unit)")
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False)
    source_system: Mapped[str | None] = mapped_column(String(128))
    source_version: Mapped[str | None] = mapped_column(String(64))
    event_count: Mapped[int] = mapped_column(Integer)
    anomaly_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CaseEvent(Base):
    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(128))
    record_id: Mapped[str] = mapped_column(String(200))
    stage: Mapped[str] = mapped_column(String(24))
    stage_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str] = mapped_column(String(16), doc="applied / repeat / out_of_order / invalid / unknown_stage / withdrawn")
    from_state: Mapped[str | None] = mapped_column(String(24))
    to_state: Mapped[str | None] = mapped_column(String(24))
    document_number: Mapped[str | None] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(Text)
    extension_days: Mapped[int | None] = mapped_column(Integer)
    source_system: Mapped[str | None] = mapped_column(String(128))
    source_version: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_case_events_case", "case_id", "stage_time"),)


class CaseClock(Base):
    __tablename__ = "case_clocks"

    case_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    limit_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    rule_code: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(12), doc="deadline / window")
    unit: Mapped[str] = mapped_column(String(16))
    days: Mapped[int] = mapped_column(Integer)
    extension_days: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_date: Mapped[date | None] = mapped_column(Date, doc="last local day of the limit (Asia/Shanghai)")
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), doc="exclusive: start of the next day")
    warn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(12), doc="running / paused / met / breached / expired / cancelled")
    due_soon_alerted: Mapped[bool] = mapped_column(Boolean, default=False)
    overdue_alerted: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_case_clocks_state_due", "state", "due_at"),)


class CaseAnomaly(Base):
    __tablename__ = "case_anomalies"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(128), index=True)
    record_id: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(48), index=True)
    stage: Mapped[str | None] = mapped_column(String(24))
    state: Mapped[str | None] = mapped_column(String(24), doc="case state when it was detected")
    detail: Mapped[str] = mapped_column(Text, doc="what was wrong, without personal data")
    detected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SupervisionAlertRow(Base):
    __tablename__ = "supervision_alerts"

    alert_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(24), doc="clock_due_soon / clock_overdue / other")
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(128), index=True)
    limit_code: Mapped[str | None] = mapped_column(String(32))
    rule_code: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(12))
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    detected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    department_code: Mapped[str | None] = mapped_column(String(64))
    department_name: Mapped[str | None] = mapped_column(String(255))
    region_code: Mapped[str | None] = mapped_column(String(6))
    escalation_level: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(8), doc="open / closed")
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    message: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_supervision_alerts_status", "status", "department_code", "region_code"),)
