"""Match a clue to the departments responsible for it, through the registries.

Rules, first non-empty wins (its departments are all pushed); the departments of the
later rules become the clue's re-routing candidates, in order:

1. ``explicit``: the clue's own ``responsible_departments``;
2. ``entity_link``: the entity's active ``entity_item_links`` (only those for the clue's
   ``catalog_code`` when any match), moved to the region level the risk level asks for
   (``dispatch_level``: the same department suffix in the entity's region at that level);
3. ``item_domain``: the domain of the clue's catalogued item (``items.domain_code``);
4. ``category_domain``: the domains configured for the category code (first pushed).

Domain rules name the department with :func:`schemas.domains.department_code` in the
clue's region at the dispatch level. A department is never listed twice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import Connection, select

from processors.entities.models import Entity, EntityItemLink
from processors.items.models import Item
from processors.risk.config import LoopConfig
from schemas import domains, regions

LINKS, ENTITIES, ITEMS = EntityItemLink.__table__, Entity.__table__, Item.__table__
_BY_SUFFIX = {}
for _d in domains.DOMAINS.values():
    _BY_SUFFIX.setdefault(_d.department_suffix, _d)


@dataclass(frozen=True, slots=True)
class Target:
    code: str
    name: str
    region_code: str
    rule: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Route:
    primary: list[Target]
    candidates: list[Target]


def at_level(region_code: str, level: str) -> str:
    """``region_code``'s ancestor at ``level``; the code itself when it has none (e.g. a province asked for a county)."""
    try:
        return domains.region_at_level(region_code, level)
    except (ValueError, KeyError):
        return region_code


def department_region(code: str, fallback: str) -> str:
    """The region a department code starts with (``330106SCJ`` -> ``330106``), else ``fallback``."""
    head = code[:6]
    return head if head.isdigit() and regions.is_known_region(head) else fallback


def supervisor_of(code: str, name: str, region_code: str) -> Target | None:
    """The same kind of department one region level up (督办), or None at province level."""
    parent = regions.parent(region_code)
    if parent is None:
        return None
    suffix = code[len(region_code):] if code.startswith(region_code) else None
    if not suffix:
        return None
    dom = _BY_SUFFIX.get(suffix)
    pname = f"{regions.region_name(parent) or parent}{dom.department_name}" if dom else f"{parent}{suffix}"
    return Target(f"{parent}{suffix}", pname, parent, "supervise")


def route(conn: Connection, clue: dict, cfg: LoopConfig) -> Route:
    """Primary departments and re-routing candidates for ``clue`` (standard RiskAlert fields)."""
    level = cfg.rule(clue["risk_level"]).dispatch_level
    groups = [_explicit(clue), _links(conn, clue, level), _item_domain(conn, clue, level),
              _category_domains(clue, level, cfg)]
    seen: set[str] = set()
    primary: list[Target] = []
    candidates: list[Target] = []
    for group in groups:
        fresh = [t for t in group if t.code not in seen]
        seen.update(t.code for t in fresh)
        if not fresh:
            continue
        if not primary:
            if group and group[0].rule == "category_domain":
                primary, candidates = fresh[:1], fresh[1:]
            else:
                primary = fresh
        else:
            candidates.extend(fresh)
    return Route(primary, candidates)


def _explicit(clue: dict) -> list[Target]:
    out = []
    for d in clue.get("responsible_departments") or ():
        if d.get("code"):
            out.append(Target(d["code"], d.get("name") or d["code"],
                              department_region(d["code"], clue["region_code"]), "explicit"))
    return out


def _links(conn: Connection, clue: dict, level: str) -> list[Target]:
    entity_id = clue.get("entity_id")
    if not entity_id:
        return []
    rows = conn.execute(select(LINKS.c.catalog_code, LINKS.c.department_code, LINKS.c.department_name,
                               LINKS.c.region_code)
                        .where(LINKS.c.entity_id == entity_id, LINKS.c.active.is_(True))
                        .order_by(LINKS.c.link_id)).all()
    if clue.get("catalog_code") and any(r.catalog_code == clue["catalog_code"] for r in rows):
        rows = [r for r in rows if r.catalog_code == clue["catalog_code"]]
    home = conn.execute(select(ENTITIES.c.region_code).where(ENTITIES.c.entity_id == entity_id)).scalar()
    target_region = at_level(home or clue["region_code"], level)
    out = []
    for r in rows:
        suffix = r.department_code[len(r.region_code):] if r.department_code.startswith(r.region_code) else ""
        dom = _BY_SUFFIX.get(suffix)
        if suffix and dom:
            out.append(Target(f"{target_region}{suffix}", domains.department_name(dom, target_region),
                              target_region, "entity_link"))
        else:  # a department code outside the <region><suffix> convention: push it as linked
            out.append(Target(r.department_code, r.department_name, r.region_code, "entity_link"))
    return out


def _item_domain(conn: Connection, clue: dict, level: str) -> list[Target]:
    code = clue.get("catalog_code")
    if not code:
        return []
    dom = conn.execute(select(ITEMS.c.domain_code).where(ITEMS.c.catalog_code == code)).scalar()
    if dom not in domains.DOMAINS:
        return []
    region = at_level(clue["region_code"], level)
    return [Target(domains.department_code(dom, region), domains.department_name(dom, region), region,
                   "item_domain")]


def _category_domains(clue: dict, level: str, cfg: LoopConfig) -> list[Target]:
    region = at_level(clue["region_code"], level)
    code = (clue.get("category") or {}).get("code")
    return [Target(domains.department_code(d, region), domains.department_name(d, region), region,
                   "category_domain") for d in cfg.domains_for_category(code)]
