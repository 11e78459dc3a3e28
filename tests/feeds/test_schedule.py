"""When feeds are polled next, and when their health is reported: pure functions."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from monitor.feeds import health, schedule
from monitor.model import FeedState

NOW = datetime(2025, 12, 16, 6, 0, tzinfo=UTC)
HOUR = 3600.0


def seconds(when: datetime) -> float:
    return (when - NOW).total_seconds()


@pytest.mark.parametrize(
    ("per_week", "expected"),
    [
        (0, 6 * HOUR),  # nothing published: the max interval
        (1, 6 * HOUR),  # a week / 2 is above the max
        (84, 3600.0),  # twelve a day: every hour
        (10_000, 900.0),  # a firehose: the min interval
    ],
)
def test_rhythm_follows_the_items_per_week_within_bounds(per_week: float, expected: float) -> None:
    assert schedule.rhythm_interval(per_week, 900, 6 * HOUR) == expected


def test_next_success_is_jittered_and_never_sooner_than_asked() -> None:
    rng = random.Random(1)
    times = {
        seconds(
            schedule.next_success(
                NOW, items_per_week=84, min_interval=900, max_interval=6 * HOUR, rng=rng
            )
        )
        for _ in range(50)
    }
    assert len(times) > 40
    assert all(0.9 * HOUR <= t <= 1.1 * HOUR for t in times)
    asked = schedule.next_success(
        NOW,
        items_per_week=84,
        min_interval=900,
        max_interval=6 * HOUR,
        not_before=5 * HOUR,
        rng=rng,
    )
    assert seconds(asked) == 5 * HOUR
    capped = schedule.next_success(
        NOW,
        items_per_week=84,
        min_interval=900,
        max_interval=6 * HOUR,
        not_before=365 * 86_400,
        ceiling=24 * HOUR,
        rng=rng,
    )
    assert seconds(capped) == 24 * HOUR


def test_backoff_doubles_up_to_the_cap_and_never_stops() -> None:
    assert [schedule.backoff_interval(n, 900, 24 * HOUR) for n in (1, 2, 3, 4)] == [
        900,
        1800,
        3600,
        7200,
    ]
    assert schedule.backoff_interval(10, 900, 24 * HOUR) == 24 * HOUR
    assert schedule.backoff_interval(10_000, 900, 24 * HOUR) == 24 * HOUR
    rng = random.Random(2)
    late = schedule.next_failure(
        NOW, error_count=3, min_interval=900, max_backoff=24 * HOUR, not_before=10 * HOUR, rng=rng
    )
    assert seconds(late) == 10 * HOUR


def test_items_published_last_week_and_the_gap_between_them() -> None:
    dates = [NOW - timedelta(hours=h) for h in (1, 3, 5, 200)] + [None]
    assert schedule.published_last_week(dates, NOW) == 3
    assert schedule.gap_from_dates(dates[:3], NOW) == 2 * HOUR
    assert schedule.gap_from_dates([NOW, None], NOW) is None
    assert schedule.usual_gap(None, 100.0) == 100.0
    assert schedule.usual_gap(100.0, 200.0) == pytest.approx(130.0)
    assert schedule.usual_gap(100.0, None) == 100.0


FEED = FeedState(id="f", url="https://example.org/feed")


def test_health_conditions() -> None:
    limits = health.Limits(fail_after=3)
    assert health.condition(FEED, NOW, limits) == ""
    assert health.condition(replace(FEED, error_count=2), NOW, limits) == ""
    assert health.condition(replace(FEED, error_count=3), NOW, limits) == "failing"
    assert health.condition(replace(FEED, gone=True, error_count=9), NOW, limits) == "gone"
    hourly = replace(FEED, last_new=NOW - timedelta(hours=20), usual_gap=HOUR)
    assert health.condition(hourly, NOW, limits) == ""  # quiet, but not a day yet
    assert health.condition(replace(hourly, last_new=NOW - timedelta(days=2)), NOW) == "silent"
    weekly = replace(FEED, last_new=NOW - timedelta(days=20), usual_gap=7 * 86_400)
    assert health.condition(weekly, NOW) == ""  # 20 days is less than 5 weekly gaps


def test_a_notice_comes_when_a_condition_starts_not_while_it_lasts() -> None:
    failing = replace(FEED, error_count=5, last_error="HTTP 500", last_success=NOW)
    cond, notice = health.assess(failing, NOW)
    assert cond == "failing"
    assert notice is not None
    assert notice.startswith("feed f (https://example.org/feed) failed 5 times in a row")
    assert "Last error: HTTP 500" in notice
    assert health.assess(replace(failing, health="failing"), NOW) == ("failing", None)
    assert health.assess(replace(FEED, health="failing"), NOW) == ("", None)


def test_status_words_for_the_table() -> None:
    assert health.status(FEED) == "new"
    assert health.status(replace(FEED, last_success=NOW)) == "ok"
    assert health.status(replace(FEED, last_success=NOW, health="silent")) == "silent"
    assert health.status(replace(FEED, error_count=1)) == "error"
    assert health.status(replace(FEED, error_count=5, health="failing")) == "failing"
    assert health.status(replace(FEED, gone=True)) == "gone"


@pytest.mark.parametrize(
    ("secs", "text"), [(30, "1 min"), (2700, "45 min"), (7 * HOUR, "7 h"), (3 * 86_400, "3 days")]
)
def test_durations_in_messages(secs: float, text: str) -> None:
    assert health.duration(secs) == text


def test_a_fixed_interval_ignores_cache_hints_and_a_host_wait_is_kept() -> None:
    rng = random.Random(3)
    fixed = schedule.next_success(
        NOW,
        items_per_week=1,
        min_interval=900,
        max_interval=900,
        not_before=6 * HOUR,
        fixed=True,
        rng=rng,
    )
    assert 900 * 0.9 <= seconds(fixed) <= 900 * 1.1
    deferred = schedule.next_deferred(NOW, 600, rng)
    assert 600 <= seconds(deferred) <= 660
    assert health.status(replace(FEED, last_success=NOW, waiting_for="h")) == "waiting for host"
    assert schedule.bounds_problem(900, 60, None, 300) is not None
    assert schedule.bounds_problem(None, 60, 3600, 300) is None
