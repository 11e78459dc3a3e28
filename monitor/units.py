"""Durations and sizes as people write them in monitor.yaml and on the command line.

Pure. Every error is a ValueError whose message is meant for the user.
"""

from __future__ import annotations

import math
import re
from typing import Any

#: The longest duration anything may last or look back (retention, max_age, --since...).
MAX_DURATION = 10 * 365.25 * 86_400
#: The largest size anything may be given (poll.max_bytes).
MAX_SIZE = 2**40

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


def shown(value: Any) -> str:
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
        raise ValueError(f"not a duration: {shown(value)}")
    if isinstance(value, int | float):
        seconds = value
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"not a duration: {shown(value)} (use e.g. 90s, 30m, 6h, 7d)")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if isinstance(seconds, float) and math.isnan(seconds):
        raise ValueError(f"not a duration: {shown(value)}")
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative: {shown(value)}")
    if seconds > MAX_DURATION:
        raise ValueError(f"duration {shown(value)} is longer than 10 years")
    return float(seconds)


def parse_size(value: Any) -> int:
    """'10MB', '512KiB' or a number of bytes -> bytes (at most ``MAX_SIZE``)."""
    size: float
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    else:
        match = _SIZE.match(str(value))
        if not match:
            raise ValueError(f"not a size: {shown(value)} (use e.g. 10MB)")
        unit = match.group(2).lower() if match.group(2) else None
        size = float(match.group(1)) * _SIZE_UNITS[unit]
    if size < 0:
        raise ValueError(f"a size cannot be negative: {shown(value)}")
    if size > MAX_SIZE:
        raise ValueError(f"size {shown(value)} is larger than 1 TiB")
    return int(size)


def format_duration(seconds: float) -> str:
    """Seconds as the shortest way to write them back: 90s, 15m, 6h, 1d, 1h30m."""
    whole = round(seconds)
    for unit, size in (("w", 604_800), ("d", 86_400), ("h", 3600), ("m", 60)):
        if whole >= size and whole % size == 0:
            return f"{whole // size}{unit}"
    if whole >= 3600 and whole % 60 == 0:
        return f"{whole // 3600}h{whole % 3600 // 60}m"
    return f"{whole}s"
