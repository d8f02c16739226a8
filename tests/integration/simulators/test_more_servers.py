"""The complaint, grassroots, risk, unified-case and enforcement-Kafka simulators as real servers,
stores and brokers on loopback: documented shapes, auth, paging exactly once, signed feedback."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from connectors.runtime.pipeline import RecordRejected, validate
from connectors.sinks.signing import signed_headers, verify
from ops.broker import free_port
from ops.simulators.complaints import ComplaintSimulator
from ops.simulators.enforcement_kafka import EnforcementKafkaSimulator
from ops.simulators.grassroots import GrassrootsSimulator
from ops.simulators.risk_medical_waste import MedicalWasteSimulator
from ops.simulators.risk_road_transport import RoadTransportSimulator
from ops.simulators.unified_cases import SCHEMA, UnifiedCasesSimulator, from_json
from ops.threaded_server import ThreadedServer
from schemas.codes import normalize_identifier

pytestmark = pytest.mark.integration
KEY = {"X-Api-Key": "12345-sim-key"}


def _ledger_keys(sim):
    return Counter((e["key"], e["version"]) for e in sim.ledger.entries)


def _iso(ms: int) -> str:
    from ops.simulators.base import CST
    return datetime.fromtimestamp(ms / 1000, CST).isoformat(timespec="milliseconds")


# ------------------------------------------------------------------ 12345 complaints

def test_complaints_time_windows_pages_and_auth():
    with ComplaintSimulator(3, 150, bad_ratio=0.1) as sim, httpx.Client(base_url=sim.url) as c:
        t0, t1 = _iso(sim.stamps[0]), _iso(sim.stamps[-1] + 1)
        assert c.get("/api/tickets", params={"start": t0, "end": t1}).status_code == 401
        assert c.get("/api/tickets", params={"start": t0, "end": t1}, headers={"X-Api-Key": "no"}).status_code == 401
        assert c.get("/api/tickets", params={"start": t1, "end": t0}, headers=KEY).status_code == 400
        assert c.get("/api/tickets", params={"start": "yesterday", "end": t1}, headers=KEY).status_code == 400

        whole = c.get("/api/tickets", params={"start": t0, "end": t1}, headers=KEY).json()
        assert whole["total"] == len(whole["tickets"]) == 150 and whole["page"] is None

        seen, page = [], 1  # page walk
        while True:
            body = c.get("/api/tickets", params={"start": t0, "end": t1, "page": page, "page_size": 40},
                         headers=KEY).json()
            seen += body["tickets"]
            if page >= body["pages"]:
                break
            page += 1
        assert page == 4 and seen == whole["tickets"]

        mid = _iso(sim.stamps[70])  # two adjacent windows [t0, mid) + [mid, t1): each ticket once
        a = c.get("/api/tickets", params={"start": t0, "end": mid}, headers=KEY).json()["tickets"]
        b = c.get("/api/tickets", params={"start": mid, "end": t1}, headers=KEY).json()["tickets"]
        assert len(a) == 70 and a + b == whole["tickets"]
        assert Counter((t["ticketNo"], t["version"]) for t in a + b) == _ledger_keys(sim)

        sim.emit(5)  # the platform keeps working: a later window holds only the new versions
        new = c.get("/api/tickets", params={"start": t1, "end": _iso(sim.stamps[-1] + 1)}, headers=KEY).json()
        assert new["total"] == 5

        t = next(x for x in seen if not x["anonymous"] and x["complainant"]["idCardNo"])
        assert set(t["complainant"]) == {"name", "mobile", "idCardNo", "address"}
        assert t["appealKind"] in ("1", "2") and t["channel"]["code"] in ("01", "02", "03")
        datetime.strptime(t["stageTime"], "%Y-%m-%d %H:%M:%S")
        syncs = [datetime.fromisoformat(x["syncTime"]) for x in seen]
        assert syncs == sorted(syncs) and len(set(syncs)) == len(syncs)


def test_complaint_feedback_receiver_verifies_and_dedupes():
    secret = "feedback-secret-0123456789"
    with ComplaintSimulator(4, 20, feedback_secret=secret) as sim, httpx.Client(base_url=sim.url) as c:
        ticket = sim.rows[0]["ticketNo"]
        body = json.dumps({"delivery_id": "d-1", "value": {"ticket_id": ticket, "reply_text": "已办结"}},
                          ensure_ascii=False).encode()
        url = f"/api/tickets/{ticket}/feedback"
        headers = {"Content-Type": "application/json", **signed_headers(secret, body, "d-1")}
        assert c.post(url, content=body, headers=headers).json() == {"status": "accepted", "delivery_id": "d-1"}
        assert c.post(url, content=body, headers=headers).json()["status"] == "duplicate"  # a retry

        wrong = {**headers, **signed_headers("another-secret-xxxxxxxx", body, "d-2")}
        assert c.post(url, content=body, headers=wrong).status_code == 401
        stale = signed_headers(secret, body, "d-3", timestamp=int(time.time()) - 3600)
        assert c.post(url, content=body, headers=stale).status_code == 401
        tampered = body.replace("已办结".encode(), "未办结".encode())
        assert c.post(url, content=tampered, headers=headers).status_code == 401
        no_id = {k: v for k, v in signed_headers(secret, body, "d-4").items() if k != "X-Hub-Delivery-Id"}
        assert c.post(url, content=body, headers=no_id).status_code == 400
        assert c.post("/api/tickets/NOPE/feedback", content=body,
                      headers=signed_headers(secret, body, "d-5")).status_code == 404

        assert len(sim.feedback) == 1 and sim.feedback_duplicates == 1
        listed = c.get(url, headers=KEY).json()["feedback"]
        assert [f["delivery_id"] for f in listed] == ["d-1"] and listed[0]["body"]["value"]["reply_text"] == "已办结"
        assert c.get(url).status_code == 401


def test_complaints_cli(tmp_path):
    port = free_port()
    ledger = tmp_path / "c.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "ops.simulators.complaints", "--port", str(port), "--seed", "2",
                             "--count", "15", "--ledger", str(ledger)], stdout=subprocess.PIPE, text=True)
    try:
        assert "complaints simulator at" in proc.stdout.readline()
        end = (datetime.now().astimezone() + timedelta(minutes=1)).isoformat()
        start = (datetime.now().astimezone() - timedelta(days=1)).isoformat()
        r = httpx.get(f"http://127.0.0.1:{port}/api/tickets", params={"start": start, "end": end}, headers=KEY)
        assert r.json()["total"] == 15
    finally:
        proc.terminate()
        assert proc.wait(timeout=15) == 0
    assert len(ledger.read_text(encoding="utf-8").splitlines()) == 15


# ------------------------------------------------------------------ grassroots

def test_grassroots_pull_cursor_and_bearer():
    with GrassrootsSimulator(5, 130) as sim, httpx.Client(base_url=sim.url) as c:
        assert c.get("/api/events").status_code == 401
        auth = {"Authorization": "Bearer grid-sim-token"}
        assert c.get("/api/events", params={"cursor": "x"}, headers=auth).status_code == 400
        assert c.get("/api/events", params={"cursor": "9999"}, headers=auth).status_code == 400
        seen, cursor = [], None
        while True:
            data = c.get("/api/events", params={"size": 50, **({"cursor": cursor} if cursor else {})},
                         headers=auth).json()["data"]
            seen += data["events"]
            cursor = data["nextCursor"]
            if not data["hasMore"]:
                break
        assert Counter((e["event_no"], e["version"]) for e in seen) == _ledger_keys(sim)
        sim.emit(3)
        assert len(c.get("/api/events", params={"cursor": cursor}, headers=auth).json()["data"]["events"]) == 3
        e = seen[0]
        assert len(e["grid"]["code"]) == 15 and {"name", "phone", "role"} == set(e["reporter"])


def test_grassroots_push_signed_with_retry():
    secret, received, calls = "grid-secret-0123456789", {}, {"n": 0}
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request):
        calls["n"] += 1
        body = await request.body()
        h = request.headers
        if not verify(secret, h.get("x-hub-timestamp"), body, h.get("x-hub-signature")):
            return Response(status_code=401)
        if calls["n"] == 4:  # one transient failure: the simulator must retry with the same delivery id
            return Response(status_code=503)
        received.setdefault(h["x-hub-delivery-id"], json.loads(body))
        return {"ok": True}

    with ThreadedServer(app) as srv:
        sim = GrassrootsSimulator(6, 40, mode="push", webhook_url=f"{srv.url}/hook", secret=secret)
        assert len(sim.ledger) == 0  # nothing is pushed before start()
        assert sim.start() == f"{srv.url}/hook"
        sim.join(timeout=20)
        sim.stop()
    assert sim.delivered == 40 and sim.failed == 0 and calls["n"] == 41
    assert list(received) == [e["position"] for e in sim.ledger.entries]
    assert Counter((e["event_no"], e["version"]) for e in received.values()) == _ledger_keys(sim)


# ------------------------------------------------------------------ risk systems

def test_medical_waste_pages_and_bearer():
    with MedicalWasteSimulator(7, 120, bad_ratio=0.1) as sim, httpx.Client(base_url=sim.url) as c:
        assert c.get("/openapi/v1/risk-clues").status_code == 401
        auth = {"Authorization": "Bearer yf-sim-token"}
        rows, page = [], 1
        while True:
            res = c.get("/openapi/v1/risk-clues", params={"pageNum": page, "pageSize": 50}, headers=auth).json()
            rows += res["result"]["records"]
            if page >= res["result"]["pages"]:
                break
            page += 1
        assert page == 3 and res["result"]["total"] == 120
        assert Counter((r["clueId"], r["clueVersion"]) for r in rows) == _ledger_keys(sim)
        assert {r["riskLevel"] for r in rows} <= {"高", "中", "低"}
        assert all(0 <= r["riskScore"] <= 100 and r["orgCreditCode"].startswith("12") for r in rows)


def test_road_transport_file_drops(tmp_path):
    sim = RoadTransportSimulator(8, 130, directory=tmp_path, batch_size=50)
    assert sim.start() == str(tmp_path)
    sim.emit(10)
    sim.stop()
    files = sorted(tmp_path.glob("DLYS_ALARM_*.csv"))
    assert len(files) == 4 and not list(tmp_path.glob(".*"))
    positions = []
    for p in files:
        for line, row in enumerate(csv.DictReader(io.StringIO(p.read_bytes().decode("utf-8"))), start=2):
            positions.append((f"{p.name}:{line}", row["alarm_id"], int(row["alarm_version"])))
    assert positions == [(e["position"], e["key"], e["version"]) for e in sim.ledger.entries]


# ------------------------------------------------------------------ unified case system

def test_unified_cases_standard_json_cursor_walk():
    with UnifiedCasesSimulator(9, 260, bad_ratio=0.15) as sim, httpx.Client(base_url=sim.url) as c:
        assert c.get("/api/standard/penalty-events").status_code == 401
        auth = {"Authorization": "Bearer unified-sim-token"}
        items, cursor = [], None
        while True:
            page = c.get("/api/standard/penalty-events", params={"limit": 100, **({"cursor": cursor} if cursor else {})},
                         headers=auth).json()
            assert page["schema"] == SCHEMA
            items += page["items"]
            cursor = page["next_cursor"]
            if not page["has_more"]:
                break
        assert len(items) == 260
        for item, entry in zip(items, sim.ledger.entries, strict=True):
            assert (item["case_id"], int(item["envelope"]["source_version"])) == (entry["key"], entry["version"])
            value = from_json(item)
            value["counterpart"]["id_code"] = normalize_identifier(value["counterpart"]["id_code"])
            try:
                validate(SCHEMA, value)
                got = None
            except RecordRejected as exc:
                got = exc.reason
            assert got == entry["reason"]


# ------------------------------------------------------------------ enforcement on its own Kafka

def test_enforcement_produces_to_its_own_broker():
    from kafka import KafkaConsumer, TopicPartition

    sim = EnforcementKafkaSimulator(10, 120, bad_ratio=0.15)
    endpoint = sim.start()
    try:
        assert endpoint.topic == "zhzf.case.events" and sim.broker is not None and sim.broker.alive()
        assert endpoint.bootstrap == sim.broker.bootstrap
        assert str(endpoint) == f"kafka://{endpoint.bootstrap}/zhzf.case.events"
        sim.emit(15)
        consumer = KafkaConsumer(bootstrap_servers=endpoint.bootstrap, enable_auto_commit=False,
                                 fetch_max_wait_ms=10, consumer_timeout_ms=3000)
        parts = [TopicPartition(endpoint.topic, p) for p in range(3)]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        got, deadline = [], time.monotonic() + 20
        while len(got) < 135 and time.monotonic() < deadline:
            for recs in consumer.poll(timeout_ms=200).values():
                got += recs
        consumer.close()
        assert sorted(f"{r.partition}:{r.offset}" for r in got) == sorted(e["position"] for e in sim.ledger.entries)
        by_pos = {f"{r.partition}:{r.offset}": r for r in got}
        bad_encoding = 0
        for e in sim.ledger.entries:
            r = by_pos[e["position"]]
            assert r.key.decode() == e["key"]
            try:
                data = json.loads(r.value.decode("utf-8"))["data"]
            except UnicodeDecodeError:
                bad_encoding += 1
                assert e["reason"] == "encoding"
                continue
            assert (data["caseNo"], data["rev"]) == (e["key"], e["version"])
        assert bad_encoding == sum(e["reason"] == "encoding" for e in sim.ledger.entries)
    finally:
        sim.stop()


def test_hub_webhook_sink_closes_the_loop_on_the_complaint_platform():
    from connectors.sinks.base import SinkRecord, delivery_id
    from connectors.sinks.http_webhook import WebhookConfig, WebhookTask

    secret = "feedback-secret-0123456789"
    with ComplaintSimulator(11, 30, feedback_secret=secret) as sim:
        row = sim.rows[0]
        now = int(time.time() * 1000)
        value = {
            "envelope": {"record_id": f"complaints:{row['ticketNo']}:9", "source_system": "hub",
                         "source_position": {"partition": "0", "offset": "1"}, "operation": "u",
                         "event_time": now, "ingest_time": now, "region_code": "330102",
                         "department_code": "330000SCJ", "trace_id": None, "batch": None,
                         "source_key": row["ticketNo"], "source_version": "9"},
            "ticket_id": row["ticketNo"], "kind": "report", "complainant_name": "张三",
            "complainant_phone": "13800000000", "complainant_id_number": None, "complainant_address": None,
            "anonymous": False, "category": {"code": "0101", "name": "假冒伪劣", "code_system": None},
            "text": "反馈", "target_entity_id": None, "target_entity_name": None, "target_address": None,
            "region_code": "330102", "channel": {"code": "01", "name": "12345热线", "code_system": None},
            "status": "replied", "received_time": now, "handling_department": None, "due_date": None,
            "reply_text": "经核查属实，已立案查处。", "evaluation": None, "case_id": None,
        }
        rid = value["envelope"]["record_id"]
        rec = SinkRecord(topic="complaint.tickets", partition=0, offset=1, timestamp=now, key=row["ticketNo"],
                         value=value, schema="gov.zj.supervision.complaint.Complaint", record_id=rid,
                         delivery_id=delivery_id(rid, "complaint.tickets", 0, 1))
        task = WebhookTask(WebhookConfig(topic="complaint.tickets", url=f"{sim.url}/api/feedback", secret=secret))
        try:
            assert task.deliver([rec]) == [None]
            assert task.deliver([rec]) == [None]  # a redelivery after a crash: deduplicated by the receiver
        finally:
            task.close()
        got = sim.feedback_for(row["ticketNo"])
        assert len(got) == 1 and sim.feedback_duplicates == 1
        assert got[0]["body"]["value"]["reply_text"] == "经核查属实，已立案查处。"
        assert got[0]["body"]["value"]["complainant_name"] != "张三"  # masked for a department not cleared
