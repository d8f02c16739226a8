"""``tasks``: the timer that escalates overdue joint-task assignments.

The faust host needs a topic per agent, so the processor consumes ``task.status`` (its
own module's output: applying it only counts it, which is idempotent and harmless) and
does its real work in the ``escalate`` timer (:func:`hub_api.tasks.escalation.escalate`),
every ``interval_s`` seconds (``HUB_TASKS_ESCALATION_INTERVAL_S``, default 60).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from sqlalchemy import Connection

from hub_api.tasks import models as _models  # noqa: F401 - declares the task tables for create_schema
from hub_api.tasks.escalation import EscalationPolicy, escalate
from processors.runtime.contract import Context, InRecord, Timer


class TaskProcessor:
    name = "tasks"
    topics = ("task.status",)

    def __init__(self, policy: EscalationPolicy | None = None, interval_s: float | None = None) -> None:
        self.policy = policy or EscalationPolicy()
        interval = interval_s or float(os.environ.get("HUB_TASKS_ESCALATION_INTERVAL_S", "60"))
        self.timers = (Timer("escalate", interval, self.escalate),)

    def escalate(self, conn: Connection, ctx: Context) -> None:
        escalate(conn, ctx, self.policy)

    def apply(self, conn: Connection, records: Sequence[InRecord], ctx: Context) -> None:
        ctx.count("status_seen", len(records))


PROCESSOR = TaskProcessor()
