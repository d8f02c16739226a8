"""Officer registry end to end: broker -> ``hub process`` (officers) -> SQL -> officer.registry, and the API.

One hub per database (SQLite, PostgreSQL): updates with suspension and revocation reach the
registry table and topic; a token issued for a valid certificate verifies, and verifies
invalid as soon as a revocation is processed or the expiry timer has run; personal data is
masked without ``pii:read``.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import httpx
from fastavro import parse_schema, schemaless_reader
from sqlalchemy import text

from hub_api.auth.service import AuthService
from processors.officers.processor import SCHEMA
from processors.officers.status import today
from schemas import loader
from schemas.codes import make_resident_id
from tests.integration.kafka_utils import consume_all
from tests.integration.processors.harness import ProcessorHub
from tests.records import envelope, minimal

RESIDENT_ID = make_resident_id("330106", datetime(1985, 6, 1).date(), 123)
PHONE = "13812345678"


def officer(cert: str, version: int, status: str = "valid", days_left: int = 365, domains=("SPAQ",),
            region: str = "330106", record_id: str | None = None) -> dict:
    valid_to = today(datetime.now(UTC)) + timedelta(days=days_left)
    return minimal(
        SCHEMA, envelope=envelope("zj-sft", cert, version, region_code=region, department_code=f"{region}SCJ",
                                  record_id=record_id),
        certificate_number=cert, name="张三丰", resident_id=RESIDENT_ID, phone=PHONE,
        department={"code": f"{region}SCJ", "name": "市场监督管理局", "code_system": None},
        enforcement_region={"code": region, "name": "x", "code_system": None},
        enforcement_domains=[{"code": d, "name": d, "code_system": None} for d in domains],
        certificate_valid_from=valid_to - timedelta(days=1000), certificate_valid_to=valid_to, status=status)


def bearer(hub: ProcessorHub, scopes: list[str]) -> dict[str, str]:
    cid, secret = AuthService(hub.db, hub.settings).create_client(f"c-{'-'.join(scopes) or 'none'}", "service", scopes)
    token = httpx.post(f"{hub.api.url}/oauth/token", data={"grant_type": "client_credentials"},
                       auth=(cid, secret)).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def status_of(hub: ProcessorHub, cert: str) -> str | None:
    return hub.scalar("select status from officers where certificate_number = :c", c=cert)


def test_registry_tokens_revocation_expiry_and_masking(database_url, tmp_path):
    env = {"HUB_OFFICERS_EXPIRE_INTERVAL_S": "1"}
    with ProcessorHub(database_url, tmp_path, processors="officers", env=env) as hub:
        hub.produce("officer.updates", [
            officer("C1", 1), officer("C2", 1, domains=("TZSB",), region="330502"), officer("C3", 1),
            officer("C3", 2, status="suspended"), officer("C5", 1),
            officer("C3", 1, status="revoked", record_id="late-copy"),  # older than C3's v2: stale
        ])
        hub.start_processor()
        hub.wait_for(lambda: hub.scalar("select count(*) from processed_records") == 6, what="6 updates processed")
        assert hub.rows("select certificate_number, status from officers order by 1") == [
            ("C1", "valid"), ("C2", "valid"), ("C3", "suspended"), ("C5", "valid")]
        assert hub.scalar("select count(*) from processed_records where outcome = 'stale'") == 1

        api = hub.api.url
        issuer, reader, pii = bearer(hub, ["certificates:issue"]), bearer(hub, []), bearer(hub, ["pii:read"])

        # Lookup: masked without pii:read, clear (and audited) with it; filters.
        masked = httpx.get(f"{api}/officers/C1", headers=reader).json()
        assert (masked["name"], masked["status"]) == ("张*丰", "valid")
        assert masked["resident_id"] == RESIDENT_ID[:6] + "********" + RESIDENT_ID[-4:]
        assert masked["phone"] == "138****5678"
        clear = httpx.get(f"{api}/officers/C1", headers=pii).json()
        assert (clear["name"], clear["resident_id"], clear["phone"]) == ("张三丰", RESIDENT_ID, PHONE)
        assert hub.scalar("select count(*) from pii_access_log where subject_id = 'C1'") == 1
        assert httpx.get(f"{api}/officers/C1").status_code == 401
        assert httpx.get(f"{api}/officers/nope", headers=reader).json()["error"] == "not_found"
        page = httpx.get(f"{api}/officers", params={"region": "330100", "domain": "SPAQ"}, headers=reader).json()
        assert [o["certificate_number"] for o in page["items"]] == ["C1", "C3", "C5"] and page["total"] == 3
        assert all("张三丰" not in json.dumps(o, ensure_ascii=False) for o in page["items"])
        suspended = httpx.get(f"{api}/officers", params={"status": "suspended"}, headers=reader).json()
        assert [o["certificate_number"] for o in suspended["items"]] == ["C3"]

        # Tokens: scope-protected; refused for a suspended certificate.
        assert httpx.post(f"{api}/officers/C1/token", headers=reader).status_code == 403
        refused = httpx.post(f"{api}/officers/C3/token", headers=issuer)
        assert refused.status_code == 409
        assert (refused.json()["error"], refused.json()["reason"]) == ("certificate_not_valid", "certificate_suspended")
        assert httpx.post(f"{api}/officers/C1/token", json={"ttl_seconds": 99999}, headers=issuer).status_code == 422
        issued = httpx.post(f"{api}/officers/C1/token", json={"ttl_seconds": 600}, headers=issuer)
        assert issued.status_code == 200, issued.text
        verify_url = issued.json()["verify_url"]
        assert verify_url.startswith(f"{api}/verify/")
        c5 = httpx.post(f"{api}/officers/C5/token", headers=issuer).json()

        ok = httpx.get(verify_url)  # public: no credentials
        assert ok.status_code == 200
        body = ok.json()
        assert (body["valid"], body["reason"], body["certificate_number"], body["officer"]) == (True, "ok", "C1", "张*丰")
        assert body["department"]["code"] == "330106SCJ" and body["domains"][0]["code"] == "SPAQ"
        assert RESIDENT_ID not in ok.text and PHONE not in ok.text and "张三丰" not in ok.text
        assert httpx.get(f"{api}/verify/not-a-token").status_code == 400
        keys = httpx.get(f"{api}/verify/keys").json()
        assert keys["keys"][0]["crv"] == "Ed25519"

        # Revocation: the same unexpired token verifies invalid once the update is processed.
        hub.produce("officer.updates", [officer("C1", 2, status="revoked")])
        hub.wait_for(lambda: status_of(hub, "C1") == "revoked", what="C1 revoked")
        revoked = httpx.get(verify_url).json()
        assert (revoked["valid"], revoked["reason"]) == (False, "certificate_revoked")

        # Expiry by the timer: a day passes for C5 (its validity is moved into the past).
        assert httpx.get(c5["verify_url"]).json()["valid"] is True
        with hub.db.engine.begin() as conn:
            conn.execute(text("update officers set valid_to = :d where certificate_number = 'C5'"),
                         {"d": today(datetime.now(UTC)) - timedelta(days=2)})
        hub.wait_for(lambda: status_of(hub, "C5") == "expired", what="C5 expired by the timer")
        assert hub.rows("select from_status, to_status, cause from officer_status_history "
                        "where certificate_number = 'C5' order by id") == [(None, "valid", "source"),
                                                                           ("valid", "expired", "expiry")]
        expired = httpx.get(c5["verify_url"]).json()
        assert (expired["valid"], expired["reason"], expired["status"]) == (False, "certificate_expired", "expired")

        # The compacted registry topic ends with each officer's current state.
        parsed = parse_schema(json.loads(loader.schema_json(SCHEMA)))
        hub.wait_for(lambda: hub.scalar("select count(*) from outbox") == 0, what="outbox drained")
        latest = {}
        for msg in consume_all(hub.bootstrap, "officer.registry", idle_seconds=2):
            value = schemaless_reader(io.BytesIO(msg.value()[5:]), parsed)
            latest[msg.key().decode()] = value["status"]
        assert latest == {"C1": "revoked", "C2": "valid", "C3": "suspended", "C5": "expired"}
        assert 'hub_officers{status="expired"} 1.0' in hub.metrics()
