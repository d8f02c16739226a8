"""What the public sees of a plan ("one public"): the plan, the published draw data, results, audit.

Nothing here writes. The seed and pseudonym key never leave the hub before the draw; the
pseudonym key never leaves it at all. Personal data (names of natural persons and
officers) is masked by the caller's :class:`hub_api.pii.PiiViewer` in the routes.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, select

from hub_api.sampling import draw as algo
from hub_api.sampling.models import SamplingAudit, SamplingDraw, SamplingPlan, SamplingSnapshot
from hub_api.sampling.pools import NATURAL_PERSON

DRAWN = ("drawn", "completed")


def iso(t) -> str | None:
    return None if t is None else t.isoformat()


def plan_view(plan: SamplingPlan) -> dict[str, Any]:
    """The plan as published: rules and commitment; after the draw also seed and snapshot hashes."""
    drawn = plan.status in DRAWN
    return {
        "plan_id": plan.plan_id, "name": plan.name, "year": plan.year, "status": plan.status,
        "region_code": plan.region_code, "region_name": plan.region_name,
        "department_code": plan.department_code, "department_name": plan.department_name,
        "department_uscc": plan.department_uscc, "catalog_codes": json.loads(plan.catalog_codes),
        "object_filters": json.loads(plan.object_filters), "inspector_filters": json.loads(plan.inspector_filters),
        "ratio": plan.ratio, "count": plan.count, "inspectors_per_object": plan.inspectors_per_object,
        "recusal": json.loads(plan.recusal), "algorithm": plan.algorithm, "seed_commitment": plan.seed_commitment,
        "seed": plan.seed if drawn else None,
        "object_snapshot_hash": plan.object_snapshot_hash, "inspector_snapshot_hash": plan.inspector_snapshot_hash,
        "object_pool_size": plan.object_pool_size, "inspector_pool_size": plan.inspector_pool_size,
        "created_by": plan.created_by, "created_at": iso(plan.created_at), "drawn_at": iso(plan.drawn_at),
        "completed_at": iso(plan.completed_at), "cancelled_at": iso(plan.cancelled_at),
    }


def draw_rows(conn: Connection, plan_id: str) -> list[Any]:
    return conn.execute(select(SamplingDraw.__table__).where(SamplingDraw.plan_id == plan_id)
                        .order_by(SamplingDraw.draw_index)).all()


def draw_entry(row) -> dict[str, Any]:
    """One drawn object, SamplingDraw-shaped (mask with the caller's PiiViewer before returning)."""
    natural = row.object_kind == NATURAL_PERSON
    return {"draw_index": row.draw_index, "object_id": row.object_key if natural else row.object_id,
            "object_name": row.object_name, "object_uscc": row.object_uscc or "",
            "object_region_code": row.object_region_code, "inspectors": json.loads(row.inspectors),
            "recused": json.loads(row.recused), "inspection_number": row.inspection_number}


def snapshot_bytes(conn: Connection, plan_id: str, kind: str) -> Iterator[bytes]:
    """The frozen pool's canonical bytes, chunk by chunk (they hash to the snapshot hash)."""
    chunks = conn.execute(select(SamplingSnapshot.chunk).where(SamplingSnapshot.plan_id == plan_id,
                                                               SamplingSnapshot.kind == kind)
                          .order_by(SamplingSnapshot.chunk)).scalars().all()
    for chunk in chunks:
        body = conn.execute(select(SamplingSnapshot.body).where(
            SamplingSnapshot.plan_id == plan_id, SamplingSnapshot.kind == kind,
            SamplingSnapshot.chunk == chunk)).scalar_one()
        yield zlib.decompress(body)


def published(conn: Connection, plan: SamplingPlan) -> dict[str, Any]:
    """Everything needed to re-run the draw (input of :func:`hub_api.sampling.draw.verify`)."""
    pools = {}
    for kind, digest, size in (("objects", plan.object_snapshot_hash, plan.object_pool_size),
                               ("inspectors", plan.inspector_snapshot_hash, plan.inspector_pool_size)):
        entries = [[k, f] for part in snapshot_bytes(conn, plan.plan_id, kind) for k, f in algo.parse_lines(part)]
        pools[kind] = {"snapshot_hash": digest, "size": size, "fields": list(
            algo.OBJECT_FIELDS if kind == "objects" else algo.INSPECTOR_FIELDS), "entries": entries}
    recusal = json.loads(plan.recusal)
    return {
        "algorithm": plan.algorithm, "plan_id": plan.plan_id, "seed": plan.seed,
        "seed_commitment": plan.seed_commitment,
        "selection": {"ratio": plan.ratio, "count": plan.count},
        "inspectors_per_object": plan.inspectors_per_object,
        "recusal": {"same_region": recusal.get("same_region"), "conflicts": json.loads(plan.conflicts or "[]")},
        "objects": pools["objects"], "inspectors": pools["inspectors"],
        "draw": [{"draw_index": r.draw_index, "object_id": r.object_key,
                  "inspectors": [m["certificate_number"] for m in json.loads(r.inspectors)],
                  "recused": json.loads(r.recused)} for r in draw_rows(conn, plan.plan_id)],
    }


def results(conn: Connection, plan: SamplingPlan) -> list[dict[str, Any]]:
    """Per drawn object: identity (pseudonym for natural persons), result code/name, inspection date."""
    out = []
    for r in draw_rows(conn, plan.plan_id):
        natural = r.object_kind == NATURAL_PERSON
        out.append({"draw_index": r.draw_index, "object_id": r.object_key if natural else r.object_id,
                    "object_uscc": None if natural else r.object_uscc, "object_name": None if natural else r.object_name,
                    "region_code": r.object_region_code, "result_code": r.inspection_result_code,
                    "result_name": r.inspection_result_name,
                    "inspection_date": r.inspection_time.date().isoformat() if r.inspection_time else None})
    return out


def audit_events(conn: Connection, plan_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(select(SamplingAudit.__table__).where(SamplingAudit.plan_id == plan_id)
                        .order_by(SamplingAudit.id))
    return [{"event": a.event, "actor": a.actor, "at": iso(a.at), "detail": json.loads(a.detail)} for a in rows]
