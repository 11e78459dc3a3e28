"""One poll cycle over the due feeds: fetch, parse, keep the unseen, match, record.

The stages overlap. The fetcher streams each outcome as it arrives; a body that changed
goes to the parser processes (feeds/pool.py) while fetching goes on; a parsed feed's
unseen entries are matched and recorded as soon as it comes back. When parsing falls
behind, the poller stops taking outcomes and the fetcher pauses, so memory stays bounded.

- A 304 is a success and is never parsed; neither is a 200 whose body is byte-identical
  to the last one (many servers ignore validators).
- A feed not requested because its host asked us to wait (Retry-After while another of
  its feeds was fetched) is "deferred": due again when the wait is over, no error counted.
- A feed with ``full_text`` stores its new items (those with a link) as awaiting their
  article, unmatched: fulltext.py matches them once the text is in.
- A feed's failure is a value (a PollResult with status "error" or "gone"); it never stops
  the cycle and never loses another feed's items. Each feed's items and hits are recorded
  in their own transaction, so a cycle cut short keeps what it finished; feeds whose poll
  changed only their state are written together in batches.
- When no feed of the cycle got any answer (every one failed to connect, on at least two
  hosts, feeds that worked last time among them) the network is down: the failures do not
  count against the feeds, which are simply tried again after their min interval. Feeds
  read from disk (the bundled sample, file://) answer offline too, so they do not count.
- Feed health (feeds/health.py): a feed that is gone, keeps failing or went silent raises
  one notice, logged and kept by the store for the next digest; a permanent redirect
  raises one too.

An unexpected exception (a bug) is logged by the caller and raised; the feeds not yet
done are given back for the next cycle.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Protocol
from urllib.parse import urlsplit

from monitor.collector import collecting_less
from monitor.errors import FeedError, FetchError, NoAnswerError
from monitor.feeds import health, schedule
from monitor.model import (
    Clock,
    Deferred,
    Entry,
    FeedState,
    FeedUpdate,
    FetchOutcome,
    FetchResult,
    Hit,
    NotModified,
    ParsedFeed,
    PollResult,
    PollStatus,
)
from monitor.protocols import Fetcher, Matcher, PollStore

log = logging.getLogger(__name__)

#: An injected parser: (feed id, body, content type, url) -> ParsedFeed, raising FeedError.
Parser = Callable[[str, bytes, str | None, str | None], ParsedFeed]
#: Feeds are written in batches: at most this many state-only updates...
BATCH = 200
#: ...or this many parsed feeds (whose entries are checked against the store together)...
ENTRY_BATCH = 25
#: ...or whatever waited this long (seconds).
MAX_DELAY = 2.0
#: Due feeds are claimed this many at a time on PostgreSQL, so that several job instances
#: on one database share a burst of due feeds instead of the first one taking them all.
CLAIM = 200


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def parse_here(feed_id: str, body: bytes, content_type: str | None, url: str | None) -> ParsedFeed:
    """Parse in this process (small cycles, tests)."""
    from monitor.feeds.parse import parse_feed  # feedparser only where it is needed

    return parse_feed(feed_id, body, content_type=content_type, url=url)


def awaiting_text(feed: FeedState, entries: Sequence[Entry]) -> set[str]:
    """The entries that wait for their article's text: a full-text feed's, with a web link."""
    if not feed.full_text:
        return set()
    return {e.id for e in entries if urlsplit(e.url or "").scheme in ("http", "https")}


class Parsers(Protocol):
    """Where bodies are parsed: in this process or in worker processes."""

    def submit(
        self, feed_id: str, body: bytes, content_type: str | None = None, url: str | None = None
    ) -> Future[ParsedFeed]: ...

    def close(self, *, now: bool = False) -> None: ...

    @property
    def workers(self) -> int:
        """How many bodies are parsed at once."""
        ...


class InlineParsers:
    """Parses at once, in the calling thread; a FeedError lands in the future."""

    workers = 1

    def __init__(self, parse: Parser) -> None:
        self.parse = parse

    def submit(
        self, feed_id: str, body: bytes, content_type: str | None = None, url: str | None = None
    ) -> Future[ParsedFeed]:
        future: Future[ParsedFeed] = Future()
        try:
            future.set_result(self.parse(feed_id, body, content_type, url))
        except FeedError as e:
            future.set_exception(e)
        return future

    def close(self, *, now: bool = False) -> None:
        pass


#: Parsers for a cycle, given the number of due feeds.
ParsersFor = Callable[[int], Parsers]


def inline(parse: Parser) -> ParsersFor:
    """Every cycle parses in this process with ``parse``."""
    return lambda _due: InlineParsers(parse)


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
        parsers: ParsersFor | None = None,
        limits: health.Limits | None = None,
        rng: random.Random | None = None,
        stop: threading.Event | None = None,
        on_start: Callable[[int], None] | None = None,
        claim: int | None = None,
    ) -> None:
        self.store = store
        self.fetcher = fetcher
        self.matcher = matcher
        self.clock = clock
        self.max_backoff = max_backoff
        #: Where a cycle's bodies are parsed, given how many feeds are due (app.py wires
        #: parser processes for big cycles); by default in this process.
        self.parsers_for = parsers or inline(parse_here)
        self.limits = limits or health.Limits()
        self.rng = rng or random.Random()
        self.stop = stop or threading.Event()
        self.on_start = on_start  # called with how many feeds the first claim took
        #: Claim due feeds this many at a time until none is due (one parser pool serves
        #: all the claims); None claims every due feed at once.
        self.claim = claim
        self.match_seconds = 0.0  # seconds the last run spent matching (metrics)

    @collecting_less
    def run(self) -> Iterator[PollResult]:
        """Poll every due feed once; yield one result per feed as it is recorded."""
        self.match_seconds = 0.0
        due = self.store.feeds_due(self.clock(), self.claim)
        if self.on_start is not None:
            self.on_start(len(due))
        if not due:
            return
        if self.claim is None:
            yield from _Cycle(self, due).run()
            return
        parsers = self.parsers_for(len(due))
        polled: set[str] = set()
        try:
            while due:
                yield from _Cycle(self, due, parsers).run()
                if self.stop.is_set() or len(due) < self.claim:
                    return
                polled.update(f.id for f in due)
                due = self.store.feeds_due(self.clock(), self.claim)
                if any(f.id in polled for f in due):  # due again at once: the next tick
                    self.store.unclaim([f.id for f in due])
                    return
        finally:
            parsers.close(now=True)


class _Cycle:
    """The state of one poll cycle."""

    def __init__(
        self, poller: Poller, due: Sequence[FeedState], parsers: Parsers | None = None
    ) -> None:
        self.p = poller
        self.due = due
        self.own_parsers = parsers is None  # or the poller's, shared between its claims
        self.parsers = parsers or poller.parsers_for(len(due))
        self.backlog = 8 * max(1, self.parsers.workers)
        self.pending: dict[Future[ParsedFeed], tuple[FeedState, FetchResult, str]] = {}
        #: Parsed, waiting for unseen + match + record.
        self.parsed_feeds: list[tuple[FeedState, FetchResult, str, ParsedFeed]] = []
        #: Feeds whose poll changed only their state, waiting to be written.
        self.states: list[tuple[FeedUpdate, PollResult]] = []
        self.since: float | None = None
        self.out: deque[PollResult] = deque()
        self.unreached: list[tuple[FeedState, NoAnswerError]] = []
        self.answered = 0
        self.done: set[str] = set()

    def run(self) -> Iterator[PollResult]:
        fetches = self.p.fetcher.fetch_all(self.due)
        try:
            for feed, outcome in fetches:
                if self.p.stop.is_set():
                    break
                self.take(feed, outcome)
                self.drain(block=len(self.pending) >= self.backlog)
                self.commit(when_due=True)
                yield from self.results()
            else:
                while self.pending and not self.p.stop.is_set():
                    self.drain(block=True)
                    self.commit(when_due=True)
                    yield from self.results()
                if not self.p.stop.is_set():
                    self.settle_unreached()
            self.commit()
            yield from self.results()
        finally:
            fetches.close()
            if self.own_parsers:
                self.parsers.close(now=True)  # nothing is left to parse, or nobody waits
            left = [f.id for f in self.due if f.id not in self.done]
            if left:
                self.p.store.unclaim(left)
                log.info("%d feeds not polled; they are due again at once", len(left))

    def results(self) -> Iterator[PollResult]:
        while self.out:
            yield self.out.popleft()

    # ------------------------------------------------------------------ stages

    def take(self, feed: FeedState, outcome: FetchOutcome) -> None:
        """One fetch outcome."""
        now = self.p.clock()
        if isinstance(outcome, NoAnswerError):
            # No answer at all: decided at the end of the cycle (a network outage?).
            self.unreached.append((feed, outcome))
            return
        if isinstance(outcome, Deferred):
            self.deferred(feed, outcome, now)
            return
        if urlsplit(feed.url).scheme in ("http", "https"):
            self.answered += 1  # a feed read from disk says nothing about the network
        if isinstance(outcome, FetchError):
            self.failed(feed, outcome, now)
            return
        if not isinstance(outcome, NotModified | FetchResult):
            raise TypeError(f"the fetcher returned {outcome!r} for feed {feed.id}")  # a bug
        body_sha = body_hash(outcome.body) if isinstance(outcome, FetchResult) else None
        if body_sha is None or body_sha == feed.body_hash:
            # A 304, or a 200 with the very body we had: a success with nothing to parse.
            state, notices = self.succeeded(
                feed,
                now,
                hint=outcome.retry_after,
                etag=outcome.etag,
                last_modified=outcome.last_modified,
                moved_to=outcome.permanent_url if isinstance(outcome, FetchResult) else None,
            )
            status: PollStatus = "not_modified" if body_sha is None else "unchanged"
            self.save(FeedUpdate(feed=state, notices=notices), PollResult(feed.id, status))
            return
        assert isinstance(outcome, FetchResult)
        url = outcome.permanent_url or feed.url
        future = self.parsers.submit(feed.id, outcome.body, outcome.content_type, url)
        # Keep the validators and hints, not the body: it is the parser's now.
        self.pending[future] = (feed, replace(outcome, body=b""), body_sha)

    def drain(self, *, block: bool) -> None:
        """Collect the feeds whose parsing is done; wait for one first when `block`."""
        if not self.pending:
            return
        ready = [f for f in self.pending if f.done()]
        if not ready and block:
            ready = list(wait(list(self.pending), return_when=FIRST_COMPLETED).done)
        for future in ready:
            feed, fetched, body_sha = self.pending.pop(future)
            try:
                parsed = future.result()
            except FeedError as e:
                self.failed(feed, e, self.p.clock())
                continue
            self.parsed_feeds.append((feed, fetched, body_sha, parsed))
            self.since = self.since or time.monotonic()

    def commit(self, *, when_due: bool = False) -> None:
        """Keep the unseen entries of the parsed feeds, match them and write everything
        waiting in one transaction. With `when_due`, only once enough has piled up."""
        if when_due and not (
            len(self.parsed_feeds) >= ENTRY_BATCH
            or len(self.states) >= BATCH
            or (self.since is not None and time.monotonic() - self.since >= MAX_DELAY)
        ):
            return
        if not self.parsed_feeds and not self.states:
            return
        parsed_feeds, self.parsed_feeds = self.parsed_feeds, []
        states, self.states = self.states, []
        self.since = None
        updates = [update for update, _ in states]
        results = [result for _, result in states]
        if parsed_feeds:
            now = self.p.clock()
            fresh_by_feed = self.p.store.unseen_many(
                {feed.id: p.entries for feed, _, _, p in parsed_feeds}, now
            )
            for feed, fetched, body_sha, parsed in parsed_feeds:
                fresh = fresh_by_feed.get(feed.id, [])
                ttl = parsed.ttl_minutes * 60 if parsed.ttl_minutes else None
                state, notices = self.succeeded(
                    feed,
                    now,
                    hint=max(filter(None, (fetched.retry_after, ttl)), default=None),
                    etag=fetched.etag,
                    last_modified=fetched.last_modified,
                    moved_to=fetched.permanent_url,
                    body=body_sha,
                    title=parsed.title,
                    parsed=parsed,
                    fresh=len(fresh),
                )
                awaiting = awaiting_text(feed, fresh)
                updates.append(
                    FeedUpdate(
                        feed=state,
                        entries=tuple(fresh),
                        hits=self.match([e for e in fresh if e.id not in awaiting]),
                        notices=notices,
                        awaiting=tuple(awaiting),
                    )
                )
                results.append(PollResult(feed.id, "ok", new_items=len(fresh)))
        created = self.p.store.record_many(updates)
        for update, result, hits in zip(updates, results, created, strict=True):
            self.done.add(update.feed.id)
            if hits:
                alerts = tuple(hit_id for hit_id, hit in hits if hit.priority == "high")
                result = replace(result, new_hits=len(hits), alert_hit_ids=alerts)
            self.out.append(result)

    def match(self, entries: list[Entry]) -> dict[str, list[Hit]]:
        started = time.perf_counter()
        hits: dict[str, list[Hit]] = {}
        for entry in entries:
            found = self.p.matcher.match(entry)
            if found:
                hits[entry.id] = found
        self.p.match_seconds += time.perf_counter() - started
        return hits

    def settle_unreached(self) -> None:
        """Feeds that got no answer: a network outage when nothing answered anywhere."""
        if not self.unreached:
            return
        hosts = {urlsplit(feed.url).hostname for feed, _ in self.unreached}
        # The network is down when nothing answered, on several hosts, including feeds
        # that worked last time. Feeds that never worked or were failing already prove
        # nothing: two dead feeds due in the same tick are counted as the failures they are.
        outage = (
            self.answered == 0
            and len(self.unreached) > 1
            and len(hosts) > 1
            and any(f.error_count == 0 and f.last_success for f, _ in self.unreached)
        )
        if not outage:
            for feed, error in self.unreached:
                self.failed(feed, error, self.p.clock())
            return
        log.warning(
            "no feed answered (%d feeds on %d hosts): treating it as a network outage, "
            "not counting it against the feeds",
            len(self.unreached),
            len(hosts),
        )
        now = self.p.clock()
        for feed, error in self.unreached:
            wait_s = schedule.backoff_interval(1, feed.min_interval, self.p.max_backoff)
            state = replace(
                feed,
                last_polled=now,
                next_poll=now + timedelta(seconds=wait_s * (1 + self.p.rng.uniform(0, 0.1))),
            )
            self.save(
                FeedUpdate(feed=state),
                PollResult(feed.id, "error", error=f"{error.reason} (network outage, not counted)"),
            )

    # ------------------------------------------------------------------ states

    def save(self, update: FeedUpdate, result: PollResult) -> None:
        """Queue a state-only update; written with others in one transaction."""
        self.states.append((update, result))
        self.since = self.since or time.monotonic()

    def succeeded(
        self,
        feed: FeedState,
        now: datetime,
        *,
        hint: float | None,
        etag: str | None,
        last_modified: str | None,
        moved_to: str | None = None,
        body: str | None = None,
        title: str | None = None,
        parsed: ParsedFeed | None = None,
        fresh: int = 0,
    ) -> tuple[FeedState, tuple[str, ...]]:
        notices: list[str] = []
        url = feed.url
        if moved_to and moved_to != feed.url:
            url = moved_to
            message = (
                f"feed {feed.id} moved permanently from {feed.url} to {moved_to}; it is polled "
                "at the new address. Update its URL in the configuration to match."
            )
            log.warning("%s", message)
            notices.append(message)
        per_week, last_new, gap = feed.items_per_week, feed.last_new, feed.usual_gap
        if parsed is not None:
            dates = [e.published for e in parsed.entries]
            per_week = max(per_week, float(schedule.published_last_week(dates, now)))
            if fresh:
                observed = (
                    (now - feed.last_new).total_seconds()
                    if feed.last_new is not None
                    else schedule.gap_from_dates(dates, now)
                )
                gap = schedule.usual_gap(gap, observed)
                last_new = now
        state = replace(
            feed,
            url=url,
            title=feed.title or title,
            etag=etag,
            last_modified=last_modified,
            body_hash=body or feed.body_hash,
            last_polled=now,
            last_success=now,
            error_count=0,
            last_error=None,
            gone=False,
            last_new=last_new,
            usual_gap=gap,
            items_per_week=per_week,
            waiting_for="",
            next_poll=schedule.next_success(
                now,
                items_per_week=per_week,
                min_interval=feed.min_interval,
                max_interval=feed.max_interval,
                not_before=hint,
                ceiling=self.p.max_backoff,
                fixed=feed.fixed_interval,
                rng=self.p.rng,
            ),
        )
        return self.assessed(state, now, notices)

    def assessed(
        self, state: FeedState, now: datetime, notices: list[str]
    ) -> tuple[FeedState, tuple[str, ...]]:
        cond, message = health.assess(state, now, self.p.limits)
        if message:
            log.warning("%s", message)
            notices.append(message)
        return replace(state, health=cond), tuple(notices)

    def deferred(self, feed: FeedState, wait: Deferred, now: datetime) -> None:
        """Not requested: its host asked us to wait. Due again after that wait; no error
        counted, and its error count and health stay as they were."""
        state = replace(
            feed,
            last_polled=now,
            next_poll=schedule.next_deferred(now, wait.wait, self.p.rng),
            waiting_for=wait.host,
        )
        self.save(
            FeedUpdate(feed=state),
            PollResult(
                feed.id,
                "deferred",
                error=f"not requested: {wait.host} asked us to wait {wait.wait:.0f} s more",
            ),
        )

    def failed(self, feed: FeedState, error: FeedError, now: datetime) -> None:
        fetch = error if isinstance(error, FetchError) else None
        gone = fetch is not None and fetch.status == 410
        count = feed.error_count + 1
        next_poll = schedule.next_failure(
            now,
            error_count=count,
            gone=gone,
            min_interval=feed.min_interval,
            max_backoff=self.p.max_backoff,
            not_before=fetch.retry_after if fetch is not None else None,
            rng=self.p.rng,
        )
        state = replace(
            feed,
            last_polled=now,
            error_count=count,
            last_error=error.reason[:2000],
            gone=gone,
            next_poll=next_poll,
            waiting_for="",
        )
        state, notices = self.assessed(state, now, [])
        log.warning(
            "%s (error %d in a row; next try %s)",
            error,
            count,
            next_poll.isoformat(timespec="seconds"),
            extra={"feed": feed.id},
        )
        self.save(
            FeedUpdate(feed=state, notices=notices),
            PollResult(feed.id, "gone" if gone else "error", error=error.reason),
        )
