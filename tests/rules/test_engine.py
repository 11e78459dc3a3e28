"""The matcher: spans into the original text, feeds, enabled, priorities, and the presearch
index never hiding a hit."""

from __future__ import annotations

import random
from collections.abc import Iterable

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.model import Entity, Entry, Rule, RuleSet
from monitor.rules import compile_rules
from monitor.rules.engine import RuleMatcher
from monitor.rules.item import Item
from monitor.rules.presearch import rule_keys
from monitor.rules.query import parse_query
from monitor.rules.tables import Forms, Prefixes, TextWords
from monitor.rules.text import fold, tokens, tokens_with_spans

from ..helpers import an_entry


def _spans(entry: Entry, query: str, entities: tuple[Entity, ...] = ()) -> list[tuple[str, str]]:
    matcher = compile_rules(RuleSet((Rule(id="r", name="r", query=query),), entities))
    (hit,) = matcher.match(entry)
    return [(m.field, entry.field_text(m.field)[m.start : m.end]) for m in hit.matches]


def test_spans_point_into_the_original_text_in_every_script() -> None:
    entry = an_entry(
        title="İSTANBUL: Ömüraliev meets Erdoğan",
        summary="Кубанычбек Омуралиев и Эрдоган обсудили торговлю на $60 billion.",
    )
    assert _spans(entry, "istanbul") == [("title", "İSTANBUL")]
    assert _spans(entry, "omuraliev") == [("title", "Ömüraliev"), ("summary", "Омуралиев")]
    assert _spans(entry, '"kubanychbek omuraliev"') == [("summary", "Кубанычбек Омуралиев")]
    assert _spans(entry, "erdog*") == [("title", "Erdoğan"), ("summary", "Эрдоган")]
    assert _spans(entry, "amount:[50e9 TO *]") == [("summary", "$60 billion")]


def test_spans_of_every_term_that_matched_but_none_under_not() -> None:
    entry = an_entry(
        title="OTS diaspora forum",
        summary="The OTS met diaspora groups; the diaspora thanked the OTS.",
    )
    spans = _spans(entry, "OTS AND (diaspora OR football) AND NOT sport")
    assert spans == [
        ("title", "OTS"),
        ("summary", "OTS"),
        ("summary", "OTS"),
        ("title", "diaspora"),
        ("summary", "diaspora"),
        ("summary", "diaspora"),
    ]


def test_proximity_and_entity_spans() -> None:
    ots = Entity("ots", "Organization of Turkic States", ("OTS",))
    entry = an_entry(summary="Trade between Türkiye and the Turkic states grew; the OTS noted it.")
    assert _spans(entry, '"trade states"~5') == [("summary", "Trade"), ("summary", "states")]
    assert _spans(entry, '"turkic states"') == [("summary", "Turkic states")]
    assert _spans(entry, "entity:ots", (ots,)) == [("summary", "OTS")]


def test_feeds_enabled_priority_and_version_are_respected() -> None:
    rules = (
        Rule(id="any", name="any", query="OTS", version="v1"),
        Rule(id="trend-only", name="t", query="OTS", feeds=("trend",), priority="high"),
        Rule(id="off", name="off", query="OTS", enabled=False),
    )
    matcher = compile_rules(RuleSet(rules))
    assert set(matcher.rules) == {"any", "trend-only", "off"}
    on_apa = matcher.match(Entry(feed_id="apa", id="1", title="OTS"))
    on_trend = matcher.match(Entry(feed_id="trend", id="2", title="OTS"))
    assert [h.rule_id for h in on_apa] == ["any"]
    assert [(h.rule_id, h.priority) for h in on_trend] == [
        ("any", "normal"),
        ("trend-only", "high"),
    ]
    assert on_apa[0].rule_version == "v1"
    assert on_apa[0].terms == ("OTS",)


def test_a_rule_with_only_negative_terms_has_no_presearch_keys() -> None:
    assert rule_keys(parse_query("NOT sport"), {}) is None
    assert rule_keys(parse_query("a OR NOT b"), {}) is None
    assert rule_keys(parse_query("a AND NOT b"), {}) == frozenset({("w", "a")})
    # AND needs only its most selective child; OR needs every child.
    assert rule_keys(parse_query("the AND diaspora"), {}) == frozenset({("w", "diaspora")})
    assert rule_keys(parse_query('a OR "b c"'), {}) == frozenset({("w", "a"), ("w", "b")})


# --- the presearch index must never drop a hit: compare with evaluating every rule

WORDS = [
    "ots",
    "diaspora",
    "trade",
    "turkic",
    "states",
    "baku",
    "summit",
    "plan",
    "the",
    "of",
    "Türkiye",
    "Омуралиев",
    "omuraliev",
    "joint",
    "action",
    "$60 billion",
    "60 milyar dolar",
]


def _random_query(rng: random.Random, depth: int = 0) -> str:
    kind = rng.random()
    word = rng.choice(WORDS[:15]).split()[0]
    if depth > 2 or kind < 0.3:
        return word
    if kind < 0.4:
        return f'"{word} {rng.choice(WORDS[:15])}"' + (
            f"~{rng.randint(1, 4)}" if rng.random() < 0.5 else ""
        )
    if kind < 0.5:
        return f"{word[:3]}*"
    if kind < 0.55:
        return "amount:[5e10 TO *]"
    if kind < 0.6:
        return f"title:{word}"
    if kind < 0.65:
        return "entity:e"
    op = rng.choice(["AND", "OR", "AND NOT", ""])
    return f"({_random_query(rng, depth + 1)} {op} {_random_query(rng, depth + 1)})"


def _parses(query: str) -> bool:
    try:
        parse_query(query)
    except ValueError:
        return False
    return True


def _presearch_rules(queries: Iterable[str]) -> tuple[Rule, ...]:
    """A rule for each query that gives the presearch index keys or names an entity."""
    return tuple(
        Rule(id=f"r{i}", name=f"r{i}", query=query)
        for i, query in enumerate(queries)
        if rule_keys(parse_query(query), {}) is not None or "entity:" in query
    )


def _assert_presearch_loses_no_hit(
    rng: random.Random, rules: tuple[Rule, ...], entities: tuple[Entity, ...], words: list[str]
) -> None:
    """On twenty items made of `words`, the presearch index finds what evaluating every
    rule finds, with the same spans, and no span is blank."""
    matcher = compile_rules(RuleSet(rules, entities))
    for _ in range(20):
        title = " ".join(rng.choice(words) for _ in range(rng.randint(0, 6)))
        summary = " ".join(rng.choice(words) for _ in range(rng.randint(0, 25)))
        entry = an_entry(title=title, summary=summary)
        fast = [(h.rule_id, h.matches) for h in matcher.match(entry)]
        slow = [(h.rule_id, h.matches) for h in matcher.match_exhaustive(entry)]
        assert fast == slow, (title, summary)
        for _, matches in fast:
            for m in matches:
                assert entry.field_text(m.field)[m.start : m.end].strip()


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**9))
def test_presearch_never_loses_a_hit(seed: int) -> None:
    rng = random.Random(seed)
    entity = Entity("e", "Kubanychbek Omuraliev", ("OTS*", "joint action"), ("plan of",))
    queries = [_random_query(rng) for _ in range(40)]
    rules = _presearch_rules(query for query in queries if _parses(query))
    _assert_presearch_loses_no_hit(rng, rules, (entity,), WORDS)


def test_a_span_inside_a_longer_one_of_the_same_term_is_dropped() -> None:
    omuraliev = Entity("o", "Kubanychbek Omuraliev", ("Omuraliev*",))
    entry = an_entry(summary="Kubanychbek Omuraliev spoke. Omuraliev added.")
    assert _spans(entry, "entity:o", (omuraliev,)) == [
        ("summary", "Kubanychbek Omuraliev"),
        ("summary", "Omuraliev"),
    ]


# --- internals of the fast paths: each must agree with the plain way of doing the same


def _item(matcher: RuleMatcher, entry: Entry) -> Item:
    return matcher.item(entry)


def test_a_second_key_set_gates_candidates_without_losing_hits() -> None:
    matcher = compile_rules(
        RuleSet((Rule(id="g", name="g", query="(ots OR turkic) AND (diaspora OR summ*)"),))
    )
    only_first = an_entry(title="OTS leaders met")
    both = an_entry(id="2", title="OTS summit on the diaspora")
    prefix_only = an_entry(id="3", title="Turkic summitry")
    assert matcher.candidates(_item(matcher, only_first)) == []
    assert [h.rule_id for h in matcher.match(both)] == ["g"]
    assert [h.rule_id for h in matcher.match(prefix_only)] == ["g"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.sampled_from([*WORDS, "ots_x", "Ｏｔｓ", "ÇAY", "çay-ots", "diasporas"]), max_size=12
    ),
    st.sampled_from(["ots", "dias", "tur", "çay", "om", "z"]),
)
def test_prefix_search_and_joined_spans_agree_with_the_plain_way(
    words: list[str], prefix: str
) -> None:
    text = " ".join(words)
    entry = an_entry(
        title=text[: len(text) // 2],
        summary=text[len(text) // 2 :],
        content=text,
    )
    matcher = compile_rules(RuleSet((Rule(id="r", name="r", query=f"{prefix}*"),)))
    item = _item(matcher, entry)
    folded = tokens(f"{entry.title}\n{entry.summary}\n{entry.content}")
    assert item.has_start(fold(prefix)) == any(w.startswith(fold(prefix)) for w in folded)
    for word in set(folded):
        expected = []
        for name in ("title", "summary", "content"):
            toks, spans = tokens_with_spans(entry.field_text(name))
            expected += [
                (name, *span) for tok, span in zip(toks, spans, strict=True) if tok == word
            ]
        assert item.text_spans(word) == expected


def test_words_of_feed_author_and_domain_only_count_under_their_field() -> None:
    """A rule on `feed:trend` must not make the feed's name a word of every item's text."""
    rules = RuleSet(
        (
            Rule(id="by-feed", name="by feed", query="feed:trend AND summit"),
            Rule(id="plain", name="plain", query="trend"),
            Rule(id="prefix", name="prefix", query="tren*"),
            Rule(id="phrase", name="phrase", query='"trend news"'),
            Rule(id="author", name="author", query="author:aliyev*"),
        ),
        (),
    )
    matcher = compile_rules(rules)
    entry = Entry(
        feed_id="trend",
        id="1",
        feed_title="Trend News Agency",
        title="Summit in Budapest",
        author="R. Aliyeva",
    )
    for m in (matcher.match, matcher.match_exhaustive):
        hits = {h.rule_id: h for h in m(entry)}
        assert set(hits) == {"by-feed", "author"}
        assert [(t.field, entry.author[t.start : t.end]) for t in hits["author"].matches] == [
            ("author", "Aliyeva")
        ]
    worded = Entry(feed_id="other", id="2", title="A new trend in trade news")
    assert {h.rule_id for h in matcher.match(worded)} == {"plain", "prefix"}


# --- the same with inflected forms, names in other scripts, exact forms and vetoes

FORM_WORDS = [
    "Тюркский",
    "Тюркского",
    "совет",
    "совета",
    "Türk",
    "Türklerin",
    "Teşkilatı",
    "Teşkilatının",
    "devletleriyle",
    "Aliyev",
    "Алиевым",
    "Əliyevin",
    "Aliev",
    "Emine",
    "Erdoğan",
    "Эрдоганом",
    "ұйымы",
    "ұйымының",
    "Oʻzbekistonga",
    "trade",
    "the",
]
FORM_TERMS = [
    "Тюркский",
    "совет",
    "=совет",
    "Türk",
    "Teşkilatı",
    '"Тюркский совет"',
    '"=Тюркский совет"',
    '"Türk Devletleri"~2',
    "title:совет",
    "ұйымы",
    "Oʻzbekiston",
    "Aliyev",
    "entity:aliyev",
    "entity:erdogan",
    "trade",
]


def _random_form_query(rng: random.Random, depth: int = 0) -> str:
    if depth > 1 or rng.random() < 0.4:
        return rng.choice(FORM_TERMS)
    op = rng.choice(["AND", "OR", "AND NOT", ""])
    return f"({_random_form_query(rng, depth + 1)} {op} {_random_form_query(rng, depth + 1)})"


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**9))
def test_presearch_never_loses_a_hit_with_forms_names_and_vetoes(seed: int) -> None:
    rng = random.Random(seed)
    entities = (
        Entity("aliyev", "Ilham Aliyev", ("Aliyev", "Алиев", "=Aliyevs"), ("Mehriban Aliyeva",)),
        Entity("erdogan", "Recep Tayyip Erdoğan", ("Erdoğan", "Эрдоган*"), ("Emine Erdoğan",)),
    )
    rules = _presearch_rules(_random_form_query(rng) for _ in range(30))
    _assert_presearch_loses_no_hit(rng, rules, entities, FORM_WORDS)


def test_text_words_reads_a_text_alike_the_first_time_and_after() -> None:
    """The word table learns each word on its first read: what the text brings is the
    same before and after (a rule word met for the first time is one of the item's)."""
    vocab = dict.fromkeys(("trade", "turkic", "of"))
    table = TextWords(vocab.keys(), Prefixes({"diaspor", "tr"}), Forms(()))
    text = "Trade of the Turkic diaspora\nTrade"
    first = table.read(text)
    assert first == table.read(text)
    all_words, distinct, formed, words, starts = first
    assert all_words == ["trade", "of", "the", "turkic", "diaspora", "trade"]
    assert distinct == set(all_words)
    assert formed == {}
    assert words == {"trade", "turkic", "of"}
    assert starts == {"tr", "diaspor"}
