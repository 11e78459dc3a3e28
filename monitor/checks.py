"""``monitor check``: configuration, rules and templates validated without network or
database, every problem with its file and line, and when each digest is next sent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from monitor import cron
from monitor.config import Settings, load_settings
from monitor.errors import ConfigError
from monitor.model import utc_now
from monitor.render import Renderer
from monitor.rules import compile_rules


@dataclass(frozen=True)
class CheckReport:
    """What `monitor check` found: problems (none: valid), warnings (allowed but probably
    not meant), and when each digest is next sent."""

    problems: list[str]
    warnings: list[str] = field(default_factory=list)
    next_sends: list[str] = field(default_factory=list)


def next_sends(settings: Settings, now: datetime) -> list[str]:
    """One line per digest: when it is next sent, in its time zone."""
    lines = []
    for digest in settings.digests:
        tz = ZoneInfo(digest.timezone)
        when = cron.next_time(cron.parse(digest.schedule), tz, now)
        at = f"{when:%a %Y-%m-%d %H:%M %Z}" if when else "never"
        lines.append(f"digest {digest.id}: next send {at} ({digest.timezone}, {digest.schedule!r})")
    return lines


def check(config: Path, env: Mapping[str, str] | None = None) -> tuple[list[str], list[str]]:
    """Validate config, rules and templates without network or database: (problems,
    warnings), each naming its file and line. No problems means the job can start."""
    report = check_config(config, env)
    return report.problems, report.warnings


def check_config(
    config: Path, env: Mapping[str, str] | None = None, *, now: datetime | None = None
) -> CheckReport:
    """check(), and when each digest is next sent after ``now`` (default: the real clock)."""
    try:
        settings = load_settings(config, env)
    except ConfigError as e:
        return CheckReport(list(e.problems))
    problems, warnings = _check_settings(settings)
    return CheckReport(
        problems, warnings, [] if problems else next_sends(settings, now or utc_now())
    )


def _check_settings(settings: Settings) -> tuple[list[str], list[str]]:
    from urllib.parse import urlsplit
    from urllib.request import url2pathname

    from monitor.rules.load import check_rules

    problems = list(Renderer(settings.templates).check())
    for i, feed in enumerate(settings.all_feeds):
        url = settings.feed_url(feed)
        if feed.enabled and url.startswith("file:"):
            path = Path(url2pathname(urlsplit(url).path))
            if not path.is_file():
                where = settings.where("feeds", i, "url")
                problems.append(f"{where}: feeds[{i}].url: no such file {path}")
    try:
        ruleset, warnings = check_rules(
            list(settings.rules), feeds={f.id for f in settings.all_feeds}
        )
        compile_rules(ruleset)
    except ConfigError as e:
        return [*problems, *e.problems], []
    known = {r.id for r in ruleset.rules}
    tags = {tag for r in ruleset.rules for tag in r.tags}
    for section, targets in (("digests", settings.digests), ("alerts", settings.alerts)):
        for i, target in enumerate(targets):
            problems.extend(
                f"{settings.where(section, i, 'rules', j)}: {section}[{i}].rules: "
                f"no rule with id {rule_id!r}"
                for j, rule_id in enumerate(target.rules)
                if rule_id not in known
            )
            problems.extend(
                f"{settings.where(section, i, 'tags', j)}: {section}[{i}].tags: "
                f"no rule has the tag {tag!r}"
                for j, tag in enumerate(target.tags)
                if tag not in tags
            )
    return problems, warnings
