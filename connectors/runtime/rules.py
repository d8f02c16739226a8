"""Code and date-order rules per schema, as data: :data:`CODE_RULES`.

Schema validation (fastavro) checks shapes; these rules check what a shape cannot: check
characters of credit codes and resident IDs, known region codes, item and implementation
codes, and the order of a record's dates. Each :class:`Rule` names a dotted field path
(arrays add no segment), a check from :data:`CHECKS` and, for order rules, the field it is
compared with. A null or absent field is skipped (requiredness is the schema's job).

A failed rule raises :class:`schemas.codes.CodeError`; its ``reason`` becomes the
dead-letter reason (``uscc_check``, ``id_check``, ``region_unknown``, ``item_code_format``,
``date_order``, ...) and its message names the field and the rule, never the value.
Pure functions; safe on any thread.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from schemas import codes

USCC_ID_TYPES = frozenset({"001"})
"""Counterpart ``id_type.code`` values meaning a unified social credit code."""
RESIDENT_ID_TYPES = frozenset({"111"})
"""Counterpart ``id_type.code`` values meaning a resident identity card number (GB/T 2261.5 "111")."""


@dataclass(frozen=True, slots=True)
class Rule:
    """``field`` must pass ``check``; order checks compare it with ``other`` (e.g. ``field >= other``)."""

    field: str
    check: str
    other: str | None = None


def values_at(node: Any, path: str) -> Iterator[Any]:
    """Every value at dotted ``path`` in ``node``, walking into lists; absent/null parts yield nothing."""
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


def _party_id(value: dict, rule: Rule) -> None:
    # The id_code's meaning depends on its sibling id_type.code, so walk the parents.
    parent_path, _, leaf = rule.field.rpartition(".")
    for parent in values_at(value, parent_path):
        if not isinstance(parent, dict) or parent.get(leaf) is None:
            continue
        id_type = (parent.get("id_type") or {}).get("code")
        if id_type in USCC_ID_TYPES:
            codes.validate_uscc(parent[leaf], field=rule.field)
        elif id_type in RESIDENT_ID_TYPES:
            codes.validate_resident_id(parent[leaf], field=rule.field)


def _entity_id(value: dict, rule: Rule) -> None:
    # Subject ids are a USCC for organisations or a hub surrogate (never a resident ID, which
    # must not become a key): an 18-character id is a USCC and must carry its check character.
    for v in values_at(value, rule.field):
        if isinstance(v, str) and len(v) == 18:
            codes.validate_uscc(v, field=rule.field)


def _each(validator: Callable[..., None]) -> Callable[[dict, Rule], None]:
    def check(value: dict, rule: Rule) -> None:
        for v in values_at(value, rule.field):
            validator(v, field=rule.field)
    return check


def _comparable(v: Any) -> Any:
    # Dates compare as epoch days, timestamps as epoch millis (what fastavro accepts as ints).
    if isinstance(v, dt.datetime):
        return int(v.timestamp() * 1000)
    if isinstance(v, dt.date):
        return (v - dt.date(1970, 1, 1)).days
    return v


def _order(strict: bool) -> Callable[[dict, Rule], None]:
    def check(value: dict, rule: Rule) -> None:
        later, earlier = next(values_at(value, rule.field), None), next(values_at(value, rule.other or ""), None)
        if later is None or earlier is None:
            return
        a, b = _comparable(later), _comparable(earlier)
        if type(a) is not type(b):
            return
        if a < b or (strict and a == b):
            word = "later than" if strict else "on or after"
            raise codes.CodeError("date_order", f"must be {word} {rule.other}", field=rule.field)
    return check


CHECKS: dict[str, Callable[[dict, Rule], None]] = {
    "party_id": _party_id,
    "entity_id": _entity_id,
    "uscc": _each(codes.validate_uscc),
    "resident_id": _each(codes.validate_resident_id),
    "region": _each(codes.validate_region),
    "item_code": _each(codes.validate_item_code),
    "implementation_code": _each(codes.validate_implementation_code),
    "not_before": _order(strict=False),
    "after": _order(strict=True),
}
"""Check name -> function(value, rule) raising :class:`schemas.codes.CodeError`."""

_NS = "gov.zj.supervision."
_ENVELOPE = [Rule("envelope.region_code", "region")]
_ACT = [  # shared by inspection, penalty and coercion records (DESIGN.md §7)
    *_ENVELOPE,
    Rule("region_code", "region"),
    Rule("catalog_code", "item_code"),
    Rule("implementation_code", "implementation_code"),
    Rule("counterpart.id_code", "party_id"),
]

CODE_RULES: dict[str, list[Rule]] = {
    f"{_NS}penalty.PenaltyCaseEvent": [
        *_ACT,
        Rule("decision_date", "not_before", "filing_date"),
        Rule("closing_date", "not_before", "filing_date"),
        Rule("closing_date", "not_before", "decision_date"),
    ],
    f"{_NS}inspection.InspectionRecord": [*_ACT, Rule("submitted_time", "after", "inspection_time")],
    f"{_NS}penalty.CoercionRecord": [*_ACT, Rule("measure_end", "not_before", "measure_start")],
    f"{_NS}entity.SupervisedEntity": [
        *_ENVELOPE,
        Rule("region_code", "region"),
        Rule("uscc", "uscc"),
        Rule("resident_id", "resident_id"),
        Rule("revocation_date", "not_before", "registration_date"),
    ],
    f"{_NS}catalog.SupervisionItem": [*_ENVELOPE, Rule("catalog_code", "item_code")],
    f"{_NS}risk.RiskAlert": [*_ENVELOPE, Rule("region_code", "region"), Rule("catalog_code", "item_code"),
                             Rule("entity_id", "entity_id")],
    f"{_NS}complaint.Complaint": [*_ENVELOPE, Rule("region_code", "region"),
                                  Rule("complainant_id_number", "resident_id"),
                                  Rule("target_entity_id", "entity_id")],
    f"{_NS}grassroots.GridEvent": [*_ENVELOPE, Rule("region_code", "region")],
}
"""Schema full name -> rules checked after schema validation, in order (first failure wins)."""

for _rules in CODE_RULES.values():  # a typo in the table must fail at import, not per record
    for _rule in _rules:
        if _rule.check not in CHECKS:
            raise KeyError(f"unknown check {_rule.check!r}; valid checks: {', '.join(CHECKS)}")


def check_rules(schema: str, value: dict, rules: dict[str, list[Rule]] = CODE_RULES) -> None:
    """Apply the rules of ``schema`` to ``value``; raises the first :class:`schemas.codes.CodeError`."""
    for rule in rules.get(schema, ()):
        CHECKS[rule.check](value, rule)
