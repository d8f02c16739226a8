"""Tables of the risk loop.

``risk_clues`` is one row per clue (``alert_id``) with its aggregate state and the ordered
re-routing candidates; ``risk_dispatches`` one row per clue x department (``dispatch_id`` =
``alert_id:department_code[:supervise]``, so a clue is never pushed twice to the same
department); ``risk_events`` every step taken into account, with a deterministic
``event_id`` so a redelivered input or a second timer tick records nothing twice. Event
details carry codes, times and reasons, never personal data.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub_api.db import Base

_ID = BigInteger().with_variant(Integer, "sqlite")


class RiskClue(Base):
    __tablename__ = "risk_clues"

    alert_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    origin: Mapped[str] = mapped_column(String(32), doc="risk_system / supervision_alert")
    risk_system: Mapped[str | None] = mapped_column(String(128))
    category_code: Mapped[str | None] = mapped_column(String(64))
    category_name: Mapped[str | None] = mapped_column(String(255))
    risk_level: Mapped[str] = mapped_column(String(12))
    title: Mapped[str | None] = mapped_column(String(500))
    entity_id: Mapped[str | None] = mapped_column(String(32), index=True)
    catalog_code: Mapped[str | None] = mapped_column(String(14))
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    detected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    event_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), doc="newest source event applied")
    state: Mapped[str] = mapped_column(String(16), index=True,
                                       doc="pushed / received / handling / closed / unrouted / withdrawn")
    candidates: Mapped[str] = mapped_column(Text, doc="JSON list of {code, name, region_code, rule} for re-routing")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RiskDispatch(Base):
    __tablename__ = "risk_dispatches"

    dispatch_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    alert_id: Mapped[str] = mapped_column(String(200), index=True)
    role: Mapped[str] = mapped_column(String(12), doc="responsible / supervise (督办 copy to the level above)")
    department_code: Mapped[str] = mapped_column(String(64), index=True)
    department_name: Mapped[str] = mapped_column(String(255))
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    matched_rule: Mapped[str] = mapped_column(String(64))
    risk_level: Mapped[str] = mapped_column(String(12))
    state: Mapped[str] = mapped_column(String(12), index=True,
                                       doc="pushed / received / handling / fed_back / returned / closed")
    dispatched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    receive_due: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    feedback_due: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    received_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    handling_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    fed_back_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    returned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    return_reason: Mapped[str | None] = mapped_column(Text)
    result_code: Mapped[str | None] = mapped_column(String(64))
    result_name: Mapped[str | None] = mapped_column(String(255))
    receive_escalation: Mapped[int] = mapped_column(Integer, doc="0 none, 1 reminded, 2 supervised (督办)")
    feedback_escalation: Mapped[int] = mapped_column(Integer, doc="0 none, 1 reminded, 2 supervised (督办)")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RiskEvent(Base):
    __tablename__ = "risk_events"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(400), unique=True)
    alert_id: Mapped[str] = mapped_column(String(200))
    dispatch_id: Mapped[str | None] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(24), doc="clue / updated / pushed / unrouted / received / handling / "
                                                      "fed_back / returned / rerouted / closed / reminder / supervised / rejected")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    department_code: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(16), doc="source / api / topic / timer / hub")
    detail: Mapped[str | None] = mapped_column(Text, doc="JSON: codes, reasons, certificate numbers; no personal data")

    __table_args__ = (Index("ix_risk_events_alert", "alert_id", "id"),)
