"""Shared fixtures: an injected clock, a real database, real HTTP and SMTP servers."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from pytest_httpserver import HTTPServer

from monitor.store import Store

from .helpers import FakeClock, Mailbox, SmtpServer, free_port

PG_URL = os.environ.get("MONITOR_TEST_DATABASE_URL")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'monitor.db'}"


def _reset_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store test runs on a SQLite file and, when configured, on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'monitor.db'}"
    if not PG_URL:
        pytest.skip("PostgreSQL tests need MONITOR_TEST_DATABASE_URL (.ci/run sets it)")
    _reset_postgres(PG_URL)
    return PG_URL


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url)
    s.migrate()
    yield s
    s.close()


# --------------------------------------------------------------------------- SMTP


# --------------------------------------------------------------------------- SMTP


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    server = SmtpServer("127.0.0.1", port, mailbox, controller)
    yield server
    with contextlib.suppress(AssertionError, RuntimeError):
        controller.stop()  # unless the test stopped it already


# --------------------------------------------------------------------------- HTTP


@pytest.fixture(scope="module")
def threaded_server() -> Iterator[HTTPServer]:
    """A loopback HTTP server for one test module. Threaded, so that a slow reply does not
    hold up the others; tests clear it before use."""
    srv = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    srv.start()
    yield srv
    srv.clear()
    srv.stop()
