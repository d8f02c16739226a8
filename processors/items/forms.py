"""Inspection forms (检查表) assembled from the item catalog as of a date.

The version of an item valid on day ``d`` is the one with the latest ``valid_from <= d``
(ties: the greatest version string in natural order); it is not valid if its own
``valid_to`` lies before ``d`` or if it was a withdrawal (operation ``d``). The form lists
that version's check contents in their catalog order, with the item's identity,
domain, legal basis and implementing agencies.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any, Protocol

from sqlalchemy import Connection, select

from processors.entities.store import version_key
from processors.items.models import ItemVersion


class VersionLike(Protocol):
    version: str
    valid_from: date
    valid_to: date | None
    operation: str | None


def version_sort_key(v: VersionLike) -> tuple:
    return (v.valid_from, version_key(v.version))


def pick_version(versions: Iterable[VersionLike], as_of: date) -> VersionLike | None:
    """The version valid on ``as_of`` (see the module docstring), or None."""
    started = [v for v in versions if v.valid_from <= as_of]
    if not started:
        return None
    best = max(started, key=version_sort_key)
    if (best.valid_to is not None and best.valid_to < as_of) or best.operation == "d":
        return None
    return best


def versions_of(conn: Connection, catalog_code: str) -> Sequence:
    table = ItemVersion.__table__
    return conn.execute(select(table).where(table.c.catalog_code == catalog_code)).all()


def form_of(row) -> dict[str, Any]:
    """The inspection form (a dict) of one ``item_versions`` row."""
    record = json.loads(row.record) if row.record else {}
    return {
        "catalog_code": row.catalog_code, "name": row.name, "version": row.version,
        "valid_from": row.valid_from, "valid_to": row.valid_to,
        "national_code": row.national_code, "provincial_code": row.provincial_code,
        "power_list_code": row.power_list_code,
        "domain": record.get("domain"), "legal_basis": row.legal_basis,
        "check_contents": json.loads(row.check_contents),
        "implementations": json.loads(row.implementations),
    }


def assemble(conn: Connection, catalog_code: str, as_of: date) -> dict[str, Any] | None:
    """The inspection form of ``catalog_code`` as of ``as_of``; None if no version is valid then."""
    chosen = pick_version(versions_of(conn, catalog_code), as_of)
    return None if chosen is None else form_of(chosen)
