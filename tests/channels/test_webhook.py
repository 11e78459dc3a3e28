"""Webhooks against a real receiver on loopback: the JSON it gets, the signature it checks,
retries when it fails, and hits that stay pending while it is down."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from monitor.channels.spec import parse_channel
from monitor.channels.webhook import WebhookNotifier, signature
from monitor.errors import NotifyError
from monitor.model import Message

from ..helpers import ROOT, FakeClock, free_port
from .conftest import MakeMonitor, entry, seed

SECRET = "s3cret-signing-key"


@dataclass
class Receiver:
    """A webhook receiver as a user would write one: it verifies the signature over the
    raw body, then reads the JSON. `fail` answers 500 that many times first."""

    secret: str | None = SECRET
    fail: int = 0
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    calls: int = 0
    documents: list[dict[str, object]] = field(default_factory=list)
    deliveries: list[str] = field(default_factory=list)

    def __call__(self, request: Request) -> Response:
        self.calls += 1
        if self.fail:
            self.fail -= 1
            return Response("busy", status=self.status, headers=self.headers)
        body = request.get_data()
        if self.secret is not None:
            given = request.headers.get("X-Monitor-Signature-256", "")
            expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(given, expected):
                return Response("bad signature", status=401)
        assert request.headers["Content-Type"] == "application/json; charset=utf-8"
        self.documents.append(json.loads(body))
        self.deliveries.append(request.headers["X-Monitor-Delivery"])
        return Response("ok")


def hook(server: HTTPServer, receiver: Receiver, path: str = "/hook") -> str:
    server.expect_request(path, method="POST").respond_with_handler(receiver)
    return server.url_for(path)


def deliver_yaml(url: str, *, secret: bool = True, retries: int = 2) -> str:
    lines = [f"\n      - channel: {url}", "        name: hooks", f"        retries: {retries}"]
    if secret:
        lines.append("        secret: ${HOOK_SECRET}")
    return "".join(f"{line}\n" for line in lines).rstrip("\n")


def test_the_receiver_gets_the_document_signed_and_each_hit_once(
    make: MakeMonitor, clock: FakeClock, httpserver: HTTPServer
) -> None:
    receiver = Receiver()
    m = make(deliver_yaml(hook(httpserver, receiver)), env={"HOOK_SECRET": SECRET})
    seed(m, clock, [entry(1, "OTS summit in Bishkek"), entry(2, "Trade target of $100 billion")])

    (result,) = m.send_digest("daily")
    assert (result.target.key, result.status, result.hits) == ("daily:hooks", "sent", 3)
    (doc,) = receiver.documents
    assert doc["digest"] == "daily" and doc["kind"] == "digest" and doc["test"] is False
    stories = doc["stories"]
    assert isinstance(stories, list) and len(stories) == 2
    by_title = {s["title"]: s for s in stories}
    trade = by_title["Trade target of $100 billion"]
    assert trade["topic"] == "Turkic trade targets"  # the rule its headline names
    assert sorted(trade["rules"]) == ["ots", "trade"]
    assert trade["items"] == [
        {
            "feed": "news",
            "feed_title": "News",
            "outlet": "News",
            "title": "Trade target of $100 billion",
            "url": "https://example.org/story/2",
            "published": "2025-12-10T09:02:00Z",
        }
    ]
    assert receiver.deliveries == [result.message.message_id]  # type: ignore[union-attr]

    assert [r.status for r in m.send_digest("daily")] == ["nothing"]
    assert receiver.calls == 1
    assert m.store.delivery_counts("daily:hooks") == {"sent": 3}  # type: ignore[attr-defined]


def test_a_receiver_that_fails_twice_gets_the_message_once_in_the_end(
    make: MakeMonitor, clock: FakeClock, httpserver: HTTPServer
) -> None:
    receiver = Receiver(fail=2, headers={"Retry-After": "3"})
    m = make(deliver_yaml(hook(httpserver, receiver)), env={"HOOK_SECRET": SECRET})
    slept: list[float] = []
    channel = m.settings.digests[0].deliver[0]
    m.notifiers["daily:hooks"] = WebhookNotifier(channel, sleep=slept.append)  # type: ignore[index]
    seed(m, clock, [entry(1, "OTS summit in Bishkek")])

    (result,) = m.send_digest("daily")
    assert result.status == "sent"
    assert receiver.calls == 3 and len(receiver.documents) == 1
    assert slept == [3.0, 3.0]  # Retry-After wins over the 1 s, 2 s backoff while longer
    assert m.send_digest("daily")[0].status == "nothing"
    assert len(receiver.documents) == 1


def test_a_receiver_that_is_down_keeps_the_hits_pending_until_it_is_back(
    make: MakeMonitor, clock: FakeClock, httpserver: HTTPServer
) -> None:
    port = free_port()  # nothing listens here yet
    m = make(
        "\n      - file\n" + deliver_yaml(f"http://127.0.0.1:{port}/hook", retries=0),
        env={"HOOK_SECRET": SECRET},
    )
    seed(m, clock, [entry(1, "OTS summit in Bishkek"), entry(2, "OTS ministers meet")])

    results = {r.target.key: r for r in m.send_digest("daily")}
    assert results["daily:file"].status == "sent"  # one channel down holds back no other
    down = results["daily:hooks"]
    assert down.status == "failed" and down.hits == 2
    assert "daily:hooks: webhook http://127.0.0.1" in (down.error or "")
    assert "no answer" in (down.error or "")
    assert m.store.delivery_counts("daily:hooks") == {"failed": 2}  # type: ignore[attr-defined]
    assert m.retry_failed() == []  # the backoff has not passed

    # The receiver comes up at that address; after the backoff the hits go, once.
    receiver = Receiver()
    server = HTTPServer(host="127.0.0.1", port=port)
    server.start()
    try:
        hook(server, receiver)
        clock.advance(minutes=2)
        (retried,) = m.retry_failed()
        assert (retried.target.key, retried.status, retried.hits) == ("daily:hooks", "sent", 2)
        assert m.retry_failed() == [] and m.send_digest("daily")[1].status == "nothing"
    finally:
        server.clear()
        server.stop()
    assert receiver.calls == 1 and len(receiver.documents[0]["stories"]) == 2  # type: ignore[arg-type]
    assert m.store.delivery_counts("daily:hooks") == {"sent": 2}  # type: ignore[attr-defined]
    assert m.store.delivery_counts("daily:file") == {"sent": 2}  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- the sender


def message(document: dict[str, object] | None = None) -> Message:
    return Message(
        "daily:hooks",
        "digest",
        "<m1@monitor>",
        "subject",
        "text",
        "<p>html</p>",
        created=datetime(2025, 12, 16, 6, 0, tzinfo=UTC),
        document={"digest": "daily", "stories": []} if document is None else document,
    )


def notifier(url: str, **options: object) -> WebhookNotifier:
    channel = parse_channel({"channel": url, "name": "hooks", **options}, {})
    return WebhookNotifier(channel, sleep=lambda _: None)


@pytest.mark.parametrize(("status", "calls"), [(404, 1), (410, 1), (302, 1), (503, 3), (429, 3)])
def test_a_status_that_cannot_pass_is_not_tried_again(
    httpserver: HTTPServer, status: int, calls: int
) -> None:
    receiver = Receiver(secret=None, fail=5, status=status)
    sender = notifier(hook(httpserver, receiver), retries=2)
    with pytest.raises(NotifyError, match=f"HTTP {status}") as caught:
        sender.send(message())
    assert receiver.calls == calls
    assert re.match(r"daily:hooks: webhook http://localhost:\d+/\*\*\*: HTTP", str(caught.value))
    if status == 302:
        assert "redirects are not followed" in str(caught.value)


def test_a_slow_receiver_times_out(httpserver: HTTPServer) -> None:
    import time

    def slow(request: Request) -> Response:
        time.sleep(1.0)
        return Response("late")

    httpserver.expect_request("/slow").respond_with_handler(slow)
    sender = notifier(httpserver.url_for("/slow"), timeout=0.2, retries=0)
    with pytest.raises(NotifyError, match="no answer: timed out"):
        sender.send(message())


def test_the_receiver_check_in_the_readme_accepts_our_signature_only() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (code,) = [b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "signed_by" in b]
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    check = namespace["signed_by_monitor"]
    body = b'{"digest": "daily", "stories": []}'
    assert check(b"key", body, signature("key", body)) is True
    assert check(b"key", body + b" ", signature("key", body)) is False
    assert check(b"other", body, signature("key", body)) is False


def test_a_message_without_a_document_is_refused(httpserver: HTTPServer) -> None:
    sender = notifier(httpserver.url_for("/hook"))
    with pytest.raises(NotifyError, match="no document"):
        sender.send(Message("daily:hooks", "digest", "<m@monitor>", "s", "t", "h"))
