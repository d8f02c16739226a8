"""Crash test of the risk loop: ``kill -9`` of ``hub process`` at 3 random points while 5,000 clues
(explicit responsible departments, 1-2 each, so every dispatch id is known in advance) and random
department feedback flow; afterwards nothing is lost, nothing pushed twice, every state consistent.

The stream, in three phases (``risk.alerts`` and ``risk.feedback`` are different topics, so their
relative order is only defined if one phase is drained before the next is produced):

1. *early* feedback for dispatches that do not exist yet (their clues come in phase 2): the
   processor records each as a ``rejected`` event (``dispatch_not_found``), puts its id in the
   ledger and never replays it — a step sent before its dispatch is lost by design, the
   department sends it again (or uses the API, which answers 404);
2. the 5,000 clues — two kills while they are applied;
3. random feedback (``received`` / ``handling`` / ``handled``, in random order and with repeats,
   ~5 % from the wrong department) — one kill while it is applied.

Expected final states are computed here, independently: a dispatch's state is the furthest
valid step sent for it in phase 3 (a step behind the current state changes nothing), a clue is
``closed`` when all its dispatches are fed back, else at its least advanced dispatch's state.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from schemas import regions
from tests.integration.kafka_utils import consume_all
from tests.integration.processors.harness import ProcessorHub
from tests.unit.processors.test_risk_loop import Feed
from topics.serde import AvroDeserializer

CLUES = 5_000
SUFFIXES = ("SCJ", "WJW", "STHJ", "JTYS", "ZJJ")
STEP_STATE = {"received": "received", "handling": "handling", "handled": "fed_back"}
PROGRESS = {"pushed": 0, "received": 1, "handling": 2, "fed_back": 3}


def make_stream(rng: random.Random):
    """(early feedback, clues, feedback, expected dispatch -> state, clue -> dispatch ids)."""
    feed = Feed()
    counties = sorted(c for city in regions.cities() if city.startswith("33") for c in regions.counties(city))
    clues, dispatches = [], {}
    for i in range(CLUES):
        alert_id = f"CR{i:05d}"
        county = rng.choice(counties)
        depts = tuple((f"{county}{s}", f"{county}{s}") for s in rng.sample(SUFFIXES, rng.choice((1, 2))))
        clues.append(feed.clue(alert_id, level=rng.choice(("high", "medium", "low")), region=county,
                               depts=depts).value)
        dispatches[alert_id] = [f"{alert_id}:{code}" for code, _ in depts]
    when = datetime(2030, 3, 4, 2, 0, tzinfo=UTC)
    n = 0

    def fb(alert_id: str, dispatch_id: str, step: str, dept: str | None = None) -> dict:
        nonlocal n
        n += 1
        return feed.feedback(alert_id, dispatch_id, dept or dispatch_id.split(":")[1], step,
                             when + timedelta(seconds=n), rid=f"dept-sys:fb:{n:06d}").value

    early = []
    for alert_id in rng.sample(sorted(dispatches), 150):
        early.append(fb(alert_id, rng.choice(dispatches[alert_id]), rng.choice(tuple(STEP_STATE))))
    expected = {d: "pushed" for ds in dispatches.values() for d in ds}
    later = []
    for dispatch_id in rng.sample(sorted(expected), 1_000):
        alert_id = dispatch_id.split(":")[0]
        for _ in range(rng.randint(1, 3)):
            step = rng.choice(tuple(STEP_STATE))
            if rng.random() < 0.05:  # another department's step: rejected, changes nothing
                later.append(fb(alert_id, dispatch_id, step, dept="330106XXX"))
                continue
            later.append(fb(alert_id, dispatch_id, step))
            if PROGRESS[STEP_STATE[step]] > PROGRESS[expected[dispatch_id]]:
                expected[dispatch_id] = STEP_STATE[step]
    rng.shuffle(later)  # random order: a step behind the state is a no-op, so the furthest step decides
    return early, clues, later, expected, dispatches


def clue_state(states: list[str]) -> str:
    if all(s == "fed_back" for s in states):
        return "closed"
    return min(states, key=PROGRESS.__getitem__)


@pytest.mark.timeout(300)
def test_risk_loop_is_consistent_after_kill_9_at_random_points(database_url, tmp_path):
    rng = random.Random(23)
    early, clues, later, expected, dispatches = make_stream(rng)
    all_ids = {r["envelope"]["record_id"] for r in early + clues + later}
    assert len(all_ids) == len(early) + len(clues) + len(later)
    with ProcessorHub(database_url, tmp_path, processors="risk") as hub:
        done = lambda: hub.scalar("select count(*) from processed_records where processor = 'risk'")  # noqa: E731
        hub.produce("risk.feedback", early)
        hub.start_processor()
        hub.wait_for(lambda: done() >= len(early), timeout=60, what="early feedback processed")

        hub.produce("risk.alerts", clues)
        base = len(early)
        for target in sorted(rng.sample(range(base + 300, base + CLUES - 300), 2)):
            hub.wait_for(lambda t=target: done() >= t, timeout=120, what=f"{target} ids processed")
            hub.kill_processor()
            hub.start_processor()
        hub.wait_for(lambda: done() >= base + CLUES, timeout=120, what="every clue processed")

        hub.produce("risk.feedback", later)
        base += CLUES
        target = rng.randrange(base + 200, base + len(later) - 200)
        hub.wait_for(lambda: done() >= target, timeout=120, what=f"{target} ids processed")
        hub.kill_processor()
        hub.start_processor()
        hub.wait_for(lambda: done() >= len(all_ids), timeout=120, what="every id processed")
        hub.wait_for(lambda: hub.scalar("select count(*) from outbox") == 0, timeout=60, what="outbox drained")
        assert hub.starts == 4

        # the ledger: every record id exactly once, nothing dead-lettered
        ledger = hub.rows("select record_id, outcome from processed_records where processor = 'risk'")
        assert len(ledger) == len(all_ids) and {r[0] for r in ledger} == all_ids
        assert "dead_letter" not in {r[1] for r in ledger}

        # every clue, one dispatch per (clue, department), each in its expected state
        assert hub.scalar("select count(*) from risk_clues") == CLUES
        rows = hub.rows("select dispatch_id, alert_id, state from risk_dispatches")
        assert len(rows) == len(expected) == len({r[0] for r in rows})
        got = {r[0]: r[2] for r in rows}
        assert got == expected
        want_clue = {a: clue_state([expected[d] for d in ds]) for a, ds in dispatches.items()}
        assert dict(hub.rows("select alert_id, state from risk_clues")) == want_clue

        # early steps were rejected (dispatch not found), so were the wrong department's
        rejected = Counter(r[0] for r in hub.rows("select detail from risk_events where kind = 'rejected'"))
        n_wrong = sum(1 for r in later if r["department"]["code"] == "330106XXX")
        assert sum(rejected.values()) == len(early) + n_wrong
        assert sum(n for d, n in rejected.items() if "dispatch_not_found" in d) == len(early)

        # the topic: every expected dispatch id exactly once (the relay settles in-doubt rows)
        decode = AvroDeserializer(hub.registry)
        msgs = consume_all(hub.bootstrap, "risk.dispatches", expected=len(expected), idle_seconds=1.5, timeout=90)
        ids = Counter(decode(m.value())["dispatch_id"] for m in msgs)
        repeats = sum(ids.values()) - len(ids)
        print(f"\nrisk crash test: {len(all_ids)} records, {len(expected)} dispatches, "
              f"{len(msgs)} messages on risk.dispatches, {repeats} repeated dispatch ids, "
              f"states {Counter(expected.values())}")
        assert set(ids) == set(expected)  # distinct (clue, department) pairs: every one, nothing else
        assert repeats == 0, f"{repeats} dispatches pushed twice"
        settled = [line for log in sorted(tmp_path.glob("**/process-*.log"))
                   for line in log.read_text(errors="replace").splitlines() if "in-doubt rows" in line]
        print("relay after the kills:", *settled or ["nothing was in doubt"], sep="\n  ")
