"""What every part of the Store stands on: the engine, its transactions, and the meta table
(schema version, heartbeat)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from operator import itemgetter
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Table, event, insert, inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool
from sqlalchemy.schema import ColumnDefault
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


def bulk_insert(s: Session, statement: Insert, rows: Sequence[Mapping[str, Any]]) -> None:
    """Run a bulk INSERT as one executemany at the driver: the statement compiled once,
    and each column's bind processor (UTCDateTime, SQLite's datetime text) applied here.
    SQLAlchemy's own executemany builds every row's parameters through its compiled
    statement, which cost a cold poll more CPU than SQLite's insert itself (profiled on
    10,000 items). Every row has the keys of the first; the rows written are the same."""
    if not rows:
        return
    connection = s.connection()
    dialect = connection.dialect
    keys = list(rows[0])
    compiled = statement.compile(dialect=dialect, column_keys=keys)
    names = list(compiled.positiontup or ()) if dialect.positional else list(compiled.binds)
    missing = [name for name in names if name not in rows[0]]
    if missing:  # columns the rows leave to their scalar defaults
        defaults = {name: _scalar_default(statement.table.c[name]) for name in missing}
        rows = [{**defaults, **row} for row in rows]
    types = [compiled.binds[name].type.dialect_impl(dialect) for name in names]
    convert = [(i, _memo(f)) for i, t in enumerate(types) if (f := t.bind_processor(dialect))]
    values = itemgetter(*names) if len(names) > 1 else lambda row: (row[names[0]],)
    params: list[Any] = []
    for row in rows:
        found = list(values(row))
        for i, process in convert:
            found[i] = process(found[i])
        params.append(tuple(found) if dialect.positional else dict(zip(names, found, strict=True)))
    connection.exec_driver_sql(compiled.string, params)


def _memo(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A bind processor that converts each value once: a batch's rows share their poll
    time (fetched, first and last seen), so most datetimes repeat."""
    done: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        try:
            found = done.get(value, done)
        except TypeError:  # not hashable
            return process(value)
        if found is done:
            found = done[value] = process(value)
        return found

    return convert


def _scalar_default(column: Any) -> Any:
    default = column.default
    if not isinstance(default, ColumnDefault) or not default.is_scalar:
        raise ValueError(f"bulk_insert: column {column.name} needs a value in every row")
    return default.arg


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
                try:
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                except OSError as e:
                    raise ValueError(
                        f"cannot create the folder {Path(path).parent}: {e.strerror or e}"
                    ) from e
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

    def heartbeat(self, now: datetime, worker: str = "") -> None:
        """Say that the job running as ``worker`` is alive at ``now``."""
        self.set_meta(heartbeat_key(worker), now.isoformat())

    def last_heartbeat(self, worker: str = "") -> datetime | None:
        value = self.get_meta(heartbeat_key(worker))
        return datetime.fromisoformat(value) if value else None

    def clear_heartbeat(self, worker: str = "") -> None:
        """The job stopped: a health check must no longer see it alive."""
        with self._session() as s:
            row = s.get(Meta, heartbeat_key(worker))
            if row:
                s.delete(row)


def heartbeat_key(worker: str) -> str:
    """Each worker (process or container) has its own heartbeat."""
    return f"{HEARTBEAT_KEY}:{worker}" if worker else HEARTBEAT_KEY


def read_heartbeat(url: str, worker: str = "") -> datetime | None:
    """A worker's last heartbeat, read without creating or changing anything: no
    database file is made, no table created, no migration run (for health checks)."""
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if not path or path == ":memory:" or not Path(path).is_file():
            return None
        url = f"sqlite:///file:{quote(str(Path(path).resolve()))}?mode=ro&uri=true"
    try:
        engine = create_engine(url, poolclass=NullPool)
    except (SQLAlchemyError, ImportError, ValueError) as e:
        raise StoreError(f"cannot open database: {e}") from e
    table = Meta.__table__  # type: ignore[attr-defined]
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("meta"):
                return None
            value = conn.execute(
                select(table.c.value).where(table.c.key == heartbeat_key(worker))
            ).scalar_one_or_none()
    except SQLAlchemyError as e:
        raise StoreError(f"cannot read database: {e.__class__.__name__}: {e}") from e
    finally:
        engine.dispose()
    return datetime.fromisoformat(value) if value else None
