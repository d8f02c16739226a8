"""Shared machinery of the non-penalty simulators: versioned items, defects, re-sends.

:class:`VersionedGenerator` is the dialect-free core that :class:`~ops.simulators.cases.CaseGenerator`
is for penalty cases, generalised to any record that walks a timeline of versions (a 12345
ticket through its loop, a grid event through its handling, a risk clue through review).
Subclasses implement :meth:`VersionedGenerator._new_item` (key, base fields, timeline of
``(stage, time, changes)``), :meth:`_applicable` and :meth:`_apply_defect`; this class
interleaves several open items, numbers their versions 1, 2, 3, ..., applies data defects
to ``bad_ratio`` of the fresh events and re-sends earlier good events as ``duplicate`` and
``out_of_order`` exactly as ``CaseGenerator`` does, so :class:`~ops.simulators.ledger.Ledger`
reconciles them the same way.  Defect kinds reuse :data:`ops.simulators.cases.REASONS`.

:class:`GeneratedSimulator` / :class:`GeneratedHttpSimulator` are the
:class:`~ops.simulators.base.Simulator` / :class:`~ops.simulators.base.HttpSimulator` bases
with such a generator in place of the penalty-case one.

Deterministic: same seed and options -> same events in the same order.  Not thread-safe.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from faker import Faker

from ops.simulators.base import HttpSimulator, Simulator
from ops.simulators.cases import DEFAULT_ANCHOR, REASONS, REPAIRABLE, SimEvent
from ops.simulators.stream import Item, VersionStream
from schemas.codes import make_resident_id, make_uscc
from schemas.regions import counties

ZJ_COUNTIES = counties("330000")
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


class VersionedGenerator(VersionStream):
    """Deterministic stream of :class:`SimEvent` for versioned items (see the module docstring).

    ``defects`` restricts the data defect kinds (default :attr:`DEFAULT_DEFECTS`); every kind
    must be in :attr:`SUPPORTED_DEFECTS` and in :data:`ops.simulators.cases.REASONS`.
    """

    DEFAULT_DEFECTS: tuple[str, ...] = ()
    SUPPORTED_DEFECTS: tuple[str, ...] = ()
    salt = "item"

    def __init__(self, seed: int, bad_ratio: float = 0.05, duplicate_ratio: float = 0.02,
                 out_of_order_ratio: float = 0.02, *, defects: Iterable[str] | None = None,
                 anchor: date = DEFAULT_ANCHOR, active_items: int = 8):
        self.rng = random.Random(f"{seed}:{self.salt}")
        self.fake = Faker("zh_CN")
        self.fake.seed_instance(seed)
        self.bad_ratio, self.duplicate_ratio, self.out_of_order_ratio = bad_ratio, duplicate_ratio, out_of_order_ratio
        self.defects = tuple(self.DEFAULT_DEFECTS if defects is None else defects)
        unknown = set(self.defects) - set(self.SUPPORTED_DEFECTS)
        if unknown:
            raise ValueError(f"unknown defect kinds {sorted(unknown)}; valid: {list(self.SUPPORTED_DEFECTS)}")
        self.anchor = anchor
        self._n_active = active_items
        self._init_stream()
        self.seq = 0

    # ---------------------------------------------------------------- subclass hooks
    def _new_item(self) -> Item:  # pragma: no cover - abstract
        raise NotImplementedError

    def _applicable(self, kind: str, f: dict) -> bool:
        return True

    def _apply_defect(self, f: dict, kind: str) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # ---------------------------------------------------------------- internals
    def _open_item(self) -> Item:
        self.seq += 1
        return self._new_item()

    def _fresh_event(self) -> SimEvent:
        item, stage, snap = self._advance()
        snap = copy.deepcopy(snap)  # defects edit nested values in place: never share them with the item
        ev = SimEvent(item.key, item.emitted, stage, snap, operation="i" if item.emitted == 1 else "u")
        if self.rng.random() < self.bad_ratio:
            kinds = [k for k in self.defects if self._applicable(k, snap)]
            if kinds:
                kind = self.rng.choice(kinds)
                ev.defect, ev.repairable = kind, kind in REPAIRABLE
                self._apply_defect(ev.fields, kind)
        self._remember(ev)
        return ev

    # ---------------------------------------------------------------- shared helpers
    def when(self, d: date, start_hour: int = 8, hours: int = 10) -> datetime:
        """A time on day ``d`` between ``start_hour`` and ``start_hour + hours``."""
        return datetime.combine(d, time(start_hour)) + timedelta(minutes=self.rng.randrange(0, hours * 60),
                                                                 seconds=self.rng.randrange(60))

    def uscc(self, region: str, org_type: str = "1", registration_dept: str = "9") -> str:
        """A valid USCC in ``region`` (default: an enterprise registered by market regulation)."""
        body = "".join(self.rng.choice(USCC_CHARS) for _ in range(8))
        return make_uscc(region, body, registration_dept, org_type)

    def resident_id(self, region: str | None = None) -> str:
        born = date(1955, 1, 1) + timedelta(days=self.rng.randrange(0, 17000))
        return make_resident_id(region or self.rng.choice(ZJ_COUNTIES), born, self.rng.randrange(1, 999))

    def mobile(self) -> str:
        """An 11-digit mainland mobile number (1[3-9]xxxxxxxxx)."""
        return f"1{self.rng.choice('3456789')}{self.rng.randrange(10**9):09d}"

    def wrong_check(self, code: str, charset: str) -> str:
        return code[:-1] + self.rng.choice([c for c in charset if c != code[-1]])


class GeneratedSimulator(Simulator):
    """A :class:`Simulator` whose events come from :meth:`make_generator` instead of ``CaseGenerator``.

    Extra keyword arguments are passed on to :meth:`make_generator`.
    """

    def make_generator(self, seed: int, bad_ratio: float, duplicate_ratio: float, out_of_order_ratio: float,
                       **kw) -> VersionedGenerator:  # pragma: no cover - abstract
        raise NotImplementedError


class GeneratedHttpSimulator(HttpSimulator, GeneratedSimulator):
    """:class:`HttpSimulator` (rows, uvicorn thread, initial emission) over a :class:`VersionedGenerator`."""


def reason_of(ev: SimEvent) -> str | None:
    """Expected dead-letter reason of ``ev`` (``None``: accepted, or a re-send)."""
    if ev.defect in (None, "duplicate", "out_of_order") or ev.repairable:
        return None
    return REASONS[ev.defect]
