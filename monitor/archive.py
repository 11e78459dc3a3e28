"""Records of the archive (the read-only web page) and what it needs of the store.

Nothing here does I/O. A *story* is what the page lists: for now one stored item is one
story (its id is the item's id); ``ArchiveStore.stories`` and ``ArchiveStore.story`` are
the only places that say so, so a store that groups items into stories changes them and
nothing else. Every datetime is timezone-aware UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from monitor.model import FeedState, TermMatch

# --------------------------------------------------------------------------- what to show


@dataclass(frozen=True, slots=True)
class Filters:
    """Which stored items a list shows."""

    #: Only items with a hit of one of these rules; None: any rule (or none, see matched).
    rule_ids: tuple[str, ...] | None = None
    #: Only items with a hit of this priority ("high").
    priority: str | None = None
    #: Only items of these feeds; empty: every feed.
    feeds: tuple[str, ...] = ()
    #: Only items dated (published, or fetched when the feed gave no date) in [since, until).
    since: datetime | None = None
    until: datetime | None = None
    #: Only items that some rule matched.
    matched: bool = True


@dataclass(frozen=True, slots=True)
class Words:
    """Words an item holds in a row in one of ``fields`` (title, summary, content; empty:
    any of them), the last one as a prefix if ``prefix``; a phrase when ``phrase``, else
    each word anywhere."""

    words: tuple[str, ...]
    fields: tuple[str, ...] = ()
    prefix: bool = False
    phrase: bool = False


@dataclass(frozen=True, slots=True)
class AllOf:
    parts: tuple[Prefilter, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    parts: tuple[Prefilter, ...]


#: What the full-text index is asked: a superset of the items a query matches.
Prefilter = Words | AllOf | AnyOf


# --------------------------------------------------------------------------- what is stored


@dataclass(frozen=True, slots=True)
class ArchiveItem:
    """A stored item, with its feed's title."""

    id: int
    feed_id: str
    feed_title: str
    guid: str
    url: str | None
    title: str
    summary: str
    content: str
    author: str
    lang: str
    published: datetime | None
    fetched: datetime

    @property
    def when(self) -> datetime:
        """Its date: published, unless the feed gave none or one after we fetched it."""
        if self.published is None or self.published > self.fetched:
            return self.fetched
        return self.published


@dataclass(frozen=True, slots=True)
class StoredMatch:
    """A stored hit of one item."""

    id: int
    item_id: int
    rule_id: str
    rule_version: str
    priority: str
    matches: tuple[TermMatch, ...]
    created: datetime


@dataclass(frozen=True, slots=True)
class Sending:
    """A hit's delivery to one target (digest or alert, channel): what became of it."""

    hit_id: int
    target: str
    status: str
    attempts: int
    message_id: str
    reserved_at: datetime | None
    sent_at: datetime | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class Story:
    """What the page lists: a story's items (the copies clustered for the digests, the lead
    first) and their stored hits."""

    id: int
    items: tuple[ArchiveItem, ...]
    hits: tuple[StoredMatch, ...] = ()

    @property
    def lead(self) -> ArchiveItem:
        return self.items[0]

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(h.rule_id for h in self.hits))


@dataclass(frozen=True, slots=True)
class RuleActivity:
    """A rule's hits per day (UTC) over a period, and its last hit ever."""

    rule_id: str
    per_day: dict[date, int] = field(default_factory=dict)
    last_hit: datetime | None = None


# --------------------------------------------------------------------------- the seam


class ArchiveStore(Protocol):
    """What the archive page reads. Nothing here writes."""

    def stories(self, filters: Filters, *, offset: int, limit: int) -> list[Story]:
        """Stories newest first (by the id of their newest item)."""
        ...

    def story(self, story_id: int) -> Story | None: ...

    def search(
        self, prefilter: Prefilter | None, filters: Filters, *, before: int | None, limit: int
    ) -> list[ArchiveItem]:
        """Items the full-text index finds for ``prefilter`` (every item when None) that
        pass ``filters``, newest first, with ids below ``before``; a superset of a query's
        matches, to be checked by the rules."""
        ...

    def stored_matches(self, item_ids: Sequence[int]) -> list[StoredMatch]: ...

    def hit_rules(self, item_ids: Sequence[int]) -> dict[int, set[str]]:
        """For each item id that has stored hits, the rule ids of those hits."""
        ...

    def feed_ids(self) -> list[str]: ...

    def sendings(self, hit_ids: Sequence[int]) -> list[Sending]: ...

    def activity(self, since: datetime) -> list[RuleActivity]:
        """Each rule with stored hits: its hits per day since ``since``, its last hit."""
        ...

    def feeds(self) -> list[FeedState]: ...
