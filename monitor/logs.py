"""Where the job's log goes and how it looks: one handler on stderr, text for people or
JSON lines for log collectors.

``MONITOR_LOG_LEVEL`` (DEBUG, INFO, WARNING, ERROR) and ``MONITOR_LOG_FORMAT`` (text, json)
are read by ``from_env``, which refuses other values. A JSON line holds ``time`` (ISO 8601,
UTC, with its offset), ``level``, ``logger`` and ``message``, every field the call passed in
``extra=`` (``log.info("...", extra={"feed": feed_id})``), and ``exc`` for a traceback.
Text lines carry the local time with its offset.

The JSON formatter is ours, not python-json-logger: thirty lines, no dependency, and the
field names are the ones above rather than a library's.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

from monitor.errors import ConfigError

__all__ = ["FORMATS", "LEVELS", "JsonFormatter", "TextFormatter", "configure", "from_env"]

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
FORMATS = ("text", "json")

#: What every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_KEYS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def from_env(env: Mapping[str, str]) -> tuple[str | None, str]:
    """(level or None when unset, format) from MONITOR_LOG_LEVEL and MONITOR_LOG_FORMAT.
    Raises ConfigError naming the variable for a value it does not know."""
    level = env.get("MONITOR_LOG_LEVEL", "").strip().upper() or None
    if level is not None and level not in LEVELS:
        raise ConfigError(
            f"MONITOR_LOG_LEVEL: {env['MONITOR_LOG_LEVEL']!r} is not a log level "
            f"(use {', '.join(LEVELS)})"
        )
    fmt = env.get("MONITOR_LOG_FORMAT", "").strip().lower() or "text"
    if fmt not in FORMATS:
        raise ConfigError(
            f"MONITOR_LOG_FORMAT: {env['MONITOR_LOG_FORMAT']!r} is not a log format "
            f"(use {' or '.join(FORMATS)})"
        )
    return level, fmt


class TextFormatter(logging.Formatter):
    """``2025-12-16 09:00:00.123+03:00 INFO monitor.app: message``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        local = datetime.fromtimestamp(record.created).astimezone()
        return local.isoformat(sep=" ", timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_KEYS and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, ensure_ascii=False, default=str)


class _Stderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record comes (tests swap it)."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def configure(level: str = "INFO", fmt: str = "text") -> None:
    """Log records of ``level`` and above to stderr in ``fmt`` (text or json). Calling it
    again replaces what an earlier call set up."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _Stderr)]:
        root.removeHandler(handler)
    handler = _Stderr()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level)
