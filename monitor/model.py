"""Frozen records passed between layers, and the Protocols that type the seams.

Nothing here does I/O. Every datetime is timezone-aware UTC.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol
from urllib.parse import urlsplit

from monitor.errors import FetchError

Clock = Callable[[], datetime]
Priority = Literal["normal", "high"]

#: Fields an entry exposes to rules (`title:OTS`, `feed:trend`, ...).
FIELDS: tuple[str, ...] = ("title", "summary", "content", "author", "feed", "domain", "lang")
#: Fields searched by a term without a field.
TEXT_FIELDS: tuple[str, ...] = ("title", "summary", "content")


def utc_now() -> datetime:
    """The real clock; everything else receives a Clock."""
    return datetime.now(UTC)


# --------------------------------------------------------------------------- feeds


@dataclass(frozen=True, slots=True)
class FeedState:
    """A feed as the store knows it: configuration plus polling progress."""

    id: str
    url: str
    title: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    last_polled: datetime | None = None
    last_success: datetime | None = None
    next_poll: datetime | None = None
    error_count: int = 0
    last_error: str | None = None
    items_per_week: float = 0.0
    conditional: bool = True
    gone: bool = False
    #: Poll interval bounds in seconds, from the configuration.
    min_interval: int = 300
    max_interval: int = 86_400
    #: When a poll last brought new items.
    last_new: datetime | None = None
    #: Running estimate of the seconds between the feed's new items.
    usual_gap: float | None = None
    #: The problem last reported for the feed: "", "gone", "failing" or "silent".
    health: str = ""


@dataclass(frozen=True, slots=True)
class Entry:
    """One feed item, reduced to plain text, ready for matching and storing."""

    feed_id: str
    id: str
    url: str | None = None
    title: str = ""
    summary: str = ""
    content: str = ""
    author: str = ""
    published: datetime | None = None
    lang: str = ""
    #: Hash of the item's text: the same text under a new guid is not a new item.
    fingerprint: str = ""
    feed_title: str = ""

    @property
    def domain(self) -> str:
        if not self.url:
            return ""
        host = urlsplit(self.url).hostname or ""
        return host.removeprefix("www.")

    def field_text(self, name: str) -> str:
        """The text of one rule field (see FIELDS)."""
        if name == "feed":
            return f"{self.feed_id} {self.feed_title}".strip()
        if name == "domain":
            return self.domain
        value = getattr(self, name, "")
        return value if isinstance(value, str) else ""


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """What parse makes of a body: the feed's own title and its entries."""

    title: str | None
    entries: tuple[Entry, ...]
    #: The feed's <ttl> in minutes, if it has one.
    ttl_minutes: int | None = None


@dataclass(frozen=True, slots=True)
class FetchResult:
    """A 200 response: the body and the validators to store."""

    url: str
    body: bytes
    status: int = 200
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    #: Seconds the server asked us to wait (Retry-After, Cache-Control max-age).
    retry_after: float | None = None
    #: The feed moved for good (301/308): store the new URL.
    permanent_url: str | None = None


@dataclass(frozen=True, slots=True)
class NotModified:
    """A 304 response: nothing to parse."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    retry_after: float | None = None


#: What fetching one feed comes to: a body, a 304, or the failure as a value.
FetchOutcome = FetchResult | NotModified | FetchError


# --------------------------------------------------------------------------- rules


@dataclass(frozen=True, slots=True)
class Entity:
    """A named thing with every way of writing it; `not_` phrases veto a match."""

    id: str
    name: str
    aliases: tuple[str, ...] = ()
    not_: tuple[str, ...] = ()
    file: str = ""
    line: int = 0


@dataclass(frozen=True, slots=True)
class Rule:
    """One topic a user tracks."""

    id: str
    name: str
    query: str
    tags: tuple[str, ...] = ()
    priority: Priority = "normal"
    feeds: tuple[str, ...] = ()
    enabled: bool = True
    file: str = ""
    line: int = 0
    #: Hash of what the rule matches; a hit records the version that produced it.
    version: str = ""


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...]
    entities: tuple[Entity, ...] = ()

    def by_id(self) -> dict[str, Rule]:
        return {rule.id: rule for rule in self.rules}


@dataclass(frozen=True, slots=True)
class TermMatch:
    """One matched term: which term, in which field, at which characters of that field."""

    term: str
    field: str
    start: int
    end: int


def distinct_terms(matches: Iterable[TermMatch]) -> tuple[str, ...]:
    """The matched terms, each once, in the order they were found."""
    return tuple(dict.fromkeys(match.term for match in matches))


@dataclass(frozen=True, slots=True)
class Hit:
    """A rule matched an entry, and why."""

    rule_id: str
    rule_version: str = ""
    priority: Priority = "normal"
    matches: tuple[TermMatch, ...] = ()

    @property
    def terms(self) -> tuple[str, ...]:
        return distinct_terms(self.matches)


# --------------------------------------------------------------------------- poll


@dataclass(frozen=True, slots=True)
class FeedUpdate:
    """Everything one feed's poll changes, written by the store in one transaction."""

    feed: FeedState
    entries: tuple[Entry, ...] = ()
    hits: Mapping[str, Sequence[Hit]] = field(default_factory=dict)
    #: Health notices to report once in the next digest (see Store.feed_notices).
    notices: tuple[str, ...] = ()


PollStatus = Literal["ok", "not_modified", "unchanged", "error", "gone"]


@dataclass(frozen=True, slots=True)
class PollResult:
    """One feed's outcome in a poll cycle. A failure is a value, never an exception."""

    feed_id: str
    status: PollStatus
    new_items: int = 0
    new_hits: int = 0
    #: What went wrong (the error's reason: the feed is named by feed_id).
    error: str | None = None
    #: Ids of new hits with priority `high`, for immediate alerts.
    alert_hit_ids: tuple[int, ...] = ()


# --------------------------------------------------------------------------- deliver


@dataclass(frozen=True, slots=True)
class StoredHit:
    """A hit as stored, joined with its item and feed, for rendering."""

    id: int
    rule_id: str
    feed_id: str
    feed_title: str
    item_id: str
    title: str
    url: str | None
    summary: str
    published: datetime | None
    fetched: datetime
    matches: tuple[TermMatch, ...] = ()

    @property
    def terms(self) -> tuple[str, ...]:
        return distinct_terms(self.matches)


@dataclass(frozen=True, slots=True)
class Batch:
    """Hits reserved for one message to one target (a digest or an alert channel)."""

    target: str
    message_id: str
    hits: tuple[StoredHit, ...]
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class Message:
    """A rendered message, ready for any sender."""

    target: str
    kind: Literal["digest", "alert"]
    message_id: str
    subject: str
    text: str
    html: str
    recipients: tuple[str, ...] = ()
    created: datetime = field(default_factory=utc_now)


# --------------------------------------------------------------------------- seams


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


class PollStore(Protocol):
    """What a poll cycle needs of the store."""

    def feeds_due(self, now: datetime, limit: int | None = None) -> list[FeedState]:
        """The feeds due at `now` (at most `limit`, the longest due first), claimed: other
        workers skip them for a while."""
        ...

    def unseen_many(self, batch: Mapping[str, Sequence[Entry]]) -> dict[str, list[Entry]]:
        """For each feed id, the entries not stored yet."""
        ...

    def record_many(self, updates: Sequence[FeedUpdate]) -> list[list[tuple[int, Hit]]]:
        """Write the updates in one transaction; per update, its new hits with row ids."""
        ...

    def unclaim(self, feed_ids: Sequence[str]) -> None:
        """Give claimed feeds back, due at once (the cycle stopped before them)."""
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

    def peek(
        self,
        target: str,
        rule_ids: Sequence[str] | None,
        now: datetime,
        *,
        limit: int,
        max_age: timedelta,
    ) -> list[StoredHit]: ...

    def reserve(
        self,
        target: str,
        rule_ids: Sequence[str] | None,
        now: datetime,
        *,
        limit: int,
        max_age: timedelta,
    ) -> Batch | None: ...

    def mark_sent(self, batch: Batch, now: datetime) -> None: ...

    def release(self, batch: Batch, error: str, now: datetime) -> None: ...


class Notifier(Protocol):
    """Sends a rendered message somewhere; raises NotifyError on failure."""

    def send(self, message: Message) -> None: ...


class JobStore(PollStore, DeliverStore, Protocol):
    """What the wired job (app.Monitor) needs of the store besides polling and delivery."""

    def feeds(self) -> list[FeedState]: ...

    def feed_notices(self, now: datetime, *, take: bool = True) -> list[str]: ...

    def ack_notices(self, notices: Sequence[str]) -> None: ...

    def retry_targets(self, now: datetime) -> list[str]: ...

    def delivered_ever(self, target: str) -> bool: ...

    def heartbeat(self, now: datetime) -> None: ...

    def prune(self, before: datetime) -> int: ...

    def close(self) -> None: ...


class MessageRenderer(Protocol):
    """Turns a batch of stored hits into a message (render.Renderer)."""

    def render(
        self,
        *,
        kind: str,
        batch: Batch,
        title: str,
        rules: Mapping[str, Rule],
        now: datetime,
        timezone: str = "UTC",
        recipients: Sequence[str] = (),
        notices: Sequence[str] = (),
    ) -> Message: ...
