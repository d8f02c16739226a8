"""The HTTP simulators as real servers on loopback: auth, paging, gzip, clean stop."""

from __future__ import annotations

import base64
import subprocess
import sys
import time
from collections import Counter

import httpx
import pytest

from ops.broker import free_port
from ops.simulators.health import HealthSimulator
from ops.simulators.market_regulation import MarketRegulationSimulator
from ops.simulators.public_security import PublicSecuritySimulator

pytestmark = pytest.mark.integration
AUTH = {"Authorization": "Bearer ps-sim-token"}


def _ledger_keys(sim):
    return Counter((e["key"], e["version"]) for e in sim.ledger.entries)


def _assert_stopped(url):
    with pytest.raises(httpx.TransportError):
        httpx.get(url + "/", timeout=1)


def test_public_security_cursor_paging_and_bearer(tmp_path):
    sim = PublicSecuritySimulator(3, 230, ledger_path=tmp_path / "ps.jsonl")
    url = sim.start()
    try:
        assert httpx.get(f"{url}/api/cases").status_code == 401
        r = httpx.get(f"{url}/api/cases", headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert httpx.get(f"{url}/api/cases?cursor=bogus", headers=AUTH).status_code == 400

        seen, cursor = [], None
        with httpx.Client(base_url=url, headers=AUTH) as client:
            while True:
                page = client.get("/api/cases", params={"limit": 50, **({"cursor": cursor} if cursor else {})}).json()
                seen += page["items"]
                cursor = page["next_cursor"]
                if not page["has_more"]:
                    break
            assert len(seen) == 230
            assert Counter((i["ajbh"], i["updated_seq"]) for i in seen) == _ledger_keys(sim)
            item = seen[0]
            assert {"ajbh", "dsr_mc", "dsr_zjhm", "wfss", "cfjg", "lasj", "updated_seq"} <= item.keys()
            filed = next(i for i in seen if i["lasj"])
            time.strptime(filed["lasj"], "%Y-%m-%d %H:%M:%S")

            sim.emit(7)  # the system keeps working: resume from the stored cursor
            page = client.get("/api/cases", params={"cursor": cursor, "limit": 50}).json()
            assert len(page["items"]) == 7 and not page["has_more"]
    finally:
        sim.stop()
    _assert_stopped(url)
    assert len(sim.ledger.load(tmp_path / "ps.jsonl")) == 237


def test_health_page_paging_basic_auth_and_formats():
    with HealthSimulator(4, 120) as sim:
        assert httpx.get(f"{sim.url}/cases").status_code == 401
        rows, page = [], 1
        while True:
            body = httpx.get(f"{sim.url}/cases", params={"page": page, "size": 50},
                             auth=("wjw", "wjw-sim")).json()["data"]
            rows += body["list"]
            if page >= body["pages"]:
                break
            page += 1
        assert body["total"] == 120 and page == 3
        assert Counter((r["caseCode"], r["versionNo"]) for r in rows) == _ledger_keys(sim)
        filed = next(r for r in rows if r["registerDate"])
        assert len(filed["registerDate"]) == 8 and filed["registerDate"].isdigit()
        assert isinstance(filed["stageTime"], int) and filed["stageTime"] > 1_500_000_000_000
    _assert_stopped(f"http://127.0.0.1:{sim.port}")


def test_market_regulation_gzip_and_pages():
    with MarketRegulationSimulator(5, 75) as sim, httpx.Client() as client:
        req = client.build_request("GET", f"{sim.url}/api/v1/punishments",
                                   params={"pageNo": 1, "pageSize": 50})
        resp = client.send(req, stream=True)
        raw = b"".join(resp.iter_raw())
        assert resp.headers["content-encoding"] == "gzip" and raw[:2] == b"\x1f\x8b"
        rows = httpx.get(f"{sim.url}/api/v1/punishments", params={"pageNo": 1, "pageSize": 50}).json()["rows"]
        rows += httpx.get(f"{sim.url}/api/v1/punishments", params={"pageNo": 2, "pageSize": 50}).json()["rows"]
        assert Counter((r["CF_AJBH"], r["CF_BBH"]) for r in rows) == _ledger_keys(sim)


def test_cli_serves_and_stops(tmp_path):
    port = free_port()
    ledger = tmp_path / "cli.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "ops.simulators.public_security", "--port",
                             str(port), "--seed", "2", "--count", "20", "--ledger", str(ledger)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert "public_security simulator at" in proc.stdout.readline()
        r = httpx.get(f"http://127.0.0.1:{port}/api/cases",
                      headers={"Authorization": "Bearer ps-sim-token"})
        assert len(r.json()["items"]) == 20
    finally:
        proc.terminate()
        assert proc.wait(timeout=15) == 0
    assert len(ledger.read_text(encoding="utf-8").splitlines()) == 20


def test_basic_credentials_are_configurable():
    sim = HealthSimulator(1, 5, user="u", password="p")
    assert sim.credentials == "Basic " + base64.b64encode(b"u:p").decode()
