"""The supervised-object registry processor (``entities``).

Inputs: ``entity.updates`` (what each source system says about an entity) and two topics
that *mention* entities: ``penalty.case.events`` (the case's ``counterpart``) and
``complaint.tickets`` (the complained-about ``target_entity_id``). A mention contributes a
low-precedence source version (name, region, premises) under its source system, so a
party seen only in a case still gets a golden record; a mention whose id is not a valid
USCC / resident ID is counted (``mention_invalid_id``), not merged, and the record is not
dead-lettered (the case or ticket itself is fine). An ``entity.updates`` record whose id
fails validation raises (dead letter, reason = the failed check).

Per record: its version (envelope ``source_version``; for mentions the event time) is
compared with the stored version of (entity, source); older or equal -> ``ctx.stale``.
Otherwise the version is stored (payload JSON) and the entity is marked for re-merging
(:mod:`processors.entities.merge`). Per batch, once: the affected entities' stored versions
and golden rows are read with one query per table, the golden records recomputed, and
everything written with executemany upserts. A golden record that changed gets
``revision + 1`` and is emitted on ``entity.registry``; if its industry or region changed
its item links are re-derived (:mod:`processors.entities.links`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from processors.entities import links
from processors.entities.merge import (
    DATE_FIELDS,
    ENTITY_SCHEMA,
    MERGED_FIELDS,
    Identity,
    SourceVersion,
    identity_of,
    is_pseudonym,
    kind_for,
    merge,
    resolve_identity,
)
from processors.entities.models import Entity, EntitySourceVersion
from processors.entities.store import (
    dumps,
    from_millis,
    hub_envelope,
    jsonable,
    newer,
    select_in,
    to_date,
    to_millis,
    upsert,
)
from processors.runtime.contract import Context, InRecord
from schemas.codes import CodeError

ENTITY_TOPIC = "entity.updates"
PENALTY_TOPIC = "penalty.case.events"
COMPLAINT_TOPIC = "complaint.tickets"
REGISTRY_TOPIC = "entity.registry"
USCC_ID_TYPES = frozenset({"001"})
RESIDENT_ID_TYPES = frozenset({"111"})


@dataclass(slots=True)
class Update:
    record: InRecord
    identity: Identity
    source_system: str
    source_kind: str
    version: str
    event_time_ms: int
    operation: str
    payload: dict[str, Any]


def _entity_update(record: InRecord) -> Update:
    value = record.value
    identity = identity_of(value)
    env = record.envelope
    payload = jsonable({k: value.get(k) for k in MERGED_FIELDS})
    if identity.resident_id:
        payload["resident_id"] = identity.resident_id
    event_ms = to_millis(env.get("event_time"))
    version = env.get("source_version") or str(event_ms)
    return Update(record, identity, record.source_system or "unknown", "registry", version, event_ms,
                  env.get("operation") or "u", payload)


def _mention(record: InRecord, ctx: Context) -> Update | None:
    value, env = record.value, record.envelope
    if record.topic == PENALTY_TOPIC:
        party = value.get("counterpart")
        if not party:
            ctx.count("mention_without_party")
            return None
        id_type = (party.get("id_type") or {}).get("code")
        code = party.get("id_code")
        try:
            if id_type in USCC_ID_TYPES:
                identity = resolve_identity(code, None)
            elif id_type in RESIDENT_ID_TYPES:
                identity = resolve_identity(None, code)
            else:
                identity = resolve_identity(None, None, code)
        except CodeError:
            ctx.count("mention_invalid_id")
            return None
        payload = {"name": party.get("name"), "premises": party.get("operating_address"),
                   "region_code": value.get("region_code")}
    else:
        try:
            identity = resolve_identity(None, None, value.get("target_entity_id"))
        except CodeError:
            ctx.count("mention_invalid_id")
            return None
        payload = {"name": value.get("target_entity_name"), "region_code": value.get("region_code")}
    payload["kind"] = kind_for(identity)
    if identity.resident_id:
        payload["resident_id"] = identity.resident_id
    event_ms = to_millis(env.get("event_time"))
    return Update(record, identity, record.source_system or record.topic, "mention", str(event_ms), event_ms,
                  "u", payload)


class EntitiesProcessor:
    """Merges entity source records into golden records; see the module docstring."""

    name = "entities"
    topics = (ENTITY_TOPIC, PENALTY_TOPIC, COMPLAINT_TOPIC)
    timers = ()

    def apply(self, conn: Connection, records: Sequence[InRecord], ctx: Context) -> None:
        updates = []
        for record in records:
            if record.topic == ENTITY_TOPIC:
                updates.append(_entity_update(record))  # CodeError -> dead letter
            else:
                update = _mention(record, ctx)
                if update is not None:
                    updates.append(update)
        if updates:
            apply_updates(conn, updates, ctx)


def apply_updates(conn: Connection, updates: list[Update], ctx: Context) -> None:
    ids = {u.identity.entity_id for u in updates}
    sv_cols = [EntitySourceVersion.entity_id, EntitySourceVersion.source_system, EntitySourceVersion.source_version,
               EntitySourceVersion.event_time, EntitySourceVersion.operation, EntitySourceVersion.payload,
               EntitySourceVersion.source_kind]
    versions: dict[str, dict[str, SourceVersion]] = {eid: {} for eid in ids}
    stored: dict[tuple[str, str], str | None] = {}
    for r in select_in(conn, sv_cols, EntitySourceVersion.entity_id, ids):
        stored[(r.entity_id, r.source_system)] = r.source_version
        versions[r.entity_id][r.source_system] = SourceVersion(
            r.source_system, to_millis(r.event_time), r.operation, json.loads(r.payload), r.source_kind or "registry")
    current = {r.entity_id: r for r in select_in(
        conn, [Entity.entity_id, Entity.revision, Entity.record, Entity.field_sources, Entity.sources,
               Entity.industry_code, Entity.region_code], Entity.entity_id, ids)}

    dirty_versions: dict[tuple[str, str], dict[str, Any]] = {}
    identities: dict[str, Identity] = {}
    for u in updates:
        key = (u.identity.entity_id, u.source_system)
        if key in stored and not newer(u.version, stored[key]):
            ctx.stale(u.record)
            ctx.count("mention_stale" if u.source_kind == "mention" else "update_stale")
            continue
        stored[key] = u.version
        versions[key[0]][u.source_system] = SourceVersion(u.source_system, u.event_time_ms, u.operation, u.payload,
                                                          u.source_kind)
        prev = identities.get(key[0])
        identities[key[0]] = Identity(key[0], u.identity.uscc or (prev and prev.uscc),
                                      u.identity.resident_id or (prev and prev.resident_id))
        dirty_versions[key] = {
            "entity_id": key[0], "source_system": u.source_system, "source_version": u.version,
            "event_time": from_millis(u.event_time_ms), "record_id": u.record.record_id, "operation": u.operation,
            "payload": dumps(u.payload), "source_kind": u.source_kind,
        }
        ctx.count(f"{u.source_kind}_applied")
    if not dirty_versions:
        return
    upsert(conn, EntitySourceVersion.__table__, list(dirty_versions.values()), ["entity_id", "source_system"])

    rows, relink = [], {}
    for eid, identity in identities.items():
        svs = list(versions[eid].values())
        resident_id = identity.resident_id or next(
            (sv.payload.get("resident_id") for sv in svs if sv.payload.get("resident_id")), None)
        golden = merge(Identity(eid, identity.uscc or (None if is_pseudonym(eid) else eid), resident_id), svs)
        row = golden_row(golden)
        old = current.get(eid)
        if old is not None and old.record == row["record"] and old.field_sources == row["field_sources"] \
                and old.sources == row["sources"]:
            ctx.count("golden_unchanged")
            continue
        row["revision"] = (old.revision if old is not None else 0) + 1
        row["updated_at"] = ctx.now
        rows.append(row)
        event_ms = max(sv.event_time_ms for sv in svs)
        ctx.emit(REGISTRY_TOPIC, registry_record(golden, row["revision"], event_ms, ctx))
        if old is None or (old.industry_code, old.region_code) != (row["industry_code"], row["region_code"]):
            relink[eid] = (row["industry_code"], row["region_code"])
    upsert(conn, Entity.__table__, rows, ["entity_id"])
    ctx.count("golden_changed", len(rows))
    if relink:
        links.sync_entities(conn, ctx, relink, links.ItemIndex.load(conn))


def golden_row(golden) -> dict[str, Any]:
    """The ``entities`` row of a golden record (without revision / updated_at)."""
    r = golden.record

    def code(name: str, part: str = "code"):
        return (r.get(name) or {}).get(part)

    return {
        "entity_id": r["entity_id"], "kind": r.get("kind") or "other", "uscc": r.get("uscc"),
        "resident_id": r.get("resident_id"), "registration_number": r.get("registration_number"),
        "name": r.get("name") or "", "industry_code": code("industry"), "industry_name": code("industry", "name"),
        "region_code": r["region_code"], "status_code": code("status"), "status_name": code("status", "name"),
        "risk_grade_code": code("risk_grade"), "legal_representative": r.get("legal_representative"),
        "operator_name": r.get("operator_name"), "premises": r.get("premises"),
        "business_scope": r.get("business_scope"), "registration_date": to_date(r.get("registration_date")),
        "revocation_date": to_date(r.get("revocation_date")), "longitude": r.get("longitude"),
        "latitude": r.get("latitude"), "sources": ",".join(golden.sources)[:255],
        "field_sources": dumps(golden.field_sources), "record": dumps(r),
    }


def standard_record(record: dict[str, Any]) -> dict[str, Any]:
    """A stored golden record (JSON-safe) as a ``SupervisedEntity`` value without envelope (Avro types)."""
    out = {k: record.get(k) for k in ("entity_id", "uscc", "resident_id", *MERGED_FIELDS)}
    for name in DATE_FIELDS:
        out[name] = to_date(out[name])
    return out


def registry_record(golden, revision: int, event_ms: int, ctx: Context) -> dict[str, Any]:
    value = standard_record(golden.record)
    value["envelope"] = hub_envelope("hub.entities", golden.record["entity_id"], ctx.now,
                                     golden.record["region_code"], version=str(revision),
                                     event_time=from_millis(event_ms))
    return value


PROCESSOR = EntitiesProcessor()
__all__ = ["ENTITY_SCHEMA", "PROCESSOR", "EntitiesProcessor", "apply_updates", "golden_row", "standard_record"]
