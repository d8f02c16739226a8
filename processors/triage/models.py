"""Tables of the triage processor: one decision per triaged ticket/event, one lead per decision.

``triage_leads`` never holds a complainant's name, phone, ID number or address: only
``complainant_ref``, an HMAC pseudonym (see :mod:`processors.triage.pseudonym`).
``feedback_base`` is the original record without its envelope and without every field the
data standard marks ``pii``: the handling report is built from it, so the reply that flows
back to the complaint platform carries no complainant data the hub did not already strip.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub_api.db import Base


class TriageDecision(Base):
    __tablename__ = "triage_decisions"

    decision_id: Mapped[str] = mapped_column(String(160), primary_key=True, doc="<source>:<ticket/event id>")
    source: Mapped[str] = mapped_column(String(16), doc="complaint / grassroots")
    source_id: Mapped[str] = mapped_column(String(128))
    record_id: Mapped[str] = mapped_column(String(200))
    rule_id: Mapped[str] = mapped_column(String(64), index=True)
    rules_version: Mapped[str] = mapped_column(String(32))
    form: Mapped[str] = mapped_column(String(16))
    reasons: Mapped[str] = mapped_column(Text, doc="JSON list of plain reasons")
    departments: Mapped[str] = mapped_column(Text, doc="JSON list of {code, name}")
    region_code: Mapped[str | None] = mapped_column(String(6))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    lead_id: Mapped[str] = mapped_column(String(40))
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TriageLead(Base):
    __tablename__ = "triage_leads"
    __table_args__ = (Index("ix_triage_leads_dept_status", "department_code", "status"),)

    lead_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    decision_id: Mapped[str] = mapped_column(String(160), index=True)
    source: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[str] = mapped_column(String(128), doc="ticket id / grid event id (origin_ref)")
    kind: Mapped[str | None] = mapped_column(String(16), doc="complaint / report / other; null for grid events")
    rule_id: Mapped[str] = mapped_column(String(64))
    form: Mapped[str] = mapped_column(String(16), doc="lead / inspection_task / joint_task")
    department_code: Mapped[str] = mapped_column(String(32), doc="lead department")
    department_name: Mapped[str] = mapped_column(String(128))
    departments: Mapped[str] = mapped_column(Text, doc="JSON list of every {code, name} (joint tasks: all)")
    region_code: Mapped[str | None] = mapped_column(String(6))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    category_code: Mapped[str | None] = mapped_column(String(32))
    category_name: Mapped[str | None] = mapped_column(String(128))
    summary: Mapped[str] = mapped_column(Text, doc="the complaint text with the complainant's own data redacted")
    complainant_ref: Mapped[str | None] = mapped_column(String(48), doc="HMAC pseudonym; null when anonymous")
    case_id: Mapped[str | None] = mapped_column(String(64), doc="case id of the case source (form lead)")
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    acceptance_due: Mapped[date] = mapped_column(Date, doc="7 working days after receipt")
    filing_due: Mapped[date | None] = mapped_column(Date, doc="15 working days after receipt (form lead)")
    status: Mapped[str] = mapped_column(String(16), doc="open / handled")
    handling_result: Mapped[str | None] = mapped_column(String(32))
    reply_text: Mapped[str | None] = mapped_column(Text)
    handled_by: Mapped[str | None] = mapped_column(String(128), doc="API client id that reported handling")
    handled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    feedback_base: Mapped[str] = mapped_column(Text, doc="JSON: original record minus envelope and pii fields")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RepeatedComplaintClue(Base):
    """One clue raised by the repeated-complaints rule (:mod:`processors.triage.repeated`)."""

    __tablename__ = "triage_repeated_clues"
    __table_args__ = (Index("ix_triage_repeated_entity", "entity_ref", "last_received_at"),)

    alert_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    entity_ref: Mapped[str] = mapped_column(String(64), doc="entity id or USCC as the complaints named it")
    complaints: Mapped[int] = mapped_column(Integer)
    lead_ids: Mapped[str] = mapped_column(Text, doc="JSON list of the leads counted")
    last_received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), doc="received time of the "
                                                                                   "complaint that raised it")
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
