"""Apprise URLs through the real Apprise library: its json:// and form:// services pointed
at a loopback HTTP server (no network beyond 127.0.0.1)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from monitor import checks, senders
from monitor.channels.document import short_body
from monitor.channels.push import PushNotifier, url_problem
from monitor.channels.spec import parse_channel
from monitor.config import load_settings
from monitor.errors import ConfigError, NotifyError
from monitor.model import Message

from ..helpers import FakeClock
from .conftest import MakeMonitor, entry, seed, write_project


@dataclass
class Service:
    """What a push service on loopback received."""

    status: int = 200
    received: list[dict[str, str]] = field(default_factory=list)

    def __call__(self, request: Request) -> Response:
        if request.content_type and request.content_type.startswith("application/json"):
            self.received.append(json.loads(request.get_data()))
        else:
            self.received.append(dict(request.form))
        return Response("ok", status=self.status)


def serve(server: HTTPServer, path: str, service: Service) -> str:
    server.expect_request(path, method="POST").respond_with_handler(service)
    return f"127.0.0.1:{server.port}{path}"


@pytest.fixture
def server(threaded_server: HTTPServer) -> HTTPServer:
    """The module's loopback server (127.0.0.1), cleared for this test."""
    threaded_server.clear()
    return threaded_server


def test_a_digest_goes_to_json_and_form_services_once(
    make: MakeMonitor, clock: FakeClock, server: HTTPServer
) -> None:
    js, form = Service(), Service()
    m = make(f"[json://{serve(server, '/json', js)}, form://{serve(server, '/form', form)}]")
    seed(m, clock, [entry(1, "OTS summit in Bishkek"), entry(2, "Trade target of $100 billion")])

    results = m.send_digest("daily")
    assert [(r.target.key.split("-")[0], r.status, r.hits) for r in results] == [
        ("daily:json", "sent", 3),
        ("daily:form", "sent", 3),
    ]
    (posted,) = js.received
    assert posted["title"] == "Turkic daily: 2 new stories, 2025-12-16"
    # in the digest's order, each story under the topic that explains it best
    assert posted["message"].splitlines() == [
        "- OTS summit in Bishkek (Organization of Turkic States · News)",
        "  https://example.org/story/1",
        "- Trade target of $100 billion (Turkic trade targets · News)",
        "  https://example.org/story/2",
    ]
    (filled,) = form.received
    assert filled["title"] == posted["title"] and filled["message"] == posted["message"]

    assert [r.status for r in m.send_digest("daily")] == ["nothing", "nothing"]
    assert len(js.received) == 1 and len(form.received) == 1


def test_a_service_that_fails_keeps_the_hits_pending(
    make: MakeMonitor, clock: FakeClock, server: HTTPServer
) -> None:
    service = Service(status=500)
    m = make(f"[file, json://{serve(server, '/json', service)}]")
    seed(m, clock, [entry(1, "OTS summit in Bishkek")])
    file, failed = m.send_digest("daily")
    assert file.status == "sent" and failed.status == "failed"
    assert failed.error and failed.error.startswith(f"{failed.target.key}: json://127.0.0.1:")
    assert "500" in failed.error
    assert m.store.delivery_counts(failed.target.key) == {"failed": 1}  # type: ignore[attr-defined]

    service.status = 200
    clock.advance(minutes=2)
    (retried,) = m.retry_failed()
    assert retried.status == "sent" and len(service.received) == 2


def test_a_body_too_long_for_the_service_is_cut_with_a_link_to_the_rest(
    make: MakeMonitor, clock: FakeClock, server: HTTPServer
) -> None:
    service = Service()
    m = make(
        f"\n      - channel: json://{serve(server, '/json', service)}\n"
        "        link: https://news.example.org/daily.atom"
    )
    notifier = next(iter(n for k, n in m.notifiers.items() if k.startswith("daily:")))
    assert isinstance(notifier, PushNotifier)
    notifier.limit = 300  # a service as small as Pushover's would be cut at 1,024
    seed(m, clock, [entry(n, f"OTS story number {n} " + "x" * 40) for n in range(1, 11)])
    (result,) = m.send_digest("daily")
    assert result.status == "sent" and result.hits == 10
    body = service.received[0]["message"]
    assert len(body) <= 300
    assert body.splitlines()[-1].startswith("… and ")
    assert body.endswith(" more: https://news.example.org/daily.atom")


# --------------------------------------------------------------------------- bodies


def message(stories: int, url: str | None = "https://example.org/s") -> Message:
    document = {
        "digest": "daily",
        "stories": [
            {
                "title": f"Story [{n}] *bold*",
                "topic": "OTS",
                "items": [{"feed": "news", "feed_title": "News", "url": url and f"{url}{n}"}],
            }
            for n in range(stories)
        ],
    }
    return Message(
        "daily:x",
        "digest",
        "<m@monitor>",
        "subject",
        "text",
        "html",
        created=datetime(2025, 12, 16, tzinfo=UTC),
        document=document,
    )


def test_markdown_bodies_escape_titles_and_link_them() -> None:
    body = short_body(message(1), markdown=True, limit=1000)
    assert body == r"- [Story \[0\] \*bold\*](https://example.org/s0) — OTS · News"


def test_a_cut_body_links_the_first_story_left_out_without_a_link_given() -> None:
    body = short_body(message(20), markdown=False, limit=200)
    assert len(body) <= 200
    *kept, last = body.splitlines()
    left_out = int(last.split()[2])
    assert len(kept) == 2 * (20 - left_out)  # a story is a line and its link
    assert last == f"… and {left_out} more: https://example.org/s{20 - left_out}"


def test_one_story_longer_than_the_limit_is_cut_itself() -> None:
    body = short_body(message(1, url=None), markdown=False, limit=20)
    assert len(body) == 20 and body.endswith("…")


def test_an_empty_digest_and_a_test_message_have_a_body() -> None:
    assert short_body(message(0), markdown=False, limit=100) == "No new items."


# --------------------------------------------------------------------------- checks


def test_a_url_apprise_cannot_read_is_named_with_its_line(tmp_path: Path) -> None:
    path = write_project(
        tmp_path,
        "[file, 'slack://not-enough-tokens', 'nosuch://x']",
        storage="sqlite:///state/monitor.db",
    )
    problems, _ = checks.check(path, {})
    assert problems == [
        f"{path}:9: digests[0].deliver[1]: Apprise cannot read this slack:// URL "
        "(see https://github.com/caronc/apprise/wiki)",
        f"{path}:9: digests[0].deliver[2]: Apprise has no service nosuch:// "
        "(see https://github.com/caronc/apprise/wiki)",
    ]
    with pytest.raises(ConfigError, match=r"monitor.yaml:9: digests\[0\].deliver\[1\]: Apprise"):
        senders.make_notifiers(load_settings(path, {}))


def test_url_problem_is_none_for_a_url_apprise_reads() -> None:
    assert url_problem(parse_channel("ntfy://ntfy.example.org/topic", {})) is None


def test_a_failure_without_a_word_from_apprise_still_says_what_failed(
    server: HTTPServer,
) -> None:
    channel = parse_channel(f"json://127.0.0.1:{server.port}/missing", {})
    with pytest.raises(NotifyError, match=r"^daily:x: json://127.0.0.1:\d+/\*\*\*: "):
        PushNotifier(channel).send(message(1))
