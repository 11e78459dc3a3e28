"""A secret-bearing channel URL never shows: not in a log line (DEBUG included, whoever
logs it: us, Apprise, urllib3), not in `monitor check` or `monitor channels` output, not in
an error, not in the database."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from pytest_httpserver import HTTPServer
from sqlalchemy import MetaData, select
from werkzeug import Response

from monitor.cli import cli

from ..helpers import FakeClock, free_port
from .conftest import MakeMonitor, entry, seed, write_project

TOKEN = "hooktok-9f8e7d6c5b4a"
PASSWORD = "pushpass-31415"
PUSH_TOKEN = "pushtok-27182818"
SIGNING = "signing-key-161803"
SECRETS = (TOKEN, PASSWORD, PUSH_TOKEN, SIGNING)


def environment(hook_port: int, push_port: int) -> dict[str, str]:
    return {
        "HOOK_URL": f"http://127.0.0.1:{hook_port}/hook/{TOKEN}",
        "PUSH_PASSWORD": PASSWORD,
        "PUSH_TOKEN": PUSH_TOKEN,
        "HOOK_SECRET": SIGNING,
    }


DELIVER = (
    "\n      - file"
    "\n      - channel: ${HOOK_URL}"
    "\n        secret: ${HOOK_SECRET}"
    "\n        retries: 1"
    "\n      - json://bot:${PUSH_PASSWORD}@127.0.0.1:PUSH_PORT/push/${PUSH_TOKEN}"
)


def leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def database_text(url: str) -> str:
    from sqlalchemy import create_engine

    engine = create_engine(url)
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        rows = [repr(row) for table in meta.sorted_tables for row in conn.execute(select(table))]
    engine.dispose()
    return "\n".join(rows)


def test_no_secret_in_logs_errors_or_the_database(
    make: MakeMonitor,
    clock: FakeClock,
    threaded_server: HTTPServer,
    db_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    threaded_server.clear()
    threaded_server.expect_request(f"/push/{PUSH_TOKEN}").respond_with_response(
        Response("no", status=503)
    )
    env = environment(free_port(), threaded_server.port)  # the webhook is down
    with caplog.at_level(logging.DEBUG):
        m = make(DELIVER.replace("PUSH_PORT", str(threaded_server.port)), env=env)
        m.notifiers[next(k for k in m.notifiers if k.startswith("daily:http-"))].sleep = (  # type: ignore[attr-defined]
            lambda _: None
        )
        seed(m, clock, [entry(1, "OTS summit in Bishkek")])
        results = m.send_digest("daily")
        clock.advance(minutes=5)
        results += m.retry_failed()

    assert [r.status for r in results] == ["sent", "failed", "failed", "failed", "failed"]
    # Apprise and urllib3 did speak at DEBUG, of the very URLs: masked.
    loggers = {r.name for r in caplog.records}
    assert "apprise" in loggers and "urllib3.connectionpool" in loggers
    assert (
        "JSON POST URL: http://127.0.0.1:" in caplog.text and '"POST *** HTTP/1.1"' in caplog.text
    )
    for record in caplog.records:
        assert leaks(record.getMessage()) == [], record.name
    assert leaks(caplog.text) == []
    for result in results:
        assert leaks(result.error or "") == []
        assert leaks(result.target.key) == []
    stored = database_text(db_url)
    assert "daily:http-" in stored and "failed" in stored  # the failures are stored...
    assert leaks(stored) == []  # ...without the secrets


def cli_run(path: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    clean = {k: None for k in os.environ if k.startswith("MONITOR_")}
    outcome = CliRunner().invoke(
        cli, ["--config", str(path), "--verbose", *args], env={**clean, **env}
    )
    if outcome.exception is not None and not isinstance(outcome.exception, SystemExit):
        raise outcome.exception
    return outcome.exit_code, outcome.stdout + outcome.stderr


def test_no_secret_in_check_or_channels_output(tmp_path: Path) -> None:
    path = write_project(
        tmp_path,
        DELIVER.replace("PUSH_PORT", "9") + "\n      - slack://${PUSH_TOKEN}",
        storage="sqlite:///state/monitor.db",
    )
    env = environment(9, 9)
    status, output = cli_run(path, env, "check")
    assert status == 1
    assert "digests[0].deliver[3]: Apprise cannot read this slack:// URL" in output
    assert leaks(output) == []

    path.write_text(path.read_text().replace("      - slack://${PUSH_TOKEN}\n", ""))
    status, output = cli_run(path, env, "check")
    assert (status, leaks(output)) == (0, [])
    assert "configuration, rules and templates are valid" in output

    status, output = cli_run(path, env, "channels")
    assert status == 0 and leaks(output) == []
    assert "http://127.0.0.1:9/***" in output and "json://127.0.0.1:9/***" in output

    status, output = cli_run(path, {}, "check")  # the variables are not set
    assert status == 1 and "${HOOK_URL} is not set in the environment" in output
