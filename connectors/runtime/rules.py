"""Code and date-order rules per schema, as data: :data:`CODE_RULES`.

Schema validation (fastavro) checks shapes; these rules check what a shape cannot: check
characters of credit codes and resident IDs, known region codes, item and implementation
codes, and the order of a record's dates. Each :class:`Rule` names a dotted field path
(arrays add no segment), a check from :data:`CHECKS` and, for order rules, the field it is
compared with. A null or absent field is skipped (requiredness is the schema's job).

A failed rule raises :class:`schemas.codes.CodeError`; its ``reason`` becomes the
dead-letter reason (``uscc_check``, ``id_check``, ``region_unknown``, ``item_code_format``,
``date_order``, ...) and its message names the field and the rule, never the value.

Rules are compiled once (:data:`COMPILERS`: paths split, the check bound), and a schema's
list once per list object into one generated function (:func:`check_rules`,
:mod:`connectors.runtime.rules_compiled`), so the per-record work is the reads and the
checks themselves. Pure functions (the only state is caches of compiled rules and of valid
catalog/region codes); safe on any thread.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from connectors.runtime.rules_compiled import compile_rules, out_of_order
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
    return iter(_getter(path)(node))


@lru_cache(maxsize=1024)
def _getter(path: str) -> Callable[[Any], list | tuple]:
    """``fn(node) -> [values at path]``, the path split once; no generator unless a list is met."""
    parts = tuple(path.split(".")) if path else ()
    depth = len(parts)

    def walk(current: Any, i: int, out: list) -> list:
        if isinstance(current, list):
            for item in current:
                walk(item, i, out)
        elif i == depth:
            if current is not None:
                out.append(current)
        elif isinstance(current, dict):
            walk(current.get(parts[i]), i + 1, out)
        return out

    def get(node: Any) -> list | tuple:
        for i, name in enumerate(parts):
            if isinstance(node, dict):
                node = node.get(name)
            elif isinstance(node, list):
                return walk(node, i, [])
            else:
                return ()
        if node is None:
            return ()
        return walk(node, depth, []) if isinstance(node, list) else (node,)

    def get_top(node: Any) -> list | tuple:  # ``get`` for a one-segment path, the loop unrolled
        if isinstance(node, dict):
            node = node.get(parts[0])
            if node is None:
                return ()
            return walk(node, 1, []) if isinstance(node, list) else (node,)
        return walk(node, 0, []) if isinstance(node, list) else ()
    return get_top if depth == 1 else get


def first_value_at(path: str) -> Callable[[Any], Any]:
    """``fn(node)``: ``next(values_at(node, path), None)``, the path parsed once."""
    get = _getter(path)
    return lambda node: _first(get, node)


def _first(get: Callable[[Any], list | tuple], node: Any) -> Any:
    found = get(node)
    return found[0] if found else None


def _party(leaf: str, field: str) -> Callable[[dict], None]:
    """Check one parent object's ``leaf`` id code by its sibling ``id_type.code``."""
    def check_parent(parent: dict) -> None:
        if parent.get(leaf) is None:
            return
        id_type = (parent.get("id_type") or {}).get("code")
        if id_type in USCC_ID_TYPES:
            codes.validate_uscc(parent[leaf], field=field)
        elif id_type in RESIDENT_ID_TYPES:
            codes.validate_resident_id(parent[leaf], field=field)
    return check_parent


def _party_id(rule: Rule) -> Callable[[dict], None]:
    # The id_code's meaning depends on its sibling id_type.code, so walk the parents.
    parent_path, _, leaf = rule.field.rpartition(".")
    parents, check_parent = _getter(parent_path), _party(leaf, rule.field)

    def check(value: dict) -> None:
        for parent in parents(value):
            if isinstance(parent, dict):
                check_parent(parent)
    return check


def _entity_id(rule: Rule) -> Callable[[dict], None]:
    # Subject ids are a USCC for organisations or a hub surrogate (never a resident ID, which
    # must not become a key): an 18-character id is a USCC and must carry its check character.
    get, field = _getter(rule.field), rule.field

    def check(value: dict) -> None:
        for v in get(value):
            if isinstance(v, str) and len(v) == 18:
                codes.validate_uscc(v, field=field)
    return check


_REMEMBERED = 4096
"""Valid codes remembered per check (then forgotten all at once): a bound, not a tuning knob."""


class _Each:
    """Compiles a rule running ``validator`` on every value at the rule's path.

    ``remember``: the validator is a pure function of a catalog or administrative code (region,
    implementation-list code), so a string that passed once passes again; such codes repeat
    across records (a few thousand per system) and their check-character arithmetic is then
    skipped. Never used for codes of persons or parties.
    """

    def __init__(self, validator: Callable[..., None], remember: bool = False):
        self.validator, self.remember = validator, remember
        self.known: set[str] = set()

    def validate_and_remember(self, v: Any, field: str) -> None:
        """Validate ``v``; remember it if it is a string that passed."""
        self.validator(v, field=field)
        if type(v) is str:
            if len(self.known) >= _REMEMBERED:
                self.known.clear()
            self.known.add(v)

    def __call__(self, rule: Rule) -> Callable[[dict], None]:
        get, field, validator, known = _getter(rule.field), rule.field, self.validator, self.known
        remember = self.validate_and_remember

        def check(value: dict) -> None:
            for v in get(value):
                validator(v, field=field)

        def check_remembering(value: dict) -> None:
            for v in get(value):
                if type(v) is not str or v not in known:
                    remember(v, field)
        return check_remembering if self.remember else check


def _order(strict: bool) -> Callable[[Rule], Callable[[dict], None]]:
    word = "later than" if strict else "on or after"

    def compile_rule(rule: Rule) -> Callable[[dict], None]:
        get_later, get_earlier = _getter(rule.field), _getter(rule.other or "")
        message, field = f"must be {word} {rule.other}", rule.field

        def check(value: dict) -> None:
            later = _first(get_later, value)
            if later is None:  # the common case (a stage without this date): one lookup, not two
                return
            earlier = _first(get_earlier, value)
            if earlier is not None and out_of_order(later, earlier, strict):
                raise codes.CodeError("date_order", message, field=field)
        return check
    return compile_rule


_NOT_BEFORE, _AFTER = _order(strict=False), _order(strict=True)

COMPILERS: dict[str, Callable[[Rule], Callable[[dict], None]]] = {
    "party_id": _party_id,
    "entity_id": _entity_id,
    "uscc": _Each(codes.validate_uscc),
    "resident_id": _Each(codes.validate_resident_id),
    "region": _Each(codes.validate_region, remember=True),
    "item_code": _Each(codes.validate_item_code),
    "implementation_code": _Each(codes.validate_implementation_code, remember=True),
    "not_before": _NOT_BEFORE,
    "after": _AFTER,
}
"""Check name -> compiler: ``compile(rule) -> check(value)``, the rule's paths parsed once."""


@lru_cache(maxsize=4096)
def compiled(name: str, rule: Rule) -> Callable[[dict], None]:
    """Check ``name`` compiled for ``rule`` (cached: rules are frozen and few)."""
    return COMPILERS[name](rule)


def _run(name: str) -> Callable[[dict, Rule], None]:
    def check(value: dict, rule: Rule) -> None:
        compiled(name, rule)(value)
    check.__name__ = f"check_{name}"
    return check


CHECKS: dict[str, Callable[[dict, Rule], None]] = {name: _run(name) for name in COMPILERS}
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
        if _rule.check not in COMPILERS:
            raise KeyError(f"unknown check {_rule.check!r}; valid checks: {', '.join(CHECKS)}")


def _inline(rule: Rule) -> tuple[str, Any] | None:
    """How :func:`~connectors.runtime.rules_compiled.compile_rules` may write ``rule`` out (None: call it)."""
    compiler = COMPILERS[rule.check]
    if isinstance(compiler, _Each):
        if compiler.remember:
            return "remember", (compiler.known, compiler.validate_and_remember)
        return "each", compiler.validator
    if compiler is _entity_id:
        return "entity", codes.validate_uscc
    if compiler is _party_id:
        return "party", _party(rule.field.rpartition(".")[2], rule.field)
    if compiler is _NOT_BEFORE or compiler is _AFTER:
        return "order", compiler is _AFTER
    return None


_PLANS: dict[int, tuple[list[Rule], tuple[Rule, ...], Callable[[dict], None]]] = {}


def _plan(listed: list[Rule]) -> Callable[[dict], None]:
    # Keyed by the list object and checked element by element, so a list changed in place
    # (tests, plug-ins) is recompiled rather than served stale.
    entry = _PLANS.get(id(listed))
    if entry is None or entry[0] is not listed or len(entry[1]) != len(listed) or not all(
            map(operator.is_, entry[1], listed)):
        if len(_PLANS) > 256:
            _PLANS.clear()
        closures = [compiled(rule.check, rule) for rule in listed]
        entry = _PLANS[id(listed)] = (listed, tuple(listed), compile_rules(listed, closures, _inline))
    return entry[2]


def check_rules(schema: str, value: dict, rules: dict[str, list[Rule]] = CODE_RULES) -> None:
    """Apply the rules of ``schema`` to ``value``; raises the first :class:`schemas.codes.CodeError`."""
    listed = rules.get(schema)
    if listed:
        _plan(listed)(value)
