"""What a double-random plan says: its request model (also the stored plan's rules).

One list, two pools, one rulebook: ``catalog_codes`` (the items checked), ``object_filters``
(the object pool), ``inspector_filters`` (the inspector pool), and the sampling rules
(``ratio`` or ``count``, ``inspectors_per_object``, ``recusal``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.codes import CodeError, is_valid_region, validate_item_code, validate_uscc

_FORBID = ConfigDict(extra="forbid")


def _region(code: str | None) -> str | None:
    if code is not None and not is_valid_region(code, provinces=None):
        raise ValueError("region code must be 6 digits (GB/T 2260)")
    return code


class ObjectFilters(BaseModel):
    model_config = _FORBID

    region_code: str | None = Field(None, description="Region subtree of the objects (default: the plan's region).")
    industry_prefixes: list[str] = Field(default_factory=list, description="GB/T 4754 code prefixes; empty: any.")
    kinds: list[str] = Field(default_factory=list, description="Entity kinds (enterprise, individual_business, ...).")
    risk_grades: list[str] = Field(default_factory=list, description="Risk grade codes; empty: any.")
    status_codes: list[str] = Field(default_factory=list, description="Registration status codes; empty: any.")
    exclude_entity_ids: list[str] = Field(default_factory=list, description="Objects never drawn (exclusions).")
    require_item_link: bool = Field(True, description="Only entities with an active link to one of the items.")

    @field_validator("region_code")
    @classmethod
    def _subtree(cls, v: str | None) -> str | None:
        return _region(v)


class InspectorFilters(BaseModel):
    model_config = _FORBID

    department_codes: list[str] = Field(default_factory=list, description="Departments of the inspectors; empty: any.")
    region_code: str | None = Field(None, description="Region subtree of the inspectors (default: the plan's region).")
    domain_codes: list[str] = Field(
        default_factory=list,
        description="Enforcement domains an inspector must hold (any); empty: the domains of the plan's items.")
    exclude_certificates: list[str] = Field(default_factory=list, description="Officers never drawn (exclusions).")

    @field_validator("region_code")
    @classmethod
    def _subtree(cls, v: str | None) -> str | None:
        return _region(v)


class Conflict(BaseModel):
    model_config = _FORBID

    certificate_number: str = Field(description="The officer who must recuse.")
    entity_id: str = Field(description="The object the officer has a relationship with.")
    reason: str = Field("relationship", max_length=64, description="Why (no personal data).")


class Recusal(BaseModel):
    model_config = _FORBID

    same_region: Literal["county", "city"] | None = Field(
        None, description="Recuse officers of the object's own county (or city); for county-level sampling.")
    conflicts: list[Conflict] = Field(default_factory=list, description="Listed conflicts of interest.")
    previous_plan_id: str | None = Field(
        None, description="Recuse officers who inspected the same object in this earlier plan.")


class PlanRequest(BaseModel):
    """``POST /sampling/plans``: exactly one of ``ratio`` and ``count``."""

    model_config = _FORBID

    name: str = Field(min_length=1, max_length=255, description="Plan name.")
    year: int = Field(ge=2000, le=2100, description="Plan year.")
    region_code: str = Field(description="Region of the supervising department (GB/T 2260).")
    region_name: str | None = Field(None, description="Region name (default: from GB/T 2260).")
    department_code: str = Field(min_length=1, max_length=64, description="Supervising department code.")
    department_name: str = Field(min_length=1, max_length=255, description="Supervising department name.")
    department_uscc: str = Field(description="Supervising department's USCC (GB 32100-2015).")
    catalog_codes: list[str] = Field(min_length=1, description="Supervision items checked (14 digits each).")
    object_filters: ObjectFilters = Field(default_factory=ObjectFilters)
    ratio: Decimal | None = Field(None, gt=0, le=1, max_digits=8, description="Share of objects drawn (ceil).")
    count: int | None = Field(None, ge=1, le=10_000_000, description="Number of objects drawn (at most the pool).")
    inspector_filters: InspectorFilters = Field(default_factory=InspectorFilters)
    inspectors_per_object: int = Field(2, ge=2, le=20, description="Inspectors per object (at least 2).")
    recusal: Recusal = Field(default_factory=Recusal)

    @field_validator("region_code")
    @classmethod
    def _plan_region(cls, v: str) -> str:
        return _region(v)

    @field_validator("department_uscc")
    @classmethod
    def _uscc(cls, v: str) -> str:
        try:
            validate_uscc(v)
        except CodeError as exc:
            raise ValueError(str(exc)) from None
        return v

    @field_validator("catalog_codes")
    @classmethod
    def _items(cls, v: list[str]) -> list[str]:
        for code in v:
            try:
                validate_item_code(code)
            except CodeError as exc:
                raise ValueError(str(exc)) from None
        return sorted(set(v))

    @model_validator(mode="after")
    def _one_selection(self) -> PlanRequest:
        if (self.ratio is None) == (self.count is None):
            raise ValueError("give exactly one of `ratio` and `count`")
        return self
