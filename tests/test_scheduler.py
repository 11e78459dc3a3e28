"""The scheduler's wiring: which jobs, when, in which timezone; errors never kill it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from monitor.app import make_monitor
from monitor.config import load_settings
from monitor.errors import StoreError
from monitor.scheduler import Scheduler

from .helpers import ROOT, SAMPLE_FEED, FakeClock, job_config


@pytest.fixture
def scheduler(tmp_path: Path, clock: FakeClock) -> Scheduler:
    config = job_config(
        tmp_path,
        SAMPLE_FEED + "digests:\n"
        "  - id: morning\n    schedule: '0 7 * * *'\n    timezone: Europe/Istanbul\n"
        "  - id: weekly\n    schedule: '30 9 * * mon'\n    timezone: Asia/Almaty\n",
        digests_dir=False,
    )
    return Scheduler(make_monitor(load_settings(config, {}), clock=clock))


def test_one_cron_job_per_digest_in_its_timezone(scheduler: Scheduler) -> None:
    scheduler.setup()
    jobs = {job.id: job for job in scheduler.scheduler.get_jobs()}
    assert set(jobs) == {"poll", "digest:morning", "digest:weekly", "housekeeping", "rules"}
    after = datetime(2025, 12, 16, 6, 0, tzinfo=UTC)  # a Tuesday, 09:00 in Istanbul
    morning = jobs["digest:morning"].trigger.get_next_fire_time(None, after)
    assert morning == datetime(2025, 12, 17, 7, 0, tzinfo=ZoneInfo("Europe/Istanbul"))
    weekly = jobs["digest:weekly"].trigger.get_next_fire_time(None, after)
    assert weekly.weekday() == 0 and (weekly.hour, weekly.minute) == (9, 30)
    assert weekly.utcoffset() == ZoneInfo("Asia/Almaty").utcoffset(weekly.replace(tzinfo=None))
    scheduler.monitor.close()


def test_tick_polls_then_sends_the_first_digest_once(scheduler: Scheduler, tmp_path: Path) -> None:
    scheduler.tick()
    store = scheduler.monitor.store
    assert store.last_heartbeat(scheduler.monitor.worker) == scheduler.monitor.clock()  # type: ignore[attr-defined]
    assert scheduler.monitor.store.counts()["hits"] > 0
    written = list((tmp_path / "state" / "digests").glob("morning_file-*.html"))
    assert len(written) == 1
    scheduler.tick()
    assert len(list((tmp_path / "state" / "digests").glob("morning_file-*.html"))) == 1
    scheduler.monitor.close()


def test_a_failing_job_is_logged_and_the_scheduler_goes_on(
    scheduler: Scheduler, caplog: pytest.LogCaptureFixture
) -> None:
    calls = []

    def boom() -> None:
        calls.append(1)
        raise StoreError("database is locked")

    def bug() -> None:
        raise KeyError("x")

    with caplog.at_level(logging.ERROR):
        scheduler._guarded("poll", boom)()
        scheduler._guarded("digest", bug)()
    assert calls == [1]
    assert "poll: database is locked" in caplog.text
    assert "digest failed unexpectedly" in caplog.text
    scheduler.stop.set()
    scheduler._guarded("poll", boom)()  # stopping: the job does not run
    assert calls == [1]
    scheduler.monitor.close()


def test_rules_reload_keeps_old_rules_when_the_new_file_is_broken(
    scheduler: Scheduler, tmp_path: Path
) -> None:
    monitor = scheduler.monitor
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    for path in (ROOT / "rules").glob("*.yaml"):
        (rules_dir / path.name).write_text(path.read_text())
    monitor.settings = load_settings_with_rules(tmp_path, rules_dir)
    assert monitor.reload_rules()
    count = len(monitor.ruleset.rules)
    (rules_dir / "zz.yaml").write_text("rules:\n  - id: x\n    query: 'OTS AND ('\n")
    assert monitor.rules_changed()
    assert not monitor.reload_rules()
    assert len(monitor.ruleset.rules) == count
    assert not monitor.rules_changed()  # reported once, not on every check
    (rules_dir / "zz.yaml").write_text(
        "rules:\n  - id: extra\n    name: Extra\n    query: Nakhchivan\n"
    )
    assert monitor.rules_changed() and monitor.reload_rules()
    assert len(monitor.ruleset.rules) == count + 1
    monitor.close()


def load_settings_with_rules(tmp_path: Path, rules_dir: Path):  # type: ignore[no-untyped-def]
    config = tmp_path / "monitor.yaml"
    text = config.read_text().replace(f"rules: [{ROOT / 'rules'}]", f"rules: [{rules_dir}]")
    config.write_text(text)
    return load_settings(config, {})
