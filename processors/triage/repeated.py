"""The hub's own risk rule "an entity with repeated complaints" (重复投诉): a clue for the risk loop.

When a complaint or report naming an entity is triaged, the complaints about that entity
received in the ``window_days`` up to and including this one are counted (by received time,
so a replay or a late arrival counts the same). Reaching ``threshold`` raises one clue on
``risk.alerts`` -- risk system ``hub.triage``, category ``RC01`` -- which the ``risk`` processor
routes like any other (the entity's item links, else the category's domains, see
``processors/risk/data/deadlines.json``). One clue per entity per window: another is raised
only by a complaint received at least ``window_days`` after the last clue's. The clue carries
counts and lead ids, never complainants' data.

The rule is data (``data/repeated_complaints.json``); ``threshold: 0`` turns it off.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, func, insert, or_, select

from processors.entities.models import Entity
from processors.runtime.contract import Context
from processors.triage.models import RepeatedComplaintClue, TriageLead
from processors.triage.records import SOURCE_SYSTEM, envelope, ms

DEFAULT_PATH = Path(__file__).parent / "data" / "repeated_complaints.json"
LEADS, CLUES, ENTITIES = TriageLead.__table__, RepeatedComplaintClue.__table__, Entity.__table__


class Category(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=128)


class RepeatRule(BaseModel):
    """When complaints about one entity become a risk clue."""

    model_config = ConfigDict(extra="forbid")

    threshold: int = Field(3, ge=0, description="Complaints in the window that raise a clue (0: rule off)")
    window_days: int = Field(30, ge=1, le=366, description="Look-back window, calendar days, by received time")
    risk_level: Literal["low", "medium", "high", "critical"] = "medium"
    category: Category = Category(code="RC01", name="重复投诉举报")


def load_rule(path: Path | str = DEFAULT_PATH) -> RepeatRule:
    return RepeatRule.model_validate_json(Path(path).read_text(encoding="utf-8"))


def raise_repeated(conn: Connection, ctx: Context, rule: RepeatRule, leads: list[dict]) -> int:
    """Check each new complaint lead (dicts as inserted, in the caller's transaction); returns clues raised."""
    if rule.threshold <= 0:
        return 0
    raised = 0
    window = timedelta(days=rule.window_days)
    for lead in sorted(leads, key=lambda x: (x["received_at"], x["lead_id"])):
        ref = lead.get("entity_id")
        if lead["source"] != "complaint" or not ref:
            continue
        received = lead["received_at"]
        since = received - window
        recent = conn.execute(select(func.count()).select_from(CLUES).where(
            CLUES.c.entity_ref == ref, CLUES.c.last_received_at > since,
            CLUES.c.last_received_at <= received + window)).scalar_one()
        if recent:
            continue
        rows = conn.execute(select(LEADS.c.lead_id).where(
            LEADS.c.source == "complaint", LEADS.c.entity_id == ref,
            LEADS.c.received_at > since, LEADS.c.received_at <= received)
            .order_by(LEADS.c.received_at, LEADS.c.lead_id)).scalars().all()
        if len(rows) < rule.threshold:
            continue
        alert_id = "RC-" + hashlib.sha256(f"{ref}|{received.isoformat()}".encode()).hexdigest()[:20].upper()
        entity = conn.execute(select(ENTITIES.c.entity_id, ENTITIES.c.name).where(
            or_(ENTITIES.c.entity_id == ref, ENTITIES.c.uscc == ref))).first()
        conn.execute(insert(CLUES).values(alert_id=alert_id, entity_ref=ref, complaints=len(rows),
                                          lead_ids=json.dumps(rows), last_received_at=received,
                                          raised_at=ctx.now))
        ctx.emit("risk.alerts", _clue(alert_id, rule, ref, entity, lead, rows, received, ctx.now))
        ctx.count("repeated_complaints_clue")
        raised += 1
    return raised


def _clue(alert_id: str, rule: RepeatRule, ref: str, entity, lead: dict, lead_ids: list[str],
          received: datetime, now: datetime) -> dict:
    n = len(lead_ids)
    return {
        "envelope": envelope(alert_id, "1", now, lead["region_code"], lead["department_code"], operation="i"),
        "alert_id": alert_id, "risk_system": SOURCE_SYSTEM,
        "category": {**rule.category.model_dump(), "code_system": None},
        "risk_level": rule.risk_level, "score": float(n),
        "title": f"重复投诉举报：{rule.window_days} 日内 {n} 件",
        "description": f"{n} complaints/reports about this entity received in {rule.window_days} days "
                       f"(threshold {rule.threshold}); triage leads: {', '.join(lead_ids)}",
        "entity_id": entity.entity_id if entity else ref, "entity_name": entity.name if entity else None,
        "catalog_code": None, "region_code": lead["region_code"], "detected_time": ms(received),
        "evidence_url": None, "responsible_departments": [],
    }
