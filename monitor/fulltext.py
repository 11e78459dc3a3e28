"""The full-text stage: the article pages of items awaiting them, fetched, extracted,
matched and recorded.

A feed with ``full_text`` stores its new items as awaiting their article (poll.py) and
does not match them. After each poll cycle this stage claims the items whose attempt is
due, fetches their pages concurrently (feeds/pages.py: the fetcher's per-host limits,
Retry-After waits, robots.txt, size cap, timeouts, the private-address rule), extracts
the main text (feeds/article.py) and matches the item on it: the text becomes the item's
content, so rules, spans, explanations, digests, the archive and replays all see it. An
item may therefore hit a few minutes after its feed's poll; it is matched once, when its
text is in or when it is given up, so each hit is stored and sent once.

A page that fails keeps the feed's lead, and says why (``monitor feeds``):

- no answer, 429 or a server error (robots.txt's too): tried again later, with backoff
  (``retries`` more times), then given up;
- anything else (404, not HTML, over the size cap, robots.txt disallows, a private
  address, no text found): given up at once;
- a host that asked us to wait (Retry-After on another request) is waited for; that
  counts as no attempt.

Pages are never waited for inside a cycle: one that is slow or failing holds back no
other item, of its feed or of another.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import KW_ONLY, dataclass, field, replace
from datetime import timedelta

from monitor.errors import FetchError, NoAnswerError
from monitor.feeds.article import ExtractError
from monitor.model import (
    ArticleJob,
    ArticleUpdate,
    Clock,
    Deferred,
    Entry,
    FetchResult,
    Hit,
    PageOutcome,
    PollResult,
)
from monitor.protocols import ArticleStore, Extractor, Matcher, PageFetcher

log = logging.getLogger(__name__)

#: Items claimed per cycle, at most (the rest wait for the next cycle).
PER_CYCLE = 500
#: Attempts are written in batches of this many.
BATCH = 50
#: The wait before the first retry; it doubles with each retry after that.
RETRY_AFTER = 300.0


def retryable(error: FetchError) -> bool:
    """A failure worth trying again: no answer, 429, or a server error."""
    if isinstance(error, NoAnswerError):
        return True
    return error.status is not None and (error.status == 429 or error.status >= 500)


@dataclass
class _Tally:
    """One feed's attempts in a stage, for its PollResult."""

    pages: int = 0
    hits: list[tuple[int, Hit]] = field(default_factory=list)
    failed: int = 0
    error: str | None = None


@dataclass(eq=False)
class TextStage:
    """Runs the full-text stage; holds what does not change between cycles."""

    store: ArticleStore
    fetcher: PageFetcher
    matcher: Matcher
    extract: Extractor
    _: KW_ONLY
    clock: Clock
    retries: int = 2
    retry_after: float = RETRY_AFTER
    per_cycle: int = PER_CYCLE
    stop: threading.Event = field(default_factory=threading.Event)
    #: Seconds the last run spent extracting and matching (for metrics and the bench).
    extract_seconds: float = field(default=0.0, init=False)
    match_seconds: float = field(default=0.0, init=False)

    def run(self) -> Iterator[PollResult]:
        """One attempt at every item whose attempt is due; one result per feed with items
        that came to an end (text in, or given up)."""
        self.extract_seconds = self.match_seconds = 0.0
        jobs = self.store.articles_due(self.clock(), self.per_cycle)
        if not jobs:
            return
        tallies: dict[str, _Tally] = {}
        feed_of = {job.item_id: job.entry.feed_id for job in jobs}
        batch: list[ArticleUpdate] = []
        pages = self.fetcher.fetch_pages(jobs)
        try:
            for job, outcome in pages:
                if self.stop.is_set():
                    break  # the claimed rest is tried again once its claim runs out
                batch.append(self.attempt(job, outcome, tallies))
                if len(batch) >= BATCH:
                    self.record(batch, tallies, feed_of)
                    batch = []
        finally:
            pages.close()
            self.record(batch, tallies, feed_of)
        for feed_id, tally in tallies.items():
            yield PollResult(
                feed_id,
                "full_text",
                new_hits=len(tally.hits),
                alert_hit_ids=tuple(i for i, hit in tally.hits if hit.priority == "high"),
                pages=tally.pages,
                error=(
                    f"{tally.failed} pages kept the feed's lead; last: {tally.error}"
                    if tally.failed
                    else None
                ),
            )

    def record(
        self, batch: list[ArticleUpdate], tallies: dict[str, _Tally], feed_of: dict[int, str]
    ) -> None:
        if not batch:
            return
        created = self.store.record_articles(batch, self.clock())
        for update, hits in zip(batch, created, strict=True):
            tallies[feed_of[update.item_id]].hits.extend(hits)

    def attempt(
        self, job: ArticleJob, outcome: PageOutcome, tallies: dict[str, _Tally]
    ) -> ArticleUpdate:
        """What one page's outcome makes of its item."""
        now = self.clock()
        tally = tallies.setdefault(job.entry.feed_id, _Tally())
        if isinstance(outcome, Deferred):
            wait = timedelta(seconds=max(outcome.wait, 1.0))
            return ArticleUpdate(job.item_id, "waiting", job.attempts, next_try=now + wait)
        attempts = job.attempts + 1
        if isinstance(outcome, FetchResult):
            try:
                started = time.perf_counter()
                text = self.extract(outcome.body, outcome.url, outcome.content_type)
                self.extract_seconds += time.perf_counter() - started
            except ExtractError as e:
                return self.given_up(job, attempts, str(e), tally)
            if not text:
                return self.given_up(job, attempts, "no article text found in the page", tally)
            tally.pages += 1
            # The feed's own content stays when it says more than the page does.
            content = text if len(text) > len(job.entry.content) else None
            entry = replace(job.entry, content=content or job.entry.content)
            hits = self.match(entry)
            return ArticleUpdate(job.item_id, "fetched", attempts, content=content, hits=hits)
        if retryable(outcome) and attempts <= self.retries:
            wait = self.retry_after * 2 ** (attempts - 1)
            if outcome.retry_after:
                wait = max(wait, outcome.retry_after)
            log.info("%s (try %d; again in %.0f s)", outcome, attempts, wait)
            return ArticleUpdate(
                job.item_id,
                "waiting",
                attempts,
                error=outcome.reason,
                next_try=now + timedelta(seconds=wait),
            )
        return self.given_up(job, attempts, outcome.reason, tally)

    def given_up(self, job: ArticleJob, attempts: int, reason: str, tally: _Tally) -> ArticleUpdate:
        """The item keeps the feed's lead and is matched on it."""
        log.warning(
            "feed %s: the article of item %s keeps the feed's lead: %s (%s)",
            job.entry.feed_id,
            job.entry.id,
            reason,
            job.url,
        )
        tally.failed += 1
        tally.error = reason
        hits = self.match(job.entry)
        return ArticleUpdate(job.item_id, "failed", attempts, error=reason, hits=hits)

    def match(self, entry: Entry) -> tuple[Hit, ...]:
        started = time.perf_counter()
        hits = tuple(self.matcher.match(entry))
        self.match_seconds += time.perf_counter() - started
        return hits
