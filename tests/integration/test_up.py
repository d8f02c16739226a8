"""`hub up` as `make run` starts it: one process tree, healthy, and Ctrl-C stops all of it."""

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
from kafka import KafkaAdminClient

from ops.broker import free_port
from topics.catalog import CATALOG

pytestmark = pytest.mark.integration


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"hub up exited early with {proc.returncode}"
        try:
            r = httpx.get(f"{url}/healthz", timeout=2)
            if r.status_code == 200:
                return r.json()
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError("hub up did not become healthy")


def _port_open(hostport: str) -> bool:
    host, port = hostport.split(":")
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, int(port))) == 0


def test_hub_up_runs_the_whole_hub_and_stops_cleanly_on_ctrl_c(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update({"HUB_API_PORT": str(port), "HUB_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}",
                "HUB_LOG_LEVEL": "WARNING"})
    proc = subprocess.Popen([sys.executable, "-m", "ops.cli", "up"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        health = _wait_healthy(url, proc)
        bootstrap = health["checks"]["kafka"]["bootstrap"]
        assert health["checks"]["database"]["dialect"] == "sqlite"

        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        assert set(CATALOG) <= set(admin.list_topics())
        admin.close()
        subjects = httpx.get(f"{url}/registry/subjects").json()
        assert {spec.value_subject for spec in CATALOG.values()} <= set(subjects)
        assert httpx.get(f"{url}/docs").status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    out, err = proc.communicate()
    assert code == 0, err[-2000:]
    assert "hub is up" in out
    assert "client_secret:" in err  # first start prints the operator's credentials once
    assert not _port_open(bootstrap), "the embedded broker outlived hub up"
    assert not _port_open(f"127.0.0.1:{port}"), "the API outlived hub up"
