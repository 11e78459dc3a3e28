"""Deliveries: which hits each target still has to send, their reservation for one
message, and what became of it (sent, or failed and tried again after a backoff)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, update
from sqlmodel import Session, col, select

from monitor.model import Batch, StoredHit
from monitor.store.base import StoreBase, chunks, log
from monitor.store.convert import stored_hit
from monitor.store.stories import covered, hit_stories
from monitor.store.tables import DeliveryRow, FeedRow, HitRow, ItemRow, StoryItemRow

#: Delivery statuses: reserved -> sent, reserved -> failed -> reserved ... -> sent, or
#: joined (the hit's story went out before; the hit is never sent).
#: A reservation older than this was left by a run that died between send and mark.
RESERVATION_LEASE = timedelta(minutes=10)


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
    ) -> list[StoredHit]:
        """What the next reserve would take, without taking it (for --dry-run). The items
        are put into stories, as reserve would."""
        with self._session() as s:
            ids = _pending_ids(s, target, rule_ids, now, limit, max_age)
            ids, _joined = _new_stories(s, target, ids, postgres=not self.is_sqlite)
            return _stored_hits(s, ids)

    def reserve(
        self,
        target: str,
        rule_ids: Sequence[str] | None,
        now: datetime,
        *,
        limit: int = 500,
        max_age: timedelta = timedelta(days=7),
    ) -> Batch | None:
        """Take the pending hits of one target for one message.

        A reservation left by a run that died between send and mark comes back first,
        under its old message id, so the receiver can tell a repeat. A hit whose story the
        target has had already (another outlet's copy, a later rewrite) is not sent again:
        it is recorded as joined to that story.
        """
        with self._session() as s:
            stale = _renew_stale(s, target, now)
            if stale is not None:
                return stale
            ids = _pending_ids(s, target, rule_ids, now, limit, max_age)
            ids, joined = _new_stories(s, target, ids, postgres=not self.is_sqlite)
            if joined:
                _join(s, target, joined, now)
            if not ids:
                return None
            message_id = f"<{uuid.uuid4().hex}@monitor>"
            attempts = _claim(s, target, ids, message_id, now)
            return Batch(target, message_id, tuple(_stored_hits(s, ids)), attempts)

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

    def release(self, batch: Batch, error: str, now: datetime) -> None:
        """A send failed: the hits stay pending and are tried again after a backoff."""
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
                )
            )

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
        select(col(DeliveryRow.message_id), func.max(col(DeliveryRow.attempts)))
        .where(col(DeliveryRow.target) == target, col(DeliveryRow.status) == "reserved")
        .where(col(DeliveryRow.reserved_at) <= now - RESERVATION_LEASE)
        .group_by(DeliveryRow.message_id)
        .limit(1)
    ).first()
    if stale is None:
        return None
    message_id, attempts = stale
    of_message = (col(DeliveryRow.target) == target, col(DeliveryRow.message_id) == message_id)
    hit_ids = s.execute(select(col(DeliveryRow.hit_id)).where(*of_message)).scalars().all()
    s.execute(update(DeliveryRow).where(*of_message).values(reserved_at=now))
    log.warning(
        "%s: message %s was reserved but never marked; sending it again", target, message_id
    )
    return Batch(target, message_id, tuple(_stored_hits(s, hit_ids)), int(attempts or 0))


def _pending_ids(
    s: Session,
    target: str,
    rule_ids: Sequence[str] | None,
    now: datetime,
    limit: int,
    max_age: timedelta,
) -> list[int]:
    """Hits of a target due now: failed sends whose backoff has passed, and hits never
    reserved for it (at most `max_age` old, of `rule_ids` if given); `limit` at most."""
    retry = (
        select(col(DeliveryRow.hit_id))
        .where(col(DeliveryRow.target) == target, col(DeliveryRow.status) == "failed")
        .where(col(DeliveryRow.next_attempt) <= now)
    )
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
    ids = sorted(
        set(s.execute(retry).scalars())
        | set(s.execute(fresh.order_by(col(HitRow.id)).limit(limit)).scalars())
    )
    return [int(i) for i in ids[:limit]]


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


def _claim(s: Session, target: str, ids: list[int], message_id: str, now: datetime) -> int:
    """Reserve these hits for one message: failed deliveries are taken again, the others
    inserted. Returns the most attempts any of them has had."""
    existing = {
        row.hit_id: row
        for row in s.exec(
            select(DeliveryRow).where(
                col(DeliveryRow.target) == target, col(DeliveryRow.hit_id).in_(ids)
            )
        )
    }
    attempts = 0
    new_rows: list[dict[str, Any]] = []
    for hit_id in ids:
        row = existing.get(hit_id)
        if row is None:
            new_rows.append(
                {
                    "target": target,
                    "hit_id": hit_id,
                    "status": "reserved",
                    "attempts": 0,
                    "message_id": message_id,
                    "reserved_at": now,
                }
            )
        else:
            row.status, row.message_id, row.reserved_at = "reserved", message_id, now
            attempts = max(attempts, row.attempts)
    if new_rows:
        s.execute(insert(DeliveryRow), new_rows)
    return attempts


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
