"""Plan lifecycle without HTTP: create (commit to a seed), draw (freeze, reveal, draw, emit), read.

Every write happens in one database transaction together with its audit rows and its
outbox rows (``sampling.plans``, ``sampling.draws``), which the ``hub process`` relay
produces after commit. Errors are :class:`PlanError` with an HTTP status and a
machine-readable code; messages never contain personal data.
"""

from __future__ import annotations

import json
import secrets
import uuid
import zlib
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from hub_api.sampling import draw as algo
from hub_api.sampling.models import SamplingAudit, SamplingDraw, SamplingPlan, SamplingSnapshot
from hub_api.sampling.pools import ObjectPool, inspector_pool
from hub_api.sampling.spec import InspectorFilters, ObjectFilters, PlanRequest, Recusal
from processors.entities.models import Entity
from processors.officers.models import Officer
from processors.runtime.contract import Emitted
from processors.runtime.outbox import enqueue
from schemas.regions import region_name

SOURCE_SYSTEM = "hub.sampling"


class PlanError(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


def audit(conn: Connection, plan_id: str, event: str, actor: str, at: datetime, **detail: Any) -> None:
    conn.execute(insert(SamplingAudit).values(plan_id=plan_id, event=event, actor=actor, at=at,
                                              detail=json.dumps(detail, ensure_ascii=False, sort_keys=True)))


def _ms(t: datetime | None) -> int | None:
    return None if t is None else int(t.timestamp() * 1000)


def _envelope(plan: SamplingPlan, key: str, version: str, now: datetime) -> dict[str, Any]:
    return {"record_id": f"{SOURCE_SYSTEM}:{key}:{version}", "source_system": SOURCE_SYSTEM,
            "source_position": {"partition": "sampling", "offset": version}, "operation": "u",
            "event_time": _ms(now), "ingest_time": _ms(now), "region_code": plan.region_code,
            "department_code": plan.department_code, "trace_id": None, "batch": None,
            "source_key": key, "source_version": version}


def plan_record(plan: SamplingPlan, now: datetime) -> dict[str, Any]:
    """The plan as a ``sampling.plans`` value (seed only once drawn)."""
    revealed = plan.status in ("drawn", "completed")
    return {"envelope": _envelope(plan, plan.plan_id, plan.status, now), "plan_id": plan.plan_id,
            "plan_name": plan.name, "year": plan.year, "region_name": plan.region_name,
            "region_code": plan.region_code, "department_uscc": plan.department_uscc,
            "department_name": plan.department_name, "catalog_codes": json.loads(plan.catalog_codes),
            "ratio": float(plan.ratio) if plan.ratio is not None else 0.0,
            "inspectors_per_object": plan.inspectors_per_object, "object_pool_size": plan.object_pool_size,
            "seed_commitment": plan.seed_commitment, "seed": plan.seed if revealed else None,
            "status": plan.status, "published_time": _ms(plan.created_at)}


def emit_plan(conn: Connection, plan: SamplingPlan, now: datetime) -> None:
    enqueue(conn, [Emitted("sampling.plans", plan.plan_id, plan_record(plan, now))], now)


def load_plan(conn: Connection, plan_id: str, lock: bool = False) -> SamplingPlan:
    """The plan (detached object); 404 PlanError if unknown. ``lock``: row lock on PostgreSQL."""
    stmt = select(*SamplingPlan.__table__.c).where(SamplingPlan.plan_id == plan_id)
    if lock and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).mappings().first()
    if row is None:
        raise PlanError(404, "plan_not_found", f"no sampling plan {plan_id!r}")
    return SamplingPlan(**row)


def create_plan(engine: Engine, req: PlanRequest, actor: str, now: datetime) -> SamplingPlan:
    """Store the plan with a fresh secret seed; publish its commitment (audit + ``sampling.plans``)."""
    seed = secrets.token_bytes(32)
    plan = SamplingPlan(
        plan_id=f"DR-{req.year}-{uuid.uuid4().hex[:12]}", name=req.name, year=req.year,
        region_code=req.region_code, region_name=req.region_name or region_name(req.region_code) or req.region_code,
        department_code=req.department_code, department_name=req.department_name,
        department_uscc=req.department_uscc, catalog_codes=json.dumps(req.catalog_codes),
        object_filters=req.object_filters.model_dump_json(), inspector_filters=req.inspector_filters.model_dump_json(),
        ratio=None if req.ratio is None else str(req.ratio), count=req.count,
        inspectors_per_object=req.inspectors_per_object, recusal=req.recusal.model_dump_json(),
        status="published", algorithm=algo.ALGORITHM, seed=seed.hex(), seed_commitment=algo.seed_commitment(seed),
        pseudonym_key=secrets.token_hex(32), created_by=actor, created_at=now)
    values = {c.name: getattr(plan, c.name) for c in SamplingPlan.__table__.c}
    with engine.begin() as conn:
        conn.execute(insert(SamplingPlan).values(**values))
        audit(conn, plan.plan_id, "created", actor, now, seed_commitment=plan.seed_commitment)
        audit(conn, plan.plan_id, "published", actor, now)
        emit_plan(conn, plan, now)
    return plan


def cancel_plan(engine: Engine, plan_id: str, actor: str, now: datetime) -> SamplingPlan:
    with engine.begin() as conn:
        plan = load_plan(conn, plan_id, lock=True)
        if plan.status != "published":
            raise PlanError(409, "plan_immutable", f"plan is {plan.status}; only a published plan can be cancelled")
        conn.execute(update(SamplingPlan).where(SamplingPlan.plan_id == plan_id)
                     .values(status="cancelled", cancelled_at=now))
        plan.status, plan.cancelled_at = "cancelled", now
        audit(conn, plan_id, "cancelled", actor, now)
        emit_plan(conn, plan, now)
    return plan


def refuse_change(engine: Engine, plan_id: str, actor: str, now: datetime) -> None:
    """A change was asked of a plan: refuse it (409) once drawn, and audit the refusal."""
    with engine.begin() as conn:
        plan = load_plan(conn, plan_id)
        audit(conn, plan_id, "change_refused", actor, now, status=plan.status)
    raise PlanError(409, "plan_immutable", f"plan is {plan.status}; plans cannot be changed after creation "
                    "(the seed is committed): cancel it and create a new one")


class SnapshotChunks:
    """Collects a pool's canonical bytes as zlib chunks (the snapshot sink) and replays their entries."""

    def __init__(self) -> None:
        self.parts: list[tuple[bytes, int]] = []

    def __call__(self, data: bytes, entries: int) -> None:
        self.parts.append((zlib.compress(data, 6), entries))

    def entries(self):
        for body, _ in self.parts:
            yield from algo.parse_lines(zlib.decompress(body))


def draw_plan(engine: Engine, plan_id: str, actor: str, now: datetime) -> SamplingPlan:
    """Freeze both pools, reveal the seed, draw, store and emit — all in one transaction."""
    try:
        with engine.begin() as conn:
            return _draw(conn, plan_id, actor, now)
    except algo.DrawError as exc:
        with engine.begin() as conn:
            audit(conn, plan_id, "draw_refused", actor, now, reason=exc.reason)
        raise PlanError(409, exc.reason, exc.message) from None


def _draw(conn: Connection, plan_id: str, actor: str, now: datetime) -> SamplingPlan:
    plan = load_plan(conn, plan_id, lock=True)
    if plan.status in ("drawn", "completed"):
        raise PlanError(409, "already_drawn", "plan was already drawn; a draw is made once")
    if plan.status != "published":
        raise PlanError(409, "plan_not_drawable", f"plan is {plan.status}")
    catalog_codes = json.loads(plan.catalog_codes)
    recusal = Recusal.model_validate_json(plan.recusal)

    objects = ObjectPool(conn, ObjectFilters.model_validate_json(plan.object_filters), plan.region_code,
                         catalog_codes, plan.pseudonym_key)
    chunks = SnapshotChunks()
    builder = algo.SnapshotBuilder(chunks)
    for key, fields in objects:
        builder.add(key, fields)
    object_hash, n_objects = builder.finish(), builder.size
    if n_objects == 0:
        raise algo.DrawError("empty_pool", "the object pool is empty: no entity matches the plan's filters")

    inspectors, _domains = inspector_pool(conn, InspectorFilters.model_validate_json(plan.inspector_filters),
                                          plan.region_code, catalog_codes, now.date())
    ins_chunks = SnapshotChunks()
    ins_builder = algo.SnapshotBuilder(ins_chunks)
    for key, fields in inspectors:
        ins_builder.add(key, fields)
    inspector_hash = ins_builder.finish()

    conflicts = _conflicts(conn, recusal, objects)
    rules = algo.Rules(plan.inspectors_per_object, recusal.same_region,
                       {(c["certificate_number"], c["object_id"]): c["reason"] for c in conflicts})
    n = algo.sample_size(n_objects, plan.ratio, plan.count)
    drawn = algo.run_draw(bytes.fromhex(plan.seed), object_hash, chunks.entries(), n, inspector_hash,
                          inspectors, rules)

    for kind, parts in (("objects", chunks.parts), ("inspectors", ins_chunks.parts)):
        for i in range(0, len(parts), 4):
            conn.execute(insert(SamplingSnapshot), [
                {"plan_id": plan_id, "kind": kind, "chunk": i + j, "entries": entries, "body": body}
                for j, (body, entries) in enumerate(parts[i:i + 4])])
    plan.status, plan.drawn_at, plan.drawn_by = "drawn", now, actor
    plan.object_snapshot_hash, plan.inspector_snapshot_hash = object_hash, inspector_hash
    plan.object_pool_size, plan.inspector_pool_size = n_objects, len(inspectors)
    plan.conflicts = json.dumps(conflicts, ensure_ascii=False)
    conn.execute(update(SamplingPlan).where(SamplingPlan.plan_id == plan_id).values(
        status="drawn", drawn_at=now, drawn_by=actor, object_snapshot_hash=object_hash,
        inspector_snapshot_hash=inspector_hash, object_pool_size=n_objects, inspector_pool_size=len(inspectors),
        conflicts=plan.conflicts))
    rows = _draw_rows(conn, plan_id, drawn, objects)
    for i in range(0, len(rows), 1000):
        conn.execute(insert(SamplingDraw), rows[i:i + 1000])
    audit(conn, plan_id, "drawn", actor, now, seed=plan.seed, object_snapshot_hash=object_hash,
          inspector_snapshot_hash=inspector_hash, object_pool_size=n_objects, inspector_pool_size=len(inspectors),
          drawn=len(rows))
    emit_plan(conn, plan, now)
    enqueue(conn, [Emitted("sampling.draws", plan_id, draw_record(plan, r, now)) for r in rows], now)
    audit(conn, plan_id, "tasks_emitted", actor, now, topic="sampling.draws", count=len(rows))
    return plan


def _conflicts(conn: Connection, recusal, objects: ObjectPool) -> list[dict[str, str]]:
    """The effective conflict list (pool keys), published with the draw."""
    pairs: dict[tuple[str, str], str] = {}
    for c in recusal.conflicts:
        pairs.setdefault((c.certificate_number, objects.key_of(c.entity_id)), c.reason)
    if recusal.previous_plan_id:
        rows = conn.execute(select(SamplingDraw.object_id, SamplingDraw.inspectors)
                            .where(SamplingDraw.plan_id == recusal.previous_plan_id))
        for object_id, team in rows:
            for member in json.loads(team):
                pairs.setdefault((member["certificate_number"], objects.key_of(object_id)), "previous_plan")
    return [{"certificate_number": c, "object_id": o, "reason": r} for (c, o), r in sorted(pairs.items())]


def _draw_rows(conn: Connection, plan_id: str, drawn: list[algo.DrawnObject], objects: ObjectPool) -> list[dict]:
    ids = [objects.natural_persons.get(d.object_key, d.object_key) for d in drawn]
    entities: dict[str, Any] = {}
    for i in range(0, len(ids), 500):
        for row in conn.execute(select(Entity.entity_id, Entity.kind, Entity.name, Entity.uscc, Entity.region_code)
                                .where(Entity.entity_id.in_(ids[i:i + 500]))):
            entities[row.entity_id] = row
    certs = sorted({c for d in drawn for c in d.inspectors})
    names: dict[str, str] = {}
    for i in range(0, len(certs), 500):
        names.update((c, n) for c, n in conn.execute(select(Officer.certificate_number, Officer.name)
                                                     .where(Officer.certificate_number.in_(certs[i:i + 500]))))
    rows = []
    for d, entity_id in zip(drawn, ids, strict=True):
        e = entities[entity_id]
        rows.append({
            "plan_id": plan_id, "draw_index": d.draw_index, "object_key": d.object_key, "object_id": entity_id,
            "object_kind": e.kind, "object_name": e.name, "object_uscc": e.uscc, "object_region_code": e.region_code,
            "inspectors": json.dumps([{"certificate_number": c, "name": names.get(c, "")} for c in d.inspectors],
                                     ensure_ascii=False),
            "recused": json.dumps([{"certificate_number": c, "reason": r} for c, r in d.recused])})
    return rows


def draw_record(plan: SamplingPlan, row: dict, now: datetime) -> dict[str, Any]:
    """One drawn object as a ``sampling.draws`` value: the inspection task for its team."""
    return {"envelope": _envelope(plan, f"{plan.plan_id}:{row['draw_index']}", "drawn", now),
            "plan_id": plan.plan_id, "draw_index": row["draw_index"], "object_id": row["object_id"],
            "object_name": row["object_name"], "object_uscc": row["object_uscc"] or "",
            "inspectors": json.loads(row["inspectors"]),
            "recused": [r["certificate_number"] for r in json.loads(row["recused"])], "drawn_time": _ms(now)}
