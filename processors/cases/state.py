"""The penalty-case state machine as an explicit transition table.

States: ``lead`` (case source registered) -> ``filed`` / ``not_filed`` -> ``investigating``
<-> ``suspended`` -> ``notified`` -> ``hearing`` -> ``decided`` -> ``executing`` -> ``closed``
-> ``archived``; side exits ``referred`` (criminal justice) and ``terminated``. A
simple-procedure case goes ``lead`` -> ``decided`` directly.

:func:`step` never raises: an event is ``applied`` (state moves), a ``repeat`` of the
current stage (a newer version of the same stage: details change, state stays),
``out_of_order`` (its stage time is earlier than the latest applied one: kept in the
history, state does not move backwards), ``invalid`` (not allowed from the current state:
recorded, state stays) or ``unknown_stage`` (a stage the tracker does not know: recorded).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Outcome = Literal["applied", "repeat", "out_of_order", "invalid", "unknown_stage"]

#: The state each stage leads to.
STAGE_STATE: dict[str, str] = {
    "case_source": "lead",
    "filing": "filed",
    "not_filed": "not_filed",
    "investigation": "investigating",
    "suspension": "suspended",
    "resumption": "investigating",
    "notice": "notified",
    "hearing": "hearing",
    "decision": "decided",
    "execution": "executing",
    "closing": "closed",
    "archive": "archived",
    "criminal_referral": "referred",
    "termination": "terminated",
}

_EXITS = frozenset({"termination", "criminal_referral"})

#: state -> stages allowed from it. Not listed: the stage is an invalid transition.
TRANSITIONS: dict[str, frozenset[str]] = {
    "lead": frozenset({"filing", "not_filed", "decision"}) | _EXITS,  # decision: simple procedure
    "filed": frozenset({"investigation", "suspension", "notice"}) | _EXITS,
    "investigating": frozenset({"suspension", "notice"}) | _EXITS,
    "suspended": frozenset({"resumption"}) | _EXITS,
    "notified": frozenset({"hearing", "decision", "investigation"}) | _EXITS,
    "hearing": frozenset({"decision", "investigation"}) | _EXITS,
    "decided": frozenset({"execution", "closing"}),
    "executing": frozenset({"closing"}),
    "closed": frozenset({"archive"}),
    "referred": frozenset({"archive"}),
    "terminated": frozenset({"archive"}),
    "not_filed": frozenset(),
    "archived": frozenset(),
}

TERMINAL = frozenset(s for s, allowed in TRANSITIONS.items() if not allowed)

#: Stages that open a pause of the case, and what closes it (None: the next applied stage).
PAUSE_OPEN: dict[str, tuple[str, str | None]] = {
    "suspension": ("suspension", "resumption"),
    "hearing": ("hearing", None),
}


@dataclass(frozen=True, slots=True)
class Step:
    """The result of one event: the state after it, what happened and the anomaly to record."""

    state: str | None
    outcome: Outcome
    anomaly: str | None = None


def step(state: str | None, latest: datetime | None, stage: str, stage_time: datetime) -> Step:
    """Apply ``stage`` at ``stage_time`` to a case in ``state`` whose latest applied event was at ``latest``."""
    target = STAGE_STATE.get(stage)
    if target is None:
        return Step(state, "unknown_stage", "unknown_stage")
    if latest is not None and stage_time < latest:
        return Step(state, "out_of_order", "out_of_order")
    if state is None:
        # The first event the hub sees: adopt its state, noting a lifecycle that did not start at the lead.
        return Step(target, "applied", None if stage == "case_source" else "started_mid_lifecycle")
    if target == state:
        return Step(state, "repeat")
    if stage in TRANSITIONS.get(state, frozenset()):
        return Step(target, "applied")
    return Step(state, "invalid", "invalid_transition")
