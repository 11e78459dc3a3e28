"""Durations and sizes have bounds; odd shapes in the file or the environment are named,
never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import load_settings
from monitor.errors import ConfigError
from monitor.values import MAX_DURATION, parse_duration, parse_size


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("90s", 90.0),
        ("1.5h", 5400.0),
        (0, 0.0),
        ("3650d", 3650 * 86400.0),
        (MAX_DURATION, MAX_DURATION),
    ],
)
def test_durations_up_to_ten_years(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-5d", "a duration cannot be negative: '-5d'"),
        (-1, "a duration cannot be negative: -1"),
        ("3653d", "duration '3653d' is longer than 10 years"),
        ("99999999999d", "duration '99999999999d' is longer than 10 years"),
        (10**400, "duration a number of about 400 digits is longer than 10 years"),
        (float("inf"), "duration inf is longer than 10 years"),
        (float("nan"), "not a duration: nan"),
        ("9" * 500 + "s", "is longer than 10 years"),
        ("x" * 500, "not a duration: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx... (use e.g. 90s"),
        (True, "not a duration: True"),
    ],
)
def test_durations_out_of_bounds(value: object, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration(value)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "a size cannot be negative"),
        ("9" * 400 + "GB", "is larger than 1 TiB"),
        (2**41, "is larger than 1 TiB"),
        ("10 parsecs", "not a size"),
    ],
)
def test_sizes_out_of_bounds(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_size(value)


def _problems(tmp_path: Path, text: str, env: dict[str, str]) -> list[str]:
    path = tmp_path / "monitor.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env)
    return list(caught.value.problems)


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("smtp: [a, b]\n", {"MONITOR_SMTP_HOST": "mail"}, ":1: smtp: Input should be a valid"),
        ("digests: 5\n", {"MONITOR_DIGEST_TO": "a@example.org"}, ":1: digests: Input should be"),
        (
            "digests:\n  - id: d\n    deliver: 5\n",
            {"MONITOR_DIGEST_TO": "a@example.org"},
            ":3: digests[0].deliver: Input should be a valid tuple",
        ),
        (
            "smtp:\n  port: 99999\n",
            {},
            ":2: smtp.port: Input should be less than or equal to 65535",
        ),
        ("poll:\n  max_bytes: -1\n", {}, ":2: poll.max_bytes: a size cannot be"),
    ],
)
def test_odd_shapes_with_the_environment_are_named(
    tmp_path: Path, text: str, env: dict[str, str], expected: str
) -> None:
    (problem,) = _problems(tmp_path, text, env)
    assert expected in problem


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "retention: 2025-13-45\n",
            ":1:12: YAML error: '2025-13-45': not a valid timestamp: month must be in 1..12",
        ),
        (
            "poll:\n  tick: " + "9" * 5000 + "\n",
            ":2:9: YAML error: '99999999999999999999...': not a valid int: Exceeds the limit",
        ),
        ("retention: !!timestamp x\n", ":1:12: YAML error: 'x': not a valid timestamp"),
    ],
)
def test_scalars_yaml_cannot_build_are_named(tmp_path: Path, text: str, expected: str) -> None:
    (problem,) = _problems(tmp_path, text, {})
    assert expected in problem
