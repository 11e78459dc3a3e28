"""The Store: every query, every transaction, and the schema's migrations.

SQLite (WAL) by default; the same code runs on PostgreSQL, where several workers may share
the feeds (claims use ``FOR UPDATE SKIP LOCKED``). Everything in and out is a record of
monitor.model; the tables never leave this package.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, event, func, insert, inspect, literal, or_, text, union_all, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool
from sqlmodel import Session, SQLModel, col, create_engine, select

from monitor.errors import StoreError
from monitor.model import Batch, Entry, FeedState, FeedUpdate, Hit, StoredHit, TermMatch
from monitor.store.tables import DeliveryRow, FeedRow, HitRow, ItemRow, Meta

log = logging.getLogger(__name__)

#: A reservation older than this was left by a run that died between send and mark.
RESERVATION_LEASE = timedelta(minutes=10)
#: How long a claimed feed is hidden from other workers while it is polled.
CLAIM_LEASE = timedelta(minutes=5)
SCHEMA_VERSION_KEY = "schema_version"
#: Core table of items: bulk inserts skip the ORM's per-row bookkeeping.
ITEM_TABLE = ItemRow.__table__  # type: ignore[attr-defined]


def _v1(engine: Engine) -> None:
    SQLModel.metadata.create_all(engine)


#: Feed columns added after version 1 (a fresh database gets them from _v1 already).
_FEED_HEALTH_COLUMNS = ("last_new", "usual_gap", "health", "notices")


def _v2(engine: Engine) -> None:
    """feed: last_new, usual_gap, health, notices (feed health, reported once)."""
    have = {c["name"] for c in inspect(engine).get_columns("feed")}
    table = FeedRow.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        for name in _FEED_HEALTH_COLUMNS:
            if name in have:
                continue
            column = table.c[name]
            kind = column.type.compile(dialect=engine.dialect)
            ddl = f"ALTER TABLE feed ADD COLUMN {name} {kind}"
            if not column.nullable:
                ddl += " NOT NULL DEFAULT ''"
            conn.execute(text(ddl))


#: Migrations in order; the schema's version is their count. Append, never edit.
MIGRATIONS: tuple[Callable[[Engine], None], ...] = (_v1, _v2)


def delivery_backoff(attempts: int) -> timedelta:
    """Wait after the n-th failed send: 1, 2, 4 ... minutes, at most 6 hours."""
    return timedelta(seconds=min(60 * 2 ** max(attempts - 1, 0), 6 * 3600))


def _matches_json(hit: Hit) -> str:
    return json.dumps([[m.term, m.field, m.start, m.end] for m in hit.matches], ensure_ascii=False)


def _matches_from(text: str) -> tuple[TermMatch, ...]:
    return tuple(
        TermMatch(str(t), str(f), int(s), int(e)) for t, f, s, e in json.loads(text or "[]")
    )


def _feed_state(row: FeedRow) -> FeedState:
    return FeedState(
        id=row.id,
        url=row.url,
        title=row.title,
        etag=row.etag,
        last_modified=row.last_modified,
        body_hash=row.body_hash,
        last_polled=row.last_polled,
        last_success=row.last_success,
        next_poll=row.next_poll,
        error_count=row.error_count,
        last_error=row.last_error,
        items_per_week=row.items_per_week,
        conditional=row.conditional,
        gone=row.gone,
        min_interval=row.min_interval,
        max_interval=row.max_interval,
        last_new=row.last_new,
        usual_gap=row.usual_gap,
        health=row.health or "",
    )


#: FeedState fields that a poll writes back to the feed's row.
_POLLED_FIELDS = (
    "url",
    "title",
    "etag",
    "last_modified",
    "body_hash",
    "last_polled",
    "last_success",
    "next_poll",
    "error_count",
    "last_error",
    "gone",
    "last_new",
    "usual_gap",
    "health",
)


def _add_notices(row: FeedRow, notices: Sequence[str], now: datetime) -> None:
    if not notices:
        return
    pending = json.loads(row.notices or "[]")
    stamp = now.astimezone(UTC).isoformat()
    pending.extend([stamp, notice] for notice in notices)
    row.notices = json.dumps(pending, ensure_ascii=False)


def _entry(row: ItemRow, feed_title: str = "") -> Entry:
    return Entry(
        feed_id=row.feed_id,
        id=row.guid,
        url=row.url,
        title=row.title,
        summary=row.summary,
        content=row.content,
        author=row.author,
        published=row.published,
        lang=row.lang,
        fingerprint=row.fingerprint,
        feed_title=feed_title,
    )


class Store:
    """All reads and writes of the monitor's state."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        try:
            self.engine = self._make_engine(url, echo)
        except (SQLAlchemyError, ImportError, ValueError) as e:
            raise StoreError(f"cannot open database {self.safe_url}: {e}") from e

    @property
    def safe_url(self) -> str:
        """The URL without its password, for messages."""
        try:
            from sqlalchemy.engine import make_url

            return make_url(self.url).render_as_string(hide_password=True)
        except Exception:
            return "(unparseable database URL)"

    @staticmethod
    def _make_engine(url: str, echo: bool) -> Engine:
        if url.startswith("sqlite"):
            path = url.removeprefix("sqlite:///")
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(
                url,
                echo=echo,
                poolclass=NullPool,
                connect_args={"check_same_thread": False, "timeout": 30},
            )

            @event.listens_for(engine, "connect")
            def _pragmas(dbapi_conn: Any, _record: Any) -> None:
                cursor = dbapi_conn.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.execute("PRAGMA foreign_keys=ON")
                cursor.close()

            return engine
        return create_engine(url, echo=echo, pool_pre_ping=True)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def _session(self) -> Iterator[Session]:
        try:
            with Session(self.engine, expire_on_commit=False) as session, session.begin():
                yield session
        except SQLAlchemyError as e:
            raise StoreError(f"database {self.safe_url}: {e.__class__.__name__}: {e}") from e

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ schema

    def migrate(self) -> int:
        """Bring the schema to the newest version; returns that version."""
        try:
            Meta.metadata.create_all(self.engine, tables=[Meta.__table__])  # type: ignore[attr-defined]
        except SQLAlchemyError as e:
            raise StoreError(f"cannot open database {self.safe_url}: {e}") from e
        current = int(self.get_meta(SCHEMA_VERSION_KEY) or 0)
        for version, step in enumerate(MIGRATIONS, start=1):
            if version > current:
                try:
                    step(self.engine)
                except SQLAlchemyError as e:
                    raise StoreError(f"migration {version} failed on {self.safe_url}: {e}") from e
                self.set_meta(SCHEMA_VERSION_KEY, str(version))
                log.info("database schema at version %d", version)
        return len(MIGRATIONS)

    def get_meta(self, key: str) -> str | None:
        with self._session() as s:
            row = s.get(Meta, key)
            return row.value if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._session() as s:
            row = s.get(Meta, key)
            if row:
                row.value = value
            else:
                s.add(Meta(key=key, value=value))

    # ------------------------------------------------------------------ feeds

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
                    s.add(
                        FeedRow(
                            id=feed.id,
                            url=feed.url,
                            config_url=feed.url,
                            title=feed.title,
                            conditional=feed.conditional,
                            min_interval=feed.min_interval,
                            max_interval=feed.max_interval,
                        )
                    )
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
            return [_feed_state(row) for row in rows]

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
            due = [_feed_state(row) for row in rows]
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
                out[feed_id] = self._unseen(s, feed_id, entries) if entries else []
        return out

    @staticmethod
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
        for entry in entries:
            if entry.id in known_guids or (entry.fingerprint and entry.fingerprint in known_prints):
                continue
            known_guids.add(entry.id)
            if entry.fingerprint:
                known_prints.add(entry.fingerprint)
            fresh.append(entry)
        return fresh

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
            for chunk in _chunks(list(by_id), 500):
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
                ids = self._item_ids(s, u.feed.id, list(u.hits))
                for entry_id, entry_hits in u.hits.items():
                    for hit in entry_hits:
                        hit_rows.append(
                            {
                                "item_id": ids[entry_id],
                                "rule_id": hit.rule_id,
                                "rule_version": hit.rule_version,
                                "priority": hit.priority,
                                "matches": _matches_json(hit),
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
            per_week = self._per_week(s, list(by_id), now)
            s.execute(
                update(FeedRow),
                [
                    {
                        "id": feed_id,
                        **{name: getattr(u.feed, name) for name in _POLLED_FIELDS},
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
                    _add_notices(rows_by_id[u.feed.id], u.notices, u.feed.last_polled or now)
        return created

    @staticmethod
    def _item_ids(s: Session, feed_id: str, guids: list[str]) -> dict[str, int]:
        ids: dict[str, int] = {}
        for chunk in _chunks(guids, 500):
            for item_id, guid in s.execute(
                select(col(ItemRow.id), col(ItemRow.guid)).where(
                    col(ItemRow.feed_id) == feed_id, col(ItemRow.guid).in_(chunk)
                )
            ):
                ids[str(guid)] = int(item_id)
        return ids

    @staticmethod
    def _per_week(s: Session, feed_ids: Sequence[str], now: datetime) -> dict[str, int]:
        """Items each feed published (or we first saw) in the week before `now`."""
        week_ago = now - timedelta(days=7)
        out: dict[str, int] = {}
        for chunk in _chunks(list(feed_ids), 500):
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
                pending = json.loads(row.notices or "[]")
                keep = []
                for created, notice in pending:
                    when = datetime.fromisoformat(created)
                    if when <= now:
                        found.append((when, row.id, notice))
                    else:
                        keep.append([created, notice])
                if take:
                    row.notices = json.dumps(keep, ensure_ascii=False) if keep else None
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
                pending = json.loads(row.notices or "[]")
                keep = [[c, n] for c, n in pending if n not in told]
                if len(keep) != len(pending):
                    row.notices = json.dumps(keep, ensure_ascii=False) if keep else None

    # ------------------------------------------------------------------ delivery

    def _stored_hits(self, s: Session, hit_ids: Sequence[int]) -> list[StoredHit]:
        out: list[StoredHit] = []
        for chunk in _chunks(list(hit_ids), 500):
            query = (
                select(HitRow, ItemRow, col(FeedRow.title))
                .join(ItemRow, col(HitRow.item_id) == col(ItemRow.id))
                .join(FeedRow, col(ItemRow.feed_id) == col(FeedRow.id))
                .where(col(HitRow.id).in_(chunk))
            )
            for hit, item, feed_title in s.execute(query):
                out.append(
                    StoredHit(
                        id=int(hit.id),
                        rule_id=hit.rule_id,
                        feed_id=item.feed_id,
                        feed_title=feed_title or item.feed_id,
                        item_id=item.guid,
                        title=item.title,
                        url=item.url,
                        summary=item.summary,
                        published=item.published,
                        fetched=item.fetched,
                        matches=_matches_from(hit.matches),
                    )
                )
        out.sort(key=lambda h: h.id)
        return out

    def _pending_ids(
        self,
        s: Session,
        target: str,
        rule_ids: Sequence[str] | None,
        now: datetime,
        limit: int,
        max_age: timedelta,
    ) -> list[int]:
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

    def peek(
        self,
        target: str,
        rule_ids: Sequence[str] | None,
        now: datetime,
        *,
        limit: int = 500,
        max_age: timedelta = timedelta(days=7),
    ) -> list[StoredHit]:
        """What the next reserve would take, without taking it (for --dry-run)."""
        with self._session() as s:
            return self._stored_hits(s, self._pending_ids(s, target, rule_ids, now, limit, max_age))

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
        under its old message id, so the receiver can tell a repeat.
        """
        with self._session() as s:
            stale = s.execute(
                select(col(DeliveryRow.message_id), func.max(col(DeliveryRow.attempts)))
                .where(col(DeliveryRow.target) == target, col(DeliveryRow.status) == "reserved")
                .where(col(DeliveryRow.reserved_at) <= now - RESERVATION_LEASE)
                .group_by(DeliveryRow.message_id)
                .limit(1)
            ).first()
            if stale is not None:
                message_id, attempts = stale
                hit_ids = (
                    s.execute(
                        select(col(DeliveryRow.hit_id)).where(
                            col(DeliveryRow.target) == target,
                            col(DeliveryRow.message_id) == message_id,
                        )
                    )
                    .scalars()
                    .all()
                )
                s.execute(
                    update(DeliveryRow)
                    .where(
                        col(DeliveryRow.target) == target, col(DeliveryRow.message_id) == message_id
                    )
                    .values(reserved_at=now)
                )
                log.warning(
                    "%s: message %s was reserved but never marked; sending it again",
                    target,
                    message_id,
                )
                return Batch(
                    target, message_id, tuple(self._stored_hits(s, hit_ids)), int(attempts or 0)
                )

            ids = self._pending_ids(s, target, rule_ids, now, limit, max_age)
            if not ids:
                return None
            message_id = f"<{uuid.uuid4().hex}@monitor>"
            existing = {
                row.hit_id: row
                for row in s.exec(
                    select(DeliveryRow).where(
                        col(DeliveryRow.target) == target, col(DeliveryRow.hit_id).in_(ids)
                    )
                )
            }
            attempts = 0
            new_rows = []
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
            return Batch(target, message_id, tuple(self._stored_hits(s, ids)), attempts)

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

    # ------------------------------------------------------------------ reading

    def counts(self) -> dict[str, int]:
        with self._session() as s:
            return {
                name: int(s.execute(select(func.count()).select_from(table)).scalar_one())
                for name, table in (("feeds", FeedRow), ("items", ItemRow), ("hits", HitRow))
            }

    def items_since(self, since: datetime) -> Iterator[tuple[int, Entry]]:
        """Stored items fetched since a moment, for replaying rules."""
        with self._session() as s:
            query = (
                select(ItemRow, col(FeedRow.title))
                .join(FeedRow, col(ItemRow.feed_id) == col(FeedRow.id))
                .where(col(ItemRow.fetched) >= since)
                .order_by(col(ItemRow.id))
            )
            rows = [(int(item.id), _entry(item, title or "")) for item, title in s.execute(query)]
        yield from rows

    def hit_rules(self, item_ids: Sequence[int]) -> dict[int, set[str]]:
        out: dict[int, set[str]] = {}
        with self._session() as s:
            for chunk in _chunks(list(item_ids), 500):
                for item_id, rule_id in s.execute(
                    select(col(HitRow.item_id), col(HitRow.rule_id)).where(
                        col(HitRow.item_id).in_(chunk)
                    )
                ):
                    out.setdefault(int(item_id), set()).add(str(rule_id))
        return out

    # ------------------------------------------------------------------ housekeeping

    def heartbeat(self, now: datetime) -> None:
        self.set_meta("heartbeat", now.isoformat())

    def last_heartbeat(self) -> datetime | None:
        value = self.get_meta("heartbeat")
        return datetime.fromisoformat(value) if value else None

    def prune(self, before: datetime) -> int:
        """Forget items (and their hits and deliveries) fetched before a moment."""
        with self._session() as s:
            old_items = select(col(ItemRow.id)).where(col(ItemRow.fetched) < before)
            old_hits = select(col(HitRow.id)).where(col(HitRow.item_id).in_(old_items))
            s.execute(delete(DeliveryRow).where(col(DeliveryRow.hit_id).in_(old_hits)))
            s.execute(delete(HitRow).where(col(HitRow.item_id).in_(old_items)))
            result = s.execute(delete(ItemRow).where(col(ItemRow.fetched) < before))
            return int(getattr(result, "rowcount", 0) or 0)


def _chunks(values: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


__all__ = ["Store", "StoreError", "delivery_backoff"]
