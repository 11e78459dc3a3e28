"""The fetcher on its own: streaming, limits, validators, Retry-After, stopping."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey
from multidict import CIMultiDict, CIMultiDictProxy
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response
from yarl import URL

from monitor.errors import FetchError, NoAnswerError
from monitor.feeds.fetch import ERRORS, HttpFetcher, max_age_seconds, retry_after_seconds
from monitor.model import FeedState, FetchResult, NotModified

NOW = datetime(2025, 12, 16, 6, 0, tzinfo=UTC)


@pytest.fixture
def web(threaded_server: HTTPServer) -> HTTPServer:
    threaded_server.clear()
    return threaded_server


class Held:
    """A reply the server holds back until the test releases it (or 10 s pass)."""

    def __init__(self) -> None:
        self.entered, self.release, self.answered = (threading.Event() for _ in range(3))

    def __call__(self, _request: Request) -> Response:
        self.entered.set()
        self.release.wait(10)
        self.answered.set()
        return Response(b"<rss/>")


def fetcher(**kwargs: object) -> HttpFetcher:
    options: dict[str, object] = {
        "concurrency": 8,
        "per_host": 8,
        "connect_timeout": 1,
        "read_timeout": 1,
        "total_timeout": 3,
        "clock": lambda: NOW,
    }
    options.update(kwargs)
    return HttpFetcher(**options)  # type: ignore[arg-type]


def test_outcomes_stream_in_completion_order(web: HTTPServer) -> None:
    slow = Held()
    web.expect_request("/slow").respond_with_handler(slow)
    web.expect_request("/fast").respond_with_data(b"<rss/>")
    feeds = [
        FeedState(id="slow", url=web.url_for("/slow")),
        FeedState(id="fast", url=web.url_for("/fast")),
    ]
    stream = fetcher(read_timeout=10, total_timeout=10).fetch_all(feeds)
    first_feed, first = next(stream)
    # The fast feed came through while the slow one was asked and had not answered yet.
    assert first_feed.id == "fast"
    assert slow.entered.is_set() and not slow.answered.is_set()
    slow.release.set()
    assert isinstance(first, FetchResult)
    ((second_feed, _),) = list(stream)
    assert second_feed.id == "slow"


def test_validators_are_sent_and_304_comes_back_as_not_modified(web: HTTPServer) -> None:
    seen: list[dict[str, str]] = []

    def conditional(request: Request) -> Response:
        seen.append(dict(request.headers))
        return Response(status=304, headers={"ETag": '"v2"', "Cache-Control": "max-age=600"})

    web.expect_request("/c").respond_with_handler(conditional)
    feed = FeedState(
        id="c", url=web.url_for("/c"), etag='"v1"', last_modified="Mon, 15 Dec 2025 08:00:00 GMT"
    )
    ((_, outcome),) = list(fetcher().fetch_all([feed]))
    assert isinstance(outcome, NotModified)
    assert (outcome.etag, outcome.retry_after) == ('"v2"', 600)
    assert seen[0]["If-None-Match"] == '"v1"'
    assert seen[0]["If-Modified-Since"] == "Mon, 15 Dec 2025 08:00:00 GMT"


def test_the_per_host_limit_holds(web: HTTPServer) -> None:
    active = 0
    peak = 0
    lock = threading.Lock()

    def counted(_request: Request) -> Response:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.1)
        with lock:
            active -= 1
        return Response(b"<rss/>")

    for i in range(6):
        web.expect_request(f"/h{i}").respond_with_handler(counted)
    feeds = [FeedState(id=f"h{i}", url=web.url_for(f"/h{i}")) for i in range(6)]
    outcomes = list(fetcher(per_host=2).fetch_all(feeds))
    assert len(outcomes) == 6
    assert peak == 2


def test_an_http_error_keeps_its_status_and_a_dead_port_has_none(web: HTTPServer) -> None:
    web.expect_request("/missing").respond_with_data(b"no", status=404)
    feeds = [
        FeedState(id="missing", url=web.url_for("/missing")),
        FeedState(id="nowhere", url="http://127.0.0.1:9/feed"),
        FeedState(id="bad-url", url="not a url"),
    ]
    outcomes = {feed.id: outcome for feed, outcome in fetcher().fetch_all(feeds)}
    missing, nowhere, bad = outcomes["missing"], outcomes["nowhere"], outcomes["bad-url"]
    assert isinstance(missing, FetchError) and missing.status == 404
    assert str(missing).startswith(f"feed missing ({web.url_for('/missing')}): HTTP 404")
    assert not isinstance(missing, NoAnswerError)
    assert (missing.feed_id, missing.url) == ("missing", web.url_for("/missing"))
    assert missing.reason.startswith("HTTP 404")
    assert isinstance(nowhere, FetchError) and nowhere.status is None
    assert "cannot connect" in str(nowhere)
    assert isinstance(nowhere, NoAnswerError)  # refused: nothing answered
    assert nowhere.reason.startswith("cannot connect: ")
    assert isinstance(bad, FetchError) and str(bad).startswith("feed bad-url (not a url): ")
    assert not isinstance(bad, NoAnswerError)  # a bad URL asks nothing of the network


def test_a_local_file(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "feed.xml"
    path.write_bytes(b"<rss/>")
    feed = FeedState(id="file", url=path.as_uri())
    ((_, outcome),) = list(fetcher().fetch_all([feed]))
    assert isinstance(outcome, FetchResult) and outcome.body == b"<rss/>"
    again = FeedState(id="file", url=path.as_uri(), last_modified=outcome.last_modified)
    ((_, second),) = list(fetcher().fetch_all([again]))
    assert isinstance(second, NotModified)
    ((_, missing),) = list(
        fetcher().fetch_all([FeedState(id="x", url=(path.parent / "no.xml").as_uri())])
    )
    # A file that cannot be read: a failure of the feed, with no HTTP status to fake.
    assert isinstance(missing, FetchError) and not isinstance(missing, NoAnswerError)
    assert missing.status is None
    assert missing.reason == "No such file or directory"


def test_setting_stop_cancels_requests_in_flight(web: HTTPServer) -> None:
    hang = Held()
    web.expect_request("/hang").respond_with_handler(hang)
    stop = threading.Event()
    f = fetcher(stop=stop, read_timeout=10, total_timeout=10)

    def stop_once_asked() -> None:
        hang.entered.wait(10)
        stop.set()

    threading.Thread(target=stop_once_asked, daemon=True).start()
    try:
        ((_, outcome),) = list(f.fetch_all([FeedState(id="hang", url=web.url_for("/hang"))]))
        # The fetch gave up on stop, without waiting for the server's answer.
        assert not hang.answered.is_set()
    finally:
        hang.release.set()
    assert isinstance(outcome, FetchError) and "stopping" in str(outcome)
    assert outcome.reason == "cancelled, the job is stopping"


def test_closing_the_stream_early_cancels_the_rest(web: HTTPServer) -> None:
    slowish = Held()

    web.expect_request("/quick").respond_with_data(b"<rss/>")
    web.expect_request("/later").respond_with_handler(slowish)
    stream = fetcher().fetch_all(
        [
            FeedState(id="later", url=web.url_for("/later")),
            FeedState(id="quick", url=web.url_for("/quick")),
        ]
    )
    try:
        feed, _ = next(stream)
        assert feed.id == "quick"
        stream.close()  # type: ignore[attr-defined]
        # Closing did not wait for the slow answer: the request in flight was cancelled.
        assert not slowish.answered.is_set()
    finally:
        slowish.release.set()


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        ("Tue, 16 Dec 2025 07:00:00 GMT", 3600.0),
        ("Mon, 15 Dec 2025 07:00:00 GMT", 0.0),
        ("soon", None),
        (None, None),
    ],
)
def test_retry_after(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value, NOW) == seconds


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("public, max-age=300", 300.0),
        ('max-age="60"', 60.0),
        ("no-cache, max-age=300", None),
        ("no-store", None),
        ("s-maxage=100", None),
        (None, None),
    ],
)
def test_max_age(value: str | None, seconds: float | None) -> None:
    assert max_age_seconds(value) == seconds


# --------------------------------------------------------------------------- errors


def test_a_500_is_a_fetch_error_with_its_status_and_a_silent_server_is_no_answer(
    web: HTTPServer,
) -> None:
    def silent(_request: Request) -> Response:
        time.sleep(2)
        return Response(b"<rss/>")

    web.expect_request("/boom").respond_with_data(b"oops", status=500)
    web.expect_request("/silent").respond_with_handler(silent)
    feeds = [
        FeedState(id="boom", url=web.url_for("/boom")),
        FeedState(id="silent", url=web.url_for("/silent")),
    ]
    outcomes = {feed.id: outcome for feed, outcome in fetcher(read_timeout=0.3).fetch_all(feeds)}
    boom, silent_ = outcomes["boom"], outcomes["silent"]
    assert isinstance(boom, FetchError) and not isinstance(boom, NoAnswerError)
    assert (boom.status, boom.reason) == (500, "HTTP 500 INTERNAL SERVER ERROR")
    assert isinstance(silent_, NoAnswerError) and silent_.status is None
    assert silent_.reason == "the server sent nothing for 0.3 s"


KEY = ConnectionKey("feeds.example.org", 443, True, True, None, None, None)
REQUEST = aiohttp.RequestInfo(
    URL("https://feeds.example.org/a.xml"),
    "GET",
    CIMultiDictProxy(CIMultiDict()),
    URL("https://feeds.example.org/a.xml"),
)


@pytest.mark.parametrize(
    ("error", "kind", "reason", "status"),
    [
        (
            aiohttp.ClientConnectorError(KEY, ConnectionRefusedError(111, "Connection refused")),
            NoAnswerError,
            "cannot connect: Connection refused",
            None,
        ),
        (
            aiohttp.ClientConnectorDNSError(KEY, OSError(-2, "Name or service not known")),
            NoAnswerError,
            "cannot resolve the host name: Name or service not known",
            None,
        ),
        (aiohttp.ConnectionTimeoutError(), NoAnswerError, "no connection within 1 s", None),
        (aiohttp.SocketTimeoutError(), NoAnswerError, "the server sent nothing for 1 s", None),
        (TimeoutError(), NoAnswerError, "timed out after 3 s", None),
        (
            aiohttp.ServerDisconnectedError(),
            NoAnswerError,
            "the server closed the connection before answering",
            None,
        ),
        (
            aiohttp.ClientOSError(104, "Connection reset by peer"),
            NoAnswerError,
            "ClientOSError: [Errno 104] Connection reset by peer",
            None,
        ),
        (aiohttp.TooManyRedirects(REQUEST, ()), FetchError, "more than 5 redirects", 300),
        (
            aiohttp.ClientResponseError(REQUEST, (), status=502, message="Bad Gateway"),
            FetchError,
            "ClientResponseError: 502, message='Bad Gateway', "
            "url='https://feeds.example.org/a.xml'",
            502,
        ),
        (
            aiohttp.ClientPayloadError("Response payload is not completed"),
            FetchError,
            "the body was cut off or badly encoded (Response payload is not completed)",
            None,
        ),
        (aiohttp.InvalidURL("not a url"), FetchError, "InvalidURL: not a url", None),
    ],
)
def test_aiohttp_errors_map_to_ours(
    error: BaseException, kind: type[FetchError], reason: str, status: int | None
) -> None:
    feed = FeedState(id="a", url="https://feeds.example.org/a.xml")
    mapped = fetcher().error_for(feed, error)
    assert type(mapped) is kind
    assert (mapped.feed_id, mapped.url, mapped.reason, mapped.status) == (
        "a",
        feed.url,
        reason,
        status,
    )
    assert str(mapped) == f"feed a (https://feeds.example.org/a.xml): {reason}"
    assert mapped.__cause__ is error


def test_the_status_of_the_response_being_read_wins() -> None:
    feed = FeedState(id="a", url="https://feeds.example.org/a.xml")
    cut = fetcher().error_for(feed, aiohttp.ClientPayloadError("cut"), status=200)
    assert (type(cut), cut.status) == (FetchError, 200)


def test_every_row_of_the_table_is_reachable() -> None:
    """A row below a row that catches a base class of its exception would never match."""
    for i, row in enumerate(ERRORS):
        for earlier in ERRORS[:i]:
            assert not issubclass(row.catches, earlier.catches), (row, earlier)
