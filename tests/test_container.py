"""The container files and the feed files they ship.

docker-compose.yml is checked against the Compose specification with check-jsonschema's
built-in copy of the schema (no network), the Dockerfile is read for the properties the
deployment relies on, and every bundled or fixture feed is run through feedparser.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import feedparser
import pytest
import yaml

from .helpers import ROOT

COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
SAMPLE = ROOT / "monitor" / "data" / "sample.xml"
FIXTURES = ROOT / "tests" / "data" / "feeds"
BROKEN = FIXTURES / "broken.xml"

FEED_FILES = [SAMPLE, *sorted(FIXTURES.glob("*.xml"))]


def _check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "check-jsonschema"
    assert exe.exists(), f"{exe} is missing: install the dev extra (pip install -e '.[dev]')"
    # Any attempt to reach the network goes to a closed local port and fails at once,
    # so a pass here proves the built-in schema works offline.
    env = {
        **os.environ,
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "",
    }
    return subprocess.run(
        [str(exe), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def _compose() -> dict:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, comments dropped and continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        word, _, rest = full.partition(" ")
        instructions.append((word.upper(), " ".join(rest.split())))
    assert not pending, "Dockerfile ends inside a continued line"
    return instructions


# --- docker-compose.yml -------------------------------------------------------------


def test_compose_file_follows_the_compose_spec() -> None:
    result = _check_jsonschema(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_file_with_an_unknown_key_is_rejected(tmp_path: Path) -> None:
    data = _compose()
    data["services"]["monitor"]["restrat"] = "always"  # a typo the spec must catch
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")

    result = _check_jsonschema(broken)

    assert result.returncode != 0
    assert "restrat" in result.stdout + result.stderr


def test_compose_file_has_no_obsolete_version_key() -> None:
    assert "version" not in _compose()


def test_compose_mounts_rules_templates_state_and_config() -> None:
    monitor = _compose()["services"]["monitor"]
    volumes = set(monitor["volumes"])
    assert "./rules:/app/rules:ro" in volumes
    assert "./templates:/app/templates:ro" in volumes
    assert "./state:/app/state" in volumes
    assert "./monitor.yaml:/app/monitor.yaml:ro" in volumes


def test_compose_sends_mail_to_the_mail_catcher() -> None:
    services = _compose()["services"]
    monitor, mailpit = services["monitor"], services["mailpit"]
    env = monitor["environment"]
    assert env["MONITOR_SMTP_HOST"].startswith("${MONITOR_SMTP_HOST:-mailpit}")
    assert "1025" in str(env["MONITOR_SMTP_PORT"])
    assert env["MONITOR_SMTP_FROM"].startswith("${MONITOR_SMTP_FROM:-")
    assert env["MONITOR_DIGEST_TO"].startswith("${MONITOR_DIGEST_TO:-")
    assert "mailpit" in monitor["depends_on"]
    assert monitor["build"] == "."
    assert monitor["restart"] == "unless-stopped"
    assert mailpit["image"].startswith("axllent/mailpit")
    assert "8025:8025" in mailpit["ports"]
    assert not any("1025" in str(p) for p in mailpit["ports"]), "SMTP stays internal"


# --- Dockerfile ---------------------------------------------------------------------


def test_dockerfile_runs_as_a_non_root_user() -> None:
    users = [args for word, args in _dockerfile() if word == "USER"]
    assert users, "the image must switch away from root"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert users[-1] == "monitor"
    created = " ".join(args for word, args in _dockerfile() if word == "RUN")
    assert "--uid 10001" in created


def test_dockerfile_has_a_healthcheck_that_runs_monitor_health() -> None:
    checks = [args for word, args in _dockerfile() if word == "HEALTHCHECK"]
    assert len(checks) == 1
    assert 'CMD ["monitor", "health"]' in checks[0]


def test_dockerfile_installs_the_package_and_runs_the_job() -> None:
    instructions = _dockerfile()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    runs = [args for word, args in instructions if word == "RUN"]
    assert any(args.startswith("pip install . ") or args == "pip install ." for args in runs)
    assert not any("[dev" in args for args in runs), "no dev extras in the image"
    copied = " ".join(args for word, args in instructions if word == "COPY")
    for part in ("pyproject.toml", "monitor/", "rules/", "templates/", "monitor.yaml"):
        assert part in copied
    assert ("WORKDIR", "/app") in instructions
    assert ("VOLUME", '["/app/state"]') in instructions
    assert ("ENTRYPOINT", '["monitor"]') in instructions
    assert ("CMD", '["run"]') in instructions


def test_dockerignore_keeps_local_state_out_of_the_image() -> None:
    patterns = {
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for pattern in (".venv", ".git", "state/*", "**/__pycache__", ".pytest_cache"):
        assert pattern in patterns


# --- feeds shipped with the package and used by the tests ----------------------------


@pytest.mark.parametrize("path", FEED_FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_feed_file_parses(path: Path) -> None:
    parsed = feedparser.parse(path.read_bytes())
    if path == BROKEN:
        assert parsed.bozo, "broken.xml must be rejected as malformed"
        return
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version in {"rss20", "atom10"}
    assert parsed.entries
    ids = [entry.get("id") for entry in parsed.entries]
    assert all(ids), "every item needs a guid or id"
    assert len(set(ids)) == len(ids), "guids must be unique"
    for entry in parsed.entries:
        assert entry.get("title") and entry.get("link") and entry.get("published_parsed")


def test_the_fixture_set_is_complete() -> None:
    names = {p.name for p in FIXTURES.glob("*.xml")}
    assert {"seed_rss.xml", "seed_atom.xml", "unrelated.xml", "broken.xml"} <= names
    assert (FIXTURES / "README.md").exists()


def test_sample_feed_is_package_data_with_on_topic_and_unrelated_items() -> None:
    bundled = resources.files("monitor") / "data" / "sample.xml"
    assert bundled.is_file()
    parsed = feedparser.parse(bundled.read_bytes())
    assert parsed.feed.title == "Monitor sample feed"
    assert 10 <= len(parsed.entries) <= 12
    for entry in parsed.entries:
        assert entry.link.startswith("https://example.org/sample/")
        assert entry.published_parsed.tm_year == 2025
    text = " ".join(entry.title + " " + entry.summary for entry in parsed.entries)
    for fact in ("Omuraliev", "$60 billion", "$100 billion", "Fuad Muradov", "Budapest", "BOTS"):
        assert fact in text
