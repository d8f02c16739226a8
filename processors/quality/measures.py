"""What one standard record says about its source's data quality: pure functions, no I/O.

- **Completeness.** Fields the schema requires are always present once a record is encoded,
  so completeness is measured over *expected* fields: optional in the Avro schema but
  required (``Req``) in the provincial specifications (DESIGN.md §7) or needed by the hub's
  own flows (an entity's industry routes it to departments; a case event without officers
  cannot be checked for the two-officer rule). :data:`EXPECTED` lists them per schema as
  data; an entry may apply only when another field has one of some values (a decision's
  document number is expected from the ``decision`` stage on). A field is missing when it is
  null, a blank string, an empty list or a coded value with a blank code.
- **Accuracy.** Every code and date-order rule the connectors apply
  (:data:`connectors.runtime.rules.CODE_RULES`: USCC and resident-ID check characters,
  GB/T 2260 region codes, 14-digit item codes, implementation-list codes, submitted after
  inspection, closing after filing ...) plus :data:`EXTRA_RULES` (officer certificates,
  item implementations, entity liaison IDs), each evaluated on its own so one record can
  show several errors, and an event time later than the ingest time (clock skew beyond
  :data:`CLOCK_SKEW_MS`). Errors are ``"<field>:<reason>"`` — bounded labels, never values.
- **Timeliness.** ``ingest_time − event_time`` of the envelope, in milliseconds (0 if the
  event claims to be later than its ingest).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from connectors.runtime.rules import CHECKS, CODE_RULES, Rule, values_at
from schemas.codes import CodeError

_NS = "gov.zj.supervision."
CLOCK_SKEW_MS = 60_000
"""An event time up to this much after the ingest time is clock skew, not an error."""


@dataclass(frozen=True, slots=True)
class Expected:
    """``field`` (dotted path) should be filled; only if ``when`` (path, values) holds, when given."""

    field: str
    when: tuple[str, frozenset[str]] | None = None

    def applies(self, value: dict[str, Any]) -> bool:
        if self.when is None:
            return True
        path, allowed = self.when
        return any(v in allowed for v in values_at(value, path))


_DECIDED = ("decision", "execution", "closing", "archive")
_FILED = ("filing", "investigation", "suspension", "resumption", "notice", "hearing", *_DECIDED)


def _at(path: str, *stages: str) -> Expected:
    return Expected(path, ("stage", frozenset(stages)))


EXPECTED: dict[str, tuple[Expected, ...]] = {
    f"{_NS}entity.SupervisedEntity": (
        Expected("industry"), Expected("type"), Expected("status"), Expected("premises"),
        Expected("business_scope"), Expected("registration_authority"), Expected("registration_date"),
        Expected("uscc", ("kind", frozenset({"enterprise"}))),
        Expected("operator_name", ("kind", frozenset({"individual_business"}))),
    ),
    f"{_NS}officer.EnforcementOfficer": (
        Expected("resident_id"), Expected("issuing_authority"), Expected("enforcement_region"),
        Expected("enforcement_domains"), Expected("certificate_valid_to"),
    ),
    f"{_NS}catalog.SupervisionItem": (
        Expected("item_type"), Expected("domain"), Expected("legal_basis"), Expected("implementations"),
        Expected("check_contents"),
    ),
    f"{_NS}penalty.PenaltyCaseEvent": (
        Expected("officers"), Expected("counterpart"), Expected("case_source"), Expected("catalog_code"),
        Expected("implementation_code"),
        _at("filing_date", *_FILED), _at("inspection_number", *_FILED), _at("illegal_facts", *_FILED),
        _at("decision_document_number", *_DECIDED), _at("decision_date", *_DECIDED),
        _at("penalty_kinds", *_DECIDED), _at("legal_basis", *_DECIDED), _at("procedure", *_DECIDED),
        _at("closing_date", "closing", "archive"), _at("execution_mode", "closing", "archive"),
    ),
    f"{_NS}penalty.CoercionRecord": (
        Expected("officers"), Expected("catalog_code"), Expected("implementation_code"), Expected("result"),
        Expected("measure_start"), Expected("submitted_time"),
    ),
    f"{_NS}inspection.InspectionRecord": (
        Expected("inspectors"), Expected("submitted_time"), Expected("submitter"), Expected("inspection_mode"),
        Expected("counterpart.operating_address"),
    ),
    f"{_NS}complaint.Complaint": (
        Expected("target_entity_name"), Expected("target_address"),
        Expected("handling_department", ("status", frozenset(
            {"dispatched", "handling", "replied", "supervising", "closed", "return_visit", "evaluated"}))),
    ),
    f"{_NS}grassroots.GridEvent": (
        Expected("title"), Expected("location"), Expected("street_code"), Expected("longitude"),
        Expected("latitude"),
    ),
    f"{_NS}risk.RiskAlert": (
        Expected("entity_id"), Expected("score"), Expected("catalog_code"), Expected("evidence_url"),
        Expected("responsible_departments"),
    ),
}
"""Schema full name -> fields expected filled (optional in Avro, ``Req`` in the specifications)."""

EXTRA_RULES: dict[str, list[Rule]] = {
    f"{_NS}officer.EnforcementOfficer": [
        Rule("envelope.region_code", "region"), Rule("resident_id", "resident_id"),
        Rule("department_uscc", "uscc"), Rule("certificate_valid_to", "not_before", "certificate_valid_from"),
    ],
    f"{_NS}catalog.SupervisionItem": [
        Rule("implementations.implementation_code", "implementation_code"),
        Rule("implementations.agency_uscc", "uscc"), Rule("implementations.region_code", "region"),
        Rule("valid_to", "not_before", "valid_from"),
    ],
    f"{_NS}entity.SupervisedEntity": [Rule("entity_id", "entity_id"), Rule("liaison_id_number", "resident_id")],
    f"{_NS}penalty.CoercionRecord": [Rule("extension_end", "not_before", "measure_end")],
}
"""Rules beyond the connectors' (checked here because a record may reach a topic another way)."""

RULES: dict[str, tuple[Rule, ...]] = {
    schema: tuple(dict.fromkeys([*CODE_RULES.get(schema, []), *EXTRA_RULES.get(schema, [])]))
    for schema in set(CODE_RULES) | set(EXTRA_RULES)
}
"""Schema full name -> every accuracy rule, each evaluated on its own."""

for _rules in EXTRA_RULES.values():  # a typo in the table must fail at import, not per record
    for _rule in _rules:
        if _rule.check not in CHECKS:
            raise KeyError(f"unknown check {_rule.check!r}; valid checks: {', '.join(CHECKS)}")


@dataclass(frozen=True, slots=True)
class Measure:
    """One record's figures: expected fields checked and missing, accuracy errors, latency."""

    expected: int
    missing: tuple[str, ...]
    errors: tuple[str, ...]
    latency_ms: int | None


def _empty(v: Any) -> bool:
    if isinstance(v, dict) and "code" in v:  # a CodedValue without a code says nothing
        return _empty(v["code"])
    return v is None or (isinstance(v, str) and not v.strip()) or (isinstance(v, list | dict) and not v)


def _lookup(value: dict[str, Any], path: str) -> Any:
    node: Any = value
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def missing_fields(schema: str, value: dict[str, Any]) -> tuple[int, tuple[str, ...]]:
    """``(expected fields that apply, those of them that are empty)`` for ``value`` of ``schema``."""
    applicable = [e for e in EXPECTED.get(schema, ()) if e.applies(value)]
    return len(applicable), tuple(e.field for e in applicable if _empty(_lookup(value, e.field)))


def accuracy_errors(schema: str, value: dict[str, Any]) -> tuple[str, ...]:
    """``"<field>:<reason>"`` for every rule of ``schema`` that ``value`` fails (empty: accurate)."""
    errors = []
    for rule in RULES.get(schema, ()):
        try:
            CHECKS[rule.check](value, rule)
        except CodeError as exc:
            errors.append(f"{rule.field}:{exc.reason}")
        except (TypeError, ValueError, AttributeError):  # a value of an unexpected shape is an error too
            errors.append(f"{rule.field}:malformed")
    return tuple(errors)


def epoch_ms(v: Any) -> int | None:
    """Epoch milliseconds of a decoded ``timestamp-millis`` (aware datetime) or a raw int."""
    if isinstance(v, dt.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=dt.UTC)
        return int(v.timestamp() * 1000)
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    return None


def latency_ms(envelope: dict[str, Any]) -> int | None:
    """``ingest_time − event_time`` in ms (None without both times); negative skew counts as 0."""
    event, ingest = epoch_ms(envelope.get("event_time")), epoch_ms(envelope.get("ingest_time"))
    if event is None or ingest is None:
        return None
    return max(0, ingest - event)


def measure(schema: str, value: dict[str, Any]) -> Measure:
    """Completeness, accuracy and timeliness of one decoded standard record of ``schema``."""
    expected, missing = missing_fields(schema, value)
    errors = accuracy_errors(schema, value)
    envelope = value.get("envelope") or {}
    event, ingest = epoch_ms(envelope.get("event_time")), epoch_ms(envelope.get("ingest_time"))
    if event is not None and ingest is not None and event - ingest > CLOCK_SKEW_MS:
        errors = (*errors, "envelope.event_time:event_after_ingest")
    return Measure(expected, missing, errors, latency_ms(envelope))
