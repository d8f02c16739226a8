"""The registry of processors ``hub process`` runs: an explicit dict, name -> instance.

Importing this module imports every processor module, which declares its tables on
``hub_api.db.Base`` (``create_schema`` relies on that).
"""

from __future__ import annotations

from processors.cases.processor import CaseProcessor
from processors.entities.processor import PROCESSOR as ENTITIES
from processors.items.processor import PROCESSOR as ITEMS
from processors.officers.processor import PROCESSOR as OFFICERS
from processors.quality.processor import QualityProcessor
from processors.risk.processor import PROCESSOR as RISK
from processors.runtime.contract import Processor
from processors.sampling.processor import PROCESSOR as SAMPLING
from processors.tasks.processor import PROCESSOR as TASKS
from processors.triage.processor import PROCESSOR as TRIAGE

PROCESSORS: dict[str, Processor] = {
    "cases": CaseProcessor(),
    "sampling": SAMPLING,
    "quality": QualityProcessor(),
    "officers": OFFICERS,
    "items": ITEMS,
    "entities": ENTITIES,
    "risk": RISK,
    "triage": TRIAGE,
    "tasks": TASKS,
}
"""Every processor, keyed by its name (also its consumer identity and dead-letter topic suffix)."""


def select(names: str | None) -> dict[str, Processor]:
    """The processors named in a comma-separated list (None or empty: all); ValueError for unknown names."""
    if not names:
        return dict(PROCESSORS)
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in PROCESSORS]
    if unknown:
        raise ValueError(f"unknown processor(s) {', '.join(unknown)}; valid: {', '.join(sorted(PROCESSORS))}")
    return {n: PROCESSORS[n] for n in wanted}
