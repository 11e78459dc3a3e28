"""Digests from stored hits: rendering, a real SMTP server, files, failures and retries."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor import deliver
from monitor.deliver import Target
from monitor.errors import NotifyError
from monitor.model import (
    Batch,
    Entry,
    FeedState,
    FeedUpdate,
    Hit,
    Message,
    Pending,
    RenderJob,
    Rule,
    TermMatch,
)
from monitor.notify import FileNotifier, SmtpNotifier
from monitor.render import Renderer, highlight, snippet
from monitor.store import Store

from .helpers import ROOT, FakeClock, SmtpServer

RULES = {
    "ots": Rule("ots", "Organization of Turkic States", "OTS", tags=("ots",)),
    "trade": Rule("trade", "Turkic trade targets", "trade", tags=("trade",), priority="high"),
}


def seed_hits(store: Store, clock: FakeClock) -> None:
    store.sync_feeds([FeedState(id="news", url="https://example.org/news.xml", title="News")])
    title = "OTS chief <b>praises</b> diaspora & ties"
    entries = (
        Entry(
            "news",
            "g1",
            "https://example.org/a?x=1&y=2",
            title,
            "Omuraliev said the OTS values its diaspora links.",
            fingerprint="1",
            published=datetime(2025, 12, 10, 9, 30, tzinfo=UTC),
        ),
        Entry(
            "news",
            "g2",
            "https://example.org/b",
            "Trade target of $100 billion",
            "Erdogan set a $60 billion medium-term trade goal.",
            fingerprint="2",
        ),
    )
    hits = {
        "g1": [
            Hit(
                "ots",
                "v1",
                "normal",
                (TermMatch("ots", "title", 0, 3), TermMatch("ots", "summary", 19, 22)),
            )
        ],
        "g2": [Hit("trade", "v1", "high", (TermMatch("trade", "title", 0, 5),))],
    }
    feed = FeedState(
        id="news",
        url="https://example.org/news.xml",
        title="News",
        last_polled=clock(),
        last_success=clock(),
    )
    store.record(FeedUpdate(feed=feed, entries=entries, hits=hits))


def target(key: str = "daily:email", **kw: object) -> Target:
    config_id, channel = key.split(":")
    base: dict[str, object] = {
        "config_id": config_id,
        "channel": channel,
        "kind": "digest",
        "title": "Turkic daily",
        "rule_ids": None,
        "recipients": ("analyst@example.org",),
    }
    base.update(kw)
    return Target(**base)  # type: ignore[arg-type]


@pytest.fixture
def renderer() -> Renderer:
    return Renderer(ROOT / "templates")


def smtp(server: SmtpServer) -> SmtpNotifier:
    return SmtpNotifier(server.host, server.port, sender="monitor@example.org", timeout=5)


def test_highlight_and_snippet_split_text_without_markup() -> None:
    assert highlight("OTS and OTS", [(8, 11), (0, 3), (1, 2)]) == [
        ("OTS", True),
        (" and ", False),
        ("OTS", True),
    ]
    long = "word " * 100 + "TARGET " + "word " * 100
    segs = snippet(long, [(500, 506)], width=80)
    assert segs[0] == ("… ", False) and segs[-1] == (" …", False)
    assert ("TARGET", True) in segs


def test_templates_are_all_valid(renderer: Renderer) -> None:
    assert renderer.check() == []


def test_a_broken_template_is_named_with_its_line(tmp_path: Path) -> None:
    for name in ("digest.html", "digest.txt", "alert.html"):
        (tmp_path / name).write_text((ROOT / "templates" / name).read_text())
    (tmp_path / "digest.txt").write_text("line one\n{% for x in %}\n")
    problems = Renderer(tmp_path).check()
    assert any("digest.txt:2:" in p for p in problems)
    assert any("alert.txt: template is missing" in p for p in problems)


def test_digest_renders_html_escaped_and_text_with_highlights(
    store: Store, clock: FakeClock, renderer: Renderer
) -> None:
    seed_hits(store, clock)
    batch = store.reserve(Pending("daily:file", None, clock()))
    assert batch is not None
    msg = renderer.render(
        RenderJob(
            kind="digest",
            batch=batch,
            title="Turkic daily",
            rules=RULES,
            now=clock(),
            timezone="Europe/Istanbul",
        )
    )
    assert msg.subject == "Turkic daily: 2 new stories, 2025-12-16"
    # Feed text is escaped; the match is marked; the link is present and escaped.
    assert "&lt;b&gt;praises&lt;/b&gt; diaspora &amp; ties" in msg.html
    assert '<mark><span class="hl" style="background: #fff1a8;">OTS</span></mark>' in msg.html
    assert 'href="https://example.org/a?x=1&amp;y=2"' in msg.html
    assert "<b>praises" not in msg.html
    assert "Organization of Turkic States" in msg.html and "Turkic trade targets" in msg.html
    assert "2025-12-10 12:30 +03" in msg.text  # published, in the digest's timezone
    assert "[OTS]" in msg.text and "https://example.org/b" in msg.text
    assert "Why: mentions OTS" in msg.text


def test_digest_sent_over_smtp_is_multipart_and_never_sent_twice(
    store: Store, clock: FakeClock, renderer: Renderer, smtp_server: SmtpServer
) -> None:
    seed_hits(store, clock)
    result = deliver.run(store, renderer, smtp(smtp_server), target(), RULES, clock())
    assert result.status == "sent" and result.hits == 2
    (mail,) = smtp_server.mailbox.messages
    assert mail.get_content_type() == "multipart/alternative"
    assert mail["Subject"] == "Turkic daily: 2 new stories, 2025-12-16"
    assert mail["To"] == "analyst@example.org"
    assert mail["Message-ID"] == result.message.message_id  # type: ignore[union-attr]
    text = mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    html = mail.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    assert "https://example.org/b" in text
    assert 'href="https://example.org/b"' in html
    assert smtp_server.mailbox.envelopes == [("monitor@example.org", ["analyst@example.org"])]

    again = deliver.run(store, renderer, smtp(smtp_server), target(), RULES, clock())
    assert again.status == "nothing"
    assert len(smtp_server.mailbox.messages) == 1


def test_smtp_outage_keeps_hits_pending_and_the_next_run_sends_them(
    store: Store, clock: FakeClock, renderer: Renderer, smtp_server: SmtpServer
) -> None:
    seed_hits(store, clock)
    notifier = smtp(smtp_server)
    smtp_server.stop()  # the server is down
    failed = deliver.run(store, renderer, notifier, target(), RULES, clock())
    assert failed.status == "failed" and failed.hits == 2
    assert "SMTP server 127.0.0.1" in (failed.error or "")
    assert store.delivery_counts("daily:email") == {"failed": 2}

    # The server is back; after the backoff, the same hits go out once.
    from aiosmtpd.controller import Controller

    controller = Controller(smtp_server.mailbox, hostname="127.0.0.1", port=smtp_server.port)
    controller.start()
    try:
        clock.advance(minutes=5)
        sent = deliver.run(store, renderer, notifier, target(), RULES, clock())
    finally:
        controller.stop()
    assert sent.status == "sent" and sent.hits == 2
    assert len(smtp_server.mailbox.messages) == 1
    assert store.delivery_counts("daily:email") == {"sent": 2}


def test_smtp_refusing_the_recipient_is_a_notify_error(smtp_server: SmtpServer) -> None:
    message = Message("t", "digest", "<x@monitor>", "s", "text", "<p>html</p>", ())
    with pytest.raises(NotifyError, match="no recipients"):
        smtp(smtp_server).send(message)


def test_alert_target_takes_only_high_priority_rules(
    store: Store, clock: FakeClock, renderer: Renderer, tmp_path: Path
) -> None:
    seed_hits(store, clock)
    rule_ids = deliver.select_rules(list(RULES.values()), ids=(), tags=(), high_only=True)
    assert rule_ids == ("trade",)
    alert = target("urgent:file", kind="alert", title="Alert", rule_ids=rule_ids)
    files = FileNotifier(tmp_path)
    result = deliver.run(store, renderer, files, alert, RULES, clock())
    assert result.status == "sent" and result.hits == 1
    assert result.message is not None
    assert result.message.subject == "[Alert] Turkic trade targets: Trade target of $100 billion"
    html_files = list(tmp_path.glob("urgent_file-*.html"))
    assert len(html_files) == 1 and "Trade target of $100 billion" in html_files[0].read_text()


def test_select_rules_by_tag_and_id() -> None:
    rules = list(RULES.values())
    assert deliver.select_rules(rules, ids=(), tags=()) is None
    assert deliver.select_rules(rules, ids=("ots",), tags=()) == ("ots",)
    assert deliver.select_rules(rules, ids=(), tags=("trade",)) == ("trade",)
    assert deliver.select_rules(rules, ids=(), tags=("none",)) == ()


def test_file_notifier_rewrites_the_same_message_instead_of_copying(
    tmp_path: Path, clock: FakeClock
) -> None:
    notifier = FileNotifier(tmp_path / "digests")
    message = Message(
        "daily:file",
        "digest",
        "<abcdef0123456789@monitor>",
        "s",
        "text",
        "<p>x</p>",
        created=clock(),
    )
    notifier.send(message)
    notifier.send(replace(message, created=clock.advance(hours=1), text="text 2"))
    txt = sorted((tmp_path / "digests").glob("*.txt"))
    assert len(txt) == 1 and txt[0].read_text() == "text 2"
    assert len(list((tmp_path / "digests").glob("*.html"))) == 1


def test_file_notifier_unwritable_folder_is_a_notify_error(
    tmp_path: Path, clock: FakeClock
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    message = Message("d:file", "digest", "<a@monitor>", "s", "t", "h", created=clock())
    with pytest.raises(NotifyError, match="cannot write"):
        FileNotifier(blocker / "digests").send(message)


def test_dry_run_renders_but_sends_and_marks_nothing(
    store: Store, clock: FakeClock, renderer: Renderer, smtp_server: SmtpServer
) -> None:
    seed_hits(store, clock)
    result = deliver.run(store, renderer, smtp(smtp_server), target(), RULES, clock(), dry_run=True)
    assert result.status == "dry-run" and result.message is not None
    assert "Trade target of $100 billion" in result.message.text
    assert smtp_server.mailbox.messages == []
    assert store.delivery_counts("daily:email") == {}


def test_empty_batch_renders_a_friendly_digest(renderer: Renderer, clock: FakeClock) -> None:
    msg = renderer.render(
        RenderJob(
            kind="digest",
            batch=Batch("d:file", "<m@monitor>", ()),
            title="T",
            rules=RULES,
            now=clock(),
        )
    )
    assert "Nothing new matched" in msg.text and "Nothing new matched" in msg.html
