"""Pipeline stages: decode, repair, validate (schema + code rules), record ids, dead-letter headers."""

import datetime as dt

import pytest

from connectors.runtime.contract import RawRecord
from connectors.runtime.dlq import HEADERS, dead_letter_headers, parse_dead_letter
from connectors.runtime.pipeline import (
    DECODERS,
    RecordRejected,
    decode,
    record_id,
    repair,
    stamp_envelope,
    validate,
)
from connectors.runtime.rules import CHECKS, CODE_RULES, values_at
from ops.simulators.records import RecordFactory
from schemas import loader
from schemas.codes import make_resident_id, make_uscc

PENALTY = "gov.zj.supervision.penalty.PenaltyCaseEvent"


def raw(payload: bytes, **kw) -> RawRecord:
    return RawRecord(partition="cases", offset="1", key="CASE-1", version="1", payload=payload, **kw)


@pytest.fixture
def case():
    value = RecordFactory(seed=11).penalty_decision(1)
    value["counterpart"]["id_type"]["code"] = "001"
    value["counterpart"]["id_code"] = make_uscc("330106", "MA2H2X9L")
    return value


def rejected(fn, *args) -> RecordRejected:
    with pytest.raises(RecordRejected) as info:
        fn(*args)
    return info.value


# -- decode -------------------------------------------------------------------------------

def test_gb18030_bytes_declared_utf8_are_an_encoding_error():
    payload = '{"name": "杭州市市场监督管理局"}'.encode("gb18030")
    err = rejected(decode, raw(payload))
    assert (err.stage, err.reason) == ("decode", "encoding")
    assert "杭州" not in str(err)
    # Declared correctly, the same bytes decode.
    assert decode(raw(payload, encoding="gb18030")) == {"name": "杭州市市场监督管理局"}
    assert decode(raw(payload), "gb18030") == {"name": "杭州市市场监督管理局"}  # connector default


def test_invalid_json_and_unknown_content_type():
    err = rejected(decode, raw(b'{"id_code": "330106199001011234",'))
    assert (err.stage, err.reason) == ("decode", "json") and "330106" not in err.message
    err = rejected(decode, raw(b"<a/>", content_type="application/x-nope"))
    assert err.reason == "content_type" and "application/json" in err.message
    assert decode(raw("纯文本".encode(), content_type="text/plain")) == "纯文本"
    assert set(DECODERS) >= {"application/json", "text/plain"}


def test_unknown_stage_is_refused():
    with pytest.raises(ValueError, match="valid stages"):
        RecordRejected("nope", "x", "y")


# -- repair -------------------------------------------------------------------------------

def test_repair_full_width_digits_and_spaces():
    uscc = make_uscc("330106", "MA2H2X9L")
    typed = " ".join(uscc[:9]).translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"}) + "\u3000" + uscc[9:].lower()
    assert typed.startswith("９ １ ３ ３")
    doc = {"party": {"id_code": typed}, "officers": [{"cert": "３３ ００１"}, {"cert": None}], "other": typed}
    repair(doc, ["party.id_code", "officers.cert", "missing.path"])
    assert doc["party"]["id_code"] == uscc
    assert doc["officers"] == [{"cert": "33001"}, {"cert": None}]
    assert doc["other"] == typed  # only declared fields are touched


# -- validate: schema ---------------------------------------------------------------------

def test_valid_record_passes(case):
    validate(PENALTY, case)


def test_schema_rejection_names_the_field_not_the_value(case):
    case["counterpart"]["id_code"] = 330106199001011234  # an int where a string belongs
    err = rejected(validate, PENALTY, case)
    assert (err.stage, err.reason) == ("validate", "schema")
    assert "counterpart.id_code" in err.message
    assert "330106199001011234" not in str(err)
    case["counterpart"]["id_code"] = "x"
    case["stage"] = "秘密阶段"
    err = rejected(validate, PENALTY, case)
    assert "stage" in err.message and "秘密" not in str(err)


def test_missing_required_field(case):
    del case["case_id"]
    assert "case_id" in rejected(validate, PENALTY, case).message


# -- validate: code rules -----------------------------------------------------------------

def test_bad_uscc_check_character(case):
    code = case["counterpart"]["id_code"]
    case["counterpart"]["id_code"] = code[:17] + ("0" if code[17] != "0" else "1")
    err = rejected(validate, PENALTY, case)
    assert err.reason == "uscc_check" and "counterpart.id_code" in err.message
    assert code[:17] not in str(err)


def test_bad_resident_id(case):
    good = make_resident_id("330106", dt.date(1990, 1, 1), 123)
    case["counterpart"]["id_type"]["code"] = "111"
    case["counterpart"]["id_code"] = good
    validate(PENALTY, case)
    case["counterpart"]["id_code"] = good[:17] + ("0" if good[17] != "0" else "1")
    err = rejected(validate, PENALTY, case)
    assert err.reason == "id_check" and good[:6] not in str(err)


def test_other_id_types_are_not_checked(case):
    case["counterpart"]["id_type"]["code"] = "999"
    case["counterpart"]["id_code"] = "P1234567"
    validate(PENALTY, case)


def test_unknown_region(case):
    case["region_code"] = "339999"
    err = rejected(validate, PENALTY, case)
    assert (err.reason, "region_code" in err.message) == ("region_unknown", True)
    case["region_code"] = "330106"
    case["envelope"]["region_code"] = "110101"  # Beijing: not an accepted province
    assert rejected(validate, PENALTY, case).reason == "region_unknown"


def test_13_digit_item_code(case):
    case["catalog_code"] = "1234567890123"
    err = rejected(validate, PENALTY, case)
    assert err.reason == "item_code_format" and "catalog_code" in err.message


def test_implementation_code(case):
    case["implementation_code"] = case["implementation_code"][:18] + "9"
    assert rejected(validate, PENALTY, case).reason == "impl_code_kind"


def test_decision_before_filing(case):
    case["decision_date"] = case["filing_date"] - dt.timedelta(days=1)
    err = rejected(validate, PENALTY, case)
    assert err.reason == "date_order"
    assert "decision_date" in err.message and "filing_date" in err.message
    case["decision_date"] = case["filing_date"]  # same day is fine for not_before
    validate(PENALTY, case)


def test_inspection_submitted_must_be_after_inspection():
    from connectors.runtime.rules import check_rules
    from schemas.codes import CodeError

    rec = {"inspection_time": 1_700_000_000_000, "submitted_time": 1_700_000_000_000}
    with pytest.raises(CodeError) as info:
        check_rules("gov.zj.supervision.inspection.InspectionRecord", rec)
    assert info.value.reason == "date_order"
    rec["submitted_time"] += 1
    check_rules("gov.zj.supervision.inspection.InspectionRecord", rec)


def test_rule_table_names_real_schemas_fields_and_checks():
    for schema, rules in CODE_RULES.items():
        fields = loader.field_attributes(schema)
        for rule in rules:
            assert rule.check in CHECKS
            assert rule.field in fields, (schema, rule.field)
            assert rule.other is None or rule.other in fields, (schema, rule.other)


def test_values_at_walks_lists_and_skips_nulls():
    doc = {"a": [{"b": 1}, {"b": None}, {"c": 2}], "d": None}
    assert list(values_at(doc, "a.b")) == [1]
    assert list(values_at(doc, "d.e")) == []


# -- record ids and the envelope ----------------------------------------------------------

def test_record_id_is_deterministic_and_hides_the_key():
    key = "330106199001011234"
    a = record_id("gaj", key, "2024-05-01T08:00:00")
    assert a == record_id("gaj", key, "2024-05-01T08:00:00")
    assert a.startswith("gaj:") and a.endswith(":2024-05-01T08:00:00") and key not in a
    assert a != record_id("gaj", key, "2024-05-02T08:00:00")
    assert a != record_id("sw", key, "2024-05-01T08:00:00")
    assert a != record_id("gaj", key + "1", "2024-05-01T08:00:00")


def test_stamp_envelope(case):
    r = RawRecord(partition="t_case", offset="42", key="AJ-1", version="7", payload=b"{}")
    stamp_envelope(case, record_id="rid", source_system="sys", raw=r, ingest_time_ms=5)
    env = case["envelope"]
    assert (env["record_id"], env["source_system"], env["source_key"], env["source_version"],
            env["ingest_time"]) == ("rid", "sys", "AJ-1", "7", 5)
    assert env["source_position"] == {"partition": "t_case", "offset": "42"}
    no_env = {"x": 1}
    stamp_envelope(no_env, record_id="rid", source_system="sys", raw=r, ingest_time_ms=5)
    assert no_env == {"x": 1}


# -- dead-letter headers ------------------------------------------------------------------

def test_dead_letter_headers_round_trip():
    headers = dead_letter_headers(connector="gaj", stage="validate", error_class="RecordRejected",
                                  reason="uscc_check", message="counterpart.id_code: 校验位不符",
                                  partition="cases", offset="17", key="AJ-17", attempts=2, ts_ms=1700,
                                  version="3", encoding="gb18030", content_type="text/csv")
    assert [name for name, _ in headers] == list(HEADERS)
    assert all(isinstance(v, bytes) for _, v in headers)
    parsed = parse_dead_letter(headers, b"\xff original")
    assert parsed == {"connector": "gaj", "stage": "validate", "error_class": "RecordRejected",
                      "reason": "uscc_check", "message": "counterpart.id_code: 校验位不符",
                      "source_partition": "cases", "source_offset": "17", "source_key": "AJ-17",
                      "source_version": "3", "source_encoding": "gb18030", "source_content_type": "text/csv",
                      "attempts": 2, "ts_ms": 1700, "value": b"\xff original"}
    assert parse_dead_letter(dict(headers[:2]), None)["reason"] is None
