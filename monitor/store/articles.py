"""Items awaiting their article's text (feeds with ``full_text``): claims, the outcome of
each attempt with the hits it brings, and a per-feed report for ``monitor feeds``.

An item of such a feed is stored by its poll in state "waiting", without hits. An attempt
claims it for a while (other workers skip it), then writes one of: "fetched" (the text is
its content now), "failed" (it keeps the feed's lead, and says why), or "waiting" again
with the time of the next try. Hits are written with the final state, in the same
transaction, and only by the attempt that moved the item out of "waiting": an item is
matched once, so each hit is stored, and so sent, once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, insert, or_, update
from sqlmodel import col, select

from monitor.model import ArticleJob, ArticleUpdate, Hit, TextReport
from monitor.store.base import StoreBase
from monitor.store.convert import entry, hit_values
from monitor.store.feeds import CLAIM_LEASE
from monitor.store.tables import FeedRow, HitRow, ItemRow

WAITING = "waiting"


class ArticlesMixin(StoreBase):
    def articles_due(self, now: datetime, limit: int = 500) -> list[ArticleJob]:
        """Claim up to `limit` items whose article's next attempt has come, oldest first."""
        with self._session() as s:
            query = (
                select(ItemRow, col(FeedRow.title), col(FeedRow.config_url), col(FeedRow.url))
                .join(FeedRow, col(ItemRow.feed_id) == col(FeedRow.id))
                .where(col(ItemRow.text_state) != "", col(ItemRow.text_state) == WAITING)
                .where(or_(col(ItemRow.text_next).is_(None), col(ItemRow.text_next) <= now))
                .order_by(col(ItemRow.text_next).asc().nulls_first(), col(ItemRow.id))
                .limit(limit)
            )
            if not self.is_sqlite:
                query = query.with_for_update(skip_locked=True, of=ItemRow)
            jobs = [
                ArticleJob(
                    item_id=int(item.id),
                    entry=entry(item, title or ""),
                    origin=config_url or url,
                    attempts=item.text_attempts,
                )
                for item, title, config_url, url in s.execute(query)
            ]
            if jobs:
                s.execute(
                    update(ItemRow)
                    .where(col(ItemRow.id).in_([j.item_id for j in jobs]))
                    .values(text_next=now + CLAIM_LEASE)
                )
            return jobs

    def record_articles(
        self, updates: Sequence[ArticleUpdate], now: datetime
    ) -> list[list[tuple[int, Hit]]]:
        """Write attempts in one transaction; per update, its new hits with row ids (none
        when the item was no longer waiting: another worker finished it, or it is gone)."""
        created: list[list[tuple[int, Hit]]] = []
        with self._session() as s:
            for u in updates:
                values: dict[str, object] = {
                    "text_state": u.state,
                    "text_attempts": u.attempts,
                    "text_error": u.error[:2000] if u.error else None,
                    "text_next": u.next_try,
                }
                if u.content is not None:
                    values["content"] = u.content
                moved = s.execute(
                    update(ItemRow)
                    .where(col(ItemRow.id) == u.item_id, col(ItemRow.text_state) == WAITING)
                    .values(**values)
                )
                if not getattr(moved, "rowcount", 0) or not u.hits or u.state == WAITING:
                    created.append([])
                    continue
                ids = (
                    s.execute(
                        insert(HitRow).returning(col(HitRow.id), sort_by_parameter_order=True),
                        [hit_values(u.item_id, hit, now) for hit in u.hits],
                    )
                    .scalars()
                    .all()
                )
                created.append([(int(i), hit) for i, hit in zip(ids, u.hits, strict=True)])
        return created

    def text_reports(self) -> dict[str, TextReport]:
        """Per feed with full text: its stored items by article state, and why the latest
        page given up was given up."""
        counts: dict[str, dict[str, int]] = {}
        errors: dict[str, str] = {}
        with self._session() as s:
            rows = s.execute(
                select(col(ItemRow.feed_id), col(ItemRow.text_state), func.count())
                .where(col(ItemRow.text_state) != "")
                .group_by(col(ItemRow.feed_id), col(ItemRow.text_state))
            )
            for feed_id, state, n in rows:
                counts.setdefault(str(feed_id), {})[str(state)] = int(n)
            latest = (
                select(func.max(col(ItemRow.id)))
                .where(col(ItemRow.text_state) != "", col(ItemRow.text_state) == "failed")
                .group_by(col(ItemRow.feed_id))
            )
            for feed_id, error in s.execute(
                select(col(ItemRow.feed_id), col(ItemRow.text_error)).where(
                    col(ItemRow.id).in_(latest)
                )
            ):
                errors[str(feed_id)] = str(error or "")
        return {
            feed_id: TextReport(
                fetched=by_state.get("fetched", 0),
                waiting=by_state.get(WAITING, 0),
                failed=by_state.get("failed", 0),
                last_error=errors.get(feed_id),
            )
            for feed_id, by_state in counts.items()
        }
