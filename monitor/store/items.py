"""Items and their hits: which entries are new, the write of a poll's results (bulk
statements: this is the poll's hot path), reading them back, and forgetting old ones.

Whether an entry is new is decided by the seen table, not the items: it keeps a compact
key per item guid and per item text for ``seen_retention`` after the feed last carried
the item, so an item pruned by ``retention`` is still known when its feed lists it again.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from monitor.errors import StoreError
from monitor.model import Entry, FeedUpdate, Hit
from monitor.store.base import BulkInsert, StoreBase, chunks, datetimes, marks, run_sql
from monitor.store.convert import (
    HIT_COLUMNS,
    ITEM_COLUMNS,
    SEEN_COLUMNS,
    entry,
    hit_row,
    item_row,
    seen_keys,
)
from monitor.store.feeds import check_known, polled_at, write_states
from monitor.store.stories import prune_stories
from monitor.store.tables import DeliveryRow, FeedRow, HitRow, ItemRow, SeenRow

#: Core table of items: bulk inserts skip the ORM's per-row bookkeeping.
ITEM_TABLE = ItemRow.__table__  # type: ignore[attr-defined]
SEEN_TABLE = SeenRow.__table__  # type: ignore[attr-defined]
HIT_TABLE = HitRow.__table__  # type: ignore[attr-defined]
#: The statements of a poll's write, run at the driver (see BulkInsert). A seen key there
#: already (an item recorded without asking unseen first) is left as it is.
INSERT_ITEMS = BulkInsert(ITEM_TABLE, ITEM_COLUMNS)
INSERT_SEEN = BulkInsert(SEEN_TABLE, SEEN_COLUMNS, skip_existing=True)
INSERT_HITS = BulkInsert(HIT_TABLE, HIT_COLUMNS)
#: Keys looked up in one statement (SQLite takes 32766 parameters, PostgreSQL 65535): a
#: batch of 25 feeds of 50 items (two keys each) is one statement. Item guids and the
#: ids of items with hits are looked up as many at a time.
SEEN_CHUNK = 5000
#: A key's last_seen is moved forward when a poll finds it this much older: a feed that
#: keeps carrying an item keeps its id alive, at one small UPDATE a week per item at most.
SEEN_REFRESH = timedelta(days=7)


class ItemsMixin(StoreBase):
    def unseen(self, feed_id: str, entries: Sequence[Entry]) -> list[Entry]:
        """The entries not stored yet: neither their id nor their text is known."""
        if not entries:
            return []
        return self.unseen_many({feed_id: entries}).get(feed_id, [])

    def unseen_many(
        self, batch: Mapping[str, Sequence[Entry]], now: datetime | None = None
    ) -> dict[str, list[Entry]]:
        """unseen() for several feeds at once (one bulk query): feed id -> its new entries.
        With ``now``, the ids found are marked as still carried by their feeds."""
        keyed = [
            (feed_id, e, seen_keys(feed_id, e.id, e.fingerprint))
            for feed_id, entries in batch.items()
            for e in entries
        ]
        wanted = list({key: None for _, _, keys in keyed for key in keys})
        with self._session() as s:
            stale_before = None if now is None else now - SEEN_REFRESH
            known = _known_keys(s, wanted, stale_before)
            if now is not None:
                _refresh(s, [key for key, stale in known.items() if stale], now)
        taken = set(known)
        out: dict[str, list[Entry]] = {feed_id: [] for feed_id in batch}
        for feed_id, e, keys in keyed:
            if taken.isdisjoint(keys):
                taken.update(keys)  # the same item twice in one batch: once
                out[feed_id].append(e)
        return out

    def record(self, update: FeedUpdate) -> list[tuple[int, Hit]]:
        """Write a feed's new state, items and hits in one transaction.

        Returns the new hits with their row ids.
        """
        return self.record_many([update])[0]

    def record_many(self, updates: Sequence[FeedUpdate]) -> list[list[tuple[int, Hit]]]:
        """Write several feeds' new states, items and hits in one transaction (bulk
        statements). Returns, per update, the new hits with their row ids."""
        if not updates:
            return []
        now = polled_at(updates)
        with self._session() as s:
            check_known(s, list({u.feed.id: u for u in updates}))
            _insert_items(s, updates)
            _insert_seen(s, updates, now)
            created = _insert_hits(s, updates)
            write_states(s, updates, now, lock=not self.is_sqlite)
        return created

    def items_since(self, since: datetime) -> Iterator[tuple[int, Entry]]:
        """Stored items fetched since a moment, for replaying rules."""
        with self._session() as s:
            query = (
                select(ItemRow, col(FeedRow.title))
                .join(FeedRow, col(ItemRow.feed_id) == col(FeedRow.id))
                .where(col(ItemRow.fetched) >= since)
                .order_by(col(ItemRow.id))
            )
            rows = [(int(item.id), entry(item, title or "")) for item, title in s.execute(query)]
        yield from rows

    def hit_rules(self, item_ids: Sequence[int]) -> dict[int, set[str]]:
        out: dict[int, set[str]] = {}
        with self._session() as s:
            for chunk in chunks(list(item_ids), 500):
                for item_id, rule_id in s.execute(
                    select(col(HitRow.item_id), col(HitRow.rule_id)).where(
                        col(HitRow.item_id).in_(chunk)
                    )
                ):
                    out.setdefault(int(item_id), set()).add(str(rule_id))
        return out

    def counts(self) -> dict[str, int]:
        with self._session() as s:
            return {
                name: int(s.execute(select(func.count()).select_from(table)).scalar_one())
                for name, table in (("feeds", FeedRow), ("items", ItemRow), ("hits", HitRow))
            }

    def prune(self, before: datetime, *, seen_before: datetime | None = None) -> int:
        """Forget items (and their hits, deliveries and story signatures) fetched before a
        moment, and the ids of items no feed carried since ``seen_before``. Returns the items
        forgotten."""
        with self._session() as s:
            prune_stories(s, before)
            old_items = select(col(ItemRow.id)).where(col(ItemRow.fetched) < before)
            old_hits = select(col(HitRow.id)).where(col(HitRow.item_id).in_(old_items))
            s.execute(delete(DeliveryRow).where(col(DeliveryRow.hit_id).in_(old_hits)))
            s.execute(delete(HitRow).where(col(HitRow.item_id).in_(old_items)))
            result = s.execute(delete(ItemRow).where(col(ItemRow.fetched) < before))
            if seen_before is not None:
                s.execute(delete(SeenRow).where(col(SeenRow.last_seen) < seen_before))
            return int(getattr(result, "rowcount", 0) or 0)

    def seen_count(self) -> int:
        with self._session() as s:
            return int(s.execute(select(func.count()).select_from(SeenRow)).scalar_one())


def _known_keys(s: Session, keys: list[str], stale_before: datetime | None) -> dict[str, bool]:
    """Which of these keys the seen table holds, each with whether it was last seen before
    ``stale_before`` (never, without it)."""
    known: dict[str, bool] = {}
    if stale_before is None:
        for chunk in chunks(keys, SEEN_CHUNK):
            sql = f"SELECT key FROM seen WHERE key IN ({marks(len(chunk))})"
            known.update((key, False) for (key,) in run_sql(s, sql, tuple(chunk)))
        return known
    cutoff = datetimes(s)(stale_before)
    for chunk in chunks(keys, SEEN_CHUNK):
        sql = f"SELECT key, last_seen < ? FROM seen WHERE key IN ({marks(len(chunk))})"
        known.update((key, bool(stale)) for key, stale in run_sql(s, sql, (cutoff, *chunk)))
    return known


def _refresh(s: Session, keys: list[str], now: datetime) -> None:
    when = datetimes(s)(now)
    for chunk in chunks(keys, SEEN_CHUNK):
        sql = f"UPDATE seen SET last_seen = ? WHERE key IN ({marks(len(chunk))})"
        run_sql(s, sql, (when, *chunk))


# ---------------------------------------------------------------------- steps of record_many


def _insert_items(s: Session, updates: Sequence[FeedUpdate]) -> None:
    """All the updates' new entries, in one bulk INSERT."""
    when = datetimes(s)
    rows = []
    for u in updates:
        feed_id, fetched = u.feed.id, u.feed.last_polled
        awaiting = set(u.awaiting)
        rows += [
            item_row(feed_id, e, fetched, awaiting=e.id in awaiting, when=when) for e in u.entries
        ]
    INSERT_ITEMS.run(s, rows, converted=True)


def _insert_seen(s: Session, updates: Sequence[FeedUpdate], now: datetime) -> None:
    """The keys of all the updates' new entries, in one bulk INSERT (a key there already,
    from an item recorded without asking unseen first, is left as it is)."""
    when = datetimes(s)
    rows: dict[str, tuple[Any, ...]] = {}
    for u in updates:
        feed_id = u.feed.id
        first = when(u.feed.last_polled or now)
        for e in u.entries:
            for key in seen_keys(feed_id, e.id, e.fingerprint):
                rows[key] = (key, feed_id, first, first)
    INSERT_SEEN.run(s, list(rows.values()), converted=True)


def _insert_hits(s: Session, updates: Sequence[FeedUpdate]) -> list[list[tuple[int, Hit]]]:
    """All the updates' hits, in one bulk INSERT; per update, the new hits with their row
    ids. Their items must be inserted already."""
    created: list[list[tuple[int, Hit]]] = [[] for _ in updates]
    wanted = [(index, u) for index, u in enumerate(updates) if u.hits]
    if not wanted:
        return created
    item_ids = _item_ids(s, {(u.feed.id, guid) for _, u in wanted for guid in u.hits})
    rows: list[tuple[Any, ...]] = []
    refs: list[tuple[int, int, Hit]] = []
    for index, u in wanted:
        for entry_id, entry_hits in u.hits.items():
            item_id = item_ids.get((u.feed.id, entry_id))
            if item_id is None:
                raise StoreError(f"hits for item {entry_id!r} of feed {u.feed.id!r}, not stored")
            for hit in entry_hits:
                rows.append(hit_row(item_id, hit, u.feed.last_polled))
                refs.append((index, item_id, hit))
    INSERT_HITS.run(s, rows)
    hit_ids = _hit_ids(s, list({item_id for _, item_id, _ in refs}))
    for index, item_id, hit in refs:
        created[index].append((hit_ids[(item_id, hit.rule_id)], hit))
    return created


def _item_ids(s: Session, wanted: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """The row ids of these (feed id, guid) items that are stored: one statement for up to
    SEEN_CHUNK guids, a SELECT per feed (UNION ALL), each an index search per guid."""
    by_feed: dict[str, list[str]] = {}
    for feed_id, guid in sorted(wanted):
        by_feed.setdefault(feed_id, []).append(guid)
    parts = [
        (feed_id, some) for feed_id, guids in by_feed.items() for some in chunks(guids, SEEN_CHUNK)
    ]
    ids: dict[tuple[str, str], int] = {}
    while parts:
        take, size = 0, 0
        while take < len(parts) and (take == 0 or size + len(parts[take][1]) <= SEEN_CHUNK):
            size += len(parts[take][1])
            take += 1
        batch, parts = parts[:take], parts[take:]
        sql = " UNION ALL ".join(
            f"SELECT id, feed_id, guid FROM item WHERE feed_id = ? AND guid IN ({marks(len(some))})"
            for _, some in batch
        )
        params = tuple(value for feed_id, some in batch for value in (feed_id, *some))
        for item_id, feed_id, guid in run_sql(s, sql, params):
            ids[(str(feed_id), str(guid))] = int(item_id)
    return ids


def _hit_ids(s: Session, item_ids: list[int]) -> dict[tuple[int, str], int]:
    """The row id of each hit of these items, by (item id, rule id)."""
    ids: dict[tuple[int, str], int] = {}
    for chunk in chunks(item_ids, SEEN_CHUNK):
        sql = f"SELECT id, item_id, rule_id FROM hit WHERE item_id IN ({marks(len(chunk))})"
        for hit_id, item_id, rule_id in run_sql(s, sql, tuple(chunk)):
            ids[(int(item_id), str(rule_id))] = int(hit_id)
    return ids
