"""Items and their hits: which entries are new, the write of a poll's results (bulk
statements: this is the poll's hot path), reading them back, and forgetting old ones."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, literal, union_all, update
from sqlmodel import Session, col, select

from monitor.errors import StoreError
from monitor.model import Entry, FeedUpdate, Hit
from monitor.store.base import StoreBase, chunks
from monitor.store.convert import POLLED_FIELDS, add_notices, entry, matches_json
from monitor.store.tables import DeliveryRow, FeedRow, HitRow, ItemRow

#: Core table of items: bulk inserts skip the ORM's per-row bookkeeping.
ITEM_TABLE = ItemRow.__table__  # type: ignore[attr-defined]


class ItemsMixin(StoreBase):
    def unseen(self, feed_id: str, entries: Sequence[Entry]) -> list[Entry]:
        """The entries not stored yet: neither their id nor their text is known."""
        if not entries:
            return []
        return self.unseen_many({feed_id: entries}).get(feed_id, [])

    def unseen_many(self, batch: Mapping[str, Sequence[Entry]]) -> dict[str, list[Entry]]:
        """unseen() for several feeds in one transaction: feed id -> its new entries."""
        out: dict[str, list[Entry]] = {}
        with self._session() as s:
            for feed_id, entries in batch.items():
                out[feed_id] = _unseen(s, feed_id, entries) if entries else []
        return out

    def record(self, update: FeedUpdate) -> list[tuple[int, Hit]]:
        """Write a feed's new state, items and hits in one transaction.

        Returns the new hits with their row ids.
        """
        return self.record_many([update])[0]

    def record_states(self, updates: Sequence[FeedUpdate]) -> None:
        """Write the state of many feeds whose poll brought no items, in one transaction."""
        if any(u.entries or u.hits for u in updates):
            raise ValueError("record_states takes updates without entries or hits")
        self.record_many(updates)

    def record_many(self, updates: Sequence[FeedUpdate]) -> list[list[tuple[int, Hit]]]:
        """Write several feeds' new states, items and hits in one transaction (bulk
        statements). Returns, per update, the new hits with their row ids."""
        if not updates:
            return []
        nows = [u.feed.last_polled for u in updates]
        if any(n is None for n in nows):
            raise ValueError("FeedUpdate.feed.last_polled must be set")
        now = max(n for n in nows if n is not None)
        created: list[list[tuple[int, Hit]]] = [[] for _ in updates]
        by_id = {u.feed.id: u for u in updates}
        with self._session() as s:
            known: set[str] = set()
            for chunk in chunks(list(by_id), 500):
                known.update(
                    s.execute(select(col(FeedRow.id)).where(col(FeedRow.id).in_(chunk))).scalars()
                )
            missing = sorted(set(by_id) - known)
            if missing:
                raise StoreError(f"feed {missing[0]!r} is not in the database")
            item_rows = [
                {
                    "feed_id": u.feed.id,
                    "guid": e.id,
                    "url": e.url,
                    "title": e.title,
                    "summary": e.summary,
                    "content": e.content,
                    "author": e.author,
                    "lang": e.lang,
                    "published": e.published,
                    "fetched": u.feed.last_polled,
                    "fingerprint": e.fingerprint,
                }
                for u in updates
                for e in u.entries
            ]
            if item_rows:
                s.execute(insert(ITEM_TABLE), item_rows)
            hit_rows: list[dict[str, Any]] = []
            hit_refs: list[tuple[int, Hit]] = []
            for index, u in enumerate(updates):
                if not u.hits:
                    continue
                ids = _item_ids(s, u.feed.id, list(u.hits))
                for entry_id, entry_hits in u.hits.items():
                    for hit in entry_hits:
                        hit_rows.append(
                            {
                                "item_id": ids[entry_id],
                                "rule_id": hit.rule_id,
                                "rule_version": hit.rule_version,
                                "priority": hit.priority,
                                "matches": matches_json(hit),
                                "created": u.feed.last_polled,
                            }
                        )
                        hit_refs.append((index, hit))
            if hit_rows:
                hit_ids = (
                    s.execute(
                        insert(HitRow).returning(col(HitRow.id), sort_by_parameter_order=True),
                        hit_rows,
                    )
                    .scalars()
                    .all()
                )
                for (index, hit), hit_id in zip(hit_refs, hit_ids, strict=True):
                    created[index].append((int(hit_id), hit))
            per_week = _per_week(s, list(by_id), now)
            s.execute(
                update(FeedRow),
                [
                    {
                        "id": feed_id,
                        **{name: getattr(u.feed, name) for name in POLLED_FIELDS},
                        "items_per_week": float(per_week.get(feed_id, 0)),
                    }
                    for feed_id, u in by_id.items()
                ],
            )
            noted = [u for u in updates if u.notices]
            if noted:
                query = select(FeedRow).where(col(FeedRow.id).in_([u.feed.id for u in noted]))
                if not self.is_sqlite:
                    query = query.with_for_update()  # feed_notices may be taking them
                rows = s.exec(query)
                rows_by_id = {row.id: row for row in rows}
                for u in noted:
                    add_notices(rows_by_id[u.feed.id], u.notices, u.feed.last_polled or now)
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


def _unseen(s: Session, feed_id: str, entries: Sequence[Entry]) -> list[Entry]:
    guids = list({e.id for e in entries})
    prints = list({e.fingerprint for e in entries if e.fingerprint})
    known_guids: set[str] = set()
    known_prints: set[str] = set()
    # One statement, two index lookups: (feed_id, guid) and (feed_id, fingerprint).
    for start in range(0, max(len(guids), len(prints)), 400):
        by_guid = select(col(ItemRow.guid), literal(0)).where(
            col(ItemRow.feed_id) == feed_id, col(ItemRow.guid).in_(guids[start : start + 400])
        )
        by_print = select(col(ItemRow.fingerprint), literal(1)).where(
            col(ItemRow.feed_id) == feed_id,
            col(ItemRow.fingerprint).in_(prints[start : start + 400]),
        )
        for value, kind in s.execute(union_all(by_guid, by_print)):
            (known_prints if kind else known_guids).add(value)
    known_prints.discard("")
    fresh: list[Entry] = []
    for e in entries:
        if e.id in known_guids or (e.fingerprint and e.fingerprint in known_prints):
            continue
        known_guids.add(e.id)
        if e.fingerprint:
            known_prints.add(e.fingerprint)
        fresh.append(e)
    return fresh


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


def _per_week(s: Session, feed_ids: list[str], now: datetime) -> dict[str, int]:
    """Items each feed published (or we first saw) in the week before `now`."""
    week_ago = now - timedelta(days=7)
    out: dict[str, int] = {}
    for chunk in chunks(feed_ids, 500):
        rows = s.execute(
            select(col(ItemRow.feed_id), func.count())
            .where(
                col(ItemRow.feed_id).in_(chunk),
                func.coalesce(ItemRow.published, ItemRow.fetched) >= week_ago,
            )
            .group_by(col(ItemRow.feed_id))
        ).all()
        out.update({str(feed_id): int(n) for feed_id, n in rows})
    return out
