"""Stories: the story of each item with hits, found when a delivery first takes the item.

Items are put into stories when a delivery reserves (or peeks at) their hits, not when a
poll records them: only items with hits ever reach a message, and the poll's hot path stays
as it was. The first delivery after a poll (an alert target, right after it) assigns them,
so every target sees the same stories. The pure decisions are monitor/stories.py's; this
part keeps each item's signature and keys and looks up the candidates near in time.

On PostgreSQL the assignment holds a transaction-level advisory lock, so two workers never
start two stories for one event; SQLite writers are one at a time anyway.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, insert, text
from sqlmodel import Session, col, select

from monitor import stories
from monitor.model import Entry
from monitor.sigpool import pooled_signatures
from monitor.store.base import BulkInsert, StoreBase, chunks, datetimes, marks, run_sql
from monitor.store.tables import (
    DeliveryRow,
    HitRow,
    ItemRow,
    StoryItemRow,
    StoryKeyRow,
    StoryRow,
)

#: Core tables: bulk inserts skip the ORM's per-row bookkeeping (a batch has thousands).
_MEMBERS = StoryItemRow.__table__  # type: ignore[attr-defined]
_KEYS = StoryKeyRow.__table__  # type: ignore[attr-defined]
#: An assignment's rows, run at the driver (see BulkInsert): an item has a few dozen keys,
#: and SQLAlchemy's own executemany processed each row's parameters (2,000 items: 74,000
#: key rows, 0.7 s).
INSERT_MEMBERS = BulkInsert(_MEMBERS, ("item_id", "story_id", "seen", "hashes", "features"))
INSERT_KEYS = BulkInsert(_KEYS, ("key", "story_id", "item_id", "seen"))
#: Keys looked up in one statement (SQLite takes 32766 parameters, PostgreSQL 65535).
KEYS_CHUNK = 5000

#: pg_advisory_xact_lock key of story assignment ("monitor stories").
_LOCK = 0x6D6F6E73746F7279


def _when(item: ItemRow) -> datetime:
    """The time an item is placed at: published, unless the feed's date is far off."""
    fetched = item.fetched
    published = item.published
    if published is None or abs(published - fetched) > stories.WINDOW:
        return fetched
    return published


def _entry(item: ItemRow) -> Entry:
    return Entry(
        feed_id=item.feed_id,
        id=item.guid,
        url=item.url,
        title=item.title,
        summary=item.summary,
        content=item.content,
        published=item.published,
    )


def hit_stories(s: Session, hit_ids: Sequence[int], *, postgres: bool) -> dict[int, int]:
    """The story of each hit's item (hit id -> story id), putting the items that have
    none yet into stories first."""
    item_of: dict[int, int] = {}
    for chunk in chunks(list(hit_ids), 500):
        for hit_id, item_id in s.execute(
            select(col(HitRow.id), col(HitRow.item_id)).where(col(HitRow.id).in_(chunk))
        ):
            item_of[int(hit_id)] = int(item_id)
    story_of = _known(s, set(item_of.values()))
    missing = set(item_of.values()) - set(story_of)
    if missing:
        if postgres:
            s.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
            story_of.update(_known(s, missing))  # another worker may have been first
            missing -= set(story_of)
        if missing:
            story_of.update(_assign(s, sorted(missing)))
    return {hit_id: story_of[item_id] for hit_id, item_id in item_of.items()}


def covered(
    s: Session, target: str, story_ids: set[int], excluding: Sequence[int] = ()
) -> set[int]:
    """The stories that a target has had, or has taken for a message, through hits other
    than ``excluding`` (the hits being taken now)."""
    out: set[int] = set()
    left_out = set(excluding)
    for chunk in chunks(sorted(story_ids), 500):
        query = (
            select(col(StoryItemRow.story_id), col(DeliveryRow.hit_id))
            .join(HitRow, col(HitRow.item_id) == col(StoryItemRow.item_id))
            .join(DeliveryRow, col(DeliveryRow.hit_id) == col(HitRow.id))
            .where(col(DeliveryRow.target) == target, col(StoryItemRow.story_id).in_(chunk))
        )
        out.update(int(story) for story, hit in s.execute(query) if hit not in left_out)
    return out


def prune_stories(s: Session, before: datetime) -> None:
    """Forget the signatures and keys of items fetched before a moment, and the stories
    left without items (called by prune, before the items go)."""
    old_items = select(col(ItemRow.id)).where(col(ItemRow.fetched) < before)
    s.execute(delete(StoryKeyRow).where(col(StoryKeyRow.item_id).in_(old_items)))
    s.execute(delete(StoryItemRow).where(col(StoryItemRow.item_id).in_(old_items)))
    s.execute(
        delete(StoryRow).where(
            col(StoryRow.id).not_in(select(col(StoryItemRow.story_id)).distinct())
        )
    )


def story_counts(s: Session) -> dict[str, int]:
    return {
        name: int(s.execute(select(func.count()).select_from(table)).scalar_one())
        for name, table in (("stories", StoryRow), ("story_items", StoryItemRow))
    }


# ---------------------------------------------------------------------- steps of hit_stories


def _known(s: Session, item_ids: set[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for chunk in chunks(sorted(item_ids), 500):
        for item_id, story_id in s.execute(
            select(col(StoryItemRow.item_id), col(StoryItemRow.story_id)).where(
                col(StoryItemRow.item_id).in_(chunk)
            )
        ):
            out[int(item_id)] = int(story_id)
    return out


def _assign(s: Session, item_ids: list[int]) -> dict[int, int]:
    """Put items into stories: the stories near them in time that share a key are the
    candidates; stories.Index decides, item by item, in time order."""
    items: list[ItemRow] = []
    for chunk in chunks(item_ids, 500):
        items.extend(s.exec(select(ItemRow).where(col(ItemRow.id).in_(chunk))))
    # In the order the outlets published (a poll records feeds in any order): the original
    # comes before its rewrites, and a rewrite that names the original's facts finds it.
    items.sort(key=lambda i: (i.published or i.fetched, i.id or 0))
    # A big batch (the first delivery after a pause) on two cores: see sigpool.py.
    sigs = pooled_signatures([_entry(i) for i in items])
    whens = [_when(i) for i in items]
    index = _candidates(s, sigs, min(whens), max(whens))
    # New stories get provisional ids (below zero) while the batch is decided, and their
    # rows in one INSERT after.
    created: list[datetime] = []

    def new_story(when: datetime) -> int:
        created.append(when)
        return -len(created)

    chosen = index.assign(list(zip(sigs, whens, strict=True)), new_story)
    real: dict[int, int] = {}
    if created:
        ids = (
            s.execute(
                insert(StoryRow).returning(col(StoryRow.id), sort_by_parameter_order=True),
                [{"created": when} for when in created],
            )
            .scalars()
            .all()
        )
        real = {-(n + 1): int(story_id) for n, story_id in enumerate(ids)}
    out: dict[int, int] = {}
    members: list[tuple[object, ...]] = []
    keys: list[tuple[object, ...]] = []
    driver_time = datetimes(s)
    for item, sig, when, story in zip(items, sigs, whens, chosen, strict=True):
        story = real.get(story, story)
        item_id = int(item.id or 0)
        out[item_id] = story
        seen = driver_time(when)
        features = json.dumps(sig.features(), ensure_ascii=False)
        members.append((item_id, story, seen, sig.hashes, features))
        keys += [(key, story, item_id, seen) for key in dict.fromkeys(sig.search_keys())]
    INSERT_MEMBERS.run(s, members, converted=True)
    INSERT_KEYS.run(s, keys, converted=True)
    return out


def _candidates(
    s: Session, sigs: Sequence[stories.Signature], first: datetime, last: datetime
) -> stories.Index:
    """An Index holding the stored stories that share a key with any of ``sigs`` within
    the window around [first, last]."""
    window = stories.WINDOW
    lo, hi = first - window, last + window
    wanted = sorted({key for sig in sigs for key in sig.search_keys()})
    story_ids: set[int] = set()
    driver_time = datetimes(s)
    # At the driver, many keys a statement (SQLAlchemy compiled each IN list anew).
    for chunk in chunks(wanted, KEYS_CHUNK):
        sql = (
            f"SELECT DISTINCT story_id FROM story_key WHERE key IN ({marks(len(chunk))}) "
            "AND seen >= ? AND seen <= ?"
        )
        params = (*chunk, driver_time(lo), driver_time(hi))
        story_ids.update(int(row[0]) for row in run_sql(s, sql, params))
    index = stories.Index(window)
    for chunk in chunks(sorted(story_ids), 500):
        rows = s.exec(
            select(StoryItemRow)
            .where(col(StoryItemRow.story_id).in_(chunk))
            .where(col(StoryItemRow.seen) >= lo - window, col(StoryItemRow.seen) <= hi + window)
            .order_by(col(StoryItemRow.seen))
        )
        for row in rows:
            sig = stories.Signature.from_stored(row.hashes, json.loads(row.features or "{}"))
            index.add(row.story_id, sig, row.seen)
    return index


class StoriesMixin(StoreBase):
    def stories_of(self, item_ids: Sequence[int]) -> dict[int, int]:
        """The story of each item that has one (item id -> story id)."""
        with self._session() as s:
            return _known(s, set(item_ids))

    def story_counts(self) -> dict[str, int]:
        with self._session() as s:
            return story_counts(s)
