"""Prometheus metrics, one registry per app so several servers (and tests) never share counters."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)


class _LiveGauges(Collector):
    """Reads queue depths at scrape time, so the numbers are never stale."""

    def __init__(self, read: Callable[[], dict[str, float]]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "hopedit_queue_depth", "Requests admitted and not yet answered, by stage", labels=["stage"]
        )
        for stage, value in sorted(self._read().items()):
            family.add_metric([stage], value)
        yield family


class ServerMetrics:
    def __init__(self, live_gauges: Callable[[], dict[str, float]]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "hopedit_requests",
            "HTTP requests by endpoint and status",
            ["endpoint", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "hopedit_request_latency_seconds",
            "HTTP request latency by endpoint (until the last byte of a stream)",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "hopedit_batch_size",
            "Requests per model batch, by what was batched",
            ["queue"],
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.tokens = Counter(
            "hopedit_tokens",
            "Tokens the model read (prompt) and wrote (completion), for clients that left too",
            ["model", "kind"],
            registry=self.registry,
        )
        self.cancelled = Counter(
            "hopedit_cancelled_requests",
            "Requests whose client hung up before the answer; their model work was stopped",
            ["model"],
            registry=self.registry,
        )
        self.registry.register(_LiveGauges(live_gauges))
