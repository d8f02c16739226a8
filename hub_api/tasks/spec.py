"""Request models of the joint-task API (pydantic, ``extra="forbid"``)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field, model_validator

REGION = r"^\d{6}$"
PROVINCE = r"^\d{2}$"
ITEM = r"^\d{14}$"


class Department(BaseModel):
    model_config = ConfigDict(extra="forbid")
    department_code: str = Field(..., min_length=1, max_length=64, description="Department code, e.g. 330106SCJ.")
    department_name: str = Field(..., min_length=1, max_length=255, description="Department name.")
    region_code: str = Field(..., pattern=REGION, description="GB/T 2260 region code of the department.")


class Participant(BaseModel):
    """A department given explicitly, or a region whose responsible departments the hub resolves."""

    model_config = ConfigDict(extra="forbid")
    region_code: str = Field(..., pattern=REGION,
                             description="GB/T 2260 region at any level (province, city, county) in this province.")
    department_code: str | None = Field(None, max_length=64,
                                        description="Explicit department; unset: resolved from the items' domains.")
    department_name: str | None = Field(None, max_length=255, description="Name of the explicit department.")

    @model_validator(mode="after")
    def _named(self):
        if (self.department_code is None) != (self.department_name is None):
            raise ValueError("give both department_code and department_name, or neither")
        return self


class TaskCreate(BaseModel):
    """``POST /tasks``: a joint task and who takes part."""

    model_config = ConfigDict(extra="forbid")
    task_id: str | None = Field(None, pattern=r"^[0-9A-Za-z_-]{4,64}$", description="Client-chosen id (idempotent retry); unset: generated.")
    title: str = Field(..., min_length=1, max_length=255, description="Title.")
    description: str = Field("", max_length=4000, description="Description.")
    instructions: str | None = Field(None, max_length=4000, description="Instructions for the participants.")
    initiator: Department = Field(..., description="Initiating department.")
    participants: list[Participant] = Field(default_factory=list, max_length=200,
                                            description="Participating departments or regions of this province.")
    province_codes: list[str] = Field(default_factory=list, max_length=10,
                                      description="Other provinces taking part (2 digits, e.g. 32); each becomes a "
                                                  "federation assignment to that province's hub (<code>0000).")
    catalog_codes: list[str] = Field(default_factory=list, max_length=100, description="Items (14-digit codes).")
    target_entity_ids: list[str] = Field(default_factory=list, max_length=5000, description="Entities to inspect.")
    plan_id: str | None = Field(None, max_length=64, description="A drawn double-random plan whose draw gives the targets.")
    visit_date: date | None = Field(None, description="Planned day of the on-site visit (unset: the due date).")
    due_date: date = Field(..., description="Deadline (end of this local day, Asia/Shanghai).")

    @model_validator(mode="after")
    def _consistent(self):
        if not self.participants and not self.province_codes:
            raise ValueError("a joint task needs at least one participant or province")
        if self.plan_id and self.target_entity_ids:
            raise ValueError("give target_entity_ids or plan_id, not both")
        import re
        if any(not re.fullmatch(PROVINCE, p) for p in self.province_codes):
            raise ValueError("province_codes are 2-digit GB/T 2260 province prefixes, e.g. 32")
        if any(not re.fullmatch(ITEM, c) for c in self.catalog_codes):
            raise ValueError("catalog_codes are 14-digit item codes")
        return self


class Accept(BaseModel):
    model_config = ConfigDict(extra="forbid")
    visit_date: date | None = Field(None, description="The day this department will visit (moves its visits).")
    note: str | None = Field(None, max_length=2000, description="Note.")


class Decline(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(..., min_length=1, max_length=2000, description="Why the department declines.")


class Progress(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(..., min_length=1, max_length=2000, description="Progress report.")
    inspection_numbers: list[str] = Field(default_factory=list, max_length=1000, description="Inspections done so far.")


class Result(BaseModel):
    model_config = ConfigDict(extra="forbid")
    summary: str = Field(..., min_length=1, max_length=4000, description="Result summary.")
    inspection_numbers: list[str] = Field(default_factory=list, max_length=1000, description="Inspections carried out.")
