"""`monitor run --once` for cron: a digest goes out when its scheduled time has passed since
it last ran, `--force` sends now, and the exit status says when everything failed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from monitor.app import Monitor, make_monitor
from monitor.config import load_settings

from .helpers import (
    FEEDS,
    SAMPLE_CONFIG,
    FakeClock,
    Site,
    free_port,
    monitor_config,
    sample_project,
)
from .test_cli import run

#: Tuesday 16 December 2025, 09:00 in Istanbul; the digest goes at 07:00 there (04:00 UTC).
START = datetime(2025, 12, 16, 6, 0, tzinfo=UTC)
DAILY = "digests:\n  - id: daily\n    schedule: '0 7 * * *'\n    timezone: Europe/Istanbul\n"


@pytest.fixture
def site(httpserver: HTTPServer) -> Site:
    return Site(httpserver)


@pytest.fixture
def monitor(tmp_path: Path, site: Site) -> Iterator[Monitor]:
    clock = FakeClock(START)
    m = make_monitor(
        load_settings(monitor_config(tmp_path, {"news": site.url}, DAILY), {}), clock=clock
    )
    yield m
    m.close()


def digests(tmp_path: Path) -> list[str]:
    return [p.read_text() for p in sorted((tmp_path / "digests").glob("daily_file-*.txt"))]


def later(monitor: Monitor, **delta: float) -> None:
    clock = monitor.clock
    assert isinstance(clock, FakeClock)
    clock.advance(**delta)


def test_a_daily_digest_goes_out_once_a_day_however_often_cron_runs(
    monitor: Monitor, site: Site, tmp_path: Path
) -> None:
    site.add("a", "Trade corridor opens", START - timedelta(hours=1))
    monitor.run_once()
    assert len(digests(tmp_path)) == 1  # never sent before: at once

    for hour in range(1, 4):  # cron runs us every hour; news keeps coming
        site.add(f"b{hour}", f"Trade talks, round {hour}", START + timedelta(hours=hour))
        later(monitor, minutes=70)  # past max_interval (1h) and its jitter
        report = monitor.run_once()
        assert [r.new_hits for r in report.polls] == [1]
        assert [r.target.key for r in report.sends] == []  # not due: no digest
    assert len(digests(tmp_path)) == 1

    # 07:00 in Istanbul passes: the next run sends the day's hits, the one after nothing.
    monitor.clock.now = datetime(2025, 12, 17, 4, 10, tzinfo=UTC)  # type: ignore[attr-defined]
    (sent,) = monitor.run_once().sends
    assert sent.status == "sent" and sent.hits == 3
    later(monitor, minutes=15)
    assert monitor.run_once().sends == []
    texts = digests(tmp_path)
    assert len(texts) == 2
    assert "round 1" in texts[1] and "round 3" in texts[1] and "corridor" not in texts[1]


def test_force_sends_every_digest_now(monitor: Monitor, site: Site, tmp_path: Path) -> None:
    monitor.run_once()
    site.add("c", "Trade ministers meet", START)
    later(monitor, hours=2)
    assert monitor.run_once().sends == []
    later(monitor, minutes=1)
    (forced,) = monitor.run_once(force=True).sends
    assert forced.status == "sent" and forced.hits == 1
    assert "Trade ministers meet" in digests(tmp_path)[-1]


def test_a_digest_that_had_nothing_to_send_still_waits_for_its_next_time(
    monitor: Monitor, site: Site, tmp_path: Path
) -> None:
    (first,) = monitor.run_once().sends
    assert first.status == "nothing"  # no item yet: nothing written, but the digest ran
    site.add("d", "Trade fair", START)
    later(monitor, hours=2)
    assert monitor.run_once().sends == []
    assert digests(tmp_path) == []


def test_a_restarted_job_catches_up_on_a_digest_it_missed(
    monitor: Monitor, site: Site, tmp_path: Path
) -> None:
    from monitor.scheduler import Scheduler

    site.add("e", "Trade pact", START)
    monitor.run_once()
    site.add("f", "Trade pact signed", START + timedelta(hours=1))
    later(monitor, hours=2)
    monitor.poll()
    # The job was down at 07:00; it starts at 08:00 and its first tick sends the digest.
    monitor.clock.now = datetime(2025, 12, 17, 5, 0, tzinfo=UTC)  # type: ignore[attr-defined]
    Scheduler(monitor).tick()
    assert len(digests(tmp_path)) == 2 and "Trade pact signed" in digests(tmp_path)[1]


# --------------------------------------------------------------------------- the command


@pytest.fixture
def project(tmp_path: Path) -> Path:
    # Once a year: whatever the real clock says, it is not due again within the test.
    daily = "digests:\n  - id: daily\n    schedule: '0 7 1 1 *'\n    deliver: [file]\n"
    return sample_project(tmp_path, SAMPLE_CONFIG + daily)


def files(project: Path) -> list[Path]:
    return sorted((project / "state" / "digests").glob("daily_file-*.txt"))


def test_run_once_twice_sends_the_digest_once_and_force_sends_now(project: Path) -> None:
    assert run("run", "--once", cwd=project).returncode == 0
    assert len(files(project)) == 1
    # A second feed brings new hits; the digest is not due, so they wait.
    config = project / "monitor.yaml"
    seed = (FEEDS / "seed_rss.xml").as_uri()
    config.write_text(
        config.read_text().replace("digests:", f"  - id: seed\n    url: {seed}\ndigests:")
    )
    again = run("run", "--once", cwd=project)
    assert again.returncode == 0, again.stderr
    assert len(files(project)) == 1
    forced = run("run", "--once", "--force", cwd=project)
    assert forced.returncode == 0, forced.stderr
    texts = [p.read_text() for p in files(project)]
    assert len(texts) == 2
    # (the seed feed's copy of a story the first digest had joins that story, unsent)
    seed_title = "Diaspora training programme may hold its next session in the United States"
    assert sorted(seed_title in text for text in texts) == [False, True]


def test_force_without_once_is_a_usage_error(project: Path) -> None:
    result = run("run", "--force", cwd=project)
    assert result.returncode == 2
    assert "--force goes with --once" in result.stderr


def test_run_once_exits_1_when_every_feed_failed(project: Path) -> None:
    config = project / "monitor.yaml"
    missing = (project / "gone.xml").as_uri()
    config.write_text(config.read_text().replace("bundled:sample.xml", missing))
    result = run("run", "--once", cwd=project)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: every feed failed (1 of 1) (the log above says why)"]
    assert "Traceback" not in result.stderr


def test_run_once_exits_1_when_every_send_failed(project: Path) -> None:
    config = project / "monitor.yaml"
    config.write_text(
        config.read_text().replace(
            "    deliver: [file]\n", "    deliver: [email]\n    recipients: [desk@example.org]\n"
        )
        + f"smtp:\n  host: 127.0.0.1\n  port: {free_port()}\n  timeout: 5s\n"
    )
    result = run("run", "--once", cwd=project)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: every send failed (1 message) (the log above says why)"]
    assert "Traceback" not in result.stderr
    # The feed worked: a failed send alone is reason enough; nothing was lost either.
    assert "sample" not in errors[0]
