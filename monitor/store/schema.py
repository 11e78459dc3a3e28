"""The schema's migrations and the step that applies them."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import SQLModel

from monitor.errors import StoreError
from monitor.store.base import StoreBase, log
from monitor.store.tables import FeedRow, Meta, StoryItemRow, StoryKeyRow, StoryRow

SCHEMA_VERSION_KEY = "schema_version"


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


def _add_stories(bind: Engine) -> None:
    """story, story_item, story_key: one story per event, the signature of each item with
    hits, and the keys its later copies are found by (monitor/stories.py). Creates the
    tables only (Table.create takes an engine or a connection alike)."""
    for row in (StoryRow, StoryItemRow, StoryKeyRow):
        row.__table__.create(bind, checkfirst=True)  # type: ignore[union-attr]


#: Migrations in order; the schema's version is their count. Append, never edit.
MIGRATIONS: tuple[Callable[[Engine], None], ...] = (_v1, _v2, _add_stories)


class SchemaMixin(StoreBase):
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
