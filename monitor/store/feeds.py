"""Feeds: the configured ones, their claims while they are polled, the state a poll writes
back, and the health notices they raise."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlmodel import col, select

from monitor.model import FeedState
from monitor.store.base import StoreBase
from monitor.store.convert import feed_row, feed_state, notices_from, notices_json
from monitor.store.tables import FeedRow

#: How long a claimed feed is hidden from other workers while it is polled.
CLAIM_LEASE = timedelta(minutes=5)


class FeedsMixin(StoreBase):
    def sync_feeds(self, feeds: Sequence[FeedState]) -> None:
        """Make the configured feeds the active ones; keep the progress of known feeds."""
        wanted = {f.id: f for f in feeds}
        with self._session() as s:
            rows = {row.id: row for row in s.exec(select(FeedRow))}
            for known in rows.values():
                known.active = known.id in wanted
            for feed in feeds:
                row = rows.get(feed.id)
                if row is None:
                    s.add(feed_row(feed))
                    continue
                if row.config_url != feed.url:
                    # The configuration changed the URL: start afresh with it.
                    row.url, row.config_url = feed.url, feed.url
                    row.etag = row.last_modified = row.body_hash = None
                    row.next_poll, row.gone, row.error_count = None, False, 0
                    row.last_error, row.health = None, ""
                row.title = feed.title or row.title
                row.conditional = feed.conditional
                row.min_interval = feed.min_interval
                row.max_interval = feed.max_interval

    def feeds(self) -> list[FeedState]:
        with self._session() as s:
            rows = s.exec(select(FeedRow).where(col(FeedRow.active)).order_by(col(FeedRow.id)))
            return [feed_state(row) for row in rows]

    def feeds_due(self, now: datetime) -> list[FeedState]:
        """Claim the feeds whose next poll has come; other workers skip them for a while."""
        with self._session() as s:
            query = (
                select(FeedRow)
                .where(col(FeedRow.active))
                .where(or_(col(FeedRow.next_poll).is_(None), col(FeedRow.next_poll) <= now))
                .order_by(col(FeedRow.next_poll).asc().nulls_first(), col(FeedRow.id))
            )
            if not self.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            rows = list(s.exec(query))
            due = [feed_state(row) for row in rows]
            for row in rows:
                row.next_poll = now + CLAIM_LEASE
            return due

    def unclaim(self, feed_ids: Sequence[str]) -> None:
        """Give claimed feeds back (the job is stopping before it polled them)."""
        if not feed_ids:
            return
        with self._session() as s:
            s.execute(
                update(FeedRow).where(col(FeedRow.id).in_(list(feed_ids))).values(next_poll=None)
            )

    def feed_notices(self, now: datetime, *, take: bool = True) -> list[str]:
        """Health notices raised up to `now` (a feed gone, failing, silent or moved), oldest
        first. With `take` they are marked reported as they are returned, so each is told
        once; without it they stay, for a digest to take with `ack_notices` once it is sent."""
        found: list[tuple[datetime, str, str]] = []
        with self._session() as s:
            query = (
                select(FeedRow)
                .where(col(FeedRow.active))
                .where(col(FeedRow.notices).is_not(None))
                .order_by(col(FeedRow.id))
            )
            if take and not self.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            for row in s.exec(query):
                keep = []
                for created, notice in notices_from(row):
                    when = datetime.fromisoformat(created)
                    if when <= now:
                        found.append((when, row.id, notice))
                    else:
                        keep.append([created, notice])
                if take:
                    row.notices = notices_json(keep)
        found.sort()
        return [notice for _, _, notice in found]

    def ack_notices(self, notices: Sequence[str]) -> None:
        """Mark these notices (as `feed_notices(take=False)` gave them) reported; notices
        raised since stay for the next digest."""
        if not notices:
            return
        told = set(notices)
        with self._session() as s:
            query = select(FeedRow).where(col(FeedRow.notices).is_not(None))
            if not self.is_sqlite:
                query = query.with_for_update()
            for row in s.exec(query):
                pending = notices_from(row)
                keep = [[c, n] for c, n in pending if n not in told]
                if len(keep) != len(pending):
                    row.notices = notices_json(keep)
