"""Bad input is one clear line and exit status 1 (2 for a bad option, click's convention),
never a traceback: the cases users met, run as they would run them (a real process)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.app import worker_id
from monitor.cli import cli
from monitor.model import utc_now
from monitor.store import Store

from .helpers import DAILY_FILE, SAMPLE_CONFIG, sample_project

MONITOR = [sys.executable, "-m", "monitor.cli"]

CONFIG = SAMPLE_CONFIG + DAILY_FILE


def run(
    *args: str | bytes, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The CLI in its own process, without the MONITOR_* variables of the test run."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    full_env.update(env or {})
    return subprocess.run(
        [*MONITOR, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=60
    )


def main(project: Path, *args: str | bytes, real: bool = False) -> tuple[int, str, str]:
    """(status, stdout, stderr) of the CLI run in ``project``: in its own process when
    ``real``, else in-process through click's CliRunner (quicker), where an exception that
    is not SystemExit fails the test."""
    if real:
        result = run(*args, cwd=project)
        return result.returncode, result.stdout, result.stderr
    env = {k: None for k in os.environ if k.startswith("MONITOR_")}
    argv = ["--config", str(project / "monitor.yaml"), *(str(a) for a in args)]
    outcome = CliRunner().invoke(cli, argv, env=env)
    if outcome.exception is not None and not isinstance(outcome.exception, SystemExit):
        raise outcome.exception
    return outcome.exit_code, outcome.stdout, outcome.stderr


def one_clear_error(project: Path, *args: str, status: int = 1, real: bool = False) -> str:
    code, _, stderr = main(project, *args, real=real)
    assert code == status, stderr
    assert "Traceback" not in stderr, stderr
    return stderr


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The shipped rules and templates, and a config polling only the bundled sample."""
    return sample_project(tmp_path, CONFIG)


# --------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("args", "message", "real"),
    [
        (["rules", "test", "--since", "abc"], "'--since': not a duration: 'abc'", True),
        (
            ["rules", "test", "--since", "-5d"],
            "'--since': a duration cannot be negative: '-5d'",
            False,
        ),
        (
            ["rules", "test", "--since", "99999999999d"],
            "'--since': duration '99999999999d' is longer than 10 years",
            False,
        ),
        (["health", "--max-age", "zz"], "'--max-age': not a duration: 'zz'", False),
    ],
)
def test_a_bad_duration_option_is_a_usage_error(
    project: Path, args: list[str], message: str, real: bool
) -> None:
    stderr = one_clear_error(project, *args, status=2, real=real)
    assert f"Error: Invalid value for {message}" in stderr


# --------------------------------------------------------------------------- config


def test_overflowing_durations_in_the_config_are_named(project: Path) -> None:
    (project / "monitor.yaml").write_text(
        CONFIG.replace("digests:\n  - id: daily\n", "digests:\n  - id: daily\n    max_age: .inf\n")
        + "retention: 99999999999d\npoll:\n  min_interval: 9999999999999\n"
    )
    stderr = one_clear_error(project, "poll", real=True)
    assert "monitor.yaml:9: retention: duration '99999999999d' is longer" in stderr
    assert "monitor.yaml:11: poll.min_interval: duration 9999999999999 is" in stderr
    assert "monitor.yaml:7: digests[0].max_age: duration inf is longer" in stderr


def test_an_unparseable_feed_url_is_named(project: Path) -> None:
    (project / "monitor.yaml").write_text(CONFIG.replace("bundled:sample.xml", '"http://[::1"'))
    stderr = one_clear_error(project, "poll", real=True)
    assert "monitor.yaml:4: feeds[0].url: not a valid URL: Invalid IPv6 URL" in stderr


@pytest.mark.parametrize(
    ("data", "message", "real"),
    [
        (
            b"\x00\x01\x02binary\xff",
            "monitor.yaml:1:10: YAML error: not UTF-8 text (byte 0xff)",
            True,
        ),
        (
            b"storage: sqlite:///x.db\nrules: [caf\xe9]\n",
            "monitor.yaml:2:12: YAML error: not UTF-8",
            False,
        ),
        (
            b"storage: x\x00y\n",
            "monitor.yaml:1:11: YAML error: character U+0000 is not allowed",
            False,
        ),
    ],
    ids=["binary", "latin-1", "nul"],
)
def test_a_config_that_is_not_utf8_text_is_named(
    project: Path, data: bytes, message: str, real: bool
) -> None:
    (project / "monitor.yaml").write_bytes(data)
    assert message in one_clear_error(project, "check", real=real)


def test_rule_files_that_are_not_utf8_text_are_named(project: Path) -> None:
    (project / "rules" / "latin1.yaml").write_bytes(b"rules:\n  - id: x\n    query: caf\xe9\n")
    (project / "rules" / "zz-binary.yaml").write_bytes(b"\x7fELF\x02\x01\x01\x00\x00")
    stderr = one_clear_error(project, "check", real=True)
    assert "latin1.yaml:3:15: not UTF-8 text (byte 0xe9)" in stderr
    assert "zz-binary.yaml:1:1: YAML syntax error: character U+007F is not allowed" in stderr


ALIAS_BOMB = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n' + "".join(
    f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n"
    for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)


@pytest.mark.parametrize(
    ("text", "message", "real"),
    [
        (ALIAS_BOMB, "aliases expand to more than 200,000 values", True),
        ("storage: " + "[" * 3000 + "]" * 3000 + "\n", "nested deeper than 64 levels", False),
    ],
    ids=["alias-bomb", "deep-nesting"],
)
def test_yaml_bombs_in_the_config_are_refused(
    project: Path, text: str, message: str, real: bool
) -> None:
    (project / "monitor.yaml").write_text(text)
    stderr = one_clear_error(project, "poll", real=real)
    assert "monitor.yaml:" in stderr and message in stderr


def test_a_storage_folder_under_a_file_is_named(project: Path) -> None:
    (project / "state").write_text("a file where the folder should be")
    stderr = one_clear_error(project, "poll", real=True)
    assert "monitor.yaml:1: storage: cannot create the folder" in stderr
    assert "is not a folder" in stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root may create folders anywhere")
def test_a_storage_folder_that_cannot_be_created_is_named(project: Path) -> None:
    config = CONFIG.replace("sqlite:///state/monitor.db", "sqlite:////nonexistent/dir/x.db")
    (project / "monitor.yaml").write_text(config)
    stderr = one_clear_error(project, "poll")
    assert "storage: cannot create the folder /nonexistent/dir: no permission" in stderr


def test_line_breaks_in_mail_addresses_are_refused(project: Path) -> None:
    (project / "monitor.yaml").write_text(
        CONFIG
        + '    recipients: ["a@example.org\\r\\nBcc: spy@example.org"]\n'
        + 'smtp:\n  host: localhost\n  sender: "monitor@example.org\\nBcc: spy@example.org"\n'
    )
    stderr = one_clear_error(project, "check")
    assert "monitor.yaml:8: digests[0].recipients[0]: " in stderr
    assert "monitor.yaml:11: smtp.sender: " in stderr
    assert "has a line break or control character" in stderr


# --------------------------------------------------------------------------- rules


def test_a_query_nested_3000_deep_names_the_rule(project: Path) -> None:
    (project / "rules" / "deep.yaml").write_text(
        f"rules:\n  - id: deep\n    query: '{'(' * 3000}OTS{')' * 3000}'\n"
    )
    stderr = one_clear_error(project, "check", real=True)
    assert "deep.yaml:3:113: rule 'deep': the query is nested too deeply" in stderr


def test_items_that_are_not_utf8_are_named(project: Path) -> None:
    (project / "items.jsonl").write_bytes(b'{"id": "a"}\n{"id": "b", "title": "caf\xe9"}\n')
    stderr = one_clear_error(project, "rules", "test", "--items", "items.jsonl", real=True)
    assert "error: line 2: not UTF-8 text (byte 0xe9 at column 26)" in stderr


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            '{"id": "a", "title": "\\ud800 OTS"}',
            '"title" holds an unpaired surrogate (\\ud800), which is not a character',
        ),
        ('{"id": 1' + "0" * 5000 + "}", "not valid JSON: a number is too long"),
        ("[" * 100_000, "not valid JSON: nested too deeply"),
    ],
    ids=["surrogate", "long-number", "deep"],
)
def test_bad_items_lines_are_one_error(project: Path, line: str, message: str) -> None:
    (project / "items.jsonl").write_text(line + "\n")
    stderr = one_clear_error(project, "rules", "test", "--items", str(project / "items.jsonl"))
    assert stderr == f"error: line 1: {message}\n"


def test_a_40_digit_item_id_is_kept_as_written(project: Path) -> None:
    digits = "1234567890" * 4
    (project / "items.jsonl").write_text(f'{{"id": {digits}, "title": "OTS summit"}}\n')
    code, stdout, _ = main(
        project, "rules", "test", "--json", "--items", str(project / "items.jsonl")
    )
    assert code == 0
    assert f'"id": "{digits}"' in stdout


def test_text_that_is_not_utf8_is_matched_and_printed(project: Path) -> None:
    text = "Omuraliev met the ambassadors of OTS member states \xff".encode("latin-1")
    code, stdout, stderr = main(project, "rules", "test", text, real=True)
    assert code == 0, stderr
    assert "omuraliev" in stdout.lower()


# --------------------------------------------------------------------------- times


def test_times_shown_to_people_carry_their_zone(project: Path) -> None:
    assert main(project, "run", "--once")[0] == 0
    code, stdout, _ = main(project, "feeds")
    assert code == 0
    header, row = stdout.splitlines()
    times = list(re.finditer(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", row))
    assert len(times) == 2  # last success, next poll
    assert times[1].start() == header.index("next poll")
    store = Store(f"sqlite:///{project / 'state' / 'monitor.db'}")  # a job running here ticks
    store.heartbeat(utc_now(), worker_id())
    store.close()
    code, stdout, _ = main(project, "health")
    assert code == 0 and stdout.startswith("healthy: last tick ") and "+00:00" in stdout
    code, _, stderr = main(project, "health", "--max-age", "0s")
    assert code == 1 and stderr.startswith("unhealthy: last tick ") and "UTC" in stderr
