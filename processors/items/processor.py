"""The item catalog processor (``items``): versioned supervision items from ``catalog.updates``.

Every version of an item is kept in ``item_versions`` (key: catalog code + version), so a
form can be assembled as of any date (:mod:`processors.items.forms`). A record for a
version already stored is a correction only if its envelope ``source_version`` is newer;
otherwise it is stale. ``items`` holds the *current* version: the one with the greatest
(``valid_from``, version) — a record for an older version is stored for history but counted
stale (``ctx.stale``), and changes neither ``items`` nor the output. When the current version
changes, ``items`` is updated (``industry_codes`` = the industry prefixes of the item's
enforcement domain, :mod:`schemas.domains`), the item is emitted on ``catalog.items`` and
the entity links of the item are re-derived. A deletion (operation ``d``) of the current
version sets the item inactive (its links become inactive); history stays.

An item code that is not 14 digits raises (dead letter, reason ``item_code_format``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from processors.entities import links
from processors.entities.store import (
    dumps,
    hub_envelope,
    jsonable,
    newer,
    select_in,
    to_date,
    upsert,
)
from processors.items.forms import version_sort_key
from processors.items.models import Item, ItemVersion
from processors.runtime.contract import Context, InRecord
from schemas import codes, domains

CATALOG_TOPIC = "catalog.updates"
ITEMS_TOPIC = "catalog.items"


class _V:
    """Version identity used for ordering (mirrors an ``item_versions`` row)."""

    __slots__ = ("version", "valid_from", "valid_to", "operation", "source_version")

    def __init__(self, version, valid_from, valid_to=None, operation=None, source_version=None) -> None:
        self.version, self.valid_from, self.valid_to = version, valid_from, valid_to
        self.operation, self.source_version = operation, source_version


def industry_codes(domain_code: str | None) -> list[str]:
    """GB/T 4754 prefixes an item of ``domain_code`` applies to (empty for unknown domains)."""
    d = domains.DOMAINS.get(domain_code or "")
    return list(d.industry_prefixes) if d else []


class ItemsProcessor:
    name = "items"
    topics = (CATALOG_TOPIC,)
    timers = ()

    def apply(self, conn: Connection, records: Sequence[InRecord], ctx: Context) -> None:
        for record in records:
            codes.validate_item_code(record.value.get("catalog_code"), field="catalog_code")
        code_set = {r.value["catalog_code"] for r in records}
        stored: dict[tuple[str, str], _V] = {}
        for r in select_in(conn, [ItemVersion.catalog_code, ItemVersion.version, ItemVersion.valid_from,
                                  ItemVersion.valid_to, ItemVersion.operation, ItemVersion.source_version],
                           ItemVersion.catalog_code, code_set):
            stored[(r.catalog_code, r.version)] = _V(r.version, r.valid_from, r.valid_to, r.operation,
                                                      r.source_version)
        current: dict[str, _V] = {}
        for (code, _), v in stored.items():
            if code not in current or version_sort_key(v) > version_sort_key(current[code]):
                current[code] = v
        items_before = {r.catalog_code: r._asdict() for r in select_in(
            conn, [Item.catalog_code, Item.industry_codes, Item.implementations, Item.active], Item.catalog_code,
            code_set)}

        version_rows: dict[tuple[str, str], dict[str, Any]] = {}
        item_rows: dict[str, dict[str, Any]] = {}
        for record in records:
            value, env = record.value, record.envelope
            code, version = value["catalog_code"], str(value["version"])
            v = _V(version, to_date(value["valid_from"]), to_date(value.get("valid_to")),
                   env.get("operation") or "u", env.get("source_version"))
            old = stored.get((code, version))
            if old is not None and not newer(v.source_version, old.source_version):
                ctx.stale(record)
                continue
            stored[(code, version)] = v
            version_rows[(code, version)] = self._version_row(value, v, ctx)
            cur = current.get(code)
            if cur is not None and cur.version != version and version_sort_key(v) < version_sort_key(cur):
                ctx.stale(record)
                ctx.count("history_version")
                continue
            current[code] = v
            item_rows[code] = self._item_row(value, v, ctx)
            out = dict(value)
            out["envelope"] = hub_envelope("hub.items", code, ctx.now, "330000",
                                           version=f"{version}.{v.source_version or 0}", operation=v.operation)
            ctx.emit(ITEMS_TOPIC, out)
        upsert(conn, ItemVersion.__table__, list(version_rows.values()), ["catalog_code", "version"])
        upsert(conn, Item.__table__, list(item_rows.values()), ["catalog_code"])
        ctx.count("versions_stored", len(version_rows))
        changed = [c for c, row in item_rows.items()
                   if (before := items_before.get(c)) is None
                   or (before["industry_codes"], before["implementations"], before["active"])
                   != (row["industry_codes"], row["implementations"], row["active"])]
        if changed:
            links.sync_items(conn, ctx, changed, links.ItemIndex.load(conn))

    @staticmethod
    def _version_row(value: dict[str, Any], v: _V, ctx: Context) -> dict[str, Any]:
        domain = value.get("domain") or {}
        return {
            "catalog_code": value["catalog_code"], "version": v.version, "valid_from": v.valid_from,
            "valid_to": v.valid_to, "name": value["name"], "national_code": value.get("national_code"),
            "provincial_code": value.get("provincial_code"), "power_list_code": value.get("power_list_code"),
            "domain_code": domain.get("code"), "domain_name": domain.get("name"),
            "item_type_code": (value.get("item_type") or {}).get("code"), "legal_basis": value.get("legal_basis"),
            "implementations": dumps(value.get("implementations") or []),
            "check_contents": dumps(value.get("check_contents") or []),
            "industry_codes": json.dumps(industry_codes(domain.get("code"))),
            "recorded_at": ctx.now, "source_version": v.source_version, "operation": v.operation,
            "record": dumps({k: val for k, val in value.items() if k != "envelope"}),
        }

    @staticmethod
    def _item_row(value: dict[str, Any], v: _V, ctx: Context) -> dict[str, Any]:
        domain = value.get("domain") or {}
        return {
            "catalog_code": value["catalog_code"], "current_version": v.version, "name": value["name"],
            "domain_code": domain.get("code"), "industry_codes": json.dumps(industry_codes(domain.get("code"))),
            "implementations": dumps(jsonable(value.get("implementations") or [])),
            "active": "n" if v.operation == "d" else "y", "valid_from": v.valid_from, "valid_to": v.valid_to,
            "updated_at": ctx.now,
        }


PROCESSOR = ItemsProcessor()
