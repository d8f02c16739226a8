"""The two pools of a plan, read from the registries (``entities`` + ``entity_item_links``, ``officers``).

Both are produced as sorted entries for :class:`hub_api.sampling.draw.SnapshotBuilder`:
objects stream from the database (server-side cursor, so a 1,000,000-entity registry is
never held in memory); natural persons — whose registry id is a resident ID number, i.e.
personal data — enter the pool under a keyed pseudonym ``NP-<hex>`` that only the hub can
resolve (the pseudonym key is the plan's secret), so the published pool and draw stay
verifiable without publishing anyone's ID number.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Connection, and_, exists, or_, select
from sqlalchemy.sql import ColumnElement

from hub_api.sampling.spec import InspectorFilters, ObjectFilters
from processors.entities.models import Entity, EntityItemLink
from processors.items.models import Item
from processors.officers.models import Officer

NATURAL_PERSON = "natural_person"


def pseudonym(key_hex: str, entity_id: str) -> str:
    return "NP-" + hmac.new(bytes.fromhex(key_hex), entity_id.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def _subtree(column, code: str) -> ColumnElement[bool]:
    """Region codes in the subtree of ``code``: province ``PP``, city ``PPCC``, county exact."""
    if code.endswith("0000"):
        return column.like(code[:2] + "%")
    if code.endswith("00"):
        return column.like(code[:4] + "%")
    return column == code


def _sorted_ids(conn: Connection, column):
    # Code-point order regardless of the database's collation (the snapshot's order).
    return column.collate("C") if conn.dialect.name == "postgresql" else column


@dataclass
class ObjectPool:
    """Iterates the object pool's entries; afterwards ``natural_persons`` maps pseudonym -> entity id."""

    conn: Connection
    filters: ObjectFilters
    region_code: str
    catalog_codes: list[str]
    pseudonym_key: str
    natural_persons: dict[str, str] = field(default_factory=dict)

    def _where(self) -> list[ColumnElement[bool]]:
        f = self.filters
        where = [_subtree(Entity.region_code, f.region_code or self.region_code)]
        if f.industry_prefixes:
            where.append(or_(*[Entity.industry_code.like(p + "%") for p in f.industry_prefixes]))
        if f.kinds:
            where.append(Entity.kind.in_(f.kinds))
        if f.risk_grades:
            where.append(Entity.risk_grade_code.in_(f.risk_grades))
        if f.status_codes:
            where.append(Entity.status_code.in_(f.status_codes))
        if f.exclude_entity_ids:
            where.append(Entity.entity_id.not_in(f.exclude_entity_ids))
        if f.require_item_link:
            where.append(exists().where(and_(
                EntityItemLink.entity_id == Entity.entity_id, EntityItemLink.active.is_(True),
                EntityItemLink.catalog_code.in_(self.catalog_codes))))
        return where

    def _rows(self, natural: bool):
        cols = (Entity.entity_id, Entity.kind, Entity.region_code, Entity.industry_code, Entity.risk_grade_code)
        kind = Entity.kind == NATURAL_PERSON if natural else or_(Entity.kind != NATURAL_PERSON, Entity.kind.is_(None))
        stmt = select(*cols).where(kind, *self._where()).order_by(_sorted_ids(self.conn, Entity.entity_id))
        # Per statement: Connection.execution_options would stream every later statement too.
        return self.conn.execute(stmt.execution_options(yield_per=10_000))

    @staticmethod
    def _fields(row) -> dict:
        return {"industry_code": row.industry_code, "kind": row.kind, "region_code": row.region_code,
                "risk_grade_code": row.risk_grade_code}

    def __iter__(self) -> Iterator[tuple[str, dict]]:
        persons = []
        for row in self._rows(natural=True):
            key = pseudonym(self.pseudonym_key, row.entity_id)
            self.natural_persons[key] = row.entity_id
            persons.append((key, self._fields(row)))
        persons.sort(key=lambda e: e[0])
        others = ((row.entity_id, self._fields(row)) for row in self._rows(natural=False))
        return heapq.merge(others, persons, key=lambda e: e[0])

    def key_of(self, entity_id: str) -> str:
        """The pool key of a registry entity id (for conflicts listed by entity id)."""
        key = pseudonym(self.pseudonym_key, entity_id)
        return key if key in self.natural_persons else entity_id


def item_domains(conn: Connection, catalog_codes: list[str]) -> list[str]:
    rows = conn.execute(select(Item.domain_code).where(Item.catalog_code.in_(catalog_codes))).scalars()
    return sorted({d for d in rows if d})


def inspector_pool(conn: Connection, filters: InspectorFilters, region_code: str, catalog_codes: list[str],
                   today: date) -> tuple[list[tuple[str, dict]], list[str]]:
    """(entries sorted by certificate number, domains required). Valid, unexpired certificates only."""
    where = [Officer.status == "valid", or_(Officer.valid_to.is_(None), Officer.valid_to >= today),
             _subtree(Officer.region_code, filters.region_code or region_code)]
    if filters.department_codes:
        where.append(Officer.department_code.in_(filters.department_codes))
    if filters.exclude_certificates:
        where.append(Officer.certificate_number.not_in(filters.exclude_certificates))
    domains = sorted(set(filters.domain_codes)) or item_domains(conn, catalog_codes)
    entries = []
    rows = conn.execute(select(Officer.certificate_number, Officer.department_code, Officer.region_code,
                               Officer.domains).where(*where))
    for row in rows:
        try:
            held = sorted({str(d) for d in json.loads(row.domains or "[]")})
        except (ValueError, TypeError):
            held = []  # unreadable domains: not authorised for any domain
        if domains and not set(held) & set(domains):
            continue
        entries.append((row.certificate_number,
                        {"department_code": row.department_code, "domains": held, "region_code": row.region_code}))
    entries.sort(key=lambda e: e[0])
    return entries, domains
