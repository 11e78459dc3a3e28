"""Where the archive page listens, and the server that runs it (uvicorn).

Loopback (127.0.0.1, ::1, localhost) unless the configuration says otherwise; anywhere else
the page needs MONITOR_WEB_TOKEN (16 characters or more) and refuses to start without it.
``monitor serve`` runs it in the foreground; ``monitor run`` with ``web.port`` set runs it
in a thread beside the job. Either way it reads through a Store of its own that the
database keeps read-only, and the socket is bound before the server starts, so a port in
use is one clear line.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import uvicorn

from monitor.app import Monitor, open_store, rules_signature
from monitor.config import Settings
from monitor.errors import ConfigError, MonitorError
from monitor.model import Clock, RuleSet, utc_now
from monitor.rules import load_rules
from monitor.store import Store
from monitor.web.pages import Pages, make_app
from monitor.web.views import Archive

log = logging.getLogger(__name__)

MIN_TOKEN = 16
TOKEN_VARIABLE = "MONITOR_WEB_TOKEN"


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_binding(host: str, token: str | None) -> None:
    """Refuse an address off this machine without a token, and a token too short to guess
    slowly. Raises ConfigError with one line."""
    if token is not None and len(token) < MIN_TOKEN:
        raise ConfigError(
            f"web: {TOKEN_VARIABLE} is {len(token)} characters; use {MIN_TOKEN} or more "
            "(e.g. the output of: openssl rand -hex 16)"
        )
    if not is_loopback(host) and not token:
        raise ConfigError(
            f"web: listening on {host} would open the archive to other machines; set "
            f"{TOKEN_VARIABLE} in the environment (16+ characters), or listen on 127.0.0.1"
        )


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port) and listening. Raises MonitorError."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as e:
        raise MonitorError(f"web: cannot listen on {host}:{port}: {e.strerror or e}") from e
    return sock


@dataclass
class RulesInForce:
    """The configured rules for ``monitor serve``: reloaded when a file changes (checked at
    most every few seconds); a file with errors keeps the rules in force, and says so."""

    settings: Settings
    every: float = 5.0
    ruleset: RuleSet = field(init=False)
    sig: tuple[tuple[str, float, int], ...] = field(init=False)
    checked: float = field(init=False)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.sig = rules_signature(self.settings.rules)
        self.ruleset = load_rules(list(self.settings.rules))
        self.checked = time.monotonic()

    def __call__(self) -> RuleSet:
        with self.lock:
            if time.monotonic() - self.checked >= self.every:
                self.checked = time.monotonic()
                sig = rules_signature(self.settings.rules)
                if sig != self.sig:
                    self.sig = sig
                    try:
                        self.ruleset = load_rules(list(self.settings.rules))
                    except ConfigError as e:
                        log.error("rules not reloaded for the archive page: %s", e)
            return self.ruleset


def build(
    settings: Settings,
    store: Store,
    rules: Callable[[], RuleSet],
    *,
    token: str | None,
    clock: Clock = utc_now,
    page_size: int = 25,
) -> Pages:
    """The pages over a read-only store (the app is ``make_app(pages, token=...)``)."""
    archive = Archive(
        store=store,
        rules=rules,
        clock=clock,
        rule_paths=settings.rules,
        base=settings.base,
        page_size=page_size,
    )
    kinds = {d.id: "digest" for d in settings.digests} | {a.id: "alert" for a in settings.alerts}
    return Pages(archive, settings.templates / "web", kinds=kinds)


def reader(settings: Settings) -> Store:
    """A Store of the page's own, which the database keeps from writing."""
    store = Store(settings.storage)
    store.read_only()
    return store


class WebServer:
    """uvicorn on a bound socket, in the foreground (``run``) or a thread (``start``)."""

    def __init__(self, pages: Pages, host: str, port: int, token: str | None) -> None:
        check_binding(host, token)
        self.sock = listen(host, port)
        self.host, self.port = host, self.sock.getsockname()[1]
        config = uvicorn.Config(
            make_app(pages, token=token),
            log_config=None,
            log_level="warning",
            access_log=False,
            server_header=False,
            proxy_headers=False,
            lifespan="off",
        )
        self.server = uvicorn.Server(config)
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def run(self) -> None:
        log.info("archive page at %s", self.url)
        try:
            self.server.run(sockets=[self.sock])
        finally:
            self.sock.close()

    def start(self) -> WebServer:
        self.thread = threading.Thread(target=self.run, name="web", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(10)


def serve(settings: Settings, host: str, port: int, token: str | None) -> None:
    """``monitor serve``: bring the search index up to date, then serve until stopped."""
    check_binding(host, token)
    store = open_store(settings)
    try:
        indexed = store.index_items()
    finally:
        store.close()
    if indexed:
        log.info("search index: %d items added", indexed)
    pages = build(settings, reader(settings), RulesInForce(settings), token=token)
    WebServer(pages, host, port, token).run()


def start_for_job(monitor: Monitor, token: str | None) -> WebServer | None:
    """``monitor run`` with ``web.port`` set: the page in a thread, over the job's rules.
    A page that cannot start is logged and left off: the job goes on without it."""
    cfg = monitor.settings.web
    if cfg.port is None:
        return None
    try:
        pages = build(
            monitor.settings,
            reader(monitor.settings),
            lambda: monitor.ruleset,
            token=token,
            clock=monitor.clock,
        )
        return WebServer(pages, cfg.host, cfg.port, token).start()
    except MonitorError as e:
        log.error("archive page not started: %s", e)
        return None
