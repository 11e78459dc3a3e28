"""Frozen records passed between layers (their Protocols are in protocols.py).

Nothing here does I/O. Every datetime is timezone-aware UTC.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NamedTuple, TypeVar
from urllib.parse import urlsplit

from monitor.errors import FetchError

Clock = Callable[[], datetime]
R = TypeVar("R")
Priority = Literal["normal", "high"]

#: Fields an entry exposes to rules (`title:OTS`, `feed:trend`, ...).
FIELDS: tuple[str, ...] = ("title", "summary", "content", "author", "feed", "domain", "lang")
#: Fields searched by a term without a field.
TEXT_FIELDS: tuple[str, ...] = ("title", "summary", "content")


def utc_now() -> datetime:
    """The real clock; everything else receives a Clock."""
    return datetime.now(UTC)


def copied(cls: type[R], source: object, /, **given: Any) -> R:
    """A record of ``cls`` (a dataclass) made from another object, a row or a record:
    each field in ``given`` as given, every other from ``source``'s attribute of the
    same name."""
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in fields(cls) if f.init)  # type: ignore[arg-type]
    values = {name: getattr(source, name) for name in names if name not in given}
    return cls(**values, **given)


#: The fields of each record class copied() has made, in order.
_FIELDS: dict[type, tuple[str, ...]] = {}


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
    #: Poll interval bounds in seconds, from the configuration. Equal bounds are a fixed
    #: interval (a feed's own ``interval``); otherwise they bound the adaptive rhythm.
    min_interval: int = 300
    max_interval: int = 86_400
    #: When a poll last brought new items.
    last_new: datetime | None = None
    #: Running estimate of the seconds between the feed's new items.
    usual_gap: float | None = None
    #: The problem last reported for the feed: "", "gone", "failing" or "silent".
    health: str = ""
    #: Fetch each new item's link and match on the article's text (``full_text``).
    full_text: bool = False
    #: The host whose Retry-After put this feed's last poll off ("" once it is polled).
    waiting_for: str = ""

    @property
    def fixed_interval(self) -> bool:
        """Polled at one interval (with jitter), not at a rhythm of its own."""
        return self.min_interval == self.max_interval


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


@dataclass(frozen=True, slots=True)
class Deferred:
    """Not requested: the host asked us (429 or 503 with Retry-After) to wait, while
    fetching another of its feeds or pages. Not a failure of this feed or page."""

    host: str
    #: Seconds the host still wants us to wait.
    wait: float


#: What fetching one feed comes to: a body, a 304, the failure as a value, or a wait.
FetchOutcome = FetchResult | NotModified | FetchError | Deferred
#: What fetching one article page comes to (a page is never asked conditionally).
PageOutcome = FetchResult | FetchError | Deferred


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


class TermMatch(NamedTuple):
    """One matched term: which term, in which field, at which characters of that field.
    A named tuple: a hit's spans are made, hashed and compared in bulk while matching, and
    a tuple does that in C (a frozen dataclass's __init__ and __hash__ run in Python)."""

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
    #: Ids of entries stored as awaiting their article's text: matched once it is in.
    awaiting: tuple[str, ...] = ()


#: "deferred": not requested, its host asked us to wait; "full_text": article pages of
#: the feed's items came in (or were given up) and were matched.
PollStatus = Literal["ok", "not_modified", "unchanged", "error", "gone", "deferred", "full_text"]


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
    #: Article pages whose text came in ("full_text" results).
    pages: int = 0


# --------------------------------------------------------------------------- full text

#: Where an item stands with its article's text: not wanted, awaited, in, or given up
#: (the item keeps the feed's lead).
TextState = Literal["", "waiting", "fetched", "failed"]


@dataclass(frozen=True, slots=True)
class ArticleJob:
    """A stored item awaiting its article's text, claimed for one attempt."""

    item_id: int
    entry: Entry
    #: The feed's address: where the link came from (private-address rule).
    origin: str
    #: Attempts made before this one.
    attempts: int = 0

    @property
    def url(self) -> str:
        return self.entry.url or ""


@dataclass(frozen=True, slots=True)
class ArticleUpdate:
    """What one attempt at an item's article changes, hits included once it is final."""

    item_id: int
    state: TextState
    attempts: int
    #: The article's text (state "fetched"); None keeps the stored content.
    content: str | None = None
    error: str | None = None
    #: When to try again (state "waiting").
    next_try: datetime | None = None
    hits: tuple[Hit, ...] = ()


@dataclass(frozen=True, slots=True)
class TextReport:
    """A feed's items by article state, for ``monitor feeds``."""

    fetched: int = 0
    waiting: int = 0
    failed: int = 0
    #: Why the latest page given up was given up.
    last_error: str | None = None


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
    #: The article's full text, for a full_text feed's item (its spans can point there).
    content: str = ""
    #: The story the item belongs to (monitor/stories.py); None before it is assigned.
    story_id: int | None = None

    @property
    def terms(self) -> tuple[str, ...]:
        return distinct_terms(self.matches)

    @classmethod
    def of(
        cls, hit_id: int, entry: Entry, hit: Hit, fetched: datetime, story_id: int | None = None
    ) -> StoredHit:
        """A hit on an entry as the store would hand it over (benchmarks and tests)."""
        return copied(
            cls,
            entry,
            id=hit_id,
            rule_id=hit.rule_id,
            item_id=entry.id,
            fetched=fetched,
            matches=hit.matches,
            story_id=story_id,
        )


@dataclass(frozen=True, slots=True)
class Pending:
    """Which of a target's pending hits one message may take: those of its rules (None:
    every rule), at most ``limit``, created within ``max_age`` before ``now`` and, with
    ``item_max_age``, of items published (or, undated, first seen) within it."""

    target: str
    rule_ids: Sequence[str] | None
    now: datetime
    limit: int = 500
    max_age: timedelta = timedelta(days=7)
    item_max_age: timedelta | None = None


@dataclass(frozen=True, slots=True)
class Batch:
    """Hits reserved for one message to one target (a digest or an alert channel)."""

    target: str
    message_id: str
    hits: tuple[StoredHit, ...]
    attempts: int = 0
    #: A message tried before (failed, or left unmarked by a run that died), sent again
    #: under its message id; False for a message of new hits.
    retry: bool = False
    #: Recipients that took this message already (the server refused the others).
    sent_to: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RenderJob:
    """What a renderer is asked for: one message of a kind ("digest" or "alert") made of a
    batch, titled and timed in the target's timezone, for its recipients."""

    kind: str
    batch: Batch
    title: str
    rules: Mapping[str, Rule]
    now: datetime
    timezone: str = "UTC"
    recipients: Sequence[str] = ()
    #: Feed health notices the message tells.
    notices: Sequence[str] = ()
    #: The rules' entities (id -> name), for the "why" lines.
    entities: Mapping[str, str] | None = None
    #: Where the same digest is written as a file, for the mail to say so.
    archive: str | None = None


@dataclass(frozen=True, slots=True)
class StoryCopy:
    """One outlet's copy of a story, as a message lists it."""

    feed_id: str
    feed: str
    title: str
    #: The item's link when it is http or https; None otherwise (never shown as a link).
    url: str | None
    published: datetime | None


@dataclass(frozen=True, slots=True)
class Story:
    """One story of a message: its lead copy's title, the topic it is filed under (a rule),
    every rule that matched it, why in words, and every copy, the lead first."""

    title: str
    topic_id: str
    topic: str
    rules: tuple[str, ...]
    why: str
    items: tuple[StoryCopy, ...]
    #: The story's id in the store (None for hits never assigned one).
    id: int | None = None


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
    #: Whom to send it to when not every recipient (a retry for those the server refused
    #: before); the headers still name every recipient.
    envelope: tuple[str, ...] | None = None
    #: The stories it shows, in order (what `monitor digest --json` prints).
    stories: tuple[Story, ...] = ()
    #: The message as data (digest id, stories, items) for the channels that send JSON,
    #: an Atom feed or a short text: channels.document.WithDocument adds it.
    document: Mapping[str, Any] | None = field(default=None, compare=False)
