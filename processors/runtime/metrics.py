"""Prometheus metrics of the processors (one registry per ``hub process`` instance)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ops.metrics import LATENCY_BUCKETS


class ProcessorMetrics:
    def __init__(self, registry: CollectorRegistry):
        self.registry = registry
        self._records = Counter(
            "hub_processor_records_total",
            "Input records by outcome: applied, duplicate (already processed), stale (older source version), "
            "dead_letter, decode_error.",
            ["processor", "outcome"], registry=registry,
        )
        self._events = Counter(
            "hub_processor_events_total", "Named events processors count (invalid transitions, merges, alerts ...).",
            ["processor", "event"], registry=registry,
        )
        self._batch = Histogram(
            "hub_processor_batch_seconds", "Time to apply one batch in its database transaction.",
            ["processor"], buckets=LATENCY_BUCKETS, registry=registry,
        )
        self._emitted = Counter(
            "hub_processor_outputs_total", "Output records written to the outbox.", ["processor"], registry=registry,
        )
        self.outbox_pending = Gauge(
            "hub_processor_outbox_pending", "Output records committed but not yet acknowledged by Kafka.",
            registry=registry,
        )
        self.last_batch = Gauge(
            "hub_processor_last_batch_timestamp_seconds", "When the processor last applied a batch.",
            ["processor"], registry=registry,
        )

    def observe_batch(self, processor: str, result, seconds: float, now_s: float) -> None:
        for outcome, n in (("applied", result.applied), ("duplicate", result.duplicates),
                           ("stale", result.stale), ("dead_letter", len(result.rejected))):
            if n:
                self._records.labels(processor, outcome).inc(n)
        for event, n in result.counters.items():
            self._events.labels(processor, event).inc(n)
        if result.emitted:
            self._emitted.labels(processor).inc(result.emitted)
        self._batch.labels(processor).observe(seconds)
        self.last_batch.labels(processor).set(now_s)

    def decode_error(self, processor: str, n: int = 1) -> None:
        self._records.labels(processor, "decode_error").inc(n)

    def events(self, processor: str, counters: dict[str, int]) -> None:
        for event, n in counters.items():
            self._events.labels(processor, event).inc(n)
