"""Poll cycles against a real HTTP server on 127.0.0.1 and a real SQLite file.

One test per behaviour of the poller: 304, identical body, 429 with Retry-After, 500 then
recovery, a server slower than the timeout, an oversized body, 301 and 308, 410, malformed
XML, the inputs that make feedparser raise, JSON Feed, ISO-8859-9, a network outage. Every
cycle also polls a healthy feed, which must come through untouched. The clock is injected;
nothing reaches the internet.
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from monitor.app import parsers_for
from monitor.feeds.fetch import HttpFetcher
from monitor.feeds.health import Limits
from monitor.model import Entry, FeedState, FeedUpdate, Hit, PollResult, Rule
from monitor.poll import Poller, inline
from monitor.protocols import PollStore
from monitor.store import Store

from .helpers import DATA, FakeClock

POLL = DATA / "poll"
RSS = "application/rss+xml"
MIN = 900  # the feeds' min interval (s)


def load(name: str) -> bytes:
    return (POLL / name).read_bytes()


# --------------------------------------------------------------------------- a feed site


@dataclass
class Reply:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = RSS
    delay: float = 0.0
    #: Answer 304 when the request carries this ETag.
    etag: str | None = None
    on_request: Callable[[], object] | None = None


@dataclass
class Site:
    """Serves scripted replies per path (the last one repeats) and records requests."""

    server: HTTPServer
    replies: dict[str, list[Reply]] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return self.server.url_for(path)

    def serve(self, path: str, *replies: Reply) -> str:
        self.replies[path] = list(replies)
        self.server.expect_request(path).respond_with_handler(self.handle)
        return self.url(path)

    def hits(self, path: str) -> list[dict[str, str]]:
        return [headers for p, headers in self.requests if p == path]

    def handle(self, request: Request) -> Response:
        with self.lock:
            self.requests.append((request.path, dict(request.headers)))
            queue = self.replies[request.path]
            reply = queue.pop(0) if len(queue) > 1 else queue[0]
        if reply.on_request is not None:
            reply.on_request()
        if reply.delay:
            time.sleep(reply.delay)
        if reply.etag and request.headers.get("If-None-Match") == reply.etag:
            return Response(status=304, headers={"ETag": reply.etag})
        headers = dict(reply.headers)
        if reply.etag:
            headers["ETag"] = reply.etag
        return Response(
            reply.body, status=reply.status, headers=headers, content_type=reply.content_type
        )


@pytest.fixture
def site(threaded_server: HTTPServer) -> Site:
    threaded_server.clear()
    return Site(threaded_server)


# --------------------------------------------------------------------------- the poller


class TitleMatcher:
    """A tiny matcher: a hit for every entry whose title holds the word."""

    def __init__(self, word: str = "ministers", priority: str = "normal") -> None:
        self.word = word
        self.priority = priority
        self.rules = {f"rule-{word}": Rule(id=f"rule-{word}", name=word, query=word)}

    def match(self, entry: Entry) -> list[Hit]:
        if self.word in entry.title.lower():
            return [Hit(rule_id=f"rule-{self.word}", priority=self.priority)]  # type: ignore[arg-type]
        return []


class CountingParser:
    """Parses in this process and counts the bodies it was given."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(
        self, feed_id: str, body: bytes, content_type: str | None, url: str | None
    ) -> object:
        from monitor.feeds.parse import parse_feed

        self.calls.append(feed_id)
        return parse_feed(feed_id, body, content_type=content_type, url=url)


@dataclass
class World:
    store: Store
    clock: FakeClock
    fetcher: HttpFetcher
    parser: CountingParser
    matcher: TitleMatcher
    limits: Limits = field(default_factory=Limits)

    def feeds(self, **urls: str) -> None:
        self.store.sync_feeds(
            [
                FeedState(id=fid, url=url, min_interval=MIN, max_interval=6 * 3600)
                for fid, url in urls.items()
            ]
        )

    def poller(self, **kwargs: object) -> Poller:
        options: dict[str, object] = {
            "clock": self.clock,
            "parsers": inline(self.parser),
            "rng": random.Random(7),
            "limits": self.limits,
        }
        options.update(kwargs)
        store: PollStore = self.store  # the Store is what a poll cycle needs of a store
        return Poller(store, self.fetcher, self.matcher, **options)  # type: ignore[arg-type]

    def poll(self, **kwargs: object) -> dict[str, PollResult]:
        return {r.feed_id: r for r in self.poller(**kwargs).run()}

    def later(self, **kwargs: float) -> None:
        """Move the clock on, past every feed's next poll unless told otherwise."""
        self.clock.advance(**(kwargs or {"days": 2}))

    def state(self, feed_id: str) -> FeedState:
        return {f.id: f for f in self.store.feeds()}[feed_id]

    def wait(self, feed_id: str) -> float:
        state = self.state(feed_id)
        assert state.next_poll is not None
        return (state.next_poll - self.clock()).total_seconds()


@pytest.fixture
def world(tmp_path: Path, clock: FakeClock) -> Iterator[World]:
    store = Store(f"sqlite:///{tmp_path / 'monitor.db'}")
    store.migrate()
    fetcher = HttpFetcher(
        concurrency=8,
        per_host=4,
        connect_timeout=1,
        read_timeout=0.5,
        total_timeout=1.5,
        max_bytes=20_000,
        max_redirects=3,
        clock=clock,
    )
    yield World(store, clock, fetcher, CountingParser(), TitleMatcher())
    store.close()


def good(site: Site) -> str:
    """The healthy feed every cycle polls beside the misbehaving one."""
    return site.serve("/good.xml", Reply(load("rss.xml")))


def assert_good_feed_arrived(world: World, results: dict[str, PollResult]) -> None:
    assert results["good"].status == "ok"
    assert results["good"].new_items == 3
    assert results["good"].new_hits == 1


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------- behaviours


def test_304_is_a_success_that_is_never_parsed(world: World, site: Site) -> None:
    url = site.serve("/cond.xml", Reply(load("rss.xml"), etag='"v1"'))
    world.feeds(cond=url)
    assert world.poll()["cond"].new_items == 3
    world.later()
    result = world.poll()["cond"]
    assert result.status == "not_modified"
    assert world.parser.calls == ["cond"]  # parsed once, on the first 200
    assert site.hits("/cond.xml")[-1]["If-None-Match"] == '"v1"'
    state = world.state("cond")
    assert state.error_count == 0
    assert state.last_success == world.clock()


def test_conditional_get_can_be_turned_off_per_feed(world: World, site: Site) -> None:
    url = site.serve("/nocond.xml", Reply(load("rss.xml"), etag='"v1"'))
    world.store.sync_feeds([FeedState(id="nocond", url=url, conditional=False)])
    world.poll()
    world.later()
    assert world.poll()["nocond"].status == "unchanged"
    assert "If-None-Match" not in site.hits("/nocond.xml")[-1]


def test_an_identical_body_is_not_parsed(world: World, site: Site) -> None:
    # This server ignores validators and sends the same bytes every time.
    url = site.serve("/same.xml", Reply(load("rss.xml"), headers={"ETag": '"always-new"'}))
    world.feeds(same=url)
    world.poll()
    world.later()
    assert world.poll()["same"].status == "unchanged"
    assert world.parser.calls == ["same"]
    assert world.store.counts()["items"] == 3


def test_429_with_retry_after_waits_at_least_that_long(world: World, site: Site) -> None:
    url = site.serve(
        "/busy.xml",
        Reply(b"slow down", status=429, headers={"Retry-After": "7200"}),
        Reply(b"slow down", status=429, headers={"Retry-After": "7200"}),
        Reply(load("rss_v2.xml")),
    )
    world.feeds(busy=url, good=good(site))
    results = world.poll()
    assert results["busy"].status == "error"
    assert "HTTP 429" in (results["busy"].error or "")
    assert_good_feed_arrived(world, results)
    assert world.wait("busy") >= 7200  # far beyond the 900 s backoff
    assert world.state("busy").error_count == 1


def test_a_host_that_asked_to_wait_is_not_asked_again_in_the_same_cycle(
    world: World, site: Site
) -> None:
    first = site.serve(
        "/a.xml", Reply(b"busy", status=503, headers={"Retry-After": "600"}, delay=0.2)
    )
    second = site.serve("/b.xml", Reply(load("rss.xml")))
    world.fetcher.per_host = 1  # one request at a time: /a.xml answers first
    world.feeds(a=first, b=second)
    results = world.poll()
    assert results["a"].status == "error"
    # Not requested is no failure of its own (issue 15: it used to count as an error).
    assert results["b"].status == "deferred"
    assert "asked us to wait" in (results["b"].error or "")
    assert site.hits("/b.xml") == []


def test_500_then_recovery_with_exponential_backoff(world: World, site: Site) -> None:
    url = site.serve(
        "/flaky.xml",
        Reply(b"oops", status=500),
        Reply(b"oops", status=500),
        Reply(b"oops", status=500),
        Reply(load("rss.xml")),
    )
    world.feeds(flaky=url, good=good(site))
    waits = []
    for count in (1, 2, 3):
        results = world.poll()
        assert results["flaky"].status == "error"
        assert "HTTP 500" in (results["flaky"].error or "")
        state = world.state("flaky")
        assert state.error_count == count
        waits.append(world.wait("flaky"))
        world.later(seconds=waits[-1] + 1)
    assert MIN * 0.9 <= waits[0] <= MIN * 1.1
    assert 2 * MIN * 0.9 <= waits[1] <= 2 * MIN * 1.1
    assert 4 * MIN * 0.9 <= waits[2] <= 4 * MIN * 1.1
    results = world.poll()
    assert results["flaky"].status == "ok"
    assert results["flaky"].new_items == 3
    state = world.state("flaky")
    assert (state.error_count, state.last_error) == (0, None)


def test_backoff_is_capped_and_never_gives_up(world: World, site: Site) -> None:
    url = site.serve("/down.xml", Reply(b"no", status=502))
    world.feeds(down=url)
    for _ in range(12):
        world.poll(max_backoff=3600)
        assert world.wait("down") <= 3600 * 1.1
        world.later(hours=2)
    assert world.state("down").error_count == 12
    assert world.state("down").next_poll is not None


def test_a_server_slower_than_the_timeout(world: World, site: Site) -> None:
    url = site.serve("/slow.xml", Reply(load("rss.xml"), delay=4))
    world.feeds(slow=url, good=good(site))
    started = time.monotonic()
    results = world.poll()
    assert time.monotonic() - started < 3.5
    assert results["slow"].status == "error"
    assert "sent nothing for 0.5 s" in (results["slow"].error or "")
    assert_good_feed_arrived(world, results)
    assert world.state("slow").error_count == 1


def test_an_oversized_body_is_cut_off(world: World, site: Site) -> None:
    huge = load("rss.xml").replace(b"</channel>", b"<!--" + b"x" * 50_000 + b"--></channel>")
    url = site.serve("/huge.xml", Reply(huge))
    world.feeds(huge=url, good=good(site))
    results = world.poll()
    assert results["huge"].status == "error"
    assert "over the 20000-byte limit" in (results["huge"].error or "")
    assert_good_feed_arrived(world, results)


def test_an_oversized_body_without_content_length_is_cut_off_while_streaming(
    world: World, site: Site
) -> None:
    chunk = b"<!--" + b"y" * 4000 + b"-->\n"

    def stream(_request: Request) -> Response:
        return Response((chunk for _ in range(20)), content_type=RSS)  # chunked, no length

    site.server.expect_request("/stream.xml").respond_with_handler(stream)
    world.feeds(stream=site.url("/stream.xml"))
    result = world.poll()["stream"]
    assert result.status == "error"
    assert "stopped reading" in (result.error or "")


@pytest.mark.parametrize("code", [301, 308])
def test_a_permanent_redirect_updates_the_stored_url(world: World, site: Site, code: int) -> None:
    new = site.serve("/new.xml", Reply(load("rss.xml")))
    old = site.serve("/old.xml", Reply(status=code, headers={"Location": new}))
    world.feeds(moved=old, good=good(site))
    results = world.poll()
    assert results["moved"].new_items == 3
    assert world.state("moved").url == new
    (notice,) = world.store.feed_notices(world.clock())
    assert f"feed moved moved permanently from {old} to {new}" in notice
    world.later()
    world.poll()
    assert len(site.hits("/old.xml")) == 1  # the next poll goes to the new address


def test_a_temporary_redirect_keeps_the_stored_url(world: World, site: Site) -> None:
    target = site.serve("/target.xml", Reply(load("rss.xml")))
    url = site.serve("/temp.xml", Reply(status=302, headers={"Location": target}))
    world.feeds(temp=url)
    assert world.poll()["temp"].new_items == 3
    assert world.state("temp").url == url


def test_too_many_redirects(world: World, site: Site) -> None:
    url = site.serve("/loop.xml", Reply(status=302, headers={"Location": "/loop.xml"}))
    world.feeds(loop=url, good=good(site))
    results = world.poll()
    assert "more than 3 redirects" in (results["loop"].error or "")
    assert_good_feed_arrived(world, results)


def test_410_marks_the_feed_gone_and_says_so_once(world: World, site: Site) -> None:
    url = site.serve("/gone.xml", Reply(b"gone", status=410))
    world.feeds(gone=url, good=good(site))
    results = world.poll()
    assert results["gone"].status == "gone"
    assert_good_feed_arrived(world, results)
    state = world.state("gone")
    assert state.gone
    assert world.wait("gone") >= 3600 * 0.9  # tried again at the backoff cap, never dropped
    (notice,) = world.store.feed_notices(world.clock())
    assert notice.startswith(f"feed gone ({url}) is gone: the server answered 410 Gone")
    assert world.store.feed_notices(world.clock()) == []
    world.later()
    world.poll()
    assert world.store.feed_notices(world.clock()) == []  # still gone: not told again


def test_a_gone_feed_is_tried_again_only_at_the_backoff_cap(world: World, site: Site) -> None:
    url = site.serve("/gone.xml", Reply(b"gone", status=410))
    world.feeds(gone=url)
    world.poll(max_backoff=7200)
    assert 7200 * 0.9 <= world.wait("gone") <= 7200 * 1.1  # not the 900 s of a first failure
    assert world.state("gone").error_count == 1


def test_a_failure_is_stored_as_its_reason_and_logged_in_full(
    world: World, site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    url = site.serve("/boom.xml", Reply(b"oops", status=500))
    world.feeds(boom=url)
    with caplog.at_level(logging.WARNING, logger="monitor.poll"):
        result = world.poll()["boom"]
    # The row and the result name the feed already: they keep the reason alone.
    assert result.error == "HTTP 500 INTERNAL SERVER ERROR"
    assert world.state("boom").last_error == "HTTP 500 INTERNAL SERVER ERROR"
    assert f"feed boom ({url}): HTTP 500 INTERNAL SERVER ERROR (error 1 in a row" in caplog.text


def test_malformed_xml_and_a_page_that_is_no_feed(world: World, site: Site) -> None:
    cut = site.serve("/cut.xml", Reply(load("malformed.xml")))
    page = site.serve("/page.xml", Reply(load("not_a_feed.html"), content_type="text/html"))
    world.feeds(cut=cut, page=page, good=good(site))
    results = world.poll()
    assert results["cut"].status == "ok"  # the lenient parser keeps what is readable
    assert results["cut"].new_items == 1
    assert results["page"].status == "error"
    assert (results["page"].error or "").startswith("not a feed")  # the row names the feed
    assert_good_feed_arrived(world, results)


@pytest.mark.parametrize(
    "name", ["crash_charref.xml", "crash_image_width.xml", "crash_textinput.xml"]
)
def test_inputs_that_make_feedparser_raise(world: World, site: Site, name: str) -> None:
    url = site.serve(f"/{name}", Reply(load(name)))
    world.feeds(crash=url, good=good(site))
    results = world.poll()
    assert results["crash"].status == "ok"
    assert results["crash"].new_items == 1
    assert_good_feed_arrived(world, results)


def test_a_json_feed(world: World, site: Site) -> None:
    url = site.serve(
        "/feed.json", Reply(load("jsonfeed_1_1.json"), content_type="application/feed+json")
    )
    world.feeds(json=url, good=good(site))
    results = world.poll()
    assert results["json"].new_items == 2
    assert world.state("json").title == "Turkic Digital JSON"
    assert_good_feed_arrived(world, results)


def test_a_feed_declared_iso_8859_9(world: World, site: Site) -> None:
    url = site.serve("/haber.xml", Reply(load("iso8859_9.xml"), content_type="text/xml"))
    world.feeds(haber=url)
    assert world.poll()["haber"].new_items == 1
    items = [entry for _, entry in world.store.items_since(world.clock() - timedelta(days=1))]
    assert items[0].title == "Türk Devletleri Teşkilatı zirvesi İstanbul'da toplandı"


def network_outage(world: World, *others: FeedState, others_worked: bool = False) -> None:
    """Feeds `one` and `two` on two hosts behind a closed port, beside `others`: the two
    worked on the last poll, an hour ago (and `others` too if `others_worked`)."""
    port = closed_port()
    feeds = [
        FeedState(id="one", url=f"http://127.0.0.1:{port}/a.xml", min_interval=MIN),
        FeedState(id="two", url=f"http://127.0.0.2:{port}/b.xml", min_interval=MIN),
    ]
    world.store.sync_feeds([*feeds, *others])
    worked = [*feeds, *others] if others_worked else feeds
    before = world.clock() - timedelta(hours=1)
    world.store.record_states(
        [FeedUpdate(feed=replace(f, last_polled=before, last_success=before)) for f in worked]
    )


def test_a_network_outage_is_not_counted_against_the_feeds(world: World) -> None:
    network_outage(world)
    results = world.poll()
    assert {r.status for r in results.values()} == {"error"}
    assert all("network outage, not counted" in (r.error or "") for r in results.values())
    for feed_id in ("one", "two"):
        assert world.state(feed_id).error_count == 0
        assert MIN <= world.wait(feed_id) <= MIN * 1.1


def test_a_local_feed_answering_does_not_hide_a_network_outage(world: World) -> None:
    """The bundled sample and file:// feeds are read from disk: their answer says nothing
    about the network."""
    disk = FeedState(id="disk", url=(POLL / "rss.xml").as_uri(), min_interval=MIN)
    network_outage(world, disk)
    results = world.poll()
    assert results["disk"].status == "ok" and results["disk"].new_items > 0
    assert all("network outage, not counted" in (results[f].error or "") for f in ("one", "two"))
    assert world.state("one").error_count == world.state("two").error_count == 0


def test_a_missing_file_is_a_failure_of_its_feed_even_in_a_network_outage(
    world: World, tmp_path: Path
) -> None:
    lost = FeedState(id="lost", url=(tmp_path / "no-such.xml").as_uri(), min_interval=MIN)
    network_outage(world, lost, others_worked=True)
    results = world.poll()
    assert all("network outage, not counted" in (results[f].error or "") for f in ("one", "two"))
    assert results["lost"].status == "error"
    assert results["lost"].error == "No such file or directory"
    assert world.state("lost").error_count == 1
    assert world.state("one").error_count == world.state("two").error_count == 0


def test_feeds_that_never_worked_are_counted_even_when_nothing_answers(world: World) -> None:
    port = closed_port()
    world.feeds(one=f"http://127.0.0.1:{port}/a.xml", two=f"http://127.0.0.2:{port}/b.xml")
    results = world.poll()
    assert all("network outage" not in (r.error or "") for r in results.values())
    assert world.state("one").error_count == world.state("two").error_count == 1


def test_one_unreachable_feed_among_answering_ones_is_counted(world: World, site: Site) -> None:
    port = closed_port()
    world.feeds(dead=f"http://127.0.0.2:{port}/a.xml", good=good(site))
    results = world.poll()
    assert "cannot connect" in (results["dead"].error or "")
    assert world.state("dead").error_count == 1
    assert_good_feed_arrived(world, results)


def test_every_misbehaviour_in_one_cycle_loses_nothing(world: World, site: Site) -> None:
    urls = {
        "busy": site.serve("/z/busy", Reply(b"x", status=429)),
        "boom": site.serve("/z/boom", Reply(b"x", status=500)),
        "slow": site.serve("/z/slow", Reply(load("rss.xml"), delay=2.5)),
        "gone": site.serve("/z/gone", Reply(b"x", status=410)),
        "page": site.serve("/z/page", Reply(load("not_a_feed.html"), content_type="text/html")),
        "charref": site.serve("/z/charref", Reply(load("crash_charref.xml"))),
        "json": site.serve("/z/json", Reply(load("jsonfeed_1_0.json"))),
        "haber": site.serve("/z/haber", Reply(load("iso8859_9.xml"))),
        "dead": f"http://127.0.0.2:{closed_port()}/x.xml",
        "good": good(site),
    }
    world.feeds(**urls)
    results = world.poll()
    assert set(results) == set(urls)
    assert {k for k, r in results.items() if r.status == "ok"} == {
        "charref",
        "json",
        "haber",
        "good",
    }
    assert results["gone"].status == "gone"
    assert_good_feed_arrived(world, results)
    assert world.store.counts()["items"] == 3 + 1 + 1 + 1


def test_a_changed_guid_with_the_same_content_is_not_new(world: World, site: Site) -> None:
    url = site.serve("/cw.xml", Reply(load("rss.xml")), Reply(load("rss_v2.xml")))
    world.feeds(cw=url)
    assert world.poll()["cw"].new_items == 3
    world.later()
    result = world.poll()["cw"]
    assert result.new_items == 1  # the grid memorandum; the republished item is not new
    assert world.store.counts()["items"] == 4


def test_next_poll_follows_the_rhythm_within_bounds(world: World, site: Site) -> None:
    url = site.serve("/cw.xml", Reply(load("rss.xml")))
    world.feeds(cw=url)
    world.poll()
    # 3 items in the week before the clock's now: a poll about every 7 d / 3 / 2 = 28 h,
    # held to the max interval of 6 h.
    assert 6 * 3600 * 0.9 <= world.wait("cw") <= 6 * 3600 * 1.1
    assert world.state("cw").items_per_week == 3


def test_cache_control_and_ttl_are_honoured_up_to_the_backoff_cap(world: World, site: Site) -> None:
    cached = site.serve(
        "/cached.xml", Reply(load("rss.xml"), headers={"Cache-Control": "public, max-age=4000"})
    )
    ttl = site.serve("/ttl.xml", Reply(load("ttl.xml")))
    forever = site.serve(
        "/forever.xml", Reply(load("atom.xml"), headers={"Cache-Control": "max-age=31536000"})
    )
    world.store.sync_feeds(
        [
            FeedState(id="cached", url=cached, min_interval=300, max_interval=3000),
            FeedState(id="ttl", url=ttl, min_interval=300, max_interval=3000),
            FeedState(id="forever", url=forever, min_interval=300, max_interval=3000),
        ]
    )
    world.poll(max_backoff=86_400)
    assert world.wait("cached") >= 4000  # beyond its max interval: the server asked
    assert world.wait("ttl") >= 12 * 3600
    assert world.wait("forever") <= 86_400  # a year's max-age stops at the cap


def test_jitter_spreads_feeds_that_were_due_together(world: World, site: Site) -> None:
    urls = {f"f{i}": site.serve(f"/j{i}.xml", Reply(load("rss.xml"))) for i in range(6)}
    world.feeds(**urls)
    world.poll(rng=random.Random())
    waits = {round(world.wait(f)) for f in urls}
    assert len(waits) > 1


def test_failing_feeds_and_silent_feeds_are_reported_once(world: World, site: Site) -> None:
    failing = site.serve("/failing.xml", Reply(b"no", status=503))
    quiet = site.serve("/quiet.xml", Reply(load("rss.xml"), etag='"q"'))
    world.limits = Limits(fail_after=3)
    world.feeds(failing=failing, quiet=quiet)
    for _ in range(5):
        world.poll()
        world.later(hours=7)
    notices = world.store.feed_notices(world.clock())
    assert len([n for n in notices if "failed 3 times in a row" in n]) == 1
    world.later(days=6)
    world.poll()
    notices = world.store.feed_notices(world.clock())
    assert any(n.startswith(f"feed quiet ({quiet}) has published nothing new for") for n in notices)
    world.later(hours=7)
    world.poll()
    assert world.store.feed_notices(world.clock()) == []
    assert world.state("quiet").health == "silent"


def test_high_priority_hits_come_back_for_alerts(world: World, site: Site) -> None:
    world.matcher = TitleMatcher("ferry", priority="high")
    url = site.serve("/cw.xml", Reply(load("rss.xml")))
    world.feeds(cw=url)
    result = world.poll()["cw"]
    assert result.new_hits == 1
    assert len(result.alert_hit_ids) == 1


def test_parsing_in_worker_processes(world: World, site: Site) -> None:
    urls = {
        "a": site.serve("/p/a", Reply(load("rss.xml"))),
        "b": site.serve("/p/b", Reply(load("crash_textinput.xml"))),
        "c": site.serve("/p/c", Reply(load("not_a_feed.html"))),
        "d": site.serve("/p/d", Reply(load("jsonfeed_1_1.json"))),
    }
    world.feeds(**urls)
    results = world.poll(parsers=parsers_for(2, min_feeds=2))
    assert {k: r.new_items for k, r in results.items()} == {"a": 3, "b": 1, "c": 0, "d": 2}
    assert results["c"].status == "error"
    assert world.parser.calls == []  # not parsed in this process


def test_stopping_gives_the_unfinished_feeds_back(world: World, site: Site) -> None:
    stop = threading.Event()
    urls = {f"s{i}": site.serve(f"/s{i}.xml", Reply(load("rss.xml"))) for i in range(4)}
    # The third request arrives as the job is told to stop (SIGTERM, Ctrl-C). The second
    # answer takes a second, so the job has taken the first one by then, however busy the
    # machine (without it, the fetcher could reach the third before the job took the first).
    site.replies["/s1.xml"] = [Reply(load("rss.xml"), delay=1.0)]
    site.replies["/s2.xml"] = [Reply(load("rss.xml"), on_request=stop.set)]
    world.fetcher.concurrency = world.fetcher.per_host = 1
    world.feeds(**urls)
    results = world.poll(stop=stop)
    # s0 is always done; s1 too unless the stop overtook it (a busy machine).
    assert "s0" in results
    assert set(results) <= {"s0", "s1"}
    assert {f.id for f in world.store.feeds_due(world.clock())} == set(urls) - set(results)
    assert world.store.counts()["items"] == 3 * len(results)


def test_claims_of_a_few_feeds_poll_every_due_feed_once(world: World, site: Site) -> None:
    """With claims of 2 feeds, one run polls all 5 due feeds, each once, in 3 claims, and
    leaves none due."""
    urls = {f"c{n}": site.serve(f"/c{n}.xml", Reply(load("rss.xml"))) for n in range(5)}
    world.feeds(**urls)
    started: list[int] = []
    claims: list[int] = []
    store = world.store
    real = store.feeds_due

    def counting(now: object, limit: int | None = None) -> list[FeedState]:
        due = real(now, limit)  # type: ignore[arg-type]
        claims.append(len(due))
        return due

    store.feeds_due = counting  # type: ignore[method-assign]
    results = world.poll(claim=2, on_start=started.append)
    assert sorted(results) == sorted(urls)
    assert all(r.status == "ok" and r.new_items for r in results.values())
    assert claims == [2, 2, 1]
    assert started == [2]
    assert all(len(site.hits(f"/c{n}.xml")) == 1 for n in range(5))
    assert real(world.clock(), 2) == []  # nothing is due any more


def test_a_claim_limit_takes_the_longest_due_first(world: World, site: Site) -> None:
    world.feeds(a=site.serve("/a.xml", Reply(load("rss.xml"))))
    world.poll()
    world.later(hours=1)
    world.feeds(
        a=site.url("/a.xml"), b=site.serve("/b.xml", Reply(load("rss.xml")))
    )  # b was never polled: it is the longest due
    world.later(days=2)
    assert [f.id for f in world.store.feeds_due(world.clock(), 1)] == ["b"]
    assert [f.id for f in world.store.feeds_due(world.clock(), 1)] == ["a"]
    assert world.store.feeds_due(world.clock(), 1) == []
