"""The case state machine: valid paths, side exits, invalid transitions, unknown stages, out-of-order events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from processors.cases.state import STAGE_STATE, TERMINAL, TRANSITIONS, step

T0 = datetime(2025, 3, 3, 2, 0, tzinfo=UTC)


def run(stages: list[str]) -> list:
    state, latest, out = None, None, []
    for i, stage in enumerate(stages):
        when = T0 + timedelta(days=i)
        s = step(state, latest, stage, when)
        out.append(s)
        if s.outcome in ("applied", "repeat"):
            state, latest = s.state, when
    return out


@pytest.mark.parametrize("stages,final", [
    (["case_source", "filing", "investigation", "notice", "decision", "execution", "closing", "archive"], "archived"),
    (["case_source", "filing", "investigation", "suspension", "resumption", "notice", "hearing", "decision",
      "closing", "archive"], "archived"),
    (["case_source", "decision", "execution", "closing"], "closed"),  # simple procedure
    (["case_source", "not_filed"], "not_filed"),
    (["case_source", "filing", "investigation", "criminal_referral"], "referred"),
    (["case_source", "filing", "suspension", "termination", "archive"], "archived"),
    (["case_source", "filing", "investigation", "termination"], "terminated"),
])
def test_valid_paths(stages, final):
    steps = run(stages)
    assert [s.outcome for s in steps] == ["applied"] * len(stages)
    assert all(s.anomaly is None for s in steps)
    assert steps[-1].state == final


def test_invalid_transition_is_recorded_and_does_not_move_the_state():
    steps = run(["case_source", "filing", "decision", "investigation"])
    assert steps[2].outcome == "invalid" and steps[2].anomaly == "invalid_transition"
    assert steps[2].state == "filed"
    assert steps[3].outcome == "applied" and steps[3].state == "investigating"


def test_terminal_states_accept_nothing():
    assert {"not_filed", "archived"} == TERMINAL
    s = step("archived", T0, "investigation", T0 + timedelta(days=1))
    assert (s.outcome, s.state) == ("invalid", "archived")


def test_out_of_order_event_does_not_move_the_state_backwards():
    s = step("decided", T0, "notice", T0 - timedelta(hours=1))
    assert (s.outcome, s.state, s.anomaly) == ("out_of_order", "decided", "out_of_order")
    same_time = step("decided", T0, "execution", T0)
    assert same_time.outcome == "applied"


def test_unknown_stage_and_repeat():
    s = step("filed", T0, "other", T0 + timedelta(days=1))
    assert (s.outcome, s.state, s.anomaly) == ("unknown_stage", "filed", "unknown_stage")
    again = step("investigating", T0, "investigation", T0 + timedelta(days=1))
    assert (again.outcome, again.state, again.anomaly) == ("repeat", "investigating", None)


def test_first_event_other_than_case_source_is_adopted_with_an_anomaly():
    s = step(None, None, "filing", T0)
    assert (s.outcome, s.state, s.anomaly) == ("applied", "filed", "started_mid_lifecycle")


def test_transition_table_is_closed():
    states = set(STAGE_STATE.values())
    assert set(TRANSITIONS) == states
    assert all(stage in STAGE_STATE for allowed in TRANSITIONS.values() for stage in allowed)
