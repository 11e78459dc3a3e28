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

from sqlalchemy import delete, func, insert, update
from sqlmodel import Session, col, select

from monitor.model import Entry, FeedUpdate, Hit
from monitor.store.base import StoreBase, bulk_insert, chunks, insert_new
from monitor.store.convert import entry, hit_values, item_values, seen_keys, seen_values
from monitor.store.feeds import check_known, polled_at, write_states
from monitor.store.stories import prune_stories
from monitor.store.tables import DeliveryRow, FeedRow, HitRow, ItemRow, SeenRow

#: Core table of items: bulk inserts skip the ORM's per-row bookkeeping.
ITEM_TABLE = ItemRow.__table__  # type: ignore[attr-defined]
SEEN_TABLE = SeenRow.__table__  # type: ignore[attr-defined]
#: Keys looked up in one statement (SQLite takes 32766 parameters, PostgreSQL 65535): a
#: batch of 25 feeds of 50 items (two keys each) is one statement.
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
        keys = {
            (feed_id, e.id): seen_keys(feed_id, e.id, e.fingerprint)
            for feed_id, entries in batch.items()
            for e in entries
        }
        with self._session() as s:
            known = _known_keys(s, list({k for ks in keys.values() for k in ks}))
            if now is not None:
                _refresh(s, [k for k, last in known.items() if last < now - SEEN_REFRESH], now)
        taken = set(known)
        out: dict[str, list[Entry]] = {}
        for feed_id, entries in batch.items():
            fresh = out.setdefault(feed_id, [])
            for e in entries:
                item_keys = keys[(feed_id, e.id)]
                if taken.intersection(item_keys):
                    continue
                taken.update(item_keys)  # the same item twice in one batch: once
                fresh.append(e)
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
            _insert_seen(s, updates, now, self.engine.dialect.name)
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


def _known_keys(s: Session, keys: list[str]) -> dict[str, datetime]:
    """Which of these keys the seen table holds, with when each was last seen."""
    known: dict[str, datetime] = {}
    for chunk in chunks(keys, SEEN_CHUNK):
        rows = s.execute(
            select(col(SeenRow.key), col(SeenRow.last_seen)).where(col(SeenRow.key).in_(chunk))
        )
        known.update({str(key): last for key, last in rows})
    return known


def _refresh(s: Session, keys: list[str], now: datetime) -> None:
    for chunk in chunks(keys, SEEN_CHUNK):
        s.execute(update(SeenRow).where(col(SeenRow.key).in_(chunk)).values(last_seen=now))


# ---------------------------------------------------------------------- steps of record_many


def _insert_items(s: Session, updates: Sequence[FeedUpdate]) -> None:
    """All the updates' new entries, in one bulk INSERT."""
    rows = [
        item_values(u.feed.id, e, u.feed.last_polled, awaiting=e.id in u.awaiting)
        for u in updates
        for e in u.entries
    ]
    bulk_insert(s, insert(ITEM_TABLE), rows)


def _insert_seen(s: Session, updates: Sequence[FeedUpdate], now: datetime, dialect: str) -> None:
    """The keys of all the updates' new entries, in one bulk INSERT (a key there already,
    from an item recorded without asking unseen first, is left as it is)."""
    rows = {
        row["key"]: row
        for u in updates
        for e in u.entries
        for row in seen_values(u.feed.id, e.id, e.fingerprint, u.feed.last_polled or now)
    }
    bulk_insert(s, insert_new(SEEN_TABLE, dialect), list(rows.values()))


def _insert_hits(s: Session, updates: Sequence[FeedUpdate]) -> list[list[tuple[int, Hit]]]:
    """All the updates' hits, in one bulk INSERT ... RETURNING; per update, the new hits
    with their row ids. Their items must be inserted already."""
    created: list[list[tuple[int, Hit]]] = [[] for _ in updates]
    rows: list[dict[str, Any]] = []
    refs: list[tuple[int, Hit]] = []
    for index, u in enumerate(updates):
        if not u.hits:
            continue
        ids = _item_ids(s, u.feed.id, list(u.hits))
        for entry_id, entry_hits in u.hits.items():
            for hit in entry_hits:
                rows.append(hit_values(ids[entry_id], hit, u.feed.last_polled))
                refs.append((index, hit))
    if rows:
        hit_ids = (
            s.execute(insert(HitRow).returning(col(HitRow.id), sort_by_parameter_order=True), rows)
            .scalars()
            .all()
        )
        for (index, hit), hit_id in zip(refs, hit_ids, strict=True):
            created[index].append((int(hit_id), hit))
    return created


def _item_ids(s: Session, feed_id: str, guids: list[str]) -> dict[str, int]:
    ids: dict[str, int] = {}
    for chunk in chunks(guids, 500):
        for item_id, guid in s.execute(
            select(col(ItemRow.id), col(ItemRow.guid)).where(
                col(ItemRow.feed_id) == feed_id, col(ItemRow.guid).in_(chunk)
            )
        ):
            ids[str(guid)] = int(item_id)
    return ids
