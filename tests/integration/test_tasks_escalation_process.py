"""``hub process`` with the ``tasks`` processor escalates an overdue assignment once per step (real broker)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from hub_api.tasks import service
from hub_api.tasks.spec import TaskCreate
from processors.runtime.contract import Context
from processors.runtime.outbox import enqueue
from tests.integration.processors.harness import ProcessorHub

pytestmark = pytest.mark.integration


def test_the_timer_reminds_then_escalates_exactly_once(database_url, tmp_path):
    with ProcessorHub(database_url, tmp_path, processors="tasks",
                      env={"HUB_TASKS_ESCALATION_INTERVAL_S": "0.3"}) as hub:
        body = TaskCreate(title="overdue", due_date="2020-01-03", participants=[
            {"region_code": "330106", "department_code": "330106SCJ", "department_name": "西湖区市场监督管理局"}],
            initiator={"department_code": "330100SCJ", "department_name": "杭州市市场监督管理局", "region_code": "330100"})
        with hub.db.engine.begin() as conn:
            ctx = Context(now=datetime.now(UTC))
            task, _ = service.create(conn, ctx, body, actor="test", own_province="330000")
            enqueue(conn, ctx.emitted, ctx.now)
        hub.start_processor()
        steps = "select kind, count(*) from task_events where kind in ('reminder', 'escalated') group by kind"
        hub.wait_for(lambda: len(hub.rows(steps)) == 2)
        time.sleep(1.2)  # several more ticks
        assert sorted(tuple(r) for r in hub.rows(steps)) == [("escalated", 1), ("reminder", 1)]
        assert hub.scalar("select escalated_to from task_assignments") == "330100SCJ"
        hub.wait_for(lambda: hub.scalar("select count(*) from outbox") == 0)  # produced to the broker
