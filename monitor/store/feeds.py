"""Feeds: the configured ones, their claims while they are polled, the state a poll writes
back, and the health notices they raise."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from monitor.errors import StoreError
from monitor.model import FeedState, FeedUpdate
from monitor.store.base import BulkUpdate, StoreBase, chunks, datetimes, marks, run_sql
from monitor.store.convert import (
    POLLED_FIELDS,
    add_notices,
    feed_row,
    feed_state,
    notices_from,
    notices_json,
    polled_row,
)
from monitor.store.tables import FeedRow

FEED_TABLE = FeedRow.__table__  # type: ignore[attr-defined]
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
                row.full_text = feed.full_text
                if (row.min_interval, row.max_interval) != (feed.min_interval, feed.max_interval):
                    # New intervals apply at once, not after a wait set by the old ones.
                    row.min_interval, row.max_interval = feed.min_interval, feed.max_interval
                    row.next_poll = None

    def feeds(self) -> list[FeedState]:
        with self._session() as s:
            rows = s.exec(select(FeedRow).where(col(FeedRow.active)).order_by(col(FeedRow.id)))
            return [feed_state(row) for row in rows]

    def feeds_due(self, now: datetime, limit: int | None = None) -> list[FeedState]:
        """Claim the feeds whose next poll has come (at most `limit`, the longest due
        first); other workers skip them for a while."""
        table = FEED_TABLE
        with self._session() as s:
            # Core rows, not ORM objects: a claim reads and updates every due feed's row,
            # and the ORM's identity map and per-row flush cost more than the statements.
            query = (
                select(table)
                .where(table.c.active)
                .where(or_(table.c.next_poll.is_(None), table.c.next_poll <= now))
                .order_by(table.c.next_poll.asc().nulls_first(), table.c.id)
            )
            if limit is not None:
                query = query.limit(limit)
            if not self.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            due = [feed_state(row) for row in s.execute(query)]
            lease = now + CLAIM_LEASE
            for ids in chunks([f.id for f in due], 5000):
                s.execute(update(table).where(table.c.id.in_(ids)).values(next_poll=lease))
            return due

    def unclaim(self, feed_ids: Sequence[str]) -> None:
        """Give claimed feeds back (the job is stopping before it polled them)."""
        if not feed_ids:
            return
        with self._session() as s:
            s.execute(
                update(FeedRow).where(col(FeedRow.id).in_(list(feed_ids))).values(next_poll=None)
            )

    def record_states(self, updates: Sequence[FeedUpdate]) -> None:
        """Write the state of many feeds whose poll brought no items, in one transaction."""
        if any(u.entries or u.hits for u in updates):
            raise ValueError("record_states takes updates without entries or hits")
        if not updates:
            return
        now = polled_at(updates)
        with self._session() as s:
            check_known(s, list({u.feed.id: u for u in updates}))
            write_states(s, updates, now, lock=not self.is_sqlite)

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


# ---------------------------------------------------------------------- steps of a poll's write


def polled_at(updates: Sequence[FeedUpdate]) -> datetime:
    """When the latest of these polls ran; every update must say when it ran."""
    nows = [u.feed.last_polled for u in updates]
    if any(n is None for n in nows):
        raise ValueError("FeedUpdate.feed.last_polled must be set")
    return max(n for n in nows if n is not None)


def check_known(s: Session, feed_ids: list[str]) -> None:
    """Refuse a write for a feed the database does not have."""
    known: set[str] = set()
    for chunk in chunks(feed_ids, 500):
        sql = f"SELECT id FROM feed WHERE id IN ({marks(len(chunk))})"
        known.update(feed_id for (feed_id,) in run_sql(s, sql, tuple(chunk)))
    missing = sorted(set(feed_ids) - known)
    if missing:
        raise StoreError(f"feed {missing[0]!r} is not in the database")


#: A polled feed's new state (POLLED_FIELDS, then its items per week), by its id.
UPDATE_POLLED = BulkUpdate(FeedRow.__table__, (*POLLED_FIELDS, "items_per_week"))  # type: ignore[attr-defined]


def write_states(s: Session, updates: Sequence[FeedUpdate], now: datetime, *, lock: bool) -> None:
    """Write the polled feeds' states (one bulk UPDATE, with their new items per week) and
    append their notices. `lock` takes the noted rows FOR UPDATE (feed_notices may be
    taking them at the same time)."""
    by_id = {u.feed.id: u for u in updates}
    per_week = _per_week(s, list(by_id), now)
    UPDATE_POLLED.run(
        s, [polled_row(u.feed, per_week.get(feed_id, 0)) for feed_id, u in by_id.items()]
    )
    noted = [u for u in updates if u.notices]
    if noted:
        query = select(FeedRow).where(col(FeedRow.id).in_([u.feed.id for u in noted]))
        if lock:
            query = query.with_for_update()
        rows_by_id = {row.id: row for row in s.exec(query)}
        for u in noted:
            add_notices(rows_by_id[u.feed.id], u.notices, u.feed.last_polled or now)


def _per_week(s: Session, feed_ids: list[str], now: datetime) -> dict[str, int]:
    """Items each feed published (or we first saw) in the week before `now`."""
    week_ago = datetimes(s)(now - timedelta(days=7))
    out: dict[str, int] = {}
    for chunk in chunks(feed_ids, 500):
        sql = (
            f"SELECT feed_id, count(*) FROM item WHERE feed_id IN ({marks(len(chunk))}) "
            "AND coalesce(published, fetched) >= ? GROUP BY feed_id"
        )
        rows = run_sql(s, sql, (*chunk, week_ago))
        out.update({str(feed_id): int(n) for feed_id, n in rows})
    return out
