"""Entity -> item -> department links (``entity_item_links``): who supervises whom, for what.

Derivation (``source="derived"``), a pure function of the entity and the active items:

- an item applies to an entity when the entity's GB/T 4754 industry code starts with one of
  the item's ``industry_codes`` (the industry prefixes of its enforcement domain,
  :mod:`schemas.domains`);
- for each admin level at which the item is implemented (its implementations'
  ``admin_level`` code: province / city / county; ``county`` when it lists none, since
  supervision is territorial by default), the responsible department is
  ``domains.department_code(item domain, region_at_level(entity region, level))``;
- ``link_id = entity_id|catalog_code|department_code``.

:class:`ItemIndex` maps each industry prefix to its items, so matching one entity costs one
dict look-up per character of its industry code, whatever the number of entities.

:func:`sync_entities` re-derives the links of some entities and writes only the difference:
new or changed links are upserted active, derived links no longer implied are set
inactive (never deleted), and each change is emitted on ``entity.item-links``. Explicit
links (``source="explicit"``, written by ``POST /registries/entities/{id}/links``) are never
touched by derivation.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, or_, select, text

from processors.entities.models import Entity, EntityItemLink
from processors.entities.store import select_in, upsert
from processors.runtime.contract import Context
from schemas import domains

LINKS_TOPIC = "entity.item-links"
LEVELS = ("province", "city", "county")
_LEVEL_CODES = {"province": "province", "city": "city", "county": "county", "1": "province", "2": "city",
                "3": "county", "省级": "province", "市级": "city", "县级": "county", "区县级": "county"}
_COMPARED = ("entity_id", "catalog_code", "department_code", "department_name", "admin_level", "region_code",
             "source", "active")


def admin_level(code: str | None) -> str | None:
    """Normalised admin level of an implementation's ``admin_level.code`` (None if unknown)."""
    return _LEVEL_CODES.get((code or "").strip().lower()) or _LEVEL_CODES.get((code or "").strip())


DERIVATION_LOCK = 0x68756221  # arbitrary, fixed: the key of the PostgreSQL advisory lock below


def lock_derivation(conn: Connection) -> None:
    """Serialise link derivation with every other transaction that derives links, until commit.

    The entities processor derives links from the items it can see, the items processor from
    the entities it can see. On PostgreSQL they run in concurrent READ COMMITTED transactions:
    without this lock each misses the other's uncommitted rows and the link is never made.
    Under it, the later transaction's statements see the earlier one's committed rows.
    SQLite needs nothing: the processors use a single writer there.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": DERIVATION_LOCK})


@dataclass(frozen=True, slots=True)
class ItemScope:
    """What link derivation needs of one active item."""

    catalog_code: str
    domain_code: str
    industry_prefixes: tuple[str, ...]
    levels: tuple[str, ...]


def item_scope(catalog_code: str, domain_code: str | None, industry_codes: str | list,
               implementations: str | list) -> ItemScope | None:
    """An :class:`ItemScope` from an ``items`` row's columns (JSON text or lists); None without a known domain."""
    if not domain_code or domain_code not in domains.DOMAINS:
        return None
    prefixes = json.loads(industry_codes) if isinstance(industry_codes, str) else industry_codes
    impls = json.loads(implementations) if isinstance(implementations, str) else implementations
    levels = {admin_level((i.get("admin_level") or {}).get("code")) for i in impls or []} - {None}
    ordered = tuple(lv for lv in LEVELS if lv in levels) or ("county",)
    return ItemScope(catalog_code, domain_code, tuple(prefixes or ()), ordered)


class ItemIndex:
    """Active items by industry prefix."""

    def __init__(self, items: Iterable[ItemScope]) -> None:
        self.by_prefix: dict[str, list[ItemScope]] = defaultdict(list)
        self.items: dict[str, ItemScope] = {}
        for item in items:
            self.items[item.catalog_code] = item
            for prefix in item.industry_prefixes:
                self.by_prefix[prefix].append(item)

    @classmethod
    def load(cls, conn: Connection) -> ItemIndex:
        """The active items, read under :func:`lock_derivation` (so every caller that derives links holds it)."""
        from processors.items.models import Item

        lock_derivation(conn)
        rows = conn.execute(select(Item.catalog_code, Item.domain_code, Item.industry_codes, Item.implementations)
                            .where(Item.active == "y")).all()
        return cls(s for s in (item_scope(*r) for r in rows) if s is not None)

    def matching(self, industry_code: str | None) -> list[tuple[ItemScope, str]]:
        """(item, matched prefix) for every item whose prefixes match ``industry_code``, in code order."""
        if not industry_code:
            return []
        found: dict[str, tuple[ItemScope, str]] = {}
        for n in range(0, len(industry_code) + 1):
            for item in self.by_prefix.get(industry_code[:n], ()):
                found.setdefault(item.catalog_code, (item, industry_code[:n]))
        return [found[c] for c in sorted(found)]


def derive(entity_id: str, industry_code: str | None, region_code: str | None,
           index: ItemIndex) -> dict[str, dict[str, Any]]:
    """The derived links of one entity, keyed by link id (rows without ``updated_at``)."""
    out: dict[str, dict[str, Any]] = {}
    if not region_code:
        return out
    for item, prefix in index.matching(industry_code):
        domain = domains.DOMAINS[item.domain_code]
        for level in item.levels:
            try:
                region = domains.region_at_level(region_code, level)
            except ValueError:
                continue
            dept = domains.department_code(domain, region)
            link_id = f"{entity_id}|{item.catalog_code}|{dept}"
            out[link_id] = {
                "link_id": link_id, "entity_id": entity_id, "catalog_code": item.catalog_code,
                "department_code": dept, "department_name": domains.department_name(domain, region),
                "admin_level": level, "region_code": region, "source": "derived",
                "rule": f"industry {industry_code} matches {prefix or '*'} of domain {domain.code}; {level} level",
                "active": True,
            }
    return out


def sync_entities(conn: Connection, ctx: Context, entities: Mapping[str, tuple[str | None, str | None]],
                  index: ItemIndex) -> int:
    """Re-derive the links of ``entities`` (entity_id -> (industry, region)); returns links changed."""
    if not entities:
        return 0
    cols = [getattr(EntityItemLink, c) for c in ("link_id", *_COMPARED)]
    existing = {r.link_id: r._asdict() for r in select_in(conn, cols, EntityItemLink.entity_id, entities)}
    changed: list[dict[str, Any]] = []
    wanted: set[str] = set()
    for entity_id, (industry, region) in entities.items():
        for link_id, link in derive(entity_id, industry, region, index).items():
            old = existing.get(link_id)
            if old is not None and old["source"] == "explicit":
                continue
            wanted.add(link_id)
            if old is None or any(old[c] != link[c] for c in _COMPARED):
                changed.append(link)
    for link_id, old in existing.items():
        if old["source"] == "derived" and old["active"] and link_id not in wanted:
            changed.append({**old, "rule": "no longer derived", "active": False})
    write(conn, ctx, changed)
    return len(changed)


def sync_items(conn: Connection, ctx: Context, catalog_codes: Iterable[str], index: ItemIndex) -> int:
    """Re-derive links after items changed: entities matching their prefixes or linked to them."""
    codes = list(catalog_codes)
    prefixes = {p for c in codes if c in index.items for p in index.items[c].industry_prefixes}
    entity_ids = {r[0] for r in select_in(conn, [EntityItemLink.entity_id], EntityItemLink.catalog_code, codes,
                                          EntityItemLink.active.is_(True))}
    targets: dict[str, tuple[str | None, str | None]] = {}
    if prefixes:
        cond = or_(*(Entity.industry_code.like(f"{p}%") for p in sorted(prefixes)))
        for eid, industry, region in conn.execute(
                select(Entity.entity_id, Entity.industry_code, Entity.region_code).where(cond)):
            targets[eid] = (industry, region)
    missing = entity_ids - targets.keys()
    for eid, industry, region in select_in(conn, [Entity.entity_id, Entity.industry_code, Entity.region_code],
                                           Entity.entity_id, missing):
        targets[eid] = (industry, region)
    total = 0
    items = list(targets.items())
    for i in range(0, len(items), 5000):  # bounded memory for items that match many entities
        total += sync_entities(conn, ctx, dict(items[i:i + 5000]), index)
    return total


def write(conn: Connection, ctx: Context, links: list[dict[str, Any]]) -> None:
    """Upsert ``links`` (full rows) and emit each on ``entity.item-links``."""
    if not links:
        return
    rows = [{**link, "updated_at": ctx.now} for link in links]
    upsert(conn, EntityItemLink.__table__, rows, ["link_id"])
    for link in rows:
        ctx.emit(LINKS_TOPIC, link_record(link, ctx.now))
    ctx.count("links_changed", len(rows))


def link_record(link: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The ``EntityItemLink`` standard record of a link row (hub envelope)."""
    from processors.entities.store import hub_envelope

    return {
        "envelope": hub_envelope("hub.entities", link["link_id"], now, link["region_code"]),
        "link_id": link["link_id"], "entity_id": link["entity_id"], "catalog_code": link["catalog_code"],
        "department": {"code": link["department_code"], "name": link["department_name"], "code_system": None},
        "region_code": link["region_code"], "source": link["source"], "rule": link.get("rule"),
        "active": bool(link["active"]), "valid_from": None,
    }
