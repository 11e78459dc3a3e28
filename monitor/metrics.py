"""Prometheus metrics: what the job did (counters and durations, updated as it works) and
what it holds (pending hits and feed states, read from the store when scraped).

Off unless ``metrics.port`` (or ``MONITOR_METRICS_PORT``) is set; the endpoint listens on
127.0.0.1 unless ``metrics.host`` says otherwise. Every metric is named ``monitor_*``.
"""

from __future__ import annotations

import logging
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from monitor.errors import MonitorError
from monitor.model import PollResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Holdings:
    """What the store holds now: pending hits per target, feeds per state."""

    pending: Mapping[str, int]
    feeds: Mapping[str, int]


class _StoreCollector(Collector):
    def __init__(self, read: Callable[[], Holdings]) -> None:
        self.read = read

    def collect(self) -> Iterable[GaugeMetricFamily]:
        try:
            held = self.read()
        except MonitorError as e:  # the database is down: say so, keep serving the rest
            log.warning("metrics: cannot read the store: %s", e)
            return
        pending = GaugeMetricFamily(
            "monitor_pending_hits", "Hits waiting to be sent, per target", labels=["target"]
        )
        for target, count in sorted(held.pending.items()):
            pending.add_metric([target], count)
        feeds = GaugeMetricFamily("monitor_feeds", "Feeds per state", labels=["state"])
        for state, count in sorted(held.feeds.items()):
            feeds.add_metric([state], count)
        yield pending
        yield feeds


class Metrics:
    """The job's metrics in a registry of their own (so tests and several jobs in one
    process never share counters)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.polls = Counter("monitor_polls", "Poll cycles run", registry=r)
        self.fetches = Counter("monitor_fetches", "Feed polls by outcome", ["outcome"], registry=r)
        self.items = Counter("monitor_items", "New items stored", registry=r)
        self.hits = Counter("monitor_hits", "New hits recorded", registry=r)
        self.deliveries = Counter(
            "monitor_deliveries",
            "Delivery runs by kind and outcome",
            ["kind", "outcome"],
            registry=r,
        )
        self.poll_seconds = Histogram(
            "monitor_poll_duration_seconds",
            "Wall time of one poll cycle",
            buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
            registry=r,
        )
        self.match_seconds = Histogram(
            "monitor_match_duration_seconds",
            "Time spent matching the new items of one poll cycle",
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30),
            registry=r,
        )

    def watch(self, read: Callable[[], Holdings]) -> None:
        """Read pending hits and feed states from ``read`` at every scrape."""
        self.registry.register(_StoreCollector(read))

    def polled(self, results: Sequence[PollResult], seconds: float, matching: float) -> None:
        self.polls.inc()
        for outcome, count in Tally(r.status for r in results).items():
            self.fetches.labels(outcome).inc(count)
        self.items.inc(sum(r.new_items for r in results))
        self.hits.inc(sum(r.new_hits for r in results))
        self.poll_seconds.observe(seconds)
        self.match_seconds.observe(matching)

    def delivered(self, kind: str, outcome: str) -> None:
        self.deliveries.labels(kind, outcome).inc()

    def serve(self, host: str, port: int) -> Any:
        """Start the endpoint in a daemon thread; returns the server (``shutdown()`` stops
        it). Raises MonitorError when the port cannot be had."""
        try:
            server, _thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as e:
            raise MonitorError(f"metrics: cannot listen on {host}:{port}: {e.strerror or e}") from e
        log.info("metrics at http://%s:%d/metrics", host, port)
        return server
