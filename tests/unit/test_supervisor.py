"""The supervisor behind ``hub up``: a Ctrl-C at any point of start-up stops the whole tree.

Real child processes (``python -c 'sleep'``); the signal is sent to this process, as the
terminal would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from ops.supervisor import Child, Supervisor

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


def _interrupt_me() -> None:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(5)  # the handler interrupts this wait; 5 s means it did not


def _alive(proc: subprocess.Popen) -> bool:
    return proc.poll() is None


def test_ctrl_c_inside_a_ready_wait_stops_what_was_started_and_spawns_nothing_more():
    children = [Child("a", SLEEPER), Child("b", SLEEPER, ready=_interrupt_me), Child("c", SLEEPER)]
    sup = Supervisor(children, grace_seconds=5)
    started = time.monotonic()
    sup.start()
    assert time.monotonic() - started < 4, "the ready wait was not interrupted"
    assert sup.stopping
    procs = [c.proc for c in children[:2]]
    assert children[2].proc is None, "a child was spawned after the stop request"
    assert sup.run() == 0
    assert all(p is not None and not _alive(p) for p in procs)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_while_a_child_is_being_spawned_leaves_no_orphan(monkeypatch):
    spawned: list[subprocess.Popen] = []
    real_popen = subprocess.Popen

    def popen_then_interrupt(*args, **kwargs):
        proc = real_popen(*args, **kwargs)
        spawned.append(proc)
        os.kill(os.getpid(), signal.SIGINT)  # arrives before Child.proc is assigned
        return proc

    monkeypatch.setattr(subprocess, "Popen", popen_then_interrupt)
    children = [Child("a", SLEEPER), Child("b", SLEEPER)]
    sup = Supervisor(children, grace_seconds=5)
    sup.start()
    assert sup.stopping and len(spawned) == 1
    assert children[0].proc is spawned[0], "the spawned child is not tracked"
    assert sup.run() == 0
    assert not _alive(spawned[0])


def test_a_ready_that_fails_raises_and_stop_cleans_up():
    def broken() -> None:
        raise RuntimeError("never became ready")

    children = [Child("a", SLEEPER), Child("b", SLEEPER, ready=broken)]
    sup = Supervisor(children, grace_seconds=5)
    with pytest.raises(RuntimeError, match="never became ready"):
        sup.start()
    procs = [c.proc for c in children]
    sup.stop()
    assert all(not _alive(p) for p in procs)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_child_that_keeps_failing_stops_the_tree_with_code_1():
    children = [Child("steady", SLEEPER), Child("flaky", [sys.executable, "-c", "raise SystemExit(3)"],
                                                  max_restarts=1)]
    sup = Supervisor(children, grace_seconds=5)
    sup.start()
    steady = children[0].proc
    assert sup.run() == 1
    assert not _alive(steady)
