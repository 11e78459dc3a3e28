"""A project whose digest delivers to channels, and stored hits for it to send."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.app import Monitor, make_monitor
from monitor.config import load_settings
from monitor.model import Entry, FeedState, FeedUpdate, Hit, TermMatch

from ..helpers import ROOT, FakeClock

RULES = """\
rules:
  - id: ots
    name: Organization of Turkic States
    query: OTS
    tags: [ots]
  - id: trade
    name: Turkic trade targets
    query: trade
    tags: [trade]
"""

FEED = FeedState(id="news", url="https://example.org/news.xml", title="News")


def write_project(folder: Path, deliver: str, *, storage: str, extra: str = "") -> Path:
    """monitor.yaml with one digest whose `deliver:` is the YAML given (flow or block)."""
    (folder / "rules").mkdir(exist_ok=True)
    (folder / "rules" / "topics.yaml").write_text(RULES)
    if not (folder / "templates").exists():
        shutil.copytree(ROOT / "templates", folder / "templates")
    path = folder / "monitor.yaml"
    path.write_text(
        f"storage: {storage}\n"
        "feeds:\n"
        f"  - id: {FEED.id}\n"
        f"    url: {FEED.url}\n"
        f"    title: {FEED.title}\n"
        "digests:\n"
        "  - id: daily\n"
        "    title: Turkic daily\n"
        f"    deliver: {deliver}\n" + extra
    )
    return path


#: Different events, so that story clustering keeps each entry a story of its own.
EVENTS = (
    "Ministers met in Baku on 3 March to sign a customs protocol worth $2 billion.",
    "A summit in Samarkand on 11 November adopted a declaration on transport corridors.",
    "Diaspora agencies gathered in Budapest on 2 December for their seventh meeting.",
    "Kazakhstan opened a logistics hub at Aktau port with a capacity of 5 million tonnes.",
    "Uzbekistan and Kyrgyzstan agreed on a railway feasibility study due in June 2026.",
    "A youth forum in Shusha drew 400 students from the member states on 19 May.",
)


def entry(n: int, title: str, *, url: str | None = None) -> Entry:
    return Entry(
        FEED.id,
        f"g{n}",
        url or f"https://example.org/story/{n}",
        title,
        f"OTS and trade, story {n}: {EVENTS[n % len(EVENTS)]}",
        fingerprint=str(n),
        published=datetime(2025, 12, 10, 9, n % 60, tzinfo=UTC),
    )


def seed(monitor: Monitor, clock: FakeClock, entries: list[Entry]) -> None:
    """Store these entries, each hit by `ots`, and by `trade` when its title says so."""
    hits: dict[str, list[Hit]] = {}
    for e in entries:
        hits[e.id] = [Hit("ots", "v1", "normal", (TermMatch("ots", "summary", 28, 31),))]
        if "trade" in e.title.lower():
            hits[e.id].append(Hit("trade", "v1", "normal", (TermMatch("trade", "title", 0, 5),)))
    feed = FeedState(
        id=FEED.id, url=FEED.url, title=FEED.title, last_polled=clock(), last_success=clock()
    )
    monitor.store.record_many([FeedUpdate(feed=feed, entries=tuple(entries), hits=hits)])


MakeMonitor = Callable[..., Monitor]


@pytest.fixture
def make(tmp_path: Path, clock: FakeClock, db_url: str) -> Iterator[MakeMonitor]:
    """make(deliver, env=..., extra=...) -> a wired Monitor on the test's database."""
    made: list[Monitor] = []

    def build(deliver: str, env: Mapping[str, str] | None = None, extra: str = "") -> Monitor:
        path = write_project(tmp_path, deliver, storage=db_url, extra=extra)
        monitor = make_monitor(load_settings(path, dict(env or {})), clock=clock)
        made.append(monitor)
        return monitor

    yield build
    for monitor in made:
        monitor.close()
