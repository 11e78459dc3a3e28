"""The schema's migrations and the step that applies them."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import SQLModel

from monitor.errors import StoreError
from monitor.store.base import StoreBase, insert_new, log
from monitor.store.convert import seen_values
from monitor.store.tables import DeliveryRow, FeedRow, ItemRow, Meta, SeenRow

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


def _add_columns(engine: Engine, table_name: str, table: object, names: tuple[str, ...]) -> None:
    """ALTER TABLE ... ADD COLUMN for each of these columns the table lacks."""
    have = {c["name"] for c in inspect(engine).get_columns(table_name)}
    columns = table.c  # type: ignore[attr-defined]
    with engine.begin() as conn:
        for name in names:
            if name in have:
                continue
            column = columns[name]
            kind = column.type.compile(dialect=engine.dialect)
            ddl = f"ALTER TABLE {table_name} ADD COLUMN {name} {kind}"
            if not column.nullable:
                ddl += " NOT NULL DEFAULT ''"
            conn.execute(text(ddl))


#: Items read at a time while the seen table is filled from them.
_SEEN_BACKFILL = 5000


def _seen_ids(engine: Engine) -> None:
    """seen: a key per item guid and per item text, filled from the stored items, so that
    pruning items never makes them new again."""
    table = SeenRow.__table__  # type: ignore[attr-defined]
    table.create(engine, checkfirst=True)
    items = ItemRow.__table__  # type: ignore[attr-defined]
    last = 0
    with engine.begin() as conn:
        while True:
            page = conn.execute(
                select(
                    items.c.id, items.c.feed_id, items.c.guid, items.c.fingerprint, items.c.fetched
                )
                .where(items.c.id > last)
                .order_by(items.c.id)
                .limit(_SEEN_BACKFILL)
            ).all()
            if not page:
                break
            rows = {
                row["key"]: row
                for _id, feed_id, guid, fingerprint, fetched in page
                for row in seen_values(feed_id, guid, fingerprint or "", fetched)
            }
            conn.execute(insert_new(table, engine.dialect.name), list(rows.values()))
            last = page[-1][0]


def _delivery_sent_to(engine: Engine) -> None:
    """delivery.sent_to: the recipients that took a message the server refused for others."""
    _add_columns(engine, "delivery", DeliveryRow.__table__, ("sent_to",))  # type: ignore[attr-defined]


#: Migrations in order; the schema's version is their count. Append, never edit.
MIGRATIONS: tuple[Callable[[Engine], None], ...] = (_v1, _v2, _seen_ids, _delivery_sent_to)


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
