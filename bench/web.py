"""The archive page's speed: the stories page and searches over 100,000 stored items.

100,000 synthetic items of feed-like length (a headline and a two-sentence summary; one in
ten in Russian, one in twenty naming an official, the OTS or the diaspora) are stored in a
SQLite file through the store's bulk writes, matched by the shipped rules as a poll would,
and folded into the search index. The page then runs on 127.0.0.1 (uvicorn in a thread, as
`monitor serve` runs it) and a loopback client asks, one request at a time over a kept-alive
connection, for stories pages (first pages and later ones, with filters) and for searches in
the rule syntax, from common words to names written in another script.

Prints a table and, last, `RESULT items=N stories_p95_ms=N search_p95_ms=N`.
Run: python bench/web.py [items]
"""

from __future__ import annotations

import http.client
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from monitor.app import feed_states
from monitor.config import load_settings
from monitor.model import Entry, FeedState, FeedUpdate
from monitor.rules import compile_rules, load_rules
from monitor.store import Store
from monitor.web.server import RulesInForce, WebServer, build, reader

ROOT = Path(__file__).resolve().parent.parent
SEED = 20251216
ITEMS = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
FEEDS = 20
NOW = datetime(2025, 12, 16, 6, 0, tzinfo=UTC)
REQUESTS = 200

COMMON = [
    "the",
    "government",
    "said",
    "on",
    "monday",
    "that",
    "new",
    "talks",
    "on",
    "energy",
    "trade",
    "and",
    "transport",
    "will",
    "continue",
    "next",
    "week",
    "in",
    "the",
    "capital",
    "after",
    "the",
    "ministers",
    "met",
    "officials",
    "from",
    "the",
    "region",
    "to",
    "discuss",
    "investment",
    "projects",
    "railway",
    "corridor",
    "gas",
    "pipeline",
    "exports",
    "prices",
    "growth",
    "bank",
    "budget",
    "reform",
    "election",
    "parliament",
    "court",
    "police",
    "weather",
    "football",
    "culture",
]
NAMES = ["Omuraliev", "OTS", "diaspora", "Türkiye", "Erdogan", "Aliyev", "Tokayev", "Baku"]
RUSSIAN = [
    "правительство",
    "заявило",
    "что",
    "переговоры",
    "по",
    "энергетике",
    "и",
    "торговле",
    "продолжатся",
    "на",
    "следующей",
    "неделе",
    "в",
    "столице",
    "после",
    "встречи",
    "министров",
    "региона",
    "Омуралиев",
    "ОТГ",
    "диаспора",
]

STORIES_PAGES = [
    "/",
    "/?page=2",
    "/?page=20",
    "/?all=1",
    "/?all=1&page=5",
    "/?feed=feed-3&all=1",
    "/?priority=high",
    "/?since=2025-12-01&until=2025-12-10&all=1",
]
SEARCHES = [
    "Omuraliev",
    "Омуралиев",
    "diaspora AND OTS",
    '"energy trade"',
    "entity:omuraliev",
    "Türkiye AND (trade OR investment)",
    "diaspor*",
    "pipeline AND NOT football",
    "title:election",
    "Tokayev OR Aliyev",
]


def sentence(rng: random.Random, russian: bool) -> str:
    words = rng.choices(RUSSIAN if russian else COMMON, k=rng.randint(10, 18))
    if rng.random() < 0.05:
        words.insert(rng.randrange(len(words)), rng.choice(NAMES))
    return " ".join(words).capitalize() + "."


def fill(store: Store, count: int) -> tuple[float, float, int]:
    """Store ``count`` items (bulk writes, hits from the shipped rules) and index them;
    returns (store seconds, index seconds, hits)."""
    rng = random.Random(SEED)
    matcher = compile_rules(load_rules([ROOT / "rules"]))
    start = time.perf_counter()
    hits_total = 0
    step = timedelta(seconds=(30 * 86_400) / count)
    for first in range(0, count, 2_000):
        updates = []
        by_feed: dict[str, list[Entry]] = {}
        for n in range(first, min(first + 2_000, count)):
            russian = rng.random() < 0.1
            feed = f"feed-{n % FEEDS}"
            entry = Entry(
                feed_id=feed,
                id=f"item-{n}",
                url=f"https://news.example/{feed}/{n}",
                title=sentence(rng, russian)[:90],
                summary=sentence(rng, russian) + " " + sentence(rng, russian),
                published=NOW - timedelta(days=30) + step * n,
            )
            by_feed.setdefault(feed, []).append(entry)
        for feed, entries in by_feed.items():
            hits = {e.id: found for e in entries if (found := matcher.match(e))}
            hits_total += sum(len(h) for h in hits.values())
            polled = entries[-1].published
            state = FeedState(id=feed, url=f"https://news.example/{feed}.xml", last_polled=polled)
            updates.append(FeedUpdate(feed=state, entries=tuple(entries), hits=hits))
        store.record_many(updates)
    stored = time.perf_counter() - start
    start = time.perf_counter()
    store.index_items()
    return stored, time.perf_counter() - start, hits_total


def measure(host: str, port: int, paths: list[str], count: int) -> list[float]:
    conn = http.client.HTTPConnection(host, port, timeout=30)
    for path in paths:  # warm up: templates compiled, pages cached by the OS
        conn.request("GET", path)
        conn.getresponse().read()
    times = []
    for i in range(count):
        path = paths[i % len(paths)]
        start = time.perf_counter()
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        times.append((time.perf_counter() - start) * 1000)
        if response.status != 200:
            raise SystemExit(f"{path}: HTTP {response.status}: {body[:300]!r}")
    conn.close()
    return times


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[94]


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "monitor.yaml"
        feeds = "".join(
            f"  - id: feed-{i}\n    url: https://news.example/feed-{i}.xml\n" for i in range(FEEDS)
        )
        config.write_text(
            f"storage: sqlite:///{folder}/monitor.db\nrules: [{ROOT / 'rules'}]\n"
            f"templates: {ROOT / 'templates'}\nfeeds:\n{feeds}",
            encoding="utf-8",
        )
        settings = load_settings(config, env={})
        store = Store(settings.storage)
        store.migrate()
        store.sync_feeds(feed_states(settings))
        stored, indexed, hits = fill(store, ITEMS)
        store.close()
        pages = build(settings, reader(settings), RulesInForce(settings), token=None)
        server = WebServer(pages, "127.0.0.1", 0, None).start()
        try:
            searches = ["/?" + urlencode({"q": q, "all": "1"}) for q in SEARCHES]
            matched = ["/?" + urlencode({"q": q}) for q in SEARCHES]
            rows = [
                ("stories pages", measure("127.0.0.1", server.port, STORIES_PAGES, REQUESTS)),
                ("search, every item", measure("127.0.0.1", server.port, searches, REQUESTS)),
                ("search, matched items", measure("127.0.0.1", server.port, matched, REQUESTS)),
            ]
        finally:
            server.stop()
    print(f"{ITEMS:,} items ({hits:,} hits) stored in {stored:.1f} s, indexed in {indexed:.1f} s")
    print(f"{'requests':24} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for name, times in rows:
        print(
            f"{name:24} {len(times):5} {statistics.median(times):8.1f} {p95(times):8.1f} "
            f"{max(times):8.1f}"
        )
    search_p95 = max(p95(rows[1][1]), p95(rows[2][1]))
    print(
        f"RESULT items={ITEMS} stories_p95_ms={p95(rows[0][1]):.0f} search_p95_ms={search_p95:.0f}"
    )


if __name__ == "__main__":
    main()
