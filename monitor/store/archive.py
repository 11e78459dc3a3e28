"""Read-only queries of the archive page: stories, one story, the full-text search's
candidates, hits per day, and what became of each hit's deliveries.

For now one item is one story (its id is the item's id): ``stories`` and ``story`` are the
only places that say so (see monitor/archive.py). Lists are newest first by item id, which
follows the order items were stored in, so a page is a cheap walk down the primary key.
``read_only`` makes a Store refuse writes at the database (the page's own Store uses it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    case,
    event,
    exists,
    func,
    or_,
    type_coerce,
)
from sqlalchemy import (
    select as core_select,
)
from sqlmodel import Session, col, select

from monitor.archive import ArchiveItem, Filters, Prefilter, RuleActivity, Sending, Story
from monitor.archive import StoredMatch as StoredMatchRecord
from monitor.model import copied
from monitor.store.base import StoreBase, chunks
from monitor.store.convert import matches_from
from monitor.store.search import matching_ids
from monitor.store.tables import DeliveryRow, FeedRow, HitRow, ItemRow, StoryItemRow, UTCDateTime

#: An item's date: published, unless the feed gave none or one after we fetched it.
item_date = type_coerce(
    case(
        (
            or_(
                col(ItemRow.published).is_(None),
                col(ItemRow.published) > col(ItemRow.fetched),
            ),
            col(ItemRow.fetched),
        ),
        else_=col(ItemRow.published),
    ),
    UTCDateTime,
)


_NEVER = datetime.max.replace(tzinfo=UTC)


class ArchiveMixin(StoreBase):
    def read_only(self) -> None:
        """From now on every connection of this Store refuses to write (SQLite's
        query_only, PostgreSQL's read-only transactions)."""
        sqlite = self.is_sqlite

        @event.listens_for(self.engine, "connect")
        def _read_only(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            if sqlite:
                cursor.execute("PRAGMA query_only = ON")
            else:
                cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            cursor.close()

        self.engine.dispose()  # connections opened before now are not reused

    def stories(self, filters: Filters, *, offset: int, limit: int) -> list[Story]:
        """Stories newest first: the items of a page, those of one story (as clustered for
        the digests) together under the newest of them; an item no digest has put into a
        story yet is a story of its own."""
        with self._session() as s:
            query = _items(filters).order_by(col(ItemRow.id).desc()).offset(offset).limit(limit)
            items = [_item(row) for row in s.execute(query)]
            story_of = _story_of(s, [i.id for i in items])
            hits = _matches(s, [i.id for i in items])
        groups: dict[object, list[ArchiveItem]] = {}
        for item in items:
            groups.setdefault(story_of.get(item.id, ("item", item.id)), []).append(item)
        return [
            Story(
                group[0].id,
                tuple(group),
                tuple(h for h in hits if h.item_id in {i.id for i in group}),
            )
            for group in groups.values()
        ]

    def story(self, story_id: int) -> Story | None:
        """The story an item belongs to: that item first, then every other copy."""
        with self._session() as s:
            row = s.execute(
                _items(Filters(matched=False)).where(col(ItemRow.id) == story_id)
            ).first()
            if row is None:
                return None
            item = _item(row)
            members = [item]
            story = _story_of(s, [item.id]).get(item.id)
            if story is not None:
                others = select(col(StoryItemRow.item_id)).where(
                    col(StoryItemRow.story_id) == story, col(StoryItemRow.item_id) != item.id
                )
                rows = s.execute(
                    _items(Filters(matched=False))
                    .where(col(ItemRow.id).in_(others))
                    .order_by(col(ItemRow.id))
                )
                members += [_item(r) for r in rows]
            ids = [m.id for m in members]
            return Story(item.id, tuple(members), tuple(_matches(s, ids)))

    def search(
        self, prefilter: Prefilter | None, filters: Filters, *, before: int | None, limit: int
    ) -> list[ArchiveItem]:
        """Items the full-text index finds (every item, when ``prefilter`` is None) that
        pass the filters, newest first, with ids below ``before``."""
        query = _items(filters)
        if prefilter is not None:
            query = query.where(matching_ids(prefilter, postgres=not self.is_sqlite))
        if before is not None:
            query = query.where(col(ItemRow.id) < before)
        with self._session() as s:
            rows = s.execute(query.order_by(col(ItemRow.id).desc()).limit(limit))
            return [_item(row) for row in rows]

    def feed_ids(self) -> list[str]:
        with self._session() as s:
            return sorted(s.execute(select(col(FeedRow.id))).scalars())

    def stored_matches(self, item_ids: Sequence[int]) -> list[StoredMatchRecord]:
        with self._session() as s:
            return _matches(s, item_ids)

    def sendings(self, hit_ids: Sequence[int]) -> list[Sending]:
        """Every delivery of these hits, oldest first."""
        out: list[Sending] = []
        with self._session() as s:
            for chunk in chunks(list(hit_ids), 500):
                query = select(DeliveryRow).where(col(DeliveryRow.hit_id).in_(chunk))
                out.extend(
                    Sending(
                        hit_id=row.hit_id,
                        target=row.target,
                        status=row.status,
                        attempts=row.attempts,
                        message_id=row.message_id,
                        reserved_at=row.reserved_at,
                        sent_at=row.sent_at,
                        last_error=row.last_error,
                    )
                    for row in s.exec(query)
                )
        out.sort(key=lambda d: (d.sent_at or d.reserved_at or _NEVER, d.target))
        return out

    def activity(self, since: datetime) -> list[RuleActivity]:
        """Each rule with stored hits: hits per day (UTC) since ``since``, and its last."""
        created = col(HitRow.created)
        if self.is_sqlite:
            day: Any = func.substr(created, 1, 10)
        else:
            day = func.to_char(func.timezone("UTC", created), "YYYY-MM-DD")
        out: dict[str, RuleActivity] = {}
        with self._session() as s:
            last = select(col(HitRow.rule_id), type_coerce(func.max(created), UTCDateTime))
            for rule_id, when in s.execute(last.group_by(col(HitRow.rule_id))):
                out[rule_id] = RuleActivity(rule_id, {}, when)
            per_day = (
                select(col(HitRow.rule_id), day, func.count())
                .where(created >= since)
                .group_by(col(HitRow.rule_id), day)
            )
            for rule_id, value, count in s.execute(per_day):
                out[rule_id].per_day[date.fromisoformat(str(value))] = int(count)
        return [out[rule_id] for rule_id in sorted(out)]


_ITEM = ItemRow.__table__  # type: ignore[attr-defined]
#: The columns an ArchiveItem is made of (Core rows: no ORM objects on the page's path).
_COLUMNS: tuple[Any, ...] = (
    _ITEM.c.id,
    _ITEM.c.feed_id,
    col(FeedRow.title).label("feed_title"),
    _ITEM.c.guid,
    _ITEM.c.url,
    _ITEM.c.title,
    _ITEM.c.summary,
    _ITEM.c.content,
    _ITEM.c.author,
    _ITEM.c.lang,
    _ITEM.c.published,
    _ITEM.c.fetched,
)


def _items(filters: Filters) -> Any:
    """Items with their feed's title that pass the filters (not ordered)."""
    query = core_select(*_COLUMNS).join(FeedRow, col(ItemRow.feed_id) == col(FeedRow.id))
    conditions: list[ColumnElement[bool]] = []
    if filters.matched or filters.rule_ids is not None or filters.priority:
        has_hit = select(col(HitRow.id)).where(col(HitRow.item_id) == col(ItemRow.id))
        if filters.rule_ids is not None:
            has_hit = has_hit.where(col(HitRow.rule_id).in_(filters.rule_ids))
        if filters.priority:
            has_hit = has_hit.where(col(HitRow.priority) == filters.priority)
        conditions.append(exists(has_hit))
    if filters.feeds:
        conditions.append(col(ItemRow.feed_id).in_(filters.feeds))
    if filters.since is not None:
        conditions.append(item_date >= filters.since)
    if filters.until is not None:
        conditions.append(item_date < filters.until)
    return query.where(*conditions) if conditions else query


def _item(row: Any) -> ArchiveItem:
    item = ArchiveItem(*row)
    return item if item.feed_title else replace(item, feed_title=item.feed_id)


def _story_of(s: Session, item_ids: Sequence[int]) -> dict[int, int]:
    """The story of each of these items that has one (item id -> story id)."""
    out: dict[int, int] = {}
    for chunk in chunks(list(item_ids), 500):
        rows = s.execute(
            select(col(StoryItemRow.item_id), col(StoryItemRow.story_id)).where(
                col(StoryItemRow.item_id).in_(chunk)
            )
        )
        out.update({int(item): int(story) for item, story in rows})
    return out


def _matches(s: Session, item_ids: Sequence[int]) -> list[StoredMatchRecord]:
    out: list[StoredMatchRecord] = []
    for chunk in chunks(list(item_ids), 500):
        query = select(HitRow).where(col(HitRow.item_id).in_(chunk)).order_by(col(HitRow.id))
        out.extend(
            copied(StoredMatchRecord, hit, id=int(hit.id or 0), matches=matches_from(hit.matches))
            for hit in s.exec(query)
        )
    return out


__all__ = ["ArchiveMixin", "item_date"]
