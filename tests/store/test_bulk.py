"""bulk_insert writes exactly the rows SQLAlchemy's own executemany writes."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select
from sqlalchemy.dialects import sqlite

from monitor.errors import StoreError
from monitor.store import Store
from monitor.store.base import bulk_insert
from monitor.store.tables import FeedRow, ItemRow, UTCDateTime, sqlite_text

ITEMS = ItemRow.__table__  # type: ignore[attr-defined]


def _rows(feed: str) -> list[dict[str, object]]:
    when = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
    east = timezone(timedelta(hours=5))
    return [
        {
            "feed_id": feed,
            "guid": f"g{i}",
            "url": f"https://example.org/{i}",
            "title": f"Title {i} — Türkiye",
            "published": None if i == 2 else when.astimezone(east) - timedelta(hours=i),
            "fetched": when,
            "fingerprint": f"fp{i}",
        }
        for i in range(4)
    ]


def test_bulk_insert_writes_the_rows_sqlalchemy_writes(store: Store) -> None:
    with store._session() as s:
        for feed in ("ours", "theirs"):
            s.add(FeedRow(id=feed, url=f"https://example.org/{feed}.xml"))
    with store._session() as s:
        bulk_insert(s, insert(ITEMS), _rows("ours"))
        s.execute(insert(ITEMS), _rows("theirs"))
    with store._session() as s:
        got = {
            feed: [
                (r.guid, r.url, r.title, r.published, r.fetched, r.summary, r.text_attempts)
                for r in s.execute(
                    select(ItemRow).where(ItemRow.feed_id == feed).order_by(ItemRow.guid)
                ).scalars()
            ]
            for feed in ("ours", "theirs")
        }
    assert got["ours"] == got["theirs"]
    assert got["ours"][0][3] == datetime(2026, 3, 1, 6, 0, tzinfo=UTC)  # aware UTC back
    assert got["ours"][2][3] is None
    assert got["ours"][0][5:] == ("", 0)  # the columns' scalar defaults


def test_bulk_insert_of_nothing_does_nothing(store: Store) -> None:
    with store._session() as s:
        bulk_insert(s, insert(ITEMS), [])
    assert store.counts()["items"] == 0


def test_a_row_without_a_required_column_is_refused_as_a_store_error(store: Store) -> None:
    with pytest.raises(StoreError, match="feed_id"), store._session() as s:
        bulk_insert(s, insert(ITEMS), [{"guid": "g"}])
    assert store.counts()["items"] == 0


def test_sqlite_datetimes_are_the_text_sqlalchemy_stores() -> None:
    """UTCDateTime writes SQLite's text in one step: the same text as SQLAlchemy's DATETIME
    of the UTC time, whatever the offset, microseconds or year."""
    dialect = sqlite.dialect()
    stored = sqlite.DATETIME().bind_processor(dialect)
    assert stored is not None
    assert UTCDateTime()._cached_bind_processor(dialect) is sqlite_text
    rng = random.Random(7)
    for _ in range(2000):
        offset = timezone(timedelta(minutes=rng.randint(-14 * 60, 14 * 60)))
        value = datetime(
            rng.randint(2, 9998),
            rng.randint(1, 12),
            rng.randint(1, 28),
            rng.randint(0, 23),
            rng.randint(0, 59),
            rng.randint(0, 59),
            rng.choice([0, rng.randint(0, 999_999)]),
            tzinfo=offset,
        )
        assert sqlite_text(value) == stored(value.astimezone(UTC).replace(tzinfo=None))
    assert sqlite_text(None) is None
    with pytest.raises(ValueError, match="naive datetime"):
        sqlite_text(datetime(2026, 3, 1, 6, 0))
