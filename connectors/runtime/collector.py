"""The garbage collector's schedule in a connect worker process.

A runner keeps a batch in flight and the next one read ahead: about 4,000 container objects that
live for a few milliseconds and are then freed by reference counting. At Python's default
first-generation threshold (700 net allocations) the collector runs every ~90 records and each
run rescans those survivors -- 2-3 us per record, about 5 % of a connector's throughput
(``ops/bench/connector_bench.py``). A higher threshold only delays the collection of reference
cycles, which the runner does not create per record; the older generations keep their thresholds.
"""

from __future__ import annotations

import gc


def tune_collector(gen0_threshold: int) -> tuple[int, int, int]:
    """Set the first-generation threshold (at least 700, Python's default); returns the previous thresholds."""
    if gen0_threshold < 700:
        raise ValueError(f"gen0_threshold must be at least 700 (Python's default), got {gen0_threshold}")
    previous = gc.get_threshold()
    gc.set_threshold(gen0_threshold, previous[1], previous[2])
    return previous
