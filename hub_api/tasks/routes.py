"""``/tasks``: joint supervision tasks (联合监管任务); every route needs the ``tasks:write`` scope.

A client registered for a department initiates tasks only as that department and acts only on
that department's assignments (403 ``wrong_department``); clients without one are not restricted.

Writes run in one transaction (under the federation log's append lock, since a task with
other provinces queues federation messages in it) that holds the task change, its
history, its outbox records (``task.joint``, ``task.assignments``, ``task.status``) and
its federation messages. The router's lifespan installs the joint-task federation
handlers into ``app.state.federation_handlers``.
"""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Query, Request

from hub_api.auth.deps import require_scope
from hub_api.auth.service import Principal
from hub_api.federation import chain
from hub_api.federation.handlers import HANDLERS
from hub_api.federation.outbound import SendError
from hub_api.tasks import federation, resolve, service
from hub_api.tasks.models import joint_tasks, task_assignments
from hub_api.tasks.spec import Accept, Decline, Progress, Result, TaskCreate
from processors.runtime.contract import Context
from processors.runtime.outbox import enqueue

Writer = Annotated[Principal, Depends(require_scope("tasks:write"))]


@asynccontextmanager
async def lifespan(app):
    handlers = getattr(app.state, "federation_handlers", None)
    if handlers is None:
        handlers = app.state.federation_handlers = dict(HANDLERS)
    federation.install(handlers, app.state.settings.federation_hub_id)
    yield


router = APIRouter(prefix="/tasks", tags=["tasks"], lifespan=lifespan)


def _now(request: Request) -> datetime:
    clock = getattr(request.app.state, "clock", None)
    return clock.now() if clock is not None else datetime.now(UTC)


def _fail(status: int, reason: str, message: str) -> HTTPException:
    error = {403: "forbidden", 404: "not_found", 409: "conflict", 422: "validation_error"}.get(status, "error")
    return HTTPException(status, detail={"error": error, "reason": reason, "message": message})


def _write(request: Request, fn):
    """Run ``fn(conn, ctx)`` in one transaction with its outbox rows; wake the federation dispatcher."""
    now = _now(request)

    def work(conn: sa.Connection):
        ctx = Context(now=now)
        out = fn(conn, ctx)
        enqueue(conn, ctx.emitted, now)
        return out

    try:
        out = chain.with_retry(request.app.state.db.engine, work)
    except service.TaskError as exc:
        raise _fail(exc.status, exc.reason, exc.message) from None
    except SendError as exc:
        raise _fail(422, "unknown_peer", str(exc)) from None
    dispatcher = getattr(request.app.state, "federation_dispatcher", None)
    if dispatcher is not None:
        dispatcher.wake()
    return out


@router.post("", status_code=201, summary="Create a joint task and fan it out to its participants")
def create_task(body: TaskCreate, request: Request, principal: Writer) -> dict:
    own = request.app.state.settings.federation_hub_id
    if principal.department_code and body.initiator.department_code != principal.department_code:
        raise _fail(403, "wrong_department", f"this client acts for {principal.department_code}; it cannot "
                    f"initiate a task as {body.initiator.department_code}")

    def fn(conn, ctx):
        task, created = service.create(conn, ctx, body, actor=principal.client_id, own_province=own)
        if created and body.province_codes:
            codes = json.loads(task["catalog_codes"])
            federation.send_assignments(conn, ctx, task, resolve.item_domains(conn, codes))
        return service.view(conn, task["task_id"], ctx.now)

    return _write(request, fn)


@router.get("", summary="Tasks a department initiated or takes part in, with their aggregate state")
def list_tasks(request: Request, _: Writer, department: str | None = None,
               limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[dict]:
    q = sa.select(joint_tasks.c.task_id).order_by(joint_tasks.c.created_at.desc(), joint_tasks.c.task_id).limit(limit)
    if department:
        mine = sa.select(task_assignments.c.task_id).where(task_assignments.c.department_code == department)
        q = q.where(sa.or_(joint_tasks.c.initiator_code == department, joint_tasks.c.task_id.in_(mine)))
    now = _now(request)
    with request.app.state.db.engine.connect() as conn:
        out = []
        for task_id in conn.execute(q).scalars():
            v = service.view(conn, task_id, now)
            out.append({k: v[k] for k in ("task_id", "title", "scope", "initiator", "due_date", "state", "counts",
                                          "origin_peer")})
        return out


@router.get("/visits", summary="Merged visits of a day (进一次门、查多项事): one per entity, every item and department")
def list_visits(request: Request, _: Writer, day: Annotated[date, Query(alias="date")],
                department: str | None = None) -> list[dict]:
    with request.app.state.db.engine.connect() as conn:
        return service.visits(conn, day, department)


@router.get("/{task_id}", summary="A task: each assignment's status and the aggregate state")
def get_task(task_id: str, request: Request, _: Writer, events: bool = False) -> dict:
    with request.app.state.db.engine.connect() as conn:
        v = service.view(conn, task_id, _now(request))
        if v is None:
            raise _fail(404, "not_found", "no such task")
        if events:
            v["events"] = service.history(conn, task_id)
        return v


def _action(action: str):
    def handler(task_id: str, assignment_id: str, body, request: Request, principal: Writer) -> dict:
        def fn(conn, ctx):
            task, a, version = service.act(conn, ctx, task_id, assignment_id, action, body, actor=principal.client_id,
                                           department=principal.department_code)
            federation.report_back(conn, ctx, task, action, a, version)
            return service.view(conn, task_id, ctx.now)
        return _write(request, fn)
    return handler


@router.post("/{task_id}/assignments/{assignment_id}/accept", summary="Accept an assignment")
def accept(task_id: str, assignment_id: str, body: Accept, request: Request, principal: Writer) -> dict:
    return _action("accept")(task_id, assignment_id, body, request, principal)


@router.post("/{task_id}/assignments/{assignment_id}/decline", summary="Decline an assignment")
def decline(task_id: str, assignment_id: str, body: Decline, request: Request, principal: Writer) -> dict:
    return _action("decline")(task_id, assignment_id, body, request, principal)


@router.post("/{task_id}/assignments/{assignment_id}/progress", summary="Report progress on an assignment")
def progress(task_id: str, assignment_id: str, body: Progress, request: Request, principal: Writer) -> dict:
    return _action("progress")(task_id, assignment_id, body, request, principal)


@router.post("/{task_id}/assignments/{assignment_id}/result", summary="Report an assignment's result")
def result(task_id: str, assignment_id: str, body: Result, request: Request, principal: Writer) -> dict:
    return _action("result")(task_id, assignment_id, body, request, principal)
