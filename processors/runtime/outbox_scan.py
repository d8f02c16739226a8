"""Look on a topic for the relay's own records: how the relay settles rows left in doubt.

A row is *in doubt* when the relay handed it to the producer and then crashed (or the delivery
failed) before deleting it: the broker may or may not hold it. Resending blindly would push
a dispatch twice; dropping it could lose one. So the relay reads each affected partition
from its checkpoint to the end and collects the ``hub-outbox`` header values it finds.

The end is where a poll returns nothing after the position passed the reported end offset:
some brokers (Tansu) report the start of the last batch + 1, so the watermark alone would stop
short. Nothing else writes these records while the relay holds its lock, so the end is stable.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("processors.outbox")

HEADER = "hub-outbox"


@dataclass(frozen=True)
class ScanResult:
    """The in-doubt header values found, and per partition the offset the scan reached."""

    found: set[bytes]
    ends: dict[int, int]


Scanner = Callable[[str, dict[int, int], set[bytes]], ScanResult]


class TopicScanner:
    """A :data:`Scanner` on kafka-python: an unassigned-group consumer, read-only."""

    def __init__(self, settings, idle_s: float = 1.0, timeout_s: float = 120.0) -> None:
        self.settings = settings
        self.idle_s = idle_s
        self.timeout_s = timeout_s

    def __call__(self, topic: str, start: dict[int, int], wanted: set[bytes]) -> ScanResult:
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(
            **self.settings.kafka_client_config(), client_id=f"{self.settings.kafka_client_id}-outbox-scan",
            group_id=None, enable_auto_commit=False, fetch_max_wait_ms=10,
        )
        try:
            partitions = sorted(consumer.partitions_for_topic(topic) or ())
            if not partitions:
                # The topic does not exist yet, so nothing was ever written to it.
                return ScanResult(set(), {})
            tps = [TopicPartition(topic, p) for p in partitions]
            consumer.assign(tps)
            for tp in tps:
                if tp.partition in start:
                    consumer.seek(tp, start[tp.partition])
                else:
                    consumer.seek_to_beginning(tp)
            reported = consumer.end_offsets(tps)
            found: set[bytes] = set()
            deadline = time.monotonic() + self.timeout_s
            idle_since = time.monotonic()
            while time.monotonic() < deadline:
                batch = consumer.poll(timeout_ms=200)
                if batch:
                    idle_since = time.monotonic()
                    for records in batch.values():
                        for record in records:
                            for name, value in record.headers or ():
                                if name == HEADER and value in wanted:
                                    found.add(value)
                    if found == wanted:
                        break
                    continue
                caught_up = all(consumer.position(tp) >= reported[tp] for tp in tps)
                if caught_up and time.monotonic() - idle_since >= self.idle_s:
                    break
            else:
                raise TimeoutError(f"outbox scan of {topic} did not reach the end in {self.timeout_s:.0f} s")
            return ScanResult(found, {tp.partition: consumer.position(tp) for tp in tps})
        finally:
            consumer.close()
