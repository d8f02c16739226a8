"""Schema registry operations on one SQLAlchemy session, with Confluent's semantics and errors.

:class:`RegistryStore` works inside the caller's transaction (one request = one
transaction, see :data:`hub_api.deps.SessionDep`) and never commits itself. Every failure
is a :class:`RegistryAPIError` carrying the HTTP status, Confluent ``error_code`` and
message; checks run before any write, so an error never leaves a partial change behind.
Concurrent inserts of the same schema or version are resolved with ``ON CONFLICT DO NOTHING``
(SQLite and PostgreSQL).
"""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from hub_api.registry import compat
from hub_api.registry.models import RegistryConfig, RegistrySchema, RegistrySubjectVersion, _now

MAX_VERSION = 2**31 - 1


class RegistryAPIError(Exception):
    """A Confluent-style error: answered as ``{"error_code": ..., "message": ...}`` with ``status``."""

    def __init__(self, status: int, error_code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.error_code, self.message = status, error_code, message


#: Confluent's messages per error code; the HTTP status is the code's first three digits.
MESSAGES = {
    40401: "Subject '{subject}' not found.",
    40402: "Version {version} not found.",
    40403: "Schema {id} not found",
    40404: "Subject '{subject}' was soft deleted.Set permanent=true to delete permanently",
    40405: "Subject '{subject}' was not deleted first before being permanently deleted",
    40406: "Subject '{subject}' Version {version} was soft deleted.Set permanent=true to delete permanently",
    40407: "Subject '{subject}' Version {version} was not deleted first before being permanently deleted",
    40408: "Subject '{subject}' does not have subject-level compatibility configured",
    42202: "The specified version '{version}' is not a valid version id. "
    'Allowed values are between [1, 2^31-1] and the string "latest"',
    42203: "Invalid compatibility level {level!r}. Valid values are "
    + ", ".join(lv.lower() for lv in compat.LEVELS),
}


def api_error(code: int, **fields: object) -> RegistryAPIError:
    """The :class:`RegistryAPIError` for a Confluent ``error_code`` from :data:`MESSAGES`."""
    return RegistryAPIError(int(str(code)[:3]), code, MESSAGES[code].format(**fields))


def parse_version(value: str | int) -> int | None:
    """``None`` for ``latest``/``-1``, else the version number; 42202 for anything else."""
    text = str(value).strip()
    if text.lower() == "latest" or text == "-1":
        return None
    try:
        number = int(text)
    except ValueError:
        raise api_error(42202, version=value) from None
    if not 1 <= number <= MAX_VERSION:
        raise api_error(42202, version=value)
    return number


@lru_cache(maxsize=512)
def _parse_stored(text: str) -> compat.ParsedSchema:
    return compat.parse(text)


def parse_schema(text: str, schema_type: str | None = "AVRO") -> compat.ParsedSchema:
    """Validate a submitted schema; 422/42201 for a non-AVRO type or an unparsable schema."""
    kind = (schema_type or "AVRO").upper()
    if kind != "AVRO":
        raise RegistryAPIError(
            422, 42201, f"Invalid schema: schema type {kind} is not supported; valid: AVRO"
        )
    try:
        return _parse_stored(text)
    except compat.InvalidSchemaError as exc:
        raise RegistryAPIError(422, 42201, str(exc)) from None


class RegistryStore:
    """Registry reads and writes within ``session``; ``default_compatibility`` applies when no
    global level has been stored (normally ``settings.registry_default_compatibility``)."""

    def __init__(
        self, session: Session, default_compatibility: str = "BACKWARD_TRANSITIVE"
    ) -> None:
        self.s = session
        self.default_compatibility = compat.normalise_level(default_compatibility) or "BACKWARD"

    def _insert(self, table):
        dialect = postgresql if self.s.get_bind().dialect.name == "postgresql" else sqlite
        return dialect.insert(table)

    # ---- schemas by id -------------------------------------------------------------------

    def schema_by_id(self, schema_id: int) -> RegistrySchema:
        """The schema with global id ``schema_id`` (also after its versions were deleted); 40403."""
        row = self.s.get(RegistrySchema, schema_id)
        if row is None:
            raise api_error(40403, id=schema_id)
        return row

    def schema_versions(
        self, schema_id: int, include_deleted: bool = False
    ) -> list[tuple[str, int]]:
        """``(subject, version)`` pairs that use ``schema_id``; 40403 if the id is unknown."""
        self.schema_by_id(schema_id)
        q = select(RegistrySubjectVersion.subject, RegistrySubjectVersion.version).where(
            RegistrySubjectVersion.schema_id == schema_id
        )
        if not include_deleted:
            q = q.where(RegistrySubjectVersion.deleted.is_(False))
        return [(s, v) for s, v in self.s.execute(q.order_by("subject", "version"))]

    # ---- subjects and versions -----------------------------------------------------------

    def subjects(self, include_deleted: bool = False, prefix: str | None = None) -> list[str]:
        """Subject names in order; by default only those with at least one live version."""
        q = select(RegistrySubjectVersion.subject).distinct()
        if not include_deleted:
            q = q.where(RegistrySubjectVersion.deleted.is_(False))
        if prefix:
            q = q.where(RegistrySubjectVersion.subject.startswith(prefix, autoescape=True))
        return sorted(self.s.scalars(q))

    def _rows(self, subject: str) -> list[RegistrySubjectVersion]:
        q = select(RegistrySubjectVersion).where(RegistrySubjectVersion.subject == subject)
        return list(self.s.scalars(q.order_by(RegistrySubjectVersion.version)))

    def versions(self, subject: str, include_deleted: bool = False) -> list[int]:
        """Version numbers of ``subject``; 40401 if it has none (live ones, unless ``include_deleted``)."""
        found = [r.version for r in self._rows(subject) if include_deleted or not r.deleted]
        if not found:
            raise api_error(40401, subject=subject)
        return found

    def get_version(
        self, subject: str, version: str | int, include_deleted: bool = False
    ) -> tuple[RegistrySubjectVersion, RegistrySchema]:
        """One version (``latest`` = highest live one); 42202 / 40401 / 40402."""
        number = parse_version(version)
        rows = self._rows(subject)
        visible = [r for r in rows if include_deleted or not r.deleted]
        if not visible:
            raise api_error(40401, subject=subject)
        if number is None:
            row = visible[-1]
        else:
            row = next((r for r in visible if r.version == number), None)
            if row is None:
                raise api_error(40402, version=number)
        return row, self.schema_by_id(row.schema_id)

    def _live(self, subject: str) -> list[tuple[int, RegistrySchema]]:
        q = (
            select(RegistrySubjectVersion.version, RegistrySchema)
            .join(RegistrySchema, RegistrySchema.id == RegistrySubjectVersion.schema_id)
            .where(
                RegistrySubjectVersion.subject == subject, RegistrySubjectVersion.deleted.is_(False)
            )
            .order_by(RegistrySubjectVersion.version)
        )
        return [(v, s) for v, s in self.s.execute(q)]

    # ---- register, lookup, compatibility ---------------------------------------------------

    def lookup(
        self,
        subject: str,
        schema_text: str,
        schema_type: str | None = "AVRO",
        include_deleted: bool = False,
    ) -> tuple[RegistrySubjectVersion, RegistrySchema]:
        """The version of ``subject`` holding this schema; 42201 / 40401 / 40403."""
        parsed = parse_schema(schema_text, schema_type)
        rows = [r for r in self._rows(subject) if include_deleted or not r.deleted]
        if not rows:
            raise api_error(40401, subject=subject)
        schema = self.s.scalar(
            select(RegistrySchema).where(RegistrySchema.fingerprint == parsed.fingerprint)
        )
        match = [r for r in rows if schema is not None and r.schema_id == schema.id]
        if not match:
            raise RegistryAPIError(404, 40403, "Schema not found")
        return match[-1], schema

    def check(
        self,
        subject: str,
        schema_text: str,
        version: str | int | None = None,
        schema_type: str | None = "AVRO",
    ) -> list[str]:
        """Incompatibility messages for ``schema_text`` under the subject's level (empty = compatible).

        ``version=None`` checks as a registration would (latest, or all versions if transitive);
        a given version (or ``latest``) checks against that version only (40401 / 40402 / 42202).
        """
        parsed = parse_schema(schema_text, schema_type)
        level = self.compatibility(subject, default_to_global=True)
        if version is None:
            existing = self._live(subject)
        else:
            row, schema = self.get_version(subject, version)
            existing = [(row.version, schema)]
        return compat.check(
            parsed.avro, [(v, _parse_stored(s.schema_text).avro) for v, s in existing], level
        )

    def register(
        self, subject: str, schema_text: str, schema_type: str | None = "AVRO"
    ) -> tuple[int, int]:
        """Register under ``subject``; returns ``(schema_id, version)``.

        A schema already live under the subject returns its existing id and version. A schema
        known under another subject keeps its global id. Otherwise the subject's compatibility
        level is enforced (409 naming every incompatibility) before anything is written.
        """
        parsed = parse_schema(schema_text, schema_type)
        live = self._live(subject)
        for version, schema in live:
            if schema.fingerprint == parsed.fingerprint:
                return schema.id, version
        level = self.compatibility(subject, default_to_global=True)
        problems = compat.check(
            parsed.avro, [(v, _parse_stored(s.schema_text).avro) for v, s in live], level
        )
        if problems:
            raise RegistryAPIError(
                409,
                409,
                f"Schema being registered is incompatible with an earlier schema for subject "
                f'"{subject}" ({level}), details: [' + "; ".join(problems) + "]",
            )
        schema_id = self._ensure_schema(parsed)
        for _attempt in range(5):
            top = self.s.scalar(
                select(func.max(RegistrySubjectVersion.version)).where(
                    RegistrySubjectVersion.subject == subject
                )
            )
            version = (top or 0) + 1
            stmt = (
                self._insert(RegistrySubjectVersion)
                .values(
                    subject=subject,
                    version=version,
                    schema_id=schema_id,
                    deleted=False,
                    created_at=_now(),
                )
                .on_conflict_do_nothing(index_elements=["subject", "version"])
            )
            if self.s.execute(stmt).rowcount:
                return schema_id, version
        raise RegistryAPIError(
            500, 50001, f"Could not allocate a version for subject '{subject}'; retry"
        )

    def _ensure_schema(self, parsed: compat.ParsedSchema) -> int:
        stmt = (
            self._insert(RegistrySchema)
            .values(
                schema_type="AVRO",
                schema_text=parsed.text,
                canonical=parsed.canonical,
                fingerprint=parsed.fingerprint,
                created_at=_now(),
            )
            .on_conflict_do_nothing(index_elements=["fingerprint"])
        )
        self.s.execute(stmt)
        return self.s.scalar(
            select(RegistrySchema.id).where(RegistrySchema.fingerprint == parsed.fingerprint)
        )

    # ---- deletes ----------------------------------------------------------------------------

    def delete_version(self, subject: str, version: str | int, permanent: bool = False) -> int:
        """Soft-delete one version, or remove a soft-deleted one (``permanent``); returns its number."""
        number = parse_version(version)
        rows = self._rows(subject)
        if not rows or (not permanent and all(r.deleted for r in rows)):
            raise api_error(40401, subject=subject)
        if number is None:
            live = [r for r in rows if not r.deleted]
            if not live:
                raise api_error(40401, subject=subject)
            row = live[-1]
        else:
            row = next((r for r in rows if r.version == number), None)
            if row is None:
                raise api_error(40402, version=number)
        if permanent:
            if not row.deleted:
                raise api_error(40407, subject=subject, version=row.version)
            self.s.delete(row)
        else:
            if row.deleted:
                raise api_error(40406, subject=subject, version=row.version)
            row.deleted = True
        self.s.flush()
        return row.version

    def delete_subject(self, subject: str, permanent: bool = False) -> list[int]:
        """Soft-delete every live version, or (``permanent``) remove a soft-deleted subject and its
        config; returns the affected version numbers. 40401 / 40404 / 40405."""
        rows = self._rows(subject)
        if not rows:
            raise api_error(40401, subject=subject)
        live = [r.version for r in rows if not r.deleted]
        where = RegistrySubjectVersion.subject == subject
        if permanent:
            if live:
                raise api_error(40405, subject=subject)
            self.s.execute(delete(RegistrySubjectVersion).where(where))
            self.s.execute(delete(RegistryConfig).where(RegistryConfig.subject == subject))
            return [r.version for r in rows]
        if not live:
            raise api_error(40404, subject=subject)
        self.s.execute(update(RegistrySubjectVersion).where(where).values(deleted=True))
        return live

    # ---- compatibility configuration ----------------------------------------------------------

    def compatibility(self, subject: str | None = None, default_to_global: bool = False) -> str:
        """The level for ``subject`` (or the global one); 40408 if the subject has none of its own
        and ``default_to_global`` is false."""
        if subject:
            own = self.s.get(RegistryConfig, subject)
            if own is not None:
                return own.compatibility
            if not default_to_global:
                raise api_error(40408, subject=subject)
        glob = self.s.get(RegistryConfig, "")
        return glob.compatibility if glob is not None else self.default_compatibility

    def set_compatibility(self, level: str | None, subject: str | None = None) -> str:
        """Store a level (42203 if unknown) for ``subject`` or globally; returns the stored name."""
        name = compat.normalise_level(level) if level is not None else None
        if name is None:
            raise api_error(42203, level=level)
        stmt = self._insert(RegistryConfig).values(subject=subject or "", compatibility=name)
        self.s.execute(
            stmt.on_conflict_do_update(index_elements=["subject"], set_={"compatibility": name})
        )
        self.s.expire_all()
        return name

    def delete_compatibility(self, subject: str | None = None) -> str:
        """Remove a subject's level (40408 if none) or reset the global one; returns the old level."""
        old = self.compatibility(subject)
        self.s.execute(delete(RegistryConfig).where(RegistryConfig.subject == (subject or "")))
        self.s.expire_all()
        return old
