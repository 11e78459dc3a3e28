"""YAML loading: positions in errors, and bounds on what a small file may cost."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import load_settings
from monitor.errors import ConfigError
from monitor.rules import load_rules
from monitor.yamlfile import MAX_DEPTH, YamlError, compose, construct

LAUGHS = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)]
)


def test_values_and_positions() -> None:
    root = compose("a: 1\nb: [x, true]\n", "f.yaml")
    assert construct(root, "f.yaml") == {"a": 1, "b": ["x", True]}
    assert construct(compose("", "f.yaml"), "f.yaml") is None


def test_syntax_error_names_file_line_and_column() -> None:
    with pytest.raises(YamlError) as info:
        compose("a: 1\nb: [x\n", "f.yaml")
    assert str(info.value).startswith("f.yaml:3:1: YAML error:")
    assert (info.value.line, info.value.column) == (3, 1)


def test_alias_bomb_is_refused_without_expanding() -> None:
    assert len(LAUGHS) < 1024
    with pytest.raises(YamlError, match="aliases expand to more than"):
        compose(LAUGHS, "bomb.yaml")


def test_a_few_aliases_are_fine() -> None:
    text = "base: &b {x: 1}\none: *b\ntwo: *b\n"
    assert construct(compose(text, "f.yaml"), "f.yaml")["two"] == {"x": 1}


@pytest.mark.parametrize("opening", ["[", "{a: "])
def test_deep_nesting_is_refused(opening: str) -> None:
    closing = "]" if opening == "[" else "}"
    text = opening * 3000 + "1" + closing * 3000
    with pytest.raises(YamlError, match=f"deeper than {MAX_DEPTH}"):
        compose(text, "deep.yaml")


def test_config_and_rule_files_report_bombs_as_one_line(tmp_path: Path) -> None:
    config = tmp_path / "monitor.yaml"
    config.write_text(LAUGHS)
    with pytest.raises(ConfigError) as info:
        load_settings(config, {})
    assert info.value.problems == (str(info.value),)
    assert str(info.value).startswith(f"{config}:1:1: YAML error")
    rules = tmp_path / "deep.yaml"
    rules.write_text("rules: " + "[" * 3000 + "]" * 3000)
    with pytest.raises(ConfigError) as rule_info:
        load_rules([rules])
    assert "deeper than" in rule_info.value.problems[0]
    assert rule_info.value.problems[0].startswith(f"{rules}:")
