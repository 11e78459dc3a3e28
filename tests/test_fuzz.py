"""No input makes a traceback: random arguments, config files, rule files and queries end
in a result or in one of our MonitorErrors, never in another exception.

In-process (click's CliRunner, the loaders, the query parser) for speed; tests/
test_cli_errors.py runs the CLI as a real process for the cases users met. Bounded: a
hundred or two examples each, no deadline (the machine is shared)."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor import checks
from monitor.cli import cli
from monitor.config import load_settings
from monitor.errors import MonitorError
from monitor.rules import compile_rules
from monitor.rules.load import check_rules
from monitor.rules.query import QueryError, parse_query

from .helpers import DAILY_FILE, ROOT, SAMPLE_CONFIG

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

RULES = """\
entities:
  - id: ots
    name: Organization of Turkic States
    aliases: [OTS, Turkic Council]
rules:
  - id: ots
    query: entity:ots AND (summit OR diaspora)
    tags: [ots]
  - id: trade
    query: trade AND amount:[1e9 TO *]
    priority: high
"""

CONFIG = SAMPLE_CONFIG + DAILY_FILE  # its rules: rules/ next to it, the default


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A small project: one rule file, the shipped templates, the bundled feed polled once."""
    root = tmp_path_factory.mktemp("fuzz")
    (root / "rules").mkdir()
    (root / "rules" / "topics.yaml").write_text(RULES, encoding="utf-8")
    shutil.copytree(ROOT / "templates", root / "templates")
    (root / "monitor.yaml").write_text(CONFIG, encoding="utf-8")
    result = invoke(root, "poll")
    assert result.exit_code == 0, result.output
    yield root


def _clean_env() -> dict[str, str | None]:
    """Unset every MONITOR_* variable of the outer environment for the run."""
    return {k: None for k in os.environ if k.startswith("MONITOR_")}


def invoke(project: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    runner = CliRunner()
    return runner.invoke(
        cli,
        ["--config", str(project / "monitor.yaml"), *args],
        env={**_clean_env(), **(env or {})},
        catch_exceptions=True,
    )


def assert_no_crash(result: Any) -> None:
    """Exit 0, 1 or 2 through SystemExit; any other exception is a bug."""
    error = result.exception
    if error is not None and not isinstance(error, SystemExit):
        raise AssertionError(f"{type(error).__name__}: {error}") from error
    assert result.exit_code in (0, 1, 2), result.output
    assert "Traceback" not in result.stderr


# --------------------------------------------------------------------------- CLI

durations = st.one_of(
    st.text(max_size=12),
    st.from_regex(r"\A-?[0-9]{1,14}(\.[0-9]{1,3})?\s?(ms|s|m|h|d|w)?\Z"),
    st.sampled_from(["abc", "-5d", "99999999999d", "1e400", "nan", "inf", "0", "30d", "10y"]),
)


@FUZZ
@given(value=durations)
def test_cli_since_any_value(project: Path, value: str) -> None:
    assert_no_crash(invoke(project, "rules", "test", "--since", value))


@FUZZ
@given(value=durations)
def test_cli_health_max_age_any_value(project: Path, value: str) -> None:
    assert_no_crash(invoke(project, "health", "--max-age", value))


@settings(max_examples=60, deadline=None)
@given(digest_id=st.text(max_size=20))
def test_cli_digest_any_id(project: Path, digest_id: str) -> None:
    assert_no_crash(invoke(project, "digest", "--dry-run", "--", digest_id))


@FUZZ
@given(text=st.text(max_size=200), as_json=st.booleans())
def test_cli_rules_test_any_text(project: Path, text: str, as_json: bool) -> None:
    args = ["rules", "test", *(["--json"] if as_json else []), "--", text]
    assert_no_crash(invoke(project, *args))


@FUZZ
@given(lines=st.lists(st.binary(max_size=80) | st.just(b'{"id": "x", "title": "OTS summit"}')))
def test_cli_items_any_bytes(project: Path, lines: list[bytes]) -> None:
    items = project / "items.jsonl"
    items.write_bytes(b"\n".join(lines))
    assert_no_crash(invoke(project, "rules", "test", "--items", str(items)))


@settings(max_examples=60, deadline=None)
@given(path=st.text(max_size=30), command=st.sampled_from(["check", "feeds", "health"]))
def test_cli_any_config_path(project: Path, path: str, command: str) -> None:
    result = CliRunner().invoke(cli, ["--config", path, command], env=_clean_env())
    assert_no_crash(result)


# --------------------------------------------------------------------------- config files

CONFIG_KEYS = [
    "storage",
    "rules",
    "templates",
    "log_level",
    "retention",
    "poll",
    "smtp",
    "feeds",
    "digests",
    "alerts",
    "id",
    "url",
    "interval",
    "enabled",
    "tick",
    "min_interval",
    "max_bytes",
    "port",
    "sender",
    "recipients",
    "deliver",
    "max_age",
    "timezone",
    "schedule",
    "tags",
]
odd_values = st.sampled_from(
    [
        "99999999999d",
        "-5d",
        "1e400",
        "http://[::1",
        "javascript:alert(1)",
        "ftp://example.org/feed",
        "bundled:nope.xml",
        "file:///nonexistent/feed.xml",
        "a@example.org\r\nBcc: b@example.org",
        "sqlite:///state/monitor.db/x.db",
        "99999999999999999999TB",
        "Mars/Olympus",
    ]
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=15),
    odd_values,
)
yaml_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(CONFIG_KEYS) | st.text(max_size=6), inner, max_size=5)
    ),
    max_leaves=25,
)
config_docs = st.dictionaries(st.sampled_from(CONFIG_KEYS), yaml_values, max_size=6) | yaml_values
env_values = st.dictionaries(
    st.sampled_from(
        [
            "MONITOR_DATABASE_URL",
            "MONITOR_SMTP_HOST",
            "MONITOR_SMTP_PORT",
            "MONITOR_SMTP_FROM",
            "MONITOR_SMTP_SSL",
            "MONITOR_DIGEST_TO",
        ]
    ),
    st.text(max_size=12) | odd_values,
    max_size=3,
)


def _dump(doc: Any) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


@FUZZ
@given(doc=config_docs, env=env_values)
def test_config_loader_any_yaml(tmp_path: Path, doc: Any, env: dict[str, str]) -> None:
    path = tmp_path / "monitor.yaml"
    path.write_text(_dump(doc), encoding="utf-8")
    with contextlib.suppress(MonitorError):
        load_settings(path, env)
    checks.check(path, env)  # returns its problems; raises nothing


raw_scalars = st.one_of(
    st.from_regex(r"\A[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}( [0-9]{1,2}:[0-9]{2}:[0-9]{2})?\Z"),
    st.from_regex(r"\A-?[0-9_]{1,30}(\.[0-9]*)?(e[+-]?[0-9]{1,4})?[a-zA-Z]{0,3}\Z"),
    st.integers(min_value=1, max_value=6000).map(lambda n: "9" * n),
    st.sampled_from(
        ["0x1F", "0o17", "0b101", "1:30:00", ".inf", "-.inf", ".nan", "~", "!!binary AAA"]
    ),
    st.sampled_from(["!!timestamp x", "!!int x", "!!float x", "!!python/object:os.system x"]),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=10),
)


@FUZZ
@given(
    lines=st.lists(
        st.tuples(st.sampled_from(CONFIG_KEYS), raw_scalars, st.sampled_from(["", "  ", "  - "])),
        max_size=6,
    )
)
def test_config_loader_any_raw_yaml(tmp_path: Path, lines: list[tuple[str, str, str]]) -> None:
    """Scalars written by hand, unquoted: dates that do not exist, numbers of 5,000 digits,
    tags the safe loader refuses."""
    path = tmp_path / "monitor.yaml"
    path.write_text("".join(f"{indent}{key}: {value}\n" for key, value, indent in lines))
    with contextlib.suppress(MonitorError):
        load_settings(path, {})


@FUZZ
@given(data=st.binary(max_size=300), prefix=st.sampled_from([b"", b"storage: ", b"feeds:\n  - "]))
def test_config_loader_any_bytes(tmp_path: Path, data: bytes, prefix: bytes) -> None:
    path = tmp_path / "monitor.yaml"
    path.write_bytes(prefix + data)
    with contextlib.suppress(MonitorError):
        load_settings(path, {})


# --------------------------------------------------------------------------- rule files

QUERY_ALPHABET = st.sampled_from(
    [
        *"()[]{}\"'\\:*?~^+-!&|/ \t\n",
        *("AND", "OR", "NOT", "TO", "and", "or", "not", "title:", "entity:", "amount:", "ots"),
        *("summit", "Türkiye", "İstanbul", "Омуралиев", "50e9", "1bn", "$", ">=", "<", "*", "0"),
    ]
)
queries = st.one_of(
    st.text(max_size=60),
    st.lists(QUERY_ALPHABET, max_size=25).map(" ".join),
    st.lists(QUERY_ALPHABET, max_size=25).map("".join),
)
rule_values = st.one_of(queries, yaml_values)
rule_docs = st.fixed_dictionaries(
    {},
    optional={
        "entities": st.lists(
            st.fixed_dictionaries(
                {"id": st.sampled_from(["ots", "x", "bad id", ""]) | rule_values},
                optional={
                    "name": rule_values,
                    "aliases": st.lists(queries, max_size=3) | rule_values,
                    "not": st.lists(queries, max_size=2) | rule_values,
                },
            ),
            max_size=3,
        )
        | rule_values,
        "rules": st.lists(
            st.fixed_dictionaries(
                {"id": st.sampled_from(["r1", "r2", "bad id"]) | rule_values, "query": queries},
                optional={
                    "tags": st.lists(st.text(max_size=5), max_size=3) | rule_values,
                    "feeds": st.lists(st.sampled_from(["sample", "nope"]), max_size=3)
                    | rule_values,
                    "priority": st.sampled_from(["normal", "high", "urgent"]) | rule_values,
                    "enabled": st.booleans() | rule_values,
                    "name": rule_values,
                },
            ),
            max_size=4,
        )
        | rule_values,
    },
)


@FUZZ
@given(doc=rule_docs | yaml_values)
def test_rule_loader_any_yaml(tmp_path: Path, doc: Any) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(_dump(doc), encoding="utf-8")
    try:
        ruleset, _warnings = check_rules([path], feeds={"sample"})
    except MonitorError:
        return
    compile_rules(ruleset)


one_line_queries = queries.map(lambda q: q.replace("\n", " "))


@FUZZ
@given(values=st.lists(raw_scalars | one_line_queries, min_size=5, max_size=5))
def test_rule_loader_any_raw_yaml(tmp_path: Path, values: list[str]) -> None:
    """Values written by hand, unquoted, where a rule file has them."""
    path = tmp_path / "rules.yaml"
    path.write_text(
        "entities:\n  - id: e\n    aliases: [{}]\n"
        "rules:\n  - id: {}\n    query: {}\n    tags: {}\n    feeds: [{}]\n".format(*values)
    )
    try:
        ruleset, _warnings = check_rules([path], feeds={"sample"})
    except MonitorError:
        return
    compile_rules(ruleset)


@FUZZ
@given(
    data=st.binary(max_size=300), prefix=st.sampled_from([b"", b"rules:\n  - id: r\n    query: "])
)
def test_rule_loader_any_bytes(tmp_path: Path, data: bytes, prefix: bytes) -> None:
    path = tmp_path / "rules.yaml"
    path.write_bytes(prefix + data)
    with contextlib.suppress(MonitorError):
        check_rules([path])


# --------------------------------------------------------------------------- queries


@settings(max_examples=300, deadline=None)
@given(query=queries)
def test_query_parser_any_text(query: str) -> None:
    with contextlib.suppress(QueryError):
        parse_query(query)


@settings(max_examples=40, deadline=None)
@given(
    depth=st.integers(min_value=50, max_value=3000),
    shape=st.sampled_from(["({})", "NOT {}", "-{}", "title:({})", "a AND ({})", "a OR (b {})"]),
)
def test_query_parser_deep_nesting(depth: int, shape: str) -> None:
    query = "x"
    for _ in range(depth):
        query = shape.format(query)
    try:
        parse_query(query)
    except QueryError as e:
        assert "nested too deeply" in str(e)
