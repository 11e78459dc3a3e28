"""The schema's migrations and the step that applies them.

The first step creates the schema of the first release, frozen here as it was (not
today's models), so every database, however old, climbs the same steps. Each step and its
version bump commit in one transaction. One process migrates at a time: on PostgreSQL an
advisory lock makes the others wait, on SQLite ``BEGIN IMMEDIATE`` does; a process that
waited finds the steps done and does nothing. A database whose version is newer than this
code knows is refused, naming both versions, rather than written by code that does not
know its tables.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    false,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from monitor.errors import StoreError
from monitor.store.base import StoreBase, insert_new, log
from monitor.store.tables import (
    DeliveryRow,
    FeedRow,
    ItemRow,
    Meta,
    SeenRow,
    StoryItemRow,
    StoryKeyRow,
    StoryRow,
    UTCDateTime,
)

SCHEMA_VERSION_KEY = "schema_version"
#: Any constant will do: it names the migration lock among PostgreSQL's advisory locks.
_PG_LOCK = 0x6D6F6E69746F72  # "monitor"

# --------------------------------------------------------------------------- version 1

_FIRST = MetaData()


def _dt(name: str, **kwargs: Any) -> Column[Any]:
    return Column(name, UTCDateTime, **kwargs)


# The tables of the first release, as they were. Never edit: later steps change them.
Table(
    "meta", _FIRST, Column("key", String, primary_key=True), Column("value", String, nullable=False)
)
Table(
    "feed",
    _FIRST,
    Column("id", String, primary_key=True),
    Column("url", String, nullable=False),
    Column("config_url", String, nullable=False),
    Column("title", String),
    Column("active", Boolean, nullable=False),
    Column("conditional", Boolean, nullable=False),
    Column("min_interval", Integer, nullable=False),
    Column("max_interval", Integer, nullable=False),
    Column("etag", String),
    Column("last_modified", String),
    Column("body_hash", String),
    _dt("last_polled"),
    _dt("last_success"),
    _dt("next_poll", index=True),
    Column("error_count", Integer, nullable=False),
    Column("last_error", Text),
    Column("items_per_week", Float, nullable=False),
    Column("gone", Boolean, nullable=False),
)
Table(
    "item",
    _FIRST,
    Column("id", Integer, primary_key=True),
    Column("feed_id", String, ForeignKey("feed.id"), nullable=False),
    Column("guid", String, nullable=False),
    Column("url", String),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("content", Text, nullable=False),
    Column("author", String, nullable=False),
    Column("lang", String, nullable=False),
    _dt("published"),
    _dt("fetched", nullable=False, index=True),
    Column("fingerprint", String, nullable=False),
    UniqueConstraint("feed_id", "guid", name="uq_item_feed_guid"),
    Index("ix_item_feed_fingerprint", "feed_id", "fingerprint"),
)
Table(
    "hit",
    _FIRST,
    Column("id", Integer, primary_key=True),
    Column("item_id", Integer, ForeignKey("item.id"), nullable=False, index=True),
    Column("rule_id", String, nullable=False, index=True),
    Column("rule_version", String, nullable=False),
    Column("priority", String, nullable=False),
    Column("matches", Text, nullable=False),
    _dt("created", nullable=False, index=True),
    UniqueConstraint("item_id", "rule_id", name="uq_hit_item_rule"),
)
Table(
    "delivery",
    _FIRST,
    Column("id", Integer, primary_key=True),
    Column("target", String, nullable=False),
    Column("hit_id", Integer, ForeignKey("hit.id"), nullable=False),
    Column("status", String, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("message_id", String, nullable=False, index=True),
    _dt("reserved_at"),
    _dt("next_attempt"),
    _dt("sent_at"),
    Column("last_error", Text),
    UniqueConstraint("target", "hit_id", name="uq_delivery_target_hit"),
    Index("ix_delivery_target_status", "target", "status"),
)


def _v1(conn: Connection) -> None:
    """The first release's schema."""
    _FIRST.create_all(conn)


# --------------------------------------------------------------------------- later steps

#: Feed columns added after version 1.
_FEED_HEALTH_COLUMNS = ("last_new", "usual_gap", "health", "notices")


def _v2(conn: Connection) -> None:
    """feed: last_new, usual_gap, health, notices (feed health, reported once)."""
    _add_columns(conn, "feed", FeedRow.__table__, _FEED_HEALTH_COLUMNS)  # type: ignore[attr-defined]


def _add_columns(conn: Connection, table_name: str, table: object, names: tuple[str, ...]) -> None:
    """ALTER TABLE ... ADD COLUMN for each of these columns the table lacks."""
    have = {c["name"] for c in inspect(conn).get_columns(table_name)}
    columns = table.c  # type: ignore[attr-defined]
    for name in names:
        if name in have:
            continue
        column = columns[name]
        kind = column.type.compile(dialect=conn.dialect)
        ddl = f"ALTER TABLE {table_name} ADD COLUMN {name} {kind}"
        if not column.nullable:
            ddl += " NOT NULL DEFAULT ''"
        conn.execute(text(ddl))


#: Items read at a time while the seen table is filled from them.
_SEEN_BACKFILL = 5000


def _seen_ids(conn: Connection) -> None:
    """seen: a key per item guid and per item text, filled from the stored items, so that
    pruning items never makes them new again."""
    table = SeenRow.__table__  # type: ignore[attr-defined]
    table.create(conn, checkfirst=True)
    items = ItemRow.__table__  # type: ignore[attr-defined]
    last = 0
    while True:
        page = conn.execute(
            select(items.c.id, items.c.feed_id, items.c.guid, items.c.fingerprint, items.c.fetched)
            .where(items.c.id > last)
            .order_by(items.c.id)
            .limit(_SEEN_BACKFILL)
        ).all()
        if not page:
            break
        rows = {
            key: {"key": key, "feed_id": feed_id, "first_seen": fetched, "last_seen": fetched}
            for _id, feed_id, guid, fingerprint, fetched in page
            for key in _first_seen_keys(feed_id, guid, fingerprint or "")
        }
        conn.execute(insert_new(table, conn.dialect.name), list(rows.values()))
        last = page[-1][0]


def _first_seen_keys(feed_id: str, guid: str, fingerprint: str) -> list[str]:
    """The seen keys of an item as this step made them (32 hex digits of SHA-256 over
    the feed, the kind and the value); ``_seen_keys_by_feed`` gives them today's form."""
    kinds = [("g", guid)] + ([("t", fingerprint)] if fingerprint else [])
    raws = [f"{feed_id}\0{kind}\0{value}".encode("utf-8", "surrogatepass") for kind, value in kinds]
    return [hashlib.sha256(raw).hexdigest()[:32] for raw in raws]


def _delivery_sent_to(conn: Connection) -> None:
    """delivery.sent_to: the recipients that took a message the server refused for others."""
    _add_columns(conn, "delivery", DeliveryRow.__table__, ("sent_to",))  # type: ignore[attr-defined]


def _full_text_and_host_waits(conn: Connection) -> None:
    """item: text_state, text_error, text_attempts, text_next (+ index): an item awaiting
    its article's text; feed: full_text, waiting_for (a host's Retry-After)."""
    added = (
        ("item", Column("text_state", String, nullable=False, server_default="")),
        ("item", Column("text_error", Text)),
        ("item", Column("text_attempts", Integer, nullable=False, server_default="0")),
        ("item", _dt("text_next")),
        ("feed", Column("full_text", Boolean, nullable=False, server_default=false())),
        ("feed", Column("waiting_for", String, nullable=False, server_default="")),
    )
    for table, column in added:
        if column.name in {c["name"] for c in inspect(conn).get_columns(table)}:
            continue
        kind = column.type.compile(dialect=conn.dialect)
        ddl = f"ALTER TABLE {table} ADD COLUMN {column.name} {kind}"
        if column.server_default is not None:
            default = column.server_default.arg  # type: ignore[attr-defined]
            shown = default.compile(dialect=conn.dialect) if hasattr(default, "compile") else None
            ddl += f" NOT NULL DEFAULT {shown or repr(str(default))}"
        conn.execute(text(ddl))
    indexes = {i["name"] for i in inspect(conn).get_indexes("item")}
    if "ix_item_text_state_next" not in indexes:
        conn.execute(text("CREATE INDEX ix_item_text_state_next ON item (text_state, text_next)"))


def _archive_search(conn: Connection) -> None:
    """The archive page's full-text index of folded item text (store/search.py): an FTS5
    table and its delete trigger on SQLite, a tsvector table with a GIN index on
    PostgreSQL. The job fills it after its next poll (``monitor serve`` when it starts)."""
    if conn.dialect.name == "postgresql":
        statements = (
            "CREATE TABLE IF NOT EXISTS item_search (item_id INTEGER PRIMARY KEY "
            "REFERENCES item (id) ON DELETE CASCADE, doc TSVECTOR NOT NULL)",
            "CREATE INDEX IF NOT EXISTS ix_item_search_doc ON item_search USING gin (doc)",
        )
    else:
        statements = (
            "CREATE VIRTUAL TABLE IF NOT EXISTS item_fts "
            "USING fts5(title, summary, content, tokenize = 'ascii')",
            "CREATE TRIGGER IF NOT EXISTS item_fts_forget AFTER DELETE ON item "
            "BEGIN DELETE FROM item_fts WHERE rowid = old.id; END",
        )
    for statement in statements:
        conn.execute(text(statement))


def _add_stories(bind: Connection) -> None:
    """story, story_item, story_key: one story per event, the signature of each item with
    hits, and the keys its later copies are found by (monitor/stories.py). Creates the
    tables only (Table.create takes an engine or a connection alike)."""
    for row in (StoryRow, StoryItemRow, StoryKeyRow):
        row.__table__.create(bind, checkfirst=True)  # type: ignore[union-attr]


def _seen_keys_by_feed(conn: Connection) -> None:
    """seen: each key starts with 8 hex digits of SHA-256 over its feed id, followed by
    the first 24 of the key it had, so the keys of a feed sort together (a poll's new keys
    fall on a few pages of the index). A key's hash is the same: nothing known is lost."""
    feed_ids = [row[0] for row in conn.execute(text("SELECT DISTINCT feed_id FROM seen"))]
    if not feed_ids:
        return
    conn.execute(
        text(
            "CREATE TEMPORARY TABLE seen_prefix "
            "(feed_id VARCHAR PRIMARY KEY, prefix VARCHAR NOT NULL)"
        )
    )
    conn.execute(
        text("INSERT INTO seen_prefix (feed_id, prefix) VALUES (:feed_id, :prefix)"),
        [{"feed_id": feed_id, "prefix": _v8_feed_prefix(feed_id)} for feed_id in feed_ids],
    )
    conn.execute(
        text(
            "UPDATE seen SET key = (SELECT prefix FROM seen_prefix "
            "WHERE seen_prefix.feed_id = seen.feed_id) || substr(key, 1, 24)"
        )
    )
    conn.execute(text("DROP TABLE seen_prefix"))


def _v8_feed_prefix(feed_id: str) -> str:
    """The feed's part of a seen key, as ``_seen_keys_by_feed`` made it."""
    return hashlib.sha256(feed_id.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def _drop_unused_indexes(conn: Connection) -> None:
    """item: no ix_item_feed_fingerprint (no query has looked items up by their text since
    the seen table holds the text keys); hit: no ix_hit_item_id (uq_hit_item_rule begins
    with the item). Each new item and hit had paid for an entry in them."""
    for index in ("ix_item_feed_fingerprint", "ix_hit_item_id"):
        conn.execute(text(f"DROP INDEX IF EXISTS {index}"))


def _unchecked_hot_references(conn: Connection) -> None:
    """PostgreSQL: an item's feed and a hit's item are no longer checked by the database.
    Each row of a poll's bulk inserts ran a trigger and a query to check them, a third of
    the server's CPU on inserting items and hits (50,000 items and 90,000 hits: 2.95 s,
    2.01 s without); the one transaction that writes an item writes its hits, no feed is
    ever deleted, and pruning deletes an item's hits first. SQLite keeps its checks (its
    tables would have to be rebuilt, and a check there is one index lookup)."""
    if conn.dialect.name == "postgresql":
        for table, constraint in (("item", "item_feed_id_fkey"), ("hit", "hit_item_id_fkey")):
            conn.execute(text(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {constraint}"))


def _partial_text_index(conn: Connection) -> None:
    """item: ix_item_text_state_next holds only the items of full-text feeds (a text
    state other than ""); every other item had paid for an entry in it. The queries that
    use it say text_state != "" too, so that SQLite takes it."""
    conn.execute(text("DROP INDEX IF EXISTS ix_item_text_state_next"))
    conn.execute(
        text(
            "CREATE INDEX ix_item_text_state_next ON item (text_state, text_next) "
            "WHERE text_state != ''"
        )
    )


#: Migrations in order; the schema's version is their count. Append, never edit.
MIGRATIONS: tuple[Callable[[Connection], None], ...] = (
    _v1,
    _v2,
    _seen_ids,
    _delivery_sent_to,
    _full_text_and_host_waits,
    _archive_search,
    _add_stories,
    _seen_keys_by_feed,
    _drop_unused_indexes,
    _unchecked_hot_references,
    _partial_text_index,
)

_META = Meta.__table__  # type: ignore[attr-defined]


def _version(conn: Connection) -> int:
    if not inspect(conn).has_table("meta"):
        return 0
    value = conn.execute(
        select(_META.c.value).where(_META.c.key == SCHEMA_VERSION_KEY)
    ).scalar_one_or_none()
    return int(value or 0)


def _set_version(conn: Connection, version: int) -> None:
    done = conn.execute(
        _META.update().where(_META.c.key == SCHEMA_VERSION_KEY).values(value=str(version))
    )
    if not done.rowcount:
        conn.execute(_META.insert().values(key=SCHEMA_VERSION_KEY, value=str(version)))


def _migration_engine(engine: Engine) -> Engine:
    """An engine of its own for migrating: on SQLite every transaction is BEGIN IMMEDIATE
    (the write lock is taken first, DDL included), so two processes cannot both decide
    that a step is still to do."""
    if engine.dialect.name != "sqlite":
        return engine
    own = create_engine(
        engine.url,
        poolclass=NullPool,
        connect_args={"check_same_thread": False, "timeout": 60},
    )

    @event.listens_for(own, "connect")
    def _manual(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # the driver leaves transactions to us

    @event.listens_for(own, "begin")
    def _immediate(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return own


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[Connection]:
    """A connection that holds the migration lock (PostgreSQL) while it is open."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _PG_LOCK})
            conn.commit()
            try:
                yield conn
            finally:
                conn.rollback()
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_LOCK})
                conn.commit()
        else:
            yield conn


class SchemaMixin(StoreBase):
    def migrate(self) -> int:
        """Bring the schema to the newest version; returns that version. Raises StoreError
        for a database newer than this code, or one that cannot be opened or changed."""
        engine = _migration_engine(self.engine)
        try:
            with _migration_lock(engine) as conn:
                for version, step in enumerate(MIGRATIONS, start=1):
                    with conn.begin():
                        current = _version(conn)
                        if current > len(MIGRATIONS):
                            raise StoreError(
                                f"database {self.safe_url} has schema version {current}, newer "
                                f"than the {len(MIGRATIONS)} this version of monitor knows: "
                                "upgrade monitor, or point it at another database"
                            )
                        if current >= version:
                            continue
                        step(conn)
                        _set_version(conn, version)
                    log.info("database schema at version %d", version)
        except SQLAlchemyError as e:
            raise StoreError(f"cannot migrate database {self.safe_url}: {e}") from e
        finally:
            if engine is not self.engine:
                engine.dispose()
        return len(MIGRATIONS)
