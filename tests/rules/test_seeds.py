"""The seeded rules against items written from the seed coverage, and against unrelated
news from the same region (sport, weather, farming, namesakes), which must match none."""

from __future__ import annotations

import json

import pytest

from monitor.model import Entry
from monitor.rules import compile_rules, load_rules
from monitor.rules.engine import RuleMatcher
from monitor.rules.explain import entries_from_jsonl

from ..helpers import DATA, ROOT

ITEMS = DATA / "items.jsonl"


@pytest.fixture(scope="module")
def matcher() -> RuleMatcher:
    return compile_rules(load_rules([ROOT / "rules"]))


def _items() -> list[tuple[Entry, set[str]]]:
    lines = ITEMS.read_text(encoding="utf-8").splitlines()
    entries = list(entries_from_jsonl(lines))
    expected = [set(json.loads(line)["expect"]) for line in lines]
    return list(zip(entries, expected, strict=True))


@pytest.mark.parametrize(("entry", "expected"), [pytest.param(e, x, id=e.id) for e, x in _items()])
def test_items_hit_exactly_the_expected_rules(
    matcher: RuleMatcher, entry: Entry, expected: set[str]
) -> None:
    hits = matcher.match(entry)
    assert {hit.rule_id for hit in hits} == expected
    for hit in hits:
        rule = matcher.rules[hit.rule_id]
        assert hit.rule_version == rule.version
        assert hit.priority == rule.priority
        for m in hit.matches:
            assert entry.field_text(m.field)[m.start : m.end].strip()


def test_every_seeded_rule_is_exercised(matcher: RuleMatcher) -> None:
    used = set().union(*(expected for _, expected in _items()))
    assert used == set(matcher.rules)


def test_unrelated_items_match_nothing(matcher: RuleMatcher) -> None:
    unrelated = [e for e, expected in _items() if not expected]
    assert len(unrelated) >= 8
    assert all(matcher.match(e) == [] for e in unrelated)


def test_trade_target_explains_the_amounts(matcher: RuleMatcher) -> None:
    entry = next(e for e, _ in _items() if e.id == "seed-erdogan-turkish")
    hit = next(h for h in matcher.match(entry) if h.rule_id == "turkic-trade-target")
    amounts = [
        entry.field_text(m.field)[m.start : m.end]
        for m in hit.matches
        if m.term.startswith("amount:")
    ]
    assert "60 milyar dolara" in amounts
    assert "100 milyar dolar" in amounts
    assert hit.priority == "high"
