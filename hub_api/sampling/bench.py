"""Benchmark of the draw: freeze and draw over N synthetic objects, as ``draw_plan`` does minus SQL.

    .venv/bin/python -m hub_api.sampling.bench --objects 1000000 --ratio 0.05

:func:`bench_draw` streams a sorted synthetic pool through the snapshot builder (with
zlib chunks, like the stored snapshot), then draws from the compressed chunks and checks
the result with a second run. It returns seconds per phase and the peak traced memory
(``measure_memory=True`` traces allocations, which slows the run about 2x).
"""

from __future__ import annotations

import argparse
import json
import secrets
import time
import tracemalloc

from hub_api.sampling import draw as algo
from hub_api.sampling.service import SnapshotChunks

RISK = ("A", "B", "C", "D")


def synthetic_inspectors(n: int) -> list[tuple[str, dict]]:
    return [(f"ZJ33{i:08d}", {"department_code": "scjg", "domains": ["market"],
                              "region_code": f"3301{(i % 9) + 1:02d}"}) for i in range(n)]


def bench_draw(n_objects: int = 1_000_000, ratio: str = "0.05", n_inspectors: int = 2_000,
               inspectors_per_object: int = 2, same_region: str | None = "county",
               measure_memory: bool = False) -> dict:
    """Time a draw of ``ratio`` over ``n_objects``; keys sorted so ids interleave across regions."""
    if measure_memory:
        tracemalloc.start()
    seed = secrets.token_bytes(32)
    t0 = time.perf_counter()
    chunks = SnapshotChunks()
    builder = algo.SnapshotBuilder(chunks)
    for key, fields in sorted_pool(n_objects):
        builder.add(key, fields)
    object_hash = builder.finish()
    inspectors = synthetic_inspectors(n_inspectors)
    inspector_hash = algo.snapshot_hash(inspectors)
    t1 = time.perf_counter()
    n = algo.sample_size(builder.size, ratio)
    rules = algo.Rules(inspectors_per_object, same_region)
    drawn = algo.run_draw(seed, object_hash, chunks.entries(), n, inspector_hash, inspectors, rules)
    t2 = time.perf_counter()
    peak = tracemalloc.get_traced_memory()[1] if measure_memory else None
    if measure_memory:
        tracemalloc.stop()
    again = algo.run_draw(seed, object_hash, chunks.entries(), n, inspector_hash, inspectors, rules)
    return {"objects": n_objects, "ratio": ratio, "drawn": len(drawn), "inspectors": n_inspectors,
            "snapshot_s": round(t1 - t0, 2), "draw_s": round(t2 - t1, 2), "total_s": round(t2 - t0, 2),
            "compressed_snapshot_mb": round(sum(len(b) for b, _ in chunks.parts) / 1e6, 1),
            "peak_traced_mb": None if peak is None else round(peak / 1e6, 1), "reproducible": again == drawn}


def sorted_pool(n: int):
    # The synthetic ids are already in code-point order within each prefix; sort the prefixes.
    prefixes = sorted({f"91330{d}00MA" for d in range(10)})
    for p in prefixes:
        d = int(p[5])
        for i in range(d, n, 10):
            yield (f"{p}{i:010d}", {"industry_code": f"F5{i % 10}", "kind": "enterprise",
                                    "region_code": f"3301{(i % 9) + 1:02d}", "risk_grade_code": RISK[i % 4]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--ratio", default="0.05")
    parser.add_argument("--inspectors", type=int, default=2_000)
    parser.add_argument("--memory", action="store_true", help="trace peak memory (slower)")
    args = parser.parse_args()
    print(json.dumps(bench_draw(args.objects, args.ratio, args.inspectors, measure_memory=args.memory)))


if __name__ == "__main__":
    main()
