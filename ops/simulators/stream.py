"""The emission loop shared by every generator: versioned items interleaved, plus re-sends.

:class:`VersionStream` is the part :class:`~ops.simulators.cases.CaseGenerator` and
:class:`~ops.simulators.lifecycle.VersionedGenerator` have in common.  Both draw from one
``random.Random`` in the same order, so a seed gives the same events whichever class runs it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from schemas.regions import parent, region_name

if TYPE_CHECKING:  # cases imports this module; SimEvent is only named in annotations here
    import random

    from faker import Faker

    from ops.simulators.cases import SimEvent


@dataclass
class Item:
    """One generated item: its key, its current fields and the versions still to emit."""

    key: str
    base: dict
    timeline: list[tuple[str, datetime, dict]]
    emitted: int = 0
    extra: dict = field(default_factory=dict)


class VersionStream:
    """Interleaves ``_n_active`` open items, steps them through their timelines, re-sends.

    Subclasses set, in ``__init__``: ``rng``, ``fake``, ``duplicate_ratio``,
    ``out_of_order_ratio``, ``_n_active`` and call :meth:`_init_stream`; they implement
    :meth:`_open_item` (a new :class:`Item`)
    and :meth:`_fresh_event` (usually :meth:`_advance`, a defect, :meth:`_remember`).
    """

    rng: random.Random
    fake: Faker
    duplicate_ratio: float
    out_of_order_ratio: float
    _n_active: int

    def _init_stream(self) -> None:
        self._active: list[Item] = []
        self._last: dict[str, int] = {}  # latest emitted version per item
        self._good: list[SimEvent] = []  # recent good events, for re-sends
        self.emitted = 0

    # ---------------------------------------------------------------- public API
    def __iter__(self) -> Iterator[SimEvent]:
        while True:
            yield self.next_event()

    def take(self, n: int) -> list[SimEvent]:
        """The next ``n`` events."""
        return [self.next_event() for _ in range(n)]

    def next_event(self) -> SimEvent:
        """The next event in emission order (re-sends included)."""
        rng = self.rng
        self.emitted += 1
        roll = rng.random()
        if self._good and roll < self.duplicate_ratio:
            ev = copy.deepcopy(rng.choice(self._good[-200:]))
            ev.defect, ev.repairable = "duplicate", False
            return ev
        if roll < self.duplicate_ratio + self.out_of_order_ratio:
            older = [e for e in self._good[-300:] if e.version < self._last.get(e.source_key, 0)]
            if older:
                ev = copy.deepcopy(rng.choice(older))
                ev.defect, ev.repairable = "out_of_order", False
                return ev
        return self._fresh_event()

    # ---------------------------------------------------------------- subclass hooks
    def _open_item(self) -> Item:  # pragma: no cover - abstract
        raise NotImplementedError

    def _fresh_event(self) -> SimEvent:  # pragma: no cover - abstract
        raise NotImplementedError

    # ---------------------------------------------------------------- shared steps
    def _advance(self) -> tuple[Item, str, dict]:
        """Step a random open item to its next version: ``(item, stage, snapshot fields)``."""
        while len(self._active) < self._n_active:
            self._active.append(self._open_item())
        item = self.rng.choice(self._active)
        stage, when, changes = item.timeline[item.emitted]
        item.emitted += 1
        if item.emitted >= len(item.timeline):
            self._active.remove(item)
        item.base.update(changes)
        self._last[item.key] = item.emitted
        return item, stage, dict(item.base, stage=stage, stage_time=when, version=item.emitted)

    def _remember(self, ev: SimEvent) -> None:
        """Keep ``ev`` (if good) as a candidate for later re-sends."""
        if ev.defect is None:
            self._good.append(copy.deepcopy(ev))
            del self._good[:-400]

    def address(self, region: str) -> str:
        """A street address in ``region`` (province + city + county names, street, number)."""
        names = [region_name(c) or "" for c in (parent(parent(region) or "") or "", parent(region) or "", region) if c]
        return "".join(names) + self.fake.street_name() + f"{self.rng.randrange(1, 999)}号"
