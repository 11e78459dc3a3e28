"""The one error tree of `monitor`.

::

    MonitorError                 anything the job reports as one clear line
    ├── ConfigError              monitor.yaml or the environment is wrong
    │   └── RuleError            a rule file is wrong (file, line, column)
    ├── FeedError                one feed failed (feed_id, url, reason); poll carries it
    │   ├── FetchError           no usable answer: HTTP status, size cap, bad URL, file
    │   │   └── NoAnswerError    nothing answered: DNS, connect, reset, timeout
    │   └── ParseError           the body is not a feed we can read
    ├── StoreError               the database refused or failed
    ├── RenderError              a template failed to render
    └── NotifyError              a message could not be delivered

Each adapter maps its library's errors to these with ``raise ... from e``. The CLI prints
``str(error)`` and exits with status 1: never a traceback for bad input.

An error keeps its context as attributes, never only inside its message: a FeedError
knows its ``feed_id``, ``url`` and ``reason``, and builds ``feed ID (URL): REASON`` in
``__str__``. Logs print ``str(error)``; a feeds table, which names the feed already,
shows ``error.reason``.
"""

from __future__ import annotations

from collections.abc import Sequence


class MonitorError(Exception):
    """Base of every error the job expects and reports as one line."""


class ConfigError(MonitorError):
    """monitor.yaml, the environment or a template directory is wrong.

    ``problems`` holds every problem found, each already naming its file and key, so that
    ``monitor check`` reports them all at once.
    """

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        self.problems: tuple[str, ...] = tuple(problems) or (message,)
        super().__init__(message)


class RuleError(ConfigError):
    """A rule file is wrong; every problem names file:line:column."""


class FeedError(MonitorError):
    """One feed failed. Poll carries it as a value; it never stops the cycle.

    ``feed_id`` and ``url`` name the feed (``url`` is None when the failing layer was not
    given it); ``reason`` says what went wrong, in one line, without naming the feed.
    """

    def __init__(self, feed_id: str, url: str | None, reason: str) -> None:
        super().__init__(feed_id, url, reason)
        self.feed_id = feed_id
        self.url = url
        #: What went wrong, one line, without the feed: "HTTP 404 Not Found".
        self.reason = " ".join(reason.split())

    def __str__(self) -> str:
        where = f"feed {self.feed_id} ({self.url})" if self.url else f"feed {self.feed_id}"
        return f"{where}: {self.reason}"


class FetchError(FeedError):
    """The feed could not be fetched, or what came back cannot be used: an HTTP error
    status, a body over the size cap, too many redirects, a bad URL, an unreadable file.

    ``status`` is the HTTP status of the response that failed, None when no response is
    to blame (a file, a bad URL, a request not made).
    """

    def __init__(
        self,
        feed_id: str,
        url: str,
        reason: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(feed_id, url, reason)
        self.status = status
        #: Seconds the server asked us to wait before the next request (429/503).
        self.retry_after = retry_after


class NoAnswerError(FetchError):
    """Nothing answered: the host name did not resolve, the connection was refused or
    reset, or the server sent nothing in time. Many at once, on several hosts, mean the
    network is down rather than the feeds (see poll.py)."""


class ParseError(FeedError):
    """The body could not be read as a feed."""


class StoreError(MonitorError):
    """The database refused or failed."""


class RenderError(MonitorError):
    """A template could not be loaded or rendered."""


class NotifyError(MonitorError):
    """A message could not be delivered (SMTP outage, unwritable folder, ...)."""
