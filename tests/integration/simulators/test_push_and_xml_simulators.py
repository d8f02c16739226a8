"""Transport pushes signed JSON to a real webhook; natural resources drops XML batch files."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter

import pytest
from fastapi import FastAPI, Request, Response

from connectors.sinks.signing import verify
from ops.simulators.natural_resources import NS, NaturalResourcesSimulator
from ops.simulators.transport import TransportSimulator
from ops.threaded_server import ThreadedServer

pytestmark = pytest.mark.integration


def _ledger_keys(sim):
    return Counter((e["key"], e["version"]) for e in sim.ledger.entries)


def test_transport_pushes_hmac_signed_json():
    received, calls = [], {"n": 0}
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request):
        calls["n"] += 1
        if calls["n"] == 3:  # one transient failure: the simulator must retry
            return Response(status_code=503)
        body = await request.body()
        # The hub's convention: HMAC over "<timestamp>.<body>", verified as the push endpoint does.
        assert verify("s3cret", request.headers["x-hub-timestamp"], body, request.headers["x-hub-signature"],
                      tolerance=300)
        assert request.headers["x-hub-delivery-id"].startswith("transport-")
        received.append(await request.json())
        return {"ok": True}

    with ThreadedServer(app) as srv:
        sim = TransportSimulator(6, 40, webhook_url=f"{srv.url}/hook", secret="s3cret")
        assert sim.start() == f"{srv.url}/hook"
        sim.join(timeout=20)
        sim.stop()
    assert sim.delivered == 40 and sim.failed == 0 and calls["n"] == 41
    assert Counter((r["case"]["case_no"], r["case"]["revision"]) for r in received) == _ledger_keys(sim)
    assert len({r["delivery_id"] for r in received}) == 40


def test_natural_resources_xml_batches_and_encoding_defect(tmp_path):
    sim = NaturalResourcesSimulator(7, 200, bad_ratio=0.2, directory=tmp_path)
    sim.start()
    sim.emit(20)
    sim.stop()
    keys: Counter = Counter()
    bad_files = 0
    for p in sorted(tmp_path.glob("*.xml")):
        raw = p.read_bytes()
        assert raw.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            bad_files += 1
            root = ET.fromstring(raw.decode("gb18030").split("\n", 1)[1])
            assert len(root) == 1
            continue
        root = ET.fromstring(raw)
        assert root.tag == f"{{{NS}}}xzcfBatch" and int(root.get("count")) == len(root)
        for case in root:
            keys[(case.get("caseNo"), int(case.get("version")))] += 1
    dead_enc = [e for e in sim.ledger.entries if e["reason"] == "encoding"]
    assert bad_files == len(dead_enc) > 0
    good_side = Counter((e["key"], e["version"]) for e in sim.ledger.entries if e["reason"] != "encoding")
    assert keys == good_side
    assert not list(tmp_path.glob(".*"))


def test_taxation_soap_service_with_zeep():
    zeep = pytest.importorskip("zeep")
    from ops.simulators.taxation import PATH, TaxationSimulator

    with TaxationSimulator(8, 130) as sim:
        client = zeep.Client(f"{sim.url}{PATH}?wsdl")
        keys, seq = Counter(), 0
        while True:
            resp = client.service.QueryCases(startSeq=seq, maxCount=50)
            keys.update((c.ajbh, c.bbh) for c in resp.cases.case)
            seq = resp.nextSeq
            if not resp.hasMore:
                break
        assert seq == 130 and keys == _ledger_keys(sim)
        import httpx
        r = httpx.post(f"{sim.url}{PATH}", content=b"<not-soap/>", headers={"Content-Type": "text/xml"})
        assert r.status_code == 500 and b"Fault" in r.content
