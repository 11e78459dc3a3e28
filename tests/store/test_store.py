"""The store on a real database: SQLite file, and PostgreSQL when configured."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.errors import StoreError
from monitor.model import Entry, FeedState, FeedUpdate, Hit, Pending, TermMatch
from monitor.store import MIGRATIONS, RESERVATION_LEASE, Store, read_heartbeat

from ..helpers import FakeClock


def entry(n: int, feed: str = "f1", **kw: object) -> Entry:
    base = {
        "feed_id": feed,
        "id": f"guid-{n}",
        "url": f"https://example.org/{n}",
        "title": f"Title {n}",
        "summary": f"Summary {n}",
        "fingerprint": f"fp-{n}",
        "published": datetime(2025, 12, 15, 10, n % 60, tzinfo=UTC),
    }
    base.update(kw)
    return Entry(**base)  # type: ignore[arg-type]


def hit(rule: str = "r1", priority: str = "normal") -> Hit:
    return Hit(rule, "v1", priority, (TermMatch("ots", "title", 0, 3),))  # type: ignore[arg-type]


def setup_feed(store: Store, feed_id: str = "f1") -> FeedState:
    state = FeedState(id=feed_id, url=f"https://example.org/{feed_id}.xml")
    store.sync_feeds([state])
    return state


def record(
    store: Store,
    clock: FakeClock,
    entries: list[Entry],
    hits: dict[str, list[Hit]],
    feed_id: str = "f1",
) -> list[tuple[int, Hit]]:
    state = replace(
        FeedState(id=feed_id, url=f"https://example.org/{feed_id}.xml"),
        last_polled=clock(),
        last_success=clock(),
    )
    return store.record(FeedUpdate(feed=state, entries=tuple(entries), hits=hits))


def test_migrate_is_idempotent_and_versioned(store: Store) -> None:
    assert store.migrate() == store.migrate() == len(MIGRATIONS)
    assert store.get_meta("schema_version") == str(len(MIGRATIONS))


def test_record_and_unseen_never_duplicate(store: Store, clock: FakeClock) -> None:
    setup_feed(store)
    entries = [entry(1), entry(2)]
    created = record(store, clock, entries, {"guid-1": [hit("r1"), hit("r2")]})
    assert len(created) == 2 and all(isinstance(i, int) for i, _ in created)

    # The same items again, an item under a new guid with the same text, and one new item.
    again = [entry(1), entry(2), entry(9, id="new-guid", fingerprint="fp-2"), entry(3)]
    fresh = store.unseen("f1", again)
    assert [e.id for e in fresh] == ["guid-3"]
    # Duplicates inside one batch collapse too.
    assert [e.id for e in store.unseen("f1", [entry(4), entry(4)])] == ["guid-4"]
    assert store.counts() == {"feeds": 1, "items": 2, "hits": 2}


def test_record_rejects_a_duplicate_item_instead_of_storing_it_twice(
    store: Store, clock: FakeClock
) -> None:
    setup_feed(store)
    record(store, clock, [entry(1)], {})
    with pytest.raises(StoreError):
        record(store, clock, [entry(1)], {})
    assert store.counts()["items"] == 1


def test_datetimes_come_back_aware_utc(store: Store, clock: FakeClock) -> None:
    setup_feed(store)
    record(store, clock, [entry(1)], {"guid-1": [hit()]})
    (feed,) = store.feeds()
    assert feed.last_polled == clock() and feed.last_polled.tzinfo is not None
    batch = store.reserve(Pending("d:file", None, clock()))
    assert batch is not None
    assert batch.hits[0].published == datetime(2025, 12, 15, 10, 1, tzinfo=UTC)
    assert batch.hits[0].matches == (TermMatch("ots", "title", 0, 3),)


def test_feeds_due_claims_feeds_until_recorded(store: Store, clock: FakeClock) -> None:
    store.sync_feeds(
        [
            FeedState(id="a", url="https://example.org/a"),
            FeedState(id="b", url="https://example.org/b"),
        ]
    )
    assert sorted(f.id for f in store.feeds_due(clock())) == ["a", "b"]
    # Claimed: a second worker asking at once gets nothing.
    assert store.feeds_due(clock()) == []
    store.unclaim(["a"])
    assert [f.id for f in store.feeds_due(clock())] == ["a"]


def test_sync_feeds_deactivates_removed_and_resets_changed_url(
    store: Store, clock: FakeClock
) -> None:
    store.sync_feeds([FeedState(id="a", url="https://example.org/a")])
    record(store, clock, [entry(1, feed="a")], {}, feed_id="a")
    store.sync_feeds([FeedState(id="b", url="https://example.org/b")])
    assert [f.id for f in store.feeds()] == ["b"]
    store.sync_feeds([FeedState(id="b", url="https://example.org/b2")])
    assert store.feeds()[0].url == "https://example.org/b2"


def test_reserve_send_mark_never_twice(store: Store, clock: FakeClock) -> None:
    setup_feed(store)
    record(store, clock, [entry(1), entry(2)], {"guid-1": [hit("r1")], "guid-2": [hit("r2")]})
    batch = store.reserve(Pending("daily:file", None, clock()))
    assert batch is not None and len(batch.hits) == 2
    store.mark_sent(batch, clock())
    assert store.reserve(Pending("daily:file", None, clock())) is None
    # Another target has its own pending set.
    other = store.reserve(Pending("daily:email", ["r2"], clock()))
    assert other is not None and [h.rule_id for h in other.hits] == ["r2"]


def test_release_keeps_hits_pending_with_backoff(store: Store, clock: FakeClock) -> None:
    setup_feed(store)
    record(store, clock, [entry(1)], {"guid-1": [hit()]})
    batch = store.reserve(Pending("daily:email", None, clock()))
    assert batch is not None
    store.release(batch, "SMTP down", clock())
    assert store.reserve(Pending("daily:email", None, clock())) is None  # backing off
    assert store.retry_targets(clock()) == []
    clock.advance(minutes=2)
    assert store.retry_targets(clock()) == ["daily:email"]
    retry = store.reserve(Pending("daily:email", None, clock()))
    assert retry is not None and [h.id for h in retry.hits] == [h.id for h in batch.hits]
    assert retry.attempts == 1 and retry.message_id != batch.message_id
    store.mark_sent(retry, clock())
    assert store.delivery_counts("daily:email") == {"sent": 1}


def test_a_crash_between_send_and_mark_resends_under_the_same_message_id(
    store: Store, clock: FakeClock
) -> None:
    setup_feed(store)
    record(store, clock, [entry(1)], {"guid-1": [hit()]})
    batch = store.reserve(Pending("daily:email", None, clock()))
    assert batch is not None
    # The process died here: no mark, no release. Within the lease nothing is taken.
    assert store.reserve(Pending("daily:email", None, clock())) is None
    clock.advance(seconds=RESERVATION_LEASE.total_seconds() + 1)
    again = store.reserve(Pending("daily:email", None, clock()))
    assert again is not None and again.message_id == batch.message_id
    assert [h.id for h in again.hits] == [h.id for h in batch.hits]


def test_reserve_respects_max_age_limit_and_rule_filter(store: Store, clock: FakeClock) -> None:
    setup_feed(store)
    record(store, clock, [entry(1)], {"guid-1": [hit("old")]})
    clock.advance(days=10)
    record(
        store,
        clock,
        [entry(2), entry(3), entry(4)],
        {"guid-2": [hit("r1")], "guid-3": [hit("r1")], "guid-4": [hit("r2")]},
    )
    assert store.reserve(Pending("t:file", [], clock())) is None
    batch = store.reserve(
        Pending("t:file", ["r1", "old"], clock(), limit=1, max_age=timedelta(days=7))
    )
    assert batch is not None and [h.rule_id for h in batch.hits] == ["r1"]
    rest = store.reserve(
        Pending("t:file", ["r1", "old"], clock(), limit=10, max_age=timedelta(days=7))
    )
    assert rest is not None and [h.rule_id for h in rest.hits] == ["r1"]
    assert (
        store.reserve(Pending("t:file", ["r1", "old"], clock(), max_age=timedelta(days=7))) is None
    )


def test_peek_takes_nothing(store: Store, clock: FakeClock) -> None:
    setup_feed(store)
    record(store, clock, [entry(1)], {"guid-1": [hit()]})
    assert len(store.peek(Pending("t:file", None, clock()))) == 1
    assert len(store.peek(Pending("t:file", None, clock()))) == 1
    assert store.reserve(Pending("t:file", None, clock())) is not None


def test_prune_forgets_old_items_with_their_hits(store: Store, clock: FakeClock) -> None:
    setup_feed(store)
    record(store, clock, [entry(1)], {"guid-1": [hit()]})
    batch = store.reserve(Pending("t:file", None, clock()))
    assert batch is not None
    store.mark_sent(batch, clock())
    clock.advance(days=200)
    record(store, clock, [entry(2)], {})
    assert store.prune(clock() - timedelta(days=180)) == 1
    assert store.counts() == {"feeds": 1, "items": 1, "hits": 0}


def test_heartbeat_round_trip(store: Store, clock: FakeClock) -> None:
    assert store.last_heartbeat() is None
    store.heartbeat(clock())
    assert store.last_heartbeat() == clock()


def test_a_bad_database_url_is_one_clear_error(tmp_path: object) -> None:
    with pytest.raises(StoreError, match="cannot open database"):
        Store("nosuchdialect://x/y").migrate()


def test_heartbeats_are_per_worker_and_read_without_writing(
    store: Store, db_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    store.heartbeat(clock(), "worker-a")
    assert read_heartbeat(db_url, "worker-a") == clock()
    assert read_heartbeat(db_url, "worker-b") is None
    store.clear_heartbeat("worker-a")
    assert read_heartbeat(db_url, "worker-a") is None
    missing = tmp_path / "nowhere" / "monitor.db"
    assert read_heartbeat(f"sqlite:///{missing}", "worker-a") is None
    assert not missing.parent.exists()


def test_a_database_folder_that_cannot_be_made_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="cannot create the folder"):
        Store(f"sqlite:///{blocker / 'sub' / 'monitor.db'}")


def test_threads_share_a_sqlite_store_and_closing_it_leaves_a_whole_file(
    tmp_path: Path, clock: FakeClock
) -> None:
    """SQLite connections are pooled: threads take turns with them, and closing the
    store checkpoints the write-ahead log into the database file."""
    path = tmp_path / "monitor.db"
    store = Store(f"sqlite:///{path}")
    store.migrate()
    feeds = [setup_feed(store, f"f{n}") for n in range(4)]
    store.sync_feeds(feeds)
    errors: list[BaseException] = []

    def poll(feed_id: str) -> None:
        try:
            for n in range(5):
                item = entry(n, feed=feed_id, id=f"{feed_id}-{n}")
                assert store.unseen(feed_id, [item]) == [item]
                record(store, clock, [item], {item.id: [hit()]}, feed_id=feed_id)
                assert store.unseen(feed_id, [item]) == []
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=poll, args=(f.id,)) for f in feeds]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert store.counts() == {"feeds": 4, "items": 20, "hits": 20}
    store.close()
    assert not (tmp_path / "monitor.db-wal").exists()
    with sqlite3.connect(path) as conn:  # the items are in the file itself
        assert conn.execute("SELECT count(*) FROM item").fetchone() == (20,)
