"""Window tallies: the additive figures of one source, department and window, and their ratios.

Every figure is a count (or a per-bucket count, or a max), so tallies of batches add up to
the tally of the window and windows add up to any longer period: the report API and the
Prometheus gauges sum windows, then derive ratios and latency quantiles.

Latency is kept as counts per fixed bucket (:data:`LATENCY_BOUNDS_MS`, upper bounds,
inclusive) plus the maximum; a quantile is the upper bound of the bucket that holds it,
capped at the maximum seen — exact when latencies sit on bucket bounds, otherwise an upper
estimate within one bucket.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from processors.quality.measures import Measure

_S = 1000
LATENCY_BOUNDS_MS: tuple[int, ...] = (
    1 * _S, 5 * _S, 15 * _S, 60 * _S, 300 * _S, 900 * _S, 3600 * _S, 4 * 3600 * _S, 12 * 3600 * _S,
    86400 * _S, 3 * 86400 * _S, 7 * 86400 * _S, 30 * 86400 * _S,
)
"""Upper bounds of the latency buckets (ms); one more bucket holds everything above the last."""


def bucket_of(latency_ms: int) -> int:
    for i, bound in enumerate(LATENCY_BOUNDS_MS):
        if latency_ms <= bound:
            return i
    return len(LATENCY_BOUNDS_MS)


@dataclass
class Tally:
    """Additive quality figures of one (source system, department, window)."""

    records: int = 0
    rejected: int = 0
    duplicates: int = 0
    invalid: int = 0
    fields_expected: int = 0
    fields_missing: int = 0
    timely: int = 0
    latency_count: int = 0
    latency_max_ms: int = 0
    latency_buckets: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BOUNDS_MS) + 1))
    missing_counts: Counter = field(default_factory=Counter)
    error_counts: Counter = field(default_factory=Counter)

    def add(self, m: Measure, *, duplicate: bool, timely_within_ms: int) -> None:
        """Count one record's measure."""
        self.records += 1
        self.duplicates += int(duplicate)
        self.invalid += int(bool(m.errors))
        self.fields_expected += m.expected
        self.fields_missing += len(m.missing)
        self.missing_counts.update(m.missing)
        self.error_counts.update(m.errors)
        if m.latency_ms is not None:
            self.latency_count += 1
            self.timely += int(m.latency_ms <= timely_within_ms)
            self.latency_max_ms = max(self.latency_max_ms, m.latency_ms)
            self.latency_buckets[bucket_of(m.latency_ms)] += 1

    def merge(self, other: Tally) -> Tally:
        """Add ``other`` into this tally (returns self)."""
        for name in ("records", "rejected", "duplicates", "invalid", "fields_expected", "fields_missing",
                     "timely", "latency_count"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.latency_max_ms = max(self.latency_max_ms, other.latency_max_ms)
        width = max(len(self.latency_buckets), len(other.latency_buckets))
        self.latency_buckets = [
            (self.latency_buckets[i] if i < len(self.latency_buckets) else 0)
            + (other.latency_buckets[i] if i < len(other.latency_buckets) else 0) for i in range(width)]
        self.missing_counts.update(other.missing_counts)
        self.error_counts.update(other.error_counts)
        return self

    # -- derived figures ---------------------------------------------------------------------
    @property
    def completeness(self) -> float | None:
        """Share of expected fields filled; None when no expected field was measured."""
        if not self.fields_expected:
            return None
        return (self.fields_expected - self.fields_missing) / self.fields_expected

    @property
    def accuracy(self) -> float | None:
        """Share of records passing every rule; dead-lettered records count as failing."""
        total = self.records + self.rejected
        return (self.records - self.invalid) / total if total else None

    @property
    def timeliness(self) -> float | None:
        """Share of records ingested within the agreed delay."""
        return self.timely / self.latency_count if self.latency_count else None

    def latency_quantile_ms(self, q: float) -> int | None:
        """Upper bound of the bucket holding quantile ``q`` (0-1), capped at the maximum seen."""
        if not self.latency_count:
            return None
        rank = max(1, math.ceil(q * self.latency_count))
        seen = 0
        for i, n in enumerate(self.latency_buckets):
            seen += n
            if seen >= rank:
                bound = LATENCY_BOUNDS_MS[i] if i < len(LATENCY_BOUNDS_MS) else self.latency_max_ms
                return min(bound, self.latency_max_ms)
        return self.latency_max_ms

    # -- rows --------------------------------------------------------------------------------
    def columns(self) -> dict[str, Any]:
        """The window-table columns of this tally (JSON maps sorted for stable rows)."""
        return {
            "records": self.records, "duplicates": self.duplicates, "invalid": self.invalid,
            "fields_expected": self.fields_expected, "fields_missing": self.fields_missing,
            "timely": self.timely, "latency_count": self.latency_count, "latency_max_ms": self.latency_max_ms,
            "latency_buckets": list(self.latency_buckets),
            "missing_counts": dict(sorted(self.missing_counts.items())),
            "error_counts": dict(sorted(self.error_counts.items())),
        }

    @classmethod
    def from_columns(cls, row: Any, rejected: int = 0) -> Tally:
        """A tally from a window row (mapping or Row with the :meth:`columns` names)."""
        get = row.get if isinstance(row, dict) else (lambda k: getattr(row, k))
        return cls(
            records=get("records") or 0, rejected=rejected, duplicates=get("duplicates") or 0,
            invalid=get("invalid") or 0, fields_expected=get("fields_expected") or 0,
            fields_missing=get("fields_missing") or 0, timely=get("timely") or 0,
            latency_count=get("latency_count") or 0, latency_max_ms=get("latency_max_ms") or 0,
            latency_buckets=list(get("latency_buckets") or [0] * (len(LATENCY_BOUNDS_MS) + 1)),
            missing_counts=Counter(get("missing_counts") or {}), error_counts=Counter(get("error_counts") or {}),
        )
