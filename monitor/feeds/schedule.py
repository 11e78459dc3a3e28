"""When to poll a feed next. Pure: the clock and the randomness come in as arguments."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

WEEK = 7 * 86_400.0
#: Spread polls by this fraction so that feeds do not poll in lockstep.
JITTER = 0.1


def _jitter(seconds: float, rng: random.Random) -> float:
    return seconds * (1 + rng.uniform(-JITTER, JITTER))


def rhythm_interval(items_per_week: float, min_interval: float, max_interval: float) -> float:
    """Poll about twice per item the feed usually publishes, within the bounds."""
    if items_per_week <= 0:
        return max_interval
    return min(max_interval, max(min_interval, WEEK / items_per_week / 2))


def next_success(
    now: datetime,
    *,
    items_per_week: float,
    min_interval: float,
    max_interval: float,
    not_before: float | None = None,
    rng: random.Random,
) -> datetime:
    """After a good poll: the feed's rhythm, never sooner than the server asked."""
    seconds = _jitter(rhythm_interval(items_per_week, min_interval, max_interval), rng)
    if not_before:
        seconds = max(seconds, not_before)
    return now + timedelta(seconds=seconds)


def next_failure(
    now: datetime,
    *,
    error_count: int,
    min_interval: float,
    max_backoff: float,
    not_before: float | None = None,
    rng: random.Random,
) -> datetime:
    """After the n-th failure in a row: exponential backoff with jitter, capped, never given up."""
    exponent = min(max(error_count - 1, 0), 30)
    seconds = min(max_backoff, min_interval * 2**exponent)
    seconds = _jitter(seconds, rng)
    if not_before:
        seconds = max(seconds, not_before)
    return now + timedelta(seconds=seconds)
