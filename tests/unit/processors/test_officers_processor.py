"""The officer registry processor: upsert, ordering, effective status, history, expiry timer, outputs."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime

import pytest
from fastavro import parse_schema, schemaless_reader
from sqlalchemy import select, text

from processors.officers.models import Officer, OfficerStatusHistory
from processors.officers.processor import SCHEMA, OfficersProcessor
from processors.officers.status import effective_status, today, usability, version_key
from processors.runtime.apply import BatchApplier
from processors.runtime.clock import FixedClock
from processors.runtime.contract import InRecord
from processors.runtime.models import OutboxRow
from schemas import loader
from schemas.codes import make_resident_id
from tests.records import envelope, minimal

# 2026-03-31 15:59:59 UTC is 23:59:59 in Shanghai: the last second of a certificate valid to 03-31.
LAST_SECOND = datetime(2026, 3, 31, 15, 59, 59, tzinfo=UTC)
NEXT_DAY = datetime(2026, 3, 31, 16, 0, 0, tzinfo=UTC)


def officer(cert: str, version: int | str | None, *, status: str = "valid", valid_to: date | None = date(2026, 3, 31),
            operation: str = "u", name: str = "张三丰", domains=("SPAQ", "SCJG"), **overrides) -> dict:
    value = minimal(
        SCHEMA, envelope=envelope("zj-sft", cert, version, operation=operation, region_code="330106",
                                  department_code="330106SCJ"),
        certificate_number=cert, name=name,
        department={"code": "330106SCJ", "name": "西湖区市场监督管理局", "code_system": None},
        enforcement_region={"code": "330106", "name": "西湖区", "code_system": None},
        enforcement_domains=[{"code": d, "name": d, "code_system": None} for d in domains],
        resident_id=make_resident_id("330106", date(1985, 6, 1), 123), phone="13812345678",
        certificate_valid_from=date(2021, 4, 1), certificate_valid_to=valid_to, status=status,
    )
    value.update(overrides)
    return value


def rec(value: dict, offset: int = 0) -> InRecord:
    return InRecord("officer.updates", 0, offset, value["certificate_number"], value)


@pytest.fixture
def clock():
    return FixedClock(datetime(2026, 3, 1, 2, 0, tzinfo=UTC))


@pytest.fixture
def applier(db, clock):
    return BatchApplier(db.engine, OfficersProcessor(), clock)


def officers(db) -> dict[str, dict]:
    with db.engine.connect() as conn:
        return {r["certificate_number"]: dict(r) for r in conn.execute(select(Officer)).mappings()}


def history(db, cert: str) -> list[tuple]:
    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(OfficerStatusHistory.from_status, OfficerStatusHistory.to_status, OfficerStatusHistory.cause)
            .where(OfficerStatusHistory.certificate_number == cert).order_by(OfficerStatusHistory.id))]


def outputs(db) -> list[dict]:
    parsed = parse_schema(json.loads(loader.schema_json(SCHEMA)))
    with db.engine.connect() as conn:
        rows = conn.execute(select(OutboxRow.topic, OutboxRow.key, OutboxRow.body).order_by(OutboxRow.id)).all()
    assert {r.topic for r in rows} <= {"officer.registry"}
    return [schemaless_reader(io.BytesIO(r.body), parsed) | {"_key": r.key} for r in rows]


def test_status_rules():
    assert today(LAST_SECOND) == date(2026, 3, 31)
    assert today(NEXT_DAY) == date(2026, 4, 1)
    on = date(2026, 4, 1)
    assert effective_status("valid", date(2026, 3, 31), on) == "expired"
    assert effective_status("valid", date(2026, 4, 1), on) == "valid"
    assert effective_status("suspended", date(2026, 3, 31), on) == "expired"
    assert effective_status("revoked", date(2026, 3, 31), on) == "revoked"
    assert effective_status("valid", None, on) == "valid"
    assert effective_status("something-new", None, on) == "suspended"
    assert usability("valid", date(2026, 4, 2), None, on) == "certificate_not_yet_valid"
    assert usability("valid", None, date(2026, 3, 31), on) == "certificate_expired"
    assert usability("suspended", None, None, on) == "certificate_suspended"
    assert usability("valid", date(2026, 4, 1), date(2026, 4, 1), on) == "ok"
    assert version_key("10", 0) > version_key("9", 0)
    assert version_key("2026-03-01T10:00:00", 0) > version_key("2026-02-28T23:00:00", 0)
    assert version_key(None, 2000) > version_key(None, 1000)
    with pytest.raises(ValueError):
        today(datetime(2026, 1, 1))


def test_upsert_stores_effective_status_domains_and_emits_registry(db, applier):
    result = applier.handle([rec(officer("C1", 1, domains=("SPAQ", "NOPE", "SPAQ")), 0),
                             rec(officer("C2", 1, status="suspended"), 1)])
    assert result.applied == 2 and not result.rejected
    assert result.counters["unknown_domain"] == 1
    rows = officers(db)
    assert rows["C1"]["status"] == "valid" and rows["C2"]["status"] == "suspended"
    assert json.loads(rows["C1"]["domains"]) == ["SPAQ"]
    assert rows["C1"]["region_code"] == "330106" and rows["C1"]["department_code"] == "330106SCJ"
    out = {o["_key"]: o for o in outputs(db)}
    assert set(out) == {"C1", "C2"}
    assert out["C2"]["status"] == "suspended"
    assert out["C1"]["envelope"]["record_id"] == "officers:C1:1"
    assert out["C1"]["envelope"]["operation"] == "i"
    assert out["C1"]["certificate_valid_to"] == date(2026, 3, 31)
    assert history(db, "C1") == [(None, "valid", "source")]


def test_older_or_equal_versions_are_stale(db, applier):
    applier.handle([rec(officer("C1", 9, status="valid"))])
    assert officers(db)["C1"]["source_version"] == "9"
    result = applier.handle([rec(officer("C1", 10, status="suspended")), rec(officer("C1", 8, status="revoked"))])
    assert (result.applied, result.stale) == (1, 1)
    equal = officer("C1", 10, status="revoked")
    equal["envelope"]["record_id"] = "another-id-same-version"
    assert applier.handle([rec(equal)]).stale == 1
    row = officers(db)["C1"]
    assert (row["status"], row["source_version"], row["revision"]) == ("suspended", "10", 2)
    assert history(db, "C1") == [(None, "valid", "source"), ("valid", "suspended", "source")]


def test_suspension_revocation_and_delete_are_recorded(db, applier):
    applier.handle([rec(officer("C1", 1)), rec(officer("C2", 1))])
    applier.handle([rec(officer("C1", 2, status="suspended")), rec(officer("C1", 3, status="valid")),
                    rec(officer("C1", 4, status="revoked")), rec(officer("C2", 2, operation="d"))])
    rows = officers(db)
    assert rows["C1"]["status"] == "revoked" and rows["C1"]["recorded_status"] == "revoked"
    assert rows["C2"]["status"] == "revoked"
    assert history(db, "C1") == [(None, "valid", "source"), ("valid", "suspended", "source"),
                                 ("suspended", "valid", "source"), ("valid", "revoked", "source")]
    latest = {o["_key"]: o for o in outputs(db)}  # a later output for a key replaces the earlier (compaction)
    assert latest["C1"]["status"] == "revoked" and latest["C2"]["status"] == "revoked"


def test_expiry_at_the_shanghai_day_boundary(db, applier, clock):
    proc = applier.processor
    applier.handle([rec(officer("C1", 1, valid_to=date(2026, 3, 31))),
                    rec(officer("C2", 1, valid_to=date(2026, 4, 1))),
                    rec(officer("C3", 1, valid_to=date(2026, 3, 30), status="revoked")),
                    rec(officer("C4", 1, valid_to=None))])
    n_out = len(outputs(db))
    clock.set(LAST_SECOND)
    assert applier.run_timer(proc.expire).emitted == 0
    assert officers(db)["C1"]["status"] == "valid"
    clock.set(NEXT_DAY)
    result = applier.run_timer(proc.expire)
    assert result.emitted == 1 and result.counters == {"expired": 1}
    rows = officers(db)
    assert {c: r["status"] for c, r in rows.items()} == {"C1": "expired", "C2": "valid", "C3": "revoked", "C4": "valid"}
    assert history(db, "C1")[-1] == ("valid", "expired", "expiry")
    new = outputs(db)[n_out:]
    assert [(o["_key"], o["status"], o["envelope"]["record_id"]) for o in new] == [("C1", "expired", "officers:C1:2")]
    assert applier.run_timer(proc.expire).emitted == 0  # idempotent
    assert len(history(db, "C1")) == 2


def test_update_for_a_past_certificate_is_expired_at_once(db, applier, clock):
    clock.set(NEXT_DAY)
    applier.handle([rec(officer("C1", 1, valid_to=date(2026, 3, 31)))])
    assert officers(db)["C1"]["status"] == "expired"
    assert officers(db)["C1"]["recorded_status"] == "valid"


def test_bad_records_are_rejected_with_a_reason_and_optional_junk_is_dropped(db, applier):
    good = make_resident_id("330106", date(1985, 6, 1), 123)
    wrong_check = good[:17] + ("0" if good[17] != "0" else "1")
    bad_region = officer("C3", 1, enforcement_region=None)
    bad_region["envelope"]["region_code"] = "999999"
    result = applier.handle([
        rec(officer("C1", 1, resident_id=wrong_check, phone="1" * 40), 0),
        rec(officer("C2", 1, name="  "), 1),
        rec(bad_region, 2),
        rec(officer("C4", 1, certificate_valid_from=date(2026, 5, 1), valid_to=date(2026, 4, 1)), 3),
    ])
    assert sorted(r.reason for r in result.rejected) == ["name", "region_unknown", "validity_range"]
    assert result.applied == 1
    row = officers(db)["C1"]
    assert row["resident_id"] is None and row["phone"] is None  # bad check digit, absurd phone: dropped
    assert result.counters["invalid_resident_id"] == 1 and result.counters["invalid_phone"] == 1
    with db.engine.connect() as conn:
        assert conn.execute(text("select count(*) from officers")).scalar() == 1
