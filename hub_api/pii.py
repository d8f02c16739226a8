"""Personal data in API responses: masked unless the caller holds ``pii:read``; unmasked access audited.

Which fields are personal comes from the data standard's ``pii`` attributes
(:func:`schemas.loader.pii_fields`), and the masking rules from
:mod:`connectors.sinks.masking`. A route declares ``viewer: PiiViewerDep`` and passes each
record through :meth:`PiiViewer.present` (standard-shaped dicts) or
:meth:`PiiViewer.value` (one field of a known kind). Every response that returned personal
data unmasked writes one row to ``pii_access_log`` (who, when, route, subject, fields).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import DateTime, Integer, String, Text, insert
from sqlalchemy.orm import Mapped, mapped_column

from connectors.sinks.masking import mask_paths, mask_value
from hub_api.auth.deps import OptionalPrincipal
from hub_api.auth.service import Principal
from hub_api.db import Base
from schemas.loader import pii_fields

PII_SCOPE = "pii:read"


class PiiAccess(Base):
    """Audit of unmasked personal data returned by the API."""

    __tablename__ = "pii_access_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    client_id: Mapped[str] = mapped_column(String(128), index=True)
    route: Mapped[str] = mapped_column(String(255))
    subject_type: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[str] = mapped_column(String(128))
    fields: Mapped[str] = mapped_column(Text)


class PiiViewer:
    """Presents records to one caller: masked, or unmasked and audited."""

    def __init__(self, request: Request, principal: Principal | None) -> None:
        self.request = request
        self.principal = principal
        self.cleared = bool(principal and principal.has(PII_SCOPE))
        self._audited: dict[tuple[str, str], set[str]] = {}

    def present(self, schema: str, record: dict[str, Any], subject_type: str, subject_id: str) -> dict[str, Any]:
        """``record`` (shaped like standard schema ``schema``, full name) as this caller may see it."""
        paths = pii_fields(schema)
        if not self.cleared:
            return mask_paths(record, paths)
        self._audit(subject_type, subject_id, sorted(paths))
        return record

    def value(self, kind: str, value: str | None, subject_type: str, subject_id: str, field: str) -> str | None:
        """One personal value of pii ``kind`` (``name``, ``id_number``, ``phone``, ``address``)."""
        if value is None:
            return None
        if not self.cleared:
            return mask_value(kind, value)
        self._audit(subject_type, subject_id, [field])
        return value

    def _audit(self, subject_type: str, subject_id: str, fields: list[str]) -> None:
        self._audited.setdefault((subject_type, subject_id), set()).update(fields)

    def flush(self) -> None:
        """Write the audit rows collected while the route ran (one transaction; nothing if none)."""
        if not self._audited:
            return
        route = getattr(self.request.scope.get("route"), "path", None) or self.request.url.path
        now = datetime.now(UTC)
        rows = [{"at": now, "client_id": self.principal.client_id, "route": route, "subject_type": subject_type,
                 "subject_id": subject_id, "fields": ",".join(sorted(fields))}
                for (subject_type, subject_id), fields in self._audited.items()]
        with self.request.app.state.db.engine.begin() as conn:
            conn.execute(insert(PiiAccess), rows)
        self._audited.clear()


def get_pii_viewer(request: Request, principal: OptionalPrincipal) -> Iterator[PiiViewer]:
    viewer = PiiViewer(request, principal)
    yield viewer
    viewer.flush()


# scope="function": the audit is written as soon as the route returns, before the response is sent,
# so it exists by the time the caller sees the data.
PiiViewerDep = Annotated[PiiViewer, Depends(get_pii_viewer, scope="function")]
