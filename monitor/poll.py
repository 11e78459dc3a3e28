"""One poll cycle over the due feeds: fetch, parse, keep the unseen, match, record.

A feed's failure is a value (a PollResult with status "error"); it never stops the cycle
and never loses another feed's items. Each feed is recorded in its own transaction, so a
cycle cut short keeps what it finished.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime

from monitor.errors import FeedError, FetchError
from monitor.feeds import schedule
from monitor.feeds.parse import parse_feed
from monitor.model import (
    Clock,
    Entry,
    FeedState,
    FeedUpdate,
    Fetcher,
    FetchResult,
    Hit,
    Matcher,
    NotModified,
    ParsedFeed,
    PollResult,
    PollStore,
)

log = logging.getLogger(__name__)

Parser = Callable[[str, bytes, str | None], ParsedFeed]


def _parse(feed_id: str, body: bytes, content_type: str | None) -> ParsedFeed:
    return parse_feed(feed_id, body, content_type=content_type)


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


class Poller:
    """Runs poll cycles; holds what does not change between them."""

    def __init__(
        self,
        store: PollStore,
        fetcher: Fetcher,
        matcher: Matcher,
        *,
        clock: Clock,
        max_backoff: float = 86_400,
        parser: Parser = _parse,
        rng: random.Random | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.store = store
        self.fetcher = fetcher
        self.matcher = matcher
        self.clock = clock
        self.max_backoff = max_backoff
        self.parser = parser
        self.rng = rng or random.Random()
        self.stop = stop or threading.Event()

    def run(self) -> Iterator[PollResult]:
        """Poll every due feed once; yield one result per feed."""
        due = self.store.feeds_due(self.clock())
        if not due:
            return
        outcomes = list(self.fetcher.fetch_all(due))
        failures = [o for _, o in outcomes if isinstance(o, Exception)]
        outage = (
            len(due) > 1
            and len(failures) == len(due)
            and all(isinstance(o, FetchError) and o.status is None for o in failures)
        )
        if outage:
            log.warning(
                "every feed failed to connect: treating it as a network outage, "
                "not counting it against the feeds"
            )
        for done, (feed, outcome) in enumerate(outcomes):
            if self.stop.is_set():
                left = [f.id for f, _ in outcomes[done:]]
                self.store.unclaim(left)
                log.info("stopping: %d feeds left for the next start", len(left))
                return
            yield self._one(feed, outcome, outage=outage)

    # ------------------------------------------------------------------ one feed

    def _one(self, feed: FeedState, outcome: object, *, outage: bool) -> PollResult:
        now = self.clock()
        if isinstance(outcome, FeedError):
            return self._failed(feed, outcome, now, outage=outage)
        if isinstance(outcome, NotModified):
            state = self._succeeded(
                feed,
                now,
                retry_after=outcome.retry_after,
                etag=outcome.etag,
                last_modified=outcome.last_modified,
            )
            self.store.record(FeedUpdate(feed=state))
            return PollResult(feed.id, "not_modified")
        if not isinstance(outcome, FetchResult):
            raise TypeError(f"fetcher returned {outcome!r} for feed {feed.id}")  # a bug

        digest = body_hash(outcome.body)
        url = outcome.permanent_url or feed.url
        if outcome.permanent_url:
            log.info("feed %s moved permanently to %s", feed.id, outcome.permanent_url)
        if digest == feed.body_hash:
            state = self._succeeded(
                feed,
                now,
                retry_after=outcome.retry_after,
                url=url,
                etag=outcome.etag,
                last_modified=outcome.last_modified,
            )
            self.store.record(FeedUpdate(feed=state))
            return PollResult(feed.id, "unchanged")
        try:
            parsed = self.parser(feed.id, outcome.body, outcome.content_type)
        except FeedError as e:
            return self._failed(feed, e, now, outage=False)

        ttl = parsed.ttl_minutes * 60 if parsed.ttl_minutes else None
        not_before = max(filter(None, (outcome.retry_after, ttl)), default=None)
        fresh = self.store.unseen(feed.id, parsed.entries)
        hits = self._match(fresh)
        state = self._succeeded(
            feed,
            now,
            retry_after=not_before,
            url=url,
            body=digest,
            title=feed.title or parsed.title,
            new_items=len(fresh),
            etag=outcome.etag,
            last_modified=outcome.last_modified,
        )
        created = self.store.record(FeedUpdate(feed=state, entries=tuple(fresh), hits=hits))
        alerts = tuple(hit_id for hit_id, hit in created if hit.priority == "high")
        return PollResult(
            feed.id, "ok", new_items=len(fresh), new_hits=len(created), alert_hit_ids=alerts
        )

    def _match(self, entries: list[Entry]) -> dict[str, list[Hit]]:
        hits: dict[str, list[Hit]] = {}
        for entry in entries:
            found = self.matcher.match(entry)
            if found:
                hits[entry.id] = found
        return hits

    def _succeeded(
        self,
        feed: FeedState,
        now: datetime,
        *,
        retry_after: float | None,
        etag: str | None,
        last_modified: str | None,
        url: str | None = None,
        body: str | None = None,
        title: str | None = None,
        new_items: int = 0,
    ) -> FeedState:
        per_week = max(feed.items_per_week, float(new_items))
        return replace(
            feed,
            url=url or feed.url,
            title=title or feed.title,
            etag=etag,
            last_modified=last_modified,
            body_hash=body or feed.body_hash,
            last_polled=now,
            last_success=now,
            error_count=0,
            last_error=None,
            gone=False,
            next_poll=schedule.next_success(
                now,
                items_per_week=per_week,
                min_interval=feed.min_interval,
                max_interval=feed.max_interval,
                not_before=retry_after,
                rng=self.rng,
            ),
        )

    def _failed(
        self, feed: FeedState, error: FeedError, now: datetime, *, outage: bool
    ) -> PollResult:
        status = getattr(error, "status", None)
        gone = status == 410
        count = feed.error_count if outage else feed.error_count + 1
        retry_after = getattr(error, "retry_after", None)
        if gone:
            next_poll = schedule.next_failure(
                now,
                error_count=31,
                min_interval=feed.min_interval,
                max_backoff=self.max_backoff,
                rng=self.rng,
            )
        else:
            next_poll = schedule.next_failure(
                now,
                error_count=max(count, 1),
                min_interval=feed.min_interval,
                max_backoff=self.max_backoff,
                not_before=retry_after,
                rng=self.rng,
            )
        state = replace(
            feed,
            last_polled=now,
            error_count=count,
            last_error=str(error),
            gone=gone,
            next_poll=next_poll,
        )
        self.store.record(FeedUpdate(feed=state))
        log.warning(
            "%s (error %d in a row; next try %s)",
            error,
            count,
            next_poll.isoformat(timespec="seconds"),
        )
        return PollResult(feed.id, "gone" if gone else "error", error=str(error))
