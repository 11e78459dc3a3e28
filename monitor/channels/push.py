"""Apprise URLs (slack://, tgram://, matrix://, ntfy://, discord://, msteams://, mailto://,
json://, ...): a message as a short text or Markdown body, sent through Apprise.

Each service gets the body its format suits: Markdown where the service reads Markdown or
HTML (Apprise turns Markdown into the service's HTML), plain text elsewhere; one line per
story with its link, cut to the service's size limit with a link to the rest. Apprise is
an optional extra (``pip install 'monitor[apprise]'``): it is imported here only, when an
Apprise channel is wired or checked.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from monitor.channels import redact
from monitor.channels.document import short_body
from monitor.channels.spec import APPRISE_HELP, Channel
from monitor.errors import ConfigError, NotifyError
from monitor.model import Message

log = logging.getLogger(__name__)
#: Room left for the HTML that Apprise makes of Markdown for services that want HTML.
HTML_ROOM = 0.75


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Apprise says nothing while we only ask it whether it can read a URL (we say it)."""
    logger = logging.getLogger("apprise")
    disabled, logger.disabled = logger.disabled, True
    try:
        yield
    finally:
        logger.disabled = disabled


def _plugin(channel: Channel) -> Any:
    """Apprise's plugin for a channel's URL; ConfigError (no secret in it) when Apprise
    cannot read the URL."""
    import apprise

    redact.protect(channel.secrets)
    with _quiet():
        plugin = apprise.Apprise.instantiate(channel.url)
    if plugin is not None:
        return plugin
    scheme = channel.url.split("://", 1)[0].lower()
    manager = getattr(getattr(apprise, "plugins", None), "N_MGR", None)
    if manager is not None and scheme not in manager.schemas():
        raise ConfigError(f"Apprise has no service {scheme}:// (see {APPRISE_HELP})")
    raise ConfigError(f"Apprise cannot read this {scheme}:// URL (see {APPRISE_HELP})")


def url_problem(channel: Channel) -> str | None:
    """Why Apprise cannot send to a channel's URL, or None (for ``monitor check``)."""
    try:
        _plugin(channel)
    except ConfigError as e:
        return str(e)
    return None


def _formats(plugin: Any) -> tuple[str, ...]:
    """The formats a service takes, the one it prefers first (Apprise 1.x names one)."""
    value = plugin.notify_format
    formats = value if isinstance(value, tuple | list) else (value,)
    return tuple(str(getattr(f, "value", f)) for f in formats)


class PushNotifier:
    """Sends each message to one Apprise URL."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.plugin = _plugin(channel)
        preferred = _formats(self.plugin)[0]
        self.markdown = preferred in ("markdown", "html")
        limit = int(self.plugin.body_maxlen)
        if preferred == "html":
            limit = int(limit * HTML_ROOM)
        self.limit = limit
        self.title_in_body = not self.plugin.title_maxlen

    def body(self, message: Message) -> str:
        """The short body this service gets."""
        room = self.limit - (len(message.subject) + 2 if self.title_in_body else 0)
        return short_body(
            message, markdown=self.markdown, limit=max(room, 80), link=self.channel.link
        )

    def send(self, message: Message) -> None:
        import apprise

        sender = apprise.Apprise()
        sender.add(self.plugin)
        body = self.body(message)
        # A service without titles gets the title at the top of the body, from Apprise.
        title = message.subject[: int(self.plugin.title_maxlen) or None]
        with apprise.LogCapture(level=logging.WARNING) as captured:
            sent = sender.notify(
                body=body,
                title=title,
                body_format=apprise.NotifyFormat.MARKDOWN
                if self.markdown
                else apprise.NotifyFormat.TEXT,
            )
        if not sent:
            said = [line for line in captured.getvalue().splitlines() if line.strip()]
            reason = said[-1].split(" - ", 2)[-1] if said else "the service refused the message"
            raise NotifyError(f"{message.target}: {self.channel.shown}: {redact.scrub(reason)}")
        log.info(
            "%s: sent to %s", message.target, self.channel.shown, extra={"target": message.target}
        )
