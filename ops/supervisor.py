"""A small process supervisor: the one process tree behind ``hub up``.

Children start in order, are restarted with exponential backoff when they exit
unexpectedly (a child that keeps failing is given up after ``max_restarts`` and the
whole tree stops, loudly), and stop in reverse order on SIGINT/SIGTERM: SIGTERM
first, SIGKILL after a grace period. Runs on the main thread.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass
class Child:
    """One supervised command; ``ready`` (optional) blocks until the child serves."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    ready: Callable[[], None] | None = None
    max_restarts: int = 5
    proc: subprocess.Popen | None = None
    restarts: int = 0
    next_start: float = 0.0


class Supervisor:
    """Starts, watches and stops :class:`Child` processes."""

    def __init__(self, children: list[Child], grace_seconds: float = 10.0):
        self.children = children
        self.grace = grace_seconds
        self._stopping = False

    def _spawn(self, child: Child) -> None:
        child.proc = subprocess.Popen(child.argv, env={**os.environ, **child.env}, start_new_session=True)
        log.info("started", extra={"child": child.name, "pid": child.proc.pid})

    def start(self) -> None:
        for child in self.children:
            self._spawn(child)
            if child.ready:
                child.ready()

    def _on_signal(self, signum, _frame) -> None:
        self._stopping = True

    def run(self, until: Callable[[], bool] | None = None) -> int:
        """Watch children until a signal (or ``until()`` is true); returns the exit code."""
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        code = 0
        try:
            while not self._stopping and not (until and until()):
                for child in self.children:
                    if child.proc is None or child.proc.poll() is None:
                        if child.proc is None and time.monotonic() >= child.next_start:
                            self._spawn(child)
                        continue
                    rc = child.proc.returncode
                    child.proc = None
                    child.restarts += 1
                    if child.restarts > child.max_restarts:
                        log.error("gave up", extra={"child": child.name, "exit_code": rc})
                        print(f"hub: {child.name} failed {child.restarts} times (last exit code {rc}); stopping.", flush=True)
                        self._stopping, code = True, 1
                        break
                    delay = min(30.0, 0.5 * 2 ** child.restarts)
                    child.next_start = time.monotonic() + delay
                    log.warning("exited; restarting", extra={"child": child.name, "exit_code": rc,
                                                             "restart_in_s": delay})
                time.sleep(0.2)
        finally:
            self.stop()
            for s, h in previous.items():
                signal.signal(s, h)
        return code

    def stop(self) -> None:
        """Stop every child in reverse start order (idempotent)."""
        for child in reversed(self.children):
            proc, child.proc = child.proc, None
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=self.grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            log.info("stopped", extra={"child": child.name})
