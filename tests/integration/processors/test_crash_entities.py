"""Crash test of the entity registry: ``kill -9`` of ``hub process`` at random points while
50,000 entity updates (with duplicates and out-of-order versions) flow; afterwards the registry
equals the expected golden records exactly and the processed-id ledger has no gaps.

The expected state is computed independently of the processor: one source, so the golden record
of an entity is simply its highest source version.
"""

from __future__ import annotations

import random

import pytest

from ops.bench.entity_updates import make_updates
from tests.integration.processors.harness import ProcessorHub

UPDATES = 50_000

@pytest.mark.timeout(900)
def test_registry_is_exact_after_kill_9_at_random_points(database_url, tmp_path):
    stream, expected = make_updates(UPDATES)
    distinct_ids = {r["envelope"]["record_id"] for r in stream}
    rng = random.Random(11)
    with ProcessorHub(database_url, tmp_path, processors="entities") as hub:
        hub.produce("entity.updates", stream)
        hub.start_processor()
        kills = 0
        for _ in range(3):
            # Kill at a random point in the flow: after a random share of the ids is in the ledger.
            target = rng.randrange(2_000, len(distinct_ids) - 2_000)
            hub.wait_for(lambda t=target: hub.scalar("select count(*) from processed_records") >= t,
                         timeout=300, what=f"{target} ids processed")
            hub.kill_processor()
            kills += 1
            hub.start_processor()
        hub.wait_for(lambda: hub.scalar("select count(*) from processed_records") >= len(distinct_ids),
                     timeout=300, what="every id processed")
        assert kills == 3

        ledger = {r[0]: r[1] for r in hub.rows(
            "select record_id, outcome from processed_records where processor = 'entities'")}
        assert set(ledger) == distinct_ids  # no gaps, nothing extra
        assert "dead_letter" not in set(ledger.values())
        golden = {r[0]: r[1:] for r in hub.rows(
            "select entity_id, name, region_code, industry_code, status_code from entities")}
        want = {k: (v["name"], v["region_code"], v["industry"]["code"], v["status"]["code"])
                for k, v in expected.items()}
        assert golden == want
        versions = dict(hub.rows("select entity_id, source_version from entity_source_versions"))
        assert versions == {k: v["envelope"]["source_version"] for k, v in expected.items()}
