"""The private-address rule, on its own (pure) and in the fetcher with an injected
resolver that plays a public host on this loopback-only machine."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from pytest_httpserver import HTTPServer

from monitor.feeds import addresses
from monitor.feeds.pages import PageFetcher
from monitor.model import ArticleJob, Entry, FeedState, FetchResult

NOW = datetime(2025, 12, 16, 6, 0, tzinfo=UTC)
PUBLIC = "93.184.216.34"


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("fd00::1", "private"),
        ("0.0.0.0", "reserved"),
        ("100.64.1.1", "reserved"),
        ("not an address", "reserved"),
        (PUBLIC, "public"),
        ("2606:4700::1111", "public"),
    ],
)
def test_address_kinds(address: str, kind: str) -> None:
    assert addresses.kind(address) == kind


def test_origins_and_refusals() -> None:
    assert addresses.is_public([PUBLIC])
    assert not addresses.is_public([PUBLIC, "10.0.0.1"])  # reachable privately: trusted
    assert not addresses.is_public([])
    assert addresses.refusal("cdn.example", [PUBLIC]) is None
    why = addresses.refusal("metadata", ["169.254.169.254"])
    assert why == (
        "refused: a public address led to metadata (169.254.169.254), a link-local address "
        "(set poll.allow_private_redirects to allow it)"
    )
    assert "127.0.0.1, a loopback address" in (addresses.refusal("127.0.0.1", ["127.0.0.1"]) or "")


def resolver(table: dict[str, Sequence[str]]) -> object:
    """Names in the table resolve as it says; any other name is its own address."""
    return lambda host: list(table.get(host, [host]))


@pytest.fixture
def web(threaded_server: HTTPServer) -> HTTPServer:
    threaded_server.clear()
    return threaded_server


def fetcher(**options: object) -> PageFetcher:
    defaults: dict[str, object] = {
        "clock": lambda: NOW,
        "total_timeout": 3,
        "resolver": resolver({"localhost": [PUBLIC]}),
    }
    return PageFetcher(**{**defaults, **options})  # type: ignore[arg-type]


def public_url(web: HTTPServer, path: str) -> str:
    """The server's address under the name our resolver calls public."""
    return web.url_for(path).replace("127.0.0.1", "localhost")


def test_a_public_feed_redirecting_to_loopback_is_refused(web: HTTPServer) -> None:
    web.expect_request("/inner.xml").respond_with_data(b"<rss/>")
    inner = web.url_for("/inner.xml")
    web.expect_request("/feed.xml").respond_with_data("", status=302, headers={"Location": inner})
    feed = FeedState(id="pub", url=public_url(web, "/feed.xml"))
    ((_, outcome),) = list(fetcher().fetch_all([feed]))
    assert not isinstance(outcome, FetchResult)
    assert str(outcome) == (
        f"feed pub ({inner}): refused: a public address led to 127.0.0.1, a loopback address "
        "(set poll.allow_private_redirects to allow it)"
    )
    assert len([r for r, _ in web.log if r.path == "/inner.xml"]) == 0  # never requested
    ((_, allowed),) = list(fetcher(allow_private_redirects=True).fetch_all([feed]))
    assert isinstance(allowed, FetchResult) and allowed.body == b"<rss/>"


def test_a_feed_configured_on_a_private_address_keeps_its_redirects(web: HTTPServer) -> None:
    web.expect_request("/inner.xml").respond_with_data(b"<rss/>")
    web.expect_request("/feed.xml").respond_with_data(
        "", status=301, headers={"Location": public_url(web, "/inner.xml")}
    )
    feed = FeedState(id="lan", url=web.url_for("/feed.xml"))
    ((_, outcome),) = list(fetcher().fetch_all([feed]))
    assert isinstance(outcome, FetchResult)
    assert outcome.permanent_url == public_url(web, "/inner.xml")


def test_a_redirect_to_another_scheme_is_refused(web: HTTPServer) -> None:
    web.expect_request("/feed.xml").respond_with_data(
        "", status=302, headers={"Location": "file:///etc/passwd"}
    )
    ((_, outcome),) = list(fetcher().fetch_all([FeedState(id="f", url=web.url_for("/feed.xml"))]))
    assert "refused: led to a file address" in str(outcome)


def test_an_article_link_from_a_public_feed_to_a_private_address_is_refused(
    web: HTTPServer,
) -> None:
    web.expect_request("/robots.txt").respond_with_data("", status=404)
    web.expect_request("/secret").respond_with_data(b"<p>admin</p>", content_type="text/html")
    entry = Entry(feed_id="pub", id="1", url=web.url_for("/secret"))
    job = ArticleJob(item_id=1, entry=entry, origin=public_url(web, "/feed.xml"))
    ((_, outcome),) = list(fetcher().fetch_pages([job]))
    assert "refused: a public address led to 127.0.0.1, a loopback address" in str(outcome)
    assert [r.path for r, _ in web.log] == []  # not even robots.txt was asked
    lan = ArticleJob(item_id=2, entry=entry, origin=web.url_for("/feed.xml"))
    ((_, page),) = list(fetcher().fetch_pages([lan]))
    assert isinstance(page, FetchResult) and page.body == b"<p>admin</p>"
