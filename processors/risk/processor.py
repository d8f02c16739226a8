"""The ``risk`` processor: clues in, dispatches out, departments' steps applied, deadlines escalated.

Inputs: ``risk.alerts`` (clues from the industry risk systems; operation ``d`` withdraws one),
``supervision.alerts`` of
kind ``clock_overdue`` (hub-own clues: the case's department must explain the overdue
statutory clock; other kinds, including this loop's own overdue alerts, are ignored) and
``risk.feedback`` (departments' steps sent on the topic; steps the API already applied are
recognised by their event id and skipped). A step that cannot apply (unknown dispatch,
another department, a step after return) is recorded as a ``rejected`` event and counted,
never raised. The ``escalate`` timer runs every minute.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Engine

from processors.risk.config import load_config
from processors.risk.escalation import escalate
from processors.risk.loop import StepError, apply_step, open_clue, record_event, utc, withdraw_clue
from processors.risk.loop import _from_ms as from_ms
from processors.runtime.contract import Context, InRecord, Timer

FEEDBACK_STEPS = {"received": "receive", "handling": "handling", "handled": "feedback", "returned": "return",
                  "closed": "close"}


class RiskProcessor:
    name = "risk"
    topics = ("risk.alerts", "supervision.alerts", "risk.feedback")

    def __init__(self, config_path=None) -> None:
        self.cfg = load_config(config_path) if config_path else load_config()
        self.timers = (Timer("escalate", 60.0, self.escalate),)

    def apply(self, conn: Connection, records: Sequence[InRecord], ctx: Context) -> None:
        ctx.now = utc(ctx.now)  # SQLite drops offsets: everything stored is UTC
        for record in records:
            if record.topic == "risk.alerts":
                self._clue(conn, record, ctx)
            elif record.topic == "supervision.alerts":
                self._hub_clue(conn, record, ctx)
            elif record.topic == "risk.feedback":
                self._feedback(conn, record, ctx)

    def escalate(self, conn: Connection, ctx: Context) -> None:
        ctx.now = utc(ctx.now)
        escalate(conn, ctx, self.cfg)

    def collector(self, engine: Engine):
        from processors.risk.report import RiskCollector

        return RiskCollector(engine)

    def _clue(self, conn: Connection, record: InRecord, ctx: Context) -> None:
        clue = record.value
        event_time = from_ms(record.envelope.get("event_time"))
        if record.envelope.get("operation") == "d":
            outcome = withdraw_clue(conn, ctx, clue, event_time=event_time)
        else:
            outcome = open_clue(conn, ctx, clue, self.cfg, origin="risk_system", event_time=event_time)
        if outcome == "stale":
            ctx.stale(record)

    def _hub_clue(self, conn: Connection, record: InRecord, ctx: Context) -> None:
        a = record.value
        if a.get("kind") != "clock_overdue":
            ctx.count("supervision_alert_ignored")
            return
        region = a.get("region_code") or record.envelope.get("region_code") or "330000"
        clue = {"alert_id": f"sa:{a['alert_id']}", "risk_system": "hub.cases",
                "category": {"code": "CLOCK_OVERDUE", "name": "执法时限超期"},
                "risk_level": self.cfg.severity_levels.get(a.get("severity"), "medium"),
                "title": a.get("rule_code"), "entity_id": None, "catalog_code": None, "region_code": region,
                "detected_time": a.get("detected_time"),
                "responsible_departments": [a["department"]] if a.get("department") else []}
        open_clue(conn, ctx, clue, self.cfg, origin="supervision_alert", event_time=None)

    def _feedback(self, conn: Connection, record: InRecord, ctx: Context) -> None:
        f = record.value
        step = FEEDBACK_STEPS.get(f.get("step"), "handling")
        at = utc(from_ms(f.get("feedback_time"))) or ctx.now
        dept = (f.get("department") or {}).get("code")
        try:
            apply_step(conn, ctx, self.cfg, alert_id=f["alert_id"], dispatch_id=f["dispatch_id"], step=step, at=at,
                       event_id=record.record_id, actor="topic", department_code=dept, result=f.get("result"),
                       reason=f.get("description") if step == "return" else None,
                       detail={"case_id": f.get("case_id")})
        except StepError as exc:
            record_event(conn, record.record_id, f["alert_id"], "rejected", ctx.now, actor="topic",
                         dispatch_id=f.get("dispatch_id"), department_code=dept,
                         detail={"error": exc.code, "step": step})
            ctx.count(f"feedback_rejected_{exc.code}")


PROCESSOR = RiskProcessor()
