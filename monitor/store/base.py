"""What every part of the Store stands on: the engine, its transactions, and the meta table
(schema version, heartbeat)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Table, event, insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.dml import Insert
from sqlmodel import Session, create_engine

from monitor.errors import StoreError
from monitor.store.tables import Meta

#: One logger for the whole store, whichever part speaks.
log = logging.getLogger("monitor.store")

HEARTBEAT_KEY = "heartbeat"


def chunks(values: list[Any], size: int) -> Iterator[list[Any]]:
    """`values` in slices of at most `size`, for IN lists the database takes whole."""
    for i in range(0, len(values), size):
        yield values[i : i + size]


def insert_new(table: Table, dialect: str) -> Insert:
    """An INSERT that skips rows whose key is there already (SQLite and PostgreSQL)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table).on_conflict_do_nothing()
    return insert(table)


class StoreBase:
    """The engine and its sessions, shared by the Store's per-domain parts."""

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
        """One transaction: committed on leaving, rolled back on an error; database errors
        come out as StoreError."""
        try:
            with Session(self.engine, expire_on_commit=False) as session, session.begin():
                yield session
        except SQLAlchemyError as e:
            raise StoreError(f"database {self.safe_url}: {e.__class__.__name__}: {e}") from e

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ meta

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

    def heartbeat(self, now: datetime) -> None:
        self.set_meta(HEARTBEAT_KEY, now.isoformat())

    def last_heartbeat(self) -> datetime | None:
        value = self.get_meta(HEARTBEAT_KEY)
        return datetime.fromisoformat(value) if value else None
