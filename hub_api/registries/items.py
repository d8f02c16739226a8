"""Item catalog API: "what is supervised" — items, their check contents, departments, entity counts.

``GET /registries/items/{code}/form?as_of=YYYY-MM-DD`` assembles the inspection form from the
version valid on that date (:mod:`processors.items.forms`); without ``as_of`` it is the
current version. Unknown items answer 404 ``item_not_found``; no version valid on the date
404 ``item_not_valid_on_date``; a malformed code 422 ``item_code_format``.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from processors.entities import links as link_rules
from processors.entities.models import EntityItemLink
from processors.items.forms import assemble, form_of, versions_of
from processors.items.models import Item, ItemVersion
from schemas import codes, domains

router = APIRouter(prefix="/registries", tags=["registries"])


class ItemSummary(BaseModel):
    catalog_code: str
    name: str
    domain_code: str | None
    current_version: str
    active: bool


class DepartmentLevel(BaseModel):
    admin_level: str
    region_code: str
    department_code: str | None = Field(description="Department of the item's domain in that region, if known")
    department_name: str | None
    implementation_code: str | None


class InspectionForm(BaseModel):
    catalog_code: str
    name: str
    version: str
    valid_from: date
    valid_to: date | None
    national_code: str | None
    provincial_code: str | None
    power_list_code: str | None
    domain: dict[str, Any] | None
    legal_basis: str | None
    check_contents: list[dict[str, Any]]
    implementations: list[dict[str, Any]]


class ItemOut(InspectionForm):
    active: bool
    industry_codes: list[str] = Field(description="GB/T 4754 prefixes of the entities the item applies to")
    versions: list[str] = Field(description="Every stored version, oldest first")
    departments: list[DepartmentLevel] = Field(description="Implementing departments per admin level")
    entity_count: int = Field(description="Entities with an active link to this item")


def _code(code: str) -> str:
    try:
        codes.validate_item_code(code)
    except codes.CodeError as exc:
        raise HTTPException(422, detail={"error": "invalid_identifier", "reason": exc.reason,
                                         "message": exc.message}) from None
    return code


@router.get("/items", response_model=list[ItemSummary], summary="The item catalog, optionally by domain")
def list_items(request: Request,
               domain: Annotated[str | None, Query(description="Enforcement domain code")] = None) -> list[ItemSummary]:
    q = select(Item.catalog_code, Item.name, Item.domain_code, Item.current_version, Item.active)
    if domain:
        q = q.where(Item.domain_code == domain)
    with request.app.state.db.engine.connect() as conn:
        rows = conn.execute(q.order_by(Item.catalog_code)).all()
    return [ItemSummary(catalog_code=r.catalog_code, name=r.name, domain_code=r.domain_code,
                        current_version=r.current_version, active=r.active == "y") for r in rows]


@router.get("/items/{catalog_code}", response_model=ItemOut,
            summary="What is supervised: check contents, departments and entity count of an item")
def get_item(catalog_code: str, request: Request) -> ItemOut:
    code = _code(catalog_code)
    with request.app.state.db.engine.connect() as conn:
        item = conn.execute(select(Item.__table__).where(Item.catalog_code == code)).first()
        if item is None:
            raise HTTPException(404, detail={"error": "item_not_found", "message": "no supervision item with this code"})
        versions = sorted(versions_of(conn, code), key=lambda v: (v.valid_from, v.version))
        current = next(v for v in versions if v.version == item.current_version)
        count = conn.execute(select(func.count(func.distinct(EntityItemLink.entity_id))).where(
            EntityItemLink.catalog_code == code, EntityItemLink.active.is_(True))).scalar_one()
    form = form_of(current)
    departments = []
    domain = domains.DOMAINS.get(item.domain_code or "")
    for impl in form["implementations"]:
        level = link_rules.admin_level((impl.get("admin_level") or {}).get("code")) or "county"
        region = impl.get("region_code") or "330000"
        departments.append(DepartmentLevel(
            admin_level=level, region_code=region, implementation_code=impl.get("implementation_code"),
            department_code=domains.department_code(domain, region) if domain else None,
            department_name=domains.department_name(domain, region) if domain else None))
    return ItemOut(**form, active=item.active == "y", industry_codes=json.loads(item.industry_codes),
                   versions=[v.version for v in versions], departments=departments, entity_count=count)


@router.get("/items/{catalog_code}/form", response_model=InspectionForm,
            summary="The inspection form of an item as of a date (its check contents then)")
def get_form(catalog_code: str, request: Request,
             as_of: Annotated[date | None, Query(description="YYYY-MM-DD; default: the current version")] = None,
             ) -> InspectionForm:
    code = _code(catalog_code)
    with request.app.state.db.engine.connect() as conn:
        item = conn.execute(select(Item.current_version).where(Item.catalog_code == code)).first()
        if item is None:
            raise HTTPException(404, detail={"error": "item_not_found", "message": "no supervision item with this code"})
        if as_of is None:
            row = conn.execute(select(ItemVersion.__table__).where(
                ItemVersion.catalog_code == code, ItemVersion.version == item.current_version)).first()
            form = form_of(row)
        else:
            form = assemble(conn, code, as_of)
    if form is None:
        raise HTTPException(404, detail={"error": "item_not_valid_on_date",
                                         "message": f"no version of the item is valid on {as_of}"})
    return InspectionForm(**form)
