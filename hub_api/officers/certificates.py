"""Electronic certificates: signed, short-lived tokens for an officer's valid certificate.

A token is a compact JWS (a JWT, RFC 7519) signed with the hub's Ed25519 key (``alg``
``EdDSA``, header ``kid``)::

    {"iss": "supervision-hub", "aud": "officer-certificate", "sub": "<certificate number>",
     "iat": <unix s>, "exp": <unix s>, "jti": "<uuid hex>"}

It carries no personal data: only the certificate number. It is what the QR code on an
officer's phone holds; anyone may verify it offline with the key from ``GET /verify/keys``,
and the hub's verification (:meth:`CertificateService.verify`) also checks the registry,
so a revoked, suspended or expired certificate verifies invalid at once, even while its
token has not expired.

Contract:

- :meth:`CertificateService.issue` signs a token only when the certificate is usable on
  the issue date (:func:`processors.officers.status.usability`); its lifetime is
  ``ttl_s`` (default 300 s, at most 3600 s), cut at the end of the certificate's last valid
  day; each issue is audited in ``certificate_tokens``.
- :meth:`CertificateService.verify` raises :class:`MalformedToken` for input that is not a
  compact JWS at all; every other failure is a :class:`Verification` with ``valid=False``
  and a machine ``reason``: ``unsupported_algorithm``, ``unknown_key``, ``bad_signature``,
  ``bad_claims``, ``token_expired``, ``token_not_yet_valid``, ``unknown_token``,
  ``certificate_unknown``, ``certificate_revoked``, ``certificate_suspended``,
  ``certificate_expired``, ``certificate_not_yet_valid``; ``reason`` is ``ok`` when valid.
- Time is read only from the injected clock. Thread-safe (no mutable state).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

import jwt
from cryptography.exceptions import InvalidSignature
from sqlalchemy import Engine, insert, select

from connectors.sinks.masking import mask_name
from hub_api.auth.service import ISSUER
from hub_api.officers.keys import SigningKey
from processors.officers.models import CertificateToken, Officer
from processors.officers.status import CHINA, effective_status, today, usability
from processors.runtime.clock import Clock
from schemas import domains as domain_table
from schemas.regions import region_name

AUDIENCE = "officer-certificate"
DEFAULT_TTL_S = 300
MAX_TTL_S = 3600
MAX_TOKEN_CHARS = 2048
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_CLOCK_SKEW_S = 60  # tolerance for tokens a peer hub signed with a slightly fast clock


class MalformedToken(ValueError):
    """The input is not a compact JWS; answered 400, not ``valid: false``."""


class CertificateError(Exception):
    """A token cannot be issued; ``reason`` is machine-readable, ``status`` the certificate's status."""

    def __init__(self, reason: str, message: str, status: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Issued:
    token: str
    jti: str
    certificate_number: str
    issued_at: datetime
    expires_at: datetime


@dataclass
class Verification:
    valid: bool
    reason: str
    certificate_number: str | None = None
    officer: str | None = None
    department: dict | None = None
    region: dict | None = None
    domains: list[dict] = field(default_factory=list)
    status: str | None = None
    issuing_authority: str | None = None
    issued_by: str = ISSUER
    issued_at: datetime | None = None
    expires_at: datetime | None = None


def _b64decode(part: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise MalformedToken("a token part is not base64url") from None


def _officer_columns():
    return (Officer.certificate_number, Officer.name, Officer.department_code, Officer.department_name,
            Officer.region_code, Officer.domains, Officer.status, Officer.valid_from, Officer.valid_to,
            Officer.issuing_authority)


class CertificateService:
    """Issues and verifies electronic-certificate tokens for one hub key and one database."""

    def __init__(self, engine: Engine, key: SigningKey, clock: Clock, issuer: str = ISSUER) -> None:
        self.engine = engine
        self.key = key
        self.clock = clock
        self.issuer = issuer

    def _officer(self, conn, certificate_number: str):
        return conn.execute(select(*_officer_columns())
                            .where(Officer.certificate_number == certificate_number)).first()

    def issue(self, certificate_number: str, client_id: str, ttl_s: int = DEFAULT_TTL_S) -> Issued:
        """Sign a token for a usable certificate; :class:`CertificateError` otherwise."""
        if not 1 <= ttl_s <= MAX_TTL_S:
            raise CertificateError("ttl_out_of_range", f"ttl_s must be between 1 and {MAX_TTL_S}")
        now = self.clock.now().astimezone(UTC).replace(microsecond=0)
        on = today(now)
        with self.engine.begin() as conn:
            officer = self._officer(conn, certificate_number)
            if officer is None:
                raise CertificateError("certificate_unknown", "no officer holds this certificate number")
            reason = usability(officer.status, officer.valid_from, officer.valid_to, on)
            if reason != "ok":
                raise CertificateError(reason, "the certificate is not valid today; no token is issued",
                                       effective_status(officer.status, officer.valid_to, on))
            expires = now + timedelta(seconds=ttl_s)
            if officer.valid_to is not None:
                end_of_validity = datetime.combine(officer.valid_to + timedelta(days=1), time(), CHINA)
                expires = min(expires, end_of_validity.astimezone(UTC))
            jti = uuid.uuid4().hex
            conn.execute(insert(CertificateToken).values(
                jti=jti, certificate_number=certificate_number, issued_at=now, expires_at=expires,
                issued_by=client_id[:128], key_id=self.key.kid))
        claims = {"iss": self.issuer, "aud": AUDIENCE, "sub": certificate_number,
                  "iat": int(now.timestamp()), "exp": int(expires.timestamp()), "jti": jti}
        token = jwt.encode(claims, self.key.private_key, algorithm="EdDSA",
                           headers={"kid": self.key.kid, "typ": "JWT"})
        return Issued(token, jti, certificate_number, now, expires)

    def verify(self, token: str) -> Verification:
        """Check signature, claims, expiry, the issue audit and the officer's current status."""
        claims = self._verified_claims(token)
        if isinstance(claims, Verification):
            return claims
        now = self.clock.now()
        cert = claims["sub"]
        issued_at = datetime.fromtimestamp(claims["iat"], UTC)
        expires_at = datetime.fromtimestamp(claims["exp"], UTC)
        with self.engine.connect() as conn:
            officer = self._officer(conn, cert)
            known = conn.execute(select(CertificateToken.certificate_number)
                                 .where(CertificateToken.jti == claims["jti"])).scalar()
        result = self._describe(officer, cert, now)
        result.issued_at, result.expires_at = issued_at, expires_at
        if now.timestamp() >= claims["exp"]:
            result.reason = "token_expired"
        elif claims["iat"] > now.timestamp() + _CLOCK_SKEW_S:
            result.reason = "token_not_yet_valid"
        elif known != cert:
            result.reason = "unknown_token"
        elif officer is None:
            result.reason = "certificate_unknown"
        else:
            result.reason = usability(officer.status, officer.valid_from, officer.valid_to, today(now))
        result.valid = result.reason == "ok"
        return result

    def _verified_claims(self, token: str) -> dict[str, Any] | Verification:
        if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or not _COMPACT.fullmatch(token):
            raise MalformedToken("not a compact JWS (three base64url parts separated by dots)")
        head_b64, body_b64, sig_b64 = token.split(".")
        head_raw, body_raw, signature = _b64decode(head_b64), _b64decode(body_b64), _b64decode(sig_b64)
        try:
            header = json.loads(head_raw)
        except (UnicodeDecodeError, ValueError):
            raise MalformedToken("the token header is not JSON") from None
        if not isinstance(header, dict):
            raise MalformedToken("the token header is not a JSON object")
        if header.get("alg") != "EdDSA":
            return Verification(False, "unsupported_algorithm")
        if header.get("kid") != self.key.kid:
            return Verification(False, "unknown_key")
        try:
            self.key.public_key.verify(signature, f"{head_b64}.{body_b64}".encode("ascii"))
        except InvalidSignature:
            return Verification(False, "bad_signature")
        try:
            claims = json.loads(body_raw)
        except (UnicodeDecodeError, ValueError):
            return Verification(False, "bad_claims")
        if not (isinstance(claims, dict) and claims.get("iss") == self.issuer and claims.get("aud") == AUDIENCE
                and isinstance(claims.get("sub"), str) and isinstance(claims.get("jti"), str)
                and isinstance(claims.get("iat"), int) and isinstance(claims.get("exp"), int)):
            return Verification(False, "bad_claims")
        return claims

    def _describe(self, officer, cert: str, now: datetime) -> Verification:
        """The public, masked description of a certificate (no ID number, no phone, masked name)."""
        if officer is None:
            return Verification(False, "certificate_unknown", certificate_number=cert)
        codes = json.loads(officer.domains or "[]")
        return Verification(
            False, "", certificate_number=cert, officer=mask_name(officer.name),
            department={"code": officer.department_code, "name": officer.department_name},
            region={"code": officer.region_code, "name": region_name(officer.region_code)},
            domains=[{"code": c, "name": domain_table.DOMAINS[c].name if c in domain_table.DOMAINS else c}
                     for c in codes],
            status=effective_status(officer.status, officer.valid_to, today(now)),
            issuing_authority=officer.issuing_authority,
        )
