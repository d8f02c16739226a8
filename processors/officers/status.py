"""Certificate status rules, shared by the officer processor and the API. Pure functions.

A certificate's ``valid_to`` is its last valid day, in China Standard Time: it expires at
00:00 Asia/Shanghai of the next day (16:00 UTC of ``valid_to``), whatever the server's
time zone. Effective status:

- ``revoked`` stays ``revoked`` (a revocation outranks expiry);
- ``valid`` or ``suspended`` with ``valid_to`` before today becomes ``expired``;
- otherwise the recorded status.

A certificate whose ``valid_from`` lies after today keeps its status in the registry but is
not usable yet (:func:`usability` says ``certificate_not_yet_valid``).
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")
STATUSES = ("valid", "suspended", "revoked", "expired")
EXPIRABLE = ("valid", "suspended")


def today(now: datetime) -> date:
    """The calendar date in Asia/Shanghai at ``now`` (timezone-aware)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(CHINA).date()


def effective_status(recorded: str, valid_to: date | None, on: date) -> str:
    """The status a certificate has on day ``on`` (see the module docstring)."""
    if recorded not in STATUSES:
        recorded = "suspended"  # unknown statuses are not usable, as the schema's enum default says
    if recorded in EXPIRABLE and valid_to is not None and valid_to < on:
        return "expired"
    return recorded


def usability(status: str, valid_from: date | None, valid_to: date | None, on: date) -> str:
    """``ok`` if a certificate may be shown on day ``on``, else a machine reason.

    ``status`` is the stored effective status; expiry by date is applied again here, so a
    certificate past ``valid_to`` is refused even before the daily timer has flipped it.
    """
    status = effective_status(status, valid_to, on)
    if status != "valid":
        return f"certificate_{status}"
    if valid_from is not None and valid_from > on:
        return "certificate_not_yet_valid"
    return "ok"


def version_key(source_version: str | None, event_time_ms: int) -> tuple:
    """Sort key of a source update: its version (numerically when both are digits), else its event time.

    Versions are row versions or update timestamps; ``"10"`` must sort after ``"9"``, and
    ISO timestamps sort as text. A record without a version is ordered by its event time,
    below any versioned record of the same certificate.
    """
    if source_version is None or source_version == "":
        return (0, event_time_ms, "")
    if source_version.isdigit():
        return (1, int(source_version), "")
    return (2, 0, source_version)
