"""Property-based tests of the code-system validators (schemas.codes) and region table (schemas.regions).

Error-detection guarantees tested here (and why they hold):

* USCC: the weights are 3**i mod 31 (all non-zero, pairwise distinct) and 31 is prime, so
  every single-character substitution anywhere in the 18 characters is detected, and so is
  every transposition of two *different* characters within the first 17.  Transpositions
  involving the check character (position 18) are not guaranteed to be detected.
* Resident ID: ISO 7064 MOD 11-2 (weights 2**(17-i) mod 11, non-zero; 11 prime), so every
  single-character substitution is detected; adjacent transpositions within the first 17 are
  detected too (adjacent weights differ).  Substitutions inside the birth date may be caught
  by the date rule before the check rule -- either way the ID is invalid.
"""

from __future__ import annotations

import datetime as dt
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import codes, regions
from schemas.codes import (
    ID_CHECK_CHARS,
    USCC_CHARSET,
    CodeError,
    is_valid_resident_id,
    is_valid_uscc,
    make_batch,
    make_resident_id,
    make_uscc,
    normalize_identifier,
    resident_id_birth_date,
    resident_id_check_char,
    resident_id_sex,
    uscc_check_char,
    validate_batch,
    validate_implementation_code,
    validate_item_code,
    validate_region,
    validate_resident_id,
    validate_uscc,
)

TODAY = dt.date(2025, 1, 1)

region_codes = st.sampled_from(sorted(regions.REGIONS))
zj_counties = sorted(
    c for c in regions.REGIONS if c.startswith("33") and regions.level(c) == "county"
)
uscc_char = st.sampled_from(USCC_CHARSET)
org_bodies = st.text(alphabet=USCC_CHARSET, min_size=9, max_size=9)
birth_dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=TODAY)
sequences = st.integers(min_value=0, max_value=999)


@st.composite
def usccs(draw) -> str:
    return make_uscc(draw(region_codes), draw(org_bodies), draw(uscc_char), draw(uscc_char))


@st.composite
def resident_ids(draw) -> str:
    return make_resident_id(draw(region_codes), draw(birth_dates), draw(sequences))


def reason(fn, *args, **kwargs) -> str | None:
    try:
        fn(*args, **kwargs)
    except CodeError as exc:
        return exc.reason
    return None


# ---------------------------------------------------------------------------------------------
# Unified social credit code
# ---------------------------------------------------------------------------------------------


@settings(max_examples=200)
@given(region=region_codes, body=org_bodies, dept=uscc_char, org_type=uscc_char)
def test_make_uscc_is_valid(region, body, dept, org_type):
    code = make_uscc(region, body, dept, org_type)
    assert len(code) == 18
    assert code[2:8] == region
    assert is_valid_uscc(code)
    assert is_valid_uscc(code, require_known_region=True)  # the region comes from the table


@settings(max_examples=60)
@given(code=usccs())
def test_every_single_substitution_in_uscc_is_detected(code):
    # Exhaustive over all 18 positions x 30 other charset characters (540 variants).
    for i in range(18):
        for ch in USCC_CHARSET:
            if ch == code[i]:
                continue
            mutated = code[:i] + ch + code[i + 1 :]
            # the check rule runs before the region rule, so even a letter put into the
            # region part is reported as a check failure
            assert reason(validate_uscc, mutated) == "uscc_check", (i, ch)


@settings(max_examples=60)
@given(code=usccs())
def test_transpositions_within_first_17_of_uscc_are_detected(code):
    for i in range(17):
        for j in range(i + 1, 17):
            if code[i] == code[j]:
                continue
            s = list(code)
            s[i], s[j] = s[j], s[i]
            assert not is_valid_uscc("".join(s))


def test_known_uscc_example():
    # Widely published example; verified against the GB 32100 rule implemented here.
    assert is_valid_uscc("91350100M000100Y43")
    assert uscc_check_char("91350100M000100Y4") == "3"
    # its organisation code M000100Y4 also satisfies GB 11714, so an 8-char body rebuilds it
    assert codes.org_code_check_char("M000100Y") == "4"
    assert make_uscc("350100", "M000100Y") == "91350100M000100Y43"
    assert regions.region_name("91350100M000100Y43"[2:8]) == "福州市"


def test_uscc_reasons():
    good = make_uscc("330106", "MA2H00014")
    assert reason(validate_uscc, good) is None
    assert reason(validate_uscc, good[:17]) == "uscc_length"
    assert reason(validate_uscc, good + "0") == "uscc_length"
    assert reason(validate_uscc, "I" + good[1:]) == "uscc_charset"  # I is not in the charset
    assert reason(validate_uscc, good.lower()) == "uscc_charset"  # strict: normalise first
    assert reason(validate_uscc, good[:17] + ("0" if good[17] != "0" else "1")) == "uscc_check"
    # letters in the region part with a correct check character
    first17 = "91" + "33A1B0" + "MA2H00014"
    assert reason(validate_uscc, first17 + uscc_check_char(first17)) == "uscc_region"
    # an unknown (retired) region: accepted by default, rejected when required
    old = make_uscc("330103", "MA2H00014")
    assert reason(validate_uscc, old) is None
    assert reason(validate_uscc, old, require_known_region=True) == "uscc_region"
    assert not is_valid_uscc(old, require_known_region=True)
    assert reason(validate_uscc, None) == "uscc_length"  # type: ignore[arg-type]


@settings(max_examples=100)
@given(code=usccs(), pos=st.integers(0, 17), ch=uscc_char)
def test_uscc_errors_do_not_echo_the_value(code, pos, ch):
    bad = code[:pos] + ch + code[pos + 1 :]
    if bad == code:
        bad = code[:17]
    with pytest.raises(CodeError) as ei:
        validate_uscc(bad, field="counterpart_code")
    assert bad not in str(ei.value)
    assert ei.value.field == "counterpart_code"
    assert isinstance(ei.value, ValueError)


def test_make_uscc_rejects_bad_shapes():
    with pytest.raises(CodeError):
        make_uscc("33010", "MA2H00014")
    with pytest.raises(CodeError):
        make_uscc("330106", "MA2H0")
    with pytest.raises(CodeError):
        make_uscc("330106", "MA2H0001I")  # I outside the charset


# ---------------------------------------------------------------------------------------------
# Resident ID
# ---------------------------------------------------------------------------------------------


@settings(max_examples=200)
@given(region=region_codes, birth=birth_dates, seq=sequences)
def test_make_resident_id_round_trips(region, birth, seq):
    rid = make_resident_id(region, birth, seq)
    assert len(rid) == 18
    assert is_valid_resident_id(rid, require_known_region=True, today=TODAY)
    assert resident_id_birth_date(rid) == birth
    assert resident_id_sex(rid) == ("M" if seq % 2 else "F")
    assert rid[:6] == region
    assert make_resident_id(region, birth, f"{seq:03d}") == rid


@settings(max_examples=100)
@given(rid=resident_ids())
def test_every_single_substitution_in_resident_id_is_detected(rid):
    for i in range(18):
        alphabet = ID_CHECK_CHARS if i == 17 else "0123456789"
        for ch in alphabet:
            if ch == rid[i]:
                continue
            mutated = rid[:i] + ch + rid[i + 1 :]
            r = reason(validate_resident_id, mutated, today=TODAY)
            if 6 <= i < 14:
                assert r in ("id_birth_date", "id_check"), (i, r)
            else:
                assert r == "id_check", (i, r)


@settings(max_examples=100)
@given(rid=resident_ids(), i=st.integers(0, 15))
def test_adjacent_transpositions_in_resident_id_are_detected(rid, i):
    if rid[i] == rid[i + 1]:
        return
    swapped = rid[:i] + rid[i + 1] + rid[i] + rid[i + 2 :]
    assert not is_valid_resident_id(swapped, today=TODAY)


def test_known_resident_id_example():
    # The textbook example from GB 11643 explanations: Beijing 朝阳区, 1949-12-31, sequence 002.
    rid = "11010519491231002X"
    assert resident_id_check_char(rid[:17]) == "X"
    assert is_valid_resident_id(rid)
    assert resident_id_birth_date(rid) == dt.date(1949, 12, 31)
    assert resident_id_sex(rid) == "F"
    # the validator is strict about lowercase x; normalisation repairs it
    assert reason(validate_resident_id, rid.lower()) == "id_charset"
    assert is_valid_resident_id(normalize_identifier(" 110105 19491231 002x "))
    # 1101xx is outside the region table: only rejected when a known region is required
    assert reason(validate_resident_id, rid, require_known_region=True) == "id_region"


def test_resident_id_reasons():
    rid = make_resident_id("330106", dt.date(1990, 6, 15), 123)
    assert reason(validate_resident_id, rid) is None
    assert reason(validate_resident_id, rid[:17]) == "id_length"
    assert reason(validate_resident_id, "A" + rid[1:]) == "id_charset"
    assert reason(validate_resident_id, rid[:17] + "Y") == "id_charset"
    # impossible dates, even with a correct check character
    for bad_day in ("19900230", "19000229", "19901301", "19900000"):
        first17 = "330106" + bad_day + "123"
        assert (
            reason(validate_resident_id, first17 + resident_id_check_char(first17))
            == "id_birth_date"
        )
    # 2000-02-29 is a real date (leap year divisible by 400)
    assert is_valid_resident_id(make_resident_id("330106", dt.date(2000, 2, 29), 1))
    # before 1900 and in the future
    assert (
        reason(validate_resident_id, make_resident_id("330106", dt.date(1899, 12, 31), 1))
        == "id_birth_date"
    )
    future = make_resident_id("330106", TODAY + dt.timedelta(days=1), 1)
    assert reason(validate_resident_id, future, today=TODAY) == "id_birth_date"
    assert reason(validate_resident_id, make_resident_id("330106", TODAY, 1), today=TODAY) is None
    # province prefix 99 does not exist
    assert (
        reason(validate_resident_id, make_resident_id("990101", dt.date(1990, 1, 1), 1))
        == "id_region"
    )
    # messages never contain the ID or its birth date
    with pytest.raises(CodeError) as ei:
        validate_resident_id(rid[:17] + ("0" if rid[17] != "0" else "1"), field="counterpart_code")
    assert rid[:17] not in str(ei.value) and "19900615" not in str(ei.value)
    with pytest.raises(CodeError):
        make_resident_id("330106", dt.date(1990, 1, 1), 1000)
    with pytest.raises(CodeError):
        make_resident_id("330106", dt.date(1990, 1, 1), "12")


# ---------------------------------------------------------------------------------------------
# normalize_identifier
# ---------------------------------------------------------------------------------------------


@settings(max_examples=300)
@given(s=st.text())
def test_normalize_identifier_is_idempotent(s):
    once = normalize_identifier(s)
    assert normalize_identifier(once) == once
    assert not any(ch.isspace() for ch in once)
    assert not any(0xFF01 <= ord(ch) <= 0xFF5E for ch in once)


@settings(max_examples=100)
@given(s=st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXYabcxyz", max_size=30))
def test_normalize_maps_full_width_to_half_width(s):
    full = "".join(chr(ord(ch) + 0xFEE0) for ch in s)
    assert normalize_identifier(full) == s.upper()
    assert normalize_identifier("\u3000".join(full)) == s.upper()


def test_normalize_examples():
    assert normalize_identifier("０１２３４５６７８９") == "0123456789"
    assert normalize_identifier("９１３５０１００Ｍ０００１００Ｙ４３") == "91350100M000100Y43"
    assert normalize_identifier("\t91350100 m000100y43\u3000\n") == "91350100M000100Y43"
    assert normalize_identifier("") == ""


# ---------------------------------------------------------------------------------------------
# Region, item, implementation and batch codes
# ---------------------------------------------------------------------------------------------


def test_validate_region():
    assert reason(validate_region, "330106") is None
    assert reason(validate_region, "310115") is None
    assert reason(validate_region, "3301") == "region_format"
    assert reason(validate_region, "33010６") == "region_format"  # full-width digit, strict
    assert reason(validate_region, "330199") == "region_unknown"
    assert reason(validate_region, "330103") == "region_unknown"  # retired 下城区
    assert reason(validate_region, "110000") == "region_unknown"  # known, outside the provinces
    assert reason(validate_region, "110000", provinces=None) is None
    assert reason(validate_region, "320100", provinces=("33",)) == "region_unknown"
    assert codes.is_valid_region("330000")


@settings(max_examples=50)
@given(code=region_codes)
def test_every_table_code_in_default_provinces_validates(code):
    expected = None if code[:2] in codes.DEFAULT_PROVINCES else "region_unknown"
    assert reason(validate_region, code) == expected


def test_item_code():
    assert reason(validate_item_code, "33000000000001") is None
    for bad in ("3300000000000", "330000000000011", "3300000000000A", "", "３３000000000001"):
        assert reason(validate_item_code, bad) == "item_code_format"


@settings(max_examples=100)
@given(agency=usccs(), kind=st.sampled_from("12345"), tail=st.text("0123456789", max_size=20))
def test_implementation_code(agency, kind, tail):
    code = agency + kind + tail
    assert reason(validate_implementation_code, code) is None
    assert reason(validate_implementation_code, agency + "6" + tail) == "impl_code_kind"
    assert reason(validate_implementation_code, agency + "0" + tail) == "impl_code_kind"
    assert reason(validate_implementation_code, agency) == "impl_code_length"
    broken = agency[:17] + ("0" if agency[17] != "0" else "1")
    assert reason(validate_implementation_code, broken + kind + tail) == "impl_code_uscc"
    assert reason(validate_implementation_code, agency + kind + tail + " ") == "impl_code_charset"


def test_batch():
    assert reason(validate_batch, "2019041100002") is None
    assert make_batch(dt.date(2019, 4, 11), 2) == "2019041100002"
    assert reason(validate_batch, "201904110002") == "batch_format"
    assert reason(validate_batch, "2019041100002 ") == "batch_format"
    assert reason(validate_batch, "2019023000001") == "batch_date"
    assert reason(validate_batch, "1899123100001") == "batch_date"
    assert codes.is_valid_batch("2024022900001")


@settings(max_examples=50)
@given(
    day=st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(9999, 12, 31)),
    seq=st.integers(0, 99999),
)
def test_make_batch_round_trips(day, seq):
    assert codes.is_valid_batch(make_batch(day, seq))


def test_code_error_shape_and_pickling():
    err = CodeError("uscc_check", "check character does not match", field="agency_code")
    assert isinstance(err, ValueError)
    assert err.reason == "uscc_check" and err.field == "agency_code"
    again = pickle.loads(pickle.dumps(err))
    assert (again.reason, again.field, str(again)) == (err.reason, err.field, str(err))


# ---------------------------------------------------------------------------------------------
# Region hierarchy
# ---------------------------------------------------------------------------------------------

ZJ_CITIES = {
    "330100": "杭州市",
    "330200": "宁波市",
    "330300": "温州市",
    "330400": "嘉兴市",
    "330500": "湖州市",
    "330600": "绍兴市",
    "330700": "金华市",
    "330800": "衢州市",
    "330900": "舟山市",
    "331000": "台州市",
    "331100": "丽水市",
}


def test_all_zhejiang_cities_present():
    assert regions.region_name("330000") == "浙江省"
    assert regions.cities() == sorted(ZJ_CITIES)
    assert regions.cities("330000") == regions.children("330000")
    for code, name in ZJ_CITIES.items():
        assert regions.region_name(code) == name
        assert regions.level(code) == "city"
        assert regions.parent(code) == "330000"
        assert regions.counties(code), code


@pytest.mark.parametrize("county", zj_counties)
def test_zhejiang_county_ancestors(county):
    city = county[:4] + "00"
    assert regions.level(county) == "county"
    assert regions.ancestors(county) == [county, city, "330000"]
    assert county in regions.counties(city)
    assert county in regions.children(city)
    assert regions.is_zhejiang(county) and regions.province_of(county) == "330000"


def test_zhejiang_county_counts():
    # 37 districts + 20 county-level cities + 32 counties + 1 autonomous county (2021 onwards)
    assert len(zj_counties) == 90
    assert len(regions.counties("330000")) == 90
    assert len(regions.counties("330100")) == 13
    hangzhou = (
        "330102 330105 330106 330108 330109 330110 330111 330112 330113 330114 330122 330127 330182"
    )
    for code in hangzhou.split():
        assert regions.parent(code) == "330100"
    assert regions.region_name("330383") == "龙港市"
    assert regions.region_name("331127") == "景宁畲族自治县"


def test_neighbouring_provinces():
    expected = {"320000": 13, "340000": 16, "350000": 9, "360000": 11}
    for prov, n in expected.items():
        assert regions.is_known_region(prov)
        assert len(regions.cities(prov)) == n
        for city in regions.cities(prov):
            assert regions.ancestors(city) == [city, prov]
    # Shanghai: a municipality, districts hang directly off 310000
    assert regions.region_name("310000") == "上海市"
    assert regions.cities("310000") == []
    assert regions.parent("310115") == "310000"
    assert regions.ancestors("310151") == ["310151", "310000"]
    assert len(regions.counties("310000")) == 16
    assert regions.children("310000") == regions.counties("310000")


def test_region_helpers():
    assert regions.level("330000") == "province"
    assert regions.level("330100") == "city"
    assert regions.level("330106") == "county"
    assert regions.parent("330000") is None
    assert regions.ancestors("330000") == ["330000"]
    assert regions.parent("330103") == "330100"  # structural walk works for retired codes
    assert regions.province_of("310115") == "310000"
    assert regions.is_zhejiang("330106") and not regions.is_zhejiang("310115")
    assert not regions.is_zhejiang("33") and not regions.is_zhejiang(None)  # type: ignore[arg-type]
    assert regions.region_name("nope") is None and regions.region_name("999999") is None
    assert not regions.is_known_region("33010６")
    for code, (_name, successor) in regions.RETIRED_REGIONS.items():
        assert not regions.is_known_region(code)
        assert regions.is_known_region(successor)
    with pytest.raises(ValueError):
        regions.level("3301")
    with pytest.raises(ValueError):
        regions.counties("330106")
    with pytest.raises(ValueError):
        regions.cities("330100")


@settings(max_examples=100)
@given(code=region_codes)
def test_ancestors_are_consistent(code):
    chain = regions.ancestors(code)
    assert chain[0] == code
    assert chain[-1] == regions.province_of(code)
    assert all(regions.is_known_region(c) for c in chain)
    levels = [regions.level(c) for c in chain]
    order = {"county": 0, "city": 1, "province": 2}
    assert [order[lv] for lv in levels] == sorted(order[lv] for lv in levels)
    for child, par in zip(chain, chain[1:], strict=False):
        assert child in regions.children(par)


# -- the validators' one-pass implementations against the rules as written ----------------------


def _reference_uscc_reason(code) -> str | None:
    """GB 32100 as the docstring states it, one rule at a time (no shortcuts)."""
    if not isinstance(code, str) or len(code) != 18:
        return "uscc_length"
    if any(ch not in USCC_CHARSET for ch in code):
        return "uscc_charset"
    total = sum(USCC_CHARSET.index(ch) * w for ch, w in zip(code[:17], codes.USCC_WEIGHTS, strict=True))
    if USCC_CHARSET[(31 - total % 31) % 31] != code[17]:
        return "uscc_check"
    if not all(ch in "0123456789" for ch in code[2:8]):
        return "uscc_region"
    return None


def _reference_id_reason(code, today: dt.date) -> str | None:
    """GB 11643 as the docstring states it, one rule at a time (no shortcuts)."""
    if not isinstance(code, str) or len(code) != 18:
        return "id_length"
    if not all(ch in "0123456789" for ch in code[:17]) or code[17] not in "0123456789X":
        return "id_charset"
    try:
        birth = dt.date(int(code[6:10]), int(code[10:12]), int(code[12:14]))
    except ValueError:
        return "id_birth_date"
    if not dt.date(1900, 1, 1) <= birth <= today:
        return "id_birth_date"
    if codes.ID_CHECK_CHARS[sum(int(c) * w for c, w in zip(code[:17], codes.ID_WEIGHTS, strict=True)) % 11] != code[17]:
        return "id_check"
    if code[:2] not in codes.ID_PROVINCE_PREFIXES:
        return "id_region"
    return None


# Mostly near-valid codes (the interesting cases), with characters other scripts call digits.
_CODE_CHARS = st.sampled_from(list(USCC_CHARSET) + ["I", "O", "x", "٣", "３", "𝟗", " ", "中"])


_VALID_USCC = st.builds(make_uscc, st.sampled_from(["330106", "110101"]),
                       st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=8, max_size=8))


def _replace(code: str, i: int, ch: str) -> str:
    return code[:i] + ch + code[i + 1:]


@given(st.one_of(
    _VALID_USCC,
    st.builds(_replace, _VALID_USCC, st.integers(0, 17), _CODE_CHARS),
    st.lists(_CODE_CHARS, min_size=16, max_size=19).map("".join),
))
@settings(max_examples=400)
def test_uscc_validator_agrees_with_the_rules_as_written(code):
    assert reason(codes.validate_uscc, code) == _reference_uscc_reason(code)


_ANY_RESIDENT_ID = st.builds(make_resident_id, st.sampled_from(["330106", "990101", "830000"]),
                             st.dates(dt.date(1880, 1, 1), dt.date(2030, 12, 31)), st.integers(0, 999))


@given(st.one_of(
    _ANY_RESIDENT_ID,
    st.builds(_replace, _ANY_RESIDENT_ID, st.integers(0, 17), st.sampled_from(list("0123456789X") + ["x", "٣", "３"])),
    st.lists(st.sampled_from(list("0123456789X") + ["x", "٣", "３", "A"]), min_size=17, max_size=19).map("".join),
))
@settings(max_examples=400)
def test_resident_id_validator_agrees_with_the_rules_as_written(code):
    today = dt.date(2026, 6, 1)
    assert reason(codes.validate_resident_id, code, today=today) == _reference_id_reason(code, today)


def test_resident_id_default_today_follows_the_local_date(monkeypatch):
    # The default "today" is cached per local day; it must move on at midnight and when the
    # clock is set back, exactly as date.today() would.
    born_today = make_resident_id("330106", dt.date(2026, 3, 2), 7)
    clock = {"now": dt.datetime(2026, 3, 1, 23, 59, 59).timestamp()}
    monkeypatch.setattr(codes._time, "time", lambda: clock["now"])
    monkeypatch.setattr(codes, "_today_cache", (dt.date.min, 0.0, 0.0))
    assert reason(codes.validate_resident_id, born_today) == "id_birth_date"  # born tomorrow
    clock["now"] = dt.datetime(2026, 3, 2, 0, 0, 0).timestamp()
    assert reason(codes.validate_resident_id, born_today) is None
    clock["now"] = dt.datetime(2026, 3, 1, 12, 0, 0).timestamp()  # clock set back a day
    assert reason(codes.validate_resident_id, born_today) == "id_birth_date"
