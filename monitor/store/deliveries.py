"""Deliveries: which hits each target still has to send, their reservation for one
message, and what became of it (sent, or failed and tried again after a backoff, whole,
to the recipients that did not take it); how many messages a target sent lately, and when
each digest last ran."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Update, func, insert, update
from sqlmodel import Session, col, select

from monitor.model import Batch, Pending, StoredHit
from monitor.store.base import StoreBase, chunks, log
from monitor.store.convert import recipients_from, recipients_json, stored_hit
from monitor.store.stories import covered, hit_stories
from monitor.store.tables import DeliveryRow, FeedRow, HitRow, ItemRow, StoryItemRow

#: Delivery statuses: reserved -> sent, reserved -> failed -> reserved ... -> sent, or
#: joined (the hit's story went out before; the hit is never sent).
#: A reservation older than this was left by a run that died between send and mark.
RESERVATION_LEASE = timedelta(minutes=10)
#: The meta key that holds when a target's digest last ran, after this prefix.
LAST_RUN_PREFIX = "last_run:"


def delivery_backoff(attempts: int) -> timedelta:
    """Wait after the n-th failed send: 1, 2, 4 ... minutes, at most 6 hours."""
    return timedelta(seconds=min(60 * 2 ** max(attempts - 1, 0), 6 * 3600))


class DeliveriesMixin(StoreBase):
    def peek(self, pending: Pending) -> list[StoredHit]:
        """What is pending, without taking it (for --dry-run): hits whose failed send is
        due again, and new hits; the items are put into stories, as reserve would."""
        target = pending.target
        with self._session() as s:
            retry = set(_retry_ids(s, target, pending.now))
            fresh = set(_fresh_ids(s, pending))
            ids, _joined = _new_stories(
                s, target, sorted(retry | fresh)[: pending.limit], postgres=not self.is_sqlite
            )
            return _stored_hits(s, ids)

    def reserve(self, pending: Pending, *, fresh: bool = True) -> Batch | None:
        """Take the hits of one target for one message.

        A message tried before comes first, whole (``Batch.retry``): one left reserved by a
        run that died between send and mark, under its old message id so the receiver can
        tell a repeat; then one whose failed send is due again, under a new message id
        (nobody took the old one, or only its ``sent_to``, who do not get it again). Then,
        with ``fresh``, the hits never reserved for the target: at most ``limit``,
        created within ``max_age`` and, with ``item_max_age``, of items published (or,
        undated, first seen) within it.
        A hit whose story the target has had already (another outlet's copy, a later
        rewrite) is not sent again: it is recorded as joined to that story.
        """
        target, now = pending.target, pending.now
        with self._session() as s:
            again = _renew_stale(s, target, now) or _renew_failed(s, target, now)
            if again is not None or not fresh:
                return again
            ids = _fresh_ids(s, pending)
            ids, joined = _new_stories(s, target, ids, postgres=not self.is_sqlite)
            if joined:
                _join(s, target, joined, now)
            if not ids:
                return None
            message_id = f"<{uuid.uuid4().hex}@monitor>"
            _claim(s, target, ids, message_id, now)
            return Batch(target, message_id, tuple(_stored_hits(s, ids)))

    def mark_sent(self, batch: Batch, now: datetime) -> None:
        with self._session() as s:
            s.execute(_of_message(batch).values(status="sent", sent_at=now, last_error=None))

    def release(
        self, batch: Batch, error: str, now: datetime, *, sent_to: Sequence[str] = ()
    ) -> None:
        """A send failed: the hits stay pending and their message is tried again after a
        backoff, to every recipient but those in ``sent_to`` (and the batch's)."""
        attempts = batch.attempts + 1
        with self._session() as s:
            s.execute(
                _of_message(batch).values(
                    status="failed",
                    attempts=attempts,
                    last_error=error[:2000],
                    next_attempt=now + delivery_backoff(attempts),
                    sent_to=recipients_json([*batch.sent_to, *sent_to]),
                )
            )

    def messages_sent(self, target: str, since: datetime) -> int:
        """Messages the target sent since a moment."""
        with self._session() as s:
            return int(
                s.execute(
                    select(func.count(func.distinct(col(DeliveryRow.message_id)))).where(
                        col(DeliveryRow.target) == target,
                        col(DeliveryRow.status) == "sent",
                        col(DeliveryRow.sent_at) >= since,
                    )
                ).scalar_one()
            )

    def last_run(self, target: str) -> datetime | None:
        """When the target's digest last ran; before runs were recorded, its last send."""
        value = self.get_meta(f"{LAST_RUN_PREFIX}{target}")
        if value:
            return datetime.fromisoformat(value)
        with self._session() as s:
            last: datetime | None = s.execute(
                select(func.max(col(DeliveryRow.sent_at))).where(col(DeliveryRow.target) == target)
            ).scalar_one()
            return last

    def record_run(self, target: str, now: datetime) -> None:
        self.set_meta(f"{LAST_RUN_PREFIX}{target}", now.isoformat())

    def retry_targets(self, now: datetime) -> list[str]:
        """Targets with failed sends whose backoff has passed."""
        with self._session() as s:
            return sorted(
                s.execute(
                    select(col(DeliveryRow.target))
                    .distinct()
                    .where(
                        col(DeliveryRow.status) == "failed", col(DeliveryRow.next_attempt) <= now
                    )
                ).scalars()
            )

    def delivered_ever(self, target: str) -> bool:
        with self._session() as s:
            return (
                s.execute(
                    select(col(DeliveryRow.id)).where(col(DeliveryRow.target) == target).limit(1)
                ).first()
                is not None
            )

    def delivery_counts(self, target: str) -> dict[str, int]:
        with self._session() as s:
            rows = s.execute(
                select(col(DeliveryRow.status), func.count())
                .where(col(DeliveryRow.target) == target)
                .group_by(DeliveryRow.status)
            ).all()
            return {str(status): int(n) for status, n in rows}


# ---------------------------------------------------------------------- steps of reserve


def _renew_stale(s: Session, target: str, now: datetime) -> Batch | None:
    """A reservation older than the lease, renewed under its old message id, if any."""
    stale = s.execute(
        select(col(DeliveryRow.message_id))
        .where(col(DeliveryRow.target) == target, col(DeliveryRow.status) == "reserved")
        .where(col(DeliveryRow.reserved_at) <= now - RESERVATION_LEASE)
        .order_by(col(DeliveryRow.reserved_at))
        .limit(1)
    ).first()
    if stale is None:
        return None
    batch = _retake(s, target, stale[0], "reserved", stale[0], now)
    if batch is not None:
        log.warning(
            "%s: message %s was reserved but never marked; sending it again",
            target,
            batch.message_id,
        )
    return batch


def _renew_failed(s: Session, target: str, now: datetime) -> Batch | None:
    """The failed message of a target whose backoff passed first, reserved again under a
    new message id (nobody, or only its ``sent_to``, took the old one), if any."""
    due = s.execute(
        select(col(DeliveryRow.message_id))
        .where(col(DeliveryRow.target) == target, col(DeliveryRow.status) == "failed")
        .where(col(DeliveryRow.next_attempt) <= now)
        .order_by(col(DeliveryRow.next_attempt), col(DeliveryRow.id))
        .limit(1)
    ).first()
    if due is None:
        return None
    return _retake(s, target, due[0], "failed", f"<{uuid.uuid4().hex}@monitor>", now)


def _retake(
    s: Session, target: str, old_id: str, status: str, message_id: str, now: datetime
) -> Batch | None:
    """Reserve a message's rows again under ``message_id``, if they are still in
    ``status`` (another worker may have taken them since they were read)."""
    of_message = (col(DeliveryRow.target) == target, col(DeliveryRow.message_id) == old_id)
    rows = s.execute(
        select(col(DeliveryRow.hit_id), col(DeliveryRow.attempts), col(DeliveryRow.sent_to)).where(
            *of_message, col(DeliveryRow.status) == status
        )
    ).all()
    taken = s.execute(
        update(DeliveryRow)
        .where(*of_message, col(DeliveryRow.status) == status)
        .values(status="reserved", reserved_at=now, message_id=message_id)
    )
    if not rows or not getattr(taken, "rowcount", 0):
        return None
    sent_to = sorted({r for _, _, text in rows for r in recipients_from(text)})
    return Batch(
        target,
        message_id,
        tuple(_stored_hits(s, [hit_id for hit_id, _, _ in rows])),
        max(int(attempts or 0) for _, attempts, _ in rows),
        retry=True,
        sent_to=tuple(sent_to),
    )


def _retry_ids(s: Session, target: str, now: datetime) -> list[int]:
    """Hits whose failed send is due again."""
    return [
        int(i)
        for i in s.execute(
            select(col(DeliveryRow.hit_id))
            .where(col(DeliveryRow.target) == target, col(DeliveryRow.status) == "failed")
            .where(col(DeliveryRow.next_attempt) <= now)
        ).scalars()
    ]


def _of_message(batch: Batch) -> Update:
    """An UPDATE of the deliveries of one message."""
    return update(DeliveryRow).where(
        col(DeliveryRow.target) == batch.target,
        col(DeliveryRow.message_id) == batch.message_id,
    )


def _fresh_ids(s: Session, pending: Pending) -> list[int]:
    """Hits never reserved for the target that ``pending`` allows, oldest first."""
    fresh = (
        select(col(HitRow.id))
        .outerjoin(
            DeliveryRow,
            (col(DeliveryRow.hit_id) == HitRow.id) & (col(DeliveryRow.target) == pending.target),
        )
        .where(col(DeliveryRow.id).is_(None))
        .where(col(HitRow.created) >= pending.now - pending.max_age)
    )
    if pending.rule_ids is not None:
        fresh = fresh.where(col(HitRow.rule_id).in_(list(pending.rule_ids)))
    if pending.item_max_age is not None:
        fresh = fresh.join(ItemRow, col(ItemRow.id) == col(HitRow.item_id)).where(
            func.coalesce(ItemRow.published, ItemRow.fetched) >= pending.now - pending.item_max_age
        )
    fresh = fresh.order_by(col(HitRow.id)).limit(pending.limit)
    return [int(i) for i in s.execute(fresh).scalars()]


def _new_stories(
    s: Session, target: str, ids: list[int], *, postgres: bool
) -> tuple[list[int], list[int]]:
    """Split pending hits into those of stories new to the target and those of stories it
    has had already (through another item, or another rule's hit)."""
    if not ids:
        return [], []
    story_of = hit_stories(s, ids, postgres=postgres)
    retried = set(
        s.execute(
            select(col(DeliveryRow.hit_id)).where(
                col(DeliveryRow.target) == target, col(DeliveryRow.hit_id).in_(ids)
            )
        ).scalars()
    )
    fresh = [i for i in ids if i not in retried]
    done = covered(s, target, {story_of[i] for i in fresh}, excluding=ids)
    joined = [i for i in fresh if story_of[i] in done]
    if not joined:
        return ids, []
    gone = set(joined)
    return [i for i in ids if i not in gone], joined


def _join(s: Session, target: str, hit_ids: list[int], now: datetime) -> None:
    """Record hits whose story the target had as done: never pending again."""
    s.execute(
        insert(DeliveryRow),
        [
            {
                "target": target,
                "hit_id": hit_id,
                "status": "joined",
                "attempts": 0,
                "message_id": "",
                "reserved_at": now,
                "sent_at": now,
            }
            for hit_id in hit_ids
        ],
    )
    log.info("%s: %d hits joined stories sent before", target, len(hit_ids))


def _claim(s: Session, target: str, ids: list[int], message_id: str, now: datetime) -> None:
    """Reserve these new hits for one message."""
    s.execute(
        insert(DeliveryRow),
        [
            {
                "target": target,
                "hit_id": hit_id,
                "status": "reserved",
                "attempts": 0,
                "message_id": message_id,
                "reserved_at": now,
            }
            for hit_id in ids
        ],
    )


def _stored_hits(s: Session, hit_ids: Sequence[int]) -> list[StoredHit]:
    """These hits joined with their items and feeds, in id order."""
    out: list[StoredHit] = []
    for chunk in chunks(list(hit_ids), 500):
        query = (
            select(HitRow, ItemRow, col(FeedRow.title), col(StoryItemRow.story_id))
            .join(ItemRow, col(HitRow.item_id) == col(ItemRow.id))
            .join(FeedRow, col(ItemRow.feed_id) == col(FeedRow.id))
            .outerjoin(StoryItemRow, col(StoryItemRow.item_id) == col(ItemRow.id))
            .where(col(HitRow.id).in_(chunk))
        )
        out.extend(
            stored_hit(hit, item, feed_title, story)
            for hit, item, feed_title, story in s.execute(query)
        )
    out.sort(key=lambda h: h.id)
    return out
