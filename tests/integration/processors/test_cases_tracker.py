"""Case tracker end to end: broker -> ``hub process`` (cases) -> SQL -> supervision.alerts, and the API.

One hub per database (SQLite, PostgreSQL). Stage times are relative to the real clock (the
subprocess cannot use a FixedClock): two dozen recent lifecycles that meet every limit, a
simple-procedure case, an invalid transition, an out-of-order event, a filing with a
suspended officer and a case filed 400 days ago that is overdue on arrival.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
from fastavro import parse_schema, schemaless_reader
from sqlalchemy import insert

from hub_api.auth.service import AuthService
from processors.officers.models import Officer
from schemas import loader
from tests.integration.kafka_utils import consume_all
from tests.integration.processors.harness import ProcessorHub
from tests.records import envelope, minimal

PCE = "gov.zj.supervision.penalty.PenaltyCaseEvent"
NOW = datetime.now(UTC)
OFFICERS = [{"name": "甲", "certificate_number": "C-1"}, {"name": "乙", "certificate_number": "C-2"}]
# The fine-payment clock (15 days from the decision, warning 3 days before) must stay clear of its
# warning even if the tracker's timer runs between the decision and the execution that stops it.
LIFECYCLE = [("case_source", -60), ("filing", -59), ("investigation", -55), ("notice", -30), ("decision", -8),
             ("execution", -6), ("closing", -5), ("archive", -2)]


class Feed:
    def __init__(self) -> None:
        self.versions: dict[str, int] = {}

    def __call__(self, case_id: str, stage: str, days: float, dept: str = "330100SFJ", region: str = "330102",
                 **fields) -> dict:
        v = self.versions[case_id] = self.versions.get(case_id, 0) + 1
        return minimal(PCE, envelope=envelope("sys-" + dept, case_id, v, department_code=dept),
                       case_id=case_id, stage=stage, stage_time=NOW + timedelta(days=days), region_code=region,
                       implementing_agency={"code": dept, "name": "执法局", "code_system": None},
                       officers=OFFICERS if stage == "filing" else [], **fields)


def bearer(hub: ProcessorHub, scopes: list[str]) -> dict[str, str]:
    cid, secret = AuthService(hub.db, hub.settings).create_client(f"c-{'-'.join(scopes) or 'none'}", "service", scopes)
    token = httpx.post(f"{hub.api.url}/oauth/token", data={"grant_type": "client_credentials"},
                       auth=(cid, secret)).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_cases_clocks_alerts_and_api(database_url, tmp_path):
    ev = Feed()
    events: list[dict] = []
    for i in range(24):
        dept, region = ("330100SFJ", "330102") if i % 2 else ("330200SCJ", "330203")
        events += [ev(f"OK-{i:02d}", s, d, dept, region,
                      fine_amount=Decimal("800.00") if s == "decision" else None) for s, d in LIFECYCLE]
    events += [ev("SIMPLE", "case_source", -3), ev("SIMPLE", "decision", -3 + 0.01, procedure="simple")]
    events += [ev("BAD", "case_source", -10), ev("BAD", "filing", -9), ev("BAD", "archive", -8)]
    events += [ev("LATE", "case_source", -20), ev("LATE", "filing", -19), ev("LATE", "investigation", -10),
               ev("LATE", "suspension", -15)]  # older than the investigation
    suspended = ev("SUSP", "filing", -5)
    suspended["officers"] = [OFFICERS[0], {"name": "丙", "certificate_number": "C-3"}]
    events += [ev("SUSP", "case_source", -6), suspended]
    events += [ev("OLD", "case_source", -402, "330100SFJ", "330106"), ev("OLD", "filing", -400, "330100SFJ", "330106"),
               ev("OLD", "investigation", -398, "330100SFJ", "330106")]

    with ProcessorHub(database_url, tmp_path, processors="cases") as hub:
        hub.db.create_schema()
        with hub.db.engine.begin() as conn:
            conn.execute(insert(Officer), [
                {"certificate_number": c, "name": "x", "department_code": "330100SFJ", "department_name": "d",
                 "region_code": "330100", "domains": "[]", "recorded_status": s, "status": s,
                 "event_time": NOW, "updated_at": NOW}
                for c, s in [("C-1", "valid"), ("C-2", "valid"), ("C-3", "suspended")]])
        hub.produce("penalty.case.events", events)
        hub.start_processor()
        hub.wait_for(lambda: hub.scalar("select count(*) from case_events") == len(events),
                     what=f"{len(events)} case events")

        states = dict(hub.rows("select case_id, state from cases"))
        assert len(states) == 29
        assert all(states[f"OK-{i:02d}"] == "archived" for i in range(24))
        assert (states["SIMPLE"], states["BAD"], states["LATE"], states["SUSP"], states["OLD"]) == (
            "decided", "filed", "investigating", "filed", "investigating")
        assert sorted(hub.rows("select case_id, kind from case_anomalies")) == [
            ("BAD", "invalid_transition"), ("LATE", "out_of_order"), ("SUSP", "filing_officers")]
        open_alerts = sorted(hub.rows("select subject_id, kind, rule_code from supervision_alerts where status = 'open'"))
        assert open_alerts == [("OLD", "clock_overdue", "penalty.decide_within_90_days"),
                               ("SUSP", "other", "penalty.filing_officers")]

        api, reader = hub.api.url, bearer(hub, [])
        case = httpx.get(f"{api}/cases/OLD", headers=reader).json()
        assert case["state"] == "investigating" and case["department"]["code"] == "330100SFJ"
        clocks = {c["limit"]: c for c in case["clocks"]}
        assert clocks["decision"]["state"] == "breached" and clocks["decision"]["remaining_working_days"] < -150
        assert clocks["filing_decision"]["state"] == "met"
        assert [o["certificate_number"] for o in case["officers"]] == ["C-1", "C-2"]
        assert not {o["name"] for o in case["officers"]} & {"甲", "乙"}  # masked without pii:read
        clear = httpx.get(f"{api}/cases/OLD", headers=bearer(hub, ["pii:read"])).json()
        assert [o["name"] for o in clear["officers"]] == ["甲", "乙"]
        ok = httpx.get(f"{api}/cases/OK-01", headers=reader).json()
        assert {c["limit"]: c["state"] for c in ok["clocks"]} == {
            "filing_decision": "met", "decision": "met", "statement_window": "expired", "fine_payment": "met"}
        history = httpx.get(f"{api}/cases/BAD/history", headers=reader).json()
        assert [(h["stage"], h["outcome"]) for h in history] == [
            ("case_source", "applied"), ("filing", "applied"), ("archive", "invalid")]
        missing = httpx.get(f"{api}/cases/NOPE", headers=reader)
        assert missing.status_code == 404 and missing.json()["error"] == "case_not_found"
        assert httpx.get(f"{api}/cases/OLD").status_code == 401

        hz = httpx.get(f"{api}/supervision/alerts", params={"region": "330100"}, headers=reader).json()
        assert hz["total"] == 2 and {a["subject_id"] for a in hz["items"]} == {"OLD", "SUSP"}
        assert httpx.get(f"{api}/supervision/alerts", params={"region": "330200"}, headers=reader).json()["total"] == 0
        by_dept = httpx.get(f"{api}/supervision/alerts", params={"department": "330100SFJ", "kind": "clock_overdue"},
                            headers=reader).json()
        assert [a["subject_id"] for a in by_dept["items"]] == ["OLD"]
        assert by_dept["items"][0]["due_at"] is not None

        schema = parse_schema(json.loads(loader.schema_json("gov.zj.supervision.risk.SupervisionAlert")))
        msgs = consume_all(hub.bootstrap, "supervision.alerts", expected=2)
        on_topic = sorted((m.key().decode(), schemaless_reader(io.BytesIO(m.value()[5:]), schema)["rule_code"])
                          for m in msgs)
        assert on_topic == [("OLD", "penalty.decide_within_90_days"), ("SUSP", "penalty.filing_officers")]
