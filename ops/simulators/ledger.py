"""What a simulator emitted, and what the hub must therefore produce: the reconciliation ledger.

One JSON object per emitted record, appended to a JSON-lines file (flushed per write), so a
test or ``hub demo --check`` in another process can reconcile with :meth:`Ledger.load`.

Line format::

    {"n": 17, "key": "330000GAT-2025-000005", "version": 2, "stage": "filing",
     "operation": "u", "defect": null, "repairable": false,
     "outcome": "good" | "dead" | "repeat", "reason": null | "uscc_check" | ...,
     "position": "<where it is on the wire, dialect-specific>"}

``outcome``: ``good`` -- must be on the standard topic once (also repairable defects);
``dead`` -- must be in the dead-letter topic with ``reason``; ``repeat`` -- a duplicate or
out-of-order re-send of an already emitted good (key, version): it must not add a record
after deduplication on the deterministic record id (source system + key + version).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path

from ops.simulators.cases import REASONS, SimEvent

Key = tuple[str, int]


class Ledger:
    """Thread-safe record of emitted events; optionally mirrored to a JSON-lines file."""

    def __init__(self, path: str | Path | None = None, *, system: str = ""):
        self.path = Path(path) if path else None
        self.system = system
        self.entries: list[dict] = []
        self._lock = threading.Lock()
        self._fh = None
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open, closed in close()

    def record(self, ev: SimEvent, position: str | None = None, *, reason: str | None = None) -> dict:
        """Log one emitted event; ``reason`` overrides the defect's default reason code."""
        if ev.defect in ("duplicate", "out_of_order"):
            outcome, why = "repeat", None
        elif ev.defect and not ev.repairable:
            outcome, why = "dead", reason or REASONS[ev.defect]
        else:
            outcome, why = "good", None
        with self._lock:
            entry = {"n": len(self.entries) + 1, "key": ev.source_key, "version": ev.version,
                     "stage": ev.stage, "operation": ev.operation, "defect": ev.defect,
                     "repairable": ev.repairable, "outcome": outcome, "reason": why,
                     "position": position}
            self.entries.append(entry)
            if self._fh:
                self._fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
                self._fh.flush()
        return entry

    def expected(self) -> dict:
        """``{"good": {(key, version), ...}, "dead": {(key, version): reason}}``."""
        with self._lock:
            entries = list(self.entries)
        good: set[Key] = set()
        dead: dict[Key, str] = {}
        for e in entries:
            k = (e["key"], e["version"])
            if e["outcome"] == "good":
                good.add(k)
            elif e["outcome"] == "dead":
                dead[k] = e["reason"]
        return {"good": good, "dead": dead}

    def summary(self) -> dict:
        """Counts: emitted, good (distinct), dead by reason, repeats, defects by kind."""
        exp = self.expected()
        with self._lock:
            entries = list(self.entries)
        return {"system": self.system, "emitted": len(entries), "good": len(exp["good"]),
                "dead": dict(Counter(exp["dead"].values())),
                "repeats": sum(e["outcome"] == "repeat" for e in entries),
                "defects": dict(Counter(e["defect"] for e in entries if e["defect"]))}

    def __len__(self) -> int:
        return len(self.entries)

    def close(self) -> None:
        if self._fh:
            self._fh.close()
            self._fh = None

    @classmethod
    def load(cls, path: str | Path) -> Ledger:
        """Read a ledger file written by another process (read-only: not reopened for append)."""
        led = cls()
        led.path = Path(path)
        with open(path, encoding="utf-8") as fh:
            led.entries = [json.loads(line) for line in fh if line.strip()]
        return led
