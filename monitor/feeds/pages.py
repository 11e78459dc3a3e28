"""Article pages for feeds with ``full_text``: fetched as feeds are, and more politely.

``PageFetcher`` is the feed fetcher (feeds/fetch.py) with one more kind of request, so
pages share its per-host and global limits, its hosts' Retry-After waits, its timeouts and
its private-address rule: an item's link counts as a redirect from its feed, so a feed on
a public address cannot send us to a private one. On top of that:

- the site's robots.txt is read (once per host every five minutes) and obeyed for the
  job's user agent; a robots.txt that is missing (4xx) allows everything, one that fails
  (5xx, no answer) allows nothing for now (RFC 9309), which is a failure worth retrying;
- only HTML is taken (``text/html``, ``application/xhtml+xml``, or no type at all);
- a page has a size cap of its own (``poll.full_text_max_bytes``).

Every failure is a FetchError value next to its job, as for feeds.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Sequence
from typing import Any
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

from monitor.errors import FetchError, NoAnswerError
from monitor.feeds.fetch import CACHE_SECONDS, CAUGHT, HttpFetcher, Session
from monitor.feeds.headers import retry_after_seconds
from monitor.model import ArticleJob, FeedState, FetchResult, PageOutcome

ROBOTS_MAX_BYTES = 500 * 1024
HTML_TYPES = ("text/html", "application/xhtml+xml")


class PageFetcher(HttpFetcher):
    """Fetches feeds and article pages concurrently with aiohttp."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        #: site -> (its robots.txt rules, or why there are none to obey; monotonic expiry)
        self._robots: dict[str, tuple[RobotFileParser | FetchError, float]] = {}

    def fetch_pages(
        self, jobs: Sequence[ArticleJob]
    ) -> Generator[tuple[ArticleJob, PageOutcome], None, None]:
        """Fetch every job's page; yield (job, outcome) as each completes."""
        return self._stream(list(jobs), self.fetch_page)

    async def fetch_page(self, session: Session, job: ArticleJob) -> FetchResult:
        """One article page: robots.txt first, then the page if it is HTML."""
        feed = FeedState(job.entry.feed_id, job.url)
        parts = urlsplit(job.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchError(feed.id, job.url, "the item's link is not an http(s) address")
        await self._check_hop(feed.id, job.origin, job.url)
        robots = await self._robots_for(session, job, f"{parts.scheme}://{parts.netloc}")
        if isinstance(robots, FetchError):
            raise robots
        if not robots.can_fetch(self.user_agent, job.url):
            raise FetchError(feed.id, job.url, "robots.txt disallows fetching this page")
        async with self._get(session, feed.id, job.url, origin=job.origin) as (resp, _):
            wait = retry_after_seconds(resp.headers.get("Retry-After"), self.clock())
            self._check_status(feed, resp, wait, self.page_max_bytes)
            content_type = resp.headers.get("Content-Type")
            kind = (content_type or "").split(";", 1)[0].strip().lower()
            if kind and kind not in HTML_TYPES:
                raise FetchError(feed.id, job.url, f"not an HTML page ({kind})", status=200)
            body = await self._read_body(feed, resp, self.page_max_bytes)
            return FetchResult(
                url=str(resp.url), body=body, status=resp.status, content_type=content_type
            )

    async def _robots_for(
        self, session: Session, job: ArticleJob, site: str
    ) -> RobotFileParser | FetchError:
        """The site's robots.txt rules, read once per CACHE_SECONDS."""
        cached = self._robots.get(site)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        url = f"{site}/robots.txt"
        feed = FeedState(job.entry.feed_id, url)
        rules = RobotFileParser(url)
        found: RobotFileParser | FetchError = rules
        try:
            async with self._get(session, feed.id, url, origin=job.origin) as (resp, _):
                if resp.status >= 500:
                    found = FetchError(feed.id, url, f"HTTP {resp.status}", status=resp.status)
                elif resp.status >= 400:
                    rules.parse([])
                else:
                    body = await self._read_body(feed, resp, ROBOTS_MAX_BYTES)
                    rules.parse(body.decode("utf-8", "replace").splitlines())
        except FetchError as e:
            found = e
        except CAUGHT as e:
            found = self.error_for(feed, e)
        if isinstance(found, FetchError):
            # Said of the page (the job's error), keeping "no answer" apart from a refusal.
            kind = NoAnswerError if isinstance(found, NoAnswerError) else FetchError
            found = kind(feed.id, job.url, f"cannot read robots.txt: {found.reason}")
        self._robots[site] = (found, time.monotonic() + CACHE_SECONDS)
        return found
