"""Pseudonymous complainant references: HMAC-SHA256 of the complainant's identity with a hub secret.

The department a complaint is about sees ``cp-<32 hex>``, never the name, phone or ID number.
The same complainant gets the same reference (repeat complaints can be grouped) while the
reference cannot be reversed or recomputed without the secret. The secret is read from
``HUB_TRIAGE_PSEUDONYM_SECRET`` (set it in production; the development default is public).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import unicodedata

SECRET_ENV = "HUB_TRIAGE_PSEUDONYM_SECRET"
DEV_SECRET = "dev-only-triage-pseudonym-secret"


def hub_secret() -> bytes:
    return (os.environ.get(SECRET_ENV) or DEV_SECRET).encode("utf-8")


def _norm(value: str | None) -> str:
    return unicodedata.normalize("NFKC", value or "").strip().upper().replace(" ", "")


def complainant_ref(value: dict, secret: bytes) -> str | None:
    """Reference of the identity in a complaint / grid event value; None when anonymous or unidentified.

    Identity is the first present of: ID number, phone, name (full-width digits normalised).
    """
    if value.get("anonymous"):
        return None
    for label, field in (("id", "complainant_id_number"), ("phone", "complainant_phone"),
                         ("name", "complainant_name"), ("phone", "reporter_phone"), ("name", "reporter_name")):
        ident = _norm(value.get(field))
        if ident:
            digest = hmac.new(secret, f"{label}:{ident}".encode(), hashlib.sha256).hexdigest()
            return f"cp-{digest[:32]}"
    return None


IDENTITY_FIELDS = ("complainant_name", "complainant_phone", "complainant_id_number", "complainant_address",
                   "reporter_name", "reporter_phone")


def redact(text: str, value: dict) -> str:
    """``text`` with the complainant's own identity values (as given in ``value``) replaced by ``***``."""
    for field in IDENTITY_FIELDS:
        ident = (value.get(field) or "").strip()
        if len(ident) >= 2:
            text = text.replace(ident, "***")
    return text
