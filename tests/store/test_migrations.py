"""Migrations: from the first release's schema to today's, one step at a time, one
process at a time, and never onto a database newer than the code."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine, inspect, text

from monitor.errors import StoreError
from monitor.model import Entry, FeedState, FeedUpdate
from monitor.store import MIGRATIONS, Store
from monitor.store.convert import seen_keys
from monitor.store.schema import _first_seen_keys
from monitor.store.tables import Meta

from ..helpers import DATA

FIRST_RELEASE = DATA / "store" / "v1.sql"
NOW = datetime(2025, 12, 16, 6, 0, tzinfo=UTC)


def first_release_db(path: Path) -> str:
    """A SQLite file made by the first release, with a feed, an item, a hit, a delivery."""
    with sqlite3.connect(path) as conn:
        conn.executescript(FIRST_RELEASE.read_text(encoding="utf-8"))
    return f"sqlite:///{path}"


def shape(url: str) -> dict[str, tuple[set[str], set[str]]]:
    """Each table's columns and index names."""
    engine = create_engine(url)
    try:
        insp = inspect(engine)
        return {
            table: (
                {c["name"] for c in insp.get_columns(table)},
                {i["name"] for i in insp.get_indexes(table) if i["name"]},
            )
            for table in insp.get_table_names()
        }
    finally:
        engine.dispose()


def test_migrations_build_todays_models(tmp_path: Path) -> None:
    """The steps from the frozen first schema end where the models are today."""
    migrated = f"sqlite:///{tmp_path / 'migrated.db'}"
    store = Store(migrated)
    assert store.migrate() == len(MIGRATIONS)
    store.close()
    direct = f"sqlite:///{tmp_path / 'direct.db'}"
    engine = create_engine(direct)
    Meta.metadata.create_all(engine)
    engine.dispose()
    assert shape(migrated) == shape(direct)


def test_a_first_release_database_is_upgraded_with_its_data(tmp_path: Path) -> None:
    store = Store(first_release_db(tmp_path / "old.db"))
    assert store.migrate() == len(MIGRATIONS)
    (feed,) = store.feeds()
    assert (feed.id, feed.etag, feed.items_per_week, feed.health) == ("trend", '"abc"', 12.0, "")
    assert store.delivered_ever("daily:file")
    assert {1: {"ots-diaspora"}} == store.hit_rules([1])
    # and it works as a store of today: feed health notices live in the new columns
    polled = FeedState(id="trend", url=feed.url, last_polled=NOW)
    store.record_states([FeedUpdate(feed=polled, notices=("hi",))])
    assert store.feed_notices(NOW) == ["hi"]
    store.close()


def test_a_newer_database_is_refused_naming_both_versions(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    store = Store(url)
    store.migrate()
    store.set_meta("schema_version", str(len(MIGRATIONS) + 3))
    with pytest.raises(StoreError) as info:
        store.migrate()
    message = str(info.value)
    assert f"schema version {len(MIGRATIONS) + 3}" in message
    assert f"the {len(MIGRATIONS)} this version of monitor knows" in message
    store.close()


def test_a_failing_step_leaves_the_version_where_it_was(tmp_path: Path) -> None:
    """The step and its version bump commit together: a broken step bumps nothing."""
    path = tmp_path / "old.db"
    url = first_release_db(path)
    with sqlite3.connect(path) as conn:  # a column version 2 adds, already there: step fails
        conn.execute("ALTER TABLE feed ADD COLUMN health INTEGER NOT NULL DEFAULT 0")
        conn.execute("CREATE TABLE feed_copy AS SELECT * FROM feed")
        conn.execute("DROP TABLE feed")  # and no feed table at all: the step cannot inspect it
    store = Store(url)
    with pytest.raises(StoreError):
        store.migrate()
    assert store.get_meta("schema_version") == "1"
    store.close()


MIGRATE = """
import sys
from monitor.store import Store
store = Store(sys.argv[1])
print(store.migrate())
store.close()
"""


def test_processes_migrating_at_once_take_turns(tmp_path: Path) -> None:
    url = first_release_db(tmp_path / "shared.db")
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATE, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(4)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0] * 4, [err for _, err in outputs]
    assert {out.strip() for out, _ in outputs} == {str(len(MIGRATIONS)).encode()}
    store = Store(url)
    assert store.get_meta("schema_version") == str(len(MIGRATIONS))
    assert [f.id for f in store.feeds()] == ["trend"]
    store.close()


def test_threads_migrating_one_database_at_once(db_url: str) -> None:
    """On PostgreSQL too (when configured): an advisory lock makes the others wait."""
    errors: list[BaseException] = []

    def migrate() -> None:
        store = Store(db_url)
        try:
            store.migrate()
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)
        finally:
            store.close()

    threads = [threading.Thread(target=migrate) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    store = Store(db_url)
    assert store.get_meta("schema_version") == str(len(MIGRATIONS))
    tables = MetaData()
    tables.reflect(store.engine)
    assert {"feed", "item", "hit", "delivery", "meta"} <= set(tables.tables)
    store.close()


def test_an_items_feed_and_a_hits_item_are_checked_by_sqlite_only(db_url: str) -> None:
    """PostgreSQL checks neither reference (a trigger and a query per row of a poll's
    inserts); the others stay, and SQLite keeps its own."""
    store = Store(db_url)
    store.migrate()
    insp = inspect(store.engine)
    references = {
        (table, tuple(fk["constrained_columns"]), fk["referred_table"])
        for table in ("item", "hit", "delivery", "story_item")
        for fk in insp.get_foreign_keys(table)
    }
    store.close()
    kept = {("delivery", ("hit_id",), "hit"), ("story_item", ("item_id",), "item")}
    hot = {("item", ("feed_id",), "feed"), ("hit", ("item_id",), "item")}
    assert kept <= references
    if db_url.startswith("postgresql"):
        assert not hot & references
    else:
        assert hot <= references


def test_only_full_text_items_are_in_the_text_state_index(db_url: str) -> None:
    """An item of an ordinary feed (text state "") pays for no entry in it."""
    store = Store(db_url)
    store.migrate()
    query = (
        "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_item_text_state_next'"
        if db_url.startswith("postgresql")
        else "SELECT sql FROM sqlite_master WHERE name = 'ix_item_text_state_next'"
    )
    with store.engine.connect() as conn:
        definition = conn.execute(text(query)).scalar_one()
    store.close()
    assert "WHERE" in definition.upper() and "text_state" in definition


def test_seen_keys_of_an_older_database_take_the_feed_first_and_stay_known(
    db_url: str,
) -> None:
    """Version 8 gives every seen key its feed's 8 hex digits first: the ids of items
    pruned long ago are still known afterwards, on SQLite and PostgreSQL alike."""
    store = Store(db_url)
    store.migrate()
    feeds = [FeedState(id=f, url=f"https://example.org/{f}.xml") for f in ("f1", "f 2 ü")]
    store.sync_feeds(feeds)
    entries = {
        f.id: [Entry(feed_id=f.id, id=f"g{n}", title=f"t{n}", fingerprint=f"fp{n}") for n in (1, 2)]
        + [Entry(feed_id=f.id, id="no-text", title="x")]
        for f in feeds
    }
    with store.engine.begin() as conn:  # the keys as version 7 had them, of items pruned
        for feed_id, items in entries.items():
            for e in items:
                for key in _first_seen_keys(feed_id, e.id, e.fingerprint):
                    conn.execute(
                        text(
                            "INSERT INTO seen (key, feed_id, first_seen, last_seen) "
                            "VALUES (:key, :feed_id, :when, :when)"
                        ),
                        {"key": key, "feed_id": feed_id, "when": "2025-12-01 06:00:00.000000"},
                    )
        conn.execute(text("CREATE INDEX ix_item_feed_fingerprint ON item (feed_id, fingerprint)"))
        conn.execute(text("CREATE INDEX ix_hit_item_id ON hit (item_id)"))
    store.set_meta("schema_version", "7")
    assert store.migrate() == len(MIGRATIONS)
    assert store.seen_count() == 10
    for feed_id, items in entries.items():
        assert store.unseen(feed_id, items) == []
        # the same text under a new guid is known too; a new item is new
        again = Entry(feed_id=feed_id, id="g9", title="t1", fingerprint="fp1")
        assert store.unseen(feed_id, [again]) == []
    assert [e.id for e in store.unseen("f1", [Entry(feed_id="f1", id="g3")])] == ["g3"]
    with store.engine.connect() as conn:
        keys = {row[0] for row in conn.execute(text("SELECT key FROM seen"))}
        indexes = {i["name"] for t in ("item", "hit") for i in inspect(conn).get_indexes(t)}
    assert keys == {
        key
        for feed_id, items in entries.items()
        for e in items
        for key in seen_keys(feed_id, e.id, e.fingerprint)
    }
    assert not indexes & {"ix_item_feed_fingerprint", "ix_hit_item_id"}
    store.close()
