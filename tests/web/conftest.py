"""A small newsroom for the archive page: a config folder, rules, a real store (SQLite, and
PostgreSQL when configured) holding items, hits and deliveries, and the app's test client."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from monitor.app import feed_states
from monitor.config import Settings, load_settings
from monitor.model import Entry, FeedState, FeedUpdate, Pending
from monitor.rules import compile_rules, load_rules
from monitor.store import Store
from monitor.web.pages import make_app
from monitor.web.server import RulesInForce, build, reader

from ..helpers import ROOT, FakeClock

RULES = """\
entities:
  - id: omuraliev
    name: Kubanychbek Omuraliev
    aliases: [Omuraliev*, Омуралиев*]
rules:
  - id: ots-diaspora
    name: OTS and the diaspora
    query: OTS AND diaspora
    tags: [ots]
  - id: omuraliev
    name: Omuraliev
    query: entity:omuraliev
    tags: [people]
    priority: high
  - id: trade
    name: Trade target
    query: '"trade target" OR amount:>=1e9'
    tags: [trade]
"""

#: (feed, days ago, title, summary, url)
ITEMS = [
    (
        "trend",
        20,
        "OTS summit opens in Baku",
        "Leaders of the OTS met in Baku.",
        "https://trend.az/1",
    ),
    (
        "trend",
        12,
        "Diaspora forum of the OTS",
        "The OTS diaspora forum gathered 300 guests.",
        "https://trend.az/2",
    ),
    (
        "akipress",
        9,
        "Кубанычбек Омуралиев встретился с послами",
        "Генеральный секретарь ОТГ Омуралиев провёл встречу.",
        "https://akipress.com/3",
    ),
    (
        "akipress",
        6,
        "Weather in Bishkek",
        "Sunny and cold, no news at all.",
        "https://akipress.com/4",
    ),
    (
        "trend",
        4,
        "Türkiye sets a $60 billion trade target",
        "The trade target with Turkic states is $60 billion.",
        "https://trend.az/5",
    ),
    (
        "trend",
        2,
        "<script>alert(1)</script> OTS diaspora",
        "Escaping test: <b>bold</b> & the OTS diaspora.",
        "javascript:alert(1)",
    ),
    (
        "akipress",
        1,
        "Omuraliev visits the OTS diaspora in Kazan",
        "Secretary General Omuraliev met the diaspora.",
        "https://akipress.com/7",
    ),
]

URLS = {
    "trend": "https://en.trend.az/feeds/index.rss",
    "akipress": "https://akipress.com/rss/news.rss",
}
TITLES = {"trend": "Trend News Agency", "akipress": "AKIpress"}

CONFIG = """\
storage: {storage}
rules: [rules]
templates: {templates}
feeds:
  - id: trend
    url: https://en.trend.az/feeds/index.rss
    title: Trend News Agency
  - id: akipress
    url: https://akipress.com/rss/news.rss
    title: AKIpress
digests:
  - id: daily
    deliver: [file]
alerts:
  - id: urgent
    deliver: [file]
"""


@dataclass
class Newsroom:
    settings: Settings
    store: Store
    clock: FakeClock
    ids: list[int]
    client: TestClient

    def app_client(self, token: str | None = None, page_size: int = 25) -> TestClient:
        rules = RulesInForce(self.settings)
        pages = build(
            self.settings,
            reader(self.settings),
            rules,
            token=token,
            clock=self.clock,
            page_size=page_size,
        )
        return TestClient(make_app(pages, token=token), raise_server_exceptions=False)


def make_newsroom(folder: Path, url: str, clock: FakeClock) -> tuple[Settings, Store, list[int]]:
    (folder / "rules").mkdir()
    (folder / "rules" / "topics.yaml").write_text(RULES, encoding="utf-8")
    config = folder / "monitor.yaml"
    config.write_text(CONFIG.format(storage=url, templates=ROOT / "templates"), encoding="utf-8")
    settings = load_settings(config, env={})
    store = Store(settings.storage)
    store.migrate()
    store.sync_feeds(feed_states(settings))
    matcher = compile_rules(load_rules(list(settings.rules)))
    ids: list[int] = []
    for n, (feed, days, title, summary, link) in enumerate(ITEMS):
        when = clock.now - timedelta(days=days)
        entry = Entry(
            feed_id=feed, id=f"guid-{n}", url=link, title=title, summary=summary, published=when
        )
        hits = matcher.match(entry)
        state = FeedState(
            id=feed, url=URLS[feed], title=TITLES[feed], last_polled=when, last_success=when
        )
        store.record_many(
            [FeedUpdate(feed=state, entries=(entry,), hits={entry.id: hits} if hits else {})]
        )
        ids.append(len(ids) + 1)
    store.index_items()
    # The daily digest took every hit so far and sent them; the alert has one reserved.
    batch = store.reserve(
        Pending("daily:file", None, clock.now, limit=500, max_age=timedelta(days=60))
    )
    assert batch is not None
    store.mark_sent(batch, clock.now)
    return settings, store, ids


@pytest.fixture
def newsroom(db_url: str, tmp_path: Path) -> Iterator[Newsroom]:
    clock = FakeClock(datetime(2025, 12, 16, 6, 0, tzinfo=FakeClock().now.tzinfo))
    settings, store, ids = make_newsroom(tmp_path, db_url, clock)
    room = Newsroom(settings, store, clock, ids, None)  # type: ignore[arg-type]
    room.client = room.app_client()
    yield room
    store.close()
