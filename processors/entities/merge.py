"""The golden record of a supervised entity, merged from what every source said. Pure functions.

Identity (:func:`resolve_identity`)
    The registry key is the USCC for organisations (checked with GB 32100) and, for natural
    persons, :func:`pseudonym` of the resident ID (checked with GB 11643): a resident ID is
    personal information and never becomes a key, topic key or URL. A source may send the
    USCC or resident ID in ``uscc`` / ``resident_id`` or as an 18-character ``entity_id``;
    all that are present must agree. A record whose id fails its check, or that carries
    none, raises :class:`schemas.codes.CodeError` (its ``reason`` says which check failed),
    so the runtime dead-letters it.

Merge rules (:func:`merge`), per field of ``SupervisedEntity`` (except the identity):

1. **Candidates** are the sources' latest versions (one per source system) that have a
   non-null value for the field. A source whose latest operation is a deletion (``d``) and
   that is not the owning system has withdrawn its description and offers no candidates
   (unless every source has withdrawn; then the last values stay, marked deregistered).
2. **Source precedence per field.** The market-entity registration system
   (:data:`REGISTRATION_SOURCES`) owns :data:`OWNED_FIELDS` (name, kind, status and the
   registration fields): its value beats every other source's, which may only fill a field
   it leaves empty — or that is *stale*: older (by event time) than another source's value
   by more than :data:`OWNER_STALE_AFTER_MS`. Sources that merely mention an entity (a party
   in a penalty case, the target of a complaint: ``source_kind="mention"``) rank below every
   registry source for every field.
3. **Recency** among equal precedence: the value with the latest envelope event time wins;
   ties go to the lexically greatest source system name (deterministic).
4. **Deletion by the owner** (``operation == "d"`` from a registration source) keeps every
   value and history but sets ``status`` to :data:`DEREGISTERED`; nothing is ever deleted.

The result keeps ``field_sources`` (field -> source system that supplied it) and the list of
sources. Versions of each source are kept by the processor (``entity_source_versions``), so
merging again from them always gives the same golden record.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from dataclasses import dataclass, field
from typing import Any

from schemas import codes, loader, regions

REGISTRATION_SOURCES = frozenset({"market_entities", "market_registration", "market_entity_registration"})
"""Source systems that are the market-entity registration system (市场主体登记系统)."""

OWNED_FIELDS = frozenset({
    "name", "kind", "type", "status", "registration_number", "registration_date", "approval_date",
    "revocation_date", "revocation_reason", "registration_authority", "legal_representative",
    "operator_name", "organisational_form", "business_scope", "premises",
})
"""Fields the registration system owns (rule 2)."""

OWNER_STALE_AFTER_MS = 730 * 24 * 3600 * 1000
"""An owned value older than another source's by more than this (two years) is stale."""

DEREGISTERED = {"code": "deregistered", "name": "注销", "code_system": None}
"""Status of an entity whose registration system deleted it."""

ENTITY_SCHEMA = "gov.zj.supervision.entity.SupervisedEntity"
IDENTITY_FIELDS = ("entity_id", "uscc", "resident_id")
MERGED_FIELDS: tuple[str, ...] = tuple(
    f["name"] for f in loader.load(ENTITY_SCHEMA)["fields"] if f["name"] not in ("envelope", *IDENTITY_FIELDS)
)
"""Every field of the standard record that is merged (all but the envelope and the identity)."""
DATE_FIELDS = frozenset({"registration_date", "approval_date", "revocation_date"})

_PSEUDONYM = re.compile(r"^P[0-9A-F]{24}$")
_ID_SHAPE = re.compile(r"^[0-9]{17}[0-9X]$")
_PSEUDONYM_KEY = os.environ.get("HUB_ENTITY_PSEUDONYM_KEY", "supervision-hub/entity-pseudonym/v1").encode()


def pseudonym(resident_id: str) -> str:
    """The registry key of a natural person: ``P`` + 24 hex digits of an HMAC-SHA256 of the ID.

    Keyed with ``HUB_ENTITY_PSEUDONYM_KEY`` (set a secret in production: without it the
    pseudonym of a known ID can be recomputed by anyone with this code).
    """
    digest = hmac.new(_PSEUDONYM_KEY, resident_id.encode("ascii"), hashlib.sha256).hexdigest()
    return "P" + digest[:24].upper()


def is_pseudonym(entity_id: str) -> bool:
    return bool(_PSEUDONYM.match(entity_id or ""))


@dataclass(frozen=True, slots=True)
class Identity:
    entity_id: str
    uscc: str | None
    resident_id: str | None


def resolve_identity(uscc: str | None, resident_id: str | None, entity_id: str | None = None) -> Identity:
    """The validated identity of a record; CodeError (reason = the failed check) if there is none."""
    if uscc:
        codes.validate_uscc(uscc, field="uscc")
    if resident_id:
        codes.validate_resident_id(resident_id, field="resident_id")
    if entity_id and len(entity_id) == 18 and entity_id not in (uscc, resident_id):
        if codes.is_valid_uscc(entity_id):
            if uscc:
                raise codes.CodeError("identity_mismatch", "entity_id and uscc differ", field="entity_id")
            uscc = entity_id
        elif _ID_SHAPE.match(entity_id):
            try:
                codes.validate_resident_id(entity_id, field="entity_id")
            except codes.CodeError as exc:
                # All digits fit both shapes: blame the ID only if it is one but for its check/region.
                if exc.reason not in ("id_check", "id_region"):
                    codes.validate_uscc(entity_id, field="entity_id")
                raise
            if resident_id:
                raise codes.CodeError("identity_mismatch", "entity_id and resident_id differ", field="entity_id")
            resident_id = entity_id
        else:
            codes.validate_uscc(entity_id, field="entity_id")
    if uscc:
        return Identity(uscc, uscc, resident_id)
    if resident_id:
        return Identity(pseudonym(resident_id), None, resident_id)
    if entity_id and is_pseudonym(entity_id):
        return Identity(entity_id, None, None)
    if entity_id:
        raise codes.CodeError("entity_id_format", "entity_id is neither a credit code, a resident ID nor a hub id",
                              field="entity_id")
    raise codes.CodeError("entity_id_missing", "record carries no credit code or resident ID", field="entity_id")


def identity_of(value: dict[str, Any]) -> Identity:
    """:func:`resolve_identity` of a SupervisedEntity-shaped record."""
    return resolve_identity(value.get("uscc"), value.get("resident_id"), value.get("entity_id"))


def kind_for(identity: Identity) -> str:
    """Kind implied by an identity: USCCs issued to individual businesses start with ``92``."""
    if identity.uscc:
        return "individual_business" if identity.uscc.startswith("92") else "enterprise"
    return "natural_person"


@dataclass(frozen=True, slots=True)
class SourceVersion:
    """What one source last said: its payload (JSON-safe standard fields), time and operation."""

    source_system: str
    event_time_ms: int
    operation: str
    payload: dict[str, Any]
    source_kind: str = "registry"

    @property
    def is_owner(self) -> bool:
        return self.source_kind == "registry" and self.source_system in REGISTRATION_SOURCES


@dataclass
class Golden:
    identity: Identity
    record: dict[str, Any]
    field_sources: dict[str, str] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    deregistered: bool = False


def _precedence(sv: SourceVersion, name: str) -> int:
    if sv.source_kind == "mention":
        return 0
    return 2 if sv.is_owner and name in OWNED_FIELDS else 1


def _pick(name: str, candidates: list[SourceVersion]) -> SourceVersion | None:
    present = [sv for sv in candidates if sv.payload.get(name) is not None]
    if not present:
        return None
    best = max(present, key=lambda sv: (_precedence(sv, name), sv.event_time_ms, sv.source_system))
    if best.is_owner and name in OWNED_FIELDS:
        fresher = [sv for sv in present if sv.source_kind != "mention" and not sv.is_owner
                   and sv.event_time_ms - best.event_time_ms > OWNER_STALE_AFTER_MS]
        if fresher:
            return max(fresher, key=lambda sv: (sv.event_time_ms, sv.source_system))
    return best


def merge(identity: Identity, versions: list[SourceVersion]) -> Golden:
    """The golden record (standard fields, JSON-safe) of ``identity`` from each source's latest version."""
    if not versions:
        raise ValueError("merge needs at least one source version")
    active = [sv for sv in versions if sv.operation != "d" or sv.is_owner]
    candidates = active or list(versions)
    golden = Golden(identity, {"entity_id": identity.entity_id, "uscc": identity.uscc,
                               "resident_id": identity.resident_id},
                    sources=sorted({sv.source_system for sv in versions}))
    for name in MERGED_FIELDS:
        sv = _pick(name, candidates)
        golden.record[name] = None if sv is None else sv.payload[name]
        if sv is not None:
            golden.field_sources[name] = sv.source_system
    owner_deleted = any(sv.is_owner and sv.operation == "d" for sv in versions)
    if owner_deleted or not active:
        golden.deregistered = True
        golden.record["status"] = dict(DEREGISTERED)
        owner = next((sv.source_system for sv in versions if sv.is_owner and sv.operation == "d"), None)
        golden.field_sources["status"] = owner or max(versions, key=lambda sv: sv.event_time_ms).source_system
    if golden.record.get("kind") is None:
        golden.record["kind"] = kind_for(identity)
        golden.field_sources.pop("kind", None)
    if not golden.record.get("region_code"):
        golden.record["region_code"] = _region_from_identity(identity)
    if golden.record.get("name") is None:
        golden.record["name"] = ""
    return golden


def _region_from_identity(identity: Identity) -> str:
    code = (identity.uscc[2:8] if identity.uscc else (identity.resident_id or "")[:6]) or "330000"
    return code if regions.is_known_region(code) else "330000"
