"""The rule language, case by case: (text, query, matches?, why), in the table of
tests/data/rules/cases.yaml.

A text is either plain text (it goes into the summary) or a dict of Entry fields.
Each case compiles a one-rule set with the entities below, so it exercises the whole
path: query parsing, the presearch index, evaluation, folding and inflected forms.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from monitor.model import Entity, Entry, Rule, RuleSet
from monitor.rules import compile_rules

from ..helpers import DATA

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

TABLE = DATA / "rules" / "cases.yaml"
CASES: list[tuple[Any, str, bool, str]] = [
    (text, query, expected, why)
    for text, query, expected, why in yaml.safe_load(TABLE.read_text(encoding="utf-8"))
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
            assert entry.field_text(m.field)[m.start : m.end].strip(), "a span is some text"


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 60
    assert len({why for *_, why in CASES}) == len(CASES), "each case says why, uniquely"


def test_every_language_is_covered() -> None:
    """Inflected forms: each language's cases say so at the start of their why."""
    prefixes = {why.split(":")[0] for *_, why in CASES}
    assert {"ru", "tr", "az", "kk", "ky", "uz", "en"} <= prefixes
