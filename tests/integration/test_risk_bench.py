"""Smoke test of the risk-loop benchmark (``ops.bench.risk_bench``): a few seconds at 50 clues/s."""

from __future__ import annotations

import pytest

from ops.bench import risk_bench


@pytest.mark.timeout(120)
def test_risk_bench_measures_sane_latencies(tmp_path):
    result = risk_bench.run(rate=50, seconds=3, preload=600, workdir=tmp_path)
    s = result["steady"]
    assert s["clues"] == 150 and s["dispatched"] == 150 and s["complete"]
    assert 0 < s["p50_ms"] <= s["p90_ms"] <= s["p99_ms"] <= s["max_ms"] < 30_000
    assert s["achieved_rate"] > 40
    m = result["max"]
    assert m["complete"] and m["dispatched"] == 600 and m["first_batch"] >= 1
    assert "p99" in risk_bench.table(result)
