"""Inflected forms: a term or alias in its dictionary form finds its forms in Russian,
Turkish, Azerbaijani, Kazakh, Kyrgyz and Uzbek text; ``=`` asks for the exact form; English
is matched as written. The one-rule cases of each language are in the rule language's
table (tests/data/rules/cases.yaml, run by test_table.py); here, what a table row cannot
say."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.model import Entity, Entry, Rule, RuleSet
from monitor.rules import compile_rules, inflect, load_rules
from monitor.rules.engine import RuleMatcher
from monitor.rules.query import parse_query
from monitor.rules.text import tokens, tokens_and_words

from ..helpers import ROOT, an_entry


def _spans(matcher: RuleMatcher, entry: Entry) -> list[str]:
    (hit,) = matcher.match(entry)
    return [entry.field_text(m.field)[m.start : m.end] for m in hit.matches]


def test_spans_point_at_the_inflected_words_as_written() -> None:
    entry = an_entry(
        title="TÜRK DEVLETLERİ TEŞKİLATI'NIN ZİRVESİ",
        summary="Саммит Тюркского совета; Тюркский совет; совета",
    )
    matcher = compile_rules(
        RuleSet(
            (
                Rule(id="tr", name="tr", query='"Türk Devletleri Teşkilatı"'),
                Rule(id="ru", name="ru", query='"Тюркский совет"'),
                Rule(id="word", name="word", query="совет"),
            )
        )
    )
    hits = {h.rule_id: h for h in matcher.match(entry)}
    text = {
        rule: [entry.field_text(m.field)[m.start : m.end] for m in hit.matches]
        for rule, hit in hits.items()
    }
    assert text == {
        "tr": ["TÜRK DEVLETLERİ TEŞKİLATI"],
        "ru": ["Тюркского совета", "Тюркский совет"],
        "word": ["совета", "совет", "совета"],
    }


def test_an_ascii_term_finds_inflected_forms_only_as_a_name() -> None:
    """Plain Latin aliases are matched as written, except the capitalised words of entity
    aliases, which are names: Aliyev finds Алиевым."""
    entity = Entity("aliyev", "Ilham Aliyev", ("Aliyev",))
    matcher = compile_rules(RuleSet((Rule(id="r", name="r", query="entity:aliyev"),), (entity,)))
    entry = an_entry(summary="Встреча с Алиевым прошла в Баку.")
    assert _spans(matcher, entry) == ["Алиевым"]
    word = compile_rules(RuleSet((Rule(id="r", name="r", query="Aliyev"),)))
    assert word.match(entry) == []


def test_an_alias_can_ask_for_its_exact_form() -> None:
    inflected = Entity("ots", "OTS", ("Тюркский совет",))
    exact = Entity("ots", "OTS", ("=Тюркский совет",))
    entry = an_entry(summary="Саммит Тюркского совета")
    rule = (Rule(id="r", name="r", query="entity:ots"),)
    assert compile_rules(RuleSet(rule, (inflected,))).match(entry)
    assert not compile_rules(RuleSet(rule, (exact,))).match(entry)


def test_forms_can_be_switched_off() -> None:
    entity = Entity("aliyev", "Ilham Aliyev", ("Aliyev",))
    rules = (
        Rule(id="word", name="word", query="совет"),
        Rule(id="entity", name="entity", query="entity:aliyev"),
    )
    entry = an_entry(summary="совета Алиевым")
    on = compile_rules(RuleSet(rules, (entity,)))
    off = compile_rules(RuleSet(rules, (entity,)), forms=False)
    assert {h.rule_id for h in on.match(entry)} == {"word", "entity"}
    assert off.match(entry) == []
    assert {h.rule_id for h in off.match(an_entry(id="2", summary="совет Aliyev"))} == {
        "word",
        "entity",
    }


def test_the_language_of_a_phrase_is_chosen_by_its_letters() -> None:
    assert inflect.families("Türk Devletleri Teşkilatı") == (("+tl", "$tr"), ())
    assert inflect.families("Türk Dövlətləri Təşkilatı") == (("+tl",), ())
    assert inflect.families("Oʻzbekiston") == (("+tl",), ())
    assert inflect.families("Тюркский совет") == ((), ("+ru", "$ru"))
    assert inflect.families("Түркі мемлекеттері ұйымы") == ((), ("+tc",))
    assert inflect.families("Turkic Council") == ((), ())


def test_short_words_acronyms_and_apostrophe_suffixes_are_matched_as_written() -> None:
    words, forms = inflect.phrase_forms("ОТГ и Türkiye'nin TDT")
    assert words == ("otg", "i", "turkiye", "nin", "tdt")
    assert [bool(f) for f in forms] == [False, False, True, False, False]


def test_the_suffix_lists_are_the_ones_the_module_documents() -> None:
    doc = " ".join((inflect.__doc__ or "").split())
    lists = [
        inflect.TL_PLURAL,
        inflect.TL_POSSESSIVE,
        *inflect.TL_CASES,
        *inflect.TL_AFTER_POSSESSIVE,
        inflect.TC_PLURAL,
        inflect.TC_POSSESSIVE,
        *inflect.TC_CASES,
        *inflect.TC_AFTER_POSSESSIVE,
        inflect.RU_ENDINGS,
    ]
    documented = set(doc.split())
    for suffixes in lists:
        assert set(suffixes.split()) <= documented, suffixes


def test_a_query_term_keeps_its_meaning_in_the_rule_version() -> None:
    """An exact form and an inflected one are different queries."""
    from monitor.rules.query import canonical

    assert canonical(parse_query("=совет")) != canonical(parse_query("совет"))
    assert canonical(parse_query("OTS")) == ":ots"  # English terms keep their old text


def test_the_seeded_rules_find_inflected_forms() -> None:
    matcher = compile_rules(load_rules([ROOT / "rules"]))
    cases = {
        "Türk Devletleri Teşkilatının diaspora ajanslarının başkanları toplandı.": "ots-diaspora",
        "Түркі мемлекеттері ұйымының диаспора істері жөніндегі басшылары кездесті.": (
            "ots-diaspora"
        ),
    }
    for text, rule in cases.items():
        entry = an_entry(summary=text)
        assert rule in {h.rule_id for h in matcher.match(entry)}, text


@pytest.mark.parametrize(
    ("entry", "query", "found"),
    [
        ({"title": "Саммит Тюркского совета", "summary": "совета"}, "title:совет", ["совета"]),
        ({"title": "Саммит", "summary": "Тюркского совета"}, "title:совет", None),
        ({"summary": "совета Тюркского"}, '"Тюркский совет"~2', ["совета Тюркского"]),
        ({"summary": "Тюркского совета"}, '"Тюркский сов*"', ["Тюркского совета"]),
        ({"summary": "TÜRK DEVLETLERİNİN"}, '"Türk devletleri"', ["TÜRK DEVLETLERİNİN"]),
    ],
)
def test_fields_proximity_and_prefixes_with_inflected_words(
    entry: dict[str, str], query: str, found: list[str] | None
) -> None:
    matcher = compile_rules(RuleSet((Rule(id="r", name="r", query=query),)))
    item = an_entry(**entry)
    hits = matcher.match(item)
    assert [h.matches for h in hits] == [h.matches for h in matcher.match_exhaustive(item)]
    if found is None:
        assert hits == []
        return
    (hit,) = hits
    assert [item.field_text(m.field)[m.start : m.end] for m in hit.matches] == found


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_tokens_and_words_give_the_tokens_and_the_words_as_written(text: str) -> None:
    """The item's words as written (whose form keys are looked up) fold to its tokens."""
    folded, written = tokens_and_words(text)
    assert folded == tokens(text)
    assert [w for word in written for w in tokens(word)] == folded
