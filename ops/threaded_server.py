"""Serve an ASGI app with uvicorn on a background thread (tests, benchmarks, simulators)."""

from __future__ import annotations

import threading
import time

import uvicorn

from ops.broker import free_port


class ThreadedServer:
    """A real uvicorn server on a free loopback port; a context manager that waits until it serves."""

    def __init__(self, app, host: str = "127.0.0.1", port: int | None = None):
        self.port = port or free_port(host)
        self.url = f"http://{host}:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=self.port,
                                                    log_level="warning", access_log=False))
        self.thread = threading.Thread(target=self.server.run, name=f"uvicorn-{self.port}", daemon=True)

    def start(self, timeout: float = 30.0) -> str:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"uvicorn did not start on port {self.port}")
            time.sleep(0.05)
        return self.url

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def __enter__(self) -> ThreadedServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
