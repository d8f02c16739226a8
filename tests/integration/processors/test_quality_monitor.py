"""Data quality end to end: records from two sources with known defects go through the broker into
``hub process``; the windows, the report API, the ``/metrics`` gauges and ``quality.reports`` show
exactly the expected figures (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import json
import time
from datetime import UTC, datetime

import httpx
from fastavro import parse_schema, schemaless_reader
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert

from connectors.store import ConnectorRow, ConnectorStatusRow
from hub_api.auth.service import AuthService
from schemas import loader
from tests.integration.kafka_utils import consume_all
from tests.integration.processors.harness import ProcessorHub
from tests.unit.processors.test_quality_measures import HOUR_MS, entity, inspection, uscc_for

REPORT_SCHEMA = "gov.zj.supervision.quality.DataQualityReport"


def _gauges(text: str) -> dict:
    return {(s.name, s.labels.get("source_system"), s.labels.get("department")): s.value
            for family in text_string_to_metric_families(text) if family.name.startswith("hub_quality_")
            for s in family.samples}


def test_quality_monitor_end_to_end(database_url, tmp_path):
    now_ms = int(time.time() * 1000)
    window = now_ms - now_ms % HOUR_MS - 2 * HOUR_MS  # a window closed over an hour ago, inside the 24 h
    base = window + 60_000
    bad = uscc_for("e3")[:17] + ("0" if uscc_for("e3")[17] != "0" else "1")
    sys_a = [  # entities from sys-a: one missing industry, one bad USCC, one two days late, one unchanged resend
        entity("sys-a", "e1", ingest_ms=base, latency_s=5),
        entity("sys-a", "e2", ingest_ms=base, industry=None),
        entity("sys-a", "e3", ingest_ms=base, uscc=bad),
        entity("sys-a", "e4", ingest_ms=base, latency_s=2 * 86400),
        entity("sys-a", "e1", ingest_ms=base + 1000, version=2, latency_s=5),
    ]
    i2 = inspection("sys-b", "i2", ingest_ms=base)
    i2["submitted_time"] = i2["inspection_time"] - 60_000  # submitted before the inspection
    sys_b = [inspection("sys-b", "i1", ingest_ms=base, latency_s=60), i2,
             inspection("sys-b", "i3", ingest_ms=base, latency_s=3600, inspectors=[])]

    with ProcessorHub(database_url, tmp_path, processors="quality", env={"HUB_QUALITY_TIMER_S": "1"}) as hub:
        stamp = datetime.now(UTC)
        with hub.db.engine.begin() as conn:  # what the connect worker reports for sys-a's connector
            conn.execute(insert(ConnectorRow).values(name="conn-a", plugin="kafka-json", config={"source_system": "sys-a"},
                                                     target_state="RUNNING", generation=1, created_at=stamp,
                                                     updated_at=stamp))
            conn.execute(insert(ConnectorStatusRow).values(name="conn-a", state="RUNNING",
                                                           counters={"dead_lettered": 2}, updated_at=stamp))
        hub.produce("entity.updates", sys_a)
        hub.produce("inspection.records", sys_b)
        hub.start_processor()
        hub.wait_for(lambda: hub.scalar("select coalesce(sum(records), 0) from quality_windows") == 8,
                     what="8 records measured")
        hub.wait_for(lambda: hub.scalar("select count(*) from quality_reports_sent") == 2
                     and hub.scalar("select count(*) from outbox") == 0
                     and hub.scalar("select coalesce(sum(rejected), 0) from quality_rejections") == 2,
                     what="2 reports relayed and 2 dead letters counted")

        cid, secret = AuthService(hub.db, hub.settings).create_client("quality-reader", "service", [])
        token = httpx.post(f"{hub.api.url}/oauth/token", data={"grant_type": "client_credentials"},
                           auth=(cid, secret)).json()["access_token"]
        since = datetime.fromtimestamp((window - HOUR_MS) / 1000, UTC).isoformat()
        answer = httpx.get(f"{hub.api.url}/quality/report", params={"since": since},
                           headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200, answer.text
        items = {(i["source_system"], i["department_code"]): i for i in answer.json()["items"]}
        assert set(items) == {("sys-a", "330106SCJ"), ("sys-a", ""), ("sys-b", "330203STJ")}
        a = items[("sys-a", "330106SCJ")]
        assert (a["records"], a["rejected"], a["duplicates"]) == (5, 0, 1)
        assert (a["completeness"], a["accuracy"], a["timeliness"]) == (39 / 40, 0.8, 0.8)
        assert (a["latency_p50_s"], a["latency_p95_s"]) == (5.0, 172800.0)
        assert a["top_missing_fields"] == [{"name": "industry", "count": 1}]
        assert a["top_errors"] == [{"name": "uscc:uscc_check", "count": 1}]
        assert a["department_name"] == "西湖区市场监督管理局"
        b = items[("sys-b", "330203STJ")]
        assert (b["records"], b["duplicates"], b["completeness"], b["accuracy"], b["timeliness"]) == (
            3, 0, 14 / 15, 2 / 3, 1.0)
        assert (b["latency_p50_s"], b["latency_p95_s"]) == (60.0, 3600.0)
        assert b["top_errors"] == [{"name": "submitted_time:date_order", "count": 1}]
        assert b["top_missing_fields"] == [{"name": "inspectors", "count": 1}]
        rejected = items[("sys-a", "")]
        assert (rejected["records"], rejected["rejected"], rejected["accuracy"], rejected["completeness"]) == (
            0, 2, 0.0, None)
        only_b = httpx.get(f"{hub.api.url}/quality/report", params={"since": since, "source": "sys-b"},
                           headers={"Authorization": f"Bearer {token}"}).json()["items"]
        assert [i["source_system"] for i in only_b] == ["sys-b"]
        assert httpx.get(f"{hub.api.url}/quality/report").status_code == 401
        assert httpx.get(f"{hub.api.url}/quality/report", params={"since": since, "until": since},
                         headers={"Authorization": f"Bearer {token}"}).json()["error"] == "invalid_period"

        g = _gauges(hub.metrics())
        assert g[("hub_quality_records", "sys-a", "330106SCJ")] == 5
        assert g[("hub_quality_duplicates", "sys-a", "330106SCJ")] == 1
        assert g[("hub_quality_completeness", "sys-a", "330106SCJ")] == 39 / 40
        assert g[("hub_quality_accuracy", "sys-a", "330106SCJ")] == 0.8
        assert g[("hub_quality_timeliness_p95_seconds", "sys-a", "330106SCJ")] == 172800
        assert g[("hub_quality_rejected", "sys-a", "")] == 2
        assert g[("hub_quality_accuracy", "sys-a", "")] == 0.0
        assert g[("hub_quality_accuracy", "sys-b", "330203STJ")] == 2 / 3
        assert g[("hub_quality_timeliness_p95_seconds", "sys-b", "330203STJ")] == 3600

        parsed = parse_schema(json.loads(loader.schema_json(REPORT_SCHEMA)))
        reports = [schemaless_reader(io.BytesIO(m.value()[5:]), parsed)
                   for m in consume_all(hub.bootstrap, "quality.reports", expected=2, idle_seconds=2)]
        assert sorted((r["source_system"], r["department"]["code"]) for r in reports) == [
            ("sys-a", "330106SCJ"), ("sys-b", "330203STJ")]
        ra = next(r for r in reports if r["source_system"] == "sys-a")
        assert (ra["records_total"], ra["duplicates"], ra["accuracy"], ra["timeliness"]) == (5, 1, 0.8, 0.8)
        assert ra["missing_field_counts"] == {"industry": 1} and ra["error_counts"] == {"uscc:uscc_check": 1}
        assert (ra["latency_p50_ms"], ra["latency_p95_ms"]) == (5000, 172_800_000)
        assert int(ra["window_start"].timestamp() * 1000) == window
        assert int(ra["window_end"].timestamp() * 1000) == window + HOUR_MS
