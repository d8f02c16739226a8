"""Prometheus metrics of source connectors, on an injected registry.

The runner records through intent-named methods; labels are bounded: connector name,
catalog topic, stage, reason code and state -- never source partitions (a file-drop
connector has one per file), keys or record ids.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ops.metrics import LATENCY_BUCKETS

STATES = ("RUNNING", "PAUSED", "STOPPED", "FAILED")
"""Connector states, one ``hub_connector_state`` series each (1 for the current one)."""


class ConnectorMetrics:
    """Records polled, produced, dead-lettered and committed; poll and produce latency; state."""

    def __init__(self, registry: CollectorRegistry):
        self.registry = registry
        self._polled = Counter("hub_connector_records_polled_total", "Source records polled.",
                               ["connector"], registry=registry)
        self._produced = Counter("hub_connector_records_produced_total",
                                 "Standard records acknowledged by the broker, by catalog topic.",
                                 ["connector", "topic"], registry=registry)
        self._dead = Counter("hub_connector_dead_letters_total",
                             "Source records sent to the dead-letter topic, by stage and reason.",
                             ["connector", "stage", "reason"], registry=registry)
        self._commits = Counter("hub_connector_commits_total", "Checkpoint commits (one SQL transaction each).",
                                ["connector"], registry=registry)
        self._committed_records = Counter("hub_connector_records_committed_total",
                                          "Source records covered by committed checkpoints.",
                                          ["connector"], registry=registry)
        self._last_commit = Gauge("hub_connector_last_commit_timestamp_seconds",
                                  "Time of the last checkpoint commit.", ["connector"], registry=registry)
        self._commit_lag = Gauge(
            "hub_connector_committed_lag_seconds",
            "How far the committed position trails the source: commit time minus the event time of the "
            "newest committed record (sources have no common end offset, so lag is measured in time).",
            ["connector"], registry=registry)
        self._retries = Counter("hub_connector_retries_total", "Retried external calls and rewound batches.",
                                ["connector", "operation"], registry=registry)
        self._poll_latency = Histogram("hub_connector_poll_duration_seconds", "Duration of one task.poll().",
                                       ["connector"], buckets=LATENCY_BUCKETS, registry=registry)
        self._produce_latency = Histogram("hub_connector_produce_duration_seconds",
                                          "From the first send of a batch to its last acknowledgement.",
                                          ["connector"], buckets=LATENCY_BUCKETS, registry=registry)
        self._state = Gauge("hub_connector_state", "1 for the connector's current state, 0 for the others.",
                            ["connector", "state"], registry=registry)

    def polled(self, connector: str, n: int) -> None:
        self._polled.labels(connector).inc(n)

    def produced(self, connector: str, topic: str, n: int) -> None:
        self._produced.labels(connector, topic).inc(n)

    def dead_lettered(self, connector: str, stage: str, reason: str, n: int = 1) -> None:
        self._dead.labels(connector, stage, reason).inc(n)

    def committed(self, connector: str, partitions: int, records: int, ts: float,
                  newest_event_ts: float | None = None) -> None:
        """One checkpoint commit covering ``records`` records in ``partitions`` source partitions;
        ``newest_event_ts`` (epoch seconds) of the newest committed record sets the lag."""
        self._commits.labels(connector).inc()
        self._committed_records.labels(connector).inc(records)
        self._last_commit.labels(connector).set(ts)
        if newest_event_ts is not None:
            self._commit_lag.labels(connector).set(max(0.0, ts - newest_event_ts))

    def retried(self, connector: str, operation: str) -> None:
        self._retries.labels(connector, operation).inc()

    def poll_latency(self, connector: str, seconds: float) -> None:
        self._poll_latency.labels(connector).observe(seconds)

    def produce_latency(self, connector: str, seconds: float) -> None:
        self._produce_latency.labels(connector).observe(seconds)

    def state(self, connector: str, state: str) -> None:
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}; valid states: {', '.join(STATES)}")
        for s in STATES:
            self._state.labels(connector, s).set(1 if s == state else 0)
