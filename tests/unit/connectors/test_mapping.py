"""DeclarativeMapper: every rule kind, Avro defaults, and errors that never carry values."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from pydantic import ValidationError

from connectors.mapping import DeclarativeMapper, MappingSpec
from connectors.runtime.contract import MappingError, RawRecord
from connectors.runtime.pipeline import stamp_envelope, validate
from schemas.codes import make_uscc

RAW = RawRecord("default", "1", "K-1", "1", b"{}")
AGENCY = make_uscc("330106", "MA2H2X9L")
SCHEMA = "gov.zj.supervision.penalty.PenaltyCaseEvent"
BASE = {
    "envelope.operation": {"source": "czlx", "operation": {"I": "i", "U": "u", "D": "d"}},
    "envelope.event_time": {"source": "hjsj", "date_format": "%Y-%m-%d %H:%M:%S"},
    "envelope.region_code": {"source": "xzqh"},
    "envelope.department_code": {"const": "330000GAT"},
    "case_id": {"source": "ajbh", "required": True},
    "stage": {"source": "ajzt", "code_table": "stage"},
    "stage_time": {"source": "hjsj", "date_format": "%Y-%m-%d %H:%M:%S"},
    "implementing_agency.code": {"source": "badw.dm"},
    "implementing_agency.name": {"source": "badw.mc"},
    "region_code": {"source": "xzqh"},
}
TABLES = {"stage": {"50": {"code": "decision", "name": "处罚决定"}},
          "kind": {"02": {"code": "02", "name": "罚款"}, "01": {"code": "01", "name": "警告"}}}
DOC = {"czlx": "U", "hjsj": "2025-06-30 10:00:00", "xzqh": "330106", "ajbh": "GA-1", "ajzt": "50",
       "badw": {"dm": AGENCY, "mc": "杭州市公安局西湖分局"}}


def mapper(**fields) -> DeclarativeMapper:
    return DeclarativeMapper(MappingSpec(topic="penalty.case.events", fields={**BASE, **fields}, code_tables=TABLES))


def one(m: DeclarativeMapper, **doc) -> dict:
    [out] = m({**DOC, **doc}, RAW)
    assert out.topic == "penalty.case.events"
    return out.value


def test_base_mapping_fills_avro_defaults_and_validates():
    value = one(mapper())
    assert value["case_id"] == "GA-1" and value["stage"] == "decision"
    assert value["envelope"]["operation"] == "u" and value["envelope"]["department_code"] == "330000GAT"
    # 2025-06-30 10:00 in Asia/Shanghai is 02:00 UTC
    assert value["stage_time"] == int(dt.datetime(2025, 6, 30, 2, tzinfo=dt.UTC).timestamp() * 1000)
    assert value["officers"] == [] and value["counterpart"] is None and value["fine_amount"] is None
    assert value["implementing_agency"] == {"code": AGENCY, "name": "杭州市公安局西湖分局", "code_system": None}
    stamp_envelope(value, record_id="r", source_system="s", raw=RAW, ingest_time_ms=0)
    validate(SCHEMA, value)


def test_dates_by_format_to_date_and_timestamp():
    m = mapper(filing_date={"source": "lasj", "date_format": "yyyyMMdd"},
               decision_date={"source": "jdrq"},  # ISO implied for a date target
               closing_date={"source": "jarq", "date_format": "epoch_ms"},
               referral_date={"source": "ysrq", "date_format": "epoch_s"},
               submitted_time={"source": "tjsj", "date_format": "epoch_ms"})
    ms = int(dt.datetime(2025, 7, 1, 16, 30, tzinfo=dt.UTC).timestamp() * 1000)  # 2025-07-02 00:30 +08:00
    v = one(m, lasj="20250601", jdrq="2025-06-20", jarq=ms, ysrq=ms // 1000, tjsj=ms)
    assert v["filing_date"] == dt.date(2025, 6, 1) and v["decision_date"] == dt.date(2025, 6, 20)
    assert v["closing_date"] == dt.date(2025, 7, 2) and v["referral_date"] == dt.date(2025, 7, 2)
    assert v["submitted_time"] == ms
    with pytest.raises(MappingError) as err:
        one(m, lasj="2025-13-45")
    assert err.value.reason == "bad_date" and "2025" not in err.value.message


def test_decimal_is_scaled_money():
    v = one(mapper(fine_amount={"source": "fkje", "decimal": True}, fine_paid={"source": "sjje"}), fkje=5000.5,
            sjje="1,200")
    assert v["fine_amount"] == Decimal("5000.50") and v["fine_paid"] == Decimal("1200.00")
    with pytest.raises(MappingError) as err:
        one(mapper(fine_amount={"source": "fkje"}), fkje="五千")
    assert err.value.reason == "bad_decimal" and "五千" not in err.value.message


def test_code_table_translates_to_coded_value_or_code_and_rejects_unknown():
    m = mapper(penalty_kinds={"source": "cfzl", "split": ",", "code_table": "kind"},
               case_source={"source": "ajly", "code_table": "kind"})
    v = one(m, cfzl="02,01", ajly="01")
    assert [k["code"] for k in v["penalty_kinds"]] == ["02", "01"]
    assert v["case_source"] == {"code": "01", "name": "警告", "code_system": None}
    with pytest.raises(MappingError) as err:
        one(m, ajzt="77")
    assert err.value.reason == "unknown_code" and "77" not in err.value.message and "stage" in err.value.message


def test_required_missing_and_default():
    m = mapper(penalty_name={"source": "ajmc", "default": "未命名案件"})
    assert one(m)["penalty_name"] == "未命名案件"
    for doc in ({"ajbh": None}, {"ajbh": "  "}):
        with pytest.raises(MappingError) as err:
            one(m, **doc)
        assert err.value.reason == "missing_field" and "case_id" in err.value.message


def test_split_join_template_map_regex_and_index_targets():
    m = mapper(penalty_number={"template": "{badw.dm}-{ajbh}"},
               legal_basis={"source": "yj", "join": "；"},
               procedure={"source": "cxlx", "map": {"普通程序": "ordinary", "简易程序": "simple"}},
               stage_document_number={"source": "wsh", "regex": r"〔(\d{4})〕"},
               **{"penalty_kinds[0]": {"source": "cfzl", "code_table": "kind"}})
    v = one(m, yj=["第一条", "第二条"], cxlx="简易程序", wsh="杭公罚〔2025〕12号", cfzl="01")
    assert v["penalty_number"] == f"{AGENCY}-GA-1" and v["legal_basis"] == "第一条；第二条"
    assert v["procedure"] == "simple" and v["stage_document_number"] == "2025"
    assert v["penalty_kinds"] == [{"code": "01", "name": "警告", "code_system": None}]
    assert one(m, badw={"mc": "x", "dm": None}).get("penalty_number") is None  # blank placeholder -> blank
    with pytest.raises(MappingError) as err:
        one(m, cxlx="其他")
    assert err.value.reason == "unknown_code"


def test_each_from_parallel_lists_and_from_list_of_objects():
    parallel = mapper(officers={"each": {"name": {"source": "zfry_xm", "split": ","},
                                         "certificate_number": {"source": "zfry_zjh", "split": ","}}})
    v = one(parallel, zfry_xm="张三, 李四", zfry_zjh="33010001,33010002")
    assert v["officers"] == [{"name": "张三", "certificate_number": "33010001"},
                             {"name": "李四", "certificate_number": "33010002"}]
    with pytest.raises(MappingError) as err:
        one(parallel, zfry_xm="张三,李四", zfry_zjh="33010001")
    assert err.value.reason == "list_length" and "张三" not in err.value.message
    objects = mapper(officers={"source": "zfry", "each": {"name": {"source": "xm"},
                                                          "certificate_number": {"source": "zfzh"}}})
    assert one(objects, zfry=[{"xm": "王五", "zfzh": "33"}])["officers"] == [{"name": "王五", "certificate_number": "33"}]
    assert one(objects)["officers"] == []


def test_operation_rule_maps_delete():
    assert one(mapper(), czlx="D")["envelope"]["operation"] == "d"
    assert one(mapper(), czlx="i")["envelope"]["operation"] == "i"  # case-insensitive fallback


def test_counterpart_partially_mapped_fails_schema_not_mapping():
    m = mapper(**{"counterpart.name": {"source": "dsr"}, "counterpart.id_code": {"source": "zjhm"}})
    v = one(m, zjhm="x")
    assert "name" not in v["counterpart"] and v["counterpart"]["entity_id"] is None


def test_not_an_object_is_rejected():
    with pytest.raises(MappingError) as err:
        mapper()(["a"], RAW)
    assert err.value.reason == "not_an_object"


@pytest.mark.parametrize(("fields", "tables", "needle"), [
    ({"no_such_field": {"source": "x"}}, TABLES, "no_such_field"),
    ({"stage": {"source": "x", "code_table": "nope"}}, TABLES, "unknown code table"),
    ({"case_id": None}, TABLES, "case_id: required by the schema"),
    ({"envelope.department_code": None}, TABLES, "envelope.department_code"),
    ({"case_id": {"source": "a", "const": "b"}}, TABLES, "only one of"),
    ({"case_id": {"required": True}}, TABLES, "give `source`"),
])
def test_spec_errors_name_the_field(fields, tables, needle):
    merged = {k: v for k, v in {**BASE, **fields}.items() if v is not None}
    with pytest.raises(ValidationError) as err:
        MappingSpec(topic="penalty.case.events", fields=merged, code_tables=tables)
    assert needle in str(err.value)


def test_unknown_topic_lists_valid_ones():
    with pytest.raises(ValidationError, match="valid topics"):
        MappingSpec(topic="nope", fields={})


def test_multiply_scales_numbers_and_rejects_text():
    spec = MappingSpec(topic="risk.alerts", fields={
        "envelope.operation": {"const": "i"}, "envelope.event_time": {"source": "t", "date_format": "epoch_ms"},
        "envelope.region_code": {"const": "330106"}, "envelope.department_code": {"const": "330000WJW"},
        "alert_id": {"source": "id"}, "risk_system": {"const": "yf"}, "category.code": {"const": "YF01"},
        "category.name": {"const": "异常"}, "risk_level": {"const": "high"}, "title": {"const": "t"},
        "description": {"const": "d"}, "region_code": {"const": "330106"},
        "detected_time": {"source": "t", "date_format": "epoch_ms"},
        "score": {"source": "score", "multiply": 0.01}})
    m = DeclarativeMapper(spec)
    [out] = m({"id": "A1", "t": 1751248800000, "score": 87}, RAW)
    assert out.value["score"] == 0.87
    with pytest.raises(MappingError) as err:
        m({"id": "A1", "t": 1751248800000, "score": "high"}, RAW)
    assert err.value.reason == "bad_number" and "high" not in str(err.value)
