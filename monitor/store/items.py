"""Items and their hits: which entries are new, the write of a poll's results (bulk
statements: this is the poll's hot path), reading them back, and forgetting old ones."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, exists, func, insert, literal, union_all
from sqlmodel import Session, col, select

from monitor.model import Entry, FeedUpdate, Hit
from monitor.store.base import StoreBase, chunks
from monitor.store.convert import entry, hit_values, item_values
from monitor.store.feeds import check_known, polled_at, write_states
from monitor.store.tables import DeliveryRow, FeedRow, HitRow, ItemRow

#: Core table of items: bulk inserts skip the ORM's per-row bookkeeping.
ITEM_TABLE = ItemRow.__table__  # type: ignore[attr-defined]
#: A feed's items known by guid or by fingerprint: one statement, two index lookups
#: ((feed_id, guid) and (feed_id, fingerprint)), built once so that each call only binds
#: its lists (building it per feed cost more than running it).
KNOWN = union_all(
    select(col(ItemRow.guid), literal(0)).where(
        col(ItemRow.feed_id) == bindparam("feed"),
        col(ItemRow.guid).in_(bindparam("guids", expanding=True)),
    ),
    select(col(ItemRow.fingerprint), literal(1)).where(
        col(ItemRow.feed_id) == bindparam("feed"),
        col(ItemRow.fingerprint).in_(bindparam("prints", expanding=True)),
    ),
)


class ItemsMixin(StoreBase):
    def unseen(self, feed_id: str, entries: Sequence[Entry]) -> list[Entry]:
        """The entries not stored yet: neither their id nor their text is known."""
        if not entries:
            return []
        return self.unseen_many({feed_id: entries}).get(feed_id, [])

    def unseen_many(self, batch: Mapping[str, Sequence[Entry]]) -> dict[str, list[Entry]]:
        """unseen() for several feeds in one transaction: feed id -> its new entries.
        Feeds without any stored item (a first poll) are found in one statement and not
        asked item by item."""
        out: dict[str, list[Entry]] = {}
        with self._session() as s:
            stocked: set[str] = set()
            for chunk in chunks([f for f, entries in batch.items() if entries], 500):
                stocked.update(s.execute(STOCKED, {"ids": chunk}).scalars())
            for feed_id, entries in batch.items():
                if not entries:
                    out[feed_id] = []
                elif feed_id in stocked:
                    out[feed_id] = _unseen(s, feed_id, entries)
                else:
                    out[feed_id] = _distinct(entries)
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

    def prune(self, before: datetime) -> int:
        """Forget items (and their hits and deliveries) fetched before a moment."""
        with self._session() as s:
            old_items = select(col(ItemRow.id)).where(col(ItemRow.fetched) < before)
            old_hits = select(col(HitRow.id)).where(col(HitRow.item_id).in_(old_items))
            s.execute(delete(DeliveryRow).where(col(DeliveryRow.hit_id).in_(old_hits)))
            s.execute(delete(HitRow).where(col(HitRow.item_id).in_(old_items)))
            result = s.execute(delete(ItemRow).where(col(ItemRow.fetched) < before))
            return int(getattr(result, "rowcount", 0) or 0)


#: Which of some feeds have at least one stored item (one index probe each).
STOCKED = select(col(FeedRow.id)).where(
    col(FeedRow.id).in_(bindparam("ids", expanding=True)),
    exists().where(col(ItemRow.feed_id) == col(FeedRow.id)),
)


def _distinct(entries: Sequence[Entry]) -> list[Entry]:
    """A feed's entries when it has none stored: each guid and each text once."""
    return _fresh(entries, set(), set())


def _unseen(s: Session, feed_id: str, entries: Sequence[Entry]) -> list[Entry]:
    guids = list({e.id for e in entries})
    prints = list({e.fingerprint for e in entries if e.fingerprint})
    known_guids: set[str] = set()
    known_prints: set[str] = set()
    for start in range(0, max(len(guids), len(prints)), 400):
        bound = {
            "feed": feed_id,
            "guids": guids[start : start + 400],
            "prints": prints[start : start + 400],
        }
        for value, kind in s.execute(KNOWN, bound):
            (known_prints if kind else known_guids).add(value)
    known_prints.discard("")
    return _fresh(entries, known_guids, known_prints)


def _fresh(entries: Sequence[Entry], known_guids: set[str], known_prints: set[str]) -> list[Entry]:
    """The entries whose guid and text are neither known nor repeated earlier in the list."""
    fresh: list[Entry] = []
    for e in entries:
        if e.id in known_guids or (e.fingerprint and e.fingerprint in known_prints):
            continue
        known_guids.add(e.id)
        if e.fingerprint:
            known_prints.add(e.fingerprint)
        fresh.append(e)
    return fresh


# ---------------------------------------------------------------------- steps of record_many


def _insert_items(s: Session, updates: Sequence[FeedUpdate]) -> None:
    """All the updates' new entries, in one bulk INSERT."""
    rows = [item_values(u.feed.id, e, u.feed.last_polled) for u in updates for e in u.entries]
    if rows:
        s.execute(insert(ITEM_TABLE), rows)


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
