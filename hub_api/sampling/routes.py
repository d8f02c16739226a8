"""``/sampling``: double-random plans, their draw, the published data, verification, results, audit.

Changes need the ``sampling:write`` scope; reads are public ("one public"), with personal
names masked unless the caller holds ``pii:read``. Errors: ``{"error", "message"}`` with
404 (unknown plan), 409 (plan state or pool forbids it) and 422 (request invalid).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import StreamingResponse

from hub_api.auth.deps import require_scope
from hub_api.auth.service import Principal
from hub_api.pii import PiiViewerDep
from hub_api.sampling import draw as algo
from hub_api.sampling import public, service
from hub_api.sampling.public import DRAWN
from hub_api.sampling.spec import PlanRequest

router = APIRouter(prefix="/sampling", tags=["sampling"])
Writer = Annotated[Principal, Depends(require_scope("sampling:write"))]
DRAW_SCHEMA = "gov.zj.supervision.sampling.SamplingDraw"


def _now(request: Request) -> datetime:
    clock = getattr(request.app.state, "clock", None)
    return clock.now() if clock is not None else datetime.now(UTC)


def _http(exc: service.PlanError) -> HTTPException:
    return HTTPException(exc.status, detail={"error": exc.error, "message": exc.message})


def _plan(request: Request, plan_id: str):
    with request.app.state.db.engine.connect() as conn:
        try:
            return service.load_plan(conn, plan_id)
        except service.PlanError as exc:
            raise _http(exc) from None


def _drawn(request: Request, plan_id: str):
    plan = _plan(request, plan_id)
    if plan.status not in DRAWN:
        raise HTTPException(409, detail={"error": "not_drawn", "message": f"plan is {plan.status}; not drawn yet"})
    return plan


@router.post("/plans", status_code=201, summary="Create a plan and commit to its seed")
def create_plan(body: PlanRequest, request: Request, principal: Writer) -> dict:
    plan = service.create_plan(request.app.state.db.engine, body, principal.client_id, _now(request))
    return public.plan_view(plan)


@router.post("/plans/{plan_id}/draw", summary="Freeze both pools, reveal the seed, draw objects and teams")
def draw(plan_id: str, request: Request, principal: Writer, viewer: PiiViewerDep) -> dict:
    try:
        plan = service.draw_plan(request.app.state.db.engine, plan_id, principal.client_id, _now(request))
    except service.PlanError as exc:
        raise _http(exc) from None
    return _with_draw(request, plan, viewer)


@router.post("/plans/{plan_id}/cancel", summary="Cancel a plan that has not been drawn")
def cancel(plan_id: str, request: Request, principal: Writer) -> dict:
    try:
        return public.plan_view(service.cancel_plan(request.app.state.db.engine, plan_id, principal.client_id,
                                                    _now(request)))
    except service.PlanError as exc:
        raise _http(exc) from None


@router.api_route("/plans/{plan_id}", methods=["PUT", "PATCH", "DELETE"], include_in_schema=False)
def change(plan_id: str, request: Request, principal: Writer) -> None:
    try:
        service.refuse_change(request.app.state.db.engine, plan_id, principal.client_id, _now(request))
    except service.PlanError as exc:
        raise _http(exc) from None


def _with_draw(request: Request, plan, viewer) -> dict:
    view = public.plan_view(plan)
    if plan.status in DRAWN:
        with request.app.state.db.engine.connect() as conn:
            rows = public.draw_rows(conn, plan.plan_id)
        view["draw"] = [viewer.present(DRAW_SCHEMA, public.draw_entry(r), "sampling_draw",
                                       f"{plan.plan_id}:{r.draw_index}") for r in rows]
    return view


@router.get("/plans/{plan_id}", summary="The plan: commitment; after the draw also seed, hashes and draw")
def get_plan(plan_id: str, request: Request, viewer: PiiViewerDep) -> dict:
    return _with_draw(request, _plan(request, plan_id), viewer)


@router.get("/plans/{plan_id}/published", summary="Everything needed to re-run the draw")
def get_published(plan_id: str, request: Request) -> dict:
    plan = _drawn(request, plan_id)
    with request.app.state.db.engine.connect() as conn:
        return public.published(conn, plan)


@router.get("/plans/{plan_id}/snapshots/{kind}", summary="A frozen pool's canonical bytes (NDJSON)")
def get_snapshot(plan_id: str, kind: Literal["objects", "inspectors"], request: Request) -> StreamingResponse:
    plan = _drawn(request, plan_id)
    with request.app.state.db.engine.connect() as conn:
        parts = list(public.snapshot_bytes(conn, plan.plan_id, kind))
    return StreamingResponse(iter(parts), media_type="application/x-ndjson")


@router.get("/plans/{plan_id}/verify", summary="Re-run the published draw on the server")
def verify(plan_id: str, request: Request) -> dict:
    plan = _drawn(request, plan_id)
    with request.app.state.db.engine.connect() as conn:
        data = public.published(conn, plan)
    return {"plan_id": plan_id, "algorithm": algo.ALGORITHM, **algo.verify(data).as_dict()}


@router.get("/plans/{plan_id}/results", summary="Inspection results of a completed plan (no personal data)")
def results(plan_id: str, request: Request) -> dict:
    plan = _plan(request, plan_id)
    if plan.status != "completed":
        raise HTTPException(409, detail={"error": "not_completed",
                                         "message": f"plan is {plan.status}; results are published once completed"})
    with request.app.state.db.engine.connect() as conn:
        return {"plan_id": plan_id, "status": plan.status, "completed_at": public.iso(plan.completed_at),
                "results": public.results(conn, plan)}


@router.get("/plans/{plan_id}/audit", summary="The plan's append-only audit trail")
def get_audit(plan_id: str, request: Request) -> dict:
    _plan(request, plan_id)
    with request.app.state.db.engine.connect() as conn:
        return {"plan_id": plan_id, "events": public.audit_events(conn, plan_id)}
