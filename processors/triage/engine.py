"""The pure triage engine: one record -> the rule that fired, why, and the departments.

No database, no clock: :func:`subject_of` turns a decoded ``complaint.tickets`` or
``grassroots.events`` value (plus the target entity's industry, which the caller looks up)
into a :class:`Subject`; :func:`explain` runs a :class:`~processors.triage.rules.RuleSet` over
it. Reasons are short plain strings (``keyword any: 假冒``); they name matched keywords,
codes and regions, never personal data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from processors.triage.rules import Rule, RuleSet, in_subtree

TOPIC_SOURCE = {"complaint.tickets": "complaint", "grassroots.events": "grassroots"}


@dataclass(frozen=True, slots=True)
class Subject:
    """What the rules look at, from one complaint ticket or grid event."""

    source: str
    source_id: str
    text: str
    category_code: str | None = None
    region_code: str | None = None
    kind: str | None = None
    entity_id: str | None = None
    industry_code: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    rule: Rule
    reasons: tuple[str, ...]
    departments: tuple[dict[str, str], ...]
    considered: tuple[str, ...] = field(default=())

    @property
    def form(self) -> str:
        return self.rule.form

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule.id, "rule_name": self.rule.name, "form": self.form,
                "reasons": list(self.reasons), "departments": list(self.departments)}


def subject_of(topic: str, value: dict[str, Any], industry_code: str | None = None) -> Subject:
    """The rule view of a decoded standard record of ``complaint.tickets`` / ``grassroots.events``."""
    source = TOPIC_SOURCE[topic]
    category = value.get("category") or {}
    if source == "complaint":
        sid, text, kind = value.get("ticket_id"), value.get("text") or "", value.get("kind")
    else:
        sid, kind = value.get("event_id"), None
        text = " ".join(t for t in (value.get("title"), value.get("description")) if t)
    return Subject(source=source, source_id=str(sid), text=text, category_code=category.get("code"),
                   region_code=value.get("region_code"), kind=kind, entity_id=value.get("target_entity_id"),
                   industry_code=industry_code)


def match(rule: Rule, s: Subject) -> tuple[bool, list[str]]:
    """(matched, reasons). Reasons list what held; on a miss, the first reason is why not."""
    if rule.default:
        return True, ["default rule: no other rule matched"]
    if rule.sources and s.source not in rule.sources:
        return False, [f"source {s.source} not in {rule.sources}"]
    if rule.kinds and s.kind not in rule.kinds:
        return False, [f"kind {s.kind} not in {rule.kinds}"]
    reasons: list[str] = []
    if rule.regions:
        root = next((r for r in rule.regions if in_subtree(s.region_code, r)), None)
        if root is None:
            return False, [f"region {s.region_code} outside {rule.regions}"]
        reasons.append(f"region {s.region_code} within {root}")
    negative = [k for k in rule.keywords.none if k in s.text]
    if negative:
        return False, [f"negative keyword: {', '.join(negative)}"]
    signals: list[bool] = []
    if rule.keywords.any:
        hits = [k for k in rule.keywords.any if k in s.text]
        signals.append(bool(hits))
        if hits:
            reasons.append(f"keyword any: {', '.join(hits)}")
    if rule.keywords.all:
        missing = [k for k in rule.keywords.all if k not in s.text]
        signals.append(not missing)
        if not missing:
            reasons.append(f"keyword all: {', '.join(rule.keywords.all)}")
    if rule.category_codes:
        hit = next((c for c in rule.category_codes if _category_hit(c, s)), None)
        signals.append(hit is not None)
        if hit is not None:
            reasons.append(f"category {s.category_code} ({hit})")
    if rule.industry_prefixes:
        hit = next((p for p in rule.industry_prefixes if s.industry_code and s.industry_code.startswith(p)), None)
        signals.append(hit is not None)
        if hit is not None:
            reasons.append(f"industry {s.industry_code} (prefix {hit})")
    ok = any(signals) if rule.signals == "any" else all(signals)
    if not ok:
        return False, ["no signal matched" if rule.signals == "any" else "not every signal matched"]
    return True, reasons


def _category_hit(entry: str, s: Subject) -> bool:
    if ":" in entry:
        source, code = entry.split(":", 1)
        return source == s.source and code == s.category_code
    return entry == s.category_code


def explain(rules: RuleSet, s: Subject) -> Decision:
    """The first matching rule (the default at worst), the reasons it matched and its departments."""
    considered: list[str] = []
    for rule in rules.ordered():
        ok, reasons = match(rule, s)
        if ok:
            depts = _dedupe(d.resolve(s.region_code or "330000") for d in rule.departments)
            return Decision(rule, tuple(reasons), depts, tuple(considered))
        considered.append(f"{rule.id}: {reasons[0]}")
    raise AssertionError("unreachable: a valid rule set has a default rule")


def _dedupe(depts) -> tuple[dict[str, str], ...]:
    seen: dict[str, dict[str, str]] = {}
    for d in depts:
        seen.setdefault(d["code"], d)
    return tuple(seen.values())
