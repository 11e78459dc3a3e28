"""Rule files: good ones load with file, line and version; bad ones are rejected with every
problem at once, each naming file:line:column."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.errors import ConfigError, RuleError
from monitor.rules import compile_rules, load_rules

from ..helpers import DATA, ROOT

RULES_DATA = DATA / "rules"


def _problems(*paths: Path) -> list[str]:
    with pytest.raises(RuleError) as caught:
        load_rules(list(paths))
    error = caught.value
    assert isinstance(error, ConfigError)
    assert str(error).startswith(f"{len(error.problems)} problem")
    for problem in error.problems:
        assert problem in str(error), "the message carries every problem"
    return list(error.problems)


def test_seeded_rules_load_and_compile() -> None:
    ruleset = load_rules([ROOT / "rules"])
    ids = {rule.id for rule in ruleset.rules}
    assert {
        "ots-diaspora",
        "turkic-trade-target",
        "omuraliev",
        "erdogan-turkic-states",
        "khazar-ibrahim",
        "fuad-muradov",
    } <= ids
    assert {e.id for e in ruleset.entities} >= {"ots", "turkic-world", "omuraliev", "erdogan"}
    assert any(rule.priority == "high" for rule in ruleset.rules)
    for rule in ruleset.rules:
        assert rule.file.endswith(".yaml")
        assert rule.line > 0
        assert len(rule.version) == 12
    files = {Path(rule.file).name for rule in ruleset.rules}
    assert {"ots-diaspora.yaml", "turkic-trade.yaml", "officials.yaml"} <= files
    matcher = compile_rules(ruleset)
    assert set(matcher.rules) == ids


def test_every_problem_is_reported_at_once_with_file_line_and_column() -> None:
    bad = RULES_DATA / "bad" / "problems.yaml"
    problems = _problems(RULES_DATA / "bad")
    expected = [
        f"{bad}:5:20: aliases entry '!!!' has no letter or digit",
        f"{bad}:6:5: unknown key 'nickname' in entity",
        f"{bad}:13:5: unknown key 'priorty' in rule",
        f"{bad}:15:32: rule 'unknown-entity': unknown entity 'omuraliyev'",
        f"{bad}:17:12: rule 'empty-query': empty query",
        f"{bad}:19:20: rule 'bad-syntax': syntax error: unexpected 'AND'",
        f"{bad}:21:28: rule 'unclosed': syntax error: query ends too early",
        f"{bad}:23:25: rule 'never': this part requires a term and its NOT at once, so it "
        "can never match",
        f"{bad}:25:12: rule 'only-not': the query has no term that must be present",
        f"{bad}:27:12: rule 'bad-field': unknown field 'headline'",
        f"{bad}:30:15: priority 'urgent' must be one of: normal, high",
        f"{bad}:33:14: enabled must be true or false",
        f"{bad}:34:5: rule has no 'id'",
        f"{bad}:36:9: duplicate rule id 'fine' (first defined at {bad}:8:9)",
        f"{bad}:41:17: rule 'block': unknown field 'heading'",  # inside a | block
        f"{bad}:45:7: rule 'fuzzy': fuzzy terms (word~N) are not supported",  # inside a >
    ]
    broken = RULES_DATA / "bad" / "broken.yaml"
    assert problems[0].startswith(f"{broken}:4:4: YAML syntax error")
    rest = problems[1:]
    assert len(rest) == len(expected)
    for got, want in zip(rest, expected, strict=True):
        assert got.startswith(want), (got, want)


def test_duplicate_ids_across_files() -> None:
    problems = _problems(RULES_DATA / "dup")
    a, b = RULES_DATA / "dup" / "a.yaml", RULES_DATA / "dup" / "b.yaml"
    assert problems == [
        f"{b}:2:9: duplicate entity id 'ots' (first defined at {a}:2:5)",
        f"{b}:5:9: duplicate rule id 'same' (first defined at {a}:5:9)",
    ]


def test_missing_paths_and_empty_directories(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    problems = _problems(tmp_path / "nope.yaml", empty)
    assert problems == [
        f"{tmp_path / 'nope.yaml'}:1:1: no such rule file or directory",
        f"{empty}:1:1: no *.yaml rule files in this directory",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "1:1: empty rule file"),
        ("- a\n- b\n", "1:1: rule file must be a mapping"),
        ("rules: {id: x}\n", "1:8: 'rules' must be a list"),
        ("rules:\n  - id: x\n    query: OTS\n    tags: ots\n", "4:11: tags must be a list"),
        ("rules:\n  - id: 'has space'\n    query: OTS\n", "2:9: rule id 'has space' must be"),
        ("rules:\n  - id: x\n", "2:5: rule 'x' has no 'query'"),
        ("rules:\n  - id: x\n    query: OTS\n    query: BOTS\n", "4:5: duplicate key 'query'"),
        (
            "rules:\n  - id: x\n    query: 'title:(a OR b:c)'\n",
            "3:25: rule 'x': field b: inside field title: is not allowed",
        ),
        (
            "rules:\n  - id: x\n    query: 'amount:[5 TO 1]'\n",
            "3:20: rule 'x': amount range [5 TO 1] is empty",
        ),
        ("rules:\n  - id: x\n    query: 'diaspor?'\n", "3:13: rule 'x': only a trailing *"),
        ("rules:\n  - id: x\n    query: '\"unclosed'\n", "3:13: rule 'x': syntax error: unclosed"),
    ],
)
def test_single_problems(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(text, encoding="utf-8")
    problems = _problems(path)
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:{message}"), problems[0]


def _version(tmp_path: Path, body: str) -> str:
    path = tmp_path / "v.yaml"
    path.write_text(body, encoding="utf-8")
    return load_rules([path]).rules[0].version


def test_version_tracks_what_a_rule_matches(tmp_path: Path) -> None:
    entity = "entities:\n  - id: e\n    name: Omuraliev\n    aliases: [{aliases}]\n"
    rule = "rules:\n  - id: r\n    name: {name}\n    query: {query}\n    tags: [{tag}]\n"
    base = _version(
        tmp_path,
        entity.format(aliases="Омуралиев")
        + rule.format(name="A", query="entity:e AND diaspora", tag="x"),
    )
    same = [
        entity.format(aliases="Омуралиев")
        + rule.format(name="B", query="entity:e  AND   diaspora", tag="y"),  # name, tags, spaces
        entity.format(aliases="Омуралиев")
        + rule.format(name="A", query="diaspora AND entity:e", tag="x"),  # operand order
        entity.format(aliases="Омуралиев")
        + rule.format(name="A", query="entity:e AND Diaspora", tag="x"),  # case folds away
    ]
    for body in same:
        assert _version(tmp_path, body) == base
    changed = [
        entity.format(aliases="Омуралиев, Omuraliyev")
        + rule.format(name="A", query="entity:e AND diaspora", tag="x"),  # an alias added
        entity.format(aliases="Омуралиев")
        + rule.format(name="A", query="entity:e AND diaspor*", tag="x"),  # the query
        entity.format(aliases="Омуралиев")
        + rule.format(name="A", query="entity:e AND diaspora", tag="x")
        + "    feeds: [trend]\n",
    ]
    for body in changed:
        assert _version(tmp_path, body) != base


def test_rule_fields_are_read(tmp_path: Path) -> None:
    path = tmp_path / "r.yml"
    path.write_text(
        "rules:\n"
        "  - id: one\n"
        "    name: The first\n"
        "    query: OTS\n"
        "    tags: [ots, diaspora]\n"
        "    priority: high\n"
        "    feeds: [trend, apa]\n"
        "    enabled: false\n"
        "  - id: two\n"
        "    query: diaspora\n",
        encoding="utf-8",
    )
    one, two = load_rules([tmp_path]).rules
    assert (one.id, one.name, one.query, one.tags, one.priority, one.feeds, one.enabled) == (
        "one",
        "The first",
        "OTS",
        ("ots", "diaspora"),
        "high",
        ("trend", "apa"),
        False,
    )
    assert (one.file, one.line, two.line) == (str(path), 2, 9)
    assert (two.name, two.priority, two.enabled, two.feeds) == ("two", "normal", True, ())


def test_many_rules_load_and_compile(tmp_path: Path) -> None:
    lines = ["rules:"]
    for i in range(2_000):
        lines.append(f"  - id: r{i}\n    query: 'w{i} AND (\"a{i} b{i}\" OR c{i}*) NOT d{i}'")
    path = tmp_path / "many.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    matcher = compile_rules(load_rules([path]))
    assert len(matcher.rules) == 2_000


def test_an_alias_that_folds_to_one_letter_or_nothing_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_text(
        "entities:\n"
        "  - id: e\n"
        "    name: Ü\n"
        '    aliases: [Aliyev, "A", "=", "ʻ", "Ə*", "=Aliyev", "Ъ"]\n'
        "    not: [x, Emine Aliyeva]\n"
        "rules:\n"
        "  - id: r\n"
        "    query: entity:e\n",
        encoding="utf-8",
    )
    problems = _problems(path)
    assert problems == [
        f"{path}:3:11: entity name 'Ü' folds to the single letter 'u', so it would match "
        "almost every item; write the whole name",
        f"{path}:4:23: aliases entry 'A' folds to the single letter 'a', so it would match "
        "almost every item; write the whole name",
        f"{path}:4:28: aliases entry '=' has no letter or digit, so it can never match",
        f"{path}:4:33: aliases entry 'ʻ' has no letter or digit, so it can never match",
        f"{path}:4:38: aliases entry 'Ə*' folds to the single letter 'e', so it would match "
        "almost every item; write the whole name",
        f"{path}:4:55: aliases entry 'Ъ' has no letter or digit, so it can never match",
        f"{path}:5:11: not entry 'x' folds to the single letter 'x', so it would match "
        "almost every item; write the whole name",
    ]
