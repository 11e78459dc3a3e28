"""Replaying stored items against changed rules, with an in-memory store."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

from monitor.model import Entry, Hit, Rule, RuleSet
from monitor.protocols import Matcher
from monitor.replay import ReplayStore, replay
from monitor.rules import compile_rules

NOW = datetime(2025, 12, 10, 12, 0, tzinfo=UTC)


class FakeStore:
    """Items with fetch times and stored hits, as the real store would return them."""

    def __init__(self) -> None:
        self.items: list[tuple[int, datetime, Entry]] = []
        self.hits: dict[int, set[str]] = {}
        self.asked: list[list[int]] = []

    def add(self, title: str, days_ago: float, stored: set[str]) -> None:
        item_id = len(self.items) + 1
        entry = Entry(feed_id="f", id=f"guid-{item_id}", title=title)
        self.items.append((item_id, NOW - timedelta(days=days_ago), entry))
        if stored:
            self.hits[item_id] = set(stored)

    def items_since(self, since: datetime) -> Iterator[tuple[int, Entry]]:
        for item_id, fetched, entry in self.items:
            if fetched >= since:
                yield item_id, entry

    def hit_rules(self, item_ids: Sequence[int]) -> dict[int, set[str]]:
        self.asked.append(list(item_ids))
        return {i: self.hits[i] for i in item_ids if i in self.hits}


def test_replay_counts_what_changed_rules_would_add_and_remove() -> None:
    store = FakeStore()
    store.add("OTS summit in Baku", 1, {"ots"})
    store.add("OTS diaspora forum", 2, {"ots"})
    store.add("Diaspora agencies meet", 3, set())
    store.add("Old OTS news", 45, {"ots"})  # outside the period
    store.add("Turkic Council archive", 5, {"retired"})  # a rule no longer in the file
    # The new rule set narrows `ots` to the diaspora and adds `diaspora`.
    rules = RuleSet(
        (
            Rule(id="ots", name="ots", query="OTS AND diaspora"),
            Rule(id="diaspora", name="diaspora", query="diaspora"),
            Rule(id="quiet", name="quiet", query="nothingmatchesthis"),
        )
    )
    store_typed: ReplayStore = store
    report = replay(store_typed, compile_rules(rules), NOW - timedelta(days=30), NOW)
    assert report.items == 4
    by_rule = {rule_id: (c.kept, c.added, c.removed) for rule_id, c in report.rules.items()}
    assert by_rule == {
        "ots": (1, 0, 1),
        "diaspora": (0, 2, 0),
        "quiet": (0, 0, 0),
        "retired": (0, 0, 1),
    }
    assert report.rules["ots"].removed_examples == ["OTS summit in Baku"]
    assert report.rules["diaspora"].added_examples == [
        "OTS diaspora forum",
        "Diaspora agencies meet",
    ]
    assert (report.added, report.removed) == (2, 2)
    text = report.format()
    assert text.splitlines()[0] == (
        "Replayed 4 stored items since 2025-11-10 12:00 UTC (30 days): "
        "2 hits would be added, 2 removed."
    )
    assert "  - OTS summit in Baku" in text
    assert "  + Diaspora agencies meet" in text
    assert any(line.split() == ["quiet", "0", "0", "0"] for line in text.splitlines())


def test_replay_asks_for_stored_hits_in_batches() -> None:
    store = FakeStore()
    for i in range(1_203):
        store.add(f"item {i} diaspora", 1, set())
    report = replay(
        store,
        compile_rules(RuleSet((Rule(id="d", name="d", query="diaspora"),))),
        NOW - timedelta(days=7),
        NOW,
        examples=2,
    )
    assert [len(batch) for batch in store.asked] == [500, 500, 203]
    assert report.rules["d"].added == 1_203
    assert len(report.rules["d"].added_examples) == 2


def test_an_empty_period() -> None:
    report = replay(FakeStore(), compile_rules(RuleSet(())), NOW - timedelta(days=1), NOW)
    assert report.items == 0
    assert "No rule matches" in report.format()


class WordMatcher:
    """Any Matcher will do: one rule per word, a hit when the title holds the word."""

    def __init__(self, *words: str) -> None:
        self.rules = {word: Rule(id=word, name=word, query=word) for word in words}

    def match(self, entry: Entry) -> list[Hit]:
        return [Hit(rule_id=word) for word in self.rules if word in entry.title.lower()]


def test_the_matcher_lists_its_rules_even_those_that_hit_nothing() -> None:
    store = FakeStore()
    store.add("OTS summit in Baku", 1, set())
    matcher: Matcher = WordMatcher("summit", "never")
    report = replay(store, matcher, NOW - timedelta(days=7), NOW)
    by_rule = {rule_id: (c.kept, c.added, c.removed) for rule_id, c in report.rules.items()}
    assert by_rule == {"summit": (0, 1, 0), "never": (0, 0, 0)}
