"""The cross-province leg of joint tasks over the federation transport (:mod:`hub_api.federation`).

Protocol ``joint-task/1`` (payloads of federation messages):

- ``assignment`` (initiator -> peer, key ``<task_id>/<province>``): the task, the items with
  their enforcement domains (the peer's catalog may not hold them), targets and deadline.
  The peer creates the task locally (``origin_peer`` = sender) and fans it out to its own
  province-level departments.
- ``acceptance`` / ``status`` / ``result`` (peer -> initiator, key ``<task_id>/<event id>``):
  sent after every accept-or-decline / progress / result on the peer's assignments, with
  ``seq`` (the peer's event id, increasing) and the peer's aggregate ``overall`` state. The
  initiator moves its ``peer`` assignment for that province accordingly; a message with a
  ``seq`` not above the last applied one is ignored (retries and reordering are harmless).

Messages are queued with :func:`queue_on` on the caller's connection, inside the same
transaction as the task change (run it under :func:`hub_api.federation.chain.with_retry`).
A payload without ``"protocol": "joint-task/1"`` is not ours and goes to the default
inbox handler, so other uses of the same message types keep working.
"""

from __future__ import annotations

import json
from datetime import date

import sqlalchemy as sa
from pydantic import ValidationError

from hub_api.federation import outbound
from hub_api.federation.handlers import HANDLERS, InboundMessage, store_in_inbox
from hub_api.tasks import service
from hub_api.tasks.models import task_assignments
from hub_api.tasks.spec import Department, Participant, TaskCreate
from processors.runtime.contract import Context
from processors.runtime.outbox import enqueue

PROTOCOL = "joint-task/1"
BACK_TYPES = {"accept": "acceptance", "decline": "acceptance", "progress": "status", "result": "result"}


def queue_on(conn: sa.Connection, *, peer: str, type: str, payload: dict, idempotency_key: str, now) -> str:
    """Queue one outbound federation message in the caller's transaction; returns its id.

    A task and the message that carries it must commit together, so this writes on the caller's
    connection (which must hold the log's append lock: ``chain.with_retry``).
    """
    row, _created = outbound.queue_on(conn, peer=peer, type=type, payload=payload,
                                      idempotency_key=idempotency_key, now=now, same_payload=False)
    return row["message_id"]


def send_assignments(conn: sa.Connection, ctx: Context, task: dict, item_domain: dict[str, str]) -> None:
    """Queue one ``assignment`` message per peer assignment of a newly created task."""
    for a in service.assignments_of(conn, task["task_id"]):
        if a["kind"] != "peer":
            continue
        payload = {"protocol": PROTOCOL, "task_id": task["task_id"], "title": task["title"],
                   "description": task["description"], "instructions": task["instructions"],
                   "initiator": {"department_code": task["initiator_code"], "department_name": task["initiator_name"],
                                 "region_code": task["region_code"]},
                   "province_code": a["region_code"][:2], "item_domains": item_domain,
                   "target_entity_ids": json.loads(task["target_entity_ids"]),
                   "visit_date": _d(task["visit_date"]), "due_date": _d(task["due_date"])}
        queue_on(conn, peer=a["peer"], type="assignment", payload=payload,
                 idempotency_key=f"{task['task_id']}/{a['region_code'][:2]}", now=ctx.now)
        service.event(conn, ctx, task["task_id"], "federation_sent", service.SOURCE, a["assignment_id"],
                      peer=a["peer"], type="assignment")


def report_back(conn: sa.Connection, ctx: Context, task: dict, action: str, assignment: dict, version: int) -> None:
    """After a local action on a task received from a peer: tell the initiating hub."""
    if not task["origin_peer"]:
        return
    rows = service.assignments_of(conn, task["task_id"])
    payload = {"protocol": PROTOCOL, "task_id": task["task_id"], "seq": version,
               "overall": service.overall(rows, ctx.now), "action": action,
               "assignments": [{"department_code": a["department_code"], "status": a["status"]} for a in rows],
               "note": assignment["note"], "result_summary": assignment["result_summary"],
               "inspection_numbers": sorted({n for a in rows for n in json.loads(a["inspection_numbers"])})}
    queue_on(conn, peer=task["origin_peer"], type=BACK_TYPES[action], payload=payload,
             idempotency_key=f"{task['task_id']}/{version}", now=ctx.now)


def _d(v) -> str | None:
    return v.isoformat() if isinstance(v, date) else v


# --- inbound handlers (run inside the federation receive transaction) ---------------------
def on_assignment(own_hub_id: str):
    def handle(conn: sa.Connection, message: InboundMessage) -> dict | None:
        p = message.payload
        if not isinstance(p, dict) or p.get("protocol") != PROTOCOL:
            return store_in_inbox(conn, message)
        province = own_hub_id[:2]
        if p.get("province_code") != province:
            return {"ignored": "not_for_this_province"}
        ctx = Context(now=message.received_at)
        try:
            item_domain = {str(k): str(v) for k, v in dict(p.get("item_domains") or {}).items()}
            body = TaskCreate(
                task_id=p["task_id"], title=p["title"], description=p.get("description") or "",
                instructions=p.get("instructions"), initiator=Department(**p["initiator"]),
                participants=[Participant(region_code=f"{province}0000")], catalog_codes=list(item_domain),
                target_entity_ids=p.get("target_entity_ids") or [], visit_date=p.get("visit_date"),
                due_date=p["due_date"])
            task, created = service.create(conn, ctx, body, actor=f"peer:{message.peer}", own_province=province,
                                           origin_peer=message.peer, item_domain=item_domain)
        except (ValidationError, KeyError, TypeError, ValueError) as exc:
            # Acknowledged but not applied: retrying a malformed message would never succeed.
            return {"refused": "invalid_payload", "error": type(exc).__name__}
        except service.TaskError as exc:
            return {"refused": exc.reason}
        service.event(conn, ctx, task["task_id"], "federation_received", f"peer:{message.peer}",
                      type="assignment", message_id=message.message_id)
        enqueue(conn, ctx.emitted, ctx.now)
        return {"task_id": task["task_id"], "created": created}
    return handle


def on_report(conn: sa.Connection, message: InboundMessage) -> dict | None:
    """acceptance / status / result from a participating province: move its peer assignment."""
    p = message.payload
    if not isinstance(p, dict) or p.get("protocol") != PROTOCOL:
        return store_in_inbox(conn, message)
    ctx = Context(now=message.received_at)
    task = service.get_task(conn, str(p.get("task_id")))
    a = conn.execute(sa.select(task_assignments).where(
        task_assignments.c.task_id == str(p.get("task_id")), task_assignments.c.kind == "peer",
        task_assignments.c.peer == message.peer)).mappings().first()
    if task is None or a is None:
        return {"ignored": "unknown_task"}
    a = dict(a)
    seq = int(p.get("seq") or 0)
    if a["peer_seq"] is not None and seq <= a["peer_seq"]:
        return {"ignored": "stale"}
    peer_overall = p.get("overall")
    status = {"completed": "completed", "declined": "declined", "in_progress": "in_progress",
              "overdue": "in_progress"}.get(peer_overall, a["status"])
    if message.type == "acceptance" and status not in ("completed", "declined"):
        status = "accepted" if a["status"] == "dispatched" else a["status"]
    values = {"status": status, "peer_seq": seq, "updated_at": ctx.now, "note": p.get("note"),
              "result_summary": p.get("result_summary") if status == "completed" else a["result_summary"],
              "inspection_numbers": json.dumps(list(p.get("inspection_numbers") or []))}
    was = a["status"]
    conn.execute(task_assignments.update().where(task_assignments.c.assignment_id == a["assignment_id"]).values(**values))
    a.update(values)
    version = service.event(conn, ctx, task["task_id"], f"peer_{message.type}", f"peer:{message.peer}",
                            a["assignment_id"], status=status, peer_overall=peer_overall, seq=seq)
    service.emit_status(ctx, task, a, status, version, note=a["note"], result=a["result_summary"],
                        numbers=json.loads(a["inspection_numbers"]))
    if status == "completed" and was != "completed":
        service.maybe_completed(conn, ctx, task, version)
    enqueue(conn, ctx.emitted, ctx.now)
    return {"task_id": task["task_id"], "status": status}


def install(handlers: dict, own_hub_id: str) -> dict:
    """Put the joint-task handlers into a federation handler registry (a dict, changed in place)."""
    handlers["assignment"] = on_assignment(own_hub_id)
    for kind in ("acceptance", "status", "result"):
        handlers[kind] = on_report
    return handlers


__all__ = ["HANDLERS", "install", "queue_on", "report_back", "send_assignments"]
