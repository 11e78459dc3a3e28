"""Which sender each delivery target gets: ``file`` and ``email`` shared by every digest,
the other channels (Atom, JSON files, webhooks, Apprise URLs) one per target; and a test
message to each channel of a digest (``monitor channels test``)."""

from __future__ import annotations

from monitor.channels import push
from monitor.channels.atom import AtomNotifier
from monitor.channels.document import trial_message
from monitor.channels.jsonfile import JsonFileNotifier
from monitor.channels.spec import Channel
from monitor.channels.webhook import WebhookNotifier
from monitor.config import Settings
from monitor.errors import ConfigError, MonitorError
from monitor.model import Clock, utc_now
from monitor.notify import FileNotifier, SmtpNotifier
from monitor.protocols import Notifier


def channels(settings: Settings) -> list[tuple[str, Channel, str]]:
    """Every channel of every digest and alert: (target key, channel, where it is written:
    ``monitor.yaml:31: digests[0].deliver[1]``)."""
    return [
        (
            f"{cfg.id}:{channel}",
            channel,
            f"{settings.where(section, i, 'deliver', j)}: {section}[{i}].deliver[{j}]",
        )
        for section, configs in (("digests", settings.digests), ("alerts", settings.alerts))
        for i, cfg in enumerate(configs)
        for j, channel in enumerate(cfg.deliver)
    ]


def make_notifiers(settings: Settings) -> dict[str, Notifier]:
    """``file`` and ``email`` shared by every digest, the other channels one per target
    (``daily:hooks``). An Apprise URL Apprise cannot read is a ConfigError with its line."""
    notifiers: dict[str, Notifier] = {"file": FileNotifier(settings.digests_dir)}
    if settings.smtp.host:
        s = settings.smtp
        notifiers["email"] = SmtpNotifier(
            s.host or "",
            s.port,
            sender=s.sender,
            username=s.username,
            password=s.password,
            starttls=s.starttls,
            use_ssl=s.ssl,
            timeout=s.timeout,
        )
    titles = {cfg.id: cfg.title or cfg.id for cfg in (*settings.digests, *settings.alerts)}
    for key, channel, where in channels(settings):
        kind = channel.kind
        if kind == "atom":
            notifiers[key] = AtomNotifier(
                settings.digests_dir,
                title=titles[key.split(":")[0]],
                entries=channel.entries,
                link=channel.link,
            )
        elif kind == "json":
            notifiers[key] = JsonFileNotifier(settings.digests_dir)
        elif kind == "webhook":
            notifiers[key] = WebhookNotifier(channel)
        elif kind == "apprise":
            try:
                notifiers[key] = push.PushNotifier(channel)
            except ConfigError as e:
                raise ConfigError(f"{where}: {e}") from None
    return notifiers


def try_channels(
    settings: Settings, config_id: str | None = None, *, clock: Clock = utc_now
) -> list[tuple[str, str, str | None]]:
    """Send a short test message to each channel of one digest or alert (all when no id
    is given), storing nothing: (target key, where it went, error or None) each."""
    configs = {cfg.id: cfg for cfg in (*settings.digests, *settings.alerts)}
    if config_id is not None and config_id not in configs:
        raise ConfigError(f"no digest or alert {config_id!r} in {settings.source}")
    notifiers, out = make_notifiers(settings), []
    for key, channel, _ in channels(settings):
        cfg = configs[key.split(":")[0]]
        if config_id in (None, cfg.id):
            message = trial_message(key, cfg.title or cfg.id, clock(), cfg.recipients)
            try:
                (notifiers.get(key) or notifiers[channel]).send(message)
                error = None
            except MonitorError as e:
                error = str(e)
            out.append((key, channel.shown, error))
    return out
