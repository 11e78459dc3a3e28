"""Secrets of channel URLs never reach a log line, whoever logs it.

Apprise logs the URLs it cannot read, and at DEBUG the addresses it posts to; urllib3
logs request paths at DEBUG; a traceback may show a URL. A logging filter sees only the
records of its own logger, so the mask sits where every record is made: the log record
factory. Once a secret is protected, every record made in this process has it replaced
by ``***`` in its message, its arguments and its traceback, before any handler (ours, a
test's, a library's) sees it.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Iterable
from typing import Any

from monitor.channels.spec import mask

_lock = threading.Lock()
_secrets: frozenset[str] = frozenset()
_installed = False


def protect(secrets: Iterable[str]) -> None:
    """Mask these strings in every log record from now on."""
    global _secrets, _installed
    new = frozenset(secrets)
    if new <= _secrets:
        return
    with _lock:
        _secrets = _secrets | new
        if not _installed:
            _install()
            _installed = True


def protected() -> frozenset[str]:
    return _secrets


def scrub(text: str) -> str:
    """The text with every protected secret masked."""
    return mask(text, _secrets) if _secrets else text


def _install() -> None:
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if _secrets:
            _scrub_record(record)
        return record

    logging.setLogRecordFactory(factory)


def _scrub_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: logging reports it when it formats the record
        return
    clean = scrub(message)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and record.exc_info[0] is not None:
        text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if scrub(text) != text:  # the traceback goes as text, masked
            record.exc_text, record.exc_info = scrub(text), None
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)
