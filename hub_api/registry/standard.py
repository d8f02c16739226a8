"""Register the hub's own data standard in its registry at API startup.

Each subject is registered in its own transaction, so one incompatible edit does not
hold back the rest; an incompatible subject is logged loudly and left at its old
version (the API still starts: producers keep using the registered schema, and
``hub schemas check`` names the problem).
"""

from __future__ import annotations

import logging

from hub_api.db import Database
from hub_api.registry.store import RegistryAPIError, RegistryStore
from ops.settings import HubSettings

log = logging.getLogger(__name__)


def register_standard(db: Database, settings: HubSettings) -> dict[str, list[str]]:
    """Register every subject of the standard; returns ``{"registered": [...], "incompatible": [...]}``."""
    from topics.subjects import standard_subjects

    out: dict[str, list[str]] = {"registered": [], "incompatible": []}
    for subject, (_record, text) in standard_subjects().items():
        try:
            with db.session() as session:
                RegistryStore(session, settings.registry_default_compatibility).register(subject, text)
            out["registered"].append(subject)
        except RegistryAPIError as exc:
            out["incompatible"].append(subject)
            log.error("data standard not registered", extra={"subject": subject, "reason": exc.message})
    return out
