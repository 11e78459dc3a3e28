"""What every part of the Store stands on: the engine, its transactions, and the meta table
(schema version, heartbeat)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Table, event, insert, inspect, select
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.dml import Insert
from sqlmodel import Session, create_engine

from monitor.errors import StoreError
from monitor.store.tables import Meta, UTCDateTime

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


class BulkInsert:
    """An INSERT of many rows, each a tuple of the values of ``columns`` in that order,
    run as one executemany at the driver: the SQL is written once per dialect, and each
    column's bind processor (UTCDateTime, SQLite's datetime text) is applied here.
    SQLAlchemy's own executemany builds every row's parameters through its compiled
    statement, which cost a cold poll more CPU than SQLite's insert itself. With
    ``skip_existing``, a row whose key is there already is left out (ON CONFLICT DO
    NOTHING, on SQLite and PostgreSQL alike)."""

    def __init__(self, table: Table, columns: Sequence[str], *, skip_existing: bool = False):
        missing = [c for c in columns if c not in table.c]
        if missing or not columns:
            raise ValueError(f"bulk statement on {table.name}: no column {missing or columns}")
        self.table = table
        self.columns = tuple(columns)
        self.skip_existing = skip_existing
        #: PostgreSQL (psycopg) takes the rows by COPY, or as arrays when a row may be there
        #: already.
        self.copies = True
        self._compiled: dict[tuple[str, str], tuple[str, list[tuple[int, Any]]]] = {}
        self._arrays: dict[str, str] = {}

    def run(self, s: Session, rows: Sequence[tuple[Any, ...]], *, converted: bool = False) -> None:
        """Run the statement once per row, in the session's transaction. ``converted``: the
        rows hold the driver's values already (their datetimes made by ``datetimes``)."""
        if not rows:
            return
        width = len(self.columns)
        if any(len(row) != width for row in rows):
            raise ValueError(f"bulk statement on {self.table.name}: rows of {width} values")
        connection = s.connection()
        dialect = connection.dialect
        sql, convert = self._compile(dialect)
        params = list(rows)
        if convert and not converted:
            converters = [(i, _memo(process)) for i, process in convert]
            for n, row in enumerate(params):
                found = list(row)
                for i, process in converters:
                    found[i] = process(found[i])
                params[n] = tuple(found)
        if self.copies and dialect.driver == "psycopg":
            if not self.skip_existing:
                self._copy(connection.connection.driver_connection, dialect, params)
                return
            # One statement over the rows as arrays, one per column: a statement per row
            # (executemany) cost the server half as much again (100,000 seen keys: 1.6 s
            # of CPU, 1.1 s so). A temporary table to COPY into would not survive a
            # transaction-pooling proxy.
            columns = tuple(list(column) for column in zip(*params, strict=True))
            connection.exec_driver_sql(self._arrays_sql(dialect), columns)
            return
        connection.exec_driver_sql(sql, params)

    def _arrays_sql(self, dialect: Dialect) -> str:
        """The INSERT taking its rows from one array per column (PostgreSQL's unnest)."""
        found = self._arrays.get(dialect.name)
        if found is not None:
            return found
        quote = dialect.identifier_preparer.quote
        arrays = ", ".join(
            f"%s::{self.table.c[name].type.compile(dialect=dialect)}[]" for name in self.columns
        )
        found = self._arrays[dialect.name] = (
            f"INSERT INTO {quote(self.table.name)} ({', '.join(quote(c) for c in self.columns)}) "
            f"SELECT * FROM unnest({arrays})" + (" ON CONFLICT DO NOTHING" * self.skip_existing)
        )
        return found

    def _copy(self, raw: Any, dialect: Dialect, params: list[tuple[Any, ...]]) -> None:
        """The rows by PostgreSQL's COPY, in the session's transaction: a statement per row
        (executemany) cost the job four times the CPU and the server twice as much (50,000
        rows of items, measured with psycopg 3)."""
        quote = dialect.identifier_preparer.quote
        columns = ", ".join(quote(c) for c in self.columns)
        try:
            with (
                raw.cursor() as cursor,
                cursor.copy(f"COPY {quote(self.table.name)} ({columns}) FROM STDIN") as copy,
            ):
                for row in params:
                    copy.write_row(row)
        except dialect.loaded_dbapi.Error as e:
            raise StoreError(f"database: {e.__class__.__name__}: {e}") from e

    def sql(self, quote: Callable[[str], str]) -> str:
        """The statement, with a ``?`` for each column in order."""
        sql = (
            f"INSERT INTO {quote(self.table.name)} "
            f"({', '.join(quote(c) for c in self.columns)}) VALUES ({marks(len(self.columns))})"
        )
        return sql + " ON CONFLICT DO NOTHING" if self.skip_existing else sql

    def _compile(self, dialect: Dialect) -> tuple[str, list[tuple[int, Any]]]:
        found = self._compiled.get((dialect.name, dialect.paramstyle))
        if found is None:
            convert = [
                (i, process)
                for i, name in enumerate(self.columns)
                if (process := self.table.c[name].type._cached_bind_processor(dialect))
            ]
            sql = driver_sql(self.sql(dialect.identifier_preparer.quote), dialect.paramstyle)
            found = self._compiled[(dialect.name, dialect.paramstyle)] = (sql, convert)
        return found


class BulkUpdate(BulkInsert):
    """An UPDATE of many rows by their primary key: each row is the new values of
    ``columns`` followed by the key, run as BulkInsert runs its rows."""

    def __init__(self, table: Table, columns: Sequence[str], key: str = "id"):
        super().__init__(table, [*columns, key])
        self.copies = False

    def sql(self, quote: Callable[[str], str]) -> str:
        *names, key = self.columns
        changes = ", ".join(f"{quote(name)} = ?" for name in names)
        return f"UPDATE {quote(self.table.name)} SET {changes} WHERE {quote(key)} = ?"


def marks(count: int) -> str:
    """``count`` placeholders, for a VALUES or IN list of SQL passed to run_sql."""
    return ", ".join("?" * count)


@lru_cache(maxsize=512)
def driver_sql(sql: str, paramstyle: str) -> str:
    """SQL written with ``?`` placeholders, in the driver's own style: sqlite3's is "?",
    psycopg's "%s" (a literal % doubled)."""
    if paramstyle == "qmark":
        return sql
    if paramstyle in ("format", "pyformat"):
        return sql.replace("%", "%%").replace("?", "%s")
    raise ValueError(f"no placeholders for the paramstyle {paramstyle!r}")


def run_sql(s: Session, sql: str, params: Any = None) -> Iterable[Any]:
    """Run SQL written with ``?`` placeholders at the driver, in the session's transaction:
    nothing is compiled and no value converted (hand the driver's values: ``datetimes``
    converts datetimes). A list of parameter tuples is one executemany. Errors come out as
    SQLAlchemy's, which ``_session`` turns into StoreErrors."""
    connection = s.connection()
    return connection.exec_driver_sql(driver_sql(sql, connection.dialect.paramstyle), params)


def datetimes(s: Session) -> Callable[[datetime | None], Any]:
    """The driver's value of an aware datetime (or None) on the session's database, as
    UTCDateTime writes it (text on SQLite); each value converted once."""
    return _memo(_UTC._cached_bind_processor(s.connection().dialect) or (lambda value: value))


#: The type every datetime column has.
_UTC = UTCDateTime()


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
            # Connections are kept in a pool: closing the last connection to a WAL database
            # checkpoints it whole, which every transaction paid for while each had its own
            # connection (and each began with an empty page cache).
            engine = create_engine(
                url,
                echo=echo,
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
