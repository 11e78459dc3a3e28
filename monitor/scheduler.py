"""APScheduler 3: the poll tick, one cron job per digest, housekeeping, signals, reloads.

The jobs of one process run one at a time (a lock), so a slow poll never overlaps a
digest on the same database. Progress lives in the database, so a restart neither
repeats nor skips work. SIGTERM and Ctrl-C stop the job within a few seconds: the poll in
flight is cut short between feeds and its unfinished feeds are polled on the next start.
"""

from __future__ import annotations

import functools
import logging
import signal
import threading
from collections.abc import Callable
from datetime import timedelta
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler

from monitor import cron
from monitor.app import Monitor, RunReport
from monitor.errors import MonitorError

log = logging.getLogger(__name__)

HOUSEKEEPING_EVERY = timedelta(hours=1)
RULES_CHECK_EVERY = timedelta(seconds=10)


def run_once(monitor: Monitor, *, force: bool = False) -> RunReport:
    """One poll, its alerts, due retries and the digests that are due (all with
    ``force``); for cron users."""
    return monitor.run_once(force=force)


class Scheduler:
    """Runs the monitor until stopped."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor
        self.lock = threading.Lock()
        self.stop = monitor.stop
        self.first_tick = True
        self.scheduler = BackgroundScheduler(
            timezone="UTC",
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        )

    def _guarded(self, name: str, work: Callable[[], Any]) -> Callable[[], None]:
        def job() -> None:
            if self.stop.is_set():
                return
            with self.lock:
                if self.stop.is_set():
                    return
                try:
                    work()
                except MonitorError as e:
                    log.error("%s: %s", name, e)
                except Exception:
                    # A bug: say so loudly, keep the job running for the next tick.
                    log.exception("%s failed unexpectedly", name)

        return job

    def tick(self) -> None:
        """Poll what is due, send alerts and due retries; the first tick also sends the
        digests that are due (never sent, so a new user sees output at once, or whose
        scheduled time passed while the job was down)."""
        m = self.monitor
        m.beat()
        m.poll()
        if self.stop.is_set():
            return
        m.send_alerts()
        m.retry_failed()
        if self.first_tick:
            self.first_tick = False
            m.due_digests()

    def check_rules(self) -> None:
        if self.monitor.rules_changed():
            self.monitor.reload_rules()

    def setup(self) -> None:
        m = self.monitor
        now = m.clock()
        self.scheduler.add_job(
            self._guarded("poll", self.tick),
            "interval",
            id="poll",
            seconds=m.settings.poll.tick,
            next_run_time=now,
        )
        for digest in m.settings.digests:
            # Standard cron weekdays (0 and 7 are Sunday), not APScheduler's (0 is Monday).
            trigger = cron.trigger(cron.parse(digest.schedule), ZoneInfo(digest.timezone))
            self.scheduler.add_job(
                self._guarded(f"digest {digest.id}", functools.partial(m.send_digest, digest.id)),
                trigger,
                id=f"digest:{digest.id}",
            )
        self.scheduler.add_job(
            self._guarded("housekeeping", m.housekeeping),
            "interval",
            id="housekeeping",
            seconds=HOUSEKEEPING_EVERY.total_seconds(),
            next_run_time=now + timedelta(minutes=5),
        )
        self.scheduler.add_job(
            self._guarded("rules", self.check_rules),
            "interval",
            id="rules",
            seconds=RULES_CHECK_EVERY.total_seconds(),
        )

    def describe(self) -> list[str]:
        return [f"{job.id}: next at {job.next_run_time}" for job in self.scheduler.get_jobs()]

    def run(self, *, install_signals: bool = True) -> None:
        """Start, then block until SIGTERM, SIGINT or stop is set."""
        if install_signals:

            def on_signal(signum: int, _frame: FrameType | None) -> None:
                log.info("received %s: stopping", signal.Signals(signum).name)
                self.stop.set()

            signal.signal(signal.SIGTERM, on_signal)
            signal.signal(signal.SIGINT, on_signal)
        self.setup()
        endpoint = self.monitor.serve_metrics()
        self.scheduler.start()
        for line in self.describe():
            log.info("scheduled %s", line)
        try:
            while not self.stop.wait(0.5):
                pass
        finally:
            self.scheduler.shutdown(wait=True)
            if endpoint is not None:
                endpoint.shutdown()
            try:
                self.monitor.stopped()
            except MonitorError as e:
                log.error("could not clear the heartbeat: %s", e)
            log.info("stopped")
