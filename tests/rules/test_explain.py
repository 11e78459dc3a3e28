"""The pure helpers behind `monitor rules test`: JSON lines in, explanations out."""

from __future__ import annotations

import json

import pytest

from monitor.errors import MonitorError
from monitor.model import Entity, Entry, Rule, RuleSet
from monitor.rules import compile_rules
from monitor.rules.explain import entries_from_jsonl, explain_json, format_hits, snippet

RULES = RuleSet(
    (
        Rule(
            id="ots-diaspora",
            name="OTS and the diaspora",
            query="entity:ots AND diaspor*",
            priority="high",
        ),
        Rule(id="trade", name="trade", query="amount:[50e9 TO *] AND trade"),
    ),
    (Entity("ots", "Organization of Turkic States", ("OTS", "ОТГ")),),
)


def test_entries_from_jsonl_reads_items_and_skips_blank_lines() -> None:
    lines = [
        '{"id": "a", "title": "OTS", "summary": "s", "content": "c", "feed": "trend"}\n',
        "\n",
        '{"id": 7, "title": "x", "extra": [1, 2]}\n',
    ]
    first, second = entries_from_jsonl(lines)
    assert (first.id, first.title, first.summary, first.content, first.feed_id) == (
        "a",
        "OTS",
        "s",
        "c",
        "trend",
    )
    assert (second.id, second.title, second.summary, second.feed_id) == ("7", "x", "", "")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 2: not valid JSON"),
        ("[1, 2]", "line 2: expected a JSON object"),
        ('{"title": "no id"}', 'line 2: every item needs an "id"'),
        ('{"id": "x", "title": 5}', 'line 2: "title" must be text'),
    ],
)
def test_bad_lines_name_their_number(line: str, message: str) -> None:
    with pytest.raises(MonitorError) as caught:
        list(entries_from_jsonl(['{"id": "ok"}', line]))
    assert str(caught.value).startswith(message)


def test_explain_json_gives_rules_terms_and_spans() -> None:
    matcher = compile_rules(RULES)
    entries = [
        Entry(feed_id="f", id="1", title="ОТГ и диаспора"),
        Entry(feed_id="f", id="2", title="Trade may reach $60 billion"),
        Entry(feed_id="f", id="3", title="Weather in Baku"),
    ]
    out = list(explain_json(matcher, entries))
    assert json.loads(json.dumps(out, ensure_ascii=False)) == out  # plain JSON data
    assert out[0] == {
        "id": "1",
        "hits": [
            {
                "rule": "ots-diaspora",
                "terms": ["entity:ots", "diaspor*"],
                "spans": [
                    {"term": "entity:ots", "field": "title", "start": 0, "end": 3, "text": "ОТГ"},
                    {
                        "term": "diaspor*",
                        "field": "title",
                        "start": 6,
                        "end": 14,
                        "text": "диаспора",
                    },
                ],
            }
        ],
    }
    assert [h["rule"] for h in out[1]["hits"]] == ["trade"]
    assert out[1]["hits"][0]["spans"][0]["text"] == "$60 billion"
    assert out[2] == {"id": "3", "hits": []}


def test_format_hits_names_rule_terms_and_highlights() -> None:
    matcher = compile_rules(RULES)
    entry = Entry(
        feed_id="f",
        id="1",
        title="OTS meets the diaspora",
        summary="A long text " * 10 + "where the OTS spoke to diaspora groups.",
    )
    text = format_hits(entry, matcher.match(entry), matcher.rules)
    lines = text.splitlines()
    assert lines[0] == "OTS meets the diaspora"
    assert lines[1] == "  ots-diaspora (OTS and the diaspora) [high]"
    assert lines[2] == "    terms: entity:ots, diaspor*"
    assert "    title: «OTS» meets the diaspora" in lines
    assert any(line.startswith("    summary: …") and "«OTS»" in line for line in lines)
    nothing = Entry(feed_id="f", id="2", title="Weather")
    assert format_hits(nothing, [], matcher.rules) == "Weather\n  no rule matches"


def test_snippet_marks_the_match_and_trims_on_word_boundaries() -> None:
    text = "one two three four five six seven"
    assert snippet(text, 14, 18, width=6) == "…three «four» five…"
    assert snippet("OTS", 0, 3) == "«OTS»"
