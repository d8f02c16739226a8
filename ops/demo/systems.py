"""The table of simulated existing systems the demo runs, and how each is connected.

Every entry pairs a simulator (``ops/simulators/``) with the production-shaped connector
config of that system (``connectors/systems/<file>.json``, with ``${NAME}`` placeholders
for addresses and secrets). ``make(env)`` builds the simulator and returns the values the
placeholders take; systems that *push* into the hub begin only when ``start()`` is called,
after their connector is registered.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SYSTEMS_DIR = Path(__file__).resolve().parents[1].parent / "connectors" / "systems"


@dataclass(frozen=True)
class DemoEnv:
    """What a system needs to start: a private work directory, the hub's API URL, data sizes."""

    workdir: Path
    hub_url: str
    seed: int = 1
    count: int = 200
    bad_ratio: float = 0.05
    database_url: str | None = None  # for simulators that live in a SQL database (default: SQLite in workdir)
    entities: int = 60_000  # master-data sizes (ops/demo/master_systems.py): the entity pool,
    officers: int = 2_400  # the officers and the catalog items the demo's systems start with
    items: int = 200


@dataclass
class RunningSystem:
    """A built simulator plus the placeholder values of its connector config."""

    simulator: Any  # has .ledger, .emit(n), .stop()
    values: dict[str, str]
    start: Callable[[], None] = field(default=lambda: None)
    """Begin pushing (push systems); a no-op for systems the hub pulls from."""


@dataclass(frozen=True)
class SystemSpec:
    """One existing system: its connector config file and how to simulate it."""

    name: str
    title: str
    config_file: str
    make: Callable[[DemoEnv], RunningSystem]


def load_config(spec: SystemSpec, values: dict[str, str], *, name: str | None = None) -> dict:
    """The connector config of ``spec`` with every ``${NAME}`` replaced; KeyError names a missing value."""
    text = (SYSTEMS_DIR / spec.config_file).read_text(encoding="utf-8")

    def sub(match: re.Match) -> str:
        key = match.group(1)
        if key not in values:
            raise KeyError(f"{spec.config_file} needs a value for ${{{key}}}; given: {', '.join(sorted(values))}")
        return json.dumps(values[key])[1:-1]  # JSON-escaped, inside the existing quotes

    config = json.loads(re.sub(r"\$\{([A-Z0-9_]+)\}", sub, text))
    if name:
        config["name"] = name
    return config
