"""Scenario rules for triage, kept as data (``data/rules.json``; ``.yaml`` too when PyYAML is installed).

A rule set is an ordered list of rules. A rule matches a complaint ticket or grid event when

- every *restriction* it states holds: ``sources`` (``complaint`` / ``grassroots``), ``kinds``
  (complaint kind: ``complaint`` / ``report`` / ``other``), ``regions`` (the record's region is
  in the subtree of one of them: ``330100`` covers every county of Hangzhou) and
  ``keywords.none`` (no negative keyword occurs in the text); and
- its *signals* hold: ``keywords.any`` (one occurs), ``keywords.all`` (every one occurs),
  ``category_codes`` (the record's category code equals one; ``grassroots:02`` restricts an
  entry to one source) and ``industry_prefixes`` (the target entity's GB/T 4754 industry,
  looked up in ``entities``, starts with one). With ``signals: any`` (default) one stated
  signal suffices, with ``signals: all`` every stated signal must hold.

Rules are tried by ascending ``priority`` (file order breaks ties); the first match wins.
Exactly one rule is the ``default``: it states no conditions and fires when nothing else does.
A rule names its departments (an enforcement domain of :mod:`schemas.domains` at a region
level, or an explicit code and name) and the form of its output: ``lead`` (a case source for
the penalty pipeline), ``inspection_task`` or ``joint_task``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas import domains, regions

DATA = Path(__file__).parent / "data" / "rules.json"
SOURCES = ("complaint", "grassroots")
Form = Literal["lead", "inspection_task", "joint_task"]


class Keywords(BaseModel):
    model_config = ConfigDict(extra="forbid")

    any: list[str] = Field(default_factory=list, description="Signal: at least one occurs in the text")
    all: list[str] = Field(default_factory=list, description="Signal: every one occurs in the text")
    none: list[str] = Field(default_factory=list, description="Restriction: none may occur in the text")


class DepartmentSpec(BaseModel):
    """A responsible department: ``domain`` at ``level`` of the record's region, or an explicit ``code``."""

    model_config = ConfigDict(extra="forbid")

    domain: str | None = Field(None, description="Enforcement domain code of schemas.domains, e.g. SCJG")
    level: Literal["province", "city", "county"] = Field(
        "county", description="Region level of the department; the record's own region when it is coarser")
    code: str | None = Field(None, description="Explicit department code (instead of domain)")
    name: str | None = Field(None, description="Name of the explicit department")

    @model_validator(mode="after")
    def _one_way(self) -> DepartmentSpec:
        if (self.domain is None) == (self.code is None):
            raise ValueError("a department names either a domain or an explicit code, not both or neither")
        if self.domain is not None and self.domain not in domains.DOMAINS:
            raise ValueError(f"unknown enforcement domain {self.domain!r}; valid: {', '.join(domains.DOMAINS)}")
        return self

    def resolve(self, region_code: str) -> dict[str, str]:
        """``{"code", "name"}`` of this department for a record in ``region_code``."""
        if self.code is not None:
            return {"code": self.code, "name": self.name or self.code}
        region = _at_level(region_code, self.level)
        return {"code": domains.department_code(self.domain, region),
                "name": domains.department_name(self.domain, region)}


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="Stable rule identifier (stored with every decision)")
    name: str = Field(description="Human-readable scenario name")
    priority: int = Field(100, description="Lower is tried first; file order breaks ties")
    default: bool = Field(False, description="The fallback rule: no conditions, fires when nothing else does")
    sources: list[Literal["complaint", "grassroots"]] = Field(default_factory=list)
    kinds: list[Literal["complaint", "report", "other"]] = Field(default_factory=list)
    regions: list[str] = Field(default_factory=list, description="Region subtrees (GB/T 2260 codes)")
    keywords: Keywords = Field(default_factory=Keywords)
    category_codes: list[str] = Field(default_factory=list, description="CODE or SOURCE:CODE")
    industry_prefixes: list[str] = Field(default_factory=list, description="GB/T 4754 prefixes of the target")
    signals: Literal["any", "all"] = Field("any", description="How the stated signals combine")
    form: Form = Field(description="lead / inspection_task / joint_task")
    departments: list[DepartmentSpec] = Field(min_length=1, description="First = lead department")

    @model_validator(mode="after")
    def _check(self) -> Rule:
        for entry in self.category_codes:
            if ":" in entry and entry.split(":", 1)[0] not in SOURCES:
                raise ValueError(f"category code {entry!r}: source must be one of {', '.join(SOURCES)}")
        for code in self.regions:
            if not (len(code) == 6 and code.isdigit()):
                raise ValueError(f"region {code!r} is not a 6-digit GB/T 2260 code")
        if self.default and self.has_conditions():
            raise ValueError(f"default rule {self.id!r} must state no conditions")
        if not self.default and not self.has_signals():
            raise ValueError(f"rule {self.id!r} states no signal (keywords any/all, category_codes, "
                             "industry_prefixes): only the default rule may match everything")
        if self.form == "joint_task" and len(self.departments) < 2:
            raise ValueError(f"joint_task rule {self.id!r} needs at least two departments")
        return self

    def has_signals(self) -> bool:
        return bool(self.keywords.any or self.keywords.all or self.category_codes or self.industry_prefixes)

    def has_conditions(self) -> bool:
        return self.has_signals() or bool(self.sources or self.kinds or self.regions or self.keywords.none)


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(description="Version of the rule set (stored with every decision)")
    rules: list[Rule] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> RuleSet:
        ids = [r.id for r in self.rules]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate rule ids: {', '.join(dupes)}")
        defaults = [r.id for r in self.rules if r.default]
        if len(defaults) != 1:
            raise ValueError(f"a rule set needs exactly one default rule, found {len(defaults)}")
        return self

    def ordered(self) -> list[Rule]:
        """Non-default rules by (priority, file order), then the default."""
        pos = {r.id: i for i, r in enumerate(self.rules)}
        rest = sorted((r for r in self.rules if not r.default), key=lambda r: (r.priority, pos[r.id]))
        return rest + [r for r in self.rules if r.default]

    @property
    def default_rule(self) -> Rule:
        return next(r for r in self.rules if r.default)


def _at_level(region_code: str, level: str) -> str:
    try:
        return domains.region_at_level(region_code, level)
    except ValueError:  # the record names a coarser region (a city-level ticket): its own region
        return region_code


def in_subtree(region_code: str | None, root: str) -> bool:
    """Whether ``region_code`` is ``root`` or lies under it (GB/T 2260 hierarchy)."""
    if not region_code:
        return False
    try:
        return root in regions.ancestors(region_code)
    except (KeyError, ValueError):  # unknown code: fall back to the code's own prefix structure
        trimmed = root.rstrip("0")
        return region_code.startswith(trimmed[: len(trimmed) + len(trimmed) % 2])


def load_rules(path: Path | str = DATA) -> RuleSet:
    """The rule set in ``path`` (JSON, or YAML when PyYAML is installed); pydantic ValidationError if invalid."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as exc:
            raise ValueError("YAML rule sets need PyYAML (pip install pyyaml); JSON works without it") from exc
        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    return RuleSet.model_validate(data)
