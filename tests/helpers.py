"""Builders shared by the tests: paths, an injected clock, a mailbox for a real SMTP server,
feeds, configs and projects."""

from __future__ import annotations

import email
import email.policy
import shutil
import socket
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from monitor.model import Entry

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
FEEDS = DATA / "feeds"


class FakeClock:
    """A clock the test moves by hand; injected wherever the code asks for one."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2025, 12, 16, 6, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


@dataclass
class Mailbox:
    """What a real SMTP server received, parsed."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        raw = envelope.content  # type: ignore[attr-defined]
        message = email.message_from_bytes(raw, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))  # type: ignore[attr-defined]
        return "250 OK"


@dataclass
class SmtpServer:
    host: str
    port: int
    mailbox: Mailbox
    controller: Controller

    def stop(self) -> None:
        self.controller.stop()


def an_entry(**fields: Any) -> Entry:
    """An item of feed `f` with id `1` (unless given) and these fields: title, summary ..."""
    return Entry(**{"feed_id": "f", "id": "1", **fields})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------- feeds and configs

SUMMIT_RULES = """\
rules:
  - id: summit
    name: Summit watch
    query: summit
    priority: high
  - id: trade
    name: Trade news
    query: trade
"""


def rss(
    items: list[tuple[str, str, datetime | None]], *, title: str = "News", build: str = ""
) -> str:
    """An RSS 2.0 feed of (guid, title, published) items. A different `build` changes the
    body (so the feed is parsed again) without changing the items."""
    from email.utils import format_datetime
    from xml.sax.saxutils import escape

    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>https://example.org/</link>"
        f"<description>{escape(build or 'news')}</description>"
    ]
    for guid, item_title, published in items:
        date = f"<pubDate>{format_datetime(published)}</pubDate>" if published else ""
        parts.append(
            f"<item><guid>{escape(guid)}</guid><title>{escape(item_title)}</title>"
            f"<link>https://example.org/{escape(guid)}</link>{date}"
            f"<description>{escape(item_title)}: the story.</description></item>"
        )
    parts.append("</channel></rss>\n")
    return "".join(parts)


#: Quick polls for feeds on a loopback server.
POLL = "poll:\n  min_interval: 15m\n  max_interval: 1h\n  total_timeout: 10s\n"
#: The one feed that needs no network: the sample bundled with the package.
SAMPLE_FEED = "feeds:\n  - id: sample\n    url: bundled:sample.xml\n"
#: A user's monitor.yaml, paths relative to it: the store in state/, only the sample feed;
#: digests, alerts ... follow.
SAMPLE_CONFIG = "storage: sqlite:///state/monitor.db\n" + SAMPLE_FEED
#: The plainest digest: written to a file.
DAILY_FILE = "digests:\n  - id: daily\n    deliver: [file]\n"


def feed_list(feeds: dict[str, str]) -> str:
    """The `feeds:` section of a config: these feeds (id -> url)."""
    listed = "".join(f"  - id: {feed_id}\n    url: {url}\n" for feed_id, url in feeds.items())
    return f"feeds:\n{listed}"


def job_config(
    tmp_path: Path, body: str, *, rules: Path = ROOT / "rules", digests_dir: bool = True
) -> Path:
    """A monitor.yaml in tmp_path for the job a test wires: a SQLite file in tmp_path, the
    rule files in `rules` (the seeded ones unless told), the shipped templates, digests
    written to tmp_path/digests (to state/digests next to the file without `digests_dir`),
    then `body` (poll, feeds, digests, alerts ...)."""
    written = f"digests_dir: {tmp_path / 'digests'}\n" if digests_dir else ""
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"storage: sqlite:///{tmp_path / 'monitor.db'}\n"
        f"rules: [{rules}]\n"
        f"templates: {ROOT / 'templates'}\n" + written + body
    )
    return config


def monitor_config(tmp_path: Path, feeds: dict[str, str], extra: str = "") -> Path:
    """A monitor.yaml in tmp_path: these feeds (id -> url), the summit rules, the shipped
    templates, a SQLite file; `extra` is appended (digests, alerts, smtp ...)."""
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    (rules / "summit.yaml").write_text(SUMMIT_RULES)
    return job_config(tmp_path, POLL + feed_list(feeds) + extra, rules=rules)


def sample_project(folder: Path, config: str) -> Path:
    """`folder` laid out as a user's project, for the command line run in it: copies of the
    shipped rules and templates, and `config` (SAMPLE_CONFIG and more) as its monitor.yaml."""
    shutil.copytree(ROOT / "rules", folder / "rules")
    shutil.copytree(ROOT / "templates", folder / "templates")
    (folder / "monitor.yaml").write_text(config)
    return folder


class Site:
    """A feed whose items the test adds to; every request gets the current list."""

    def __init__(self, server: HTTPServer) -> None:
        self.items: list[tuple[str, str, datetime | None]] = []
        self.title = "News"
        self.url = server.url_for("/news.xml")
        server.expect_request("/news.xml").respond_with_handler(self.handler)

    def handler(self, _request: Request) -> Response:
        return Response(rss(self.items, title=self.title), content_type="application/rss+xml")

    def add(self, guid: str, title: str, published: datetime) -> None:
        self.items.append((guid, title, published))
