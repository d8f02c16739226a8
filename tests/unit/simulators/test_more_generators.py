"""Tickets, grid events, risk clues, the Kafka and the standard dialects: determinism, valid PII
on good records, and every defect caught by its validator with the ledger's reason."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter

import pytest

from connectors.runtime.pipeline import RecordRejected, validate
from ops.simulators.cases import REASONS, CaseGenerator
from ops.simulators.clues import ClueGenerator, level_of
from ops.simulators.complaints import ComplaintSimulator
from ops.simulators.enforcement_kafka import EnforcementKafkaSimulator
from ops.simulators.grassroots import GridEventGenerator
from ops.simulators.ledger import Ledger
from ops.simulators.lifecycle import reason_of
from ops.simulators.risk_road_transport import COLUMNS, RoadTransportSimulator
from ops.simulators.tickets import STAGE_NAMES, TicketGenerator, penalty_usccs
from ops.simulators.unified_cases import SCHEMA, UnifiedCasesSimulator, from_json
from schemas.codes import (
    CodeError,
    normalize_identifier,
    validate_item_code,
    validate_region,
    validate_resident_id,
    validate_uscc,
)

MOBILE = re.compile(r"1[3-9][0-9]{9}")


def _sig(events):
    return [(e.source_key, e.version, e.stage, e.defect, json.dumps(e.fields, default=str, sort_keys=True))
            for e in events]


@pytest.fixture(scope="module")
def tickets():
    return TicketGenerator(5, 0.2).take(2500)


@pytest.fixture(scope="module")
def grid_events():
    return GridEventGenerator(5, 0.2, defects=("unknown_region", "missing_required", "fullwidth_digits",
                                               "bad_uscc_check")).take(1500)


@pytest.fixture(scope="module", params=["medical_waste", "road_transport"])
def clues(request):
    return ClueGenerator(5, 0.2, kind=request.param).take(1500)


@pytest.mark.parametrize("make", [
    lambda s: TicketGenerator(s),
    lambda s: GridEventGenerator(s),
    lambda s: ClueGenerator(s, kind="medical_waste"),
    lambda s: ClueGenerator(s, kind="road_transport"),
])
def test_generators_are_deterministic_per_seed(make):
    a, b, c = make(11).take(300), make(11).take(300), make(12).take(300)
    assert _sig(a) == _sig(b)
    assert _sig(a) != _sig(c)


def test_rendered_rows_are_deterministic_except_sync_time():
    def rows(seed):
        return [{k: v for k, v in r.items() if k != "syncTime"} for r in ComplaintSimulator(seed, 120).rows]
    assert rows(3) == rows(3) != rows(4)
    assert UnifiedCasesSimulator(3, 80).rows == UnifiedCasesSimulator(3, 80).rows


def test_unknown_defect_kind_is_refused():
    with pytest.raises(ValueError, match="unknown defect kinds"):
        TicketGenerator(1, defects=("bad_item_code",))


# ------------------------------------------------------------------ tickets

def test_ticket_defects_occur_and_ledger_reasons_match(tickets):
    kinds = Counter(e.defect for e in tickets)
    assert {"bad_resident_id", "unknown_region", "missing_required", "fullwidth_digits",
            "duplicate", "out_of_order"} <= set(kinds)
    led = Ledger()
    for ev in tickets:
        entry = led.record(ev, reason=reason_of(ev))
        assert entry["reason"] == reason_of(ev) == (REASONS[ev.defect] if entry["outcome"] == "dead" else None)


def test_good_tickets_carry_valid_pii(tickets):
    good = [e.fields for e in tickets if e.defect is None]
    named = [f for f in good if not f["anonymous"]]
    assert len(named) > len(good) * 0.8 and any(f["anonymous"] for f in good)
    for f in named:
        validate_resident_id(f["complainant_id"])
        assert MOBILE.fullmatch(f["complainant_phone"]) and f["complainant_name"] and f["complainant_address"]
    for f in good:
        validate_uscc(f["target_uscc"])
        validate_region(f["region_code"])
        assert f["target_name"] in f["text"]
        assert f["kind"] in ("complaint", "report") and f["stage"] in STAGE_NAMES
    assert {f["category_name"] for f in good} >= {"假冒伪劣", "违法建设", "医疗美容", "工地扬尘噪声", "食品安全"}
    assert {f["channel_code"] for f in good} == {"01", "02", "03"}


def test_ticket_defects_fail_their_validators(tickets):
    checks = {"bad_resident_id": lambda f: validate_resident_id(f["complainant_id"]),
              "unknown_region": lambda f: validate_region(f["region_code"])}
    for ev in tickets:
        if ev.defect in checks:
            with pytest.raises(CodeError) as err:
                checks[ev.defect](ev.fields)
            assert err.value.reason == reason_of(ev)
        elif ev.defect == "missing_required":
            assert ev.fields["text"] is None and reason_of(ev) == "schema"
        elif ev.defect == "fullwidth_digits":
            assert ev.repairable and reason_of(ev) is None
            assert ev.fields["complainant_id"] != normalize_identifier(ev.fields["complainant_id"])
            validate_resident_id(normalize_identifier(ev.fields["complainant_id"]))
            assert MOBILE.fullmatch(normalize_identifier(ev.fields["complainant_phone"]))


def test_ticket_loop_order_and_clock(tickets):
    order = ["received", "accepted", "refused", "dispatched", "handling", "replied", "supervising", "closed",
             "return_visit", "evaluated"]
    by_key: dict[str, list] = {}
    for ev in tickets:
        if ev.defect is None:
            by_key.setdefault(ev.source_key, []).append(ev)
    for evs in by_key.values():
        stages = [e.stage for e in evs]
        assert stages == sorted(stages, key=order.index)
        times = [e.fields["stage_time"] for e in evs]
        assert times == sorted(times)
        accepted = [e for e in evs if e.stage == "accepted"]
        if accepted:  # accept within 7 working days of receipt
            assert (accepted[0].fields["stage_time"].date() - evs[0].fields["received_time"].date()).days <= 11


def test_tickets_reuse_penalty_party_usccs():
    pool = penalty_usccs(CaseGenerator(2, "330000SCJ").take(400))
    assert len(pool) > 20
    evs = TicketGenerator(2, usccs=pool, reuse_ratio=0.5).take(600)
    targets = {e.fields["target_uscc"] for e in evs if e.defect is None}
    assert len(targets & set(pool)) > 10


# ------------------------------------------------------------------ grid events and risk clues

def test_grid_events_good_and_bad(grid_events):
    kinds = Counter(e.defect for e in grid_events)
    assert {"unknown_region", "missing_required", "fullwidth_digits", "bad_uscc_check"} <= set(kinds)
    for ev in grid_events:
        f = ev.fields
        if ev.defect is None:
            validate_region(f["region_code"])
            assert f["grid_code"].startswith(f["region_code"]) and len(f["grid_code"]) == 15
            assert MOBILE.fullmatch(f["reporter_phone"]) and f["reporter_name"] and f["description"]
            if f["entity_uscc"]:
                validate_uscc(f["entity_uscc"])
        elif ev.defect == "unknown_region":
            with pytest.raises(CodeError) as err:
                validate_region(f["region_code"])
            assert err.value.reason == reason_of(ev) == "region_unknown"
        elif ev.defect == "bad_uscc_check":
            with pytest.raises(CodeError) as err:
                validate_uscc(f["entity_uscc"])
            assert err.value.reason == reason_of(ev) == "uscc_check"
        elif ev.defect == "missing_required":
            assert f["description"] is None and reason_of(ev) == "schema"


def test_risk_clues_good_and_bad(clues):
    assert {"bad_uscc_check", "unknown_region", "missing_required", "bad_item_code"} <= {e.defect for e in clues}
    checks = {"bad_uscc_check": lambda f: validate_uscc(f["entity_uscc"]),
              "unknown_region": lambda f: validate_region(f["region_code"]),
              "bad_item_code": lambda f: validate_item_code(f["catalog_code"])}
    for ev in clues:
        f = ev.fields
        if ev.defect is None:
            validate_uscc(f["entity_uscc"])
            validate_region(f["region_code"])
            validate_item_code(f["catalog_code"])
            assert f["observed"] > f["threshold"] and 0 < f["score"] < 1
            assert f["risk_level"] == level_of(f["score"]) and f["description"]
        elif ev.defect in checks:
            with pytest.raises(CodeError) as err:
                checks[ev.defect](f)
            assert err.value.reason == reason_of(ev)
    levels = Counter(e.fields["risk_level"] for e in clues)
    assert set(levels) == {"high", "medium", "low"}


def test_road_transport_plates_and_csv_rows(tmp_path):
    sim = RoadTransportSimulator(3, 90, directory=tmp_path, batch_size=40)
    sim.start()
    sim.stop()
    plate = re.compile(r"浙[A-L]·[0-9A-Z]{5}")
    rows = []
    for p in sorted(tmp_path.glob("*.csv")):
        rows += list(csv.DictReader(io.StringIO(p.read_bytes().decode("utf-8"))))
    assert len(rows) == 90 and list(rows[0]) == COLUMNS
    assert all(plate.fullmatch(r["plate_no"]) for r in rows)
    assert {r["risk_grade"] for r in rows} <= {"1", "2", "3"}


# ------------------------------------------------------------------ standard JSON and Kafka dialect

def test_unified_records_validate_exactly_as_the_ledger_says():
    sim = UnifiedCasesSimulator(9, 1500, bad_ratio=0.2)
    seen = Counter()
    for row, entry in zip(sim.rows, sim.ledger.entries, strict=True):
        value = from_json(row)
        if entry["defect"] == "fullwidth_digits":  # the connector repairs its identifier fields
            value["counterpart"]["id_code"] = normalize_identifier(value["counterpart"]["id_code"])
        try:
            validate(SCHEMA, value)
            got = None
        except RecordRejected as exc:
            got = exc.reason
        assert got == entry["reason"], entry
        seen[entry["defect"]] += 1
    assert {"bad_uscc_check", "bad_resident_id", "unknown_region", "missing_required", "bad_item_code",
            "date_order", "fullwidth_digits", None} <= set(seen)


def test_unified_json_form():
    row = next(r for r in UnifiedCasesSimulator(2, 200).rows if r["fine_amount"] and r["decision_date"])
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", row["decision_date"])
    assert re.fullmatch(r"\d+\.\d{2}", row["fine_amount"])
    assert isinstance(row["stage_time"], int) and isinstance(row["envelope"]["event_time"], int)
    assert len({r["envelope"]["department_code"] for r in UnifiedCasesSimulator(2, 400).rows}) > 15


def test_enforcement_messages_and_encoding_defect():
    sim = EnforcementKafkaSimulator(4, 0, bad_ratio=0.3)
    evs = sim.generator.take(800)
    assert "gb18030_in_utf8" in {e.defect for e in evs}
    for n, ev in enumerate(evs, 1):
        key, value, headers = sim.message(ev, n)
        assert key.decode() == ev.source_key and dict(headers)["content-type"].endswith(b"utf-8")
        if ev.defect == "gb18030_in_utf8":
            with pytest.raises(UnicodeDecodeError):
                value.decode("utf-8")
            assert REASONS[ev.defect] == "encoding"
        else:
            doc = json.loads(value)
            assert doc["data"]["caseNo"] == ev.source_key and doc["data"]["rev"] == ev.version
    with pytest.raises(RuntimeError, match="start"):
        sim.emit(1)
