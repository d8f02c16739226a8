"""Triage end to end: complaint -> ``hub process`` (triage, cases) -> lead with a pseudonym -> case source
-> handling via the API -> ``complaint.tickets`` reply for the platform's sink, without complainant identity."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import httpx
from fastavro import parse_schema, schemaless_reader

from hub_api.auth.service import AuthService
from schemas import loader
from tests.integration.kafka_utils import consume_all
from tests.integration.processors.harness import ProcessorHub
from tests.records import envelope, minimal

CPL = "gov.zj.supervision.complaint.Complaint"
ID_NUMBER, PHONE, NAME = "330106199001011234", "13800001111", "王某某"


def bearer(hub: ProcessorHub, scopes: list[str]) -> dict[str, str]:
    cid, secret = AuthService(hub.db, hub.settings).create_client(f"t-{'-'.join(scopes)}", "service", scopes)
    token = httpx.post(f"{hub.api.url}/oauth/token", data={"grant_type": "client_credentials"},
                       auth=(cid, secret)).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def complaint(tid: str, text: str, code: str) -> dict:
    return minimal(CPL, envelope=envelope("complaints", tid, 1), ticket_id=tid, kind="report", text=text,
                   category={"code": code, "name": "c", "code_system": None}, region_code="330106",
                   status="received", received_time=datetime.now(UTC) - timedelta(hours=2),
                   complainant_name=NAME, complainant_phone=PHONE, complainant_id_number=ID_NUMBER)


def test_complaint_to_case_source_and_reply(database_url, tmp_path):
    with ProcessorHub(database_url, tmp_path, processors="triage,cases") as hub:
        hub.produce("complaint.tickets", [complaint("T-100", f"举报某店销售假冒白酒，举报人{NAME}", "0101"),
                                          complaint("T-101", "工地夜间打桩", "0104")])
        hub.start_processor()
        hub.wait_for(lambda: hub.scalar("select count(*) from triage_leads") == 2, what="two leads")
        lead_id = hub.scalar("select lead_id from triage_leads where source_id = 'T-100'")
        hub.wait_for(lambda: hub.scalar("select count(*) from cases where case_id = :c", c=lead_id) == 1,
                     what="the case tracker sees the case source")
        assert hub.scalar("select state from cases where case_id = :c", c=lead_id) is not None

        url = hub.api.url
        listed = httpx.get(f"{url}/triage/leads", params={"department": "330106SCJ"},
                           headers=bearer(hub, ["pii:read"])).json()
        [lead] = listed["items"]
        assert (lead["lead_id"], lead["rule_id"], lead["form"]) == (lead_id, "counterfeit", "lead")
        assert lead["complainant_ref"].startswith("cp-") and NAME not in json.dumps(listed, ensure_ascii=False)

        body = {"result": "substantiated", "reply_text": "经查属实，已立案"}
        denied = httpx.post(f"{url}/triage/leads/{lead_id}/handling", json=body, headers=bearer(hub, ["pii:read"]))
        assert denied.status_code == 403
        writer = bearer(hub, ["tasks:write"])
        done = httpx.post(f"{url}/triage/leads/{lead_id}/handling", json=body, headers=writer)
        assert done.status_code == 200 and done.json()["status"] == "handled"
        again = httpx.post(f"{url}/triage/leads/{lead_id}/handling", json=body, headers=writer)
        assert (again.status_code, again.json()["error"]) == (409, "already_handled")

        schema = parse_schema(json.loads(loader.schema_json(CPL)))
        msgs = consume_all(hub.bootstrap, "complaint.tickets", expected=3)
        replies = [schemaless_reader(io.BytesIO(m.value()[5:]), schema) for m in msgs]
        replies = [r for r in replies if r["status"] == "replied"]
        assert len(replies) == 1
        reply = replies[0]
        assert (reply["ticket_id"], reply["reply_text"], reply["case_id"]) == ("T-100", "经查属实，已立案", lead_id)
        raw = b"".join(m.value() for m in msgs if b"hub.triage" in m.value())
        for secret in (NAME, PHONE, ID_NUMBER):
            assert secret.encode() not in raw
        # the processor sees its own reply on complaint.tickets and skips it
        hub.wait_for(lambda: "own_feedback" in hub.metrics(), what="own reply skipped")
        assert hub.scalar("select count(*) from triage_decisions") == 2


def test_repeated_complaints_about_an_entity_become_a_dispatched_risk_clue(database_url, tmp_path):
    with ProcessorHub(database_url, tmp_path, processors="triage,risk") as hub:
        tickets = []
        for i in range(4):
            c = complaint(f"RC-T{i}", "该店多次销售过期食品", "0101")
            c["target_entity_id"] = "E-RC-1" if i < 3 else "E-RC-2"
            tickets.append(c)
        hub.produce("complaint.tickets", tickets)
        hub.start_processor()
        hub.wait_for(lambda: hub.scalar("select count(*) from risk_dispatches") >= 1, what="a dispatched clue")
        hub.wait_for(lambda: hub.scalar("select count(*) from outbox") == 0, what="outbox drained")
        clues = hub.rows("select alert_id, state from risk_clues")
        assert len(clues) == 1 and clues[0][0].startswith("RC-")
        dispatches = hub.rows("select department_code, matched_rule from risk_dispatches")
        # no item links for this entity: routed by the category's domain (market regulation), county level
        assert dispatches == [("330106SCJ", "category_domain")]
        assert hub.scalar("select entity_ref from triage_repeated_clues") == "E-RC-1"
