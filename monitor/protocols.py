"""The Protocols that type the seams between layers: what poll, deliver, replay and the
wired job need of the store, the fetchers, the matcher, the renderer and the senders.
Tests hand the stages real or fake parts that satisfy them; app.py wires the real ones.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from monitor.model import (
    ArticleJob,
    ArticleUpdate,
    Batch,
    Entry,
    FeedState,
    FeedUpdate,
    FetchOutcome,
    Hit,
    Message,
    PageOutcome,
    Pending,
    RenderJob,
    Rule,
    StoredHit,
    TextReport,
)


class Matcher(Protocol):
    """Compiled rules. Pure: text in, hits out."""

    @property
    def rules(self) -> Mapping[str, Rule]:
        """The rules it matches, by id."""
        ...

    def match(self, entry: Entry) -> list[Hit]: ...


class Fetches(Iterator[tuple[FeedState, FetchOutcome]], Protocol):
    """The outcomes of a fetch, in the order they complete; closing it early cancels the
    requests still in flight."""

    def close(self) -> None: ...


class Fetcher(Protocol):
    """Fetches many feeds concurrently; a failure comes back as a FetchError value."""

    def fetch_all(self, feeds: Sequence[FeedState]) -> Fetches: ...


class PageFetches(Iterator[tuple[ArticleJob, PageOutcome]], Protocol):
    def close(self) -> None: ...


class PageFetcher(Protocol):
    """Fetches article pages concurrently, politely (robots.txt, per-host limits)."""

    def fetch_pages(self, jobs: Sequence[ArticleJob]) -> PageFetches: ...


class Extractor(Protocol):
    """An article page -> its main text ("" when none is found). Pure."""

    def __call__(self, body: bytes, url: str | None, content_type: str | None) -> str: ...


class PollStore(Protocol):
    """What a poll cycle needs of the store."""

    def feeds_due(self, now: datetime, limit: int | None = None) -> list[FeedState]:
        """The feeds due at `now` (at most `limit`, the longest due first), claimed: other
        workers skip them for a while."""
        ...

    def unseen_many(
        self, batch: Mapping[str, Sequence[Entry]], now: datetime | None = None
    ) -> dict[str, list[Entry]]:
        """For each feed id, the entries never seen before (stored or not: ids outlive
        the items); ``now`` tells the store the feeds still carry the others."""
        ...

    def record_many(self, updates: Sequence[FeedUpdate]) -> list[list[tuple[int, Hit]]]:
        """Write the updates in one transaction; per update, its new hits with row ids."""
        ...

    def unclaim(self, feed_ids: Sequence[str]) -> None:
        """Give claimed feeds back, due at once (the cycle stopped before them)."""
        ...


class ArticleStore(Protocol):
    """What the full-text stage needs of the store."""

    def articles_due(self, now: datetime, limit: int) -> list[ArticleJob]:
        """Items awaiting their article whose next attempt has come, claimed."""
        ...

    def record_articles(
        self, updates: Sequence[ArticleUpdate], now: datetime
    ) -> list[list[tuple[int, Hit]]]:
        """Write the attempts in one transaction; per update, its new hits with row ids
        (none for an item another worker finished first)."""
        ...


class ReplayStore(Protocol):
    """What a replay needs of the store."""

    def items_since(self, since: datetime) -> Iterator[tuple[int, Entry]]:
        """Stored items fetched at or after ``since``: (item row id, entry)."""
        ...

    def hit_rules(self, item_ids: Sequence[int]) -> dict[int, set[str]]:
        """For each item id that has stored hits, the rule ids of those hits."""
        ...


class DeliverStore(Protocol):
    """What a delivery run needs of the store."""

    def peek(self, pending: Pending) -> list[StoredHit]: ...

    def reserve(self, pending: Pending, *, fresh: bool = True) -> Batch | None:
        """The next message to send: one tried before (``Batch.retry``) whose time has
        come, else (with ``fresh``) the new hits."""
        ...

    def mark_sent(self, batch: Batch, now: datetime) -> None: ...

    def release(
        self, batch: Batch, error: str, now: datetime, *, sent_to: Sequence[str] = ()
    ) -> None:
        """The send failed (for every recipient but ``sent_to``): try again later."""
        ...

    def messages_sent(self, target: str, since: datetime) -> int:
        """Messages the target sent since a moment (for rate limits)."""
        ...


#: Recipients a server refused, with its answer; empty when every one took the message.
Refused = Mapping[str, str]


class Notifier(Protocol):
    """Sends a rendered message somewhere; raises NotifyError when nobody got it."""

    def send(self, message: Message) -> Refused | None: ...


class JobStore(PollStore, ArticleStore, DeliverStore, Protocol):
    """What the wired job (app.Monitor) needs of the store besides polling and delivery."""

    def feeds(self) -> list[FeedState]: ...

    def text_reports(self) -> dict[str, TextReport]: ...

    def feed_notices(self, now: datetime, *, take: bool = True) -> list[str]: ...

    def ack_notices(self, notices: Sequence[str]) -> None: ...

    def retry_targets(self, now: datetime) -> list[str]: ...

    def delivered_ever(self, target: str) -> bool: ...

    def last_run(self, target: str) -> datetime | None:
        """When the target's digest last ran (sent, failed or had nothing to send)."""
        ...

    def record_run(self, target: str, now: datetime) -> None: ...

    def heartbeat(self, now: datetime, worker: str = "") -> None: ...

    def clear_heartbeat(self, worker: str = "") -> None: ...

    def prune(self, before: datetime, *, seen_before: datetime | None = None) -> int: ...

    def close(self) -> None: ...


class MessageRenderer(Protocol):
    """Turns a batch of stored hits into a message (render.Renderer)."""

    def render(self, job: RenderJob) -> Message: ...
