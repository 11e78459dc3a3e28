"""When to poll a feed next, and how often it usually publishes.

Pure: the clock and the randomness come in as arguments.

- After a good poll, a feed with an ``interval`` of its own (min = max) is polled again
  after that interval, jittered: the user's interval is the interval, and the server's
  cache hints (Cache-Control max-age, <ttl>) do not stretch it.
- Any other feed follows its rhythm (about two polls per item it publishes), kept
  between the min and max interval, never sooner than the server asked (Retry-After,
  Cache-Control max-age, the feed's <ttl>), jittered so that feeds do not poll in
  lockstep. A server's wish is honoured up to a ceiling (the poller passes the backoff
  cap, 24 h by default), so a max-age of a year cannot silence a feed.
- A feed not requested because its host asked us to wait (Retry-After while another of
  its feeds was fetched) is due again once that wait is over: no error is counted.
- After the n-th failure in a row: exponential backoff from the min interval, jittered,
  capped (24 h by default), never giving a feed up; a Retry-After longer than the cap is
  honoured up to twice the cap. A gone feed (410) waits the whole cap at once.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import datetime, timedelta

WEEK = 7 * 86_400.0
#: Spread polls by this fraction so that feeds do not poll in lockstep.
JITTER = 0.1
#: Weight of the newest observation in the running estimate of a feed's usual gap.
GAP_WEIGHT = 0.3


def _jitter(seconds: float, rng: random.Random) -> float:
    return seconds * (1 + rng.uniform(-JITTER, JITTER))


def bounds(
    interval: float | None,
    min_interval: float | None,
    max_interval: float | None,
    defaults: tuple[float, float],
) -> tuple[int, int]:
    """A feed's (min, max) interval in seconds: its own ``interval`` twice (a fixed
    interval), else its own bounds or the defaults (poll.min_interval, max_interval)."""
    if interval is not None:
        return int(interval), int(interval)
    low = defaults[0] if min_interval is None else min_interval
    high = defaults[1] if max_interval is None else max_interval
    return int(low), int(max(low, high))


def bounds_problem(
    interval: float | None,
    min_interval: float | None,
    max_interval: float | None,
    default_min: float,
) -> tuple[str, str] | None:
    """(key, what is wrong) with a feed's interval settings, or None."""
    if interval is not None and (min_interval is not None or max_interval is not None):
        key = "min_interval" if min_interval is not None else "max_interval"
        return key, (
            "cannot go with interval: interval is the feed's fixed interval; min_interval "
            "and max_interval bound the rhythm of a feed without one"
        )
    low = default_min if min_interval is None else min_interval
    if max_interval is not None and low > max_interval:
        return "max_interval", f"is below the feed's min_interval ({low:g} s)"
    return None


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
    ceiling: float | None = None,
    fixed: bool = False,
    rng: random.Random,
) -> datetime:
    """After a good poll: the feed's rhythm, never sooner than the server asked, though
    never later than `ceiling` (default: the max interval) for a server's wish. A `fixed`
    interval (min = max) is kept whatever the server's cache hints say."""
    seconds = _jitter(rhythm_interval(items_per_week, min_interval, max_interval), rng)
    if not_before and not fixed:
        limit = max(ceiling or 0, max_interval, min_interval)
        seconds = max(seconds, min(not_before, limit))
    return now + timedelta(seconds=seconds)


def backoff_interval(error_count: int, min_interval: float, max_backoff: float) -> float:
    """min_interval * 2^(n-1), at most max_backoff."""
    exponent = min(max(error_count - 1, 0), 30)
    return min(max_backoff, min_interval * 2**exponent)


def next_failure(
    now: datetime,
    *,
    error_count: int,
    min_interval: float,
    max_backoff: float,
    not_before: float | None = None,
    gone: bool = False,
    rng: random.Random,
) -> datetime:
    """After the n-th failure in a row: exponential backoff with jitter, capped, never given
    up. A feed that is `gone` (410) is tried again only at the cap, whatever its count."""
    wait = max_backoff if gone else backoff_interval(error_count, min_interval, max_backoff)
    seconds = _jitter(wait, rng)
    if not_before:
        seconds = max(seconds, min(not_before, 2 * max_backoff))
    return now + timedelta(seconds=seconds)


def next_deferred(now: datetime, wait: float, rng: random.Random) -> datetime:
    """A feed its host asked us not to request yet: due once the wait is over (spread a
    little, so the host's feeds do not all come back in one burst)."""
    return now + timedelta(seconds=max(wait, 1.0) * (1 + rng.uniform(0, JITTER)))


def published_last_week(dates: Iterable[datetime | None], now: datetime) -> int:
    """How many of these items were published in the week before `now` (a day of clock
    skew allowed for items dated in the future)."""
    start, end = now - timedelta(seconds=WEEK), now + timedelta(days=1)
    return sum(1 for d in dates if d is not None and start <= d <= end)


def gap_from_dates(dates: Iterable[datetime | None], now: datetime) -> float | None:
    """The average gap in seconds between a feed's items, from their dates; None when fewer
    than two items are dated (or all share one date)."""
    known = sorted(d for d in dates if d is not None and d <= now + timedelta(days=1))
    if len(known) < 2:
        return None
    span = (known[-1] - known[0]).total_seconds()
    return span / (len(known) - 1) if span > 0 else None


def usual_gap(previous: float | None, observed: float | None) -> float | None:
    """Running estimate of the time between a feed's new items (exponential average)."""
    if observed is None or observed <= 0:
        return previous
    if previous is None:
        return observed
    return (1 - GAP_WEIGHT) * previous + GAP_WEIGHT * observed
