"""A small process supervisor: the one process tree behind ``hub up``.

Children start in order, are restarted with exponential backoff when they exit
unexpectedly (a child that keeps failing is given up after ``max_restarts`` and the
whole tree stops, loudly), and stop in reverse order on SIGINT/SIGTERM: SIGTERM
first, SIGKILL after a grace period. Runs on the main thread.

The signal handlers are installed by :meth:`Supervisor.start`, not just :meth:`run`: a
Ctrl-C that lands while a child is being spawned must not leave that child running
outside the tree (an orphan that outlives the broker it was started against). A signal
during start interrupts only a ``ready`` wait; start then returns early with
:attr:`Supervisor.stopping` set and :meth:`run` stops whatever was started.
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
        self._interruptible = False  # true only inside a child's ``ready`` wait
        self._previous: dict[int, object] = {}

    @property
    def stopping(self) -> bool:
        """A stop was requested (signal, or a child that kept failing)."""
        return self._stopping

    def _install_handlers(self) -> None:
        if not self._previous:
            self._previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}

    def _restore_handlers(self) -> None:
        previous, self._previous = self._previous, {}
        for s, h in previous.items():
            signal.signal(s, h)

    def _spawn(self, child: Child) -> None:
        child.proc = subprocess.Popen(child.argv, env={**os.environ, **child.env}, start_new_session=True)
        log.info("started", extra={"child": child.name, "pid": child.proc.pid})

    def start(self) -> None:
        """Spawn the children in order, waiting for each one's ``ready``.

        Returns early (``stopping`` set) on SIGINT/SIGTERM; a ``ready`` that fails raises,
        and the caller is expected to :meth:`stop` what was started.
        """
        self._install_handlers()
        try:
            for child in self.children:
                if self._stopping:
                    return
                self._spawn(child)  # not interruptible: ``child.proc`` must be set
                if child.ready:
                    self._interruptible = True
                    try:
                        if self._stopping:
                            return
                        child.ready()
                    finally:
                        self._interruptible = False
        except KeyboardInterrupt:
            # Raised by our handler inside a ``ready`` wait; ``_stopping`` is already set.
            self._stopping = True

    def _on_signal(self, signum, _frame) -> None:
        self._stopping = True
        if self._interruptible:
            self._interruptible = False
            raise KeyboardInterrupt

    def run(self, until: Callable[[], bool] | None = None) -> int:
        """Watch children until a signal (or ``until()`` is true), then stop them all.

        Returns 0 for a requested stop (also one requested during :meth:`start`), 1 when a
        child exhausted its restarts.
        """
        self._install_handlers()
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
        return code

    def stop(self) -> None:
        """Stop every child in reverse start order (idempotent), then restore the signal handlers."""
        try:
            self._stop_children()
        finally:
            self._restore_handlers()

    def _stop_children(self) -> None:
        for child in reversed(self.children):
            proc, child.proc = child.proc, None
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=self.grace)
            except subprocess.TimeoutExpired:
                log.warning("did not stop in time; killed", extra={"child": child.name, "grace_s": self.grace})
                proc.kill()
                proc.wait(timeout=5)
            log.info("stopped", extra={"child": child.name})
