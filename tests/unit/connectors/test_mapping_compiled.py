"""The compiled mapper equals the interpreter (the reference) on every shipped config.

For each mapping in ``connectors/declarative/examples/*.json`` and ``connectors/systems/*.json``
(found wherever a config holds one), hypothesis builds source documents from the mapping's
own source paths with values chosen to reach every branch: blanks, padded text, numbers,
lists, nested objects, the rule's known codes (in other cases too), dates in the rule's
format, comma-separated lists. Both implementations must return equal records or raise the
same error with the same reason and message.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.avro_types import tokens
from connectors.mapping import _PLACEHOLDER, DeclarativeMapper, FieldRule, MappingSpec
from connectors.runtime.contract import MappingError, RawRecord

ROOT = Path(__file__).resolve().parents[3]
CONFIGS = sorted([*ROOT.glob("connectors/declarative/examples/*.json"), *ROOT.glob("connectors/systems/*.json")])
RAW = RawRecord("default", "1", "K-1", "1", b"{}")


def _mappings(node: Any, where: str) -> list[tuple[str, dict]]:
    if isinstance(node, dict):
        found = [(where, node)] if isinstance(node.get("fields"), dict) and "topic" in node else []
        return found + [m for k, v in node.items() for m in _mappings(v, f"{where}.{k}")]
    if isinstance(node, list):
        return [m for i, v in enumerate(node) for m in _mappings(v, f"{where}[{i}]")]
    return []


SHIPPED = [(f"{path.name}{where}", spec) for path in CONFIGS
           for where, spec in _mappings(json.loads(path.read_text(encoding="utf-8")), "")]
_REQUIRED = {"envelope.operation": {"source": "op", "operation": {"I": "i", "U": "u", "D": "d"}},
             "envelope.event_time": {"source": "t", "date_format": "%Y-%m-%d %H:%M:%S", "required": True},
             "envelope.region_code": {"source": "area", "required": True},
             "envelope.department_code": {"const": " 330000GAT "},
             "case_id": {"source": "no", "required": True}, "stage": {"source": "st", "code_table": "stage"},
             "stage_time": {"source": "t"}, "implementing_agency.code": {"source": "org.code"},
             "implementing_agency.name": {"source": "org.name"}, "region_code": {"source": "area"}}
_TABLES = {"stage": {"50": {"code": "decision", "name": "处罚决定"}},
           "kind": {"02": {"code": "02", "name": "罚款"}, "01": {"code": "01", "name": "警告"}}}
SYNTHETIC = [  # rule kinds and target types the shipped configs use rarely or not at all
    ("synthetic-every-rule-kind", {"topic": "penalty.case.events", "code_tables": _TABLES, "fields": {
        **_REQUIRED,
        "extension_days": {"source": "days"}, "hearing_held": {"source": "hearing"},
        "major_case": {"source": "major", "map": {"Y": True, "N": False}},
        "penalty_kinds": {"source": "kinds", "split": ";", "code_table": "kind"},
        "stage_reason": {"source": "reasons", "join": "/"},
        "stage_document_number": {"source": "doc", "regex": "No\\.(\\d+)"},
        "inspection_number": {"source": "insp", "regex": "[A-Z]+\\d+", "default": "A1"},
        "fine_amount": {"source": "fine", "multiply": 0.01}, "fine_paid": {"source": "paid", "decimal": True},
        "penalty_name": {"template": "{a}-{b.c}/{a}"},
        "counterpart.name": {"source": "p.name", "fallback": ["p2[1].name", "pname"]},
        "counterpart.id_code": {"source": "pid", "default": " X "},
        "officers": {"source": "people.list", "required": True, "each": {
            "name": {"source": "n", "required": True}, "certificate_number": {"source": "c[0]"}}},
        "legal_review_date": {"source": "lrd", "date_format": "epoch_s"},
        "collective_discussion_date": {"source": "cdd", "date_format": "%d/%m/%Y"},
        "filing_date": {"source": "fd", "date_format": "yyyyMMdd"}, "decision_date": {"source": "dd"},
        "closing_date": {"source": "cd", "date_format": "epoch_ms"}, "legal_basis": {"source": "deep.a.b.c"}}}),
    ("synthetic-parallel-lists-and-indexes", {"topic": "penalty.case.events", "code_tables": _TABLES, "fields": {
        **_REQUIRED,
        "officers": {"each": {"name": {"source": "names", "split": ","},
                              "certificate_number": {"source": "certs", "split": ",", "regex": "\\d+"}}},
        "counterpart.nature": {"source": "nature", "code_table": "kind"},
        "penalty_kinds[1]": {"source": "k1", "code_table": "kind"},
        "extension_days": {"const": "7"}, "criminal_referral": {"const": "TRUE"}}}),
]
MAPPINGS = SHIPPED + SYNTHETIC


def test_every_shipped_config_is_covered():
    assert len(CONFIGS) >= 20 and len(SHIPPED) >= len(CONFIGS) - 3  # the SOAP/webhook ones map in code


# -- documents built from a spec's own source paths ------------------------------------------

WHEN = st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2035, 12, 31))
SCALARS = st.one_of(
    st.none(), st.just(""), st.just("   "), st.text(max_size=6), st.integers(-10**6, 10**6),
    st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.decimals(allow_nan=False, places=2).map(str),
    st.sampled_from(["0", "1", "true", "FALSE", "-42", "1,234.50", "12.5", " x ", "2025-06-30T10:00:00+08:00"]),
)


def _hints(rule: FieldRule, tables: dict) -> list[Any]:
    """Values that reach the rule's success paths: its codes (any case), dates in its format."""
    codes = list(rule.map or rule.operation or tables.get(rule.code_table or "", {}))
    hints: list[Any] = codes + [c.lower() for c in codes] + [f" {c} " for c in codes[:3]]
    fmt = rule.date_format
    if fmt:
        hints += [{"yyyyMMdd": "20250630", "epoch_ms": 1751248800000, "epoch_s": "1751248800",
                   "iso": "2025-06-30 10:00:00"}.get(fmt) or dt.datetime(2025, 6, 30, 10, 0, 5).strftime(fmt)]
    return hints


def _values(rule: FieldRule, tables: dict) -> st.SearchStrategy:
    hints = _hints(rule, tables)
    options = [SCALARS, st.lists(SCALARS, max_size=3),
               st.dictionaries(st.sampled_from(["code", "name", "x"]), SCALARS, max_size=2)]
    if hints:
        sep = rule.split or ","
        options += [st.sampled_from(hints), st.sampled_from(hints)] + [
            st.lists(st.sampled_from(hints), max_size=3).map(lambda xs: sep.join(map(str, xs)))]
    options += [WHEN.map(str), WHEN.map(lambda d: d.strftime("%Y%m%d")),
                WHEN.map(lambda d: str(int(d.timestamp() * 1000)))]
    return st.one_of(*options)


GOOD_BY_KIND = {"date": ["2025-06-30"], "timestamp-millis": ["2025-06-30 10:00:00", "2025-06-30T10:00:00+08:00"],
                "decimal": ["1,234.50", "7", 12.25], "int": ["12", "-7", "+3", 5], "long": ["12", "-7"],
                "boolean": ["true", "1", "0", "False", "yes", True], "double": ["0.5", 2]}


def _good(mapper: DeclarativeMapper, target: str, rule: FieldRule) -> st.SearchStrategy:
    """A value the rule accepts (most of the time), so whole records map too."""
    hints = _hints(rule, mapper.spec.code_tables)
    if hints:
        return st.sampled_from(hints[:1] if rule.date_format else hints)
    good = GOOD_BY_KIND.get(mapper._elem_kinds.get(target, ""))
    return st.sampled_from(good) if good else st.text("abcXYZ0123", min_size=1, max_size=6)


def _paths(rule: FieldRule) -> list[str]:
    paths = [*([rule.source] if rule.source else []), *(rule.fallback or [])]
    if rule.template:
        paths += _PLACEHOLDER.findall(rule.template)
    return paths


def _put(doc: dict, path: str, value: Any) -> None:
    parts = tokens(path)
    node: Any = doc
    for i, (name, index) in enumerate(parts):
        last = i == len(parts) - 1
        if name:
            if not isinstance(node, dict):
                return
            if last:
                node[name] = value
                return
            nxt = parts[i + 1]
            node = node.setdefault(name, {} if nxt[0] else [])
        elif index:
            if not isinstance(node, list):
                return
            node.extend({} for _ in range(int(index) + 1 - len(node)))
            if last:
                node[int(index)] = value
                return
            node = node[int(index)]


def documents(mapper: DeclarativeMapper) -> st.SearchStrategy[dict]:
    """Documents for ``mapper``'s spec; every strategy is built once here (building is slow)."""
    spec = mapper.spec
    lists: list[tuple[str, st.SearchStrategy, st.SearchStrategy]] = []  # source, any, good
    paths: list[tuple[str, st.SearchStrategy, st.SearchStrategy]] = []  # path, any, good
    for target, rule in spec.fields.items():
        subs = rule.each or {}
        if rule.source and subs:  # a list of objects read by the sub-rules
            rows = [st.fixed_dictionaries({}, optional={
                p: _good(mapper, f"{target}[].{k}", r) if good else _values(r, spec.code_tables)
                for k, r in subs.items() for p in _paths(r)}) for good in (False, True)]
            lists.append((rule.source, st.lists(st.one_of(st.builds(dict), rows[0]), max_size=3) | SCALARS,
                          st.lists(rows[1], min_size=1, max_size=3)))
            continue
        for sub_target, r in [(target, rule), *((f"{target}[].{k}", r) for k, r in subs.items())]:
            paths += [(p, _values(r, spec.code_tables), _good(mapper, sub_target, r)) for p in _paths(r)]

    @st.composite
    def document(draw) -> dict:
        good, doc = draw(st.booleans()), {}
        for path, anything, accepted in lists:
            _put(doc, path, draw(accepted if good else anything))
        for path, anything, accepted in paths:
            if good:
                _put(doc, path, draw(accepted))
            elif draw(st.integers(0, 9)) > 0:
                _put(doc, path, draw(anything))
        return doc
    return document()


def _outcome(fn, doc: dict) -> tuple:
    try:
        return ("ok", [(m.topic, m.value) for m in fn(doc, RAW)])
    except MappingError as exc:
        return ("error", exc.reason, exc.message)
    except Exception as exc:  # noqa: BLE001 - a mapper bug: both must fail the same way
        return ("crash", type(exc).__name__)


@pytest.mark.parametrize(("where", "raw_spec"), MAPPINGS, ids=[w for w, _ in MAPPINGS])
def test_compiled_equals_interpreted_on_shipped_configs(where, raw_spec):
    mapper = DeclarativeMapper(MappingSpec.model_validate(raw_spec))

    @settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(documents(mapper))
    def check(doc):
        assert _outcome(mapper, doc) == _outcome(mapper.interpret, doc), where

    check()


def test_some_generated_documents_map_and_some_fail():
    """The generator reaches both sides: records that map and each kind of rejection."""
    outcomes: set[str] = set()

    def collect_for(mapper: DeclarativeMapper):
        @settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(documents(mapper))
        def collect(doc):
            out = _outcome(mapper, doc)
            outcomes.add(out[0] if out[0] != "error" else out[1])
        return collect

    for _where, raw_spec in MAPPINGS:
        collect_for(DeclarativeMapper(MappingSpec.model_validate(raw_spec)))()
    assert {"ok", "missing_field", "unknown_code", "bad_date"} <= outcomes, outcomes


def test_memoised_dates_equal_the_interpreter_and_errors_name_their_target():
    """String dates go through converters shared per (format, kind, time zone) and memoised:
    a repeated or shared source time gives the interpreter's value, a bad one its error."""
    spec = MappingSpec.model_validate({"topic": "penalty.case.events", "code_tables": _TABLES, "fields": {
        **_REQUIRED, "envelope.event_time": {"source": "t", "date_format": "iso", "required": True},
        "stage_time": {"source": "t", "date_format": "iso"}, "filing_date": {"source": "fd"},
        "decision_date": {"source": "dd", "date_format": "%d/%m/%Y"}, "closing_date": {"source": "fd"}}})
    mapper, other = DeclarativeMapper(spec), DeclarativeMapper(spec)
    base = {"op": "I", "area": "330102", "no": "C-1", "st": "50"}
    docs = [{**base, "t": "2025-06-30T10:00:05", "fd": "2025-06-01", "dd": "30/06/2025"},
            {**base, "t": "2025-06-30T10:00:05+00:00", "fd": "2025-06-01T23:30:00", "dd": "01/07/2025"},
            {**base, "t": "2025-06-30 10:00", "fd": "2025-06-01", "dd": "30/06/2025"}]
    for doc in docs * 2:  # the second pass is served from the memo
        assert _outcome(mapper, doc) == _outcome(other, doc) == _outcome(mapper.interpret, doc)
    for bad, target, fmt in (({"t": "30/06/2025"}, "envelope.event_time", "iso"),
                             ({"fd": "2025-13-01"}, "filing_date", "iso"), ({"dd": "2025-06-30"}, "decision_date", "%d/%m/%Y")):
        doc = {**docs[0], **bad}
        expected = ("error", "bad_date", f"{target}: source is not a date in format {fmt}")
        assert _outcome(mapper, doc) == _outcome(mapper.interpret, doc) == expected


PARALLEL = {"name": {"source": "names", "split": ","},
            "certificate_number": {"source": "certs", "split": ",", "regex": "\\d+"}}


@pytest.mark.parametrize("columns", [1, 2])
@pytest.mark.parametrize("required", [False, True])
@pytest.mark.parametrize("doc", [
    {}, {"names": "甲,乙", "certs": "1,2"}, {"names": "甲,乙"}, {"certs": "1"}, {"names": "甲,乙", "certs": "1,2,3"},
    {"names": " , ", "certs": ","}, {"names": "甲", "certs": "x,1,2"}, {"names": 7, "certs": 8},
    {"names": ["甲", "乙"], "certs": "1,2"}, {"names": "", "certs": "   "},
], ids=repr)
def test_parallel_columns_equal_the_interpreter(doc, required, columns):
    """``each`` over parallel columns: missing columns, unequal lengths, a column's own error first."""
    each = dict(list(PARALLEL.items())[:columns])
    spec = MappingSpec.model_validate({"topic": "penalty.case.events", "code_tables": _TABLES, "fields": {
        **_REQUIRED, "officers": {"each": each, "required": required}}})
    mapper = DeclarativeMapper(spec)
    full = {"op": "I", "area": "330102", "no": "C-1", "st": "50", "t": "2025-06-30 10:00:00", **doc}
    got = _outcome(mapper, full)
    assert got[0] == "ok" or "officers" in got[2], got  # the document reaches the officers rule
    assert got == _outcome(mapper.interpret, full)
