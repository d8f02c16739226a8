"""Officer registry routes: lookup, electronic-certificate tokens and public verification.

- ``GET /officers/{certificate_number}``, ``GET /officers?department=&region=&domain=&status=&page=&size=``:
  any authenticated client; name, resident ID and phone are masked without ``pii:read``
  (unmasked reads are audited by :mod:`hub_api.pii`). ``status`` is the effective status
  today (Asia/Shanghai), so a certificate past ``valid_to`` reads ``expired`` even before
  the processor's daily timer flipped it.
- ``POST /officers/{certificate_number}/token`` (scope ``certificates:issue``): a signed,
  short-lived token for a valid certificate -> ``{token, expires_at, verify_url}``; 404
  unknown certificate, 409 certificate not valid today, 422 bad request.
- ``GET /verify/keys`` (public): the hub's public keys as a JWKS.
- ``GET /verify/{token}`` (public): 200 ``{valid, reason, ...}`` for every well-formed token
  (invalid ones say why), 400 for input that is not a token. Never an ID number or phone.

The clock is ``app.state.clock`` when set (tests), else the system clock; the signing key
lives under ``settings.var_dir`` (:mod:`hub_api.officers.keys`).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, func, or_, select

from hub_api.auth.deps import CurrentPrincipal, require_scope
from hub_api.auth.service import ISSUER, Principal
from hub_api.officers.certificates import (
    DEFAULT_TTL_S,
    MAX_TTL_S,
    CertificateError,
    CertificateService,
    MalformedToken,
)
from hub_api.officers.keys import load_or_create
from hub_api.pii import PiiViewer, PiiViewerDep
from processors.officers.models import Officer
from processors.officers.processor import SCHEMA
from processors.officers.status import EXPIRABLE, effective_status, today
from processors.runtime.clock import Clock, SystemClock
from schemas import domains as domain_table
from schemas import regions

router = APIRouter()
Issuer = Annotated[Principal, Depends(require_scope("certificates:issue"))]
Status = Literal["valid", "suspended", "revoked", "expired"]


def get_clock(request: Request) -> Clock:
    return getattr(request.app.state, "clock", None) or SystemClock()


def get_certificates(request: Request) -> CertificateService:
    state = request.app.state
    return CertificateService(state.db.engine, load_or_create(state.settings.var_dir), get_clock(request))


CertificatesDep = Annotated[CertificateService, Depends(get_certificates)]
ClockDep = Annotated[Clock, Depends(get_clock)]


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ttl_seconds: int = Field(DEFAULT_TTL_S, ge=30, le=MAX_TTL_S,
                             description="Token lifetime in seconds (cut at the end of the certificate's last valid day).")


class TokenResponse(BaseModel):
    token: str = Field(description="Compact JWS (EdDSA); what the QR code carries.")
    expires_at: datetime
    verify_url: str = Field(description="Public URL that verifies this token (GET).")


class CodedRef(BaseModel):
    code: str
    name: str | None


class VerificationResponse(BaseModel):
    valid: bool
    reason: str = Field(description="`ok`, or why the token does not verify (machine code).")
    certificate_number: str | None
    officer: str | None = Field(description="The officer's name, masked (张*丰).")
    department: CodedRef | None
    region: CodedRef | None
    domains: list[CodedRef]
    status: str | None = Field(description="The certificate's effective status now.")
    issuing_authority: str | None
    issued_by: str = Field(description="Id of the hub that signs the tokens.")
    issued_at: datetime | None
    expires_at: datetime | None


def _error(status: int, error: str, message: str, **extra: Any) -> HTTPException:
    return HTTPException(status, detail={"error": error, "message": message, **extra})


def _present(row, viewer: PiiViewer, on: date) -> dict[str, Any]:
    codes = json.loads(row.domains or "[]")
    record = {
        "certificate_number": row.certificate_number, "name": row.name, "resident_id": row.resident_id,
        "phone": row.phone, "sex_code": row.sex_code,
        "department": {"code": row.department_code, "name": row.department_name},
        "department_uscc": row.department_uscc,
        "region": {"code": row.region_code, "name": regions.region_name(row.region_code)},
        "domains": [{"code": c, "name": domain_table.DOMAINS[c].name if c in domain_table.DOMAINS else None}
                    for c in codes],
        "issuing_authority": row.issuing_authority, "valid_from": row.valid_from, "valid_to": row.valid_to,
        "status": effective_status(row.status, row.valid_to, on), "recorded_status": row.recorded_status,
        "is_supervisor": row.is_supervisor, "source_version": row.source_version, "updated_at": row.updated_at,
    }
    return viewer.present(SCHEMA, record, "officer", row.certificate_number)


def _region_filter(code: str):
    if not regions.is_known_region(code):
        raise _error(422, "unknown_region", "region must be a known GB/T 2260 code")
    level = regions.level(code)
    if level == "province":
        return Officer.region_code.like(f"{code[:2]}%")
    if level == "city":
        return Officer.region_code.like(f"{code[:4]}%")
    return Officer.region_code == code


def _status_filter(status: str, on: date):
    past = and_(Officer.status.in_(EXPIRABLE), Officer.valid_to < on)
    if status == "expired":
        return or_(Officer.status == "expired", past)
    if status in EXPIRABLE:
        return and_(Officer.status == status, or_(Officer.valid_to.is_(None), Officer.valid_to >= on))
    return Officer.status == status


@router.get("/officers", tags=["officers"], summary="Search the officer registry")
def list_officers(
    request: Request, principal: CurrentPrincipal, viewer: PiiViewerDep, clock: ClockDep,
    department: Annotated[str | None, Query(description="Department code, e.g. 330106SCJ.")] = None,
    region: Annotated[str | None, Query(description="GB/T 2260 code; a city or the province includes its counties.")] = None,
    domain: Annotated[str | None, Query(description="Enforcement-domain code, e.g. SPAQ.")] = None,
    status: Annotated[Status | None, Query(description="Effective status today.")] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    on = today(clock.now())
    where = []
    if department:
        where.append(Officer.department_code == department)
    if region:
        where.append(_region_filter(region))
    if domain:
        if domain not in domain_table.DOMAINS:
            raise _error(422, "unknown_domain", f"unknown enforcement domain; valid: {', '.join(domain_table.DOMAINS)}")
        where.append(Officer.domains.like(f'%"{domain}"%'))
    if status:
        where.append(_status_filter(status, on))
    with request.app.state.db.engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(Officer).where(*where)).scalar_one()
        rows = conn.execute(select(Officer).where(*where).order_by(Officer.certificate_number)
                            .offset((page - 1) * size).limit(size)).all()
    return {"items": [_present(r, viewer, on) for r in rows], "page": page, "size": size, "total": total}


@router.get("/officers/{certificate_number}", tags=["officers"], summary="One officer by certificate number")
def get_officer(certificate_number: str, request: Request, principal: CurrentPrincipal, viewer: PiiViewerDep,
                clock: ClockDep) -> dict[str, Any]:
    with request.app.state.db.engine.connect() as conn:
        row = conn.execute(select(Officer).where(Officer.certificate_number == certificate_number)).first()
    if row is None:
        raise _error(404, "not_found", "no officer holds this certificate number")
    return _present(row, viewer, today(clock.now()))


@router.post("/officers/{certificate_number}/token", tags=["officers"], response_model=TokenResponse,
             summary="Issue an electronic-certificate token (電子亮證)")
def issue_token(certificate_number: str, request: Request, principal: Issuer, certificates: CertificatesDep,
                body: Annotated[TokenRequest | None, Body()] = None) -> TokenResponse:
    ttl = (body or TokenRequest()).ttl_seconds
    try:
        issued = certificates.issue(certificate_number, principal.client_id, ttl)
    except CertificateError as exc:
        if exc.reason == "certificate_unknown":
            raise _error(404, "not_found", exc.message, reason=exc.reason) from None
        if exc.reason == "ttl_out_of_range":
            raise _error(422, "validation_error", exc.message, reason=exc.reason) from None
        raise _error(409, "certificate_not_valid", exc.message, reason=exc.reason,
                     certificate_status=exc.status) from None
    return TokenResponse(token=issued.token, expires_at=issued.expires_at,
                         verify_url=str(request.url_for("verify_token", token=issued.token)))


@router.get("/verify/keys", tags=["officers"], summary="The hub's public keys for offline verification (JWKS)")
def verify_keys(request: Request) -> dict[str, Any]:
    key = load_or_create(request.app.state.settings.var_dir)
    return {"issuer": ISSUER, "keys": [key.jwk()]}


@router.get("/verify/{token}", tags=["officers"], response_model=VerificationResponse, name="verify_token",
            summary="Verify an electronic-certificate token (掃碼查證; public)")
def verify_token(token: str, certificates: CertificatesDep) -> VerificationResponse:
    try:
        result = certificates.verify(token)
    except MalformedToken as exc:
        raise _error(400, "malformed_token", str(exc)) from None
    return VerificationResponse(
        valid=result.valid, reason=result.reason, certificate_number=result.certificate_number,
        officer=result.officer, department=result.department, region=result.region, domains=result.domains,
        status=result.status, issuing_authority=result.issuing_authority, issued_by=result.issued_by,
        issued_at=result.issued_at, expires_at=result.expires_at)
