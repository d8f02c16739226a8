"""``python -m tests.integration.processors.echo_main``: ``hub process`` with one test processor.

The processor stores alert ids from ``risk.alerts`` in a table ``echo`` (created here),
rejects the id ``bad`` and emits a supervision alert for ids starting with ``E``, so a test
can watch the faust host's decode, dedupe, dead-letter and outbox paths end to end.
"""

from __future__ import annotations

from sqlalchemy import text

from hub_api.db import Database
from ops.settings import HubSettings
from processors.app import run
from tests.records import envelope, minimal


class Echo:
    name = "echo"
    topics = ("risk.alerts",)
    timers = ()

    def apply(self, conn, records, ctx):
        for r in records:
            alert_id = r.value["alert_id"]
            if alert_id == "bad":
                raise ValueError("cannot handle this one")
            conn.execute(text("insert into echo(alert_id) values (:a)"), {"a": alert_id})
            if alert_id.startswith("E"):
                ctx.emit("supervision.alerts", minimal("gov.zj.supervision.risk.SupervisionAlert",
                                                       alert_id=f"sa-{alert_id}", subject_id=alert_id,
                                                       envelope=envelope("hub", alert_id, 1)))


if __name__ == "__main__":
    settings = HubSettings()
    db = Database(settings.database_url)
    with db.engine.begin() as conn:
        conn.execute(text("create table if not exists echo(alert_id varchar(64) primary key)"))
    db.dispose()
    raise SystemExit(run(settings, processors={"echo": Echo()}))
