"""HTTP GET of many feeds at once, politely, streaming each outcome as it arrives.

Conditional requests (ETag / Last-Modified, unless a feed turns them off), a global and a
per-host concurrency limit, connect/read/total timeouts, a redirect limit, a size cap
enforced while the body streams in, Retry-After and Cache-Control. A host that answers
429 or 503 with Retry-After is not asked again until that wait is over, by any feed or
page of this fetcher: the others come back as ``Deferred``, which is no failure.
Redirects are followed one hop at a time, so that a feed on a public address cannot lead
us into a loopback, link-local or private one (feeds/addresses.py). Article pages go
through the same machinery (feeds/pages.py). aiohttp was chosen by measurement
(bench/poll.py): on loopback it served 500 requests at concurrency 50 in a fraction of
httpx's time.

The event loop runs in a thread of its own and hands each outcome over as soon as it is
complete, so the caller parses and stores one feed while others are still downloading. A
bounded number of outcomes wait to be taken: when the caller falls behind, fetching
pauses instead of piling bodies up in memory.

Every failure comes back as a FetchError value next to its feed; nothing raised here stops
a poll cycle. aiohttp's exceptions become ours through one table, ``ERRORS``. When nothing
answered at all (DNS, connect, reset, timeout) the error is a NoAnswerError: the poller
uses that to tell a network outage from a broken feed. A FetchError's ``status`` is the
HTTP status of the response that failed, if one did. ``file://`` URLs are read from disk
(the bundled sample feed, local files).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import queue
import socket
import threading
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Generator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple, TypeVar
from urllib.parse import unquote, urljoin, urlsplit

import aiohttp

from monitor.errors import FetchError, NoAnswerError
from monitor.feeds import addresses
from monitor.feeds.headers import longest_wait, max_age_seconds, retry_after_seconds
from monitor.model import (
    ArticleJob,
    Clock,
    Deferred,
    FeedState,
    FetchOutcome,
    FetchResult,
    NotModified,
    utc_now,
)

log = logging.getLogger(__name__)

Session = aiohttp.ClientSession
SessionFactory = Callable[[], Session]

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"
)


#: One request's subject: a feed, or an article page awaited by an item.
Subject = TypeVar("Subject", FeedState, ArticleJob)
Handoff = queue.SimpleQueue[tuple[Any, Any] | BaseException | None]
#: A host name -> the addresses it resolves to (injected by tests; getaddrinfo by default).
Resolver = Callable[[str], Sequence[str]]
#: Statuses whose Location we follow.
REDIRECTS = (301, 302, 303, 307, 308)
#: How long a host's addresses and its robots.txt are kept (seconds).
CACHE_SECONDS = 300.0


def system_resolver(host: str) -> list[str]:
    """The addresses the system resolves a host name to (IP literals as they are)."""
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _Gate:
    """Room for outcomes waiting to be taken; the caller's thread frees a place."""

    def __init__(self) -> None:
        self.room: asyncio.Semaphore | None = None

    def release(self) -> None:
        if self.room is not None:
            self.room.release()


class HttpFetcher:
    """Fetches feeds (and article pages) concurrently with aiohttp."""

    def __init__(
        self,
        *,
        concurrency: int = 20,
        per_host: int = 2,
        connect_timeout: float = 10,
        read_timeout: float = 30,
        total_timeout: float = 60,
        max_bytes: int = 10_000_000,
        max_redirects: int = 5,
        user_agent: str = "monitor",
        clock: Clock = utc_now,
        session_factory: SessionFactory | None = None,
        stop: threading.Event | None = None,
        buffered: int | None = None,
        page_max_bytes: int = 2_000_000,
        allow_private_redirects: bool = False,
        resolver: Resolver = system_resolver,
    ) -> None:
        self.concurrency = max(1, concurrency)
        self.per_host = max(1, per_host)
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.total_timeout = total_timeout
        self.timeout = aiohttp.ClientTimeout(
            total=total_timeout, connect=connect_timeout, sock_read=read_timeout
        )
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.user_agent = user_agent
        self.clock = clock
        self.session_factory = session_factory
        #: Set by the scheduler on shutdown: requests in flight are cancelled.
        self.stop = stop or threading.Event()
        #: Outcomes fetched but not yet taken by the caller, at most (memory bound).
        self.buffered = max(buffered or self.concurrency, 1)
        self.page_max_bytes = page_max_bytes
        self.allow_private_redirects = allow_private_redirects
        self.resolver = resolver
        #: Hosts that asked us (429/503 + Retry-After) to come back later: host -> when
        #: (the injected clock). Kept between fetches: feeds and pages honour it alike.
        self.resting: dict[str, datetime] = {}
        #: host -> (its addresses, monotonic expiry).
        self._addresses: dict[str, tuple[tuple[str, ...], float]] = {}

    # ------------------------------------------------------------------ public

    def fetch_all(
        self, feeds: Sequence[FeedState]
    ) -> Generator[tuple[FeedState, FetchOutcome], None, None]:
        """Fetch every feed; yield (feed, outcome) as each completes, in completion order.

        Closing the generator early cancels the requests still in flight.
        """
        return self._stream(list(feeds), self.fetch_one)

    def _stream(
        self, subjects: list[Subject], fetch: Callable[[aiohttp.ClientSession, Subject], Any]
    ) -> Generator[tuple[Subject, Any], None, None]:
        if not subjects:
            return
        handoff: Handoff = queue.SimpleQueue()
        gate = _Gate()
        loop = asyncio.new_event_loop()
        main = loop.create_task(self._fetch(subjects, fetch, handoff, gate))

        def run_loop() -> None:
            try:
                loop.run_until_complete(main)
            except asyncio.CancelledError:
                pass
            except BaseException as e:  # a bug: hand it to the caller to raise
                handoff.put(e)
            finally:
                handoff.put(None)
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        thread = threading.Thread(target=run_loop, name="monitor-fetch", daemon=True)
        thread.start()
        try:
            while True:
                item = handoff.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                with contextlib.suppress(RuntimeError):  # the loop has finished
                    loop.call_soon_threadsafe(gate.release)
                yield item
        finally:
            if thread.is_alive():
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(main.cancel)
            thread.join(timeout=10)

    # ------------------------------------------------------------------ the loop

    async def _fetch(
        self,
        subjects: list[Subject],
        fetch: Callable[[aiohttp.ClientSession, Subject], Any],
        handoff: Handoff,
        gate: _Gate,
    ) -> None:
        session = self._session()
        limit = asyncio.Semaphore(self.concurrency)
        room = gate.room = asyncio.Semaphore(self.buffered)
        hosts: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(self.per_host)
        )

        async def one(subject: Subject) -> None:
            host = urlsplit(subject.url).hostname or ""
            async with hosts[host]:
                await room.acquire()
                try:
                    async with limit:
                        outcome = await self._guarded(session, subject, host, fetch)
                except asyncio.CancelledError:
                    room.release()
                    raise
            handoff.put((subject, outcome))

        tasks = [asyncio.ensure_future(one(subject)) for subject in subjects]
        watcher = asyncio.ensure_future(self._cancel_on_stop(tasks))
        try:
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            watcher.cancel()
            for task in tasks:
                task.cancel()
            await session.close()
        for task in tasks:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]  # a bug, not a feed's failure
        for subject, task in zip(subjects, tasks, strict=True):
            if task.cancelled() and self.stop.is_set():
                feed_id, url = _names(subject)
                stopping = NoAnswerError(feed_id, url, "cancelled, the job is stopping")
                handoff.put((subject, stopping))

    async def _cancel_on_stop(self, tasks: Sequence[asyncio.Future[None]]) -> None:
        while not self.stop.is_set():
            await asyncio.sleep(0.2)
        for task in tasks:
            task.cancel()

    async def _guarded(
        self,
        session: aiohttp.ClientSession,
        subject: Subject,
        host: str,
        fetch: Callable[[aiohttp.ClientSession, Subject], Any],
    ) -> Any:
        until = self.resting.get(host)
        if until is not None:
            wait = (until - self.clock()).total_seconds()
            if wait > 0:
                return Deferred(host, wait)
        try:
            async with asyncio.timeout(self.total_timeout):
                return await fetch(session, subject)
        except FetchError as e:
            if e.status in (429, 503) and e.retry_after:
                self.resting[host] = self.clock() + timedelta(seconds=e.retry_after)
            return e
        except CAUGHT as e:
            feed_id, url = _names(subject)
            return self.error_for(FeedState(feed_id, url), e)

    def error_for(
        self, feed: FeedState, error: BaseException, *, status: int | None = None
    ) -> FetchError:
        """Our error for one of aiohttp's (or the socket's): the first row of ERRORS that
        matches. `status` is that of the response being read, if one came."""
        for row in ERRORS:
            if isinstance(error, row.catches):
                mapped = row.error(
                    feed.id,
                    feed.url,
                    row.reason(self, error),
                    status=row.status(error) if status is None else status,
                )
                mapped.__cause__ = error
                return mapped
        raise TypeError(f"no row of ERRORS maps {error!r}") from error  # a bug

    # ------------------------------------------------------------------ requests

    def _session(self) -> aiohttp.ClientSession:
        if self.session_factory is not None:
            return self.session_factory()
        connector = aiohttp.TCPConnector(limit=self.concurrency, ttl_dns_cache=300)
        return aiohttp.ClientSession(
            connector=connector,
            timeout=self.timeout,
            auto_decompress=True,
            headers={"User-Agent": self.user_agent, "Accept": ACCEPT},
        )

    async def _resolve(self, host: str) -> tuple[str, ...]:
        cached = self._addresses.get(host)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        loop = asyncio.get_running_loop()
        try:
            found = tuple(await loop.run_in_executor(None, self.resolver, host))
        except OSError:
            found = ()  # the request itself will say that the name does not resolve
        self._addresses[host] = (found, time.monotonic() + CACHE_SECONDS)
        return found

    async def _check_hop(self, feed_id: str, origin: str, url: str) -> None:
        """Raise FetchError when a request that began at `origin` may not go to `url`."""
        scheme = urlsplit(url).scheme
        if scheme not in ("http", "https"):
            raise FetchError(feed_id, url, f"refused: led to a {scheme or 'relative'} address")
        if self.allow_private_redirects:
            return
        origin_host, host = urlsplit(origin).hostname or "", urlsplit(url).hostname or ""
        if host == origin_host or not addresses.is_public(await self._resolve(origin_host)):
            return
        why = addresses.refusal(host, await self._resolve(host))
        if why:
            raise FetchError(feed_id, url, why)

    @contextlib.asynccontextmanager
    async def _get(
        self,
        session: aiohttp.ClientSession,
        feed_id: str,
        url: str,
        *,
        origin: str,
        headers: dict[str, str] | None = None,
    ) -> AsyncIterator[tuple[aiohttp.ClientResponse, list[int]]]:
        """GET `url`, following redirects one hop at a time (each checked against the
        private-address rule); yields the final response and the redirect statuses."""
        statuses: list[int] = []
        for _ in range(self.max_redirects + 1):
            await self._check_hop(feed_id, origin, url)
            resp = await session.get(
                url, headers=headers, allow_redirects=False, timeout=self.timeout
            )
            location = resp.headers.get("Location")
            if resp.status in REDIRECTS and location:
                statuses.append(resp.status)
                url = urljoin(str(resp.url), location)
                resp.release()
                continue
            try:
                yield resp, statuses
            finally:
                resp.release()
            return
        raise FetchError(feed_id, url, f"more than {self.max_redirects} redirects", status=300)

    def _conditional_headers(self, feed: FeedState) -> dict[str, str]:
        headers: dict[str, str] = {}
        if feed.conditional:
            if feed.etag:
                headers["If-None-Match"] = feed.etag
            if feed.last_modified:
                headers["If-Modified-Since"] = feed.last_modified
        return headers

    async def fetch_one(
        self, session: aiohttp.ClientSession, feed: FeedState
    ) -> FetchResult | NotModified:
        if feed.url.startswith("file:"):
            return self._read_file(feed)
        async with self._get(
            session, feed.id, feed.url, origin=feed.url, headers=self._conditional_headers(feed)
        ) as (resp, statuses):
            now = self.clock()
            final_url = str(resp.url)
            permanent = None
            if statuses and all(s in (301, 308) for s in statuses):
                permanent = final_url
            headers = resp.headers
            wait = retry_after_seconds(headers.get("Retry-After"), now)
            max_age = max_age_seconds(headers.get("Cache-Control"))
            if resp.status == 304:
                return NotModified(
                    url=final_url,
                    etag=headers.get("ETag") or feed.etag,
                    last_modified=headers.get("Last-Modified") or feed.last_modified,
                    retry_after=longest_wait(max_age, wait),
                )
            self._check_status(feed, resp, wait, self.max_bytes)
            body = await self._read_body(feed, resp, self.max_bytes)
            return FetchResult(
                url=final_url,
                body=body,
                status=resp.status,
                etag=headers.get("ETag"),
                last_modified=headers.get("Last-Modified"),
                content_type=headers.get("Content-Type"),
                retry_after=longest_wait(max_age, wait),
                permanent_url=permanent,
            )

    def _check_status(
        self, feed: FeedState, resp: aiohttp.ClientResponse, wait: float | None, cap: int
    ) -> None:
        """Raise FetchError for a status that brings no body, or a body over the cap."""
        if resp.status >= 400 or resp.status < 200:
            raise FetchError(
                feed.id,
                feed.url,
                f"HTTP {resp.status} {resp.reason or ''}".rstrip(),
                status=resp.status,
                retry_after=wait,
            )
        if 300 <= resp.status < 400:
            raise FetchError(
                feed.id,
                feed.url,
                f"HTTP {resp.status} without a usable Location",
                status=resp.status,
            )
        length = resp.content_length
        if length is not None and length > cap:
            raise FetchError(
                feed.id,
                feed.url,
                f"body of {length} bytes is over the {cap}-byte limit",
                status=resp.status,
            )

    async def _read_body(self, feed: FeedState, resp: aiohttp.ClientResponse, cap: int) -> bytes:
        """The body, streamed, stopped as soon as it passes the size cap."""
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in resp.content.iter_any():
                size += len(chunk)
                if size > cap:
                    raise FetchError(
                        feed.id,
                        feed.url,
                        f"body is over the {cap}-byte limit; stopped reading",
                        status=resp.status,
                    )
                chunks.append(chunk)
        except aiohttp.ClientPayloadError as e:
            raise self.error_for(feed, e, status=resp.status) from e
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _read_file(self, feed: FeedState) -> FetchResult | NotModified:
        path = Path(unquote(urlsplit(feed.url).path))
        try:
            stat = path.stat()
            modified = email.utils.formatdate(stat.st_mtime, usegmt=True)
            if feed.conditional and feed.last_modified == modified:
                return NotModified(url=feed.url, last_modified=modified)
            if stat.st_size > self.max_bytes:
                raise FetchError(
                    feed.id,
                    feed.url,
                    f"file of {stat.st_size} bytes is over the {self.max_bytes}-byte limit",
                )
            body = path.read_bytes()
        except OSError as e:
            raise FetchError(feed.id, feed.url, e.strerror or str(e)) from e
        return FetchResult(url=feed.url, body=body, last_modified=modified)


def _names(subject: FeedState | ArticleJob) -> tuple[str, str]:
    """(feed id, url) of a request's subject, for its errors."""
    return subject.entry.feed_id if isinstance(subject, ArticleJob) else subject.id, subject.url


def _describe(error: BaseException) -> str:
    """An exception no row of ERRORS words itself: its class and message."""
    text = str(error) or error.__class__.__name__
    return f"{error.__class__.__name__}: {text}" if text != error.__class__.__name__ else text


def _os_reason(error: aiohttp.ClientConnectorError) -> str:
    return str(error.os_error.strerror or error.os_error)


def _no_status(_error: Any) -> int | None:
    return None


class ErrorRow(NamedTuple):
    """One row of ERRORS: what is caught, what it becomes, and why, in words."""

    catches: type[BaseException]
    error: type[FetchError]
    #: (fetcher, exception) -> the reason, one line without the feed.
    reason: Callable[[HttpFetcher, Any], str]
    #: exception -> the HTTP status it carries, when a response came.
    status: Callable[[Any], int | None] = _no_status


#: aiohttp's exceptions (and the socket's) -> ours; the first row that matches wins.
ERRORS: tuple[ErrorRow, ...] = (
    ErrorRow(
        aiohttp.TooManyRedirects,
        FetchError,
        lambda f, e: f"more than {f.max_redirects} redirects",
        lambda e: e.status or 300,
    ),
    ErrorRow(
        aiohttp.ClientResponseError, FetchError, lambda f, e: _describe(e), lambda e: e.status
    ),
    ErrorRow(
        aiohttp.ConnectionTimeoutError,
        NoAnswerError,
        lambda f, e: f"no connection within {f.connect_timeout:g} s",
    ),
    ErrorRow(
        aiohttp.SocketTimeoutError,
        NoAnswerError,
        lambda f, e: f"the server sent nothing for {f.read_timeout:g} s",
    ),
    ErrorRow(TimeoutError, NoAnswerError, lambda f, e: f"timed out after {f.total_timeout:g} s"),
    ErrorRow(
        aiohttp.ClientConnectorDNSError,
        NoAnswerError,
        lambda f, e: f"cannot resolve the host name: {_os_reason(e)}",
    ),
    ErrorRow(
        aiohttp.ClientConnectorError, NoAnswerError, lambda f, e: f"cannot connect: {_os_reason(e)}"
    ),
    ErrorRow(
        aiohttp.ServerDisconnectedError,
        NoAnswerError,
        lambda f, e: "the server closed the connection before answering",
    ),
    ErrorRow(
        aiohttp.ClientPayloadError,
        FetchError,
        lambda f, e: f"the body was cut off or badly encoded ({e})",
    ),
    ErrorRow(aiohttp.InvalidURL, FetchError, lambda f, e: _describe(e)),
    # The connection was reset or lost: no answer, or not a whole one.
    ErrorRow(aiohttp.ClientConnectionError, NoAnswerError, lambda f, e: _describe(e)),
    ErrorRow(OSError, NoAnswerError, lambda f, e: _describe(e)),
    ErrorRow(aiohttp.ClientError, FetchError, lambda f, e: _describe(e)),
    ErrorRow(ValueError, FetchError, lambda f, e: _describe(e)),
)
#: What HttpFetcher turns into a FetchError; anything else is a bug and is raised.
CAUGHT: tuple[type[BaseException], ...] = tuple(row.catches for row in ERRORS)
