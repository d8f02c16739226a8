"""Prometheus metrics: every metric object defined here, on an injected registry.

Code records through intent-named methods (``observe_request``), never by touching
metric objects directly. Labels are bounded (route templates, methods, status
classes, dependency names), never record ids or raw paths.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def new_registry() -> CollectorRegistry:
    """A registry with process and platform collectors, one per service instance."""
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry


class ApiMetrics:
    """HTTP request and dependency-health metrics of the hub API."""

    def __init__(self, registry: CollectorRegistry):
        self.registry = registry
        self._requests = Counter(
            "hub_api_requests_total", "HTTP requests handled, by route template and status.",
            ["method", "route", "status"], registry=registry,
        )
        self._latency = Histogram(
            "hub_api_request_duration_seconds", "HTTP request latency by route template.",
            ["method", "route"], buckets=LATENCY_BUCKETS, registry=registry,
        )
        self._in_flight = Gauge(
            "hub_api_requests_in_flight", "HTTP requests being handled.", registry=registry,
        )
        self._dependency_up = Gauge(
            "hub_dependency_up", "1 if the dependency answered the last health check, else 0.",
            ["dependency"], registry=registry,
        )

    def request_started(self) -> None:
        self._in_flight.inc()

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self._in_flight.dec()
        self._requests.labels(method, route, str(status)).inc()
        self._latency.labels(method, route).observe(seconds)

    def dependency_checked(self, dependency: str, up: bool) -> None:
        self._dependency_up.labels(dependency).set(1 if up else 0)
