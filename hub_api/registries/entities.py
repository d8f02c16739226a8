"""Supervised-object registry API: the golden record, "who supervises me", "whom do I supervise".

Identifiers in paths: a USCC, a resident ID (resolved to the hub pseudonym, never stored as
a key) or the pseudonym itself. A malformed one answers 422 with the failed check as
``reason`` (``uscc_check``, ``id_check``, ``id_birth_date``, ``entity_id_format`` ...); an unknown
one 404 ``entity_not_found``.

Personal data (fields tagged ``pii`` in ``SupervisedEntity``) is masked unless the caller
holds ``pii:read`` (then each response that shows it is audited, :mod:`hub_api.pii`). The
registered name of an organisation (kind ``enterprise``, ``individual_business``, ``other``)
is public and never masked; a natural person's name is. Always masked without clearance:
``resident_id``, ``legal_representative``, ``operator_name``, ``home_address``, ``liaison_name``,
``liaison_id_number``, ``liaison_mobile``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, func, select

from hub_api.auth.deps import require_scope
from hub_api.auth.service import Principal
from hub_api.pii import PiiViewer, PiiViewerDep
from processors.entities import links as link_rules
from processors.entities.merge import ENTITY_SCHEMA, is_pseudonym, resolve_identity
from processors.entities.models import Entity, EntityItemLink, EntitySourceVersion
from processors.items.models import Item
from processors.runtime.contract import Context
from processors.runtime.outbox import enqueue
from schemas import codes, regions
from schemas.codes import CodeError

router = APIRouter(prefix="/registries", tags=["registries"])
PUBLIC_NAME_KINDS = frozenset({"enterprise", "individual_business", "other"})


def not_found(error: str, message: str) -> HTTPException:
    return HTTPException(404, detail={"error": error, "message": message})


def entity_key(raw: str) -> str:
    """The registry key of a path identifier; 422 naming the failed check if it is malformed."""
    if is_pseudonym(raw):
        return raw
    try:
        return resolve_identity(None, None, codes.normalize_identifier(raw)).entity_id
    except CodeError as exc:
        raise HTTPException(422, detail={"error": "invalid_identifier", "reason": exc.reason,
                                         "message": exc.message}) from None


def present(viewer: PiiViewer, record: dict[str, Any], kind: str, entity_id: str) -> dict[str, Any]:
    """``record`` (SupervisedEntity-shaped) as the caller may see it (see the module docstring)."""
    record = dict(record)
    public_name = record.pop("name", None) if kind in PUBLIC_NAME_KINDS else None
    out = viewer.present(ENTITY_SCHEMA, record, "entity", entity_id)
    if kind in PUBLIC_NAME_KINDS:
        out["name"] = public_name
    return out


class SourceVersionOut(BaseModel):
    source_system: str
    source_kind: str = Field(description="registry (entity.updates) or mention (penalty / complaint party)")
    source_version: str | None
    event_time: datetime
    operation: str
    record: dict[str, Any] = Field(description="What the source said (standard fields; personal data masked)")


class EntityOut(BaseModel):
    entity_id: str = Field(description="USCC, or the hub pseudonym of a natural person")
    kind: str
    revision: int
    updated_at: datetime
    sources: list[str]
    field_sources: dict[str, str] = Field(description="Golden field -> source system it came from")
    record: dict[str, Any] = Field(description="Golden SupervisedEntity (without envelope; personal data masked)")
    source_versions: list[SourceVersionOut]


class DepartmentOut(BaseModel):
    admin_level: str
    department_code: str
    department_name: str
    region_code: str
    source: Literal["derived", "explicit"]


class SupervisedItemOut(BaseModel):
    catalog_code: str
    name: str | None
    departments: list[DepartmentOut]


class SupervisorsOut(BaseModel):
    entity_id: str
    name: str
    kind: str
    region_code: str
    industry_code: str | None
    items: list[SupervisedItemOut]
    departments_by_level: dict[str, list[DepartmentOut]] = Field(
        description="province / city / county -> distinct responsible departments")


class EntitySummary(BaseModel):
    entity_id: str
    kind: str
    name: str
    region_code: str
    industry_code: str | None
    status_code: str | None
    catalog_codes: list[str]


class EntityPage(BaseModel):
    department_code: str
    total: int
    page: int
    size: int
    entities: list[EntitySummary]


class ExplicitLinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    catalog_code: str = Field(pattern=r"^[0-9]{14}$", description="Supervision item code (14 digits)")
    department_code: str = Field(min_length=1, max_length=64, description="Supervising department code")
    department_name: str = Field(min_length=1, max_length=255, description="Supervising department name")
    admin_level: Literal["province", "city", "county"] = Field(description="Level of the department")
    region_code: str = Field(pattern=r"^[0-9]{6}$", description="Region of the department (GB/T 2260)")
    active: bool = Field(default=True, description="False withdraws the link")


class LinkOut(DepartmentOut):
    link_id: str
    entity_id: str
    catalog_code: str
    active: bool


@router.get("/entities/{identifier}", response_model=EntityOut, summary="Golden record, provenance and source versions")
def get_entity(identifier: str, request: Request, viewer: PiiViewerDep) -> EntityOut:
    eid = entity_key(identifier)
    with request.app.state.db.engine.connect() as conn:
        row = conn.execute(select(Entity.__table__).where(Entity.entity_id == eid)).first()
        if row is None:
            raise not_found("entity_not_found", "no supervised entity with this identifier")
        svs = conn.execute(select(EntitySourceVersion.__table__).where(EntitySourceVersion.entity_id == eid)
                           .order_by(EntitySourceVersion.source_system)).all()
    record = json.loads(row.record) if row.record else {}
    return EntityOut(
        entity_id=eid, kind=row.kind, revision=row.revision, updated_at=row.updated_at,
        sources=row.sources.split(",") if row.sources else [], field_sources=json.loads(row.field_sources),
        record=present(viewer, record, row.kind, eid),
        source_versions=[SourceVersionOut(
            source_system=s.source_system, source_kind=s.source_kind or "registry", source_version=s.source_version,
            event_time=s.event_time, operation=s.operation,
            record=present(viewer, json.loads(s.payload), row.kind, eid)) for s in svs],
    )


@router.get("/entities/{identifier}/supervisors", response_model=SupervisorsOut,
            summary="Who supervises me: items and responsible departments per region level")
def get_supervisors(identifier: str, request: Request, viewer: PiiViewerDep) -> SupervisorsOut:
    eid = entity_key(identifier)
    with request.app.state.db.engine.connect() as conn:
        row = conn.execute(select(Entity.entity_id, Entity.kind, Entity.name, Entity.region_code,
                                  Entity.industry_code).where(Entity.entity_id == eid)).first()
        if row is None:
            raise not_found("entity_not_found", "no supervised entity with this identifier")
        found = conn.execute(
            select(EntityItemLink.__table__, Item.name.label("item_name"))
            .join(Item, Item.catalog_code == EntityItemLink.catalog_code, isouter=True)
            .where(EntityItemLink.entity_id == eid, EntityItemLink.active.is_(True))
            .order_by(EntityItemLink.catalog_code, EntityItemLink.department_code)).all()
    items: dict[str, SupervisedItemOut] = {}
    by_level: dict[str, dict[str, DepartmentOut]] = {lv: {} for lv in link_rules.LEVELS}
    for link in found:
        dept = DepartmentOut(admin_level=link.admin_level, department_code=link.department_code,
                             department_name=link.department_name, region_code=link.region_code, source=link.source)
        items.setdefault(link.catalog_code, SupervisedItemOut(catalog_code=link.catalog_code, name=link.item_name,
                                                              departments=[])).departments.append(dept)
        by_level.setdefault(link.admin_level, {})[link.department_code] = dept
    name = row.name if row.kind in PUBLIC_NAME_KINDS else viewer.value("name", row.name, "entity", eid, "name")
    return SupervisorsOut(entity_id=eid, name=name or "", kind=row.kind, region_code=row.region_code,
                          industry_code=row.industry_code, items=list(items.values()),
                          departments_by_level={lv: list(d.values()) for lv, d in by_level.items()})


def region_prefix(code: str) -> str:
    """The code prefix of a region's subtree (``330000`` -> ``33``, ``330100`` -> ``3301``)."""
    try:
        level = regions.level(code)
    except ValueError:
        raise HTTPException(422, detail={"error": "invalid_region", "reason": "region_format",
                                         "message": "region must be a 6-digit GB/T 2260 code"}) from None
    return {"province": code[:2], "city": code[:4]}.get(level, code)


@router.get("/departments/{department_code}/entities", response_model=EntityPage,
            summary="Whom do I supervise: entities linked to a department, filtered and paged")
def department_entities(
    department_code: str, request: Request, viewer: PiiViewerDep,
    region: Annotated[str | None, Query(description="Region subtree of the entity (GB/T 2260)")] = None,
    item: Annotated[str | None, Query(description="Supervision item code")] = None,
    industry: Annotated[str | None, Query(description="GB/T 4754 industry code prefix")] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> EntityPage:
    conds = [EntityItemLink.department_code == department_code, EntityItemLink.active.is_(True)]
    if item:
        conds.append(EntityItemLink.catalog_code == item)
    ent_conds = []
    if region:
        ent_conds.append(Entity.region_code.like(f"{region_prefix(region)}%"))
    if industry:
        ent_conds.append(Entity.industry_code.like(f"{industry}%"))
    ids = (select(EntityItemLink.entity_id).where(*conds).distinct()).subquery()
    base = select(Entity.entity_id, Entity.kind, Entity.name, Entity.region_code, Entity.industry_code,
                  Entity.status_code).join(ids, ids.c.entity_id == Entity.entity_id).where(and_(True, *ent_conds))
    with request.app.state.db.engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(base.subquery())).scalar_one()
        rows = conn.execute(base.order_by(Entity.entity_id).limit(size).offset((page - 1) * size)).all()
        item_codes: dict[str, list[str]] = {}
        if rows:
            for eid, code in conn.execute(
                    select(EntityItemLink.entity_id, EntityItemLink.catalog_code).where(
                        *conds, EntityItemLink.entity_id.in_([r.entity_id for r in rows]))
                    .distinct().order_by(EntityItemLink.catalog_code)):
                item_codes.setdefault(eid, []).append(code)
    return EntityPage(department_code=department_code, total=total, page=page, size=size, entities=[
        EntitySummary(entity_id=r.entity_id, kind=r.kind, region_code=r.region_code, industry_code=r.industry_code,
                      status_code=r.status_code, catalog_codes=item_codes.get(r.entity_id, []),
                      name=(r.name if r.kind in PUBLIC_NAME_KINDS
                            else viewer.value("name", r.name, "entity", r.entity_id, "name")) or "")
        for r in rows])


@router.post("/entities/{identifier}/links", response_model=LinkOut, status_code=201,
             summary="Add or withdraw an explicit entity -> item -> department link")
def put_explicit_link(identifier: str, body: ExplicitLinkIn, request: Request,
                      principal: Annotated[Principal, Depends(require_scope("registries:write"))]) -> LinkOut:
    eid = entity_key(identifier)
    db = request.app.state.db
    now = datetime.now(UTC)
    with db.engine.begin() as conn:
        if conn.execute(select(Entity.entity_id).where(Entity.entity_id == eid)).first() is None:
            raise not_found("entity_not_found", "no supervised entity with this identifier")
        if conn.execute(select(Item.catalog_code).where(Item.catalog_code == body.catalog_code)).first() is None:
            raise not_found("item_not_found", "no supervision item with this code")
        link = {"link_id": f"{eid}|{body.catalog_code}|{body.department_code}", "entity_id": eid,
                "catalog_code": body.catalog_code, "department_code": body.department_code,
                "department_name": body.department_name, "admin_level": body.admin_level,
                "region_code": body.region_code, "source": "explicit",
                "rule": f"explicit link by client {principal.client_id}"[:255], "active": body.active}
        ctx = Context(now=now)
        link_rules.write(conn, ctx, [link])
        enqueue(conn, ctx.emitted, now)
    return LinkOut(**{k: v for k, v in link.items() if k != "rule"})

