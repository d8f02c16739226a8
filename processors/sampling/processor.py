"""Processor ``sampling``: links inspection records to drawn objects and completes plans.

Consumes ``inspection.records`` (``InspectionRecord``). A record whose ``plan_id`` names a
drawn plan is linked to the drawn object it inspected (``counterpart.entity_id``, else
``counterpart.id_code``): result code/name, inspection number and time are written on the
``sampling_draws`` row, with an ``inspection_linked`` audit event. When the object was
already linked, the later inspection (by inspection time, then number) wins; an older one
is counted stale. A delete (``operation = d``) of the linked inspection unlinks it and
re-opens a completed plan. When every drawn object of a plan is linked, the plan becomes
``completed`` (audit event + a ``sampling.plans`` record) and its results are public.

Records that cannot be linked are counted, never fatal: ``no_plan`` (not from a draw),
``unknown_plan``, ``plan_not_drawn``, ``object_not_drawn`` (also audited on the plan);
``team_mismatch`` counts linked records whose inspectors differ from the drawn team.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, select, update

from hub_api.sampling.models import SamplingDraw, SamplingPlan
from hub_api.sampling.service import audit, emit_plan, load_plan
from processors.runtime.contract import Context, InRecord, Timer

LINKABLE = ("drawn", "completed")


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, UTC)
    return None


def _aware(t: datetime | None) -> datetime | None:
    return t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t  # SQLite drops the zone


class SamplingProcessor:
    name = "sampling"
    topics = ("inspection.records",)
    timers: tuple[Timer, ...] = ()

    def apply(self, conn: Connection, records: Sequence[InRecord], ctx: Context) -> None:
        touched: set[str] = set()
        statuses: dict[str, str | None] = {}
        for record in records:
            plan_id = record.value.get("plan_id")
            if not plan_id:
                ctx.count("no_plan")
                continue
            if plan_id not in statuses:
                statuses[plan_id] = conn.execute(
                    select(SamplingPlan.status).where(SamplingPlan.plan_id == plan_id)).scalar()
            status = statuses[plan_id]
            if status is None:
                ctx.count("unknown_plan")
            elif status not in LINKABLE:
                ctx.count("plan_not_drawn")
            elif self._link(conn, record, plan_id, ctx):
                touched.add(plan_id)
        for plan_id in sorted(touched):
            self._settle(conn, plan_id, ctx)

    def _link(self, conn: Connection, record: InRecord, plan_id: str, ctx: Context) -> bool:
        value = record.value
        counterpart = value.get("counterpart") or {}
        object_id = counterpart.get("entity_id") or counterpart.get("id_code")
        row = conn.execute(select(SamplingDraw.__table__).where(
            SamplingDraw.plan_id == plan_id, SamplingDraw.object_id == object_id)).first()
        number = value.get("inspection_number")
        actor = record.source_system or "inspection"
        if row is None:
            ctx.count("object_not_drawn")
            audit(conn, plan_id, "inspection_unmatched", actor, ctx.now, inspection_number=number)
            return False
        where = (SamplingDraw.plan_id == plan_id, SamplingDraw.draw_index == row.draw_index)
        if record.envelope.get("operation") == "d":
            if row.inspection_number != number:
                ctx.stale(record)
                return False
            conn.execute(update(SamplingDraw).where(*where).values(
                inspection_number=None, inspection_result_code=None, inspection_result_name=None,
                inspection_time=None, linked_at=None))
            audit(conn, plan_id, "inspection_unlinked", actor, ctx.now, draw_index=row.draw_index,
                  inspection_number=number)
            ctx.count("unlinked")
            return True
        when = _time(value.get("inspection_time"))
        current = (_aware(row.inspection_time), row.inspection_number or "")
        if row.inspection_number is not None and current[0] and when and (when, number) < current:
            ctx.stale(record)
            return False
        result = value.get("result") or {}
        conn.execute(update(SamplingDraw).where(*where).values(
            inspection_number=number, inspection_result_code=result.get("code"),
            inspection_result_name=result.get("name"), inspection_time=when, linked_at=ctx.now))
        drawn_team = {m["certificate_number"] for m in json.loads(row.inspectors)}
        if {m.get("certificate_number") for m in value.get("inspectors") or []} != drawn_team:
            ctx.count("team_mismatch")
        audit(conn, plan_id, "inspection_linked", actor, ctx.now, draw_index=row.draw_index,
              inspection_number=number, result_code=result.get("code"))
        ctx.count("linked")
        return True

    def _settle(self, conn: Connection, plan_id: str, ctx: Context) -> None:
        open_ = conn.execute(select(func.count()).select_from(SamplingDraw).where(
            SamplingDraw.plan_id == plan_id, SamplingDraw.inspection_number.is_(None))).scalar_one()
        plan = load_plan(conn, plan_id, lock=True)
        if plan.status == "drawn" and open_ == 0:
            plan.status, plan.completed_at = "completed", ctx.now
            event = "completed"
        elif plan.status == "completed" and open_ > 0:
            plan.status, plan.completed_at = "drawn", None
            event = "reopened"
        else:
            return
        conn.execute(update(SamplingPlan).where(SamplingPlan.plan_id == plan_id).values(
            status=plan.status, completed_at=plan.completed_at))
        audit(conn, plan_id, event, "processor.sampling", ctx.now, open_objects=open_)
        emit_plan(conn, plan, ctx.now)
        ctx.count(f"plans_{event}")


PROCESSOR = SamplingProcessor()
