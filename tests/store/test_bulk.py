"""The statements run at the driver (BulkInsert, BulkUpdate, run_sql) write exactly what
SQLAlchemy's own statements write."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.dialects import sqlite

from monitor.errors import StoreError
from monitor.model import Entry
from monitor.store import Store
from monitor.store.base import BulkInsert, BulkUpdate, datetimes, driver_sql, marks, run_sql
from monitor.store.convert import ITEM_COLUMNS, SEEN_COLUMNS, item_row
from monitor.store.tables import FeedRow, ItemRow, SeenRow, UTCDateTime, sqlite_text

ITEMS = ItemRow.__table__  # type: ignore[attr-defined]
FEEDS = FeedRow.__table__  # type: ignore[attr-defined]
SEEN = SeenRow.__table__  # type: ignore[attr-defined]
WHEN = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)


def _entries(feed: str) -> list[Entry]:
    east = timezone(timedelta(hours=5))
    return [
        Entry(
            feed_id=feed,
            id=f"g{i}",
            url=f"https://example.org/{i}",
            title=f"Title {i} — Türkiye",
            published=None if i == 2 else WHEN.astimezone(east) - timedelta(hours=i),
            fingerprint=f"fp{i}",
        )
        for i in range(4)
    ]


def _feeds(store: Store, *names: str) -> None:
    with store._session() as s:
        for feed in names:
            s.add(FeedRow(id=feed, url=f"https://example.org/{feed}.xml"))


def test_bulk_insert_writes_the_rows_sqlalchemy_writes(store: Store) -> None:
    _feeds(store, "ours", "theirs")
    with store._session() as s:
        rows = [item_row("ours", e, WHEN, awaiting=e.id == "g1") for e in _entries("ours")]
        BulkInsert(ITEMS, ITEM_COLUMNS).run(s, rows)
        theirs = [item_row("theirs", e, WHEN, awaiting=e.id == "g1") for e in _entries("theirs")]
        s.execute(insert(ITEMS), [dict(zip(ITEM_COLUMNS, row, strict=True)) for row in theirs])
    with store._session() as s:
        got = {
            feed: [
                (r.guid, r.url, r.title, r.published, r.fetched, r.summary, r.text_attempts, *rest)
                for r in s.execute(
                    select(ItemRow).where(ItemRow.feed_id == feed).order_by(ItemRow.guid)
                ).scalars()
                for rest in [(r.text_state, r.text_next, r.text_error)]
            ]
            for feed in ("ours", "theirs")
        }
    assert got["ours"] == got["theirs"]
    assert got["ours"][0][3] == datetime(2026, 3, 1, 6, 0, tzinfo=UTC)  # aware UTC back
    assert got["ours"][2][3] is None
    assert got["ours"][0][5:7] == ("", 0)  # the columns' defaults
    assert got["ours"][1][7:] == ("waiting", WHEN, None)


def test_bulk_insert_of_nothing_does_nothing(store: Store) -> None:
    with store._session() as s:
        BulkInsert(ITEMS, ITEM_COLUMNS).run(s, [])
    assert store.counts()["items"] == 0


def test_a_row_without_a_required_column_is_refused_as_a_store_error(store: Store) -> None:
    with pytest.raises(StoreError, match="feed_id"), store._session() as s:
        BulkInsert(ITEMS, ("guid", "fetched")).run(s, [("g", WHEN)])
    assert store.counts()["items"] == 0


def test_rows_of_the_wrong_width_and_unknown_columns_are_refused(store: Store) -> None:
    _feeds(store, "ours")
    with pytest.raises(ValueError, match="rows of 14 values"), store._session() as s:
        BulkInsert(ITEMS, ITEM_COLUMNS).run(s, [("ours", "g")])
    with pytest.raises(ValueError, match="no column"):
        BulkInsert(ITEMS, ("feed_id", "colour"))
    with pytest.raises(ValueError, match="no column"):
        BulkInsert(ITEMS, ())
    assert store.counts()["items"] == 0


def test_a_naive_datetime_is_refused(store: Store) -> None:
    _feeds(store, "ours")
    row = item_row("ours", _entries("ours")[0], WHEN.replace(tzinfo=None))
    with pytest.raises(ValueError, match="naive datetime"), store._session() as s:
        BulkInsert(ITEMS, ITEM_COLUMNS).run(s, [row])
    with pytest.raises(ValueError, match="naive datetime"), store._session() as s:
        datetimes(s)(WHEN.replace(tzinfo=None))


def test_skip_existing_leaves_a_row_as_it_is(store: Store) -> None:
    later = WHEN + timedelta(days=1)
    with store._session() as s:
        seen = BulkInsert(SEEN, SEEN_COLUMNS, skip_existing=True)
        seen.run(s, [("k1", "f", WHEN, WHEN)])
        # A key twice in one run: the first is kept (on PostgreSQL the rows go as arrays).
        seen.run(s, [("k1", "f", later, later), ("k2", "f", later, later), ("k2", "g", WHEN, WHEN)])
    with store._session() as s:
        got = {r.key: (r.feed_id, r.last_seen) for r in s.execute(select(SeenRow)).scalars()}
    assert got == {"k1": ("f", WHEN), "k2": ("f", later)}


def test_bulk_update_writes_what_sqlalchemy_writes(store: Store) -> None:
    _feeds(store, "ours", "theirs")
    east = timezone(timedelta(hours=5))
    values = ("moved", WHEN.astimezone(east), True, 2.5)
    with store._session() as s:
        BulkUpdate(FEEDS, ("title", "next_poll", "gone", "usual_gap")).run(s, [(*values, "ours")])
        s.execute(
            update(FeedRow).where(FeedRow.id == "theirs"),
            dict(zip(("title", "next_poll", "gone", "usual_gap"), values, strict=True)),
        )
    with store._session() as s:
        got = {
            r.id: (r.title, r.next_poll, r.gone, r.usual_gap, r.url)
            for r in s.execute(select(FeedRow)).scalars()
        }
    assert got["ours"][:4] == got["theirs"][:4] == ("moved", WHEN, True, 2.5)
    assert got["ours"][4] == "https://example.org/ours.xml"  # the rest as it was


def test_run_sql_takes_question_marks_on_every_driver(store: Store) -> None:
    _feeds(store, "a", "b", "c")
    with store._session() as s:
        sql = f"SELECT id FROM feed WHERE id IN ({marks(2)}) OR url LIKE '%/c.xml' ORDER BY id"
        assert [row[0] for row in run_sql(s, sql, ("a", "b"))] == ["a", "b", "c"]


def test_driver_sql_speaks_each_paramstyle() -> None:
    sql = "SELECT ? WHERE x LIKE '%a'"
    assert driver_sql(sql, "qmark") == sql
    assert driver_sql(sql, "format") == "SELECT %s WHERE x LIKE '%%a'"
    assert driver_sql(sql, "pyformat") == "SELECT %s WHERE x LIKE '%%a'"
    with pytest.raises(ValueError, match="named"):
        driver_sql(sql, "named")
    assert marks(3) == "?, ?, ?"


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
