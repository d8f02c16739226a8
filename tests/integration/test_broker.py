import subprocess
import sys

import pytest
from kafka import KafkaAdminClient

from ops.broker import BrokerError, EmbeddedBroker

pytestmark = pytest.mark.integration


def test_embedded_broker_answers_metadata_and_stops_cleanly(tmp_path):
    broker = EmbeddedBroker(log_path=tmp_path / "tansu.log")
    bootstrap = broker.start()
    assert broker.alive()
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    assert isinstance(admin.list_topics(), list)
    admin.close()
    broker.stop()
    assert not broker.alive()
    with pytest.raises(BrokerError):
        from ops.broker import wait_for_kafka

        wait_for_kafka(bootstrap, timeout=1)


def test_missing_binary_gives_a_clear_error(monkeypatch):
    monkeypatch.setenv("CALF_TANSU_BIN", "/nonexistent/tansu")
    with pytest.raises(BrokerError) as err:
        EmbeddedBroker().start()
    assert "HUB_KAFKA_BOOTSTRAP" in str(err.value)


def test_hub_broker_command_prints_its_bootstrap_and_stops_on_sigterm(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "ops.cli", "broker"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        line = proc.stdout.readline().strip()
        host, port = line.split(":")
        assert host == "127.0.0.1" and int(port) > 0
        admin = KafkaAdminClient(bootstrap_servers=line)
        admin.list_topics()
        admin.close()
    finally:
        proc.terminate()
        assert proc.wait(timeout=15) == 0
