"""What the source and sink runners share: their reported state and retried external calls."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from tenacity import Retrying, stop_after_attempt, wait_exponential_jitter

log = logging.getLogger("hub.connectors")
T = TypeVar("T")


class RunnerLifecycle:
    """Mixin for a runner with ``name``, ``metrics`` (or None), ``state`` and ``retry_attempts``,
    ``retry_initial``, ``retry_max`` attributes. Methods run on the runner's worker thread."""

    name: str
    metrics: Any
    state: str
    retry_attempts: int
    retry_initial: float
    retry_max: float

    def _set_state(self, state: str) -> None:
        self.state = state
        if self.metrics:
            self.metrics.state(self.name, state)

    def _retrying(self, operation: str, fn: Callable[[], T]) -> T:
        """``fn()`` retried with bounded exponential backoff and jitter; the last error is re-raised."""

        def before_sleep(rs) -> None:
            if self.metrics:
                self.metrics.retried(self.name, operation)
            log.warning("retrying %s", operation, extra={"connector": self.name, "attempt": rs.attempt_number,
                                                         "error_class": type(rs.outcome.exception()).__name__})

        return Retrying(stop=stop_after_attempt(self.retry_attempts), reraise=True, before_sleep=before_sleep,
                        wait=wait_exponential_jitter(initial=self.retry_initial, max=self.retry_max))(fn)
