"""make_monitor(settings): the only place where concrete classes are wired together."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from monitor import deliver, poll
from monitor.config import AlertSettings, DigestSettings, Settings, load_settings
from monitor.deliver import DeliveryResult, Target
from monitor.errors import ConfigError
from monitor.feeds import health
from monitor.feeds.fetch import HttpFetcher
from monitor.feeds.pool import ParsePool, default_workers
from monitor.model import (
    Clock,
    FeedState,
    Fetcher,
    JobStore,
    Matcher,
    MessageRenderer,
    Notifier,
    PollResult,
    Rule,
    RuleSet,
    utc_now,
)
from monitor.notify import FileNotifier, SmtpNotifier
from monitor.render import Renderer
from monitor.replay import ReplayReport, replay
from monitor.rules import compile_rules, load_rules
from monitor.store import Store

log = logging.getLogger(__name__)


def rule_files(paths: tuple[Path, ...]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml")))
        else:
            out.append(path)
    return out


def rules_signature(paths: tuple[Path, ...]) -> tuple[tuple[str, float, int], ...]:
    """Changes when a rule file is added, removed or edited."""
    sig = []
    for path in rule_files(paths):
        try:
            stat = path.stat()
        except OSError:
            continue
        sig.append((str(path), stat.st_mtime, stat.st_size))
    return tuple(sig)


def feed_states(settings: Settings) -> list[FeedState]:
    return [
        FeedState(
            id=f.id,
            url=settings.feed_url(f),
            title=f.title,
            conditional=f.conditional,
            min_interval=int(f.interval or settings.poll.min_interval),
            max_interval=int(max(settings.poll.max_interval, f.interval or 0)),
        )
        for f in settings.feeds
    ]


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
    rules_sig: tuple[tuple[str, float, int], ...] = ()

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
        for result in poller.run():
            results.append(result)
            if result.new_items:
                log.info(
                    "feed %s: %d new items, %d hits",
                    result.feed_id,
                    result.new_items,
                    result.new_hits,
                )
            else:
                log.debug("feed %s: %s", result.feed_id, result.status)
            if progress is not None:
                progress(len(results), total)
        if results:
            counts = Counter(r.status.replace("_", " ") for r in results)
            log.info(
                "polled %d feeds in %.1f s: %s; %d new items, %d hits",
                len(results),
                time.monotonic() - start,
                ", ".join(f"{n} {status}" for status, n in sorted(counts.items())),
                sum(r.new_items for r in results),
                sum(r.new_hits for r in results),
            )
        return results

    def targets(self) -> list[Target]:
        rules = self.ruleset.rules
        out: list[Target] = []
        configs: list[DigestSettings | AlertSettings] = [
            *self.settings.digests,
            *self.settings.alerts,
        ]
        for cfg in configs:
            is_alert = isinstance(cfg, AlertSettings)
            rule_ids = deliver.select_rules(rules, ids=cfg.rules, tags=cfg.tags, high_only=is_alert)
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
                    )
                )
        return out

    def _deliver(
        self, target: Target, *, dry_run: bool = False, notices: Sequence[str] = ()
    ) -> DeliveryResult:
        return deliver.run(
            self.store,
            self.renderer,
            self.notifiers[target.channel],
            target,
            self.rules,
            self.clock(),
            dry_run=dry_run,
            notices=notices,
        )

    def _digests(self, targets: Sequence[Target], *, dry_run: bool = False) -> list[DeliveryResult]:
        """Send digest targets with the feed-health notices raised so far. The notices are
        taken (told once) only when a channel got them out; if every send fails they wait
        for the next digest."""
        if not targets:
            return []
        notices = self.store.feed_notices(self.clock(), take=False)
        results = [self._deliver(t, dry_run=dry_run, notices=notices) for t in targets]
        if notices and not dry_run and any(r.status == "sent" for r in results):
            self.store.ack_notices(notices)
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
        """Targets whose failed sends are due again (any kind)."""
        due = set(self.store.retry_targets(self.clock()))
        targets = [t for t in self.targets() if t.key in due]
        return self._digests([t for t in targets if t.kind == "digest"]) + [
            self._deliver(t) for t in targets if t.kind == "alert"
        ]

    def first_digests(self) -> list[DeliveryResult]:
        """Digests never sent before go out at once, so a new user sees output quickly."""
        return self._digests(
            [
                t
                for t in self.targets()
                if t.kind == "digest" and not self.store.delivered_ever(t.key)
            ]
        )

    def housekeeping(self) -> int:
        now = self.clock()
        self.store.heartbeat(now)
        return self.store.prune(now - timedelta(seconds=self.settings.retention))

    def feeds(self) -> list[FeedState]:
        return self.store.feeds()

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


def last_heartbeat(settings: Settings) -> datetime | None:
    """When a running job last ticked (None: never)."""
    store = open_store(settings)
    try:
        return store.last_heartbeat()
    finally:
        store.close()


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
    fetcher = HttpFetcher(
        concurrency=p.concurrency,
        per_host=p.per_host,
        connect_timeout=p.connect_timeout,
        read_timeout=p.read_timeout,
        total_timeout=p.total_timeout,
        max_bytes=p.max_bytes,
        max_redirects=p.max_redirects,
        user_agent=p.user_agent,
        clock=clock,
    )
    stop = threading.Event()
    fetcher.stop = stop
    notifiers: dict[str, Notifier] = {"file": FileNotifier(settings.digests_dir)}
    if settings.smtp.host:
        s = settings.smtp
        notifiers["email"] = SmtpNotifier(
            s.host or "",
            s.port,
            sender=s.sender,
            username=s.username,
            password=s.password,
            starttls=s.starttls,
            use_ssl=s.ssl,
            timeout=s.timeout,
        )
    return Monitor(
        settings=settings,
        store=store,
        fetcher=fetcher,
        renderer=Renderer(settings.templates),
        notifiers=notifiers,
        clock=clock,
        ruleset=ruleset,
        matcher=matcher,
        stop=stop,
        rules_sig=rules_signature(settings.rules),
    )


def check(config: Path, env: Mapping[str, str] | None = None) -> list[str]:
    """Validate config, rules and templates without network or database. [] means fine."""
    try:
        settings = load_settings(config, env)
    except ConfigError as e:
        return list(e.problems)
    problems = list(Renderer(settings.templates).check())
    try:
        ruleset = load_rules(list(settings.rules))
        compile_rules(ruleset)
    except ConfigError as e:
        return [*problems, *e.problems]
    known = {r.id for r in ruleset.rules}
    for section, targets in (("digests", settings.digests), ("alerts", settings.alerts)):
        for i, target in enumerate(targets):
            problems.extend(
                f"{settings.source}: {section}[{i}].rules: no rule with id {rule_id!r}"
                for rule_id in target.rules
                if rule_id not in known
            )
    return problems
