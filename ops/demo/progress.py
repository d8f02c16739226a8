"""The demo's live progress: a block of plain text lines, redrawn in place on a terminal.

One line per system (state, emitted by the simulator, and the connector's counters from
``GET /connectors?expand=status``: polled, produced, dead-lettered, with a polled rate), then
the dead letters by reason. Without a terminal (a pipe, a log file, ``hub up`` under a
supervisor) every block is printed in full with a time stamp, so the output reads as a log.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TextIO


@dataclass
class Row:
    """What the progress block shows for one system."""

    system: str
    connector: str
    state: str
    emitted: int
    polled: int = 0
    produced: int = 0
    dead_lettered: int = 0
    failures: int = 0
    rate: float = 0.0
    last_error: str | None = None


def format_block(rows: list[Row], reasons: dict[str, dict[str, int]], elapsed: float,
                 note: str | None = None) -> list[str]:
    """The lines of one progress block (no trailing newlines)."""
    mins, secs = divmod(int(elapsed), 60)
    width = max([len(r.system) for r in rows] + [6])
    total = sum(r.polled for r in rows), sum(r.produced for r in rows), sum(r.dead_lettered for r in rows)
    lines = [f"demo {time.strftime('%H:%M:%S')}  up {mins:02d}:{secs:02d}  {len(rows)} systems  "
             f"polled {total[0]}  produced {total[1]}  dead-lettered {total[2]}" + (f"  ({note})" if note else ""),
             f"  {'system':<{width}}  {'state':<10} {'emitted':>8} {'polled':>8} {'produced':>8} "
             f"{'dead':>6} {'rec/s':>7}"]
    for r in rows:
        lines.append(f"  {r.system:<{width}}  {r.state:<10} {r.emitted:>8} {r.polled:>8} {r.produced:>8} "
                     f"{r.dead_lettered:>6} {r.rate:>7.1f}"
                     + (f"  failures {r.failures}" if r.failures else "")
                     + (f"  last error: {r.last_error[:100]}" if r.last_error and r.state != "RUNNING" else ""))
    by_reason = [(r.system, reasons.get(r.connector) or {}) for r in rows]
    if any(counts for _s, counts in by_reason):
        lines.append("  dead letters by reason:")
        for system, counts in by_reason:
            if counts:
                text = ", ".join(f"{reason} {n}" for reason, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
                lines.append(f"    {system:<{width}}  {text}")
    return lines


class ProgressPrinter:
    """Writes blocks to ``out``; on a terminal the previous block is overwritten (ANSI)."""

    def __init__(self, out: TextIO | None = None, redraw: bool | None = None):
        self.out = out or sys.stdout
        isatty = getattr(self.out, "isatty", lambda: False)
        self.redraw = isatty() if redraw is None else redraw
        self._previous = 0

    def show(self, lines: list[str]) -> None:
        if self.redraw and self._previous:
            # cursor up to the first line of the previous block, clear to the end of the screen
            self.out.write(f"\x1b[{self._previous}F\x1b[J")
        self.out.write("\n".join(lines) + "\n")
        if not self.redraw:
            self.out.write("\n")
        self.out.flush()
        self._previous = len(lines)
