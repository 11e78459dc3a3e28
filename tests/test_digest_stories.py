"""Through real parts: outlets on a loopback server report the same events in their own
words; after a poll the digest has one entry per story, the hard negatives apart, and
`monitor digest --json` shows it; an alert target (a real SMTP server) gets one alert per
story, even when a later copy arrives in the next poll."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from monitor.app import Monitor, make_monitor
from monitor.cli import cli
from monitor.config import load_settings
from monitor.model import utc_now

from . import newsdesk as nd
from .helpers import POLL, FakeClock, SmtpServer, job_config


@dataclass
class Newsroom:
    """Serves one feed per outlet; ``items`` is what the outlets carry right now."""

    server: HTTPServer
    items: list[dict[str, object]] = field(default_factory=lambda: list(nd.FIRST_POLL))

    def handler(self, request: Request) -> Response:
        feed = request.path.strip("/").removesuffix(".xml")
        return Response(nd.rss(feed, self.items), content_type="application/rss+xml")


@pytest.fixture
def clock() -> FakeClock:
    """Starts now: `monitor digest` on the command line reads the real clock, and takes hits
    of the last seven days (the items keep their December 2025 dates)."""
    return FakeClock(utc_now().replace(microsecond=0))


@pytest.fixture
def newsroom(httpserver: HTTPServer) -> Newsroom:
    room = Newsroom(httpserver)
    for feed in nd.OUTLETS:
        httpserver.expect_request(f"/{feed}.xml").respond_with_handler(room.handler)
    return room


def write_config(tmp_path: Path, room: Newsroom, smtp: SmtpServer) -> Path:
    feeds = "".join(
        f'  - id: {feed}\n    title: "{title}"\n    url: {room.server.url_for(f"/{feed}.xml")}\n'
        for feed, title in nd.OUTLETS.items()
    )
    return job_config(
        tmp_path,
        POLL + f"smtp:\n  host: {smtp.host}\n  port: {smtp.port}\n  sender: monitor@example.org\n"
        f"feeds:\n{feeds}"
        "digests:\n  - id: daily\n    title: Turkic daily\n    timezone: Europe/Istanbul\n"
        "    deliver: [file, email]\n    recipients: [desk@example.org]\n"
        "alerts:\n  - id: urgent\n    title: Urgent\n    deliver: [email]\n"
        # the newsroom's stories are of December 2025; the clock is today's
        "    max_age: 3650d\n"
        "    recipients: [duty@example.org]\n",
    )


@pytest.fixture
def monitor(
    tmp_path: Path, newsroom: Newsroom, smtp_server: SmtpServer, clock: FakeClock
) -> Iterator[Monitor]:
    m = make_monitor(load_settings(write_config(tmp_path, newsroom, smtp_server), {}), clock=clock)
    yield m
    m.close()


def digest_json(tmp_path: Path) -> dict[str, object]:
    result = CliRunner().invoke(
        cli, ["--config", str(tmp_path / "monitor.yaml"), "digest", "daily", "--dry-run", "--json"]
    )
    assert result.exit_code == 0, result.output
    (line,) = result.stdout.strip().splitlines()
    doc: dict[str, object] = json.loads(line)
    return doc


def by_first_link(doc: dict[str, object]) -> dict[str, dict[str, object]]:
    stories = doc["stories"]
    assert isinstance(stories, list)
    return {s["items"][0]["url"]: s for s in stories}


def mails_to(smtp: SmtpServer, address: str) -> list[str]:
    return [
        m.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
        for m in smtp.mailbox.messages
        if m["To"] == address
    ]


def test_one_entry_per_story_and_the_negatives_apart(monitor: Monitor, tmp_path: Path) -> None:
    monitor.poll()
    doc = digest_json(tmp_path)
    assert doc["digest"] == "daily"
    stories = by_first_link(doc)
    lead = {
        name: str(items[0]["link"]).replace("?utm_source=rss", "")
        for name, items in nd.STORIES.items()
    }
    assert set(stories) == set(lead.values())  # five events, five entries
    for name, items in nd.STORIES.items():
        story = stories[lead[name]]
        copies = {(c["feed"], c["title"]) for c in story["items"]}  # type: ignore[union-attr]
        assert copies == {(str(i["feed"]), str(i["title"])) for i in items}, name
    reception = stories[lead["reception"]]
    # Filed under the official in the headline, not the ambassador named in the text.
    assert reception["topic_id"] in ("omuraliev", "ots-diaspora")
    assert "khazar-ibrahim" in reception["rules"]  # ...who is named as another topic
    first = reception["items"][0]  # type: ignore[index]
    assert first["published"] == "2025-12-15T23:30:00Z"
    assert first["url"].startswith("https://")


def test_an_alert_per_story_and_a_later_copy_joins_it(
    monitor: Monitor,
    newsroom: Newsroom,
    clock: FakeClock,
    smtp_server: SmtpServer,
    tmp_path: Path,
) -> None:
    monitor.poll()
    (alert,) = monitor.send_alerts()
    assert alert.status == "sent" and alert.message is not None
    alerted = {s.items[0].url: s for s in alert.message.stories}
    assert len(alerted) == len(alert.message.stories)  # each story once
    reception_link = str(nd.RECEPTION_WIRE["link"])
    assert reception_link in alerted
    (mail,) = mails_to(smtp_server, "duty@example.org")
    assert mail.count(str(nd.RECEPTION_WIRE["title"])) == 1

    # Next poll: two more outlets carry the reception (one in Russian).
    newsroom.items = [*nd.FIRST_POLL, nd.RECEPTION_LATER, nd.RECEPTION_RU]
    clock.advance(hours=2)
    results = {r.feed_id: r for r in monitor.poll()}
    assert results["report"].new_items == 1 and results["kabar"].new_items == 1
    assert [r.status for r in monitor.send_alerts()] == ["nothing"]
    assert len(mails_to(smtp_server, "duty@example.org")) == 1
    assert monitor.store.delivery_counts("urgent:email").get("joined", 0) >= 1

    # The digest, never sent yet, has the reception once, with all five copies.
    stories = by_first_link(digest_json(tmp_path))
    reception = stories[reception_link]
    feeds = [c["feed"] for c in reception["items"]]  # type: ignore[union-attr]
    assert sorted(feeds) == ["daily", "kabar", "report", "wire", "wire-world"]
    assert len(stories) == 5


def test_the_mail_points_to_the_digest_file_and_reads_alone(
    monitor: Monitor, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    monitor.poll()
    results = monitor.send_digest("daily")
    assert [r.status for r in results] == ["sent", "sent"]
    (written,) = (tmp_path / "digests").glob("daily_file-*.html")
    (text,) = mails_to(smtp_server, "desk@example.org")
    assert f"saved as {written}" in text
    assert "AT A GLANCE" in text and "TOP STORIES" in text
    for items in nd.STORIES.values():
        # Each story's lead title is listed once under its topic (and maybe in the top list).
        assert text.count(f"- {items[0]['title']}") == 1
    assert "Why: " in text and "Also reported by:" in text
    assert "entity:" not in text and "amount:[" not in text  # no query syntax


def test_a_bad_digest_id_is_one_line(monitor: Monitor, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["--config", str(tmp_path / "monitor.yaml"), "digest", "weekly", "--json"]
    )
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"error: no digest 'weekly' in {tmp_path / 'monitor.yaml'} (digests: daily)"
    ]
