"""CaseGenerator: determinism, valid codes on good records, each defect caught by its validator."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

import pytest

from ops.simulators.cases import ALL_DEFECTS, REASONS, CaseGenerator, add_workdays
from schemas.codes import (
    CodeError,
    normalize_identifier,
    validate_implementation_code,
    validate_item_code,
    validate_region,
    validate_resident_id,
    validate_uscc,
)

N = 3000


@pytest.fixture(scope="module")
def events():
    return CaseGenerator(7, "330000TST", bad_ratio=0.15, defects=ALL_DEFECTS).take(N)


def _sig(ev):
    return (ev.source_key, ev.version, ev.stage, ev.defect, sorted(ev.fields.items()))


def test_deterministic_per_seed():
    a = CaseGenerator(11, "330000GAT").take(300)
    b = CaseGenerator(11, "330000GAT").take(300)
    c = CaseGenerator(12, "330000GAT").take(300)
    assert [_sig(e) for e in a] == [_sig(e) for e in b]
    assert [_sig(e) for e in a] != [_sig(e) for e in c]


def test_every_defect_kind_occurs(events):
    kinds = {e.defect for e in events} - {None}
    assert kinds == set(ALL_DEFECTS) | {"duplicate", "out_of_order"}


def test_json_dialect_defaults_exclude_encoding_defect():
    evs = CaseGenerator(3, "330000GAT", bad_ratio=0.5).take(500)
    assert "gb18030_in_utf8" not in {e.defect for e in evs}


def _validate_codes(f):
    pid = normalize_identifier(f["party_id"])
    if f["party_type"] == "enterprise":
        validate_uscc(pid)
    else:
        validate_resident_id(pid)
    validate_region(f["region_code"])
    validate_item_code(f["catalog_code"])
    validate_implementation_code(f["implementation_code"])
    validate_uscc(f["agency_uscc"])


def test_good_and_repairable_records_pass_validators(events):
    accepted = [e for e in events if e.defect in (None, "fullwidth_digits", "duplicate",
                                                  "out_of_order", "gb18030_in_utf8")]
    assert len(accepted) > N * 0.8
    for ev in accepted:
        _validate_codes(ev.fields)
        assert ev.fields["party_name"]


def test_fullwidth_is_repairable_and_not_valid_before_repair(events):
    fw = [e for e in events if e.defect == "fullwidth_digits"]
    assert fw and all(e.repairable and e.expected_reason is None for e in fw)
    for ev in fw:
        assert ev.fields["party_id"] != normalize_identifier(ev.fields["party_id"])


CHECKS = {
    "bad_uscc_check": lambda f: validate_uscc(f["party_id"]),
    "bad_resident_id": lambda f: validate_resident_id(f["party_id"]),
    "unknown_region": lambda f: validate_region(f["region_code"]),
    "bad_item_code": lambda f: validate_item_code(f["catalog_code"]),
}


@pytest.mark.parametrize("kind", sorted(CHECKS))
def test_code_defects_fail_with_expected_reason(events, kind):
    bad = [e for e in events if e.defect == kind]
    assert bad
    for ev in bad:
        with pytest.raises(CodeError) as err:
            CHECKS[kind](ev.fields)
        assert err.value.reason == REASONS[kind] == ev.expected_reason


def test_missing_required_and_date_order(events):
    missing = [e for e in events if e.defect == "missing_required"]
    assert missing and all(e.fields["party_name"] is None for e in missing)
    assert all(e.expected_reason == "schema" for e in missing)
    order = [e for e in events if e.defect == "date_order"]
    assert order and all(e.fields["decision_date"] < e.fields["filing_date"] for e in order)


def test_repeats_reproduce_earlier_good_events(events):
    seen, latest = {}, defaultdict(int)
    for ev in events:
        k = (ev.source_key, ev.version)
        if ev.defect in ("duplicate", "out_of_order"):
            assert seen[k].defect is None and seen[k].fields == ev.fields
            if ev.defect == "out_of_order":
                assert ev.version < latest[ev.source_key]
            continue
        assert k not in seen  # every fresh (key, version) is new
        seen[k] = ev
        latest[ev.source_key] = max(latest[ev.source_key], ev.version)


def _workdays_between(a, b):
    n, d = 0, a
    while d < b:
        d += timedelta(days=1)
        n += d.weekday() < 5
    return n


def test_lifecycle_dates_hold_for_good_cases(events):
    cases = defaultdict(list)
    for ev in events:
        if ev.defect is None:
            cases[ev.source_key].append(ev)
    checked = 0
    for evs in cases.values():
        evs.sort(key=lambda e: e.version)
        assert [e.version for e in evs] == sorted({e.version for e in evs})
        times = [e.fields["stage_time"] for e in evs]
        assert times == sorted(times)
        last = evs[-1].fields
        lead = evs[0].fields["stage_time"].date() if evs[0].stage == "case_source" else None
        if last["filing_date"] and lead:
            assert _workdays_between(lead, last["filing_date"]) <= 15
        if last["filing_date"] and last["decision_date"]:
            assert 0 < (last["decision_date"] - last["filing_date"]).days <= 90
            checked += 1
        if last["closing_date"]:
            assert last["closing_date"] > last["decision_date"]
        assert last["officer1_cert"] and last["officer2_cert"]
    assert checked > 20


def test_add_workdays_skips_weekends():
    from datetime import date
    assert add_workdays(date(2024, 6, 7), 1) == date(2024, 6, 10)  # Friday -> Monday
