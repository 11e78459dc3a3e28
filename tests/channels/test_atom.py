"""The Atom feed of a digest, read back by feedparser as a feed reader would: well formed,
one entry per story, ids that never repeat across runs, the newest N kept."""

from __future__ import annotations

import logging
from pathlib import Path

import feedparser
import pytest

from monitor.channels.atom import AtomNotifier
from monitor.channels.document import trial_message

from ..helpers import FakeClock
from .conftest import MakeMonitor, entry, seed


def read(path: Path) -> feedparser.FeedParserDict:
    parsed = feedparser.parse(path.read_bytes())
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    return parsed


def test_the_feed_holds_each_story_with_its_links_topic_and_why(
    make: MakeMonitor, clock: FakeClock, tmp_path: Path
) -> None:
    m = make("[atom]")
    seed(
        m,
        clock,
        [
            entry(1, "OTS summit <b>opens</b> & closes"),
            entry(2, "Trade target of $100 billion", url="https://example.org/b?x=1&y=2"),
            entry(3, "Control \x0b characters\x1f are dropped"),
        ],
    )
    (result,) = m.send_digest("daily")
    assert (result.target.key, result.status) == ("daily:atom", "sent")

    feed = read(tmp_path / "state" / "digests" / "daily.atom")
    assert feed.feed.title == "Turkic daily"
    assert feed.feed.id.startswith("urn:uuid:")
    assert len(feed.entries) == 3
    stories = {s["id"]: s for s in result.message.document["stories"]}  # type: ignore[union-attr]
    for got in feed.entries:
        story = stories[got.id]
        assert got.title == story["title"].replace("\x0b", "").replace("\x1f", "")
        assert got.link == story["items"][0]["url"]
        assert got.tags[0].term == story["topic"]
        assert {t.term for t in got.tags[1:]} == set(story["rules"])
        assert "Matched rules: " in got.content[0].value
        assert got.published == story["items"][0]["published"]
    titles = {e.title for e in feed.entries}
    assert "OTS summit <b>opens</b> & closes" in titles  # feed text stays text
    assert "Control  characters are dropped" in titles  # XML cannot hold them
    trade = next(e for e in feed.entries if e.title.startswith("Trade"))
    assert trade.link == "https://example.org/b?x=1&y=2"
    assert trade.tags[0].term == "Turkic trade targets"  # the rule its headline names
    assert {t.term for t in trade.tags[1:]} == {"ots", "trade"}


def test_a_second_run_adds_stories_without_repeating_an_id(
    make: MakeMonitor, clock: FakeClock, tmp_path: Path
) -> None:
    m = make("[atom]")
    path = tmp_path / "state" / "digests" / "daily.atom"
    seed(m, clock, [entry(1, "OTS summit"), entry(2, "OTS ministers meet")])
    m.send_digest("daily")
    first = read(path)

    clock.advance(hours=1)
    seed(m, clock, [entry(3, "OTS trade forum"), entry(4, "OTS youth games")])
    (second_run,) = m.send_digest("daily")
    assert second_run.hits == 3  # entry 3 is hit by two rules
    second = read(path)

    ids = [e.id for e in second.entries]
    assert len(ids) == len(set(ids)) == 4
    assert {e.id for e in first.entries} < set(ids)
    assert [e.title for e in second.entries[:2]] == ["OTS youth games", "OTS trade forum"]
    old = {e.id: e for e in first.entries}
    for got in second.entries[2:]:  # the old entries are kept as they were
        assert got.updated == old[got.id].updated and got.title == old[got.id].title
    assert second.feed.updated == "2025-12-16T07:00:00Z"

    # Nothing new: the feed is left as it is.
    assert m.send_digest("daily")[0].status == "nothing"
    assert read(path).entries == second.entries


def test_the_feed_keeps_the_newest_entries_only(
    make: MakeMonitor, clock: FakeClock, tmp_path: Path
) -> None:
    m = make(
        "\n      - channel: atom\n        entries: 3\n        link: https://news.example.org/daily.atom"
    )
    seed(m, clock, [entry(n, f"OTS story {n}") for n in range(1, 6)])
    m.send_digest("daily")
    feed = read(tmp_path / "state" / "digests" / "daily.atom")
    assert len(feed.entries) == 3
    assert feed.feed.links[0].href == "https://news.example.org/daily.atom"
    assert feed.feed.links[0].rel == "self"


def test_a_feed_that_cannot_be_read_is_started_afresh(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "daily.atom"
    path.write_text("<feed><entry>broken")
    sender = AtomNotifier(tmp_path, title="Turkic daily")
    with caplog.at_level(logging.WARNING):
        sender.send(trial_message("daily:atom", "Turkic daily", clock()))
    assert "cannot read the feed" in caplog.text
    feed = read(path)
    assert feed.entries == [] and feed.feed.title == "Turkic daily"


def test_an_unwritable_folder_is_a_notify_error(tmp_path: Path, clock: FakeClock) -> None:
    from monitor.errors import NotifyError

    (tmp_path / "file").write_text("")
    sender = AtomNotifier(tmp_path / "file" / "digests", title="t")
    with pytest.raises(NotifyError, match="daily:atom: cannot write"):
        sender.send(trial_message("daily:atom", "t", clock()))
