"""Retention forgets items, not the fact that they were seen: after a prune, a feed that
still carries an item does not bring it back as new, to digests or alerts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import text
from werkzeug import Request, Response

from monitor.app import Monitor, make_monitor
from monitor.config import load_settings
from monitor.errors import ConfigError
from monitor.model import Entry, FeedState, FeedUpdate, Pending
from monitor.store import MIGRATIONS, Store

from .helpers import FakeClock, monitor_config, rss

START = datetime(2025, 12, 16, 6, 0, tzinfo=UTC)
ITEMS = [
    ("t1", "Summit opens in Astana", START - timedelta(hours=3)),
    ("t2", "Trade ministers meet", START - timedelta(hours=2)),
    ("t3", "Summit closes", START - timedelta(hours=1)),
]


class ChangingFeed:
    """The same items on every request, in a body that changes each time (a build
    counter), so the feed is parsed again rather than skipped as unchanged."""

    def __init__(self, server: HTTPServer) -> None:
        self.requests = 0
        self.url = server.url_for("/feed.xml")
        server.expect_request("/feed.xml").respond_with_handler(self.handler)

    def handler(self, _request: Request) -> Response:
        self.requests += 1
        body = rss(ITEMS, build=f"build {self.requests}")
        return Response(body, content_type="application/rss+xml")


@pytest.fixture
def feed(httpserver: HTTPServer) -> ChangingFeed:
    return ChangingFeed(httpserver)


def make(tmp_path: Path, feed: ChangingFeed, retention: str = "") -> Monitor:
    extra = (
        retention + "digests:\n  - id: daily\n"
        "alerts:\n  - id: urgent\n    deliver: [file]\n    rate_limit: null\n"
    )
    settings = load_settings(monitor_config(tmp_path, {"news": feed.url}, extra), {})
    return make_monitor(settings, clock=FakeClock(START))


@pytest.fixture
def monitor(tmp_path: Path, feed: ChangingFeed) -> Iterator[Monitor]:
    m = make(tmp_path, feed, "retention: 30d\nseen_retention: 60d\n")
    yield m
    m.close()


def at(monitor: Monitor, when: datetime) -> None:
    clock = monitor.clock
    assert isinstance(clock, FakeClock)
    clock.now = when


def test_prune_then_repoll_brings_nothing_back(monitor: Monitor, feed: ChangingFeed) -> None:
    (first,) = monitor.poll()
    assert first.new_items == 3 and first.new_hits == 3
    assert [r.status for r in monitor.send_alerts()] == ["sent"]
    assert [r.status for r in monitor.send_digest()] == ["sent"]

    at(monitor, START + timedelta(days=40))  # past retention (30d): the items go
    assert monitor.housekeeping() == 3
    assert monitor.store.counts()["items"] == 0  # type: ignore[attr-defined]

    (again,) = monitor.poll()  # the feed still lists the three items
    assert feed.requests == 2 and again.status == "ok"
    assert (again.new_items, again.new_hits) == (0, 0)
    assert monitor.store.counts() == {"feeds": 1, "items": 0, "hits": 0}  # type: ignore[attr-defined]
    assert [r.status for r in monitor.send_alerts()] == ["nothing"]
    # The digest may tell of the silent feed, but it carries no item again.
    assert [r.hits for r in monitor.send_digest()] == [0]


def test_ids_live_while_the_feed_carries_the_items_then_go(
    monitor: Monitor, feed: ChangingFeed
) -> None:
    store = monitor.store
    monitor.poll()
    at(monitor, START + timedelta(days=50))
    monitor.poll()  # still carried: the ids are marked as seen now
    at(monitor, START + timedelta(days=100))
    monitor.housekeeping()  # 100 days after first seen, 50 after last seen: kept
    assert store.seen_count() == 6  # type: ignore[attr-defined]
    (third,) = monitor.poll()
    assert third.new_items == 0

    # The feed drops the items (a body without them); after seen_retention they go too.
    ITEMS_BEFORE = list(ITEMS)
    ITEMS.clear()
    try:
        at(monitor, START + timedelta(days=101))
        monitor.poll()
        at(monitor, START + timedelta(days=170))
        monitor.housekeeping()
        assert store.seen_count() == 0  # type: ignore[attr-defined]
    finally:
        ITEMS.extend(ITEMS_BEFORE)


def test_seen_retention_shorter_than_retention_is_refused(tmp_path: Path) -> None:
    config = monitor_config(
        tmp_path, {"news": "https://example.org/feed.xml"}, "retention: 90d\nseen_retention: 30d\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(config, {})
    assert caught.value.problems == (f"{config}:13: seen_retention: is shorter than retention",)


# --------------------------------------------------------------------------- the store


def entry(n: int, **kw: object) -> Entry:
    base: dict[str, object] = {
        "feed_id": "f1",
        "id": f"guid-{n}",
        "title": f"Title {n}",
        "fingerprint": f"fp-{n}",
    }
    base.update(kw)
    return Entry(**base)  # type: ignore[arg-type]


def record(store: Store, when: datetime, entries: list[Entry]) -> None:
    state = FeedState(
        id="f1", url="https://example.org/f1.xml", last_polled=when, last_success=when
    )
    store.record(FeedUpdate(feed=state, entries=tuple(entries)))


def test_unseen_knows_pruned_items_by_guid_and_by_text(store: Store) -> None:
    store.sync_feeds([FeedState(id="f1", url="https://example.org/f1.xml")])
    store.sync_feeds(
        [
            FeedState(id="f1", url="https://example.org/f1.xml"),
            FeedState(id="f2", url="https://example.org/f2.xml"),
        ]
    )
    record(store, START, [entry(1), entry(2)])
    assert store.prune(START + timedelta(days=1), seen_before=START - timedelta(days=1)) == 2
    fresh = store.unseen_many(
        {
            "f1": [entry(1), entry(9, id="new-guid", fingerprint="fp-2"), entry(3), entry(3)],
            "f2": [entry(1, feed_id="f2")],  # another feed's item of the same guid is its own
        },
        START + timedelta(days=2),
    )
    assert [e.id for e in fresh["f1"]] == ["guid-3"]
    assert [e.id for e in fresh["f2"]] == ["guid-1"]
    # Pruning the ids as well (no feed carried them since) makes them new again.
    store.prune(START + timedelta(days=3), seen_before=START + timedelta(days=3))
    assert [e.id for e in store.unseen("f1", [entry(1)])] == ["guid-1"]


def test_an_older_database_learns_the_ids_of_its_stored_items(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'old.db'}")
    store.migrate()
    store.sync_feeds([FeedState(id="f1", url="https://example.org/f1.xml")])
    record(store, START, [entry(n) for n in range(1, 6)] + [entry(6, fingerprint="")])
    with store.engine.begin() as conn:  # as the database was before the seen ids
        conn.execute(text("DROP TABLE seen"))
        conn.execute(text("ALTER TABLE delivery DROP COLUMN sent_to"))
    store.set_meta("schema_version", "2")
    assert store.migrate() == len(MIGRATIONS)
    assert store.seen_count() == 11  # five items by guid and text, one by guid alone
    assert store.unseen("f1", [entry(n) for n in range(1, 8)]) == [entry(7)]
    batch = store.reserve(Pending("d:file", None, START))
    assert batch is None or batch.sent_to == ()
    store.close()


def test_a_recorded_item_is_known_whatever_its_fingerprint(store: Store) -> None:
    store.sync_feeds([FeedState(id="f1", url="https://example.org/f1.xml")])
    record(store, START, [entry(1, fingerprint="")])
    assert store.unseen("f1", [replace(entry(1), fingerprint="later-fp")]) == []
