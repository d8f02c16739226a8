"""Reading what the hub produced, for the demo's progress and its reconciliation.

Counting is done by *consuming* (Tansu reports end offsets as the start of the last batch
+ 1, so watermarks undercount). Consumers here use kafka-python (a core dependency), with
manual partition assignment and no consumer group: no group join, which on Tansu costs half
the session timeout, and nothing committed.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable

from connectors.runtime.dlq import parse_dead_letter
from topics.catalog import CATALOG


def _consumer(bootstrap: str, client_config: dict | None = None):
    from kafka import KafkaConsumer

    return KafkaConsumer(**{**(client_config or {}), "bootstrap_servers": bootstrap},
                         group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
                         fetch_max_wait_ms=10, consumer_timeout_ms=1000, client_id="hub-demo-reader")


def _assign_all(consumer, topics: Iterable[str], timeout: float = 15.0) -> list:
    """Assign every partition of ``topics`` (those that exist) from the beginning."""
    from kafka import TopicPartition

    wanted, parts = set(topics), []
    deadline = time.monotonic() + timeout
    existing = consumer.topics()
    for topic in sorted(wanted & existing):
        ids = consumer.partitions_for_topic(topic)
        while not ids and time.monotonic() < deadline:
            time.sleep(0.2)
            consumer.topics()
            ids = consumer.partitions_for_topic(topic)
        parts += [TopicPartition(topic, p) for p in sorted(ids or ())]
    consumer.assign(parts)
    if parts:
        consumer.seek_to_beginning(*parts)
    return parts


def read_topics(bootstrap: str, topics: Iterable[str], *, relevant: Callable[[object], bool] = lambda _m: True,
                expected: int = 0, idle: float = 2.0, timeout: float = 90.0, client_config: dict | None = None) -> list:
    """Every record of ``topics`` from the beginning (kafka-python ``ConsumerRecord``s).

    Stops once at least ``expected`` records for which ``relevant(record)`` holds were read and
    nothing new arrived for ``idle`` seconds, or, when fewer arrived, after ``4 * idle``
    quiet seconds (then the caller sees the shortfall), or at ``timeout``.
    """
    consumer = _consumer(bootstrap, client_config)
    out: list = []
    try:
        if not _assign_all(consumer, topics):
            return out
        hits, deadline, last = 0, time.monotonic() + timeout, time.monotonic()
        while time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=200, max_records=5000)
            got = [m for msgs in batch.values() for m in msgs]
            if got:
                out.extend(got)
                hits += sum(1 for m in got if relevant(m))
                last = time.monotonic()
                continue
            quiet = time.monotonic() - last
            if (hits >= expected and quiet > idle) or quiet > 4 * idle:
                break
    finally:
        consumer.close()
    return out


def standard_topics() -> list[str]:
    """The catalog topics a source connector may write to (every catalog topic)."""
    return sorted(CATALOG)


class DeadLetterTail:
    """Counts dead letters by reason per connector, tailing ``dlq.<connector>`` on a thread."""

    def __init__(self, bootstrap: str, topics: dict[str, str], client_config: dict | None = None):
        self.bootstrap, self.topics, self.client_config = bootstrap, dict(topics), client_config
        self.reasons: dict[str, Counter] = {name: Counter() for name in topics}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="demo-dlq-tail", daemon=True)
        self.error: str | None = None

    def start(self) -> DeadLetterTail:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {name: dict(c) for name, c in self.reasons.items()}

    def _main(self) -> None:
        by_topic = {topic: name for name, topic in self.topics.items()}
        try:
            consumer = _consumer(self.bootstrap, self.client_config)
        except Exception as exc:  # noqa: BLE001 - progress is best effort; say why it is missing
            self.error = type(exc).__name__
            return
        try:
            _assign_all(consumer, by_topic)
            while not self._stop.is_set():
                batch = consumer.poll(timeout_ms=500, max_records=2000)
                with self._lock:
                    for msgs in batch.values():
                        for m in msgs:
                            letter = parse_dead_letter(m.headers, None)
                            self.reasons[by_topic[m.topic]][letter["reason"] or "?"] += 1
        except Exception as exc:  # noqa: BLE001
            self.error = type(exc).__name__
        finally:
            consumer.close()
