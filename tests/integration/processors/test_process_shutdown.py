"""``hub process`` stops by itself on SIGTERM while records keep arriving (no SIGKILL from the
supervisor), and what it had fetched but not processed is processed after the restart: nothing lost.

faust's default shutdown waits for every fetched event to be acked; events it fetched but never
handed to an agent (the stream had stopped) are never acked, so a stop under load hung until
``hub up`` killed the process (reproduced here with the stock worker: it never exited).
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time

import pytest

from ops.bench.entity_updates import make_updates
from tests.integration.processors.harness import ProcessorHub

UPDATES = 24_000
COUNT = "select count(*) from processed_records where processor = 'entities'"  # others read entity.updates too
STOP_BOUND_S = 30  # a liveness bound, not a speed claim: without the fix the wait never ends


@pytest.mark.timeout(600)
def test_sigterm_under_load_exits_cleanly_and_the_restart_loses_nothing(sqlite_url, tmp_path):
    stream, _ = make_updates(UPDATES)
    distinct_ids = {r["envelope"]["record_id"] for r in stream}
    half = len(stream) // 2
    with ProcessorHub(sqlite_url, tmp_path) as hub:  # every processor, as `hub up` runs it
        hub.produce("entity.updates", stream[:half])
        proc = hub.start_processor()
        hub.wait_for(lambda: hub.scalar(COUNT) >= 2_000,
                     timeout=300, what="2,000 ids processed")

        def feed() -> None:  # records keep arriving through the stop
            for i in range(half, len(stream), 200):
                hub.produce("entity.updates", stream[i:i + 200])

        feeder = threading.Thread(target=feed, name="feed")
        feeder.start()
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(STOP_BOUND_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError(f"hub process did not stop within {STOP_BOUND_S}s of SIGTERM:\n"
                                 f"{hub.log_tail()}") from None
        finally:
            feeder.join()
        assert code == 0, hub.log_tail()
        assert hub.scalar(COUNT) < len(distinct_ids), \
            "everything was processed before the stop: the test proves nothing"

        hub.start_processor()
        hub.wait_for(lambda: hub.scalar(COUNT) >= len(distinct_ids),
                     timeout=300, what="every id processed")
        ledger = {r[0] for r in hub.rows("select record_id from processed_records where processor = 'entities'")}
        assert ledger == distinct_ids
