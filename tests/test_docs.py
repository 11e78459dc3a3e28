"""The README stays true: every command and option is in it, each command has help, and
every query it shows, like every rule file shipped in rules/, compiles."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from monitor.cli import cli
from monitor.model import Entity, Rule, RuleSet
from monitor.rules import compile_rules, load_rules, parse_query

from .helpers import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def commands(
    group: click.Group = cli, prefix: str = "monitor"
) -> Iterator[tuple[str, click.Command]]:
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        path = f"{prefix} {name}"
        yield path, command
        if isinstance(command, click.Group):
            yield from commands(command, path)


ALL = list(commands())


def test_there_are_commands_to_check() -> None:
    names = {path for path, _ in ALL}
    assert {"monitor run", "monitor check", "monitor rules test", "monitor feeds export"} <= names


@pytest.mark.parametrize(("path", "command"), ALL, ids=[p for p, _ in ALL])
def test_every_command_has_help_and_is_in_the_readme(path: str, command: click.Command) -> None:
    assert (command.help or "").strip(), f"{path} has no help text"
    assert f"`{path}" in README, f"the README does not show `{path}`"


OPTIONS = [
    (path, opt)
    for path, command in [("monitor", cli), *ALL]
    for param in command.params
    if isinstance(param, click.Option)
    for opt in param.opts
    if opt.startswith("--") and opt != "--help"
]


@pytest.mark.parametrize(("path", "option"), OPTIONS, ids=[f"{p} {o}" for p, o in OPTIONS])
def test_every_option_is_in_the_readme(path: str, option: str) -> None:
    assert re.search(rf"{re.escape(option)}\b", README), f"README does not mention {option}"


@pytest.mark.parametrize(("path", "command"), ALL, ids=[p for p, _ in ALL])
def test_every_option_has_help(path: str, command: click.Command) -> None:
    for param in command.params:
        if isinstance(param, click.Option):
            assert (param.help or "").strip(), f"{path} {param.opts[0]} has no help text"


# --------------------------------------------------------------------------- queries


def readme_queries() -> list[str]:
    """The queries in the README's query table: each `backticked` text in its first column."""
    section = README.split("| query | means |", 1)[1].split("\n\n", 1)[0]
    queries: list[str] = []
    for row in section.splitlines()[2:]:
        first = row.split("|")[1]
        queries.extend(re.findall(r"`([^`]+)`", first))
    return queries


def readme_rule_blocks() -> list[str]:
    return [
        block
        for block in re.findall(r"```yaml\n(.*?)```", README, re.S)
        if "rules:" in block or "entities:" in block
    ]


def test_the_readme_shows_queries_and_rules() -> None:
    assert len(readme_queries()) >= 8
    assert readme_rule_blocks()


@pytest.mark.parametrize("query", readme_queries())
def test_every_readme_query_parses(query: str) -> None:
    parse_query(query)


def test_readme_queries_with_entities_compile() -> None:
    """Every query of the table compiles as a rule, next to the README's own entity."""
    entities = (Entity(id="omuraliev", name="Kubanychbek Omuraliev", aliases=("Omuraliev*",)),)
    rules = tuple(
        Rule(id=f"q{i}", name=query, query=query) for i, query in enumerate(readme_queries())
    )
    assert len(compile_rules(RuleSet(rules=rules, entities=entities))) == len(rules)


@pytest.mark.parametrize("block", readme_rule_blocks())
def test_every_readme_rule_file_loads(block: str, tmp_path: Path) -> None:
    path = tmp_path / "example.yaml"
    path.write_text(block, encoding="utf-8")
    ruleset = load_rules([path, *_stub_entities(block, tmp_path)])
    compile_rules(ruleset)
    assert ruleset.rules or ruleset.entities


def _stub_entities(block: str, folder: Path) -> list[Path]:
    """A file defining the entities an example refers to but does not define itself."""
    defined = set(re.findall(r"^\s*- id: ([\w-]+)", block, re.M))
    wanted = sorted(set(re.findall(r"entity:([\w-]+)", block)) - defined)
    if not wanted:
        return []
    stub = folder / "entities.yaml"
    lines = ["entities:"] + [f"  - {{id: {e}, name: {e}, aliases: [{e}]}}" for e in wanted]
    stub.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [stub]


def test_the_shipped_rules_compile() -> None:
    ruleset = load_rules([ROOT / "rules"])
    assert len(compile_rules(ruleset)) == sum(1 for r in ruleset.rules if r.enabled)
