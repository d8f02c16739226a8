"""The Avro data standard: every schema parses, is documented, graded, PII-tagged and round-trips."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal

import avro.schema
import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.schema import load_schema

from schemas import loader

NAMES = loader.list_schemas()
CJK = re.compile(r"[\u4e00-\u9fff]")
LATIN = re.compile(r"[A-Za-z]")
LEVELS = {"L1", "L2", "L3", "L4"}
PII_KINDS = {"id_number", "phone", "name", "address"}
NS = "gov.zj.supervision"


def _raw(name: str) -> dict:
    return json.loads((loader.SCHEMA_DIR / f"{name}.avsc").read_text(encoding="utf-8"))


def _named_types(node, out: list[dict]) -> None:
    """Every inline record / enum definition in a raw schema, in document order."""
    if isinstance(node, list):
        for branch in node:
            _named_types(branch, out)
    elif isinstance(node, dict):
        kind = node.get("type")
        if kind in ("record", "enum"):
            out.append(node)
        if kind == "record":
            for field in node["fields"]:
                _named_types(field["type"], out)
        elif kind == "array":
            _named_types(node["items"], out)
        elif kind == "map":
            _named_types(node["values"], out)


def _bilingual(text: str | None) -> bool:
    return bool(text) and bool(CJK.search(text)) and bool(LATIN.search(text))


def test_schema_set_covers_the_eight_unifications():
    areas = {n.split(".")[3] for n in NAMES}
    assert {"common", "catalog", "officer", "entity", "inspection", "penalty", "complaint",
            "grassroots", "risk", "task", "sampling", "quality"} <= areas
    for required in ("common.Envelope", "common.CodedValue", "catalog.SupervisionItem", "catalog.CheckContent",
                     "officer.EnforcementOfficer", "entity.SupervisedEntity", "entity.EntityItemLink",
                     "inspection.InspectionRecord", "penalty.PenaltyCaseEvent", "penalty.CoercionRecord",
                     "complaint.Complaint", "grassroots.GridEvent", "risk.RiskAlert", "risk.RiskDispatch",
                     "risk.RiskFeedback", "task.JointTask", "task.TaskAssignment", "task.TaskStatus",
                     "sampling.SamplingPlan", "sampling.SamplingDraw", "quality.DataQualityReport"):
        assert f"{NS}.{required}" in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_file_name_is_full_name(name):
    raw = _raw(name)
    assert f"{raw['namespace']}.{raw['name']}" == name
    assert raw["namespace"].startswith(f"{NS}.")


@pytest.mark.parametrize("name", NAMES)
def test_parses_with_fastavro_and_apache_avro(name):
    parsed = load_schema(str(loader.SCHEMA_DIR / f"{name}.avsc"))
    assert parsed["name"] == name
    text = loader.schema_json(name)
    assert "__fastavro" not in text
    assert avro.schema.parse(text).fullname == name
    parse_schema(json.loads(text))  # self-contained: no repository needed


@pytest.mark.parametrize("name", NAMES)
def test_records_and_fields_documented_and_graded(name):
    types: list[dict] = []
    _named_types(_raw(name), types)
    for t in types:
        assert _bilingual(t.get("doc")), f"{name}: {t['name']} needs a Chinese / English doc"
        if t["type"] == "enum":
            assert t.get("default") in t["symbols"], f"{name}: enum {t['name']} needs a default symbol"
        for field in t.get("fields", []):
            where = f"{name}.{field['name']}"
            assert _bilingual(field.get("doc")), f"{where}: doc must be Chinese / English"
            assert field.get("level") in LEVELS, f"{where}: level must be one of {sorted(LEVELS)}"
            assert field.get("pii", "name") in PII_KINDS, f"{where}: bad pii {field.get('pii')!r}"
            ftype = field["type"]
            if isinstance(ftype, list) and "null" in ftype:
                assert ftype[0] == "null" and field.get("default", "missing") is None, \
                    f"{where}: optional fields are ['null', T] with default null"


PARTS = {f"{NS}.catalog.CheckContent", f"{NS}.catalog.ItemImplementation"}  # nested in SupervisionItem


@pytest.mark.parametrize("name", [n for n in NAMES if ".common." not in n and n not in PARTS])
def test_business_records_embed_the_envelope(name):
    fields = {f["name"]: f for f in _raw(name)["fields"]}
    assert fields["envelope"]["type"] == f"{NS}.common.Envelope"


def test_custom_attributes_survive_in_registry_json():
    text = loader.schema_json(f"{NS}.complaint.Complaint")
    fields = {f["name"]: f for f in json.loads(text)["fields"]}
    assert fields["complainant_phone"]["pii"] == "phone"
    assert fields["complainant_phone"]["level"] == "L4"
    parsed = avro.schema.parse(text)
    phone = next(f for f in parsed.fields if f.name == "complainant_phone")
    assert phone.other_props.get("pii") == "phone"


def test_known_pii_fields_are_tagged():
    officer = loader.pii_fields(f"{NS}.officer.EnforcementOfficer")
    assert officer["resident_id"] == "id_number"
    assert officer["name"] == "name" and officer["phone"] == "phone"
    complaint = loader.pii_fields(f"{NS}.complaint.Complaint")
    assert complaint["complainant_phone"] == "phone"
    assert complaint["complainant_name"] == "name"
    assert complaint["complainant_id_number"] == "id_number"
    entity = loader.pii_fields(f"{NS}.entity.SupervisedEntity")
    assert entity["liaison_mobile"] == "phone" and entity["liaison_id_number"] == "id_number"
    assert entity["resident_id"] == "id_number" and entity["home_address"] == "address"
    penalty = loader.pii_fields(f"{NS}.penalty.PenaltyCaseEvent")
    assert penalty["officers.name"] == "name" and penalty["counterpart.id_code"] == "id_number"
    assert "officers.certificate_number" not in penalty


def test_field_attributes_walks_nested_records_and_inherits_strictness():
    attrs = loader.field_attributes(f"{NS}.inspection.InspectionRecord")
    assert attrs["envelope.region_code"] == {"level": "L2", "pii": None}  # stricter of L1 and envelope's L2
    assert attrs["envelope.source_position.offset"]["level"] == "L2"
    assert attrs["inspectors.certificate_number"] == {"level": "L2", "pii": None}
    assert attrs["counterpart.id_code"] == {"level": "L4", "pii": "id_number"}
    assert attrs["result.code"]["level"] == "L1"


def test_unknown_schema_lists_valid_names():
    with pytest.raises(KeyError, match="valid schemas: .*Envelope"):
        loader.load("gov.zj.supervision.nope.Nothing")
    with pytest.raises(KeyError):
        loader.pii_fields("nope")


# ------------------------------------------------------------------ round trips

def _cv(code: str, name: str) -> dict:
    return {"code": code, "name": name, "code_system": None}


def _envelope(key: str, op: str = "i") -> dict:
    return {
        "record_id": "5f0c6a2e-4d7e-4c1b-9a57-0d1e2f3a4b5c",
        "source_system": "hz-scjg-case",
        "source_position": {"partition": "t_case", "offset": "102938"},
        "operation": op,
        "event_time": datetime(2024, 3, 12, 2, 30, tzinfo=UTC),
        "ingest_time": datetime(2024, 3, 12, 2, 30, 1, 250000, tzinfo=UTC),
        "region_code": "330106",
        "department_code": "330106-SCJG",
        "trace_id": None,
        "batch": "2024031200001",
        "source_key": key,
        "source_version": "7",
    }


OFFICERS = [{"name": "王建國", "certificate_number": "33010620190123"},
            {"name": "李曉燕", "certificate_number": "33010620170456"}]

SAMPLES = {
    f"{NS}.penalty.PenaltyCaseEvent": {
        "envelope": _envelope("AJ2024-0312-007"),
        "case_id": "330106-SCJG:AJ2024-0312-007",
        "stage": "decision",
        "stage_time": datetime(2024, 5, 20, 1, 0, tzinfo=UTC),
        "stage_document_number": "杭西市監處罰〔2024〕118號",
        "officers": OFFICERS,
        "implementing_agency": _cv("330106-SCJG", "杭州市西湖區市場監督管理局"),
        "counterpart": {
            "entity_id": "91330106MA2CFQ3K7A", "object_type": None, "name": "杭州綠源食品有限公司",
            "nature": _cv("1", "法人"), "id_type": _cv("001", "統一社會信用代碼"),
            "id_code": "91330106MA2CFQ3K7A", "registered_address": "杭州市西湖區文三路90號",
            "operating_address": None,
        },
        "region_code": "330106",
        "procedure": "ordinary",
        "filing_date": date(2024, 3, 15),
        "decision_document_number": "杭西市監處罰〔2024〕118號",
        "decision_date": date(2024, 5, 20),
        "penalty_kinds": [_cv("01", "警告"), _cv("02", "罰款")],
        "fine_amount": Decimal("25000.00"),
        "legal_basis": "《中華人民共和國食品安全法》第一百二十四條",
    },
    f"{NS}.entity.SupervisedEntity": {
        "envelope": _envelope("92330102MA2H4KLP13", "u"),
        "entity_id": "92330102MA2H4KLP13",
        "kind": "individual_business",
        "uscc": "92330102MA2H4KLP13",
        "name": "杭州市上城區張記小吃店",
        "industry": {"code": "H6210", "name": "正餐服務", "code_system": "GB/T 4754-2017"},
        "region_code": "330102",
        "operator_name": "張偉",
        "premises": "杭州市上城區清河坊街12號",
        "organisational_form": _cv("1", "個人經營"),
        "registration_authority": _cv("330102-SCJG", "杭州市上城區市場監督管理局"),
        "registration_date": date(2018, 6, 1),
        "longitude": 120.1693, "latitude": 30.2417,
        "liaison_name": "張偉", "liaison_id_number": "330102199007081516", "liaison_mobile": "13957112345",
    },
    f"{NS}.complaint.Complaint": {
        "envelope": _envelope("GD202404180123"),
        "ticket_id": "GD202404180123",
        "kind": "report",
        "complainant_name": "陳明", "complainant_phone": "13857198765",
        "complainant_id_number": "33010819780214452X",
        "category": _cv("0301", "醫療美容"),
        "text": "某美容店無資質開展注射類醫療美容項目。",
        "target_entity_name": "杭州某某美容有限公司",
        "region_code": "330108",
        "channel": _cv("01", "12345熱線"),
        "status": "dispatched",
        "received_time": datetime(2024, 4, 18, 6, 12, tzinfo=UTC),
    },
    f"{NS}.officer.EnforcementOfficer": {
        "envelope": _envelope("ZFZ-33010620190123"),
        "certificate_number": "33010620190123",
        "name": "王建國",
        "department": _cv("330106-SCJG", "杭州市西湖區市場監督管理局"),
        "resident_id": "330106198503120028",
        "sex": {"code": "1", "name": "男性", "code_system": "GB/T 2261.1"},
        "birth_date": date(1985, 3, 12),
        "phone": "13805710001",
        "enforcement_domains": [_cv("SCJG", "市場監管")],
        "certificate_valid_to": date(2027, 12, 31),
        "status": "valid",
    },
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sample_record_round_trips(name):
    schema = loader.load(name)
    buf = io.BytesIO()
    schemaless_writer(buf, schema, SAMPLES[name])
    back = schemaless_reader(io.BytesIO(buf.getvalue()), schema)
    for key, value in SAMPLES[name].items():
        assert back[key] == value, key
    # Optional fields left out of the sample read back as null.
    assert all(back[f["name"]] is None for f in schema["fields"]
               if f["name"] not in SAMPLES[name] and f.get("default", "x") is None)
