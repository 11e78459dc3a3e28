"""The one error tree of `monitor`.

::

    MonitorError                 anything the job reports as one clear line
    ├── ConfigError              monitor.yaml or the environment is wrong
    │   └── RuleError            a rule file is wrong (file, line, column)
    ├── FeedError                one feed failed; carried as a value by poll
    │   ├── FetchError           network, HTTP status, size cap, timeout
    │   └── ParseError           the body is not a feed we can read
    ├── StoreError               the database refused or failed
    ├── RenderError              a template failed to render
    └── NotifyError              a message could not be delivered

Each adapter maps its library's errors to these with ``raise ... from e``. The CLI prints
``str(error)`` and exits with status 1: never a traceback for bad input.
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
    """One feed failed. Poll carries it as a value; it never stops the cycle."""


class FetchError(FeedError):
    """The feed could not be fetched: network, HTTP status, timeout or size cap."""

    def __init__(
        self, message: str, status: int | None = None, retry_after: float | None = None
    ) -> None:
        self.status = status
        #: Seconds the server asked us to wait before the next request (429/503).
        self.retry_after = retry_after
        super().__init__(message)


class ParseError(FeedError):
    """The body could not be read as a feed."""


class StoreError(MonitorError):
    """The database refused or failed."""


class RenderError(MonitorError):
    """A template could not be loaded or rendered."""


class NotifyError(MonitorError):
    """A message could not be delivered (SMTP outage, unwritable folder, ...)."""
