"""make_monitor(settings): the only place where concrete classes are wired together."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from monitor import cron, deliver, fulltext, poll
from monitor.channels.document import WithDocument
from monitor.config import AlertSettings, DigestSettings, Settings
from monitor.deliver import DeliveryResult, Target
from monitor.errors import ConfigError, MonitorError
from monitor.feeds import health, schedule
from monitor.feeds.article import extract_text
from monitor.feeds.pages import PageFetcher
from monitor.feeds.pool import ParsePool, default_workers
from monitor.metrics import Holdings, Metrics
from monitor.model import Clock, FeedState, PollResult, Rule, RuleSet, TextReport, utc_now
from monitor.notify import FileNotifier
from monitor.poll import Poller
from monitor.protocols import Extractor, Fetcher, JobStore, Matcher, MessageRenderer, Notifier
from monitor.protocols import PageFetcher as Pages
from monitor.render import Renderer
from monitor.replay import ReplayReport, replay
from monitor.rules import compile_rules, load_rules
from monitor.rules.load import rules_signature
from monitor.senders import make_notifiers
from monitor.store import Store, read_heartbeat

log = logging.getLogger(__name__)


def feed_states(settings: Settings) -> list[FeedState]:
    """The configured feeds: a feed's own ``interval`` is fixed (min = max); without one,
    its own or poll's min_interval and max_interval bound its rhythm."""
    p = settings.poll
    states = []
    for f in settings.feeds:
        low, high = schedule.bounds(
            f.interval, f.min_interval, f.max_interval, (p.min_interval, p.max_interval)
        )
        states.append(
            FeedState(
                id=f.id,
                url=settings.feed_url(f),
                title=f.title,
                conditional=f.conditional,
                min_interval=low,
                max_interval=high,
                full_text=p.full_text if f.full_text is None else f.full_text,
            )
        )
    return states


@dataclass(frozen=True)
class RunReport:
    """What one `run --once` did."""

    polls: Sequence[PollResult]
    sends: Sequence[DeliveryResult]

    def failure(self) -> str | None:
        """One line when every feed or every send failed (the run should exit 1)."""
        problems = []
        failed_feeds = sum(1 for r in self.polls if r.status in ("error", "gone"))
        if self.polls and failed_feeds == len(self.polls):
            problems.append(f"every feed failed ({failed_feeds} of {len(self.polls)})")
        sent = sum(r.sent for r in self.sends)
        failed = sum(r.failed for r in self.sends)
        if failed and not sent:
            problems.append(f"every send failed ({failed} message{'s' if failed > 1 else ''})")
        return "; ".join(problems) + " (the log above says why)" if problems else None


@dataclass
class Monitor:
    """The wired job. The scheduler and the CLI call these methods and nothing below."""

    settings: Settings
    store: JobStore
    fetcher: Fetcher
    renderer: MessageRenderer
    notifiers: Mapping[str, Notifier]
    clock: Clock
    ruleset: RuleSet
    matcher: Matcher
    stop: threading.Event = field(default_factory=threading.Event)
    #: Prometheus metrics, when configured (metrics.port).
    metrics: Metrics | None = None
    #: Who this job is among several sharing one database (its heartbeat's name).
    worker: str = field(default_factory=lambda: worker_id())
    rules_sig: tuple[tuple[str, float, int], ...] = ()
    #: Article pages for feeds with full_text (None: the stage does not run) and the
    #: extractor of their text.
    pages: Pages | None = None
    extract: Extractor = extract_text
    #: Folds the items a poll stored into the archive's search index (store.index_items).
    search_index: Callable[[], int] | None = None

    # ------------------------------------------------------------------ rules

    @property
    def rules(self) -> dict[str, Rule]:
        return self.ruleset.by_id()

    def rules_changed(self) -> bool:
        return rules_signature(self.settings.rules) != self.rules_sig

    def reload_rules(self) -> bool:
        """Load the rules again; on an error keep the old ones and say why."""
        sig = rules_signature(self.settings.rules)
        try:
            ruleset = load_rules(list(self.settings.rules))
            matcher = compile_rules(ruleset)
        except ConfigError as e:
            self.rules_sig = sig
            for problem in e.problems:
                log.error("%s", problem)
            log.error("rules not reloaded: keeping the %d rules in force", len(self.ruleset.rules))
            return False
        self.ruleset, self.matcher, self.rules_sig = ruleset, matcher, sig
        log.info("rules reloaded: %d rules", len(ruleset.rules))
        return True

    # ------------------------------------------------------------------ work

    def poll(self, progress: Callable[[int, int], None] | None = None) -> list[PollResult]:
        """One poll cycle over the due feeds. `progress(done, total)` is called once the
        due feeds are known and after each feed (for a progress bar)."""
        p = self.settings.poll
        total = 0

        def started(count: int) -> None:
            nonlocal total
            total = count
            if progress is not None:
                progress(0, count)

        poller = poll.Poller(
            self.store,
            self.fetcher,
            self.matcher,
            clock=self.clock,
            max_backoff=p.max_backoff,
            parsers=parsers_for(p.parse_workers),
            limits=health.Limits(fail_after=p.failing_after, silent_factor=p.silent_after),
            stop=self.stop,
            on_start=started,
            # Several instances share a PostgreSQL database; one SQLite job takes all.
            claim=None if self.settings.storage.startswith("sqlite") else poll.CLAIM,
        )
        start = time.monotonic()
        results: list[PollResult] = []
        for result in self._stages(poller):
            results.append(result)
            if result.new_items:
                log.info(
                    "feed %s: %d new items, %d hits",
                    result.feed_id,
                    result.new_items,
                    result.new_hits,
                    extra={"feed": result.feed_id},
                )
            else:
                log.debug(
                    "feed %s: %s", result.feed_id, result.status, extra={"feed": result.feed_id}
                )
            if progress is not None:
                progress(len(results), total)
        if self.search_index is not None and any(r.new_items for r in results):
            try:
                self.search_index()
            except MonitorError as e:  # the archive's search only; the poll is stored
                log.error("search index not updated: %s", e)
        elapsed = time.monotonic() - start
        if self.metrics is not None:
            self.metrics.polled(results, elapsed, poller.match_seconds)
        if results:
            counts = Counter(r.status.replace("_", " ") for r in results)
            log.info(
                "polled %d feeds in %.1f s: %s; %d new items, %d hits",
                len(results),
                elapsed,
                ", ".join(f"{n} {status}" for status, n in sorted(counts.items())),
                sum(r.new_items for r in results),
                sum(r.new_hits for r in results),
            )
        return results

    def _stages(self, poller: Poller) -> Iterator[PollResult]:
        """The poll cycle's results, then the full-text stage's (items awaiting their
        article, those of this cycle's feeds among them)."""
        yield from poller.run()
        if self.pages is None or self.stop.is_set():
            return
        stage = fulltext.TextStage(
            self.store,
            self.pages,
            self.matcher,
            self.extract,
            clock=self.clock,
            retries=self.settings.poll.full_text_retries,
            stop=self.stop,
        )
        yield from stage.run()
        poller.match_seconds += stage.match_seconds

    def targets(self) -> list[Target]:
        rules = self.ruleset.rules
        out: list[Target] = []
        configs: list[DigestSettings | AlertSettings] = [
            *self.settings.digests,
            *self.settings.alerts,
        ]
        for cfg in configs:
            alert = cfg if isinstance(cfg, AlertSettings) else None
            is_alert = alert is not None
            rule_ids = deliver.select_rules(rules, ids=cfg.rules, tags=cfg.tags, high_only=is_alert)
            rate = alert.rate_limit if alert is not None else None
            for channel in cfg.deliver:
                out.append(
                    Target(
                        config_id=cfg.id,
                        channel=channel,
                        kind="alert" if is_alert else "digest",
                        title=cfg.title or cfg.id,
                        rule_ids=rule_ids,
                        timezone=cfg.timezone,
                        recipients=cfg.recipients,
                        limit=cfg.limit,
                        max_age=cfg.max_age,
                        send_empty=isinstance(cfg, DigestSettings) and cfg.send_empty,
                        item_max_age=alert.max_age if alert is not None else None,
                        rate_limit=(rate.count, rate.per) if rate is not None else None,
                    )
                )
        return out

    def _deliver(
        self,
        target: Target,
        *,
        dry_run: bool = False,
        notices: Sequence[str] = (),
        fresh: bool = True,
        archive: str | None = None,
    ) -> DeliveryResult:
        result = deliver.run(
            self.store,
            self.renderer,
            self.notifiers.get(target.key) or self.notifiers[target.channel],
            target,
            self.rules,
            self.clock(),
            dry_run=dry_run,
            notices=notices,
            fresh=fresh,
            entities={e.id: e.name for e in self.ruleset.entities},
            archive=archive,
        )
        if self.metrics is not None:
            self.metrics.delivered(target.kind, result.status)
        return result

    def _written(self, result: DeliveryResult) -> str | None:
        """The HTML file a sent file-channel message was written to."""
        files = self.notifiers.get("file")
        if result.status != "sent" or result.message is None:
            return None
        if not isinstance(files, FileNotifier):
            return None
        path = files.existing(result.message)
        return str(path) if path else None

    def _digests(
        self, targets: Sequence[Target], *, dry_run: bool = False, fresh: bool = True
    ) -> list[DeliveryResult]:
        """Send digest targets with the feed-health notices raised so far. The notices are
        taken (told once) only when a channel got them out; if every send fails they wait
        for the next digest. A run with new hits (``fresh``) is recorded as the digest's
        last run, whatever came of it: a failed message is retried on its own."""
        if not targets:
            return []
        notices = self.store.feed_notices(self.clock(), take=False)
        results: list[DeliveryResult] = []
        archives: dict[str, str] = {}  # digest id -> the file its file channel wrote
        for t in targets:
            result = self._deliver(
                t,
                dry_run=dry_run,
                notices=notices,
                fresh=fresh,
                archive=archives.get(t.config_id),
            )
            written = self._written(result) if t.channel == "file" else None
            if written:
                archives[t.config_id] = written
            results.append(result)
        if notices and not dry_run and any(r.status == "sent" for r in results):
            self.store.ack_notices(notices)
        if fresh and not dry_run:
            now = self.clock()
            for target in targets:
                self.store.record_run(target.key, now)
        return results

    def send_digest(
        self, digest_id: str | None = None, *, dry_run: bool = False
    ) -> list[DeliveryResult]:
        """Send one digest (all channels), or every digest when no id is given."""
        known = {d.id for d in self.settings.digests}
        if digest_id is not None and digest_id not in known:
            raise ConfigError(
                f"no digest {digest_id!r} in {self.settings.source} "
                f"(digests: {', '.join(sorted(known)) or 'none'})"
            )
        return self._digests(
            [
                t
                for t in self.targets()
                if t.kind == "digest" and (digest_id is None or t.config_id == digest_id)
            ],
            dry_run=dry_run,
        )

    def send_alerts(self) -> list[DeliveryResult]:
        return [self._deliver(t) for t in self.targets() if t.kind == "alert"]

    def retry_failed(self) -> list[DeliveryResult]:
        """The failed messages that are due again (any kind), each on its own; new hits
        wait for their digest's schedule or the next alert."""
        due = set(self.store.retry_targets(self.clock()))
        targets = [t for t in self.targets() if t.key in due]
        return self._digests([t for t in targets if t.kind == "digest"], fresh=False) + [
            self._deliver(t, fresh=False) for t in targets if t.kind == "alert"
        ]

    def digest_due(self, target: Target) -> bool:
        """A digest is due when it never ran, or a scheduled time passed since it last
        ran (in its time zone)."""
        last = self.store.last_run(target.key)
        if last is None:
            return True
        config = {d.id: d for d in self.settings.digests}[target.config_id]
        when = cron.next_time(cron.parse(config.schedule), ZoneInfo(config.timezone), last)
        return when is not None and when <= self.clock()

    def due_digests(self) -> list[DeliveryResult]:
        """The digests whose scheduled time passed since they last ran (or that never
        ran): what `run --once` sends, and what a restarted job catches up on."""
        return self._digests(
            [t for t in self.targets() if t.kind == "digest" and self.digest_due(t)]
        )

    def first_digests(self) -> list[DeliveryResult]:
        """Digests never sent before go out at once, so a new user sees output quickly."""
        return self._digests(
            [
                t
                for t in self.targets()
                if t.kind == "digest" and not self.store.delivered_ever(t.key)
            ]
        )

    def beat(self) -> None:
        """The running job is alive (read by ``monitor health``)."""
        self.store.heartbeat(self.clock(), self.worker)

    def stopped(self) -> None:
        """The running job stopped: its heartbeat goes, so no health check sees it alive."""
        self.store.clear_heartbeat(self.worker)

    def holdings(self) -> Holdings:
        """Pending hits per target and feeds per state, for the metrics endpoint."""
        now = self.clock()
        pending = {
            t.key: len(self.store.peek(replace(t.pending(now), limit=10_000, item_max_age=None)))
            for t in self.targets()
        }
        states = Counter(health.status(f) for f in self.store.feeds())
        return Holdings(pending=pending, feeds=dict(states))

    def serve_metrics(self) -> Any:
        """Start the metrics endpoint when configured; returns the server or None."""
        cfg = self.settings.metrics
        if cfg.port is None:
            return None
        self.metrics = self.metrics or Metrics()
        self.metrics.watch(self.holdings)
        return self.metrics.serve(cfg.host, cfg.port)

    def run_once(self, *, force: bool = False) -> RunReport:
        """One poll, its alerts, due retries, the digests that are due (every digest with
        ``force``) and housekeeping; for cron users."""
        polls = self.poll()
        sends = [*self.send_alerts(), *self.retry_failed()]
        sends += self.send_digest() if force else self.due_digests()
        self.housekeeping()
        return RunReport(polls, sends)

    def housekeeping(self) -> int:
        now = self.clock()
        return self.store.prune(
            now - timedelta(seconds=self.settings.retention),
            seen_before=now - timedelta(seconds=self.settings.seen_retention),
        )

    def feeds(self) -> list[FeedState]:
        return self.store.feeds()

    def text_reports(self) -> dict[str, TextReport]:
        """Per feed with full text: its items by article state (``monitor feeds``)."""
        return self.store.text_reports()

    def close(self) -> None:
        self.stop.set()
        self.store.close()


#: Cycles with fewer due feeds parse in the job's own process (starting workers costs more).
POOL_MIN_FEEDS = 16


def parsers_for(
    workers: int | None, *, min_feeds: int = POOL_MIN_FEEDS, timeout: float = 120.0
) -> poll.ParsersFor:
    """Parser processes for a big cycle (``workers``: None = one per core, 0 = none), the
    job's own process for a small one."""
    count = default_workers() if workers is None else workers

    def make(due: int) -> poll.Parsers:
        if count <= 0 or due < min_feeds:
            return poll.InlineParsers(poll.parse_here)
        return ParsePool(count, timeout=timeout)

    return make


def open_store(settings: Settings) -> Store:
    """The configured database, migrated to the current schema."""
    store = Store(settings.storage)
    try:
        store.migrate()
    except BaseException:
        store.close()
        raise
    return store


def worker_id(env: Mapping[str, str] | None = None) -> str:
    """This job's name among workers: $MONITOR_WORKER_ID, else the host (the container)."""
    env = os.environ if env is None else env
    return env.get("MONITOR_WORKER_ID") or socket.gethostname()


def last_heartbeat(settings: Settings) -> datetime | None:
    """When the job running here (this worker) last ticked; None when it never did or has
    stopped. Reads only: creates no database and migrates nothing."""
    return read_heartbeat(settings.storage, worker_id())


def replay_rules(
    settings: Settings, matcher: Matcher, since: datetime, now: datetime
) -> ReplayReport:
    """Match the items stored since ``since`` again and compare with their stored hits."""
    store = open_store(settings)
    try:
        return replay(store, matcher, since, now)
    finally:
        store.close()


def make_monitor(settings: Settings, *, clock: Clock = utc_now) -> Monitor:
    """Wire the job from settings. Raises MonitorError (one line each) for bad input."""
    problems = Renderer(settings.templates).check()
    if problems:
        raise ConfigError(
            problems[0] if len(problems) == 1 else f"{len(problems)} template problems", problems
        )
    ruleset = load_rules(list(settings.rules))
    matcher = compile_rules(ruleset)
    store = open_store(settings)
    store.sync_feeds(feed_states(settings))
    p = settings.poll
    fetcher = PageFetcher(
        concurrency=p.concurrency,
        per_host=p.per_host,
        connect_timeout=p.connect_timeout,
        read_timeout=p.read_timeout,
        total_timeout=p.total_timeout,
        max_bytes=p.max_bytes,
        max_redirects=p.max_redirects,
        user_agent=p.user_agent,
        clock=clock,
        page_max_bytes=p.full_text_max_bytes,
        allow_private_redirects=p.allow_private_redirects,
    )
    stop = threading.Event()
    fetcher.stop = stop
    notifiers = make_notifiers(settings)
    return Monitor(
        settings=settings,
        store=store,
        fetcher=fetcher,
        renderer=WithDocument(Renderer(settings.templates)),
        notifiers=notifiers,
        clock=clock,
        ruleset=ruleset,
        matcher=matcher,
        stop=stop,
        rules_sig=rules_signature(settings.rules),
        pages=fetcher,
        search_index=store.index_items,
    )
