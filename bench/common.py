"""What the benchmarks share: their loopback servers and how they report a goal.

The scripts run as ``python bench/NAME.py``; each puts the project root first on sys.path
and imports this module as ``bench.common``.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import http.server
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp import web

    Route = Callable[[web.Request], Awaitable[web.Response]]


def compiled() -> None:
    """Bytecode for monitor's modules, as an installed package has it. An editable install
    run with PYTHONDONTWRITEBYTECODE has none, and then every process a bench starts (the
    job, its parser processes) compiles monitor's modules again: not what a job costs."""
    compileall.compile_dir(str(Path(__file__).resolve().parent.parent / "monitor"), quiet=1)


def internal_options(parser: argparse.ArgumentParser, *names: str) -> None:
    """Options a script passes to the copies of itself it starts (its server, its
    contenders): hidden from --help."""
    for name in names:
        parser.add_argument(f"--{name}", help=argparse.SUPPRESS)


def verdict(ok: bool) -> str:
    """A goal as the reports print it."""
    return "met" if ok else "MISSED"


# --------------------------------------------------------------------------- servers


def serve_routes(port_file: str, routes: Mapping[str, Route], *, backlog: int) -> None:
    """Serve these GET routes (aiohttp, no access log) on a free loopback port, write the
    port to `port_file` and run until killed: the body of a script's ``--serve``."""
    from aiohttp import web

    async def main() -> None:
        app = web.Application()
        for path, route in routes.items():
            app.router.add_get(path, route)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=backlog)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        Path(port_file).write_text(str(sockets[0].getsockname()[1]))
        while True:
            await asyncio.sleep(3600)

    asyncio.run(main())


class ServerProcess:
    """``SCRIPT --serve=PORT_FILE ARGS`` in a process of its own, so that the loopback
    server is neither measured nor counted; `base` is its URL once it listens."""

    def __init__(self, script: str, args: list[str], *, start_within: float) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        port_file = Path(self.tmp.name) / "port"
        self.proc = subprocess.Popen([sys.executable, script, f"--serve={port_file}", *args])
        deadline = time.monotonic() + start_within
        while not port_file.exists() or not port_file.read_text():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise SystemExit("the loopback server did not start")
            time.sleep(0.05)
        self.base = f"http://127.0.0.1:{int(port_file.read_text())}"

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.tmp.cleanup()


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """A request handler for a server in a thread or child process: it logs nothing and
    answers through `reply`."""

    def reply(self, status: int, body: bytes = b"", content_type: str | None = None) -> None:
        self.send_response(status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass
