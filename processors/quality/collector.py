"""Prometheus gauges of data quality, computed from ``quality_windows`` at scrape time.

Rolling figures over the last ``rolling_s`` seconds (24 h by default: the windows that
started since then) per ``source_system`` and ``department`` (label values are bounded: the
registered sources and their departments). One indexed range query per scrape.
"""

from __future__ import annotations

import logging
import time

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from processors.quality.report import tallies

log = logging.getLogger("processors.quality")

_LABELS = ["source_system", "department"]


class QualityCollector(Collector):
    """Collects ``hub_quality_*`` gauges; a failing query yields no samples instead of failing the scrape."""

    def __init__(self, engine: Engine, rolling_s: int, window_ms: int, clock=time.time) -> None:
        self.engine = engine
        self.rolling_ms = rolling_s * 1000
        self.window_ms = window_ms
        self.clock = clock

    def describe(self):
        return []  # computed from SQL: nothing to call at registration time

    def collect(self):
        now_ms = int(self.clock() * 1000)
        since = now_ms - self.rolling_ms
        since -= since % self.window_ms
        try:
            with self.engine.connect() as conn:
                data = tallies(conn, since, now_ms + 1)
        except Exception as exc:  # noqa: BLE001 - a scrape must not fail because the database blinked
            log.warning("quality gauges unavailable: %s", type(exc).__name__)
            return
        families = {
            "records": GaugeMetricFamily("hub_quality_records", "Records measured (rolling window).", labels=_LABELS),
            "rejected": GaugeMetricFamily("hub_quality_rejected", "Records dead-lettered by the connector "
                                          "(rolling; department empty).", labels=_LABELS),
            "duplicates": GaugeMetricFamily("hub_quality_duplicates", "Unchanged resends of a business key "
                                            "(rolling).", labels=_LABELS),
            "completeness": GaugeMetricFamily("hub_quality_completeness", "Share of expected fields filled, 0-1 "
                                              "(rolling).", labels=_LABELS),
            "accuracy": GaugeMetricFamily("hub_quality_accuracy", "Share of records passing code and date rules, "
                                          "dead letters counted as failing, 0-1 (rolling).", labels=_LABELS),
            "timeliness": GaugeMetricFamily("hub_quality_timeliness", "Share of records ingested within the agreed "
                                            "delay, 0-1 (rolling).", labels=_LABELS),
            "p95": GaugeMetricFamily("hub_quality_timeliness_p95_seconds", "95th percentile of ingest minus event "
                                     "time, seconds (bucket upper bound; rolling).", labels=_LABELS),
        }
        for (source, department), t in sorted(data.items()):
            labels = [source, department]
            families["records"].add_metric(labels, t.records)
            families["rejected"].add_metric(labels, t.rejected)
            families["duplicates"].add_metric(labels, t.duplicates)
            for name, value in (("completeness", t.completeness), ("accuracy", t.accuracy),
                                ("timeliness", t.timeliness)):
                if value is not None:
                    families[name].add_metric(labels, value)
            p95 = t.latency_quantile_ms(0.95)
            if p95 is not None:
                families["p95"].add_metric(labels, p95 / 1000)
        yield from families.values()
