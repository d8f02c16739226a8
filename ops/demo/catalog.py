"""The demo's systems: an explicit table assembled from the per-group modules."""

from __future__ import annotations

from ops.demo import data_systems, http_systems, master_systems, soap_systems
from ops.demo.systems import SystemSpec

SYSTEMS: dict[str, SystemSpec] = {
    spec.name: spec
    for group in (
        master_systems.SPECS,
        soap_systems.SPECS,
        data_systems.SPECS,
        http_systems.SPECS,
    )
    for spec in group
}


def get_system(name: str) -> SystemSpec:
    """The system called ``name``; an unknown name is answered with the valid ones."""
    try:
        return SYSTEMS[name]
    except KeyError:
        raise KeyError(f"unknown demo system {name!r}; valid: {', '.join(SYSTEMS)}") from None
