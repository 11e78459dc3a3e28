"""`monitor check` refuses what can never work, each problem with file and line, and warns
about what is legal but probably not meant (exit status unchanged)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor import checks
from monitor.errors import ConfigError
from monitor.feeds.opml import import_opml, parse_opml
from monitor.rules.load import check_rules
from monitor.values import feed_url_problem

from .helpers import ROOT
from .test_cli_errors import run

RULES = """\
rules:
  - id: ots
    query: OTS AND summit
    tags: [ots]
    feeds: [sample, paused]
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "topics.yaml").write_text(RULES)
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    return tmp_path


def config(project: Path, feeds: str, digests: str = "") -> Path:
    path = project / "monitor.yaml"
    path.write_text(
        "storage: sqlite:///state/monitor.db\n"
        "feeds:\n"
        "  - id: sample\n"
        "    url: bundled:sample.xml\n"
        "  - id: paused\n"
        "    url: https://example.org/feed.xml\n"
        "    enabled: false\n" + feeds + "digests:\n  - id: daily\n    deliver: [file]\n" + digests
    )
    return path


def test_a_valid_project_passes_and_a_disabled_feed_may_be_named(project: Path) -> None:
    assert checks.check(config(project, ""), {}) == ([], [])


def test_feed_urls_that_can_never_be_polled_are_refused_with_their_line(project: Path) -> None:
    path = config(
        project,
        "  - id: gone\n    url: bundled:nope.xml\n"
        '  - id: js\n    url: "javascript:alert(1)"\n'
        "  - id: ftp\n    url: ftp://example.org/feed.xml\n"
        '  - id: v6\n    url: "http://[::1"\n',
    )
    problems, warnings = checks.check(path, {})
    assert problems == [
        f"{path}:9: feeds[2].url: no bundled feed 'nope.xml' (bundled: sample.xml)",
        f"{path}:11: feeds[3].url: scheme 'javascript' is not supported: use an "
        "http, https or file URL",
        f"{path}:13: feeds[4].url: scheme 'ftp' is not supported: use an http, https or file URL",
        f"{path}:15: feeds[5].url: not a valid URL: Invalid IPv6 URL",
    ]
    assert warnings == []


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://example.org/feed.xml", None),
        ("http://example.org:8080/rss?x=1", None),
        ("file:///srv/feeds/news.xml", None),
        ("bundled:sample.xml", None),
        ("bundled:../config.py", "no bundled feed '../config.py' (bundled: sample.xml)"),
        (
            "example.org/feed",
            "a URL without a scheme is not supported: use an http, https or file URL",
        ),
        ("https:///feed.xml", "the URL has no host"),
        (
            "https://example.org:http/",
            "not a valid URL: Port could not be cast to integer value as 'http'",
        ),
        (
            "https://exa mple.org/",
            "a URL has no spaces or control characters (write a space as %20)",
        ),
        (
            "https://example.org/\n",
            "a URL has no spaces or control characters (write a space as %20)",
        ),
        ("https://ü..org/", "not a valid host name: 'ü..org'"),
        ("file://", "a file URL needs a path (file:///srv/feeds/news.xml)"),
    ],
)
def test_feed_url_problem(url: str, problem: str | None) -> None:
    assert feed_url_problem(url) == problem


def test_names_that_point_nowhere_are_refused_with_their_line(project: Path) -> None:
    path = config(
        project,
        "  - id: local\n    url: file:///nonexistent/feed.xml\n",
        "    tags: [ots, nosuchtag]\n    rules: [ots, nosuchrule]\n",
    )
    (project / "rules" / "topics.yaml").write_text(
        RULES.replace("[sample, paused]", "[sample, paused, sampel]")
    )
    problems, _ = checks.check(path, {})
    rules = project / "rules" / "topics.yaml"
    assert problems == [
        f"{path}:9: feeds[2].url: no such file /nonexistent/feed.xml",
        f"{rules}:5:29: rule 'ots': no feed 'sampel' in the configuration (did you mean 'sample'?)",
    ]
    (project / "rules" / "topics.yaml").write_text(RULES)
    problems, _ = checks.check(path, {})
    assert problems == [
        f"{path}:9: feeds[2].url: no such file /nonexistent/feed.xml",
        f"{path}:14: digests[0].rules: no rule with id 'nosuchrule'",
        f"{path}:13: digests[0].tags: no rule has the tag 'nosuchtag'",
    ]


def test_lowercase_operators_are_warned_about_with_file_line_and_column(project: Path) -> None:
    rules = project / "rules" / "topics.yaml"
    rules.write_text(
        "rules:\n"
        "  - id: ots\n"
        "    query: OTS or TDT\n"
        "  - id: phrase\n"
        '    query: \'"rock or roll" AND (a and b) AND title:or AND "not"\'\n'
    )
    problems, warnings = checks.check(config(project, ""), {})
    assert problems == []
    assert warnings == [
        f"{rules}:3:16: rule 'ots': lowercase 'or' is searched as a word that must be "
        "present; write OR for the operator, or quote the word",
        f"{rules}:5:35: rule 'phrase': lowercase 'and' is searched as a word that must be "
        "present; write AND for the operator, or quote the word",
    ]
    _, warnings = check_rules([rules])
    assert len(warnings) == 2


# --------------------------------------------------------------------------- OPML


OPML = b"""<?xml version="1.0"?>
<opml version="2.0"><head/><body>
  <outline text="Fine" xmlUrl="https://example.org/feed.xml"/>
  <outline text="Script" xmlUrl="javascript:alert(1)"/>
  <outline text="Folder">
    <outline text="Old" xmlUrl="ftp://example.org/feed.xml"/>
  </outline>
</body></opml>
"""


def test_opml_feeds_keep_their_line() -> None:
    assert [(f.title, f.line) for f in parse_opml(OPML)] == [
        ("Fine", 3),
        ("Script", 4),
        ("Old", 6),
    ]


def test_an_opml_import_with_feeds_that_cannot_be_polled_changes_nothing(
    project: Path,
) -> None:
    path = config(project, "")
    before = path.read_text()
    (project / "subs.opml").write_bytes(OPML)
    with pytest.raises(ConfigError) as caught:
        import_opml(
            path,
            project / "subs.opml",
            validate=lambda p: None,
            check_url=feed_url_problem,
            now=datetime(2025, 12, 16, tzinfo=UTC),
        )
    opml = project / "subs.opml"
    assert caught.value.problems == (
        f"{opml}:4: xmlUrl 'javascript:alert(1)': scheme 'javascript' is not supported: use "
        "an http, https or file URL",
        f"{opml}:6: xmlUrl 'ftp://example.org/feed.xml': scheme 'ftp' is not supported: use "
        "an http, https or file URL",
    )
    assert path.read_text() == before


# --------------------------------------------------------------------------- the CLI


def test_check_lists_problems_and_warnings_as_a_user_sees_them(project: Path) -> None:
    config(project, "", "    tags: [nosuchtag]\n")
    (project / "rules" / "topics.yaml").write_text(RULES.replace("AND summit", "and summit"))
    result = run("check", cwd=project)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"error: {project / 'monitor.yaml'}:11: digests[0].tags: no rule has the tag 'nosuchtag'",
        f"warning: {project / 'rules' / 'topics.yaml'}:3:16: rule 'ots': lowercase 'and' is "
        "searched as a word that must be present; write AND for the operator, or quote the word",
    ]
    config(project, "")
    result = run("check", cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("warning: ") and "valid" in result.stdout


def test_feeds_import_refuses_a_javascript_url_with_the_opml_line(project: Path) -> None:
    config(project, "")
    (project / "subs.opml").write_bytes(OPML)
    result = run("feeds", "import", "subs.opml", cwd=project)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "error: subs.opml:4: xmlUrl 'javascript:alert(1)': scheme 'javascript'" in result.stderr
    assert "error: subs.opml:6: xmlUrl 'ftp://example.org/feed.xml'" in result.stderr
