"""monitor.yaml + environment -> frozen Settings.

Every error names the file, the line and the key (``monitor.yaml:12: digests[0].shedule:
unknown key``), and all problems are reported at once.
"""

from __future__ import annotations

import math
import os
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    field_validator,
)

from monitor import yamlfile
from monitor.channels.spec import Channel, channel_entry, unique
from monitor.errors import ConfigError

BUNDLED_PREFIX = "bundled:"
#: Packaged files that are feeds (monitor/data/ also holds the container's entrypoint).
BUNDLED_FEED_SUFFIXES = (".xml", ".rss", ".atom", ".json")
DATA_DIR = Path(__file__).resolve().parent / "data"

#: Feed URLs are fetched over these schemes (and ``bundled:NAME`` names a packaged file).
FEED_SCHEMES = ("http", "https", "file")
#: The longest duration anything may last or look back (retention, max_age, --since...).
MAX_DURATION = 10 * 365.25 * 86_400
#: The largest size anything may be given (poll.max_bytes).
MAX_SIZE = 2**40

#: Control characters, surrogates, line and paragraph separators: never in one line.
_BREAKS = ("Cc", "Cs", "Zl", "Zp")
_DURATION = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|kib|mib|gib)?\s*$", re.I)
_SIZE_UNITS = {
    None: 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
}


def _shown(value: Any) -> str:
    """A value for a message, cut short if long."""
    if isinstance(value, int) and value.bit_length() > 128:  # str() refuses 4,300 digits
        return f"a number of about {int(value.bit_length() * math.log10(2))} digits"
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def parse_duration(value: Any) -> float:
    """'90s', '30m', '24h', '7d' or a number of seconds -> seconds.

    Raises ValueError, with a message for the user, for anything else: a negative duration,
    one longer than ten years (``MAX_DURATION``), or text that is not a duration.
    """
    seconds: float
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {_shown(value)}")
    if isinstance(value, int | float):
        seconds = value
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"not a duration: {_shown(value)} (use e.g. 90s, 30m, 6h, 7d)")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if isinstance(seconds, float) and math.isnan(seconds):
        raise ValueError(f"not a duration: {_shown(value)}")
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative: {_shown(value)}")
    if seconds > MAX_DURATION:
        raise ValueError(f"duration {_shown(value)} is longer than 10 years")
    return float(seconds)


def parse_size(value: Any) -> int:
    """'10MB', '512KiB' or a number of bytes -> bytes (at most ``MAX_SIZE``)."""
    size: float
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    else:
        match = _SIZE.match(str(value))
        if not match:
            raise ValueError(f"not a size: {_shown(value)} (use e.g. 10MB)")
        unit = match.group(2).lower() if match.group(2) else None
        size = float(match.group(1)) * _SIZE_UNITS[unit]
    if size < 0:
        raise ValueError(f"a size cannot be negative: {_shown(value)}")
    if size > MAX_SIZE:
        raise ValueError(f"size {_shown(value)} is larger than 1 TiB")
    return int(size)


def feed_url_problem(url: str) -> str | None:
    """Why a feed URL cannot be polled, or None when it can: http, https and file URLs
    (``FEED_SCHEMES``) and the names of bundled files (``bundled:sample.xml``)."""
    if url.startswith(BUNDLED_PREFIX):
        name = url.removeprefix(BUNDLED_PREFIX)
        bundled = sorted(
            p.name for p in DATA_DIR.iterdir() if p.is_file() and p.suffix in BUNDLED_FEED_SUFFIXES
        )
        if name not in bundled:
            return f"no bundled feed {name!r} (bundled: {', '.join(bundled)})"
        return None
    if any(c.isspace() or not c.isprintable() for c in url):
        return "a URL has no spaces or control characters (write a space as %20)"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as e:
        return f"not a valid URL: {e}"
    scheme = parts.scheme.lower()
    if scheme not in FEED_SCHEMES:
        what = f"scheme {scheme!r}" if scheme else "a URL without a scheme"
        return f"{what} is not supported: use an http, https or file URL"
    host = parts.hostname or ""
    if scheme != "file" and not host:
        return "the URL has no host"
    if not host.isascii():
        try:
            host.encode("idna")
        except UnicodeError:
            return f"not a valid host name: {host!r}"
    if scheme == "file" and not parts.path:
        return "a file URL needs a path (file:///srv/feeds/news.xml)"
    return None


def _feed_url(value: str) -> str:
    problem = feed_url_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _one_line(value: str) -> str:
    """Text that goes into a mail header, an HTTP header or a path is one line: a line
    break in a mail address would add headers (``Bcc:``), a NUL cuts a path short."""
    if any(unicodedata.category(c) in _BREAKS for c in value):
        raise ValueError(f"{_shown(value)} has a line break or control character")
    return value


Duration = Annotated[float, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]
FeedUrl = Annotated[str, AfterValidator(_feed_url)]
Line = Annotated[str, AfterValidator(_one_line)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeedSettings(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    url: FeedUrl
    title: Line | None = None
    #: Poll no more often than this; defaults to poll.min_interval.
    interval: Duration | None = None
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


ChannelEntry = Annotated[Channel, PlainValidator(channel_entry)]


class TargetSettings(_Strict):
    """What digests and alerts share: which hits, where they go."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    title: Line | None = None
    #: Limit to these rule ids; empty means every rule.
    rules: tuple[str, ...] = ()
    #: Limit to rules with any of these tags.
    tags: tuple[str, ...] = ()
    deliver: tuple[ChannelEntry, ...] = (Channel("file"),)
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
    def _some_channel(cls, value: tuple[Channel, ...]) -> tuple[Channel, ...]:
        if not value:
            raise ValueError("needs at least one channel (file, email, atom, json, a URL)")
        return unique(value)


class DigestSettings(TargetSettings):
    #: Five-field cron expression, in `timezone`.
    schedule: str = "0 7 * * *"
    send_empty: bool = False

    @field_validator("schedule")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError(
                f"cron schedule needs five fields (minute hour day month weekday): {value!r}"
            )
        return value


class AlertSettings(TargetSettings):
    """Hits of rules with priority `high`, sent right after the poll that found them."""

    max_age: Duration = 86_400


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
    poll: PollSettings = Field(default_factory=PollSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
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


def _env_overrides(data: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """MONITOR_* variables win over the file (containers configure through them)."""
    data = dict(data)
    if env.get("MONITOR_DATABASE_URL"):
        data["storage"] = env["MONITOR_DATABASE_URL"]
    smtp = data.get("smtp") or {}
    if isinstance(smtp, dict):  # anything else: validation names the wrong type
        smtp = dict(smtp)
        for key, var in (
            ("host", "MONITOR_SMTP_HOST"),
            ("port", "MONITOR_SMTP_PORT"),
            ("username", "MONITOR_SMTP_USER"),
            ("password", "MONITOR_SMTP_PASSWORD"),
            ("sender", "MONITOR_SMTP_FROM"),
            ("starttls", "MONITOR_SMTP_STARTTLS"),
            ("ssl", "MONITOR_SMTP_SSL"),
        ):
            if env.get(var):
                smtp[key] = env[var]
        if smtp:
            data["smtp"] = smtp
    metrics = data.get("metrics") or {}
    if env.get("MONITOR_METRICS_PORT") and isinstance(metrics, dict):
        data["metrics"] = {**metrics, "port": env["MONITOR_METRICS_PORT"]}
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
    if not isinstance(deliver, list):
        return target
    return {
        **target,
        "recipients": target.get("recipients") or list(recipients),
        "deliver": deliver if "email" in deliver else [*deliver, "email"],
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
    if parsed.poll.min_interval > parsed.poll.max_interval:
        problems.append((("poll", "min_interval"), "is greater than poll.max_interval"))
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
        parsed = FileSettings.model_validate(_env_overrides(raw, env), context={"env": env})
    except ValidationError as e:
        problems = []
        for err in e.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
            message = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
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
        poll=parsed.poll,
        smtp=parsed.smtp,
        metrics=parsed.metrics,
        feeds=tuple(f for f in parsed.feeds if f.enabled),
        digests=parsed.digests,
        alerts=parsed.alerts,
        all_feeds=parsed.feeds,
        lines=lines,
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
