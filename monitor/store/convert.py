"""Rows to records and back: the only place that knows how a record of monitor.model is laid
out in the tables (JSON columns included)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

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


def feed_state(row: FeedRow) -> FeedState:
    return copied(
        FeedState,
        row,
        health=row.health or "",
        full_text=bool(row.full_text),
        waiting_for=row.waiting_for or "",
    )


def polled_values(feed: FeedState, items_per_week: int) -> dict[str, Any]:
    """A bulk UPDATE's parameters for one polled feed."""
    return {
        "id": feed.id,
        **{name: getattr(feed, name) for name in POLLED_FIELDS},
        "items_per_week": float(items_per_week),
    }


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


def item_values(
    feed_id: str, entry: Entry, fetched: datetime | None, *, awaiting: bool = False
) -> dict[str, Any]:
    """A bulk INSERT's parameters for one new item; `awaiting` its article's text."""
    return {
        "text_state": "waiting" if awaiting else "",
        "text_next": fetched if awaiting else None,
        "feed_id": feed_id,
        "guid": entry.id,
        "url": entry.url,
        "title": entry.title,
        "summary": entry.summary,
        "content": entry.content,
        "author": entry.author,
        "lang": entry.lang,
        "published": entry.published,
        "fetched": fetched,
        "fingerprint": entry.fingerprint,
    }


def entry(row: ItemRow, feed_title: str = "") -> Entry:
    return copied(Entry, row, id=row.guid, feed_title=feed_title)


def seen_key(feed_id: str, kind: str, value: str) -> str:
    """The seen table's key of one id of an item: its guid ("g") or its text ("t")."""
    raw = f"{feed_id}\0{kind}\0{value}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(raw).hexdigest()[:32]


@lru_cache(maxsize=4096)
def seen_keys(feed_id: str, guid: str, fingerprint: str) -> tuple[str, ...]:
    """Every key an item is known by: its guid, and its text when it has a fingerprint.
    Cached: a poll asks for a batch's keys in unseen_many and again in record_many."""
    if not fingerprint:
        return (seen_key(feed_id, "g", guid),)
    return (seen_key(feed_id, "g", guid), seen_key(feed_id, "t", fingerprint))


def seen_values(
    feed_id: str, guid: str, fingerprint: str, when: datetime
) -> Iterator[dict[str, Any]]:
    """A bulk INSERT's parameters for the keys of one item first seen ``when``."""
    for key in seen_keys(feed_id, guid, fingerprint):
        yield {"key": key, "feed_id": feed_id, "first_seen": when, "last_seen": when}


def recipients_json(recipients: Sequence[str]) -> str | None:
    return json.dumps(sorted(set(recipients)), ensure_ascii=False) if recipients else None


def recipients_from(text: str | None) -> tuple[str, ...]:
    return tuple(json.loads(text)) if text else ()


def hit_values(item_id: int, hit: Hit, created: datetime | None) -> dict[str, Any]:
    """A bulk INSERT's parameters for one new hit."""
    return {
        "item_id": item_id,
        "rule_id": hit.rule_id,
        "rule_version": hit.rule_version,
        "priority": hit.priority,
        "matches": matches_json(hit),
        "created": created,
    }


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
