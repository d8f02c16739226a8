"""`hub demo --check`: a private hub, the taxation system for 10 s, drained and reconciled, exit 0."""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def test_hub_demo_check_reconciles_taxation_and_exits_0(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env["HUB_LOG_LEVEL"] = "WARNING"
    proc = subprocess.run(
        [sys.executable, "-m", "ops.cli", "demo", "--check", "--duration", "10", "--systems", "taxation", "--json"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    doc = json.loads(proc.stdout)  # stdout holds exactly one JSON document
    assert doc["ok"] is True
    tax = doc["systems"]["taxation"]
    assert tax["ok"] is True and tax["drained"] is True
    assert tax["emitted"] > 200  # the initial 200 plus growth during the 10 s
    assert tax["missing"] == 0 and tax["duplicates_after_dedup"] == 0 and tax["unexpected"] == 0
    assert tax["arrived"] == tax["expected_good"] > 0
    assert tax["dead_distinct"] == tax["dead_expected"] and tax["dead_missing"] == 0
    assert not (tmp_path / "var").exists(), "the check must not touch the working directory's var/"
