"""Deliveries: which hits each target still has to send, their reservation for one
message, and what became of it (sent, or failed and tried again after a backoff, whole,
to the recipients that did not take it); how many messages a target sent lately, and when
each digest last ran."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, insert, update
from sqlmodel import Session, col, select

from monitor.model import Batch, StoredHit
from monitor.store.base import StoreBase, chunks, log
from monitor.store.convert import recipients_from, recipients_json, stored_hit
from monitor.store.tables import DeliveryRow, FeedRow, HitRow, ItemRow

#: A reservation older than this was left by a run that died between send and mark.
RESERVATION_LEASE = timedelta(minutes=10)
#: The meta key that holds when a target's digest last ran, after this prefix.
LAST_RUN_PREFIX = "last_run:"


def delivery_backoff(attempts: int) -> timedelta:
    """Wait after the n-th failed send: 1, 2, 4 ... minutes, at most 6 hours."""
    return timedelta(seconds=min(60 * 2 ** max(attempts - 1, 0), 6 * 3600))


class DeliveriesMixin(StoreBase):
    def peek(
        self,
        target: str,
        rule_ids: Sequence[str] | None,
        now: datetime,
        *,
        limit: int = 500,
        max_age: timedelta = timedelta(days=7),
        item_max_age: timedelta | None = None,
    ) -> list[StoredHit]:
        """What is pending, without taking it (for --dry-run): hits whose failed send is
        due again, and new hits."""
        with self._session() as s:
            retry = set(_retry_ids(s, target, now))
            fresh = set(_fresh_ids(s, target, rule_ids, now, limit, max_age, item_max_age))
            return _stored_hits(s, sorted(retry | fresh)[:limit])

    def reserve(
        self,
        target: str,
        rule_ids: Sequence[str] | None,
        now: datetime,
        *,
        limit: int = 500,
        max_age: timedelta = timedelta(days=7),
        item_max_age: timedelta | None = None,
        fresh: bool = True,
    ) -> Batch | None:
        """Take the hits of one target for one message.

        A message tried before comes first, whole (``Batch.retry``): one left reserved by a
        run that died between send and mark, under its old message id so the receiver can
        tell a repeat; then one whose failed send is due again, under a new message id
        (nobody took the old one, or only its ``sent_to``, who do not get it again). Then,
        with ``fresh``, the hits never reserved for the target: at most ``limit``,
        created within ``max_age`` and, with ``item_max_age``, of items published (or,
        undated, first seen) within it.
        """
        with self._session() as s:
            again = _renew_stale(s, target, now) or _renew_failed(s, target, now)
            if again is not None or not fresh:
                return again
            ids = _fresh_ids(s, target, rule_ids, now, limit, max_age, item_max_age)
            if not ids:
                return None
            message_id = f"<{uuid.uuid4().hex}@monitor>"
            _claim(s, target, ids, message_id, now)
            return Batch(target, message_id, tuple(_stored_hits(s, ids)))

    def mark_sent(self, batch: Batch, now: datetime) -> None:
        with self._session() as s:
            s.execute(
                update(DeliveryRow)
                .where(
                    col(DeliveryRow.target) == batch.target,
                    col(DeliveryRow.message_id) == batch.message_id,
                )
                .values(status="sent", sent_at=now, last_error=None)
            )

    def release(
        self, batch: Batch, error: str, now: datetime, *, sent_to: Sequence[str] = ()
    ) -> None:
        """A send failed: the hits stay pending and their message is tried again after a
        backoff, to every recipient but those in ``sent_to`` (and the batch's)."""
        attempts = batch.attempts + 1
        with self._session() as s:
            s.execute(
                update(DeliveryRow)
                .where(
                    col(DeliveryRow.target) == batch.target,
                    col(DeliveryRow.message_id) == batch.message_id,
                )
                .values(
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


def _fresh_ids(
    s: Session,
    target: str,
    rule_ids: Sequence[str] | None,
    now: datetime,
    limit: int,
    max_age: timedelta,
    item_max_age: timedelta | None,
) -> list[int]:
    """Hits never reserved for a target: created within `max_age`, of `rule_ids` if
    given, of items published (or first seen) within `item_max_age` if given; `limit`
    at most, oldest first."""
    fresh = (
        select(col(HitRow.id))
        .outerjoin(
            DeliveryRow,
            (col(DeliveryRow.hit_id) == HitRow.id) & (col(DeliveryRow.target) == target),
        )
        .where(col(DeliveryRow.id).is_(None))
        .where(col(HitRow.created) >= now - max_age)
    )
    if rule_ids is not None:
        fresh = fresh.where(col(HitRow.rule_id).in_(list(rule_ids)))
    if item_max_age is not None:
        fresh = fresh.join(ItemRow, col(ItemRow.id) == col(HitRow.item_id)).where(
            func.coalesce(ItemRow.published, ItemRow.fetched) >= now - item_max_age
        )
    return [int(i) for i in s.execute(fresh.order_by(col(HitRow.id)).limit(limit)).scalars()]


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
            select(HitRow, ItemRow, col(FeedRow.title))
            .join(ItemRow, col(HitRow.item_id) == col(ItemRow.id))
            .join(FeedRow, col(ItemRow.feed_id) == col(FeedRow.id))
            .where(col(HitRow.id).in_(chunk))
        )
        out.extend(stored_hit(hit, item, feed_title) for hit, item, feed_title in s.execute(query))
    out.sort(key=lambda h: h.id)
    return out
