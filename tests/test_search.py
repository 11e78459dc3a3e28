"""A rule query -> what the full-text index is asked: exact where it can be, wider where
it cannot (never narrower than the rule), and its FTS5 and tsquery texts."""

from __future__ import annotations

from monitor.archive import AllOf, AnyOf, Words
from monitor.model import Entity
from monitor.rules import parse_query
from monitor.rules.entities import compile_entity
from monitor.search import prefilter
from monitor.store.search import folded, fts5_query, tsquery

ENTITIES = {
    "omuraliev": compile_entity(
        Entity("omuraliev", "Kubanychbek Omuraliev", aliases=("Omuraliev*", "Омуралиев*"))
    )
}


def ask(query: str) -> object:
    return prefilter(parse_query(query), ENTITIES)


def test_terms_phrases_and_prefixes_are_asked_as_folded_words() -> None:
    assert ask("Türkiye") == Words(("turkiye",))
    assert ask("diaspor*") == Words(("diaspor",), prefix=True)
    assert ask('"joint action plan"') == Words(("joint", "action", "plan"), phrase=True)
    assert ask("title:OTS") == Words(("ots",), ("title",))
    assert ask("Омуралиев") == Words(("omuraliev",))


def test_and_or_keep_their_shape_and_entities_ask_for_any_alias() -> None:
    assert ask("OTS AND (diaspora OR Kazan)") == AllOf(
        (Words(("ots",)), AnyOf((Words(("diaspora",)), Words(("kazan",)))))
    )
    entity = ask("entity:omuraliev")
    assert isinstance(entity, AnyOf)
    assert Words(("omuraliev",), prefix=True) in entity.parts
    assert Words(("kubanychbek", "omuraliev"), phrase=True) in entity.parts


def test_what_the_index_cannot_tell_widens_the_question() -> None:
    assert ask("diaspora AND NOT sport") == Words(("diaspora",))
    assert ask("amount:>=1e9") is None
    assert ask("diaspora OR amount:>=1e9") is None  # an OR with an unknown side: anything
    assert ask("author:smith AND OTS") == Words(("ots",))
    assert ask('"trade target"~3') == Words(("trade", "target"), phrase=False)


def test_the_index_texts() -> None:
    question = AllOf((Words(("ots",), ("title",)), Words(("diaspor",), prefix=True)))
    assert fts5_query(question) == '({title} : ("ots") AND {title summary content} : ("diaspor"*))'
    assert tsquery(question) == "(('ots':A) & ('diaspor':*))"
    phrase = AnyOf((Words(("a", "b"), phrase=True, prefix=True), Words(("c",))))
    assert (
        fts5_query(phrase)
        == '({title summary content} : "a b"* OR {title summary content} : ("c"))'
    )
    assert tsquery(phrase) == "(('a' <-> 'b':*) | ('c'))"


def test_the_index_holds_text_folded_as_the_rules_fold_it() -> None:
    assert folded("Кубанычбек Омуралиев, İstanbul'da!") == "kubanychbek omuraliev istanbul da"
