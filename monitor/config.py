"""monitor.yaml + environment -> frozen Settings.

Every error names the file, the line and the key (``monitor.yaml:12: digests[0].shedule:
unknown key``), and all problems are reported at once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from monitor import cron, yamlfile
from monitor.errors import ConfigError
from monitor.feeds import schedule
from monitor.values import (
    BUNDLED_PREFIX,
    DATA_DIR,
    feed_url,
    one_line,
    parse_duration,
    parse_size,
)

Duration = Annotated[float, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]
FeedUrl = Annotated[str, AfterValidator(feed_url)]
Line = Annotated[str, AfterValidator(one_line)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeedSettings(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    url: FeedUrl
    title: Line | None = None
    #: Poll at this interval (with jitter), whatever the feed's rhythm or cache hints.
    interval: Duration | None = None
    #: Without an interval: the bounds of the feed's adaptive rhythm (default: poll's).
    min_interval: Duration | None = None
    max_interval: Duration | None = None
    #: Fetch each new item's page and match on the article's text (default: poll's).
    full_text: bool | None = None
    #: Turn conditional GET off for servers whose validators are broken.
    conditional: bool = True
    enabled: bool = True


class PollSettings(_Strict):
    #: How often the scheduler looks for due feeds.
    tick: Duration = 60
    min_interval: Duration = 900
    max_interval: Duration = 86_400
    max_backoff: Duration = 86_400
    concurrency: int = Field(20, ge=1, le=500)
    per_host: int = Field(2, ge=1, le=50)
    connect_timeout: Duration = 10
    read_timeout: Duration = 30
    total_timeout: Duration = 60
    max_bytes: Size = 10_000_000
    max_redirects: int = Field(5, ge=0, le=20)
    user_agent: Line = "monitor/0.1 (+https://example.org/monitor)"
    #: Processes that parse feeds in big cycles (16 due feeds or more): None means one per
    #: core (at most 4), 0 parses in the polling process.
    parse_workers: int | None = Field(None, ge=0, le=32)
    #: A feed is reported as failing after this many failed polls in a row...
    failing_after: int = Field(5, ge=1, le=1000)
    #: ...and as silent after this many of its usual gaps between items with nothing new.
    silent_after: float = Field(5.0, gt=1.0, le=1000.0)
    #: Feeds fetch their items' article pages unless they say otherwise.
    full_text: bool = False
    #: An article page larger than this keeps the feed's lead.
    full_text_max_bytes: Size = 2_000_000
    #: Tries after the first for a page that did not answer (or answered 429/5xx).
    full_text_retries: int = Field(2, ge=0, le=10)
    #: Let a feed on a public address redirect (or link) us to a private, loopback or
    #: link-local one. Off: such requests are refused.
    allow_private_redirects: bool = False


class SmtpSettings(_Strict):
    host: Line | None = None
    port: int = Field(25, ge=1, le=65_535)
    username: Line | None = None
    password: str | None = None
    sender: Line = "monitor@localhost"
    starttls: bool = False
    ssl: bool = False
    timeout: Duration = 30


class MetricsSettings(_Strict):
    #: The Prometheus endpoint's port; None (the default) turns metrics off.
    port: int | None = Field(None, ge=1, le=65535)
    #: Where it listens: loopback unless you say otherwise.
    host: str = "127.0.0.1"


class WebSettings(MetricsSettings):
    """The archive page: off in ``monitor run`` unless a port is set (README: web)."""


Channel = Literal["file", "email"]


class TargetSettings(_Strict):
    """What digests and alerts share: which hits, where they go."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    title: Line | None = None
    #: Limit to these rule ids; empty means every rule.
    rules: tuple[str, ...] = ()
    #: Limit to rules with any of these tags.
    tags: tuple[str, ...] = ()
    deliver: tuple[Channel, ...] = ("file",)
    recipients: tuple[Line, ...] = ()
    #: Hits older than this are not sent by a target that first sees them.
    max_age: Duration = 7 * 86_400
    #: At most this many hits in one message; the rest go in the next.
    limit: int = Field(500, ge=1)
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown timezone {value!r}") from e
        return value

    @field_validator("deliver")
    @classmethod
    def _some_channel(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("needs at least one channel (file, email)")
        return tuple(dict.fromkeys(value))


class DigestSettings(TargetSettings):
    #: Five-field cron expression with standard semantics (0 and 7 are Sunday), in
    #: `timezone`.
    schedule: str = "0 7 * * *"
    send_empty: bool = False

    @field_validator("schedule")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        cron.parse(value)  # a CronError is a ValueError naming the field
        return value


class RateLimit(_Strict):
    """At most `count` messages in any `per`; what comes in between waits for the next."""

    count: int = Field(ge=1, le=10_000)
    per: Duration = Field(gt=0)


class AlertSettings(TargetSettings):
    """Hits of rules with priority `high`, sent right after the poll that found them."""

    #: Only items published (or, undated, first seen) this recently, and hits this new.
    max_age: Duration = 86_400
    #: Messages per period; null sends every alert at once.
    rate_limit: RateLimit | None = Field(default_factory=lambda: RateLimit(count=5, per=3600))


class FileSettings(_Strict):
    """The config file as written; paths are relative to the file's folder."""

    storage: Line = "sqlite:///state/monitor.db"
    rules: tuple[Line, ...] = ("rules",)
    templates: Line = "templates"
    state_dir: Line = "state"
    digests_dir: Line = "state/digests"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    #: Keep items and hits this long.
    retention: Duration = 180 * 86_400
    #: Remember the ids of items this long after a feed last carried them, so that an item
    #: pruned by `retention` is not taken for a new one while its feed still lists it.
    seen_retention: Duration = 730 * 86_400
    poll: PollSettings = Field(default_factory=PollSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    feeds: tuple[FeedSettings, ...] = ()
    digests: tuple[DigestSettings, ...] = ()
    alerts: tuple[AlertSettings, ...] = ()


@dataclass(frozen=True)
class Settings:
    """Resolved settings: absolute paths, environment applied."""

    source: Path
    base: Path
    storage: str
    rules: tuple[Path, ...]
    templates: Path
    state_dir: Path
    digests_dir: Path
    log_level: str
    retention: float
    seen_retention: float
    poll: PollSettings
    smtp: SmtpSettings
    metrics: MetricsSettings
    feeds: tuple[FeedSettings, ...]
    digests: tuple[DigestSettings, ...]
    alerts: tuple[AlertSettings, ...]
    #: Every feed of the file in its order, the disabled ones too (``feeds`` has only the
    #: enabled ones).
    all_feeds: tuple[FeedSettings, ...] = ()
    #: The line of each key path in the file (``("digests", 0, "tags")``), for messages.
    lines: Mapping[tuple[str | int, ...], int] = field(default_factory=dict, repr=False)
    web: WebSettings = field(default_factory=WebSettings)

    def where(self, *loc: str | int) -> str:
        """``file:line`` of a key path (or of the nearest key above it that the file has)."""
        for cut in range(len(loc), -1, -1):
            line = self.lines.get(tuple(loc[:cut]))
            if line is not None:
                return f"{self.source}:{line}"
        return str(self.source)

    def feed_url(self, feed: FeedSettings) -> str:
        """A feed's URL with `bundled:NAME` resolved to the packaged file."""
        if feed.url.startswith(BUNDLED_PREFIX):
            return (DATA_DIR / feed.url.removeprefix(BUNDLED_PREFIX)).as_uri()
        return feed.url


# --------------------------------------------------------------------------- loading


def _line_index(root: yamlfile.Node | None) -> dict[tuple[str | int, ...], int]:
    """Map each key path in a YAML document to its 1-based line."""
    lines: dict[tuple[str | int, ...], int] = {}

    def walk(node: yamlfile.Node, path: tuple[str | int, ...]) -> None:
        lines[path] = node.start_mark.line + 1
        if isinstance(node, yamlfile.MappingNode):
            for key, value in node.value:
                name = key.value
                lines[(*path, name)] = key.start_mark.line + 1
                walk(value, (*path, name))
                lines[(*path, name)] = key.start_mark.line + 1
        elif isinstance(node, yamlfile.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, i))

    if root is not None:
        walk(root, ())
    return lines


def _dotted(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top)"


_SMTP_KEYS = ("host", "port", "username", "password", "sender", "starttls", "ssl")
_SMTP_VARS = {"username": "MONITOR_SMTP_USER", "sender": "MONITOR_SMTP_FROM"}
_ENV_KEYS = (  # (section, key, the MONITOR_* variable that sets it)
    *(("smtp", k, _SMTP_VARS.get(k, f"MONITOR_SMTP_{k.upper()}")) for k in _SMTP_KEYS),
    ("metrics", "port", "MONITOR_METRICS_PORT"),
    ("web", "port", "MONITOR_WEB_PORT"),
    ("web", "host", "MONITOR_WEB_HOST"),
)


def _env_overrides(data: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """MONITOR_* variables win over the file (containers configure through them)."""
    data = dict(data)
    if env.get("MONITOR_DATABASE_URL"):
        data["storage"] = env["MONITOR_DATABASE_URL"]
    for section, key, var in _ENV_KEYS:
        values = data.get(section) or {}
        if env.get(var) and isinstance(values, dict):  # else validation names the type
            data[section] = {**values, key: env[var]}
    recipients = tuple(r.strip() for r in env.get("MONITOR_DIGEST_TO", "").split(",") if r.strip())
    if recipients:
        # Recipients from the environment also turn email delivery on (containers).
        for section in ("digests", "alerts"):
            targets = data.get(section) or []
            if isinstance(targets, list):
                data[section] = [_with_recipients(t, recipients) for t in targets]
    return data


def _with_recipients(target: Any, recipients: tuple[str, ...]) -> Any:
    """A digest or alert with the environment's recipients, if it has none, and email on."""
    if not isinstance(target, dict):
        return target  # validation names what is wrong
    deliver = target.get("deliver") or ["file"]
    if not isinstance(deliver, list) or not all(isinstance(d, str) for d in deliver):
        return target
    return {
        **target,
        "recipients": target.get("recipients") or list(recipients),
        "deliver": list(dict.fromkeys([*deliver, "email"])),
    }


def _cross_checks(parsed: FileSettings) -> list[tuple[tuple[str | int, ...], str]]:
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for section in ("feeds", "digests", "alerts"):
        seen: set[str] = set()
        for i, item in enumerate(getattr(parsed, section)):
            if item.id in seen:
                problems.append(((section, i, "id"), f"duplicate id {item.id!r}"))
            seen.add(item.id)
    for section in ("digests", "alerts"):
        for i, target in enumerate(getattr(parsed, section)):
            if "email" in target.deliver and not target.recipients:
                problems.append(
                    (
                        (section, i, "recipients"),
                        "email delivery needs recipients (or MONITOR_DIGEST_TO)",
                    )
                )
            if "email" in target.deliver and not parsed.smtp.host:
                problems.append(
                    (
                        (section, i, "deliver"),
                        "email delivery needs smtp.host (or MONITOR_SMTP_HOST)",
                    )
                )
    for i, alert in enumerate(parsed.alerts):
        if alert.rate_limit is not None and alert.rate_limit.per > alert.max_age:
            problems.append(
                (
                    ("alerts", i, "rate_limit", "per"),
                    "is longer than the alert's max_age: hits held back would age out",
                )
            )
    if parsed.poll.min_interval > parsed.poll.max_interval:
        problems.append((("poll", "min_interval"), "is greater than poll.max_interval"))
    if parsed.seen_retention < parsed.retention:
        problems.append((("seen_retention",), "is shorter than retention"))
    for i, feed in enumerate(parsed.feeds):
        problem = schedule.bounds_problem(
            feed.interval, feed.min_interval, feed.max_interval, parsed.poll.min_interval
        )
        if problem:
            problems.append((("feeds", i, problem[0]), problem[1]))
    return problems


def load_settings(path: Path, env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate a config file. Raises ConfigError listing every problem."""
    env = os.environ if env is None else env
    path = Path(path)
    try:
        data = path.read_bytes()
    except (OSError, ValueError) as e:  # ValueError: a NUL in the path
        raise ConfigError(f"{path}: cannot read config: {getattr(e, 'strerror', '') or e}") from e
    text = yamlfile.decode(data, str(path))
    root = yamlfile.compose(text, str(path))
    raw = yamlfile.construct(root, str(path))
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}:1: the config must be a mapping of keys, not {type(raw).__name__}"
        )

    lines = _line_index(root)

    def where(loc: Sequence[str | int]) -> str:
        for cut in range(len(loc), -1, -1):
            line = lines.get(tuple(loc[:cut]))
            if line is not None:
                return f"{path}:{line}"
        return str(path)

    try:
        parsed = FileSettings.model_validate(_env_overrides(raw, env))
    except ValidationError as e:
        problems = []
        for err in e.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
            message = (
                "unknown key"
                if err["type"] == "extra_forbidden"
                else err["msg"].removeprefix("Value error, ")
            )
            problems.append(f"{where(loc)}: {_dotted(loc)}: {message}")
        raise ConfigError(
            problems[0] if len(problems) == 1 else f"{len(problems)} problems in {path}", problems
        ) from e

    cross = _cross_checks(parsed)
    if cross:
        problems = [f"{where(loc)}: {_dotted(loc)}: {msg}" for loc, msg in cross]
        raise ConfigError(
            problems[0] if len(problems) == 1 else f"{len(problems)} problems in {path}", problems
        )

    base = path.resolve().parent

    def resolve(p: str) -> Path:
        candidate = Path(p)
        return candidate if candidate.is_absolute() else base / candidate

    storage = parsed.storage
    if storage.startswith("sqlite:///") and not storage.startswith("sqlite:////"):
        rel = storage.removeprefix("sqlite:///")
        if rel and rel != ":memory:":
            storage = f"sqlite:///{resolve(rel)}"
    problem = _storage_problem(storage)
    if problem:
        raise ConfigError(f"{where(('storage',))}: storage: {problem}")

    return Settings(
        source=path.resolve(),
        base=base,
        storage=storage,
        rules=tuple(resolve(p) for p in parsed.rules),
        templates=resolve(parsed.templates),
        state_dir=resolve(parsed.state_dir),
        digests_dir=resolve(parsed.digests_dir),
        log_level=parsed.log_level,
        retention=parsed.retention,
        seen_retention=parsed.seen_retention,
        poll=parsed.poll,
        smtp=parsed.smtp,
        metrics=parsed.metrics,
        feeds=tuple(f for f in parsed.feeds if f.enabled),
        digests=parsed.digests,
        alerts=parsed.alerts,
        all_feeds=parsed.feeds,
        lines=lines,
        web=parsed.web,
    )


def _storage_problem(storage: str) -> str | None:
    """Why a SQLite database file could not be made (None: it can, as far as we can tell
    without making it): a file where its folder should be, a folder we may not write."""
    if not storage.startswith("sqlite:///"):
        return None
    name = storage.removeprefix("sqlite:///").split("?", 1)[0]
    if not name or name == ":memory:":
        return None
    folder = Path(name).parent
    existing = folder
    while not os.path.exists(existing) and existing != existing.parent:
        existing = existing.parent
    if not os.path.isdir(existing):
        return f"cannot create the folder {folder}: {existing} is not a folder"
    if existing != folder and not os.access(existing, os.W_OK | os.X_OK):
        return f"cannot create the folder {folder}: no permission to write in {existing}"
    return None
