"""One digest or alert run for one target: pending hits -> render -> send -> mark.

A hit is never lost and never sent twice to one target: the hits are reserved under a
message id, the message is sent, and only then are they marked sent. A failed send
releases them: the message is tried again after a backoff, whole, and only to the
recipients that did not take it (a server may refuse one recipient and take the others).
A run that dies between send and mark leaves a reservation that a later run sends again
under the same message id, which the file channel recognises and a mail client threads.

One run sends the messages tried before whose time has come, each on its own, then one
message of new hits: a message that cannot be sent (or built) is released with its error
and never holds back the next. An alert target may be rate limited: once it sent its
count of messages in the period, the new hits wait and go out together in the next.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from monitor.errors import NotifyError, RenderError
from monitor.model import Batch, Message, Pending, RenderJob, Rule
from monitor.protocols import DeliverStore, MessageRenderer, Notifier

#: Messages tried before that one run sends at most (then comes its message of new hits).
MAX_RETRIES_PER_RUN = 20

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
    #: Only hits of items published (or, undated, first seen) this recently (alerts).
    item_max_age: float | None = None
    #: At most (count, per seconds) messages (alerts); None: no limit.
    rate_limit: tuple[int, float] | None = None

    @property
    def key(self) -> str:
        """The target as the store records deliveries to it, e.g. ``daily:email``."""
        return f"{self.config_id}:{self.channel}"

    def pending(self, now: datetime) -> Pending:
        """Which of its pending hits a message to this target may take at ``now``."""
        return Pending(
            self.key,
            self.rule_ids,
            now,
            limit=self.limit,
            max_age=timedelta(seconds=self.max_age),
            item_max_age=None
            if self.item_max_age is None
            else timedelta(seconds=self.item_max_age),
        )


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
    """What one run did for one target. ``sent`` when any message went out, ``failed``
    when none did and one failed, ``held`` when the rate limit kept new hits back."""

    target: Target
    status: Literal["sent", "nothing", "failed", "dry-run", "held"]
    hits: int = 0
    message: Message | None = None
    error: str | None = None
    #: Messages sent, and messages that failed (for some or every recipient).
    sent: int = 0
    failed: int = 0


@dataclass
class _Tally:
    """The messages of one run, added up."""

    sent: int = 0
    failed: int = 0
    sent_hits: int = 0
    failed_hits: int = 0
    held: bool = False
    message: Message | None = None
    error: str | None = None

    def add(self, hits: int, message: Message | None, error: str | None) -> None:
        if error is None:
            self.sent, self.sent_hits, self.message = self.sent + 1, self.sent_hits + hits, message
        else:
            self.failed, self.failed_hits = self.failed + 1, self.failed_hits + hits
            self.error = self.error or error

    def result(self, target: Target) -> DeliveryResult:
        if self.sent:
            status: Literal["sent", "failed", "held", "nothing"] = "sent"
        else:
            status = "failed" if self.failed else "held" if self.held else "nothing"
        return DeliveryResult(
            target,
            status,
            self.sent_hits if self.sent else self.failed_hits,
            self.message,
            self.error,
            self.sent,
            self.failed,
        )


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
    fresh: bool = True,
    entities: Mapping[str, str] | None = None,
    archive: str | None = None,
) -> DeliveryResult:
    """Send what is due for one target: the messages tried before whose time has come,
    then (with ``fresh``) one message of new hits. A send failure is a result, not an
    exception. ``entities`` (id -> name) words the "why" lines; ``archive`` is the file the
    same digest was written to, for a mail to point at."""
    if target.rule_ids is not None and not target.rule_ids:
        return DeliveryResult(target, "nothing")
    pending = target.pending(now)

    def render(batch: Batch, notices: Sequence[str]) -> Message:
        job = RenderJob(
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
        return renderer.render(job)

    if dry_run:
        hits = store.peek(pending)
        preview = Batch(target.key, f"<dry-run-{uuid.uuid4().hex}@monitor>", tuple(hits))
        return DeliveryResult(target, "dry-run", len(hits), render(preview, notices))

    tally = _Tally()
    untold = tuple(notices)  # told once: in the first message that goes out
    for _ in range(MAX_RETRIES_PER_RUN + 1):
        if _limited(store, target, now):
            tally.held = True
            log.info("%s: rate limit reached; new hits wait for the next message", target.key)
            break
        batch = store.reserve(pending, fresh=fresh)
        if batch is None:
            break
        message, error = _send(
            store, notifier, target, batch, functools.partial(render, batch, untold), now
        )
        tally.add(len(batch.hits), message, error)
        if error is None:
            untold = ()
        if not batch.retry:
            break  # one message of new hits a run; the rest go in the next
    if tally.sent or tally.failed or tally.held or not fresh:
        return tally.result(target)
    if not (target.send_empty or notices):
        return DeliveryResult(target, "nothing")
    empty = Batch(target.key, f"<{uuid.uuid4().hex}@monitor>", ())
    try:
        notifier.send(render(empty, notices))
    except (NotifyError, RenderError) as e:
        log.error("%s", e)
        return DeliveryResult(target, "failed", error=str(e), failed=1)
    return DeliveryResult(target, "sent", sent=1)


def _limited(store: DeliverStore, target: Target, now: datetime) -> bool:
    if target.rate_limit is None:
        return False
    count, per = target.rate_limit
    return store.messages_sent(target.key, now - timedelta(seconds=per)) >= count


def _send(
    store: DeliverStore,
    notifier: Notifier,
    target: Target,
    batch: Batch,
    render: Callable[[], Message],
    now: datetime,
) -> tuple[Message | None, str | None]:
    """Render, send and mark one message, or release it with its error. Returns the
    message sent, or the error."""
    try:
        message = render()
        if batch.sent_to:
            # Tried before, and some recipients took it: the others get it, alone.
            left = tuple(r for r in message.recipients if r not in batch.sent_to)
            if not left:
                store.mark_sent(batch, now)
                return message, None
            message = replace(message, envelope=left)
        refused = notifier.send(message)
    except (NotifyError, RenderError) as e:
        store.release(batch, str(e), now)
        log.error("%s: %d hits stay pending and will be retried", e, len(batch.hits))
        return None, str(e)
    except Exception as e:
        # A bug; still, the message is released with its error so that the next goes on.
        error = f"{target.key}: message {batch.message_id}: {e.__class__.__name__}: {e}"
        store.release(batch, error, now)
        log.exception("%s; its %d hits stay pending", error, len(batch.hits))
        return None, error
    if refused:
        sent_to = message.recipients if message.envelope is None else message.envelope
        took = [r for r in sent_to if r not in refused]
        refusals = "; ".join(f"{r} ({answer})" for r, answer in refused.items())
        error = f"{target.key}: refused {refusals}"
        store.release(batch, error, now, sent_to=took)
        log.error("%s; sent to %s, the others are tried again", error, ", ".join(took))
        return None, error
    store.mark_sent(batch, now)
    log.info("%s: sent %d hits (%s)", target.key, len(batch.hits), batch.message_id)
    return message, None
