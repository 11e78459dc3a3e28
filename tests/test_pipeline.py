"""The whole pipeline: fixture feeds on a real HTTP server, the seeded rules, a SQLite file,
digests written as files and mailed to a real SMTP server."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from monitor.app import Monitor, make_monitor
from monitor.config import load_settings
from monitor.notify import SmtpNotifier

from .helpers import FEEDS, POLL, FakeClock, SmtpServer, feed_list, free_port, job_config

SERVED = ("seed_rss.xml", "seed_atom.xml", "unrelated.xml")
LAST_MODIFIED = "Mon, 15 Dec 2025 08:00:00 GMT"


@dataclass
class FeedSite:
    """Serves the fixture feeds with validators and remembers every request."""

    server: HTTPServer
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def url(self, name: str) -> str:
        return self.server.url_for(f"/{name}")

    def handler(self, request: Request) -> Response:
        name = request.path.lstrip("/")
        self.requests.append((name, dict(request.headers)))
        body = (FEEDS / name).read_bytes()
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag or (
            request.headers.get("If-Modified-Since") == LAST_MODIFIED
        ):
            return Response(status=304, headers={"ETag": etag})
        return Response(
            body,
            content_type="application/rss+xml",
            headers={"ETag": etag, "Last-Modified": LAST_MODIFIED},
        )


@pytest.fixture
def site(httpserver: HTTPServer) -> FeedSite:
    s = FeedSite(httpserver)
    for name in SERVED:
        httpserver.expect_request(f"/{name}").respond_with_handler(s.handler)
    return s


def write_config(tmp_path: Path, site: FeedSite, extra: str = "") -> Path:
    feeds = feed_list({name.removesuffix(".xml"): site.url(name) for name in SERVED})
    daily = "digests:\n  - id: daily\n    title: Turkic daily\n    deliver: [file]\n"
    return job_config(tmp_path, POLL + feeds + daily + extra)


@pytest.fixture
def monitor(tmp_path: Path, site: FeedSite, clock: FakeClock) -> Iterator[Monitor]:
    m = make_monitor(load_settings(write_config(tmp_path, site), {}), clock=clock)
    yield m
    m.close()


def hits_by_item(monitor: Monitor) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    items = dict(monitor.store.items_since(monitor.clock().replace(year=2000)))
    for item_id, rules in monitor.store.hit_rules(list(items)).items():
        out[items[item_id].id] = rules
    return out


def test_seeded_rules_hit_the_seed_facts_and_nothing_unrelated(monitor: Monitor) -> None:
    results = {r.feed_id: r for r in monitor.poll()}
    assert {r.status for r in results.values()} == {"ok"}
    assert results["seed_rss"].new_items == 7 and results["seed_atom"].new_items == 5
    assert results["unrelated"].new_items == 5 and results["unrelated"].new_hits == 0

    hits = hits_by_item(monitor)
    every_seed_item = {f"fixture-seed-rss-00{i}" for i in range(1, 8)} | {
        f"urn:example:fixtures:seed-atom:00{i}" for i in range(1, 6)
    }
    assert every_seed_item <= set(hits), f"seed items without a hit: {every_seed_item - set(hits)}"
    assert not [i for i in hits if i.startswith("fixture-unrelated")]
    # The trade-target facts reach a trade rule; the diaspora facts a diaspora rule.
    trade = {r for r in monitor.rules if "trade" in r}
    assert hits["fixture-seed-rss-005"] & trade
    assert hits["fixture-seed-rss-006"] & trade
    assert not hits["urn:example:fixtures:seed-atom:003"] & trade


def test_second_poll_is_conditional_and_stores_nothing_new(
    monitor: Monitor, site: FeedSite, clock: FakeClock
) -> None:
    monitor.poll()
    before = monitor.store.counts()
    site.requests.clear()
    clock.advance(hours=2)  # past max_interval (1h) plus jitter: every feed is due again
    results = monitor.poll()
    assert {r.status for r in results} == {"not_modified"}
    assert len(site.requests) == 3
    for _name, headers in site.requests:
        assert headers.get("If-None-Match", "").startswith('"')
        assert headers.get("If-Modified-Since") == LAST_MODIFIED
    assert monitor.store.counts() == before


def test_feeds_not_due_are_not_fetched(monitor: Monitor, site: FeedSite, clock: FakeClock) -> None:
    monitor.poll()
    site.requests.clear()
    clock.advance(minutes=1)
    assert monitor.poll() == []
    assert site.requests == []


def test_first_digest_is_written_at_once_then_only_new_hits(
    monitor: Monitor, tmp_path: Path
) -> None:
    monitor.poll()
    (result,) = monitor.first_digests()
    assert result.status == "sent" and result.hits > 0
    html = list((tmp_path / "digests").glob("daily_file-*.html"))
    text = list((tmp_path / "digests").glob("daily_file-*.txt"))
    assert len(html) == 1 and len(text) == 1
    body = text[0].read_text()
    assert "Budapest" in body and "$60 billion" in body
    assert "volleyball" not in body.lower()
    # Already sent once: the first-digest rule does not fire again, nor does the digest repeat.
    assert monitor.first_digests() == []
    assert [r.status for r in monitor.send_digest("daily")] == ["nothing"]


def test_digest_by_email_to_a_real_smtp_server(
    tmp_path: Path, site: FeedSite, clock: FakeClock, smtp_server: SmtpServer
) -> None:
    extra = (
        f"smtp:\n  host: {smtp_server.host}\n  port: {smtp_server.port}\n"
        "  sender: monitor@example.org\n"
        "alerts:\n  - id: urgent\n    deliver: [email]\n    recipients: [duty@example.org]\n"
    )
    path = write_config(tmp_path, site, extra)
    text = path.read_text().replace(
        "    deliver: [file]\n", "    deliver: [file, email]\n    recipients: [desk@example.org]\n"
    )
    path.write_text(text)
    m = make_monitor(load_settings(path, {}), clock=clock)
    try:
        m.poll()
        alerts = m.send_alerts()
        digests = m.send_digest()
    finally:
        m.close()
    assert sorted(r.status for r in digests) == ["sent", "sent"]
    mails = {msg["To"]: msg for msg in smtp_server.mailbox.messages}
    assert set(mails) >= {"desk@example.org"}
    digest = mails["desk@example.org"]
    assert digest["Subject"].startswith("Turkic daily: ")
    assert digest.get_content_type() == "multipart/alternative"
    html = digest.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    assert "<mark>" in html and "https://" in html
    if any(r.priority == "high" for r in m.ruleset.rules):
        assert [r.status for r in alerts] == ["sent"]
        assert mails["duty@example.org"]["Subject"].startswith("[urgent]")


def test_a_broken_feed_does_not_stop_the_others(
    tmp_path: Path, site: FeedSite, clock: FakeClock, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/broken.xml").respond_with_data(
        b"<html><body>maintenance</body></html>", content_type="text/html"
    )
    httpserver.expect_request("/missing.xml").respond_with_data("gone", status=404)
    path = write_config(tmp_path, site)
    path.write_text(
        path.read_text().replace(
            "digests:",
            f"  - id: broken\n    url: {httpserver.url_for('/broken.xml')}\n"
            f"  - id: missing\n    url: {httpserver.url_for('/missing.xml')}\n"
            "digests:",
        )
    )
    m = make_monitor(load_settings(path, {}), clock=clock)
    try:
        results = {r.feed_id: r for r in m.poll()}
        feeds = {f.id: f for f in m.feeds()}
    finally:
        m.close()
    assert results["seed_rss"].status == "ok" and results["seed_rss"].new_hits > 0
    assert results["broken"].status == "error" and "not a feed" in (results["broken"].error or "")
    assert results["missing"].status == "error" and "HTTP 404" in (results["missing"].error or "")
    assert feeds["missing"].error_count == 1
    assert feeds["missing"].next_poll is not None and feeds["missing"].next_poll > clock()


def test_feed_health_notices_reach_the_next_digest_once_and_survive_a_failed_send(
    tmp_path: Path,
    site: FeedSite,
    clock: FakeClock,
    httpserver: HTTPServer,
    smtp_server: SmtpServer,
) -> None:
    httpserver.expect_request("/retired.xml").respond_with_data("retired", status=410)
    path = write_config(tmp_path, site)
    dead_port = free_port()  # nothing listens here: the first send fails
    path.write_text(
        path.read_text()
        .replace(
            "digests:",
            f"  - id: retired\n    url: {httpserver.url_for('/retired.xml')}\n"
            f"smtp:\n  host: 127.0.0.1\n  port: {dead_port}\n  timeout: 5s\n"
            "digests:",
        )
        .replace(
            "    deliver: [file]\n", "    deliver: [email]\n    recipients: [desk@example.org]\n"
        )
    )
    m = make_monitor(load_settings(path, {}), clock=clock)
    try:
        results = {r.feed_id: r.status for r in m.poll()}
        assert results["retired"] == "gone"
        (failed,) = m.send_digest("daily")
        assert failed.status == "failed"
        pending = m.store.feed_notices(clock(), take=False)
        assert len(pending) == 1 and "retired" in pending[0] and "410" in pending[0]

        m.notifiers["email"] = SmtpNotifier(
            smtp_server.host, smtp_server.port, sender="monitor@example.org"
        )
        (sent,) = m.send_digest("daily")
        assert sent.status == "sent"
        assert m.store.feed_notices(clock(), take=False) == []

        clock.advance(hours=2)
        m.poll()  # still gone: not told again
        m.send_digest("daily")
    finally:
        m.close()
    bodies = [
        msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
        for msg in smtp_server.mailbox.messages
    ]
    assert len(bodies) >= 1
    assert "feed retired" in bodies[0] and "410 Gone" in bodies[0]
    assert not any("feed retired" in b for b in bodies[1:])
