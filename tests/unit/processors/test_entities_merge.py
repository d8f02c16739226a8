"""Merge rules of the supervised-object registry (pure functions)."""

from __future__ import annotations

from datetime import date

import pytest

from processors.entities.merge import (
    DEREGISTERED,
    OWNER_STALE_AFTER_MS,
    SourceVersion,
    is_pseudonym,
    merge,
    pseudonym,
    resolve_identity,
)
from schemas.codes import CodeError, make_resident_id, make_uscc

USCC = make_uscc("330106", "12345678")
RID = make_resident_id("330106", date(1980, 5, 17), 123)
DAY = 24 * 3600 * 1000


def sv(source, t, **payload):
    op = payload.pop("op", "u")
    kind = payload.pop("source_kind", "registry")
    return SourceVersion(source, t, op, payload, kind)


def test_identity_uscc_and_resident_id_are_validated_and_persons_are_pseudonymised():
    assert resolve_identity(USCC, None).entity_id == USCC
    person = resolve_identity(None, RID)
    assert person.entity_id == pseudonym(RID) and is_pseudonym(person.entity_id) and RID not in person.entity_id
    assert resolve_identity(None, None, RID).resident_id == RID  # an 18-char entity_id may be a resident ID
    assert resolve_identity(None, None, USCC).uscc == USCC
    bad_uscc = USCC[:17] + ("0" if USCC[17] != "0" else "1")
    with pytest.raises(CodeError) as e:
        resolve_identity(bad_uscc, None)
    assert e.value.reason == "uscc_check"
    bad_rid = RID[:17] + ("0" if RID[17] != "0" else "1")
    with pytest.raises(CodeError) as e:
        resolve_identity(None, None, bad_rid)
    assert e.value.reason == "id_check"
    with pytest.raises(CodeError) as e:
        resolve_identity(None, None, None)
    assert e.value.reason == "entity_id_missing"
    with pytest.raises(CodeError) as e:
        resolve_identity(USCC, None, make_uscc("330106", "87654321"))
    assert e.value.reason == "identity_mismatch"


def test_registration_system_owns_name_and_status_other_sources_fill_gaps():
    ident = resolve_identity(USCC, None)
    g = merge(ident, [
        sv("market_entities", 1000, name="杭州甲公司", status={"code": "1", "name": "存续"}, premises=None),
        sv("taxation", 5000, name="甲公司", premises="西湖区文三路1号",
           industry={"code": "H6210", "name": "正餐服务"}),
    ])
    assert g.record["name"] == "杭州甲公司" and g.field_sources["name"] == "market_entities"
    assert g.record["premises"] == "西湖区文三路1号" and g.field_sources["premises"] == "taxation"
    assert g.record["industry"]["code"] == "H6210" and g.sources == ["market_entities", "taxation"]


def test_most_recent_wins_among_equal_precedence_and_stale_owner_values_yield():
    ident = resolve_identity(USCC, None)
    g = merge(ident, [sv("taxation", 1000, industry={"code": "F5221", "name": "a"}),
                      sv("statistics", 2000, industry={"code": "H6210", "name": "b"})])
    assert g.record["industry"]["code"] == "H6210" and g.field_sources["industry"] == "statistics"
    g = merge(ident, [sv("market_entities", 0, premises="旧址"),
                      sv("taxation", OWNER_STALE_AFTER_MS + 1, premises="新址")])
    assert g.record["premises"] == "新址"
    g = merge(ident, [sv("market_entities", 0, premises="旧址"), sv("taxation", OWNER_STALE_AFTER_MS, premises="新址")])
    assert g.record["premises"] == "旧址"


def test_mentions_rank_below_registry_sources_but_fill_empty_fields():
    ident = resolve_identity(USCC, None)
    g = merge(ident, [sv("taxation", 1000, name="甲公司"),
                      sv("penalty_sys", 9000, name="甲", premises="某地", source_kind="mention")])
    assert g.record["name"] == "甲公司" and g.record["premises"] == "某地"
    assert g.field_sources["premises"] == "penalty_sys"


def test_deletion_by_owner_deregisters_and_keeps_values_deletion_by_others_withdraws():
    ident = resolve_identity(USCC, None)
    g = merge(ident, [sv("market_entities", 2000, name="甲公司", status={"code": "1", "name": "存续"}, op="d"),
                      sv("taxation", 1000, premises="某地")])
    assert g.deregistered and g.record["status"] == DEREGISTERED and g.record["name"] == "甲公司"
    g = merge(ident, [sv("market_entities", 1000, name="甲公司"), sv("taxation", 2000, premises="某地", op="d")])
    assert not g.deregistered and g.record["premises"] is None


def test_natural_person_kind_and_region_default_from_identity():
    g = merge(resolve_identity(None, RID), [sv("complaints", 1, name="张三", source_kind="mention")])
    assert g.record["kind"] == "natural_person"
    assert g.record["region_code"] == "330106" and g.record["resident_id"] == RID
