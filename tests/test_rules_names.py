"""Names across scripts, and vetoes that take away only what they hold.

An entity alias in one spelling finds the others the press uses (Aliyev, Aliev, Əliyev,
Алиев), names that only look alike stay apart, and a namesake veto ("Emine Erdoğan")
removes only the alias occurrences inside it."""

from __future__ import annotations

import pytest

from monitor.model import Entity, Entry, Rule, RuleSet
from monitor.rules import compile_rules
from monitor.rules.names import name_key
from monitor.rules.text import fold

#: (alias, text): the alias finds the text, both ways round.
SAME = [
    ("Aliyev", "Aliev"),
    ("Aliyev", "Əliyev"),
    ("Aliyev", "Алиев"),
    ("Aliev", "Əliyev"),
    ("Tokayev", "Токаев"),
    ("Tokayev", "Тоқаев"),
    ("Tokayev", "Tokaev"),
    ("Japarov", "Жапаров"),
    ("Mirziyoyev", "Мирзиёев"),
    ("Mirziyoyev", "Мирзиеев"),
    ("Ilham", "Ильхам"),
    ("Ilham", "İlham"),
    ("Erdoğan", "Ərdoğan"),
    ("Erdoğan", "Эрдоган"),
    ("Khazar", "Xəzər"),
    ("Khazar", "Hazar"),
]

#: (alias, text): names that only look alike.
APART = [
    ("Tokayev", "Токарев"),
    ("Nazarbayev", "Назаров"),
    ("Japarov", "Japan"),
    ("Aliyev", "alev"),  # Turkish for flame
]


def _entity_matches(alias: str, text: str) -> list[str]:
    entity = Entity("e", alias, ())
    matcher = compile_rules(RuleSet((Rule(id="r", name="r", query="entity:e"),), (entity,)))
    entry = Entry(feed_id="f", id="1", summary=f"Today {text} met the delegation.")
    hits = matcher.match(entry)
    assert [h.rule_id for h in hits] == [h.rule_id for h in matcher.match_exhaustive(entry)]
    return [entry.summary[m.start : m.end] for hit in hits for m in hit.matches]


@pytest.mark.parametrize(("alias", "text"), SAME, ids=[f"{a}={b}" for a, b in SAME])
def test_one_name_in_every_spelling(alias: str, text: str) -> None:
    assert name_key(fold(alias)) == name_key(fold(text))
    assert _entity_matches(alias, text) == [text]
    assert _entity_matches(text, alias) == [alias]


@pytest.mark.parametrize(("alias", "text"), APART, ids=[f"{a}!={b}" for a, b in APART])
def test_names_that_only_look_alike_stay_apart(alias: str, text: str) -> None:
    assert name_key(fold(alias)) != name_key(fold(text))
    assert _entity_matches(alias, text) == []
    assert _entity_matches(text.capitalize(), alias) == []


@pytest.mark.parametrize(
    ("alias", "text", "found"),
    [
        ("Aliyev", "Встреча с Алиевым в Баку", "Алиевым"),
        ("Aliyev", "Prezident İlham Əliyevin çıxışı", "Əliyevin"),
        ("Tokayev", "Тоқаевтың сапары", "Тоқаевтың"),
        ("Tokayev", "Президент Токаеву сообщили", "Токаеву"),
        ("Mirziyoyev", "Shavkat Mirziyoyevning tashrifi", "Mirziyoyevning"),
        ("Japarov", "Жапаровдун сапары", "Жапаровдун"),
        ("Ilham Aliyev", "Ильхамом Алиевым", "Ильхамом Алиевым"),
    ],
)
def test_a_name_in_one_spelling_finds_the_inflected_forms_of_the_others(
    alias: str, text: str, found: str
) -> None:
    entity = Entity("e", alias, ())
    matcher = compile_rules(RuleSet((Rule(id="r", name="r", query="entity:e"),), (entity,)))
    entry = Entry(feed_id="f", id="1", title=text)
    (hit,) = matcher.match(entry)
    assert [entry.title[m.start : m.end] for m in hit.matches] == [found]


def test_lower_case_alias_words_are_not_names() -> None:
    """Name keys are for names: an alias written in lower case is matched as written."""
    entity = Entity("e", "aliyev", ())
    matcher = compile_rules(RuleSet((Rule(id="r", name="r", query="entity:e"),), (entity,)))
    assert matcher.match(Entry(feed_id="f", id="1", summary="Aliev spoke")) == []
    assert matcher.match(Entry(feed_id="f", id="1", summary="Aliyev spoke"))


def test_an_exact_alias_has_no_other_spellings() -> None:
    entity = Entity("e", "=Aliyev", ())
    matcher = compile_rules(RuleSet((Rule(id="r", name="r", query="entity:e"),), (entity,)))
    assert matcher.match(Entry(feed_id="f", id="1", summary="Алиев spoke")) == []
    assert matcher.match(Entry(feed_id="f", id="1", summary="ALIYEV spoke"))


# --------------------------------------------------------------------------- vetoes

ERDOGAN = Entity(
    "erdogan",
    "Recep Tayyip Erdoğan",
    ("Erdogan*", "Эрдоган*"),
    ("Emine Erdoğan", "Bilal Erdoğan"),
)
TURKIC = Entity("turkic-world", "Turkic states", ("Turkic states",))
RULE = Rule(id="r", name="r", query="entity:erdogan AND entity:turkic-world")


def _hit(text: str, *, field: str = "summary") -> list[tuple[str, str]] | None:
    matcher = compile_rules(RuleSet((RULE,), (ERDOGAN, TURKIC)))
    entry = Entry(feed_id="f", id="1", **{field: text})
    hits = matcher.match(entry)
    assert [h.rule_id for h in hits] == [h.rule_id for h in matcher.match_exhaustive(entry)]
    if not hits:
        return None
    (hit,) = hits
    return [(m.term, entry.field_text(m.field)[m.start : m.end]) for m in hit.matches]


def test_a_vetoed_namesake_alone_does_not_match() -> None:
    assert _hit("Emine Erdoğan opened a fashion week with guests from the Turkic states") is None
    assert _hit("Эмине Эрдоган встретилась с женами лидеров; Turkic states") is None


def test_an_alias_outside_the_veto_still_matches_and_is_the_one_explained() -> None:
    text = "President Erdoğan and his wife Emine Erdoğan welcomed leaders of the Turkic states"
    assert _hit(text) == [
        ("entity:erdogan", "Erdoğan"),
        ("entity:turkic-world", "Turkic states"),
    ]
    before = text.index("Erdoğan")
    matcher = compile_rules(RuleSet((RULE,), (ERDOGAN, TURKIC)))
    (hit,) = matcher.match(Entry(feed_id="f", id="1", summary=text))
    spans = [(m.start, m.end) for m in hit.matches if m.term == "entity:erdogan"]
    assert spans == [(before, before + len("Erdoğan"))]


def test_the_veto_works_in_another_field_and_another_spelling() -> None:
    assert _hit("Президент Эрдоган и Эмине Эрдоган; Turkic states") == [
        ("entity:erdogan", "Эрдоган"),
        ("entity:turkic-world", "Turkic states"),
    ]
    assert _hit("Bilal Erdoğan'ın vakfı ve Turkic states") is None


def test_a_veto_without_an_alias_still_vetoes_the_whole_item() -> None:
    """'Office of Thrift Supervision' holds no alias of the OTS: it says what OTS means."""
    ots = Entity(
        "ots", "Organization of Turkic States", ("OTS",), ("Office of Thrift Supervision",)
    )
    matcher = compile_rules(RuleSet((Rule(id="r", name="r", query="entity:ots"),), (ots,)))
    text = "The Office of Thrift Supervision (OTS) closed; the OTS said it would appeal."
    assert matcher.match(Entry(feed_id="f", id="1", summary=text)) == []
    assert matcher.entities["ots"].contexts and not matcher.entities["ots"].namesakes
    assert compile_rules(RuleSet((RULE,), (ERDOGAN, TURKIC))).entities["erdogan"].namesakes
