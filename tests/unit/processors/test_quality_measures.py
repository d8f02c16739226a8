"""Quality measures of single records: expected fields, code and date rules, latency; and window tallies.

Also holds the record builders the other quality tests import (good records of two kinds,
with every expected field filled and valid codes; tests break them on purpose).
"""

from __future__ import annotations

import hashlib
from datetime import date

from processors.quality.measures import measure
from processors.quality.stats import LATENCY_BOUNDS_MS, Tally
from schemas.codes import make_uscc
from tests.records import envelope, minimal

ENTITY = "gov.zj.supervision.entity.SupervisedEntity"
INSPECTION = "gov.zj.supervision.inspection.InspectionRecord"
PENALTY = "gov.zj.supervision.penalty.PenaltyCaseEvent"
HOUR_MS = 3_600_000


def uscc_for(key: str, region: str = "330106") -> str:
    return make_uscc(region, f"{int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 10**8:08d}")


def coded(code: str, name: str = "名称") -> dict:
    return {"code": code, "name": name, "code_system": None}


def _env(source: str, key: str, version: int, dept: str, ingest_ms: int, latency_s: float) -> dict:
    env = envelope(source, key, version, department_code=dept, region_code="330100")
    env.update(event_time=ingest_ms - int(latency_s * 1000), ingest_time=ingest_ms)
    return env


def entity(source: str, key: str, *, ingest_ms: int, version: int = 1, dept: str = "330106SCJ",
           latency_s: float = 1, **over) -> dict:
    """A complete, valid enterprise record; ``over`` replaces top-level fields."""
    uscc = uscc_for(key)
    value = minimal(ENTITY, envelope=_env(source, key, version, dept, ingest_ms, latency_s), entity_id=uscc,
                    kind="enterprise", uscc=uscc, name="杭州某某贸易有限公司", type=coded("1100", "有限责任公司"),
                    industry=coded("F5211", "百货零售"), region_code="330106", status=coded("1", "存续"),
                    premises="西湖区文三路1号", business_scope="日用百货销售",
                    registration_authority=coded("330106SCJ", "西湖区市场监督管理局"),
                    registration_date=date(2020, 5, 1))
    value.update(over)
    return value


def inspection(source: str, key: str, *, ingest_ms: int, version: int = 1, dept: str = "330203STJ",
               latency_s: float = 1, **over) -> dict:
    """A complete, valid inspection record (submitted an hour after the inspection)."""
    agency = uscc_for("agency-" + dept, "330203")
    party = uscc_for("party-" + key, "330203")
    inspected = ingest_ms - 2 * HOUR_MS
    value = minimal(INSPECTION, envelope=_env(source, key, version, dept, ingest_ms, latency_s),
                    catalog_code="33020300100001", implementation_code=agency + "1", inspection_name="日常检查",
                    inspection_number=key, implementing_agency=coded(dept, "海曙区生态环境分局"),
                    supervised_object="某企业",
                    counterpart={"entity_id": party, "object_type": None, "name": "宁波某某有限公司",
                                 "nature": coded("1", "法人"), "id_type": coded("001", "统一社会信用代码"),
                                 "id_code": party, "registered_address": None, "operating_address": "海曙区中山路2号"},
                    region_code="330203", inspection_form=coded("1"), inspection_category=coded("1"),
                    inspection_mode=coded("1"), result=coded("1", "未发现问题"), inspection_time=inspected,
                    inspectors=[{"name": "张三", "certificate_number": "33020001"},
                                {"name": "李四", "certificate_number": "33020002"}],
                    submitted_time=inspected + HOUR_MS, submitter="王五")
    value.update(over)
    return value


NOW_MS = 1_780_000_000_000  # a fixed instant for the pure tests (no clock involved)


def test_complete_valid_records_have_nothing_to_report():
    for schema, value in ((ENTITY, entity("a", "e1", ingest_ms=NOW_MS)),
                          (INSPECTION, inspection("b", "i1", ingest_ms=NOW_MS))):
        m = measure(schema, value)
        assert m.missing == () and m.errors == (), (schema, m)
        assert m.expected > 0
        assert m.latency_ms == 1000


def test_missing_expected_fields_are_named_and_kind_specific():
    value = entity("a", "e1", ingest_ms=NOW_MS, industry=None, premises="  ", business_scope=None)
    m = measure(ENTITY, value)
    assert sorted(m.missing) == ["business_scope", "industry", "premises"]
    # An enterprise is expected to carry a USCC; an individual business its operator instead.
    assert measure(ENTITY, entity("a", "e2", ingest_ms=NOW_MS, uscc=None)).missing == ("uscc",)
    ib = entity("a", "e3", ingest_ms=NOW_MS, kind="individual_business", uscc=None)
    assert measure(ENTITY, ib).missing == ("operator_name",)
    assert measure(ENTITY, ib).expected == measure(ENTITY, value).expected
    assert measure(INSPECTION, inspection("b", "i1", ingest_ms=NOW_MS, inspectors=[])).missing == ("inspectors",)


def test_stage_dependent_expectations_of_case_events():
    base = minimal(PENALTY, envelope=_env("c", "k", 1, "d", NOW_MS, 1), case_id="C1", region_code="330106",
                   implementing_agency=coded("330106SCJ"), stage="case_source")
    early = measure(PENALTY, base)
    decided = measure(PENALTY, {**base, "stage": "decision"})
    assert "decision_document_number" not in early.missing
    assert {"decision_document_number", "decision_date", "penalty_kinds", "filing_date"} <= set(decided.missing)
    assert decided.expected > early.expected


def test_every_failing_rule_is_reported_not_only_the_first():
    bad_uscc = uscc_for("e1")[:17] + ("0" if uscc_for("e1")[17] != "0" else "1")
    m = measure(ENTITY, entity("a", "e1", ingest_ms=NOW_MS, uscc=bad_uscc, region_code="339999"))
    assert set(m.errors) == {"uscc:uscc_check", "region_code:region_unknown"}
    late_submit = inspection("b", "i1", ingest_ms=NOW_MS)
    late_submit["submitted_time"] = late_submit["inspection_time"] - 1
    assert measure(INSPECTION, late_submit).errors == ("submitted_time:date_order",)
    assert measure(INSPECTION, inspection("b", "i2", ingest_ms=NOW_MS, catalog_code="123")).errors == (
        "catalog_code:item_code_format",)


def test_latency_and_events_from_the_future():
    assert measure(ENTITY, entity("a", "e1", ingest_ms=NOW_MS, latency_s=7200)).latency_ms == 7_200_000
    skewed = entity("a", "e1", ingest_ms=NOW_MS, latency_s=-30)  # within the tolerated clock skew
    assert measure(ENTITY, skewed).latency_ms == 0 and measure(ENTITY, skewed).errors == ()
    future = measure(ENTITY, entity("a", "e1", ingest_ms=NOW_MS, latency_s=-3600))
    assert future.latency_ms == 0 and future.errors == ("envelope.event_time:event_after_ingest",)


def test_tally_ratios_and_quantiles():
    t = Tally()
    latencies = [1, 1, 5, 60, 86400 * 2]  # seconds, on bucket bounds except the last
    for i, s in enumerate(latencies):
        v = entity("a", f"e{i}", ingest_ms=NOW_MS, latency_s=s, industry=None if i == 0 else coded("F5211"))
        t.add(measure(ENTITY, v), duplicate=i == 4, timely_within_ms=86400_000)
    assert (t.records, t.duplicates, t.invalid, t.timely) == (5, 1, 0, 4)
    assert t.fields_missing == 1 and t.completeness == (t.fields_expected - 1) / t.fields_expected
    assert t.accuracy == 1.0 and t.timeliness == 0.8
    assert t.latency_quantile_ms(0.5) == 5000 and t.latency_quantile_ms(0.95) == 86400 * 2 * 1000
    t.rejected = 5
    assert t.accuracy == 0.5
    again = Tally().merge(t).merge(t)
    assert again.records == 10 and again.missing_counts["industry"] == 2
    assert again.latency_quantile_ms(0.5) == t.latency_quantile_ms(0.5)
    assert len(again.latency_buckets) == len(LATENCY_BOUNDS_MS) + 1
    assert Tally().completeness is None and Tally().latency_quantile_ms(0.5) is None
