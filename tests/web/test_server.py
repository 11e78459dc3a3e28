"""Where the archive page listens: loopback unless told otherwise, a token anywhere else;
a real uvicorn on 127.0.0.1 serves it, and `monitor serve` refuses bad bindings with one
line."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.errors import ConfigError, MonitorError
from monitor.web.server import RulesInForce, WebServer, build, check_binding, is_loopback, reader

from .conftest import Newsroom


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_needs_no_token(host: str) -> None:
    assert is_loopback(host)
    check_binding(host, None)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.org"])
def test_any_other_address_without_a_token_is_refused(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(ConfigError) as info:
        check_binding(host, None)
    message = str(info.value)
    assert f"web: listening on {host} would open the archive to other machines" in message
    assert "MONITOR_WEB_TOKEN" in message
    check_binding(host, "a-long-enough-token-here")


def test_a_short_token_is_refused() -> None:
    with pytest.raises(ConfigError, match="MONITOR_WEB_TOKEN is 6 characters; use 16 or more"):
        check_binding("0.0.0.0", "secret")


def test_monitor_serve_refuses_a_public_address_without_a_token(tmp_path: Path) -> None:
    config = tmp_path / "monitor.yaml"
    config.write_text(f"storage: sqlite:///{tmp_path / 'm.db'}\nrules: []\n", encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["--config", str(config), "serve", "--host", "0.0.0.0", "--port", "8099"], env={}
    )
    assert result.exit_code == 1
    assert result.output.startswith("error: web: listening on 0.0.0.0 would open the archive")
    assert "Traceback" not in result.output
    assert not (tmp_path / "m.db").exists()  # refused before opening anything


def test_the_page_is_served_on_loopback_and_a_taken_port_is_one_line(newsroom: Newsroom) -> None:
    pages = build(
        newsroom.settings, reader(newsroom.settings), RulesInForce(newsroom.settings), token=None
    )
    server = WebServer(pages, "127.0.0.1", 0, None).start()
    try:
        with urllib.request.urlopen(server.url + "?q=Omuraliev", timeout=10) as response:
            body = response.read().decode()
            assert response.status == 200
            assert "default-src 'none'" in response.headers["Content-Security-Policy"]
            assert "server" not in {k.lower() for k in response.headers}
        assert "<mark>Омуралиев</mark>" in body
        with pytest.raises(urllib.error.HTTPError) as bad:
            urllib.request.urlopen(server.url + "?page=-1", timeout=10)
        assert bad.value.code == 400
        with pytest.raises(MonitorError, match=f"web: cannot listen on 127.0.0.1:{server.port}"):
            WebServer(pages, "127.0.0.1", server.port, None)
    finally:
        server.stop()
    assert server.thread is not None and not server.thread.is_alive()
