"""Record builders for the entity and item registry tests (unit and integration)."""

from __future__ import annotations

from datetime import date
from typing import Any

from processors.runtime.contract import InRecord
from tests.records import envelope, minimal

ENTITY = "gov.zj.supervision.entity.SupervisedEntity"
ITEM = "gov.zj.supervision.catalog.SupervisionItem"


def coded(code: str, name: str | None = None) -> dict[str, Any]:
    return {"code": code, "name": name or code, "code_system": None}


def entity(source: str, version: int, uscc: str | None = None, *, resident_id: str | None = None,
           event_time_ms: int | None = None, operation: str = "u", **fields: Any) -> dict[str, Any]:
    key = uscc or resident_id
    values = {"entity_id": key, "uscc": uscc, "resident_id": resident_id, "name": "x", "region_code": "330106",
              "kind": "enterprise" if uscc else "natural_person"}
    values.update(fields)
    env = envelope(source, key, version, event_time_ms=version * 1000 if event_time_ms is None else event_time_ms,
                   operation=operation)
    return minimal(ENTITY, envelope=env, **values)


def item(code: str, version: str, domain: str, valid_from: date, *, levels=("county",), contents=("c1",),
         source_version: int = 1, operation: str = "u", valid_to: date | None = None) -> dict[str, Any]:
    impls = [{"implementation_code": f"{code}{lv}", "agency_uscc": "x", "agency": coded("A"),
              "admin_level": coded(lv), "region_code": "330000"} for lv in levels]
    checks = [{"content_code": c, "content": f"检查{c}", "legal_basis": None, "method": None} for c in contents]
    env = envelope("item_catalog", f"{code}:{version}", source_version, operation=operation)
    return minimal(ITEM, envelope=env, catalog_code=code, name=f"事项{code[-3:]}", version=version,
                   valid_from=valid_from, valid_to=valid_to, domain=coded(domain), implementations=impls,
                   check_contents=checks)


def records(topic: str, values: list[dict[str, Any]], start: int = 0) -> list[InRecord]:
    return [InRecord(topic, 0, start + i, None, v) for i, v in enumerate(values)]
