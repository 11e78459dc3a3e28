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


def _text(text: str) -> Entry:
    return Entry(feed_id="test", id="text", title="", summary=text)


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        # The organisation under its names, earlier names and abbreviations, inflected.
        ("Leaders gather in Baku for the summit of the Turkic Council", "ots-news"),
        ("Summit of the Turkic Speaking States opens in Nakhchivan", "ots-news"),
        ("Саммит Тюркского совета открылся в Баку", "ots-news"),
        ("Türk Devletleri Teşkilatı'nın zirvesi Bişkek'te başladı", "ots-news"),
        ("Türk Dövlətləri Təşkilatının Zirvəsi Qəbələdə keçirilib", "ots-news"),
        ("Түркі мемлекеттері ұйымының саммиті Астанада өтті", "ots-news"),
        ("Turkiy davlatlar tashkilotining sammiti Samarqandda bo'lib o'tdi", "ots-news"),
        ("ОТГ: министры экономики собрались в Бишкеке", "ots-news"),
        ("Лидеры тюркских государств соберутся на саммит в Габале", "turkic-summit"),
        # Türkiye's trade with a member or observer state, at any amount.
        ("Trade between Türkiye and Uzbekistan rose to $3 billion", "turkiye-turkic-trade"),
        ("Товарооборот Казахстана и Турции вырос на 12%", "turkiye-turkic-trade"),
        ("Kazakistan ile ticaret hacminde 10 milyar dolar hedefi", "turkiye-turkic-trade"),
        ("Turkmen gas starts flowing to Türkiye via Iran", "turkiye-turkic-trade"),
        ("Cargo on the Middle Corridor through Kazakhstan doubled", "turkic-connectivity"),
        # Leaders in the spellings of each press, with a Turkic-states matter.
        ("President Ilham Aliyev received Kyrgyz President Sadyr Japarov", "turkic-leaders"),
        ("Ильхам Алиев позвонил Касым-Жомарту Токаеву", "turkic-leaders"),
        ("Тоқаев Түркияға мемлекеттік сапармен барады", "turkic-leaders"),
        ("Mirziyoyev Turkiya Prezidenti Erdo'g'an bilan uchrashdi", "turkic-leaders"),
        ("Əliyev Tokayevlə görüşüb", "turkic-leaders"),
    ],
)
def test_mission_news_hits(matcher: RuleMatcher, text: str, rule: str) -> None:
    assert rule in {hit.rule_id for hit in matcher.match(_text(text))}


@pytest.mark.parametrize(
    "text",
    [
        "President Tokayev signed the law raising the minimum wage in Kazakhstan",
        "Ilham Aliyev was re-elected president of Azerbaijan",
        "Türkiye ratifies Sweden's NATO bid, leaving Viktor Orbán's Hungary the last holdout",
        "Footballer Aliyev scored twice as Azerbaijan beat Kazakhstan",
        "Saida Mirziyoyeva met Kazakhstan's ambassador in Tashkent",
        "Bank extends its one time settlement (OTS) scheme for farmers",
        "ОТГ «Хортица» сообщила об отражении атак",
        "Türkiye and the US set a $100 billion trade target",
        "Türkiye beat Kazakhstan 2-1 in Astana",
    ],
)
def test_near_misses_hit_nothing(matcher: RuleMatcher, text: str) -> None:
    assert matcher.match(_text(text)) == []
