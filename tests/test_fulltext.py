"""Full text: a feed that gives only a lead, its article pages on a loopback server, the
seeded rules, a real SQLite file (and PostgreSQL when configured).

Each test polls through the wired job (app.make_monitor) or the stage itself: the pages
are fetched after the feeds, extracted, and matched once the text is in; pages that fail
keep the lead and say why.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import ClassVar
from xml.sax.saxutils import escape

import pytest
from click.testing import CliRunner
from pytest_httpserver import HTTPServer
from sqlalchemy import text
from werkzeug import Request, Response

from monitor.app import Monitor, make_monitor
from monitor.cli import cli
from monitor.config import load_settings
from monitor.feeds.article import extract_text
from monitor.feeds.pages import PageFetcher
from monitor.fulltext import TextStage
from monitor.model import ArticleUpdate, Entry, FeedState, FeedUpdate, Hit
from monitor.rules import compile_rules, load_rules
from monitor.store import Store

from .helpers import DATA, ROOT, FakeClock, feed_list, job_config

PAGES = DATA / "pages"
#: The English page's first sentence: all a lead-only feed says of it.
LEAD = (
    "Transport ministers of the member states met in Baku on Tuesday and approved a plan "
    "to cut transit times along the Middle Corridor."
)


@dataclass
class NewsSite:
    """A lead-only RSS feed and its article pages, each with a scripted reply; counts
    requests and how many were in flight at once."""

    server: HTTPServer
    pages: dict[str, Callable[[], Response]] = field(default_factory=dict)
    robots: str | None = None
    requests: list[str] = field(default_factory=list)
    in_flight: int = 0
    most: int = 0
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return self.server.url_for(path)

    def feed(self, path: str, items: dict[str, str]) -> str:
        """An RSS feed at `path` whose items (page path -> title) carry only LEAD."""
        body = "".join(
            f"<item><title>{escape(title)}</title><link>{self.url(page)}</link>"
            f"<guid>{page}</guid><description>{escape(LEAD)}</description></item>"
            for page, title in items.items()
        )
        rss = (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>Caspian Daily</title>'
            f"<link>{self.url('/')}</link>{body}</channel></rss>"
        ).encode()
        self.server.expect_request(path).respond_with_handler(
            self.counted(lambda: Response(rss, content_type="application/rss+xml"))
        )
        return self.url(path)

    def page(self, path: str, reply: Callable[[], Response] | None = None) -> str:
        html = (PAGES / "en_trend.html").read_bytes()
        self.server.expect_request(path).respond_with_handler(
            self.counted(reply or (lambda: Response(html, content_type="text/html")))
        )
        return path

    def counted(self, reply: Callable[[], Response]) -> Callable[[Request], Response]:
        def handle(request: Request) -> Response:
            with self.lock:
                self.requests.append(request.path)
                self.in_flight += 1
                self.most = max(self.most, self.in_flight)
            try:
                if self.delay:
                    time.sleep(self.delay)
                return reply()
            finally:
                with self.lock:
                    self.in_flight -= 1

        return handle

    def serve_robots(self, request: Request) -> Response:
        if self.robots is None:
            return Response("not found", status=404)
        return Response(self.robots, content_type="text/plain")


@pytest.fixture
def news(threaded_server: HTTPServer) -> NewsSite:
    threaded_server.clear()
    site = NewsSite(threaded_server)
    threaded_server.expect_request("/robots.txt").respond_with_handler(site.serve_robots)
    return site


def config(tmp_path: Path, feeds: dict[str, str], *, full_text: bool, extra: str = "") -> Path:
    poll = (
        f"poll:\n  full_text: {'true' if full_text else 'false'}\n"
        "  read_timeout: 1s\n  total_timeout: 2s\n  full_text_max_bytes: 50KB\n"
    )
    return job_config(tmp_path, poll + extra + feed_list(feeds))


@pytest.fixture
def job(tmp_path: Path, clock: FakeClock) -> Iterator[Callable[..., Monitor]]:
    made: list[Monitor] = []

    def make(feeds: dict[str, str], *, full_text: bool = True, extra: str = "") -> Monitor:
        settings = load_settings(config(tmp_path, feeds, full_text=full_text, extra=extra), {})
        monitor = make_monitor(settings, clock=clock)
        made.append(monitor)
        return monitor

    yield make
    for monitor in made:
        monitor.close()


def items(monitor: Monitor) -> dict[str, dict[str, object]]:
    """guid -> the item's article columns and content, read from the database."""
    with monitor.store.engine.connect() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(
            text("SELECT guid, text_state, text_error, text_attempts, content FROM item")
        ).mappings()
        return {row["guid"]: dict(row) for row in rows}


def hits(monitor: Monitor) -> dict[str, list[tuple[str, list[tuple[str, str, int, int]]]]]:
    """guid -> [(rule id, matches as stored)]."""
    import json

    with monitor.store.engine.connect() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(
            text(
                "SELECT item.guid, hit.rule_id, hit.matches"
                " FROM hit JOIN item ON item.id = hit.item_id"
            )
        ).all()
    out: dict[str, list[tuple[str, list[tuple[str, str, int, int]]]]] = {}
    for guid, rule_id, matches in rows:
        out.setdefault(guid, []).append((rule_id, [tuple(m) for m in json.loads(matches)]))
    return out


# --------------------------------------------------------------------------- the article


def test_a_lead_only_feed_hits_only_with_full_text(
    news: NewsSite, job: Callable[..., Monitor], tmp_path: Path
) -> None:
    news.page("/story/corridor")
    feed = news.feed("/lead.xml", {"/story/corridor": "Turkic states agree on a corridor plan"})

    lead_only = job({"caspian": feed}, full_text=False)
    results = lead_only.poll()
    assert [r.status for r in results] == ["ok"]
    assert "omuraliev" not in {rule for rule, _ in hits(lead_only).get("/story/corridor", [])}
    assert news.requests.count("/story/corridor") == 0
    lead_only.close()
    (tmp_path / "monitor.db").unlink()

    full = job({"caspian": feed}, full_text=True)
    results = full.poll()
    assert [r.status for r in results] == ["ok", "full_text"]
    assert results[0].new_hits == 0  # matched when the text is in, not on the lead
    assert results[1].pages == 1 and results[1].new_hits >= 1
    item = items(full)["/story/corridor"]
    assert item["text_state"] == "fetched"
    content = str(item["content"])
    assert "Kubanychbek Omuraliev" in content
    assert "transit_fan" not in content and "Most read" not in content  # no comments, no menus
    found = dict(hits(full)["/story/corridor"])
    assert "omuraliev" in found
    spans = {content[start:end] for _term, where, start, end in found["omuraliev"]}
    assert {where for _term, where, _s, _e in found["omuraliev"]} == {"content"}
    assert "Secretary General of the Organization of Turkic States" in spans
    assert any("Omuraliev" in span for span in spans), spans
    # A hit is stored once: more cycles neither fetch the page again nor add hits.
    before = hits(full)
    full.clock.advance(days=1)  # type: ignore[attr-defined]
    full.poll()
    assert hits(full) == before
    assert news.requests.count("/story/corridor") == 1


def test_the_article_text_feeds_replay_and_the_archive(
    news: NewsSite, job: Callable[..., Monitor]
) -> None:
    news.page("/story/a")
    monitor = job({"caspian": news.feed("/a.xml", {"/story/a": "Corridor plan"})})
    monitor.poll()
    ((_, entry),) = list(monitor.store.items_since(monitor.clock() - timedelta(days=1)))
    assert entry.summary == LEAD
    assert "Secretary General of the Organization of Turkic States" in entry.content
    assert any(h.rule_id == "omuraliev" for h in monitor.matcher.match(entry))


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (lambda: Response(b"%PDF-1.4", content_type="application/pdf"), "not an HTML page"),
        (lambda: Response(b"<p>" + b"x" * 60_000 + b"</p>", content_type="text/html"), "limit"),
        (lambda: Response("gone", status=404), "HTTP 404"),
        (lambda: Response("<html><body></body></html>", content_type="text/html"), "no article"),
    ],
    ids=["not-html", "too-large", "404", "no-text"],
)
def test_a_page_that_fails_keeps_the_lead_and_says_why(
    news: NewsSite,
    job: Callable[..., Monitor],
    reply: Callable[[], Response],
    reason: str,
) -> None:
    news.page("/story/bad", reply)
    monitor = job({"caspian": news.feed("/bad.xml", {"/story/bad": "Corridor plan"})})
    results = monitor.poll()
    assert results[-1].status == "full_text"
    assert reason in (results[-1].error or "")
    item = items(monitor)["/story/bad"]
    assert item["text_state"] == "failed"
    assert reason in str(item["text_error"])
    assert item["content"] == ""  # the lead stays in the summary; no page text
    report = monitor.text_reports()["caspian"]
    assert (report.fetched, report.failed) == (0, 1)
    assert reason in (report.last_error or "")
    table = CliRunner().invoke(cli, ["--config", str(monitor.settings.source), "feeds"])
    assert table.exit_code == 0, table.output
    assert "0 in, 1 lead only" in table.output
    assert "an article kept the lead:" in table.output


def test_a_page_that_times_out_is_retried_then_keeps_the_lead(
    news: NewsSite, job: Callable[..., Monitor]
) -> None:
    def slow() -> Response:
        time.sleep(1.6)
        return Response("<p>late</p>", content_type="text/html")

    news.page("/story/slow", slow)
    monitor = job(
        {"caspian": news.feed("/slow.xml", {"/story/slow": "Corridor"})},
        extra="  full_text_retries: 1\n",
    )
    started = time.monotonic()
    monitor.poll()
    assert time.monotonic() - started < 5
    item = items(monitor)["/story/slow"]
    assert (item["text_state"], item["text_attempts"]) == ("waiting", 1)
    assert "sent nothing for 1 s" in str(item["text_error"])
    monitor.clock.advance(minutes=6)  # type: ignore[attr-defined]
    monitor.poll()
    item = items(monitor)["/story/slow"]
    assert (item["text_state"], item["text_attempts"]) == ("failed", 2)
    assert news.requests.count("/story/slow") == 2


def test_a_failed_try_then_the_text_gives_one_hit(
    news: NewsSite, job: Callable[..., Monitor]
) -> None:
    html = (PAGES / "en_trend.html").read_bytes()
    replies = iter([Response("busy", status=503)])

    def flaky() -> Response:
        return next(replies, Response(html, content_type="text/html"))

    news.page("/story/flaky", flaky)
    monitor = job({"caspian": news.feed("/flaky.xml", {"/story/flaky": "Corridor"})})
    monitor.poll()
    assert items(monitor)["/story/flaky"]["text_state"] == "waiting"
    assert "/story/flaky" not in hits(monitor)
    monitor.clock.advance(minutes=1)  # type: ignore[attr-defined]
    monitor.poll()  # not due yet: the retry waits five minutes
    assert news.requests.count("/story/flaky") == 1
    monitor.clock.advance(minutes=5)  # type: ignore[attr-defined]
    monitor.poll()
    assert items(monitor)["/story/flaky"]["text_state"] == "fetched"
    assert [rule for rule, _ in hits(monitor)["/story/flaky"]].count("omuraliev") == 1


def test_robots_txt_disallow_is_honoured(news: NewsSite, job: Callable[..., Monitor]) -> None:
    news.robots = "User-agent: *\nAllow: /\n\nUser-agent: monitor\nDisallow: /story/\n"
    news.page("/story/private")
    monitor = job({"caspian": news.feed("/robots.xml", {"/story/private": "Corridor"})})
    monitor.poll()
    assert "/story/private" not in news.requests
    item = items(monitor)["/story/private"]
    assert (item["text_state"], item["text_error"]) == (
        "failed",
        "robots.txt disallows fetching this page",
    )


def test_per_host_limits_hold_across_feed_and_page_fetches(
    news: NewsSite, job: Callable[..., Monitor]
) -> None:
    pages = {news.page(f"/story/{i}"): f"Story {i}" for i in range(8)}
    feeds = {f"f{i}": news.feed(f"/f{i}.xml", dict(list(pages.items())[i::3])) for i in range(3)}
    news.delay = 0.15
    monitor = job(feeds, extra="  per_host: 2\n  concurrency: 10\n")
    results = monitor.poll()
    assert sum(r.pages for r in results) == 8
    assert news.most == 2  # never more than two requests to the host, feeds or pages


def test_a_hosts_retry_after_defers_its_other_pages_without_a_try(
    news: NewsSite, job: Callable[..., Monitor]
) -> None:
    news.page(
        "/story/first", lambda: Response("slow down", status=429, headers={"Retry-After": "600"})
    )
    news.page("/story/second")
    news.delay = 0.05
    monitor = job(
        {"caspian": news.feed("/two.xml", {"/story/first": "One", "/story/second": "Two"})},
        extra="  per_host: 1\n",
    )
    monitor.poll()
    state = items(monitor)
    assert state["/story/first"]["text_attempts"] == 1
    assert state["/story/second"]["text_state"] == "waiting"
    assert state["/story/second"]["text_attempts"] == 0  # not requested: no try counted
    assert "/story/second" not in news.requests


# --------------------------------------------------------------------------- the stage


class Matches:
    """A matcher for the stage tests: a hit for every entry whose content names it."""

    rules: ClassVar[dict[str, object]] = {}

    def match(self, entry: Entry) -> list[Hit]:
        return [Hit(rule_id="omuraliev")] if "Omuraliev" in entry.content else []


def test_an_item_finished_by_another_worker_gets_no_second_hit(
    store: Store, clock: FakeClock
) -> None:
    feed = FeedState(id="f", url="http://127.0.0.1:9/feed.xml", full_text=True)
    store.sync_feeds([feed])
    entry = Entry(feed_id="f", id="g", url="http://127.0.0.1:9/a", title="t")
    polled = FeedState(id="f", url=feed.url, last_polled=clock())
    store.record(FeedUpdate(feed=polled, entries=(entry,), awaiting=("g",)))
    (claimed,) = store.articles_due(clock(), 10)
    assert store.articles_due(clock(), 10) == []  # claimed: another worker skips it
    done = ArticleUpdate(
        claimed.item_id, "fetched", 1, content="Omuraliev", hits=(Hit("omuraliev"),)
    )
    first = store.record_articles([done], clock())
    again = store.record_articles([done], clock())
    assert [len(h) for h in first] == [1]
    assert again == [[]]
    assert store.counts()["hits"] == 1


def test_the_extractor_keeps_every_story_and_none_of_the_clutter() -> None:
    expected = {
        "en_trend.html": (["Kubanychbek Omuraliev", "$100 billion"], ["transit_fan", "SUV"]),
        "tr_haber.html": (["Kubanıçbek Ömüraliyev", "Fuad Muradov"], ["Mehmet K.", "Kredi"]),
        "ru_novosti.html": (["Кубанычбек Омуралиев", "100 млрд"], ["Айдар", "Ипотека"]),
        "az_xeber.html": (["Fuad Muradov", "Azərbaycan evlərinin"], ["Elvin", "aviabilet"]),
    }
    for name, (present, absent) in expected.items():
        body = (PAGES / name).read_bytes()
        article = extract_text(body, None, "text/html; charset=utf-8")
        for words in present:
            assert words in article, (name, words)
            # Beyond a lead: the name comes after the article's first 500 characters.
            assert article.index(words) > 300 or words == "100 млрд", (name, words)
        for words in absent:
            assert words not in article, (name, words)
    assert extract_text(b"", None, None) == ""
    assert extract_text(b"\x00\x01 not a page", None, None) == ""


def test_the_stage_runs_without_the_job(store: Store, clock: FakeClock, news: NewsSite) -> None:
    """The stage on its own: a page fetcher, the extractor, a matcher, the store."""
    news.page("/story/s")
    feed = FeedState(id="f", url=news.url("/f.xml"), full_text=True)
    store.sync_feeds([feed])
    polled = FeedState(id="f", url=feed.url, last_polled=clock())
    entry = Entry(feed_id="f", id="s", url=news.url("/story/s"), title="t", summary=LEAD)
    store.record(FeedUpdate(feed=polled, entries=(entry,), awaiting=("s",)))
    stage = TextStage(store, PageFetcher(clock=clock), Matches(), extract_text, clock=clock)  # type: ignore[arg-type]
    (result,) = list(stage.run())
    assert (result.feed_id, result.pages, result.new_hits) == ("f", 1, 1)
    assert store.text_reports()["f"].fetched == 1
    assert list(stage.run()) == []  # nothing is left to fetch


def test_rules_for_the_stage_load() -> None:
    ruleset = load_rules([ROOT / "rules"])
    assert "omuraliev" in compile_rules(ruleset).rules
