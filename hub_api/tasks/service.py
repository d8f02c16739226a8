"""Joint-task state changes, each inside the caller's transaction (SQLAlchemy Core on ``conn``).

Every function takes ``ctx`` (a :class:`processors.runtime.contract.Context`): time comes
from ``ctx.now`` and outputs are queued with ``ctx.emit``; the caller enqueues
``ctx.emitted`` into the transactional outbox in the same transaction
(:func:`run`), and federation messages are queued in that transaction too
(:mod:`hub_api.tasks.federation`), so a task, its events, its Kafka records and its
cross-province messages commit together or not at all.

Assignment statuses: ``dispatched`` -> ``accepted`` | ``declined``; ``accepted`` ->
``in_progress`` -> ``completed`` (a result may also come straight after acceptance).
``overdue`` is derived (due time passed, not completed or declined), never stored.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from hub_api.tasks import resolve
from hub_api.tasks.models import joint_tasks, task_assignments, task_events, task_visits
from hub_api.tasks.spec import TaskCreate
from processors.cases.calendar import end_of_local_day
from processors.runtime.contract import Context

SOURCE = "hub.tasks"
OPEN = ("dispatched", "accepted", "in_progress")
STANDARD_STATE = {"dispatched": "dispatched", "accepted": "received", "declined": "rejected",
                  "in_progress": "in_progress", "completed": "completed", "overdue": "overdue"}
ALLOWED = {  # action -> statuses it may start from
    "accept": ("dispatched", "accepted"),
    "decline": ("dispatched",),
    "progress": ("accepted", "in_progress"),
    "result": ("accepted", "in_progress"),
}


class TaskError(Exception):
    """A refused request: HTTP ``status`` and machine-readable ``reason``."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


def utc(when: datetime | None) -> datetime | None:
    if when is None:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def ms(when: datetime | None) -> int | None:
    return None if when is None else int(utc(when).timestamp() * 1000)


# --- records ---------------------------------------------------------------------------
def event(conn: sa.Connection, ctx: Context, task_id: str, kind: str, actor: str,
          assignment_id: str | None = None, **detail: Any) -> int:
    """Append one history entry; returns its id (also the version of the records it causes)."""
    return conn.execute(task_events.insert().values(
        task_id=task_id, assignment_id=assignment_id, kind=kind, actor=actor[:128], at=ctx.now,
        detail=json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str))).inserted_primary_key[0]


def envelope(key: str, version: int, now: datetime, region: str, department: str, op: str = "u") -> dict:
    return {"record_id": f"{SOURCE}:{key}:{version}", "source_system": SOURCE,
            "source_position": {"partition": SOURCE, "offset": str(version)}, "operation": op,
            "event_time": ms(now), "ingest_time": ms(now), "region_code": region, "department_code": department,
            "trace_id": None, "batch": None, "source_key": key, "source_version": str(version)}


def emit_status(ctx: Context, task: dict, a: dict | None, status: str, version: int, *,
                note: str | None = None, result: str | None = None, numbers: list[str] | None = None) -> None:
    key = a["assignment_id"] if a else task["task_id"]
    region = a["region_code"] if a else task["region_code"]
    dept = a["department_code"] if a else task["initiator_code"]
    ctx.emit("task.status", {
        "envelope": envelope(f"{key}#status", version, ctx.now, region, dept),
        "task_id": task["task_id"], "assignment_id": a["assignment_id"] if a else None,
        "department": {"code": dept, "name": a["department_name"] if a else task["initiator_name"],
                       "code_system": None},
        "status": STANDARD_STATE[status], "status_time": ms(ctx.now), "note": note, "result_summary": result,
        "inspection_numbers": list(numbers or [])})


# --- reads -----------------------------------------------------------------------------
def get_task(conn: sa.Connection, task_id: str) -> dict | None:
    row = conn.execute(sa.select(joint_tasks).where(joint_tasks.c.task_id == task_id)).mappings().first()
    return dict(row) if row else None


def assignments_of(conn: sa.Connection, task_id: str) -> list[dict]:
    return [dict(r) for r in conn.execute(sa.select(task_assignments).where(task_assignments.c.task_id == task_id)
                                          .order_by(task_assignments.c.assignment_id)).mappings()]


def is_overdue(a: dict, now: datetime) -> bool:
    due = utc(a["due_time"])
    return a["status"] in OPEN and due is not None and now >= due


def overall(assignments: list[dict], now: datetime) -> str:
    """Aggregate state: completed / overdue / in_progress / dispatched (declined if every one declined)."""
    live = [a for a in assignments if a["status"] != "declined"]
    if not live:
        return "declined" if assignments else "dispatched"
    if all(a["status"] == "completed" for a in live):
        return "completed"
    if any(is_overdue(a, now) for a in live):
        return "overdue"
    if any(a["status"] in ("accepted", "in_progress", "completed") for a in live):
        return "in_progress"
    return "dispatched"


def view(conn: sa.Connection, task_id: str, now: datetime) -> dict | None:
    """The task with each assignment's status and the aggregate state (what ``GET /tasks/{id}`` answers)."""
    task = get_task(conn, task_id)
    if task is None:
        return None
    rows = assignments_of(conn, task_id)
    out = []
    for a in rows:
        out.append({"assignment_id": a["assignment_id"], "kind": a["kind"], "peer": a["peer"],
                    "department": {"code": a["department_code"], "name": a["department_name"]},
                    "region_code": a["region_code"], "role": a["role"],
                    "catalog_codes": json.loads(a["catalog_codes"]),
                    "status": a["status"], "overdue": is_overdue(a, now),
                    "due_time": _iso(a["due_time"]), "visit_date": _iso(a["visit_date"]), "note": a["note"],
                    "result_summary": a["result_summary"], "inspection_numbers": json.loads(a["inspection_numbers"]),
                    "reminded_at": _iso(a["reminded_at"]), "escalated_at": _iso(a["escalated_at"]),
                    "escalated_to": a["escalated_to"]})
    counts: dict[str, int] = {}
    for a in out:
        key = "overdue" if a["overdue"] else a["status"]
        counts[key] = counts.get(key, 0) + 1
    return {"task_id": task["task_id"], "title": task["title"], "scope": task["scope"],
            "description": task["description"], "instructions": task["instructions"],
            "initiator": {"code": task["initiator_code"], "name": task["initiator_name"],
                          "region_code": task["region_code"]},
            "origin_peer": task["origin_peer"], "catalog_codes": json.loads(task["catalog_codes"]),
            "target_entity_ids": json.loads(task["target_entity_ids"]), "plan_id": task["plan_id"],
            "province_codes": json.loads(task["province_codes"]), "due_date": _iso(task["due_date"]),
            "visit_date": _iso(task["visit_date"]), "created_at": _iso(task["created_at"]),
            "state": overall(rows, now), "counts": counts, "assignments": out}


def _iso(v) -> str | None:
    if v is None:
        return None
    return utc(v).isoformat() if isinstance(v, datetime) else v.isoformat()


def history(conn: sa.Connection, task_id: str) -> list[dict]:
    return [{"id": r.id, "assignment_id": r.assignment_id, "kind": r.kind, "actor": r.actor, "at": _iso(r.at),
             "detail": json.loads(r.detail)}
            for r in conn.execute(sa.select(task_events).where(task_events.c.task_id == task_id)
                                  .order_by(task_events.c.id))]


# --- creation --------------------------------------------------------------------------
def create(conn: sa.Connection, ctx: Context, body: TaskCreate, *, actor: str, own_province: str,
           origin_peer: str | None = None, item_domain: dict[str, str] | None = None) -> tuple[dict, bool]:
    """Create a task and fan it out; returns (task row, created). Same ``task_id`` again: (existing, False).

    ``item_domain`` (catalog code -> domain) is given for a task received from a peer hub,
    whose items may be missing from this hub's catalog; otherwise it is read from ``items``.
    """
    task_id = body.task_id or f"JT-{uuid.uuid4().hex[:16]}"
    existing = get_task(conn, task_id)
    if existing is not None:
        if existing["origin_peer"] != origin_peer or existing["title"] != body.title:
            raise TaskError(409, "task_exists", f"task {task_id} already exists with different content")
        return existing, False
    own_province = own_province[:2]
    if body.initiator.region_code[:2] != own_province and origin_peer is None:
        raise TaskError(422, "foreign_initiator", f"the initiator must be a department of province {own_province}")
    if own_province in body.province_codes:
        raise TaskError(422, "own_province", "province_codes lists other provinces; use participants for this one")
    try:
        targets, plan_items = ([], [])
        if body.plan_id:
            targets, plan_items = resolve.plan_targets(conn, body.plan_id)
        catalog_codes = list(dict.fromkeys(body.catalog_codes or plan_items))
        domains = item_domain if item_domain is not None else resolve.item_domains(conn, catalog_codes)
        departments: dict[str, resolve.Target] = {}
        for p in body.participants:
            if p.region_code[:2] != own_province:
                raise resolve.ResolveError("foreign_region", f"participant region {p.region_code} is in another "
                                                             "province: list it in province_codes")
            found = ([resolve.Target(p.department_code, p.department_name, p.region_code, tuple(catalog_codes))]
                     if p.department_code else resolve.departments_for_region(p.region_code, domains))
            for t in found:
                departments.setdefault(t.department_code, t)
    except resolve.ResolveError as exc:
        raise TaskError(422, exc.reason, str(exc)) from None
    targets = list(dict.fromkeys(body.target_entity_ids or targets))
    scope = ("cross_province" if body.province_codes or origin_peer else
             "cross_region" if len({t.region_code for t in departments.values()} | {body.initiator.region_code}) > 1
             else "cross_department")
    due_time = end_of_local_day(body.due_date)
    visit_date = body.visit_date or body.due_date
    now = ctx.now
    task = {"task_id": task_id, "title": body.title, "scope": scope, "description": body.description,
            "instructions": body.instructions, "initiator_code": body.initiator.department_code,
            "initiator_name": body.initiator.department_name, "region_code": body.initiator.region_code,
            "catalog_codes": json.dumps(catalog_codes), "target_entity_ids": json.dumps(targets),
            "plan_id": body.plan_id, "province_codes": json.dumps(body.province_codes), "visit_date": visit_date,
            "due_date": body.due_date, "due_time": due_time, "origin_peer": origin_peer, "created_by": actor[:128],
            "created_at": now, "updated_at": now}
    conn.execute(joint_tasks.insert().values(**task))
    version = event(conn, ctx, task_id, "created", actor, scope=scope, departments=len(departments),
                    provinces=body.province_codes, targets=len(targets), origin_peer=origin_peer)
    ctx.emit("task.joint", {
        "envelope": envelope(task_id, version, now, task["region_code"], task["initiator_code"], "i"),
        "task_id": task_id, "title": body.title, "scope": scope, "description": body.description,
        "initiator": {"code": task["initiator_code"], "name": task["initiator_name"], "code_system": None},
        "region_code": task["region_code"],
        "participants": [{"code": t.department_code, "name": t.department_name, "code_system": None}
                         for t in departments.values()],
        "province_codes": body.province_codes, "catalog_codes": catalog_codes, "target_entity_ids": targets,
        "origin_ref": body.plan_id, "start_date": None, "due_date": body.due_date, "created_time": ms(now)})
    rows = [_assignment(task_id, "local", None, t.department_code, t.department_name, t.region_code,
                        list(t.catalog_codes), due_time, visit_date, now) for t in departments.values()]
    rows += [_assignment(task_id, "peer", f"{p}0000", f"{p}0000", f"province {p} hub", f"{p}0000",
                         catalog_codes, due_time, None, now) for p in dict.fromkeys(body.province_codes)]
    if rows:
        conn.execute(task_assignments.insert(), rows)
    regions_of = resolve.entity_regions(conn, targets)
    for a in rows:
        v = event(conn, ctx, task_id, "dispatched", actor, a["assignment_id"], department=a["department_code"])
        ctx.emit("task.assignments", {
            "envelope": envelope(a["assignment_id"], v, now, a["region_code"], a["department_code"], "i"),
            "task_id": task_id, "assignment_id": a["assignment_id"],
            "department": {"code": a["department_code"], "name": a["department_name"], "code_system": None},
            "region_code": a["region_code"], "role": "participant", "assigned_time": ms(now),
            "due_time": ms(due_time), "officers": [], "instructions": body.instructions})
        if a["kind"] == "local":
            plan_visits(conn, a, [e for e in targets if resolve.covers(a["region_code"], regions_of[e])])
    emit_status(ctx, task, None, "dispatched", version)
    ctx.count("task_created")
    ctx.count("assignment_dispatched", len(rows))
    return task, True


def _assignment(task_id, kind, peer, code, name, region, items, due_time, visit_date, now) -> dict:
    return {"assignment_id": f"{task_id}.{code}"[:160], "task_id": task_id, "kind": kind, "peer": peer,
            "department_code": code, "department_name": name, "region_code": region, "role": "participant",
            "catalog_codes": json.dumps(items), "status": "dispatched", "due_time": due_time,
            "visit_date": visit_date, "note": None, "result_summary": None, "inspection_numbers": "[]",
            "peer_seq": None, "reminded_at": None, "escalated_at": None, "escalated_to": None,
            "created_at": now, "updated_at": now}


# --- visits (进一次门、查多项事) -----------------------------------------------------------
def visit_id(entity_id: str, day: date) -> str:
    return f"V-{day:%Y%m%d}-{entity_id}"[:64]


def plan_visits(conn: sa.Connection, a: dict, entity_ids: list[str]) -> None:
    """(Re)place ``a``'s visit memberships: one per target entity on the assignment's visit day."""
    conn.execute(task_visits.delete().where(task_visits.c.assignment_id == a["assignment_id"]))
    if not entity_ids or a["visit_date"] is None:
        return
    conn.execute(task_visits.insert(), [
        {"visit_id": visit_id(e, a["visit_date"]), "assignment_id": a["assignment_id"], "entity_id": e,
         "visit_date": a["visit_date"], "task_id": a["task_id"], "department_code": a["department_code"],
         "department_name": a["department_name"], "catalog_codes": a["catalog_codes"]} for e in entity_ids])


def visits(conn: sa.Connection, day: date, department: str | None = None) -> list[dict]:
    """Merged visits of ``day``: one per entity, listing every department, item, task and assignment.

    With ``department``, the visits that department takes part in (with everyone else coming along).
    """
    q = sa.select(task_visits).where(task_visits.c.visit_date == day)
    if department:
        mine = sa.select(task_visits.c.visit_id).where(task_visits.c.visit_date == day,
                                                       task_visits.c.department_code == department)
        q = q.where(task_visits.c.visit_id.in_(mine))
    merged: dict[str, dict] = {}
    for r in conn.execute(q.order_by(task_visits.c.visit_id, task_visits.c.assignment_id)).mappings():
        v = merged.setdefault(r["visit_id"], {"visit_id": r["visit_id"], "entity_id": r["entity_id"],
                                              "date": day.isoformat(), "departments": [], "catalog_codes": [],
                                              "task_ids": [], "assignment_ids": []})
        if r["department_code"] not in [d["code"] for d in v["departments"]]:
            v["departments"].append({"code": r["department_code"], "name": r["department_name"]})
        for c in json.loads(r["catalog_codes"]):
            if c not in v["catalog_codes"]:
                v["catalog_codes"].append(c)
        if r["task_id"] not in v["task_ids"]:
            v["task_ids"].append(r["task_id"])
        v["assignment_ids"].append(r["assignment_id"])
    return list(merged.values())


# --- participant actions ---------------------------------------------------------------
def act(conn: sa.Connection, ctx: Context, task_id: str, assignment_id: str, action: str, body, *,
        actor: str, department: str | None = None) -> tuple[dict, dict, int]:
    """Apply accept / decline / progress / result to a local assignment; returns (task, assignment, event id).

    ``department`` is the acting client's department, if it is registered for one: it may act only
    on that department's assignments (403 ``wrong_department``). Clients without a department
    (the hub's operators, a department system acting for several) are not restricted.
    """
    task = get_task(conn, task_id)
    a = conn.execute(sa.select(task_assignments).where(task_assignments.c.assignment_id == assignment_id,
                                                       task_assignments.c.task_id == task_id)).mappings().first()
    if task is None or a is None:
        raise TaskError(404, "not_found", "no such task or assignment")
    a = dict(a)
    if a["kind"] != "local":
        raise TaskError(409, "peer_assignment", "a province's assignment changes only through that province's hub")
    if department and a["department_code"] != department:
        raise TaskError(403, "wrong_department", f"this assignment belongs to {a['department_code']}; "
                        f"this client acts for {department}")
    if a["status"] not in ALLOWED[action]:
        raise TaskError(409, "invalid_transition", f"cannot {action} an assignment that is {a['status']}")
    values: dict[str, Any] = {"updated_at": ctx.now}
    detail: dict[str, Any] = {}
    if action == "accept":
        values["status"], values["note"] = "accepted", body.note
        if body.visit_date is not None:
            values["visit_date"] = body.visit_date
            detail["visit_date"] = body.visit_date.isoformat()
    elif action == "decline":
        values["status"], values["note"] = "declined", body.reason
    elif action == "progress":
        values["status"], values["note"] = "in_progress", body.note
        values["inspection_numbers"] = json.dumps(_merge(a["inspection_numbers"], body.inspection_numbers))
    else:
        values["status"], values["result_summary"] = "completed", body.summary
        values["inspection_numbers"] = json.dumps(_merge(a["inspection_numbers"], body.inspection_numbers))
    conn.execute(task_assignments.update().where(task_assignments.c.assignment_id == assignment_id).values(**values))
    a.update(values)
    if action == "decline":
        plan_visits(conn, a, [])
    elif "visit_date" in values:
        entities = list(conn.execute(sa.select(task_visits.c.entity_id)
                                     .where(task_visits.c.assignment_id == assignment_id)).scalars())
        plan_visits(conn, a, entities)
    version = event(conn, ctx, task_id, action, actor, assignment_id, status=a["status"], **detail)
    emit_status(ctx, task, a, a["status"], version, note=a["note"], result=a["result_summary"],
                numbers=json.loads(a["inspection_numbers"]))
    conn.execute(joint_tasks.update().where(joint_tasks.c.task_id == task_id).values(updated_at=ctx.now))
    maybe_completed(conn, ctx, task, version)
    ctx.count(f"assignment_{action}")
    return task, a, version


def maybe_completed(conn: sa.Connection, ctx: Context, task: dict, version: int) -> None:
    """Emit the task-level ``completed`` status once every live assignment is completed."""
    if overall(assignments_of(conn, task["task_id"]), ctx.now) == "completed":
        emit_status(ctx, task, None, "completed", version)
        event(conn, ctx, task["task_id"], "completed", SOURCE)


def _merge(old_json: str, new: list[str]) -> list[str]:
    return list(dict.fromkeys(json.loads(old_json) + list(new)))
