"""The values users write in monitor.yaml and on the command line: durations (``90s``,
``7d``), sizes (``10MB``), feed URLs and one-line text. Each parser raises ValueError with a
message for the user; config.py turns them into pydantic types, cli.py into click types.
"""

from __future__ import annotations

import math
import re
import unicodedata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "BUNDLED_PREFIX",
    "DATA_DIR",
    "FEED_SCHEMES",
    "MAX_DURATION",
    "MAX_SIZE",
    "feed_url",
    "feed_url_problem",
    "format_duration",
    "one_line",
    "parse_duration",
    "parse_size",
]

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


def feed_url(value: str) -> str:
    problem = feed_url_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def one_line(value: str) -> str:
    """Text that goes into a mail header, an HTTP header or a path is one line: a line
    break in a mail address would add headers (``Bcc:``), a NUL cuts a path short."""
    if any(unicodedata.category(c) in _BREAKS for c in value):
        raise ValueError(f"{_shown(value)} has a line break or control character")
    return value


def format_duration(seconds: float) -> str:
    """Seconds as the shortest way to write them back: 90s, 15m, 6h, 1d, 1h30m."""
    whole = round(seconds)
    for unit, size in (("w", 604_800), ("d", 86_400), ("h", 3600), ("m", 60)):
        if whole >= size and whole % size == 0:
            return f"{whole // size}{unit}"
    if whole >= 3600 and whole % 60 == 0:
        return f"{whole // 3600}h{whole % 3600 // 60}m"
    return f"{whole}s"
