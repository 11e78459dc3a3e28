"""The command line, run as a user would: a real process, real files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .helpers import ROOT, SAMPLE_CONFIG, free_port, sample_project

MONITOR = [sys.executable, "-m", "monitor.cli"]


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    full_env.update(env or {})
    return subprocess.run(
        [*MONITOR, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the shipped layout that polls only the bundled sample feed (offline)."""
    return sample_project(
        tmp_path,
        SAMPLE_CONFIG
        + "digests:\n  - id: daily\n    title: Turkic daily\n    deliver: [file]\n"
        + "alerts:\n  - id: urgent\n    deliver: [file]\n",
    )


def test_help_lists_every_command(project: Path) -> None:
    out = run("--help", cwd=project).stdout
    for command in ("run", "poll", "digest", "check", "rules", "feeds", "health"):
        assert f"  {command}" in out


def test_check_passes_on_the_shipped_config() -> None:
    result = run("check", cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout


def test_check_names_the_unknown_config_key(project: Path) -> None:
    config = project / "monitor.yaml"
    config.write_text(
        config.read_text().replace("    deliver: [file]\n", "    delivr: [file]\n", 1)
    )
    result = run("check", cwd=project)
    assert result.returncode == 1
    assert "monitor.yaml:8: digests[0].delivr: unknown key" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_names_the_rule_file_with_a_yaml_error(project: Path) -> None:
    bad = project / "rules" / "zz-broken.yaml"
    bad.write_text("rules:\n  - id: broken\n    query: [unclosed\n")
    result = run("check", cwd=project)
    assert result.returncode == 1
    assert "zz-broken.yaml:" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_once_writes_a_digest_with_sample_hits(project: Path) -> None:
    result = run("run", "--once", cwd=project)
    assert result.returncode == 0, result.stderr
    digests = list((project / "state" / "digests").glob("daily_file-*.txt"))
    assert len(digests) == 1
    text = digests[0].read_text()
    assert "Budapest" in text
    assert "Baku derby" not in text and "BOTS" not in text
    assert (project / "state" / "monitor.db").is_file()
    # Nothing new: a second run writes no second digest.
    run("run", "--once", cwd=project)
    assert len(list((project / "state" / "digests").glob("daily_file-*.txt"))) == 1


def test_digest_dry_run_prints_and_marks_nothing(project: Path) -> None:
    assert run("poll", cwd=project).returncode == 0
    dry = run("digest", "daily", "--dry-run", cwd=project)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("Subject: Turkic daily: ")
    assert not list((project / "state" / "digests").glob("daily_file-*"))
    sent = run("digest", "daily", cwd=project)
    assert sent.returncode == 0 and "daily:file" in sent.stdout and "sent" in sent.stdout


def test_unknown_digest_is_one_clear_error(project: Path) -> None:
    result = run("digest", "weekly", cwd=project)
    assert result.returncode == 1
    assert "no digest 'weekly'" in result.stderr and "Traceback" not in result.stderr


def test_missing_config_is_one_clear_error(tmp_path: Path) -> None:
    result = run("--config", str(tmp_path / "nope.yaml"), "poll", cwd=tmp_path)
    assert result.returncode == 1
    assert "nope.yaml: cannot read config" in result.stderr


def test_rules_test_explains_a_match(project: Path) -> None:
    text = "Omuraliev met the ambassadors of OTS member states in Washington."
    result = run("rules", "test", text, cwd=project)
    assert result.returncode == 0, result.stderr
    assert "omuraliev" in result.stdout.lower()


def test_health_reads_only_and_a_finished_run_once_is_not_healthy(project: Path) -> None:
    never = run("health", cwd=project)
    assert never.returncode == 1
    assert "unhealthy" in never.stderr
    assert not (project / "state" / "monitor.db").exists()  # health created nothing
    assert run("run", "--once", cwd=project).returncode == 0
    db = project / "state" / "monitor.db"
    before = db.stat().st_mtime_ns, db.stat().st_size
    assert run("health", cwd=project).returncode == 1  # nothing runs here now
    assert (db.stat().st_mtime_ns, db.stat().st_size) == before


def test_run_stops_cleanly_on_sigterm(project: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    port = free_port()
    env["MONITOR_METRICS_PORT"] = str(port)
    proc = subprocess.Popen(
        [*MONITOR, "run"], cwd=project, env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 30
        digests = project / "state" / "digests"
        while time.monotonic() < deadline and not list(digests.glob("daily_file-*.html")):
            time.sleep(0.2)
        assert list(digests.glob("daily_file-*.html")), "first digest not written in 30 s"
        assert run("health", cwd=project).returncode == 0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as page:
            assert "monitor_polls_total 1.0" in page.read().decode()
        # another worker's heartbeat is its own: this one is not seen there
        assert run("health", cwd=project, env={"MONITOR_WORKER_ID": "other"}).returncode == 1
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=15)  # raises if the job does not stop
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = proc.stderr.read() if proc.stderr else ""
    assert code == 0, stderr
    assert "received SIGTERM: stopping" in stderr
    assert run("health", cwd=project).returncode == 1  # a stopped job is not healthy
    assert "Traceback" not in stderr


def test_feeds_table_shows_each_feed_after_a_poll(project: Path) -> None:
    assert run("poll", cwd=project).returncode == 0
    result = run("feeds", cwd=project)
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split()[:3] == ["feed", "status", "last"]
    (sample,) = [r for r in rows if r.startswith("sample")]
    assert sample.split()[1] == "ok"


def test_poll_and_feeds_show_a_feed_error_without_repeating_the_feed(project: Path) -> None:
    config = project / "monitor.yaml"
    lost = (project / "no-such.xml").as_uri()
    config.write_text(
        config.read_text().replace("digests:", f"  - id: lost\n    url: {lost}\ndigests:", 1)
    )
    polled = run("poll", cwd=project)
    assert polled.returncode == 0, polled.stderr
    (line,) = [r for r in polled.stdout.splitlines() if r.startswith("lost")]
    assert line.split(None, 2) == ["lost", "error", "No such file or directory"]
    assert f"feed lost ({lost}): No such file or directory" in polled.stderr  # the log names it
    table = run("feeds", cwd=project)
    assert table.returncode == 0, table.stderr
    (row,) = [r for r in table.stdout.splitlines() if r.startswith("lost")]
    assert row.split()[1] == "error"
    assert row.endswith("  No such file or directory")
    assert "feed lost" not in row


def test_feeds_import_and_export_round_trip_through_opml(project: Path) -> None:
    opml = project / "subs.opml"
    opml.write_text(
        '<?xml version="1.0"?><opml version="2.0"><head/><body>'
        '<outline type="rss" text="Astana Times" xmlUrl="https://astanatimes.com/feed/"/>'
        "</body></opml>"
    )
    added = run("feeds", "import", "subs.opml", cwd=project)
    assert added.returncode == 0, added.stderr
    assert "1 feeds added" in added.stdout
    assert run("check", cwd=project).returncode == 0
    exported = run("feeds", "export", cwd=project)
    assert exported.returncode == 0, exported.stderr
    assert '<opml version="2.0">' in exported.stdout
    assert 'xmlUrl="https://astanatimes.com/feed/"' in exported.stdout
    again = run("feeds", "import", "subs.opml", cwd=project)
    assert "0 feeds added, 1 already there" in again.stdout


def test_feeds_import_of_a_broken_opml_is_one_clear_error(project: Path) -> None:
    before = (project / "monitor.yaml").read_text()
    (project / "bad.opml").write_text("<opml><body><outline")
    result = run("feeds", "import", "bad.opml", cwd=project)
    assert result.returncode == 1
    assert "bad.opml" in result.stderr and "Traceback" not in result.stderr
    assert (project / "monitor.yaml").read_text() == before


def test_rules_test_since_replays_stored_items_against_a_changed_rule_file(project: Path) -> None:
    assert run("run", "--once", cwd=project).returncode == 0
    draft = project / "drafts" / "turkic-trade.yaml"
    draft.parent.mkdir()
    text = (project / "rules" / "turkic-trade.yaml").read_text()
    # The draft drops every rule of the file but keeps its entities.
    draft.write_text(text.split("\nrules:")[0] + "\nrules: []\n")
    result = run("rules", "test", "--since", "30d", "drafts/turkic-trade.yaml", cwd=project)
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith("Replayed ") and "0 hits would be added" in first
    assert "turkic-trade-target" in result.stdout and "  - " in result.stdout
    missing = run("rules", "test", "--since", "30d", "drafts/nope.yaml", cwd=project)
    assert missing.returncode == 1 and "drafts/nope.yaml: no such rule file" in missing.stderr
