"""Alerts respect time: only fresh items alert, and a rate limit batches a burst into the
next message instead of dropping it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from monitor.app import Monitor, make_monitor
from monitor.config import load_settings
from monitor.errors import ConfigError

from .helpers import FakeClock, Site, monitor_config

START = datetime(2025, 12, 16, 6, 0, tzinfo=UTC)


@pytest.fixture
def site(httpserver: HTTPServer) -> Site:
    return Site(httpserver)


def make(tmp_path: Path, site: Site, alert: str = "") -> Monitor:
    extra = "digests:\n  - id: daily\nalerts:\n  - id: urgent\n    title: Urgent\n" + (
        alert or "    deliver: [file]\n"
    )
    settings = load_settings(monitor_config(tmp_path, {"news": site.url}, extra), {})
    return make_monitor(settings, clock=FakeClock(START))


@pytest.fixture
def monitor(tmp_path: Path, site: Site) -> Iterator[Monitor]:
    m = make(tmp_path, site)
    yield m
    m.close()


def alerts(tmp_path: Path) -> list[str]:
    paths = sorted(
        (tmp_path / "digests").glob("urgent_file-*.txt"), key=lambda p: p.stat().st_mtime_ns
    )
    return [p.read_text() for p in paths]


def test_old_items_give_no_alert_on_a_first_run(
    monitor: Monitor, site: Site, tmp_path: Path
) -> None:
    site.add("old", "Summit of June", datetime(2025, 6, 1, 9, 0, tzinfo=UTC))
    site.add("week", "Summit of last week", START - timedelta(days=6))
    site.add("new", "Summit this morning", START - timedelta(hours=2))
    site.items.append(("undated", "Summit without a date", None))  # first seen now
    (polled,) = monitor.poll()
    assert polled.new_hits == 4

    (result,) = monitor.send_alerts()
    assert result.status == "sent" and result.hits == 2
    (text,) = alerts(tmp_path)
    assert "Summit this morning" in text and "Summit without a date" in text
    assert "June" not in text and "last week" not in text

    # The old items never alert later either; the digest still carries all four.
    monitor.clock.advance(hours=1)  # type: ignore[attr-defined]
    assert [r.status for r in monitor.send_alerts()] == ["nothing"]
    (digest,) = monitor.send_digest("daily")
    assert digest.status == "sent" and digest.hits == 4


def test_a_burst_over_the_rate_limit_is_batched_into_the_next_message(
    tmp_path: Path, site: Site
) -> None:
    m = make(tmp_path, site, "    deliver: [file]\n    rate_limit: {count: 2, per: 6h}\n")
    clock = m.clock
    assert isinstance(clock, FakeClock)
    statuses = []
    try:
        for n in range(1, 6):  # a new summit story every 70 minutes
            site.add(f"s{n}", f"Summit story {n}", clock())
            (polled,) = m.poll()
            assert polled.new_hits == 1
            (result,) = m.send_alerts()
            statuses.append(result.status)
            clock.advance(minutes=70)
        assert statuses == ["sent", "sent", "held", "held", "held"]
        assert len(alerts(tmp_path)) == 2

        clock.now = START + timedelta(hours=6, minutes=1)  # the first message leaves the window
        (result,) = m.send_alerts()
        assert result.status == "sent" and result.hits == 3
        assert m.store.delivery_counts("urgent:file") == {"sent": 5}  # nothing dropped
    finally:
        m.close()
    texts = alerts(tmp_path)
    assert len(texts) == 3
    assert "Summit story 1" in texts[0] and "Summit story 2" in texts[1]
    batched = texts[2]
    assert all(f"Summit story {n}" in batched for n in (3, 4, 5))
    assert "(+2 more)" in batched.splitlines()[0]


def test_no_rate_limit_sends_every_alert(tmp_path: Path, site: Site) -> None:
    m = make(tmp_path, site, "    deliver: [file]\n    rate_limit: null\n")
    try:
        for n in range(1, 8):
            site.add(f"s{n}", f"Summit story {n}", m.clock())
            m.poll()
            assert [r.status for r in m.send_alerts()] == ["sent"]
            m.clock.advance(minutes=70)  # type: ignore[attr-defined]
    finally:
        m.close()
    assert len(alerts(tmp_path)) == 7


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("rate_limit: {count: 0, per: 1h}", "alerts[0].rate_limit.count: Input should be greater"),
        ("rate_limit: {count: 5, per: 2d}", "alerts[0].rate_limit.per: is longer than the alert's"),
        ("rate_limit: {count: 5, per: soon}", "alerts[0].rate_limit.per: not a duration"),
        ("rate_limit: {count: 5, every: 1h}", "alerts[0].rate_limit.every: unknown key"),
        ("max_age: often", "alerts[0].max_age: not a duration"),
    ],
)
def test_bad_alert_settings_are_refused_with_their_line(
    tmp_path: Path, setting: str, message: str
) -> None:
    config = monitor_config(
        tmp_path,
        {"news": "https://example.org/news.xml"},
        f"alerts:\n  - id: urgent\n    {setting}\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(config, {})
    assert any(p.startswith(f"{config}:14: {message}") for p in caught.value.problems)
