"""Helpers for integration tests: count and read records by consuming (Tansu's watermarks are low)."""

from __future__ import annotations

import time
import uuid


def consume_all(bootstrap: str, topic: str, expected: int | None = None, idle_seconds: float = 3.0,
                timeout: float = 60.0) -> list:
    """Every record on ``topic`` from the beginning, read with an independent client (confluent-kafka).

    Stops when ``expected`` records were read (then waits ``idle_seconds`` more to catch extras) or
    when nothing new arrived for ``idle_seconds``.
    """
    from confluent_kafka import Consumer

    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": f"test-{uuid.uuid4().hex}",
        "auto.offset.reset": "earliest", "enable.auto.commit": False,
        "session.timeout.ms": 6000, "fetch.wait.max.ms": 10,
    })
    consumer.subscribe([topic])
    out, deadline, last_new = [], time.monotonic() + timeout, time.monotonic()
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is not None and msg.error() is None:
                out.append(msg)
                last_new = time.monotonic()
                continue
            reached = expected is not None and len(out) >= expected
            if (reached or (out and expected is None)) and time.monotonic() - last_new > idle_seconds:
                break
            if expected is None and not out and time.monotonic() - last_new > idle_seconds * 4:
                break
    finally:
        consumer.close()
    return out
