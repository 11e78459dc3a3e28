"""SQLModel tables. Imported only inside monitor/store/."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DDL, BigInteger, Column, Index, LargeBinary, Text, UniqueConstraint, event
from sqlalchemy.engine import Dialect
from sqlalchemy.types import DateTime, TypeDecorator
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store keeps aware UTC only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[datetime | None], Any] | None:
        """On SQLite, the text SQLAlchemy's DATETIME would store for the UTC time, made in
        one step (its own two steps cost a poll more than the rest of an item's row)."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        return sqlite_text

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def sqlite_text(value: datetime | None) -> str | None:
    """An aware datetime as SQLite's column holds it: the UTC time as
    ``YYYY-MM-DD HH:MM:SS.ffffff`` (SQLAlchemy's DATETIME storage format)."""
    if value is None:
        return None
    offset = value.utcoffset()
    if offset is None:
        raise ValueError(f"naive datetime {value!r}: the store keeps aware UTC only")
    if offset:
        value -= offset
    return value.isoformat(" ", "microseconds")[:26]


def _dt(**kwargs: Any) -> Any:
    return Field(default=None, sa_type=UTCDateTime, **kwargs)


class Meta(SQLModel, table=True):
    __tablename__ = "meta"
    key: str = Field(primary_key=True)
    value: str


class FeedRow(SQLModel, table=True):
    __tablename__ = "feed"
    id: str = Field(primary_key=True)
    url: str
    #: The URL as configured; `url` may differ after a permanent redirect.
    config_url: str = ""
    title: str | None = None
    active: bool = True
    conditional: bool = True
    min_interval: int = 900
    max_interval: int = 86_400
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    last_polled: datetime | None = _dt()
    last_success: datetime | None = _dt()
    next_poll: datetime | None = _dt(index=True)
    error_count: int = 0
    last_error: str | None = Field(default=None, sa_type=Text)
    items_per_week: float = 0.0
    gone: bool = False
    #: When a poll last brought new items, and the running estimate of the gap between them.
    last_new: datetime | None = _dt()
    usual_gap: float | None = None
    #: The problem last reported: "", "gone", "failing" or "silent".
    health: str = ""
    #: JSON list of [created ISO time, text]: health notices not reported yet.
    notices: str | None = Field(default=None, sa_type=Text)
    #: Fetch each new item's article page (``full_text``).
    full_text: bool = False
    #: The host whose Retry-After put the last poll off; "" once the feed is polled.
    waiting_for: str = ""


class ItemRow(SQLModel, table=True):
    __tablename__ = "item"
    __table_args__ = (
        UniqueConstraint("feed_id", "guid", name="uq_item_feed_guid"),
        # Partial: only full-text feeds' items (WHERE text_state != ''), as the migration
        # schema._partial_text_index makes it. Not said here: a dialect's where= argument
        # imports that dialect's module (PostgreSQL's: 3 MB more in every process).
        Index("ix_item_text_state_next", "text_state", "text_next"),
    )
    id: int | None = Field(default=None, primary_key=True)
    feed_id: str = Field(foreign_key="feed.id")
    guid: str
    url: str | None = None
    title: str = Field(default="", sa_type=Text)
    summary: str = Field(default="", sa_type=Text)
    content: str = Field(default="", sa_type=Text)
    author: str = ""
    lang: str = ""
    published: datetime | None = _dt()
    fetched: datetime = Field(sa_column=Column(UTCDateTime, nullable=False, index=True))
    fingerprint: str = ""
    #: The article's text: "" (not wanted), "waiting", "fetched" or "failed" (kept the
    #: feed's lead); why it failed, attempts made, and when to try next.
    text_state: str = ""
    text_error: str | None = Field(default=None, sa_type=Text)
    text_attempts: int = 0
    text_next: datetime | None = _dt()


class SeenRow(SQLModel, table=True):
    """One id of an item a feed carried: a hash of (feed, guid) or (feed, fingerprint).
    Kept longer than the item (seen_retention), so a pruned item never comes back new."""

    __tablename__ = "seen"
    #: 32 hex digits of SHA-256 over the feed id, the kind (guid or text) and the value.
    key: str = Field(primary_key=True, max_length=32)
    feed_id: str
    first_seen: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    #: The last poll that found the item in its feed (refreshed now and then, not always).
    last_seen: datetime = Field(sa_column=Column(UTCDateTime, nullable=False, index=True))


class HitRow(SQLModel, table=True):
    __tablename__ = "hit"
    __table_args__ = (UniqueConstraint("item_id", "rule_id", name="uq_hit_item_rule"),)
    id: int | None = Field(default=None, primary_key=True)
    #: Looked up through uq_hit_item_rule, which begins with it.
    item_id: int = Field(foreign_key="item.id")
    rule_id: str = Field(index=True)
    rule_version: str = ""
    priority: str = "normal"
    #: JSON list of [term, field, start, end].
    matches: str = Field(default="[]", sa_type=Text)
    created: datetime = Field(sa_column=Column(UTCDateTime, nullable=False, index=True))


class DeliveryRow(SQLModel, table=True):
    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("target", "hit_id", name="uq_delivery_target_hit"),
        Index("ix_delivery_target_status", "target", "status"),
    )
    id: int | None = Field(default=None, primary_key=True)
    target: str
    hit_id: int = Field(foreign_key="hit.id")
    #: reserved -> sent, or reserved -> failed -> reserved ... -> sent
    status: str = "reserved"
    attempts: int = 0
    message_id: str = Field(index=True)
    reserved_at: datetime | None = _dt()
    next_attempt: datetime | None = _dt()
    sent_at: datetime | None = _dt()
    last_error: str | None = Field(default=None, sa_type=Text)
    #: JSON list of the recipients that took this message when the server refused others.
    sent_to: str | None = Field(default=None, sa_type=Text)


#: The archive's full-text index of folded item text (store/search.py), made with the tables:
#: an FTS5 table on SQLite, a tsvector table with a GIN index on PostgreSQL.
SEARCH_DDL = {
    "sqlite": (
        "CREATE VIRTUAL TABLE item_fts USING fts5(title, summary, content, tokenize = 'ascii')",
        "CREATE TRIGGER item_fts_forget AFTER DELETE ON item "
        "BEGIN DELETE FROM item_fts WHERE rowid = old.id; END",
    ),
    "postgresql": (
        "CREATE TABLE item_search (item_id INTEGER PRIMARY KEY "
        "REFERENCES item (id) ON DELETE CASCADE, doc TSVECTOR NOT NULL)",
        "CREATE INDEX ix_item_search_doc ON item_search USING gin (doc)",
    ),
}
for _dialect, _statements in SEARCH_DDL.items():
    for _statement in _statements:
        event.listen(
            SQLModel.metadata, "after_create", DDL(_statement).execute_if(dialect=_dialect)
        )


class StoryRow(SQLModel, table=True):
    """One event, however many items report it (see monitor/stories.py)."""

    __tablename__ = "story"
    id: int | None = Field(default=None, primary_key=True)
    #: When its first item was published (or fetched).
    created: datetime = Field(sa_column=Column(UTCDateTime, nullable=False, index=True))


class StoryItemRow(SQLModel, table=True):
    """The story of an item with hits, and the item's signature (to compare later items)."""

    __tablename__ = "story_item"
    item_id: int = Field(primary_key=True, foreign_key="item.id")
    story_id: int = Field(foreign_key="story.id", index=True)
    #: When the item was published (or fetched): stories are looked for near this time.
    seen: datetime = Field(sa_column=Column(UTCDateTime, nullable=False, index=True))
    #: The MinHash values, little-endian uint32.
    hashes: bytes = Field(default=b"", sa_type=LargeBinary)
    #: JSON: the rest of the signature (names, amounts, dates, link, headline).
    features: str = Field(default="{}", sa_type=Text)


class StoryKeyRow(SQLModel, table=True):
    """A key under which an item of a story is found (LSH band, link, headline, anchor)."""

    __tablename__ = "story_key"
    __table_args__ = (Index("ix_story_key_key_seen", "key", "seen"),)
    id: int | None = Field(default=None, primary_key=True)
    key: int = Field(sa_type=BigInteger)
    story_id: int = Field(foreign_key="story.id")
    item_id: int = Field(index=True)
    seen: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
