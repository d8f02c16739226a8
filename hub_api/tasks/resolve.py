"""Who a joint task goes to: participants -> departments, items -> domains, targets -> entities.

Pure functions plus read-only look-ups (SQLAlchemy Core) in the item catalog, the entity
registry and double-random draws. A participant region at any GB/T 2260 level (province,
city, county) becomes one department per distinct department of the items' enforcement
domains at exactly that level (``schemas.domains.department_code``): market regulation,
food safety and special equipment share ``SCJ``, so they give one assignment, not three.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import sqlalchemy as sa

from processors.entities.models import Entity
from processors.items.models import Item
from schemas import domains, regions


class ResolveError(ValueError):
    """The request names something that does not resolve; ``reason`` is machine-readable."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Target:
    """One department a task is assigned to, and the items it is responsible for in the task."""

    department_code: str
    department_name: str
    region_code: str
    catalog_codes: tuple[str, ...]


def item_domains(conn: sa.Connection, catalog_codes: list[str]) -> dict[str, str]:
    """catalog code -> enforcement domain code; ResolveError for unknown items or items without a domain."""
    if not catalog_codes:
        return {}
    rows = dict(conn.execute(sa.select(Item.catalog_code, Item.domain_code)
                             .where(Item.catalog_code.in_(catalog_codes))).all())
    unknown = sorted(c for c in catalog_codes if c not in rows)
    if unknown:
        raise ResolveError("unknown_items", f"items not in the catalog: {', '.join(unknown[:20])}")
    no_domain = sorted(c for c, d in rows.items() if not d or d not in domains.DOMAINS)
    if no_domain:
        raise ResolveError("item_without_domain",
                           f"items without a known enforcement domain: {', '.join(no_domain[:20])}")
    return {c: rows[c] for c in catalog_codes}


def departments_for_region(region_code: str, item_domain: dict[str, str]) -> list[Target]:
    """One target per distinct department responsible in ``region_code`` for the items' domains."""
    if not item_domain:
        raise ResolveError("no_items", "a participant given only as a region needs the task's items to "
                                       "find the responsible departments")
    by_department: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for code, domain in item_domain.items():
        dept = domains.department_code(domain, region_code)
        by_department.setdefault(dept, []).append(code)
        names[dept] = domains.department_name(domain, region_code)
    return [Target(d, names[d], region_code, tuple(codes)) for d, codes in by_department.items()]


def parent_department(department_code: str, region_code: str) -> tuple[str, str] | None:
    """The same kind of department one region level up (``330106SCJ`` -> ``330100SCJ``), or None at the top."""
    parent = regions.parent(region_code)
    if parent is None or not department_code.startswith(region_code):
        return None
    return parent + department_code[len(region_code):], parent


def entity_regions(conn: sa.Connection, entity_ids: list[str]) -> dict[str, str | None]:
    """entity id -> region code from the registry, else the USCC's region digits (3-8), else None."""
    known = dict(conn.execute(sa.select(Entity.entity_id, Entity.region_code)
                              .where(Entity.entity_id.in_(entity_ids))).all()) if entity_ids else {}
    out: dict[str, str | None] = {}
    for eid in entity_ids:
        region = known.get(eid)
        if region is None and len(eid) == 18 and eid[2:8].isdigit():
            region = eid[2:8]
        out[eid] = region
    return out


def covers(assignment_region: str, entity_region: str | None) -> bool:
    """True if an entity in ``entity_region`` lies inside ``assignment_region`` (unknown region: yes)."""
    if entity_region is None:
        return True
    try:
        return assignment_region in regions.ancestors(entity_region) or entity_region == assignment_region
    except ValueError:
        return True


def plan_targets(conn: sa.Connection, plan_id: str) -> tuple[list[str], list[str]]:
    """(entity ids drawn, plan catalog codes) of a drawn double-random plan; ResolveError otherwise."""
    from hub_api.sampling.models import SamplingDraw, SamplingPlan

    plan = conn.execute(sa.select(SamplingPlan.status, SamplingPlan.catalog_codes)
                        .where(SamplingPlan.plan_id == plan_id)).first()
    if plan is None:
        raise ResolveError("unknown_plan", f"no sampling plan {plan_id!r}")
    if plan.status not in ("drawn", "completed"):
        raise ResolveError("plan_not_drawn", f"sampling plan {plan_id!r} is {plan.status}; draw it first")
    ids = list(conn.execute(sa.select(SamplingDraw.object_id).where(SamplingDraw.plan_id == plan_id)
                            .order_by(SamplingDraw.draw_index)).scalars())
    return ids, json.loads(plan.catalog_codes or "[]")
