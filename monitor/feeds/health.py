"""Feed health: is a feed gone, failing or silent, and what to tell the user, once.

Pure: the state and the clock come in as arguments. A feed's condition is one of

- ``gone``: the server answered 410 Gone (it is still tried at the backoff cap, in case
  it comes back);
- ``failing``: N polls in a row failed (N = ``fail_after``);
- ``silent``: nothing new for several times the feed's usual gap between items, and for
  at least a day (news sites pause overnight and at weekends);
- ``""``: healthy.

A notice is raised when a feed enters a condition, not while it stays there: the store
keeps it until the next digest reports it, so each problem is told once. When the feed
recovers, its condition clears and a later problem is told again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.model import FeedState

Condition = str
GONE, FAILING, SILENT, HEALTHY = "gone", "failing", "silent", ""

#: A feed is silent after this many usual gaps without a new item...
SILENT_FACTOR = 5.0
#: ...and never before this long.
SILENT_MIN = timedelta(days=1)
FAIL_AFTER = 5


@dataclass(frozen=True, slots=True)
class Limits:
    fail_after: int = FAIL_AFTER
    silent_factor: float = SILENT_FACTOR
    silent_min: timedelta = SILENT_MIN


def duration(seconds: float) -> str:
    """'45 min', '7 h', '3 days' (rounded, for messages)."""
    if seconds < 5400:
        return f"{max(1, round(seconds / 60))} min"
    if seconds < 2 * 86_400:
        return f"{round(seconds / 3600)} h"
    return f"{round(seconds / 86_400)} days"


def condition(feed: FeedState, now: datetime, limits: Limits = Limits()) -> Condition:
    """The feed's condition as its state shows it now."""
    if feed.gone:
        return GONE
    if feed.error_count >= max(1, limits.fail_after):
        return FAILING
    if feed.last_new is not None and feed.usual_gap:
        quiet = now - feed.last_new
        if quiet >= limits.silent_min and quiet.total_seconds() > (
            limits.silent_factor * feed.usual_gap
        ):
            return SILENT
    return HEALTHY


def notice(feed: FeedState, now: datetime, cond: Condition) -> str:
    """The one line a digest and the log show when a feed enters a condition."""
    where = f"feed {feed.id} ({feed.url})"
    if cond == GONE:
        return (
            f"{where} is gone: the server answered 410 Gone. It is tried once per backoff "
            "period in case it returns; remove it from the configuration or give it a new URL."
        )
    if cond == FAILING:
        since = (
            f"; last success {feed.last_success:%Y-%m-%d %H:%M} UTC"
            if feed.last_success
            else "; it never worked"
        )
        return (
            f"{where} failed {feed.error_count} times in a row{since}. "
            f"Last error: {feed.last_error or 'unknown'}"
        )
    if cond == SILENT and feed.last_new is not None and feed.usual_gap:
        quiet = (now - feed.last_new).total_seconds()
        return (
            f"{where} has published nothing new for {duration(quiet)}; it usually does "
            f"every {duration(feed.usual_gap)}."
        )
    return f"{where} is {cond or 'healthy'}."


def assess(
    feed: FeedState, now: datetime, limits: Limits = Limits()
) -> tuple[Condition, str | None]:
    """(condition now, a notice when the feed just entered it)."""
    cond = condition(feed, now, limits)
    if cond and cond != feed.health:
        return cond, notice(feed, now, cond)
    return cond, None


WAITING = "waiting for host"


def status(feed: FeedState) -> str:
    """A word for the feeds table: new, ok, silent, error (the last poll failed),
    failing (reported as such: see Limits.fail_after), gone, or "waiting for host" (not
    requested: its host asked us to wait, which counts against no feed)."""
    if feed.gone:
        return GONE
    if feed.health == FAILING:
        return FAILING
    if feed.waiting_for:
        return WAITING
    if feed.error_count:
        return "error"
    if feed.health == SILENT:
        return SILENT
    return "ok" if feed.last_success else "new"
