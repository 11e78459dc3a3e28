"""`monitor channels` and `monitor channels test [ID]`: a short test message to each channel,
each outcome reported, nothing stored."""

from __future__ import annotations

import json
from pathlib import Path

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from monitor.store import Store

from ..helpers import SmtpServer, free_port
from .conftest import write_project
from .test_secrets import cli_run


def test_each_channel_gets_a_test_message_and_its_outcome_is_shown(
    tmp_path: Path, threaded_server: HTTPServer, smtp_server: SmtpServer
) -> None:
    threaded_server.clear()
    posted: list[dict[str, object]] = []

    def receive(request: Request) -> Response:
        posted.append(json.loads(request.get_data()))
        return Response("ok")

    threaded_server.expect_request("/hook").respond_with_handler(receive)
    down = free_port()
    path = write_project(
        tmp_path,
        f"[file, json, atom, email, {threaded_server.url_for('/hook')}, "
        f"'http://127.0.0.1:{down}/gone']\n"
        "    recipients: [desk@example.org]\n"
        "  - id: weekly\n"
        "    deliver: [json]",
        storage="sqlite:///state/monitor.db",
        extra=f"smtp:\n  host: 127.0.0.1\n  port: {smtp_server.port}\n",
    )
    status, output = cli_run(path, {}, "channels", "test", "daily")
    assert status == 1
    lines = {
        line.split()[0]: line.split(None, 2)[1:]
        for line in output.splitlines()
        if line[:6] in ("daily:", "weekl")
    }
    assert lines["daily:file"][0] == "ok" and lines["daily:json"][0] == "ok"
    assert lines["daily:atom"][0] == "ok" and lines["daily:email"][0] == "ok"
    hook = next(k for k in lines if k.startswith("daily:http-") and lines[k][0] == "ok")
    assert lines[hook][1] == f"http://127.0.0.1:{threaded_server.port}/***"
    gone = next(k for k in lines if lines[k][0] == "failed")
    assert "no answer" in lines[gone][1] and gone.startswith("daily:http-")
    assert not any(k.startswith("weekly:") for k in lines)  # only the digest asked for

    (doc,) = posted
    assert doc["test"] is True and doc["stories"] == [] and doc["digest"] == "daily"
    (mail,) = smtp_server.mailbox.messages
    assert mail["Subject"] == "[Turkic daily] monitor test message"
    digests = tmp_path / "state" / "digests"
    assert (digests / "daily.atom").is_file()
    (written,) = digests.glob("daily_json-*.json")
    assert json.loads(written.read_text())["test"] is True
    # Nothing was stored: a test message is no delivery.
    store = Store(f"sqlite:///{tmp_path / 'state' / 'monitor.db'}")
    try:
        store.migrate()
        assert not store.delivered_ever("daily:json")
    finally:
        store.close()


def test_every_digest_is_tested_without_an_id_and_an_unknown_id_is_one_line(
    tmp_path: Path,
) -> None:
    path = write_project(
        tmp_path,
        "[json]\n  - id: weekly\n    deliver: [json]",
        storage="sqlite:///state/monitor.db",
    )
    status, output = cli_run(path, {}, "channels", "test")
    assert status == 0
    assert [line.split()[:2] for line in output.splitlines() if ":" in line.split()[0]] == [
        ["daily:json", "ok"],
        ["weekly:json", "ok"],
    ]
    status, output = cli_run(path, {}, "channels", "test", "nope")
    assert status == 1
    assert output.strip().endswith(f"error: no digest or alert 'nope' in {path}")


def test_channels_lists_each_target_with_its_kind(tmp_path: Path) -> None:
    path = write_project(
        tmp_path,
        "[file, https://hooks.example.org/x]",
        storage="sqlite:///state/monitor.db",
    )
    status, output = cli_run(path, {}, "channels")
    assert status == 0
    assert output.splitlines()[-2:] == [
        f"{'daily:file':32} {'file':8} file",
        f"{'daily:https-31f1f0cc':32} {'webhook':8} https://hooks.example.org/***",
    ]
