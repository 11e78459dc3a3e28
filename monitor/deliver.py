"""One digest or alert run for one target: pending hits -> render -> send -> mark.

A hit is never lost and never sent twice to one target: the hits are reserved under a
message id, the message is sent, and only then are they marked sent. A failed send
releases them (they stay pending, retried with backoff); a run that dies between send and
mark leaves a reservation that the next run sends again under the same message id.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from monitor.errors import NotifyError, RenderError
from monitor.model import Batch, DeliverStore, Message, MessageRenderer, Notifier, Rule

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    """One channel of one digest or alert configuration: the pair (config id, channel)."""

    config_id: str
    channel: str
    kind: Literal["digest", "alert"]
    title: str
    #: Rule ids whose hits go here; None means every rule.
    rule_ids: tuple[str, ...] | None
    timezone: str = "UTC"
    recipients: tuple[str, ...] = ()
    limit: int = 500
    max_age: float = 7 * 86_400
    send_empty: bool = False

    @property
    def key(self) -> str:
        """The target as the store records deliveries to it, e.g. ``daily:email``."""
        return f"{self.config_id}:{self.channel}"


def select_rules(
    rules: Sequence[Rule], *, ids: Sequence[str], tags: Sequence[str], high_only: bool = False
) -> tuple[str, ...] | None:
    """The rule ids a target takes: by id or tag; None when unrestricted."""
    if not ids and not tags and not high_only:
        return None
    wanted = set(ids)
    chosen = []
    for rule in rules:
        if high_only and rule.priority != "high":
            continue
        if (ids or tags) and rule.id not in wanted and not set(rule.tags) & set(tags):
            continue
        chosen.append(rule.id)
    return tuple(chosen)


@dataclass(frozen=True)
class DeliveryResult:
    target: Target
    status: Literal["sent", "nothing", "failed", "dry-run"]
    hits: int = 0
    message: Message | None = None
    error: str | None = None


def run(
    store: DeliverStore,
    renderer: MessageRenderer,
    notifier: Notifier,
    target: Target,
    rules: Mapping[str, Rule],
    now: datetime,
    *,
    dry_run: bool = False,
    notices: Sequence[str] = (),
    entities: Mapping[str, str] | None = None,
    archive: str | None = None,
) -> DeliveryResult:
    """Send what is pending for one target. A send failure is a result, not an exception.
    ``entities`` (id -> name) words the "why" lines; ``archive`` is the file the same
    digest was written to, for a mail to point at."""
    if target.rule_ids is not None and not target.rule_ids:
        return DeliveryResult(target, "nothing")
    limit, max_age = target.limit, timedelta(seconds=target.max_age)

    def render(batch: Batch) -> Message:
        return renderer.render(
            kind=target.kind,
            batch=batch,
            title=target.title,
            rules=rules,
            now=now,
            timezone=target.timezone,
            recipients=target.recipients,
            notices=notices,
            entities=entities,
            archive=archive,
        )

    if dry_run:
        hits = store.peek(target.key, target.rule_ids, now, limit=limit, max_age=max_age)
        batch = Batch(target.key, f"<dry-run-{uuid.uuid4().hex}@monitor>", tuple(hits))
        return DeliveryResult(target, "dry-run", len(hits), render(batch))

    reserved = store.reserve(target.key, target.rule_ids, now, limit=limit, max_age=max_age)
    if reserved is None:
        if not (target.send_empty or notices):
            return DeliveryResult(target, "nothing")
        empty = Batch(target.key, f"<{uuid.uuid4().hex}@monitor>", ())
        try:
            notifier.send(render(empty))
        except (NotifyError, RenderError) as e:
            log.error("%s", e)
            return DeliveryResult(target, "failed", error=str(e))
        return DeliveryResult(target, "sent")

    batch = reserved
    try:
        message = render(batch)
        notifier.send(message)
    except (NotifyError, RenderError) as e:
        store.release(batch, str(e), now)
        log.error("%s: %d hits stay pending and will be retried", e, len(batch.hits))
        return DeliveryResult(target, "failed", len(batch.hits), error=str(e))
    store.mark_sent(batch, now)
    log.info("%s: sent %d hits (%s)", target.key, len(batch.hits), batch.message_id)
    return DeliveryResult(target, "sent", len(batch.hits), message)
