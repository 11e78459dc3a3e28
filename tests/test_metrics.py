"""The Prometheus endpoint: off by default, on loopback, counting what the job does."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.app import make_monitor
from monitor.config import load_settings
from monitor.errors import ConfigError, MonitorError

from .helpers import DAILY_FILE, DATA, FakeClock, feed_list, free_port, job_config

SAMPLE = (DATA / "feeds" / "seed_rss.xml").as_uri()


def config(tmp_path: Path, metrics: str = "") -> Path:
    return job_config(tmp_path, feed_list({"seed": SAMPLE}) + DAILY_FILE + metrics)


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_are_off_by_default(tmp_path: Path, clock: FakeClock) -> None:
    monitor = make_monitor(load_settings(config(tmp_path), {}), clock=clock)
    assert monitor.settings.metrics.port is None
    assert monitor.serve_metrics() is None
    monitor.close()


def test_the_endpoint_counts_polls_items_hits_deliveries_and_reads_the_store(
    tmp_path: Path, clock: FakeClock
) -> None:
    port = free_port()
    settings = load_settings(config(tmp_path), {"MONITOR_METRICS_PORT": str(port)})
    assert (settings.metrics.host, settings.metrics.port) == ("127.0.0.1", port)
    monitor = make_monitor(settings, clock=clock)
    server = monitor.serve_metrics()
    try:
        results = monitor.poll()
        before = scrape(port)
        assert before[("monitor_polls_total", ())] == 1
        assert before[("monitor_fetches_total", (("outcome", "ok"),))] == 1
        items = sum(r.new_items for r in results)
        hits = sum(r.new_hits for r in results)
        assert items > 0 and hits > 0
        assert before[("monitor_items_total", ())] == items
        assert before[("monitor_hits_total", ())] == hits
        assert before[("monitor_poll_duration_seconds_count", ())] == 1
        assert before[("monitor_match_duration_seconds_count", ())] == 1
        assert before[("monitor_feeds", (("state", "ok"),))] == 1
        pending = before[("monitor_pending_hits", (("target", "daily:file"),))]
        assert pending > 0
        monitor.send_digest("daily")
        after = scrape(port)
        assert after[("monitor_deliveries_total", (("kind", "digest"), ("outcome", "sent")))] == 1
        assert after[("monitor_pending_hits", (("target", "daily:file"),))] == 0
    finally:
        server.shutdown()
        monitor.close()


def test_a_taken_port_is_one_clear_error(tmp_path: Path, clock: FakeClock) -> None:
    port = free_port()
    settings = load_settings(config(tmp_path, f"metrics:\n  port: {port}\n"), {})
    first = make_monitor(settings, clock=clock)
    second = make_monitor(settings, clock=clock)
    server = first.serve_metrics()
    try:
        with pytest.raises(MonitorError, match=f"cannot listen on 127.0.0.1:{port}"):
            second.serve_metrics()
    finally:
        server.shutdown()
        first.close()
        second.close()


@pytest.mark.parametrize("port", ["0", "70000", "http"])
def test_a_bad_port_is_rejected_with_its_line(tmp_path: Path, port: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(config(tmp_path, f"metrics:\n  port: {port}\n"), {})
    assert any("metrics.port" in p for p in info.value.problems)
