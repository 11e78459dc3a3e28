"""Rows to records and back: the only place that knows how a record of monitor.model is laid
out in the tables (JSON columns included)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Row

from monitor.model import Entry, FeedState, Hit, StoredHit, TermMatch, copied
from monitor.store.tables import FeedRow, HitRow, ItemRow

#: FeedState fields that the configuration sets: a new feed's row starts with them.
CONFIG_FIELDS = ("id", "url", "title", "conditional", "min_interval", "max_interval", "full_text")
#: FeedState fields that a poll writes back to the feed's row.
POLLED_FIELDS = (
    "url",
    "title",
    "etag",
    "last_modified",
    "body_hash",
    "last_polled",
    "last_success",
    "next_poll",
    "error_count",
    "last_error",
    "gone",
    "last_new",
    "usual_gap",
    "health",
    "waiting_for",
)

# ---------------------------------------------------------------------- feeds


def feed_row(feed: FeedState) -> FeedRow:
    """The row of a feed the configuration names for the first time."""
    return FeedRow(config_url=feed.url, **{name: getattr(feed, name) for name in CONFIG_FIELDS})


def feed_state(row: FeedRow | Row[Any]) -> FeedState:
    """A feed's state from its row: an ORM object or a Core row of the feed table."""
    return copied(
        FeedState,
        row,
        health=row.health or "",
        full_text=bool(row.full_text),
        waiting_for=row.waiting_for or "",
    )


def polled_row(feed: FeedState, items_per_week: int) -> tuple[Any, ...]:
    """A bulk UPDATE's values for one polled feed: POLLED_FIELDS, items per week, its id."""
    return (*[getattr(feed, name) for name in POLLED_FIELDS], float(items_per_week), feed.id)


def add_notices(row: FeedRow, notices: Sequence[str], now: datetime) -> None:
    """Append health notices, stamped `now`, to the ones the feed's row holds."""
    if not notices:
        return
    pending = json.loads(row.notices or "[]")
    stamp = now.astimezone(UTC).isoformat()
    pending.extend([stamp, notice] for notice in notices)
    row.notices = json.dumps(pending, ensure_ascii=False)


def notices_from(row: FeedRow) -> list[list[str]]:
    """The notices a feed's row holds, as [created ISO time, text] pairs."""
    pending: list[list[str]] = json.loads(row.notices or "[]")
    return pending


def notices_json(pending: Sequence[Sequence[str]]) -> str | None:
    """The column value for these notices: None once none is left."""
    return json.dumps(pending, ensure_ascii=False) if pending else None


# ---------------------------------------------------------------------- items and hits


#: The columns of a new item's row, in the order of ``item_row``'s values.
ITEM_COLUMNS = (
    "feed_id",
    "guid",
    "url",
    "title",
    "summary",
    "content",
    "author",
    "lang",
    "published",
    "fetched",
    "fingerprint",
    "text_state",
    "text_attempts",
    "text_next",
)


def item_row(
    feed_id: str,
    entry: Entry,
    fetched: datetime | None,
    *,
    awaiting: bool = False,
    when: Callable[[datetime | None], Any] = lambda value: value,
) -> tuple[Any, ...]:
    """A bulk INSERT's values (ITEM_COLUMNS) for one new item; `awaiting` its article's
    text. ``when`` makes each datetime the value the row holds: the driver's (see
    base.datetimes), or the datetime itself."""
    return (
        feed_id,
        entry.id,
        entry.url,
        entry.title,
        entry.summary,
        entry.content,
        entry.author,
        entry.lang,
        when(entry.published),
        when(fetched),
        entry.fingerprint,
        "waiting" if awaiting else "",
        0,
        when(fetched) if awaiting else None,
    )


def entry(row: ItemRow, feed_title: str = "") -> Entry:
    return copied(Entry, row, id=row.guid, feed_title=feed_title)


def seen_key(feed_id: str, kind: str, value: str) -> str:
    """The seen table's key of one id of an item: its guid ("g") or its text ("t").

    32 hex digits: 8 of the feed (``feed_prefix``), then 24 of SHA-256 over the feed, the
    kind and the value. The keys of one feed sort together, so a poll's new keys fall on
    a few pages of the table's index rather than on a page each."""
    raw = f"{feed_id}\0{kind}\0{value}".encode("utf-8", "surrogatepass")
    return feed_prefix(feed_id) + hashlib.sha256(raw).hexdigest()[:24]


@lru_cache(maxsize=65536)
def feed_prefix(feed_id: str) -> str:
    """The first 8 hex digits of every seen key of a feed."""
    return hashlib.sha256(feed_id.encode("utf-8", "surrogatepass")).hexdigest()[:8]


@lru_cache(maxsize=4096)
def seen_keys(feed_id: str, guid: str, fingerprint: str) -> tuple[str, ...]:
    """Every key an item is known by: its guid, and its text when it has a fingerprint.
    Cached: a poll asks for a batch's keys in unseen_many and again in record_many."""
    if not fingerprint:
        return (seen_key(feed_id, "g", guid),)
    return (seen_key(feed_id, "g", guid), seen_key(feed_id, "t", fingerprint))


#: The columns of a seen key's row: the key, its feed, when it was first and last seen.
SEEN_COLUMNS = ("key", "feed_id", "first_seen", "last_seen")


def recipients_json(recipients: Sequence[str]) -> str | None:
    return json.dumps(sorted(set(recipients)), ensure_ascii=False) if recipients else None


def recipients_from(text: str | None) -> tuple[str, ...]:
    return tuple(json.loads(text)) if text else ()


def hit_values(item_id: int, hit: Hit, created: datetime | None) -> dict[str, Any]:
    """A bulk INSERT's parameters for one new hit."""
    return dict(zip(HIT_COLUMNS, hit_row(item_id, hit, created), strict=True))


#: The columns of a new hit's row, in the order of ``hit_row``'s values.
HIT_COLUMNS = ("item_id", "rule_id", "rule_version", "priority", "matches", "created")


def hit_row(item_id: int, hit: Hit, created: datetime | None) -> tuple[Any, ...]:
    """A bulk INSERT's values (HIT_COLUMNS) for one new hit."""
    return (item_id, hit.rule_id, hit.rule_version, hit.priority, matches_json(hit), created)


def matches_json(hit: Hit) -> str:
    return json.dumps([[m.term, m.field, m.start, m.end] for m in hit.matches], ensure_ascii=False)


def matches_from(text: str) -> tuple[TermMatch, ...]:
    return tuple(
        TermMatch(str(t), str(f), int(s), int(e)) for t, f, s, e in json.loads(text or "[]")
    )


def stored_hit(
    hit: HitRow, item: ItemRow, feed_title: str | None, story_id: int | None = None
) -> StoredHit:
    """A hit joined with its item, its feed's title and its story, for rendering."""
    assert hit.id is not None, "a stored hit has its row id"
    return copied(
        StoredHit,
        item,
        id=int(hit.id),
        rule_id=hit.rule_id,
        feed_title=feed_title or item.feed_id,
        item_id=item.guid,
        matches=matches_from(hit.matches),
        story_id=story_id,
    )
