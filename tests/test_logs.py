"""Operator basics: --version, MONITOR_LOG_LEVEL, MONITOR_LOG_FORMAT=json."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from datetime import datetime
from importlib.metadata import version
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor import __version__, logs
from monitor.cli import cli
from monitor.errors import ConfigError

from .helpers import ROOT
from .test_cli_errors import CONFIG, run


def test_the_version_comes_from_the_package_metadata(tmp_path: Path) -> None:
    assert __version__ == version("monitor")
    result = run("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout == f"monitor {version('monitor')}\n"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, (None, "text")),
        ({"MONITOR_LOG_LEVEL": "debug", "MONITOR_LOG_FORMAT": "JSON"}, ("DEBUG", "json")),
        ({"MONITOR_LOG_LEVEL": " WARNING ", "MONITOR_LOG_FORMAT": ""}, ("WARNING", "text")),
    ],
)
def test_from_env(env: dict[str, str], expected: tuple[str | None, str]) -> None:
    assert logs.from_env(env) == expected


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"MONITOR_LOG_LEVEL": "loud"},
            "MONITOR_LOG_LEVEL: 'loud' is not a log level (use DEBUG, INFO, WARNING, ERROR)",
        ),
        ({"MONITOR_LOG_FORMAT": "xml"}, "MONITOR_LOG_FORMAT: 'xml' is not a log format"),
    ],
)
def test_from_env_refuses_what_it_does_not_know(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        logs.from_env(env)


def test_a_bad_log_level_is_one_clear_error(tmp_path: Path) -> None:
    result = run("check", cwd=tmp_path, env={"MONITOR_LOG_LEVEL": "loud"})
    assert result.returncode == 1
    assert result.stderr == (
        "error: MONITOR_LOG_LEVEL: 'loud' is not a log level (use DEBUG, INFO, WARNING, ERROR)\n"
    )


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord(
        "monitor.poll", logging.WARNING, __file__, 1, "feed %s", ("x",), None
    )
    record.__dict__.update(extra)
    return record


def test_a_json_line_has_time_level_logger_message_and_the_extra_ids() -> None:
    line = logs.JsonFormatter().format(_record(feed="trend-en", rule="ots", target="daily:file"))
    data = json.loads(line)
    assert data.pop("time").endswith("+00:00")
    assert data == {
        "level": "WARNING",
        "logger": "monitor.poll",
        "message": "feed x",
        "feed": "trend-en",
        "rule": "ots",
        "target": "daily:file",
    }


def test_a_json_line_carries_the_traceback_of_an_exception() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = _record()
        record.exc_info = sys.exc_info()
    line = logs.JsonFormatter().format(record)
    assert "\n" not in line
    assert "ValueError: boom" in json.loads(line)["exc"]


def test_text_lines_carry_the_local_time_with_its_offset() -> None:
    line = logs.TextFormatter().format(_record())
    stamp = line.split(" WARNING ")[0]
    assert datetime.fromisoformat(stamp).utcoffset() is not None
    assert line.endswith(" WARNING monitor.poll: feed x")


def project(folder: Path, config: str = CONFIG) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "monitor.yaml").write_text(config)
    (folder / "rules").mkdir()
    (folder / "rules" / "r.yaml").write_text("rules:\n  - id: r\n    query: OTS\n")
    shutil.copytree(ROOT / "templates", folder / "templates")
    return folder


def test_the_job_logs_json_lines_when_asked(tmp_path: Path) -> None:
    project(tmp_path)
    result = run("poll", cwd=tmp_path, env={"MONITOR_LOG_FORMAT": "json"})
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert lines and all({"time", "level", "logger", "message"} <= set(d) for d in lines)
    assert any(d["message"].startswith("feed sample: ") for d in lines)
    # the feed's id is a field of its own, for log collectors to filter on
    assert any(d.get("feed") == "sample" for d in lines)


def test_the_log_level_from_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("MONITOR_")}
    for name, level, chatty in (("quiet", "WARNING", False), ("chatty", None, True)):
        folder = project(tmp_path / name, CONFIG + "log_level: INFO\n")
        argv = ["--config", str(folder / "monitor.yaml"), "poll"]
        result = CliRunner().invoke(cli, argv, env={**env, "MONITOR_LOG_LEVEL": level})
        assert result.exit_code == 0
        assert (" INFO monitor.app: feed sample: " in result.stderr) is chatty
