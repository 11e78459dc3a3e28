"""monitor.yaml -> Settings: good files load, bad ones are named with file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import load_settings
from monitor.errors import ConfigError
from monitor.values import parse_duration, parse_size

from .helpers import ROOT

GOOD = """\
storage: sqlite:///state/monitor.db
feeds:
  - id: sample
    url: bundled:sample.xml
    interval: 30m
digests:
  - id: daily
    schedule: "0 7 * * *"
    timezone: Europe/Istanbul
    deliver: [file]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "monitor.yaml"
    path.write_text(text)
    return path


def problems(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(path, env or {})
    return list(info.value.problems)


def test_the_shipped_config_loads() -> None:
    settings = load_settings(ROOT / "monitor.yaml", {})
    assert settings.storage == f"sqlite:///{ROOT / 'state' / 'monitor.db'}"
    assert settings.digests_dir == ROOT / "state" / "digests"
    assert any(f.id == "sample" for f in settings.feeds)
    sample = next(f for f in settings.feeds if f.id == "sample")
    assert settings.feed_url(sample).startswith("file://")
    assert Path(settings.feed_url(sample).removeprefix("file://")).is_file()
    # At least ten real outlets besides the bundled sample.
    assert len([f for f in settings.feeds if f.url.startswith("http")]) >= 10


def test_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, GOOD), {})
    assert settings.storage == f"sqlite:///{tmp_path / 'state' / 'monitor.db'}"
    assert settings.rules == (tmp_path / "rules",)
    assert settings.feeds[0].interval == 1800


def test_unknown_key_names_file_line_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('    schedule: "0 7 * * *"', '    shedule: "0 7 * * *"'))
    (problem,) = problems(path)
    assert problem == f"{path}:8: digests[0].shedule: unknown key"


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = GOOD + "poll:\n  concurrency: 0\n  tick: soon\nbogus: 1\n"
    found = problems(write(tmp_path, text))
    assert len(found) == 3
    assert any(":12: poll.concurrency:" in p for p in found)
    assert any(":13: poll.tick:" in p and "not a duration" in p for p in found)
    assert any(":14: bogus: unknown key" in p for p in found)


def test_yaml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "feeds:\n  - id: a\n    url: [unclosed\n")
    (problem,) = problems(path)
    assert problem.startswith(f"{path}:4:1: YAML error")


def test_semantic_errors_name_their_key(tmp_path: Path) -> None:
    text = GOOD.replace("Europe/Istanbul", "Mars/Olympus").replace('"0 7 * * *"', '"0 7 *"')
    text += "  - id: daily\n    deliver: [email]\n"
    found = problems(write(tmp_path, text))
    assert any("digests[0].timezone" in p and "unknown timezone" in p for p in found)
    assert any("digests[0].schedule" in p and "five fields" in p for p in found)
    # A second digest with the same id, mailing with no server and no recipients:
    text = GOOD + "  - id: daily\n    deliver: [email]\n"
    found = problems(write(tmp_path, text))
    assert any(":11: digests[1].id: duplicate id 'daily'" in p for p in found)
    assert any("digests[1].recipients" in p for p in found)
    assert any("digests[1].deliver" in p and "smtp.host" in p for p in found)


def test_environment_overrides_storage_and_smtp(tmp_path: Path) -> None:
    env = {
        "MONITOR_DATABASE_URL": "postgresql+psycopg://u@db/monitor",
        "MONITOR_SMTP_HOST": "mailpit",
        "MONITOR_SMTP_PORT": "1025",
        "MONITOR_SMTP_FROM": "news@example.org",
        "MONITOR_DIGEST_TO": "a@example.org, b@example.org",
    }
    settings = load_settings(write(tmp_path, GOOD), env)
    assert settings.storage == "postgresql+psycopg://u@db/monitor"
    assert (settings.smtp.host, settings.smtp.port, settings.smtp.sender) == (
        "mailpit",
        1025,
        "news@example.org",
    )
    (daily,) = settings.digests
    assert daily.recipients == ("a@example.org", "b@example.org")
    assert daily.deliver == ("file", "email")


def test_bad_environment_value_is_named(tmp_path: Path) -> None:
    found = problems(write(tmp_path, GOOD), {"MONITOR_SMTP_PORT": "twenty-five"})
    assert any("smtp.port" in p for p in found)


def test_missing_or_non_mapping_file(tmp_path: Path) -> None:
    assert "cannot read config" in problems(tmp_path / "absent.yaml")[0]
    assert "must be a mapping" in problems(write(tmp_path, "- a\n- b\n"))[0]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("30m", 1800), ("6h", 21600), ("7d", 604800), (45, 45), ("1.5h", 5400)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["soon", "10 parsecs", "", True, "-5m"])
def test_bad_durations_are_rejected(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_sizes() -> None:
    assert parse_size("10MB") == 10_000_000
    assert parse_size("512KiB") == 524_288
    with pytest.raises(ValueError):
        parse_size("big")
