"""Entities: an item tests only the aliases whose gate it holds, and finds the same ones."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.model import Entity, Entry, Rule, RuleSet
from monitor.rules import compile_rules
from monitor.rules.entities import alias_gates, compile_entity
from monitor.rules.presearch import rule_keys
from monitor.rules.query import parse_query

OTS = Entity(
    "ots",
    "Organization of Turkic States",
    ("Turkic Council", "OTS", "Türk Devletleri Teşkilatı", "Организация тюркских государств"),
)
TOKAYEV = Entity("tokayev", "Kassym-Jomart Tokayev", ("Tokayev*", "To'qayev*", "Токаев"))
ENTITIES = (OTS, TOKAYEV)


def test_an_alias_is_gated_on_its_longest_need_never_on_a_common_short_word() -> None:
    gates = alias_gates(compile_entity(e) for e in ENTITIES)
    prefixes = {p for refs in gates.by_prefix.values() for p, _ in refs}
    gated = set(gates.by_word) | prefixes
    assert "of" not in gated  # "Organization of Turkic States"
    assert "to" not in gated  # "To'qayev*" is the words "to" and "qayev*"
    assert "qayev" in prefixes
    assert "organization" in gates.by_word


def test_a_prefix_alias_after_a_common_word_is_keyed_on_the_prefix() -> None:
    entities = {"tokayev": compile_entity(TOKAYEV)}
    keys = rule_keys(parse_query("entity:tokayev"), entities)
    assert keys is not None
    assert ("w", "to") not in keys
    assert ("p", "qayev") in keys


WORDS = [
    "Organization",
    "of",
    "Turkic",
    "States",
    "Council",
    "city",
    "council",
    "OTS",
    "To'qayev",
    "Tokayevs",
    "Токаева",
    "Организации",
    "тюркских",
    "государств",
    "to",
    "the",
]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.sampled_from(WORDS), max_size=14))
def test_the_gated_aliases_are_the_ones_a_full_scan_finds(words: list[str]) -> None:
    matcher = compile_rules(
        RuleSet(
            (
                Rule(id="either", name="either", query="entity:ots OR entity:tokayev"),
                Rule(id="both", name="both", query="entity:ots AND entity:tokayev"),
            ),
            ENTITIES,
        )
    )
    entry = Entry(feed_id="f", id="1", title=" ".join(words[:4]), summary=" ".join(words[4:]))
    item = matcher.item(entry)
    for entity in matcher.entities.values():
        scanned = tuple(alias for alias in entity.aliases if item.has_words(alias))
        assert item.present_aliases(entity) == scanned
    hits = {h.rule_id for h in matcher.match(entry)}
    present = {e.id for e in matcher.entities.values() if item.present_aliases(e)}
    assert ("either" in hits) == bool(present)
    assert ("both" in hits) == (present == {"ots", "tokayev"})


def test_most_items_of_general_news_hold_no_alias_gate() -> None:
    matcher = compile_rules(
        RuleSet((Rule(id="r", name="r", query="entity:ots OR entity:tokayev"),), ENTITIES)
    )
    item = matcher.item(Entry(feed_id="f", id="1", title="The city council met to vote"))
    matcher.candidates(item)  # the item's prefixes are known from here on
    assert not item.maybe_entities(frozenset({"tokayev"}))  # no gate word, no prefix
    assert matcher.match(item.entry) == []


#: Entity-only queries, answered from the set of entities an item holds.
ENTITY_QUERIES = {
    "ots-alone": (
        "entity:ots AND NOT entity:tokayev",
        lambda held: "ots" in held and "tokayev" not in held,
    ),
    "one-of-two": (
        "(entity:ots OR entity:tokayev) AND NOT (entity:ots AND entity:tokayev)",
        lambda held: len(held) == 1,
    ),
    "both": ("entity:tokayev AND NOT NOT entity:ots", lambda held: len(held) == 2),
    "unknown": ("entity:ots AND entity:nobody", lambda held: False),
}


@settings(max_examples=80, deadline=None)
@given(st.lists(st.sampled_from(WORDS), max_size=14))
def test_entity_only_queries_follow_the_entities_an_item_holds(words: list[str]) -> None:
    matcher = compile_rules(
        RuleSet(
            tuple(Rule(id=i, name=i, query=q) for i, (q, _) in ENTITY_QUERIES.items()),
            ENTITIES,
        )
    )
    entry = Entry(feed_id="f", id="1", title=" ".join(words[:4]), summary=" ".join(words[4:]))
    item = matcher.item(entry)
    held = {e.id for e in matcher.entities.values() if item.entity(e)}
    assert item.entity_ids() == held
    hits = {h.rule_id for h in matcher.match_exhaustive(entry)}
    assert hits == {i for i, (_, holds) in ENTITY_QUERIES.items() if holds(held)}
    for entity in matcher.entities.values():  # a held entity is among those it may hold
        assert entity.id not in held or item.maybe_entities(frozenset({entity.id}))
