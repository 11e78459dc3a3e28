"""The store's feed methods: batches, unseen entries, health notices, the v2 migration.

Runs on a SQLite file and, when MONITOR_TEST_DATABASE_URL is set, on PostgreSQL.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from monitor.errors import StoreError
from monitor.model import Entry, FeedState, FeedUpdate, Hit
from monitor.store import MIGRATIONS, Store

from ..helpers import FakeClock

NOW = datetime(2025, 12, 16, 6, 0, tzinfo=UTC)


def entry(feed_id: str, n: int, **kwargs: object) -> Entry:
    fields: dict[str, object] = {
        "title": f"Item {n}",
        "summary": f"Text of item {n}",
        "fingerprint": f"fp-{feed_id}-{n}",
        "published": NOW - timedelta(hours=n),
    }
    fields.update(kwargs)
    return Entry(feed_id=feed_id, id=f"{feed_id}-{n}", **fields)  # type: ignore[arg-type]


def polled(feed: FeedState, **kwargs: object) -> FeedState:
    return replace(feed, last_polled=NOW, last_success=NOW, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def feeds(store: Store) -> list[FeedState]:
    states = [FeedState(id=f"f{i}", url=f"https://example.org/{i}.xml") for i in range(3)]
    store.sync_feeds(states)
    return states


def test_record_many_writes_items_hits_and_states_in_one_go(
    store: Store, feeds: list[FeedState]
) -> None:
    a, b, c = feeds
    hit = Hit(rule_id="r1", priority="high")
    created = store.record_many(
        [
            FeedUpdate(
                feed=polled(a, etag='"1"', last_new=NOW, usual_gap=3600.0, health=""),
                entries=(entry("f0", 1), entry("f0", 2)),
                hits={"f0-2": [hit]},
            ),
            FeedUpdate(feed=polled(b, error_count=2, last_error="HTTP 500")),
            FeedUpdate(feed=polled(c), entries=(entry("f2", 1, published=None),)),
        ]
    )
    assert [len(x) for x in created] == [1, 0, 0]
    assert created[0][0][1] == hit
    assert store.counts() == {"feeds": 3, "items": 3, "hits": 1}
    state = {f.id: f for f in store.feeds()}
    assert state["f0"].etag == '"1"'
    assert state["f0"].usual_gap == 3600.0
    assert state["f0"].last_new == NOW
    assert state["f0"].items_per_week == 2
    assert state["f1"].error_count == 2
    assert state["f2"].items_per_week == 1  # undated: counted by when we fetched it


def test_record_many_refuses_unknown_feeds(store: Store, feeds: list[FeedState]) -> None:
    ghost = FeedState(id="ghost", url="https://example.org/ghost.xml", last_polled=NOW)
    with pytest.raises(StoreError, match="ghost"):
        store.record_many([FeedUpdate(feed=polled(feeds[0])), FeedUpdate(feed=ghost)])
    assert store.counts()["items"] == 0


def test_unseen_many_knows_ids_and_fingerprints(store: Store, feeds: list[FeedState]) -> None:
    store.record(FeedUpdate(feed=polled(feeds[0]), entries=(entry("f0", 1), entry("f0", 2))))
    republished = entry("f0", 9, fingerprint="fp-f0-1")  # new guid, same text
    fresh = store.unseen_many(
        {
            "f0": [entry("f0", 1), republished, entry("f0", 3), entry("f0", 3)],
            "f1": [entry("f1", 1)],
            "f2": [],
        }
    )
    assert [e.id for e in fresh["f0"]] == ["f0-3"]
    assert [e.id for e in fresh["f1"]] == ["f1-1"]
    assert fresh["f2"] == []
    assert store.unseen("f0", [entry("f0", 2)]) == []


def test_feed_notices_are_returned_once(store: Store, feeds: list[FeedState]) -> None:
    clock = FakeClock(NOW)
    store.record_states(
        [
            FeedUpdate(feed=polled(feeds[1], health="gone", gone=True), notices=("f1 is gone",)),
            FeedUpdate(feed=polled(feeds[0], health="failing"), notices=("f0 keeps failing",)),
        ]
    )
    later = replace(feeds[2], last_polled=NOW + timedelta(hours=1))
    store.record_states([FeedUpdate(feed=later, notices=("f2 went silent",))])
    assert store.feed_notices(clock()) == ["f0 keeps failing", "f1 is gone"]
    assert store.feed_notices(clock()) == []
    assert store.feed_notices(clock.advance(hours=2)) == ["f2 went silent"]
    assert {f.id: f.health for f in store.feeds()} == {"f0": "failing", "f1": "gone", "f2": ""}


def test_notices_of_feeds_no_longer_configured_are_dropped(
    store: Store, feeds: list[FeedState]
) -> None:
    store.record_states([FeedUpdate(feed=polled(feeds[0]), notices=("f0 moved",))])
    store.sync_feeds(feeds[1:])
    assert store.feed_notices(NOW) == []


def test_record_states_takes_no_entries(store: Store, feeds: list[FeedState]) -> None:
    with pytest.raises(ValueError, match="without entries"):
        store.record_states([FeedUpdate(feed=polled(feeds[0]), entries=(entry("f0", 1),))])


def test_a_changed_config_url_starts_the_feed_afresh(store: Store, feeds: list[FeedState]) -> None:
    store.record_states(
        [FeedUpdate(feed=polled(feeds[0], etag='"e"', error_count=4, health="failing"))]
    )
    store.sync_feeds([replace(feeds[0], url="https://example.org/new.xml"), *feeds[1:]])
    state = {f.id: f for f in store.feeds()}["f0"]
    assert (state.url, state.etag, state.error_count, state.health) == (
        "https://example.org/new.xml",
        None,
        0,
        "",
    )


def test_due_feeds_never_polled_come_first(store: Store, feeds: list[FeedState]) -> None:
    store.record_states([FeedUpdate(feed=polled(feeds[0], next_poll=NOW - timedelta(hours=1)))])
    assert [f.id for f in store.feeds_due(NOW)] == ["f1", "f2", "f0"]


def test_migration_2_adds_the_health_columns_to_a_version_1_database(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'old.db'}")
    store.migrate()
    with store.engine.begin() as conn:
        for column in ("last_new", "usual_gap", "health", "notices"):
            conn.execute(text(f"ALTER TABLE feed DROP COLUMN {column}"))
    store.set_meta("schema_version", "1")
    assert store.migrate() == len(MIGRATIONS) >= 2  # later steps run after it too
    store.sync_feeds([FeedState(id="f", url="https://example.org/f.xml")])
    store.record_states(
        [
            FeedUpdate(
                feed=FeedState(id="f", url="https://example.org/f.xml", last_polled=NOW),
                notices=("hello",),
            )
        ]
    )
    assert store.feed_notices(NOW) == ["hello"]
    store.close()
