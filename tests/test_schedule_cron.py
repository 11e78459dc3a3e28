"""Digest schedules: standard cron semantics (0 and 7 are Sunday, 1-5 is Monday to Friday),
every field checked with file and line, and the next send time, from an injected clock."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from monitor import cron
from monitor.app import make_monitor
from monitor.config import load_settings
from monitor.errors import ConfigError
from monitor.scheduler import Scheduler

from .helpers import SAMPLE_CONFIG, SAMPLE_FEED, FakeClock, job_config, sample_project
from .test_cli import run

ISTANBUL = ZoneInfo("Europe/Istanbul")
#: Tuesday 16 December 2025, 09:00 in Istanbul.
TUESDAY = datetime(2025, 12, 16, 6, 0, tzinfo=UTC)


def fire_times(expression: str, count: int = 7, tz: ZoneInfo = ISTANBUL) -> list[datetime]:
    parsed = cron.parse(expression)
    out: list[datetime] = []
    now = TUESDAY
    for _ in range(count):
        when = cron.next_time(parsed, tz, now)
        assert when is not None
        out.append(when)
        now = when
    return out


def days(times: list[datetime]) -> list[str]:
    return [t.strftime("%a") for t in times]


@pytest.mark.parametrize("sunday", ["0 7 * * 0", "0 7 * * 7", "0 7 * * sun", "0 7 * * SUN"])
def test_zero_seven_and_sun_are_sunday(sunday: str) -> None:
    times = fire_times(sunday, 3)
    assert days(times) == ["Sun", "Sun", "Sun"]
    assert times[0] == datetime(2025, 12, 21, 7, 0, tzinfo=ISTANBUL)


@pytest.mark.parametrize("weekdays", ["0 7 * * 1-5", "0 7 * * mon-fri", "0 7 * * 1,2,3,4,5"])
def test_one_to_five_is_monday_to_friday(weekdays: str) -> None:
    times = fire_times(weekdays, 6)
    # From Tuesday 09:00: Wednesday is next, then Thursday, Friday, and Monday again.
    assert days(times) == ["Wed", "Thu", "Fri", "Mon", "Tue", "Wed"]
    assert all((t.hour, t.minute, t.second) == (7, 0, 0) for t in times)
    assert times[3] == datetime(2025, 12, 22, 7, 0, tzinfo=ISTANBUL)


def test_weekend_ranges_and_steps() -> None:
    assert days(fire_times("0 7 * * sat-sun", 4)) == ["Sat", "Sun", "Sat", "Sun"]
    assert days(fire_times("0 7 * * 5-7", 3)) == ["Fri", "Sat", "Sun"]
    assert days(fire_times("0 7 * * */2", 4)) == ["Thu", "Sat", "Sun", "Tue"]  # 0,2,4,6
    assert [t.minute for t in fire_times("*/20 9 * * *", 3)] == [20, 40, 0]


def test_month_names_and_day_of_month() -> None:
    (first, second) = fire_times("0 7 1 jan,jul *", 2)
    assert (first.month, first.day, second.month, second.day) == (1, 1, 7, 1)


def test_day_and_weekday_together_fire_on_either_as_cron_does() -> None:
    times = fire_times("0 7 1 * mon", 4)
    # Mondays 22 and 29 December, then Thursday 1 January (the 1st), then Monday 5.
    assert [t.strftime("%a %d") for t in times] == ["Mon 22", "Mon 29", "Thu 01", "Mon 05"]


def test_next_time_is_strictly_after_and_keeps_the_local_hour_across_dst() -> None:
    parsed = cron.parse("0 7 * * *")
    at_seven = datetime(2025, 12, 17, 7, 0, tzinfo=ISTANBUL)
    assert cron.next_time(parsed, ISTANBUL, at_seven) == at_seven + timedelta(days=1)
    berlin = ZoneInfo("Europe/Berlin")
    before_dst = datetime(2026, 3, 28, 12, 0, tzinfo=berlin)
    after = cron.next_time(parsed, berlin, before_dst)
    assert after is not None and (after.day, after.hour) == (29, 7)
    assert after.utcoffset() == timedelta(hours=2)  # summer time began that night


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 25 * * *", "hour 25 is out of range 0-23"),
        ("61 7 * * *", "minute 61 is out of range 0-59"),
        ("*/0 * * * *", "minute step 0 never advances"),
        ("0 7 */0 * *", "day of month step 0 never advances"),
        ("0 7 32 * *", "day of month 32 is out of range 1-31"),
        ("0 7 0 * *", "day of month 0 is out of range 1-31"),
        ("0 7 * 13 *", "month 13 is out of range 1-12"),
        ("0 7 * * 8", "weekday 8 is out of range 0-7"),
        ("0 7 * * funday", "weekday 'funday' is not a number or a name (sun-sat)"),
        ("0 7 * smarch *", "month 'smarch' is not a number or a name (jan-dec)"),
        ("0 7 * * 5-1", "weekday range '5-1' goes backwards"),
        ("0 7 1,,2 * *", "day of month has an empty value"),
        ("0 7 * * 1-5/x", "weekday step 'x' is not a number"),
        ("0 7 30 2 *", "never fires"),
        ("0 7 * *", "needs five fields"),
        ("0 7 * * * *", "needs five fields"),
    ],
)
def test_invalid_fields_are_named(expression: str, message: str) -> None:
    with pytest.raises(cron.CronError, match=re.escape(message)):
        cron.parse(expression)


def test_a_leap_day_schedule_is_valid() -> None:
    (when,) = fire_times("0 7 29 2 *", 1)
    assert (when.year, when.month, when.day) == (2028, 2, 29)


# --------------------------------------------------------------------------- config


def write_config(tmp_path: Path, schedule: str, *, timezone: str = "Europe/Istanbul") -> Path:
    daily = f"digests:\n  - id: daily\n    schedule: '{schedule}'\n    timezone: {timezone}\n"
    return job_config(tmp_path, SAMPLE_FEED + daily, digests_dir=False)


def test_config_names_file_line_and_field_of_a_bad_schedule(tmp_path: Path) -> None:
    config = write_config(tmp_path, "0 25 * * *")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, {})
    assert caught.value.problems == (
        f"{config}:9: digests[0].schedule: hour 25 is out of range 0-23 in '0 25 * * *'",
    )


def test_the_scheduler_fires_standard_weekdays(tmp_path: Path, clock: FakeClock) -> None:
    """`* * * * 7` used to crash `monitor run`; `1-5` used to mean Tuesday to Saturday."""
    config = write_config(tmp_path, "* * * * 7")
    text = config.read_text() + "  - id: weekdays\n    schedule: '0 7 * * 1-5'\n"
    config.write_text(text + "    timezone: Europe/Istanbul\n")
    scheduler = Scheduler(make_monitor(load_settings(config, {}), clock=clock))
    try:
        scheduler.setup()
        jobs = {job.id: job for job in scheduler.scheduler.get_jobs()}
        sunday = jobs["digest:daily"].trigger.get_next_fire_time(None, TUESDAY)
        assert sunday == datetime(2025, 12, 21, 0, 0, tzinfo=ISTANBUL)
        when, seen = TUESDAY, []
        for _ in range(5):
            when = jobs["digest:weekdays"].trigger.get_next_fire_time(None, when)
            seen.append(when.strftime("%a"))
            when += timedelta(seconds=1)
        assert seen == ["Wed", "Thu", "Fri", "Mon", "Tue"]
    finally:
        scheduler.monitor.close()


# --------------------------------------------------------------------------- monitor check


def check_with(folder: Path, *schedules: str) -> tuple[int, str, str]:
    """`monitor check` in a project whose digests have these schedules."""
    digests = "".join(
        f"  - id: d{i}\n    schedule: '{s}'\n    timezone: Europe/Istanbul\n"
        for i, s in enumerate(schedules)
    )
    project = sample_project(folder, SAMPLE_CONFIG + f"digests:\n{digests}")
    result = run("check", cwd=project)
    return result.returncode, result.stdout, result.stderr


def test_check_refuses_every_bad_field_with_file_and_line(tmp_path: Path) -> None:
    code, _out, err = check_with(tmp_path, "0 25 * * *", "61 7 * * *", "*/0 * * * *", "0 7 * * 8")
    assert code == 1
    assert "Traceback" not in err
    lines = err.splitlines()
    assert lines == [
        "error: monitor.yaml:7: digests[0].schedule: hour 25 is out of range 0-23 in '0 25 * * *'",
        "error: monitor.yaml:10: digests[1].schedule: minute 61 is out of range 0-59 "
        "in '61 7 * * *'",
        "error: monitor.yaml:13: digests[2].schedule: minute step 0 never advances "
        "in '*/0 * * * *'",
        "error: monitor.yaml:16: digests[3].schedule: weekday 8 is out of range 0-7 in '0 7 * * 8'",
    ]


def test_check_prints_each_digests_next_send_in_its_time_zone(tmp_path: Path) -> None:
    code, out, err = check_with(tmp_path, "0 7 * * 0", "30 9 * * 1-5", "0 7 * * 7")
    assert code == 0, err
    sends = {
        m.group(1): m
        for m in re.finditer(r"^digest (d\d): next send (\w{3}) (\S+ \S+) (\S+)", out, re.M)
    }
    assert set(sends) == {"d0", "d1", "d2"}
    assert sends["d0"].group(2) == "Sun" and sends["d2"].group(2) == "Sun"
    assert sends["d1"].group(2) in {"Mon", "Tue", "Wed", "Thu", "Fri"}
    for match in sends.values():
        assert match.group(4) == "+03"  # Europe/Istanbul
        when = datetime.strptime(match.group(3), "%Y-%m-%d %H:%M").replace(
            tzinfo=ZoneInfo("Europe/Istanbul")
        )
        assert when.strftime("%a") == match.group(2)
        assert when > datetime.now(UTC)
    assert "(Europe/Istanbul, '0 7 * * 0')" in out
