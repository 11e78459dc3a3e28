"""HTTP response headers that tell us when to come back: Retry-After, Cache-Control.

Pure: the clock comes in as an argument.
"""

from __future__ import annotations

import email.utils
import re
from datetime import UTC, datetime

_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)", re.I)


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Retry-After as delta-seconds or an HTTP date -> seconds from now."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def max_age_seconds(cache_control: str | None) -> float | None:
    """Cache-Control max-age in seconds; None when absent or the response is not cacheable."""
    if not cache_control:
        return None
    lowered = cache_control.lower()
    if "no-cache" in lowered or "no-store" in lowered:
        return None
    match = _MAX_AGE.search(cache_control)
    return float(match.group(1)) if match else None


def longest_wait(*values: float | None) -> float | None:
    """The longest of the waits a server asked for."""
    return max((v for v in values if v), default=None)
