"""Safe sends: clean headers, a failing message never blocks the next, a recipient refused
among several is retried alone, a run killed between send and mark repeats its message
under the same Message-ID, and digest files are readable (0644). Against a real SMTP
server (aiosmtpd) whose handlers refuse or stall like real ones."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from pytest_httpserver import HTTPServer

from monitor import deliver
from monitor.app import make_monitor
from monitor.config import load_settings
from monitor.errors import NotifyError
from monitor.model import Entry, FeedState, FeedUpdate, Hit, Message
from monitor.notify import FileNotifier, header_value, to_email
from monitor.protocols import Refused
from monitor.render import Renderer
from monitor.store import Store

from .helpers import ROOT, FakeClock, Mailbox, Site, SmtpServer, free_port, monitor_config
from .test_deliver import RULES, seed_hits, smtp, target

START = datetime(2025, 12, 16, 6, 0, tzinfo=UTC)
STORIES = ("https://example.org/a?x=1&y=2", "https://example.org/b")


# --------------------------------------------------------------------------- headers


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Summit\r\nBcc: evil@example.org", "Summit Bcc: evil@example.org"),
        ("tab\there\x00nul\x7fdel\x85nel", "tab here nul del nel"),
        ("line\u2028separator\u2029paragraph", "line separator paragraph"),
        ("  spaced   out  ", "spaced out"),
        ("Türkiye – Özbekistan", "Türkiye – Özbekistan"),
    ],
)
def test_header_values_lose_control_characters(raw: str, clean: str) -> None:
    assert header_value(raw) == clean


def test_a_mail_built_from_dirty_values_has_clean_headers(clock: FakeClock) -> None:
    message = Message(
        "urgent:\remail",
        "alert",
        "<abc@monitor>",
        "[Urgent] Summit:\r\nBcc: evil@example.org\r\n\r\nbody?" + "x" * 500,
        "text",
        "<p>html</p>",
        ("duty@example.org\r\nBcc: evil@example.org",),
        created=clock(),
    )
    mail = to_email(message, "monitor@example.org\n")
    headers = mail.as_bytes().decode().split("\n\n", 1)[0]
    names = [line.split(":", 1)[0] for line in headers.splitlines() if not line[:1].isspace()]
    assert names == [
        "Subject",
        "From",
        "To",
        "Date",
        "Message-ID",
        "X-Monitor-Target",
        "MIME-Version",
        "Content-Type",
    ]
    assert mail["From"] == "monitor@example.org"
    assert mail["Subject"].startswith("[Urgent] Summit: Bcc: evil@example.org body?")
    assert len(mail["Subject"]) <= 250 and mail["Subject"].endswith("…")
    assert mail["X-Monitor-Target"] == "urgent: email"


# --------------------------------------------------------------------------- a CR/LF title


@pytest.fixture
def site(httpserver: HTTPServer) -> Site:
    return Site(httpserver)


def test_a_title_with_crlf_alerts_with_a_clean_subject_and_later_alerts_go_out(
    tmp_path: Path, site: Site, smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    extra = (
        f"smtp:\n  host: {smtp_server.host}\n  port: {smtp_server.port}\n"
        "  sender: monitor@example.org\n"
        "alerts:\n  - id: urgent\n    title: Urgent\n    deliver: [email]\n"
        "    recipients: [duty@example.org]\n"
    )
    clock = FakeClock(START)
    m = make_monitor(
        load_settings(monitor_config(tmp_path, {"news": site.url}, extra), {}), clock=clock
    )
    site.title = "News\r\nX-Feed: evil"  # the feed's own title, as stored for the hits
    site.add("x1", "Summit\r\nBcc: evil@example.org\r\nX-Evil: yes", START)
    try:
        with caplog.at_level(logging.INFO):
            m.poll()
            (first,) = m.send_alerts()
            site.add("x2", "Summit, the second day", START + timedelta(minutes=30))
            clock.advance(minutes=70)
            m.poll()
            (second,) = m.send_alerts()
    finally:
        m.close()
    assert (first.status, second.status) == ("sent", "sent")
    one, two = smtp_server.mailbox.messages
    assert one["Subject"] == "[Urgent] Summit watch: Summit Bcc: evil@example.org X-Evil: yes"
    assert one["Bcc"] is None and one["X-Evil"] is None and one["X-Feed"] is None
    assert two["Subject"] == "[Urgent] Summit watch: Summit, the second day"
    assert [rcpts for _, rcpts in smtp_server.mailbox.envelopes] == [["duty@example.org"]] * 2
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


# --------------------------------------------------------------------------- one failure


class Poisoned:
    """A notifier with a bug for one story: raises for a message that carries it."""

    def __init__(self, inner: FileNotifier) -> None:
        self.inner = inner
        self.sent: list[Message] = []

    def send(self, message: Message) -> Refused | None:
        if "praises" in message.text:
            raise RuntimeError("cannot encode this message")
        self.sent.append(message)
        return self.inner.send(message)


def test_a_message_that_cannot_be_built_is_released_and_the_next_goes_on(
    store: Store, clock: FakeClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    renderer = Renderer(ROOT / "templates")
    seed_hits(store, clock)  # the OTS story is the poisoned one
    notifier = Poisoned(FileNotifier(tmp_path))
    only_ots = target("daily:file", rule_ids=("ots",))
    with caplog.at_level(logging.ERROR):
        failed = deliver.run(store, renderer, notifier, only_ots, RULES, clock())
    assert failed.status == "failed" and "RuntimeError" in (failed.error or "")
    assert store.delivery_counts("daily:file") == {"failed": 1}  # released, not left reserved

    # Another target goes on at once, and new hits for the same one go out after it.
    trade = target("trade:file", rule_ids=("trade",))
    assert deliver.run(store, renderer, notifier, trade, RULES, clock()).status == "sent"
    clock.advance(minutes=5)
    store.record(
        FeedUpdate(
            feed=FeedState(id="news", url="https://example.org/news.xml", last_polled=clock()),
            entries=(
                Entry("news", "g3", "https://example.org/c", "OTS summit ends", fingerprint="3"),
            ),
            hits={"g3": [Hit("ots", "v1")]},
        )
    )
    again = deliver.run(store, renderer, notifier, only_ots, RULES, clock())
    assert (again.status, again.sent, again.failed) == ("sent", 1, 1)
    assert "OTS summit ends" in notifier.sent[-1].text
    assert store.delivery_counts("daily:file") == {"failed": 1, "sent": 1}
    assert "cannot encode this message" in caplog.text


# --------------------------------------------------------------------------- recipients


@dataclass
class Refusing(Mailbox):
    """Refuses some recipients at RCPT: `refusals[address]` times (-1: always)."""

    refusals: dict[str, int] = field(default_factory=dict)

    async def handle_RCPT(
        self, server: object, session: object, envelope: object, address: str, options: list[str]
    ) -> str:
        left = self.refusals.get(address, 0)
        if left:
            self.refusals[address] = left - 1 if left > 0 else left
            return "450 4.2.0 greylisted, try again later" if left > 0 else "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)  # type: ignore[attr-defined]
        return "250 OK"


@dataclass
class Stalling(Mailbox):
    """Takes a message, then keeps the client waiting for the answer until released."""

    received: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        self.received.set()
        while not self.release.is_set():
            await asyncio.sleep(0.05)
        return answer


@pytest.fixture
def server_for() -> Iterator[type]:
    controllers: list[Controller] = []

    def start(handler: Mailbox) -> SmtpServer:
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        controller.start()
        controllers.append(controller)
        return SmtpServer("127.0.0.1", port, handler, controller)

    yield start  # type: ignore[misc]
    for controller in controllers:
        controller.stop()


def copies(mailbox: Mailbox) -> dict[tuple[str, str], list[str]]:
    """(recipient, story) -> the Message-IDs under which the recipient got the story."""
    out: dict[tuple[str, str], list[str]] = {}
    for mail, (_sender, rcpts) in zip(mailbox.messages, mailbox.envelopes, strict=True):
        text = _plain(mail)
        for rcpt in rcpts:
            for story in STORIES:
                if story in text:
                    out.setdefault((rcpt, story), []).append(str(mail["Message-ID"]))
    return out


def _plain(mail: EmailMessage) -> str:
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())  # type: ignore[attr-defined]


TEAM = ("desk@example.org", "chief@example.org", "night@example.org")


def test_a_refused_recipient_is_retried_alone_and_nobody_gets_two_copies(
    store: Store, clock: FakeClock, server_for: type
) -> None:
    mailbox = Refusing(refusals={"chief@example.org": 2})  # greylisted twice
    server = server_for(mailbox)  # type: ignore[operator]
    renderer = Renderer(ROOT / "templates")
    seed_hits(store, clock)
    team = target(recipients=TEAM)
    first = deliver.run(store, renderer, smtp(server), team, RULES, clock())
    assert first.status == "failed" and "chief@example.org (450" in (first.error or "")
    assert mailbox.envelopes == [("monitor@example.org", ["desk@example.org", "night@example.org"])]

    clock.advance(minutes=1)
    assert deliver.run(store, renderer, smtp(server), team, RULES, clock()).status == "failed"
    clock.advance(minutes=2)
    last = deliver.run(store, renderer, smtp(server), team, RULES, clock())
    assert last.status == "sent" and last.hits == 2
    assert [rcpts for _, rcpts in mailbox.envelopes] == [
        ["desk@example.org", "night@example.org"],
        ["chief@example.org"],
    ]
    # The retry still names the whole team in its header.
    assert mailbox.messages[1]["To"] == ", ".join(TEAM)
    got = copies(mailbox)
    assert set(got) == {(r, s) for r in TEAM for s in STORIES}
    assert all(len(ids) == 1 for ids in got.values()), got
    assert store.delivery_counts("daily:email") == {"sent": 2}
    clock.advance(hours=1)
    assert deliver.run(store, renderer, smtp(server), team, RULES, clock()).status == "nothing"


def test_a_recipient_refused_for_good_never_costs_the_others_a_copy(
    store: Store, clock: FakeClock, server_for: type
) -> None:
    mailbox = Refusing(refusals={"night@example.org": -1})
    server = server_for(mailbox)  # type: ignore[operator]
    renderer = Renderer(ROOT / "templates")
    seed_hits(store, clock)
    team = target(recipients=TEAM)
    for _ in range(4):
        result = deliver.run(store, renderer, smtp(server), team, RULES, clock())
        assert result.status == "failed"
        clock.advance(hours=6)
    assert len(mailbox.messages) == 1
    assert mailbox.envelopes[0][1] == ["desk@example.org", "chief@example.org"]
    assert all(len(ids) == 1 for ids in copies(mailbox).values())
    assert store.delivery_counts("daily:email") == {"failed": 2}


def test_every_recipient_refused_is_a_notify_error(server_for: type, clock: FakeClock) -> None:
    server = server_for(Refusing(refusals={"desk@example.org": -1}))  # type: ignore[operator]
    message = Message("t", "digest", "<x@monitor>", "s", "text", "<p>h</p>", ("desk@example.org",))
    with pytest.raises(NotifyError, match=r"refused every recipient: desk@example.org \(550"):
        smtp(server).send(message)


# --------------------------------------------------------------------------- kill -9


def test_a_run_killed_between_send_and_mark_repeats_under_the_same_message_id(
    tmp_path: Path, server_for: type
) -> None:
    mailbox = Stalling()
    server = server_for(mailbox)  # type: ignore[operator]
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"storage: sqlite:///{tmp_path / 'monitor.db'}\n"
        f"rules: [{ROOT / 'rules'}]\ntemplates: {ROOT / 'templates'}\n"
        "feeds:\n  - id: sample\n    url: bundled:sample.xml\n"
        f"smtp:\n  host: 127.0.0.1\n  port: {server.port}\n  sender: monitor@example.org\n"
        "digests:\n  - id: daily\n    deliver: [email]\n"
        "    recipients: [desk@example.org, chief@example.org]\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "--config", str(config), "run", "--once"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert mailbox.received.wait(60), "the digest never reached the SMTP server"
        proc.kill()  # SIGKILL: the server has the message, the run never marks it sent
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        mailbox.release.set()
    assert len(mailbox.messages) == 1

    # Past the reservation's lease, the next run sends it again, under the same id.
    from monitor.model import utc_now

    later = FakeClock(utc_now() + timedelta(minutes=11))
    m = make_monitor(load_settings(config, {}), clock=later)
    try:
        (again,) = m.send_digest("daily")
        assert again.status == "sent"
        assert [r.status for r in m.send_digest("daily")] == ["nothing"]
        counts = m.store.delivery_counts("daily:email")
    finally:
        m.close()
    first, second = mailbox.messages
    assert first["Message-ID"] == second["Message-ID"]
    assert set(counts) == {"sent"}
    stories: dict[tuple[str, str], set[str]] = {}
    for mail, (_sender, rcpts) in zip(mailbox.messages, mailbox.envelopes, strict=True):
        for rcpt in rcpts:
            stories.setdefault((rcpt, "digest"), set()).add(str(mail["Message-ID"]))
    assert all(len(ids) == 1 for ids in stories.values())


# --------------------------------------------------------------------------- files


def test_digest_files_are_written_0644_whatever_the_umask(tmp_path: Path, clock: FakeClock) -> None:
    message = Message(
        "daily:file", "digest", "<f00d@monitor>", "s", "text", "<p>h</p>", created=clock()
    )
    old = os.umask(0o077)
    try:
        FileNotifier(tmp_path / "digests").send(message)
    finally:
        os.umask(old)
    written = sorted((tmp_path / "digests").iterdir())
    assert [p.suffix for p in written] == [".html", ".txt"]  # no temporary file left
    assert {stat.S_IMODE(p.stat().st_mode) for p in written} == {0o644}
