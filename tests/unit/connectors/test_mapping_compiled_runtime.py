"""The precompiled runtime helpers equal their straightforward definitions.

``rules.values_at`` (paths split once, no generators on list-free paths), the compiled code
rules behind ``check_rules`` and ``pipeline.repair`` (paths parsed once, a fast path for
top-level columns) are compared with reference walks written the plain way, over generated
nested documents; and ``check_rules`` must follow a rule list changed in place.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.runtime.pipeline import repair
from connectors.runtime.rules import CODE_RULES, Rule, check_rules, values_at
from schemas.codes import CodeError, normalize_identifier

NAMES = ["a", "b", "c"]
LEAVES = st.one_of(st.none(), st.integers(-3, 3), st.text("aB１ 　x-", max_size=5), st.text("aZ09", max_size=5))
DOCS = st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.sampled_from(NAMES), inner, max_size=3), max_leaves=12)
PATHS = st.lists(st.sampled_from(NAMES), min_size=0, max_size=3).map(".".join)


def reference_values_at(node: Any, path: str) -> Iterator[Any]:
    parts = path.split(".") if path else []

    def walk(current: Any, i: int) -> Iterator[Any]:
        if isinstance(current, list):
            for item in current:
                yield from walk(item, i)
            return
        if i == len(parts):
            if current is not None:
                yield current
            return
        if isinstance(current, dict):
            yield from walk(current.get(parts[i]), i + 1)

    yield from walk(node, 0)


def reference_repair(doc: Any, fields: list[str]) -> Any:
    for path in fields:
        *parents, leaf = path.split(".")

        def walk(node: Any, i: int, parents=parents, leaf=leaf) -> None:
            if isinstance(node, list):
                for item in node:
                    walk(item, i)
            elif isinstance(node, dict):
                if i == len(parents):
                    if isinstance(node.get(leaf), str):
                        node[leaf] = normalize_identifier(node[leaf])
                else:
                    walk(node.get(parents[i]), i + 1)

        walk(doc, 0)
    return doc


@settings(max_examples=300, deadline=None, database=None)
@given(DOCS, PATHS)
def test_values_at_equals_the_plain_walk(doc, path):
    assert list(values_at(doc, path)) == list(reference_values_at(doc, path))
    assert next(values_at(doc, path), None) == next(reference_values_at(doc, path), None)


@settings(max_examples=300, deadline=None, database=None)
@given(DOCS, st.lists(PATHS.filter(bool), max_size=3))
def test_repair_equals_the_plain_walk(doc, fields):
    import copy

    expected = reference_repair(copy.deepcopy(doc), fields)
    assert repair(copy.deepcopy(doc), fields) == expected
    assert repair(copy.deepcopy(doc), tuple(fields)) == expected


def _reference_check(schema: str, value: dict) -> tuple | None:
    """The first failing rule as (reason, field, message), written the plain way."""
    from connectors.runtime.rules_compiled import comparable as _comparable
    from schemas import codes

    each = {"region": codes.validate_region, "item_code": codes.validate_item_code,
            "implementation_code": codes.validate_implementation_code}
    for rule in CODE_RULES[schema]:
        try:
            if rule.check in ("not_before", "after"):
                later = next(reference_values_at(value, rule.field), None)
                earlier = next(reference_values_at(value, rule.other or ""), None)
                if later is not None and earlier is not None:
                    a, b = _comparable(later), _comparable(earlier)
                    strict = rule.check == "after"
                    if type(a) is type(b) and (a < b or (strict and a == b)):
                        word = "later than" if strict else "on or after"
                        raise CodeError("date_order", f"must be {word} {rule.other}", field=rule.field)
            elif rule.check == "party_id":
                parent_path, _, leaf = rule.field.rpartition(".")
                for parent in reference_values_at(value, parent_path):
                    if isinstance(parent, dict) and parent.get(leaf) is not None:
                        code = (parent.get("id_type") or {}).get("code")
                        if code == "001":
                            codes.validate_uscc(parent[leaf], field=rule.field)
                        elif code == "111":
                            codes.validate_resident_id(parent[leaf], field=rule.field)
            else:
                for v in reference_values_at(value, rule.field):
                    each[rule.check](v, field=rule.field)
        except CodeError as exc:
            return exc.reason, exc.field, exc.message
    return None


SCHEMA = "gov.zj.supervision.penalty.PenaltyCaseEvent"
CODES = st.sampled_from(["330106", "339999", "12", None, "91330106MA2H2X9L0E", "913301066091330106",
                         "330106199001011234", "11330000002482091W"])
DATES = st.one_of(st.none(), st.integers(19000, 21000))


@settings(max_examples=300, deadline=None, database=None)
@given(CODES, CODES, CODES, CODES, st.sampled_from(["001", "111", None]), DATES, DATES, DATES)
def test_compiled_code_rules_fail_like_the_plain_ones(region, catalog, impl, party, id_type, filing, decision,
                                                      closing):
    value = {"envelope": {"region_code": region}, "region_code": region, "catalog_code": catalog,
             "implementation_code": impl, "filing_date": filing, "decision_date": decision, "closing_date": closing,
             "counterpart": {"id_code": party, "id_type": {"code": id_type} if id_type else None}}
    expected = _reference_check(SCHEMA, value)
    try:
        check_rules(SCHEMA, value)
        got = None
    except CodeError as exc:
        got = (exc.reason, exc.field, exc.message)
    assert got == expected


def test_check_rules_follows_a_rule_list_changed_in_place():
    rules = {"s": [Rule("a", "region")]}
    check_rules("s", {"a": "330106"}, rules)
    rules["s"][0] = Rule("a", "item_code")
    with pytest.raises(CodeError) as err:
        check_rules("s", {"a": "330106"}, rules)
    assert err.value.reason.startswith("item_code")
    rules["s"].append(Rule("b", "region"))
    rules["s"][0] = Rule("a", "region")
    with pytest.raises(CodeError) as err:
        check_rules("s", {"a": "330106", "b": "999999"}, rules)
    assert err.value.reason == "region_unknown" and err.value.field == "b"


@settings(max_examples=500, deadline=None, database=None)
@given(st.text(max_size=20) | st.text("aZ09１Ａ 　\t-", max_size=20))
def test_repair_fast_path_normalizes_like_normalize_identifier(s):
    from connectors.runtime.pipeline import _normalized

    assert _normalized(s) == normalize_identifier(s)


def _outcome(check, value) -> tuple | None:
    try:
        check(value)
    except CodeError as exc:
        return exc.reason, exc.field, exc.message
    except Exception as exc:  # noqa: BLE001 - both must fail alike, whatever the class
        return type(exc).__name__,
    return None


class DictSub(dict):
    """A mapping that is not an exact dict: the generated code must leave it to the closures."""


RULE_PATHS = ["a", "a.b", "a.b.c", "b"]
ALL_RULES = st.lists(st.builds(Rule, st.sampled_from(RULE_PATHS), st.sampled_from(sorted(
    {"party_id", "entity_id", "uscc", "resident_id", "region", "item_code", "implementation_code",
     "not_before", "after"})), st.sampled_from(RULE_PATHS)), min_size=1, max_size=4)
RULE_LEAVES = st.one_of(
    st.none(), st.integers(19000, 19002), st.sampled_from(["330106", "339999", "91330106MA2H2X9L0E",
                                                           "330106199001011234", "11330000002482091W2", "x"]),
    st.dates(dt.date(2024, 1, 1), dt.date(2024, 1, 3)),
    st.datetimes(dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 2)), st.booleans())
RULE_DOCS = st.recursive(RULE_LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=2),
    st.dictionaries(st.sampled_from(["a", "b", "c", "id_code", "id_type", "code"]), inner, max_size=3),
    st.dictionaries(st.sampled_from(["a", "b", "c", "code"]), inner, max_size=2).map(DictSub)), max_leaves=10)


@settings(max_examples=800, deadline=None, database=None)
@given(ALL_RULES, RULE_DOCS)
def test_generated_rule_list_fails_like_the_rule_closures(rules, doc):
    """The one generated function per rule list (fast dict reads) equals the per-rule closures."""
    from connectors.runtime.rules import _plan, compiled

    def closures(value):
        for rule in rules:
            compiled(rule.check, rule)(value)

    for value in (doc, {"a": doc}, {"a": {"b": doc, "id_type": {"code": "001"}, "id_code": doc}}):
        assert _outcome(_plan(rules), value) == _outcome(closures, value)
