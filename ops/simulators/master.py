"""Shared core of the master-data generators (market entities, officers, item catalog).

Master data is not a lifecycle walked by a few open items (penalty cases, tickets) but a
large register whose rows are created once and then changed now and then.  A
:class:`MasterStream` keeps per key only its current version and lets the subclass build the
next full snapshot; it reuses :class:`~ops.simulators.stream.VersionStream` for the
``duplicate`` / ``out_of_order`` re-sends, so :class:`~ops.simulators.ledger.Ledger` and
:func:`~ops.simulators.reconcile.reconcile` treat these systems exactly like the others.

Data defects are system-specific: a subclass lists them in :attr:`MasterStream.REASONS`
(defect -> expected dead-letter reason, ``None`` = repairable, must be accepted), says which
apply to a snapshot (:meth:`applicable`) and applies one (:meth:`apply_defect`).  Simulators
record the reason from :meth:`MasterStream.reason` in the ledger.

Deterministic for a seed; not thread-safe (one generator per simulator, under its lock).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from faker import Faker

from ops.simulators.cases import DEFAULT_ANCHOR, SimEvent
from ops.simulators.stream import VersionStream


class MasterStream(VersionStream):
    """Versioned snapshots of register rows with a known share of defects; see the module docstring."""

    REASONS: dict[str, str | None] = {}
    DEFAULT_DEFECTS: tuple[str, ...] = ()
    salt = "master"

    def __init__(self, seed: int, bad_ratio: float = 0.05, duplicate_ratio: float = 0.02,
                 out_of_order_ratio: float = 0.02, *, defects: Iterable[str] | None = None,
                 anchor: date = DEFAULT_ANCHOR):
        self.rng = random.Random(f"{seed}:{self.salt}")
        self.fake = Faker("zh_CN")
        self.fake.seed_instance(seed)
        self.seed = seed
        self.bad_ratio, self.duplicate_ratio, self.out_of_order_ratio = bad_ratio, duplicate_ratio, out_of_order_ratio
        self.defects = tuple(self.DEFAULT_DEFECTS if defects is None else defects)
        unknown = set(self.defects) - set(self.REASONS)
        if unknown:
            raise ValueError(f"unknown defect kinds {sorted(unknown)}; valid: {list(self.REASONS)}")
        self.anchor = anchor
        self._n_active = 0
        self._init_stream()
        self.versions: dict[str, int] = {}

    def reason(self, ev: SimEvent) -> str | None:
        """Dead-letter reason the hub must give for ``ev`` (``None``: accepted or a re-send)."""
        if ev.defect in (None, "duplicate", "out_of_order"):
            return None
        return self.REASONS[ev.defect]

    def event(self, key: str, stage: str, fields: dict, operation: str | None = None) -> SimEvent:
        """The next version of ``key`` with snapshot ``fields``; maybe a defect; remembered for re-sends."""
        version = self.versions.get(key, 0) + 1
        self.versions[key] = self._last[key] = version
        # Snapshots are flat or hold nested values that are replaced, never changed in place: a
        # shallow copy isolates them (deep copies cost most of the time of a 60,000-row load).
        ev = SimEvent(key, version, stage, dict(fields),
                      operation=operation or ("i" if version == 1 else "u"))
        if ev.operation != "d" and self.rng.random() < self.bad_ratio:
            kinds = [k for k in self.defects if self.applicable(k, ev)]
            if kinds:
                kind = self.rng.choice(kinds)
                ev.defect, ev.repairable = kind, self.REASONS[kind] is None
                self.apply_defect(ev, kind)
        self._remember(ev)
        return ev

    def _remember(self, ev: SimEvent) -> None:
        if ev.defect is None:
            self._good.append(copy.copy(ev))
            if len(self._good) > 800:
                del self._good[:-400]

    def applicable(self, kind: str, ev: SimEvent) -> bool:
        return True

    def apply_defect(self, ev: SimEvent, kind: str) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def at(self, d: date) -> datetime:
        """A working-hours time on day ``d``."""
        return datetime.combine(d, time(8, 30)) + timedelta(minutes=self.rng.randrange(0, 540),
                                                            seconds=self.rng.randrange(60))

    def wrong_check(self, code: str, charset: str) -> str:
        """``code`` with a wrong last (check) character."""
        return code[:-1] + self.rng.choice([c for c in charset if c != code[-1]])
