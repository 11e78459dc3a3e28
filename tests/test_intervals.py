"""Polling as configured: a feed's own interval is its interval, min/max bound the rhythm
of the others, and a host's Retry-After defers its other feeds without an error. Through
the wired job (make_monitor), a loopback server and the CLI's feeds table."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from pytest_httpserver import HTTPServer
from werkzeug import Response

from monitor.app import Monitor, make_monitor
from monitor.cli import cli
from monitor.config import load_settings
from monitor.errors import ConfigError
from monitor.feeds import schedule

from .helpers import DATA, ROOT, FakeClock

RSS = (DATA / "poll" / "rss.xml").read_bytes()
TTL = (DATA / "poll" / "ttl.xml").read_bytes()


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "monitor.yaml"
    path.write_text(
        f"storage: sqlite:///{tmp_path / 'monitor.db'}\n"
        f"rules: [{ROOT / 'rules'}]\n"
        f"templates: {ROOT / 'templates'}\n"
        f"digests_dir: {tmp_path / 'digests'}\n" + body
    )
    return path


@pytest.fixture
def web(threaded_server: HTTPServer) -> HTTPServer:
    threaded_server.clear()
    return threaded_server


@pytest.fixture
def job(tmp_path: Path, clock: FakeClock) -> Iterator[Callable[[str], Monitor]]:
    made: list[Monitor] = []

    def make(body: str) -> Monitor:
        monitor = make_monitor(load_settings(write(tmp_path, body), {}), clock=clock)
        made.append(monitor)
        return monitor

    yield make
    for monitor in made:
        monitor.close()


def waits(monitor: Monitor) -> dict[str, float]:
    now = monitor.clock()
    return {f.id: (f.next_poll - now).total_seconds() for f in monitor.feeds() if f.next_poll}


def test_a_feeds_interval_is_its_interval_whatever_the_server_hints(
    web: HTTPServer, job: Callable[[str], Monitor]
) -> None:
    web.expect_request("/cached.xml").respond_with_data(
        RSS, content_type="application/rss+xml", headers={"Cache-Control": "max-age=21600"}
    )
    web.expect_request("/ttl.xml").respond_with_data(TTL, content_type="application/rss+xml")
    web.expect_request("/rhythm.xml").respond_with_data(RSS, content_type="application/rss+xml")
    monitor = job(
        "poll:\n  min_interval: 10m\n  max_interval: 24h\n"
        "feeds:\n"
        f"  - id: cached\n    url: {web.url_for('/cached.xml')}\n    interval: 15m\n"
        f"  - id: ttl\n    url: {web.url_for('/ttl.xml')}\n    interval: 15m\n"
        f"  - id: rhythm\n    url: {web.url_for('/rhythm.xml')}\n"
        "    min_interval: 20m\n    max_interval: 2h\n"
    )
    monitor.poll()
    wait = waits(monitor)
    assert 15 * 60 * 0.9 <= wait["cached"] <= 15 * 60 * 1.1  # not the 6 h of max-age
    assert 15 * 60 * 0.9 <= wait["ttl"] <= 15 * 60 * 1.1  # not the 12 h of <ttl>
    # 3 items a week would mean a poll a day: held to this feed's own max of 2 h.
    assert 2 * 3600 * 0.9 <= wait["rhythm"] <= 2 * 3600 * 1.1
    table = CliRunner().invoke(cli, ["--config", str(monitor.settings.source), "feeds"])
    assert table.exit_code == 0, table.output
    rows = {line.split()[0]: line for line in table.output.splitlines()[1:]}
    assert "fixed 15m" in rows["cached"]
    assert "20m-2h" in rows["rhythm"]
    assert "2025-12-16 06:15 UTC" in rows["cached"] or "UTC" in rows["cached"]


def test_a_changed_interval_applies_at_once(
    web: HTTPServer, job: Callable[[str], Monitor], clock: FakeClock
) -> None:
    web.expect_request("/f.xml").respond_with_data(RSS, content_type="application/rss+xml")
    feed = f"feeds:\n  - id: f\n    url: {web.url_for('/f.xml')}\n"
    first = job("poll:\n  max_interval: 6h\n" + feed)
    first.poll()
    assert waits(first)["f"] > 3600
    first.close()
    clock.advance(minutes=20)
    second = job(feed.replace("/f.xml\n", "/f.xml\n    interval: 15m\n"))
    assert [r.status for r in second.poll()] == ["unchanged"]  # due at once, not in 6 h


@pytest.mark.parametrize(
    ("feed", "message"),
    [
        ("    interval: 15m\n    min_interval: 5m\n", "9: feeds[0].min_interval: cannot go with"),
        ("    max_interval: 5m\n", "8: feeds[0].max_interval: is below the feed's min_interval"),
    ],
)
def test_interval_settings_that_contradict_are_refused(
    tmp_path: Path, feed: str, message: str
) -> None:
    path = write(tmp_path, f"feeds:\n  - id: f\n    url: https://example.org/f.xml\n{feed}")
    with pytest.raises(ConfigError) as info:
        load_settings(path, {})
    assert f"monitor.yaml:{message}" in str(info.value)


def test_bounds() -> None:
    assert schedule.bounds(900, None, None, (300, 86_400)) == (900, 900)
    assert schedule.bounds(None, None, None, (300, 86_400)) == (300, 86_400)
    assert schedule.bounds(None, 600, 1200, (300, 86_400)) == (600, 1200)
    assert schedule.bounds(None, 7200, None, (300, 3600)) == (7200, 7200)


def test_a_hosts_retry_after_defers_its_other_feeds_without_an_error(
    web: HTTPServer, job: Callable[[str], Monitor], clock: FakeClock
) -> None:
    asked: list[str] = []

    def busy(request: object) -> Response:
        asked.append("busy")
        if len(asked) > 1:
            return Response(RSS, content_type="application/rss+xml")
        return Response("slow down", status=429, headers={"Retry-After": "600"})

    web.expect_request("/a.xml").respond_with_handler(busy)
    for name in ("b", "c"):
        web.expect_request(f"/{name}.xml").respond_with_data(
            RSS, content_type="application/rss+xml"
        )
    feeds = "".join(
        f"  - id: {n}\n    url: {web.url_for(f'/{n}.xml')}\n    interval: 5m\n" for n in "abc"
    )
    monitor = job(f"poll:\n  per_host: 1\nfeeds:\n{feeds}")
    results = {r.feed_id: r for r in monitor.poll()}
    assert results["a"].status == "error"
    assert {results["b"].status, results["c"].status} == {"deferred"}
    state = {f.id: f for f in monitor.feeds()}
    assert state["a"].error_count == 1  # the feed that was asked
    assert state["b"].error_count == state["c"].error_count == 0
    assert state["b"].waiting_for == "127.0.0.1"
    assert 600 <= waits(monitor)["b"] <= 600 * 1.1
    table = CliRunner().invoke(cli, ["--config", str(monitor.settings.source), "feeds"])
    row = next(line for line in table.output.splitlines() if line.startswith("b "))
    assert "waiting for host" in row
    assert "127.0.0.1 asked us to wait (Retry-After); no error counted" in row
    # Once the wait is over the held feeds are asked, and their wait is forgotten.
    clock.advance(minutes=11)
    results = {r.feed_id: r for r in monitor.poll()}
    assert results["b"].status == "ok"
    assert {f.id: f.waiting_for for f in monitor.feeds()}["b"] == ""
