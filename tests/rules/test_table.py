"""The rule language, case by case: (text, query, matches?, why).

A text is either plain text (it goes into the summary) or a dict of Entry fields.
Each case compiles a one-rule set with the entities below, so it exercises the whole
path: query parsing, the presearch index, evaluation and folding.
"""

from __future__ import annotations

from typing import Any

import pytest

from monitor.model import Entity, Entry, Rule, RuleSet
from monitor.rules import compile_rules

ENTITIES = (
    Entity(
        id="ots",
        name="Organization of Turkic States",
        aliases=("OTS", "Turkic Council", "TDT", "Организация тюркских государств", "ОТГ"),
        not_=("Office of Thrift Supervision", "off the shelf"),
    ),
    Entity(
        id="omuraliev",
        name="Kubanychbek Omuraliev",
        aliases=("Omuraliev*", "Кубанычбек Омуралиев*", "Омуралиев*"),
    ),
    Entity(id="erdogan", name="Recep Tayyip Erdoğan", aliases=("Erdogan*", "Эрдоган*")),
)

T, F = True, False

CASES: list[tuple[Any, str, bool, str]] = [
    # --- words, never substrings
    ("The OTS summit opened in Baku.", "OTS", T, "a whole word matches"),
    ("Leaders of the OTS, meeting in Budapest", "OTS", T, "punctuation ends a word"),
    ("Spam BOTS flooded the forum", "OTS", F, "OTS inside BOTS is not the word OTS"),
    ("see robots.txt for crawlers", "OTS", F, "OTS inside robots is not the word OTS"),
    ("the ots meeting", "OTS", T, "matching ignores case"),
    ("OTS-led talks on transport", "OTS", T, "a hyphen separates words"),
    ("The OTS's secretariat", "OTS", T, "an English possessive splits off"),
    ("Turkey and Turkmenistan", "Turk", F, "a word is not a prefix without *"),
    # --- prefix*
    ("cooperation among Turkic states", "Turk*", T, "prefix* matches a longer word"),
    ("Türkiye hosted the meeting", "turk*", T, "prefix* on folded text"),
    ("two diasporas met", "diaspor*", T, "prefix* matches a plural"),
    ("a short note", "diaspor*", F, "prefix* needs a word that starts with it"),
    ("diaspora affairs", "diasporas", F, "a plural term does not match the singular"),
    # --- AND, OR, NOT, +, -, side by side, parentheses, precedence
    ("OTS works with the diaspora", "OTS AND diaspora", T, "AND: both present"),
    ("OTS summit only", "OTS AND diaspora", F, "AND: one missing"),
    ("diaspora groups abroad", "OTS OR diaspora", T, "OR: one is enough"),
    ("a football match", "OTS OR diaspora", F, "OR: neither present"),
    ("OTS diaspora football", "OTS AND NOT football", F, "NOT vetoes"),
    ("OTS diaspora forum", "OTS AND NOT football", T, "NOT absent, so the rule matches"),
    ("OTS diaspora forum", "OTS -football", T, "-term absent"),
    ("OTS football final", "OTS -football", F, "-term present vetoes"),
    ("OTS and the diaspora", "OTS diaspora", T, "side by side means AND"),
    ("OTS summit", "OTS diaspora", F, "side by side is not OR"),
    ("the diaspora summit", "(OTS OR summit) AND diaspora", T, "parentheses group an OR"),
    ("OTS summit", "(OTS OR summit) AND diaspora", F, "the group's AND partner is missing"),
    ("OTS summit", "OTS AND summit OR diaspora", T, "AND binds tighter than OR (left)"),
    ("diaspora news", "OTS AND summit OR diaspora", T, "AND binds tighter than OR (right)"),
    ("diaspora news", "+diaspora", T, "+term is required and present"),
    ("forum OTS", "OTS AND (forum OR NOT football)", T, "NOT inside a group with a term"),
    # --- phrases
    ("the joint action plan was adopted", '"joint action plan"', T, "phrase in order"),
    ("a plan for joint action", '"joint action plan"', F, "phrase words out of order"),
    ("a joint. Action plan", '"joint action plan"', T, "punctuation is not a word"),
    ("joint, new action plan", '"joint action plan"', F, "a word in between breaks a phrase"),
    ("Türkiye'nin hedefi", "Türkiye'nin", T, "a term of two words is a phrase"),
    (
        "energy corridors across the region",
        '"energy corridor*"',
        T,
        "a trailing * in a phrase is a prefix",
    ),
    # --- proximity on word positions
    ("trade with Turkic states", '"trade states"~2', T, "two words apart, slop 2"),
    ("trade between the five Turkic states", '"trade states"~2', F, "four apart, slop 2"),
    ("states boost trade", '"trade states"~1', F, "reversed order needs slop 2"),
    ("states trade", '"trade states"~2', T, "reversed order within slop 2"),
    ("trade states", '"trade states"~0', T, "slop 0 is an exact phrase"),
    # --- fields
    ({"title": "OTS summit", "summary": "weather"}, "title:OTS", T, "title field"),
    ({"title": "weather", "summary": "OTS summit"}, "title:OTS", F, "not in the title"),
    ({"title": "x", "summary": "diaspora news"}, "summary:diaspora", T, "summary field"),
    (
        {"content": "diaspora news"},
        "content:diaspora AND NOT title:diaspora",
        T,
        "content field, NOT on another field",
    ),
    (
        {"title": "Diaspora forum", "feed_id": "trend"},
        "feed:trend AND diaspora",
        T,
        "feed id field",
    ),
    ({"title": "Diaspora forum", "feed_id": "apa"}, "feed:trend AND diaspora", F, "another feed"),
    (
        {"title": "OTS", "url": "https://www.azertag.az/en/news/1"},
        "domain:azertag",
        T,
        "domain field from the URL",
    ),
    ({"title": "OTS", "lang": "tr"}, "lang:tr AND OTS", T, "lang field"),
    (
        {"title": "OTS", "author": "Aygün Əliyeva"},
        'author:"aygun eliyeva"',
        T,
        "author field, folded",
    ),
    (
        {"title": "Joint action plan", "summary": "x"},
        'title:"joint action plan"',
        T,
        "phrase in a field",
    ),
    (
        {"title": "joint", "summary": "action plan"},
        '"joint action plan"',
        F,
        "a phrase does not run across fields",
    ),
    # --- folding: case, diacritics, Turkish i, Azerbaijani ə, NFKC
    ("Türkiye aims higher", "Turkiye", T, "ü folds to u"),
    ("TÜRKİYE AIMS HIGHER", "Türkiye", T, "upper case with dotted İ"),
    ("İstanbul talks", "istanbul", T, "dotted capital İ is i"),
    ("ISTANBUL TALKS", "İstanbul", T, "dotless capital I is i"),
    ("ıstanbul talks", "Istanbul", T, "dotless small ı is i"),
    ("Azərbaycan Respublikası", "Azerbaycan", T, "Azerbaijani ə is e"),
    ("AZƏRBAYCAN", "azərbaycan", T, "capital Ə is e"),
    ("Ömüraliev spoke", "Omuraliev", T, "diacritics removed"),
    ("ｏｔｓ summit", "OTS", T, "full-width letters fold by NFKC"),
    ("café talk", "cafe", T, "accents removed"),
    ("Erdoğan'ın açıklaması", "Erdogan", T, "Turkish suffix after an apostrophe splits off"),
    # --- folding: Cyrillic transliterated to Latin
    ("Омуралиев выступил", "Omuraliev", T, "Russian Cyrillic matches the Latin term"),
    ("Кубанычбек Омуралиев", '"Kubanychbek Omuraliev"', T, "Kyrgyz name, ы = y, ч = ch"),
    ("Эрдоган заявил", "Erdogan", T, "э = e"),
    ("Қазақстан және Түркия", "Kazakstan", T, "Kazakh қ = k"),
    ("Ўзбекистон", "Ozbekiston", T, "Uzbek Cyrillic ў = o"),
    ("Oʻzbekiston Respublikasi", "Ozbekiston", T, "Uzbek Latin oʻ = o"),
    ("Хазар Ибрагим", '"Khazar Ibragim"', T, "х = kh where the spellings agree"),
    ("Хазар Ибрагим", '"Khazar Ibrahim"', F, "г = g, so Ibrahim needs its own alias"),
    ("ОТГ и диаспора", "диаспор*", T, "Cyrillic prefix"),
    ("ОТГ и диаспора", "diaspor*", T, "Latin prefix on Cyrillic text"),
    # --- entities and vetoes
    ("The Organization of Turkic States met", "entity:ots", T, "entity by its name"),
    ("Саммит ОТГ в Баку", "entity:ots", T, "entity by a Cyrillic alias"),
    ("the Turkic Council, as it was", "entity:ots", T, "entity by a former name"),
    ("Office of Thrift Supervision (OTS) report", "entity:ots", F, "not: vetoes a namesake"),
    ("off-the-shelf (OTS) software", "entity:ots", F, "a veto phrase matches across hyphens"),
    ("The OTS and the diaspora", "entity:ots AND diaspora", T, "entity inside AND"),
    ("Встреча с Омуралиевым", "entity:omuraliev", T, "alias* matches an inflected form"),
    ("Erdoğan met Omuraliev", "entity:erdogan AND entity:omuraliev", T, "two entities"),
    ("Omurali spoke", "entity:omuraliev", F, "a shorter word is not the alias"),
    # --- amounts in US dollars
    ("trade to reach $60 billion", "amount:[50e9 TO *]", T, "$60 billion"),
    ("a US$100bn target", "amount:[50e9 TO *]", T, "US$100bn"),
    ("some 60 bn dollars", "amount:[50e9 TO *]", T, "60 bn dollars"),
    ("ticaret 60 milyar dolar", "amount:[50e9 TO *]", T, "Turkish milyar dolar"),
    ("товарооборот 60 млрд долларов", "amount:[50e9 TO *]", T, "Russian млрд долларов"),
    ("investment of $6.8 billion", "amount:[50e9 TO *]", F, "$6.8 billion is below"),
    ("investment of $6.8 billion", "amount:[6e9 TO 7e9]", T, "a decimal amount in range"),
    ("a €60 billion fund", "amount:[50e9 TO *]", F, "euros are not dollars"),
    ("60 billion in trade", "amount:[50e9 TO *]", F, "a number without a currency"),
    ("C$60 billion", "amount:[50e9 TO *]", F, "Canadian dollars are not US dollars"),
    ("exactly $50 billion", "amount:{50e9 TO *]", F, "an exclusive lower bound"),
    ("exactly $50 billion", "amount:>=50bn", T, ">= with a scale word"),
    ("1,5 milyar dolar", "amount:[1e9 TO 2e9]", T, "a decimal comma"),
    ("60,000 dollars", "amount:[50000 TO 70000]", T, "a thousands separator"),
    ("trade to reach $60 billion", "amount:[50e9 TO *] AND trade", T, "amount with a word"),
    (
        "grain exports to reach $60 billion",
        "amount:[50e9 TO *] AND trade",
        F,
        "amount without the word",
    ),
]


def _entry(text: Any) -> Entry:
    if isinstance(text, str):
        return Entry(feed_id="test", id="1", summary=text)
    fields = {"feed_id": "test", "id": "1", **text}
    return Entry(**fields)


@pytest.mark.parametrize(
    ("text", "query", "expected"),
    [pytest.param(text, query, expected, id=why) for text, query, expected, why in CASES],
)
def test_case(text: Any, query: str, expected: bool) -> None:
    matcher = compile_rules(RuleSet((Rule(id="r", name="r", query=query),), ENTITIES))
    entry = _entry(text)
    hits = matcher.match(entry)
    assert bool(hits) is expected
    # The presearch index never hides a match the rule itself would make.
    assert bool(matcher.match_exhaustive(entry)) is expected
    for hit in hits:
        assert hit.matches, "every hit explains itself"
        for m in hit.matches:
            assert 0 <= m.start < m.end <= len(entry.field_text(m.field))


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 60
    assert len({why for *_, why in CASES}) == len(CASES), "each case says why, uniquely"
