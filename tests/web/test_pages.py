"""Every page of the archive, every filter, and the bad parameters: a clear line and 400,
never a 500. Run with the app's test client over a real store (SQLite, and PostgreSQL when
configured)."""

from __future__ import annotations

import base64
import re
from datetime import timedelta

import pytest
from sqlalchemy import text

from .conftest import Newsroom


def titles(html: str) -> list[str]:
    """The story titles a list shows, marks removed, in order."""
    found = re.findall(r'<a class="title" href="[^"]*">(.*?)</a>', html, re.S)
    return [re.sub(r"</?mark>", "", t) for t in found]


def problem(html: str) -> str:
    found = re.search(r'<p class="problem">(.*?)</p>', html, re.S)
    assert found, html
    return found.group(1)


# --------------------------------------------------------------------------- stories


def test_the_stories_page_lists_matched_stories_newest_first(newsroom: Newsroom) -> None:
    page = newsroom.client.get("/")
    assert page.status_code == 200
    assert titles(page.text) == [
        "Omuraliev visits the OTS diaspora in Kazan",
        "&lt;script&gt;alert(1)&lt;/script&gt; OTS diaspora",
        "Türkiye sets a $60 billion trade target",
        "Кубанычбек Омуралиев встретился с послами",
        "Diaspora forum of the OTS",
    ]
    assert "Weather in Bishkek" not in page.text  # no rule matched it
    every = newsroom.client.get("/?all=1")
    assert "Weather in Bishkek" in titles(every.text)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("topic=trade", ["Türkiye sets a $60 billion trade target"]),
        (
            "tag=people",
            [
                "Omuraliev visits the OTS diaspora in Kazan",
                "Кубанычбек Омуралиев встретился с послами",
            ],
        ),
        (
            "priority=high",
            [
                "Omuraliev visits the OTS diaspora in Kazan",
                "Кубанычбек Омуралиев встретился с послами",
            ],
        ),
        (
            "feed=akipress",
            [
                "Omuraliev visits the OTS diaspora in Kazan",
                "Кубанычбек Омуралиев встретился с послами",
            ],
        ),
        (
            "since=2025-12-05&until=2025-12-12",
            [
                "Türkiye sets a $60 billion trade target",
                "Кубанычбек Омуралиев встретился с послами",
            ],
        ),
        ("until=2025-12-04", ["Diaspora forum of the OTS"]),
        (
            "feed=akipress&all=1&since=2025-12-10",
            ["Omuraliev visits the OTS diaspora in Kazan", "Weather in Bishkek"],
        ),
        (
            "topic=omuraliev&tag=people&since=2025-12-10",
            ["Omuraliev visits the OTS diaspora in Kazan"],
        ),
        ("topic=ots-diaspora&tag=people", []),
    ],
)
def test_each_filter_narrows_the_list(newsroom: Newsroom, query: str, expected: list[str]) -> None:
    page = newsroom.client.get(f"/?{query}")
    assert page.status_code == 200
    assert titles(page.text) == expected


def test_the_list_pages_through_the_stories(newsroom: Newsroom) -> None:
    archive_client = newsroom.app_client(page_size=2)
    first = archive_client.get("/?all=1")
    second = archive_client.get("/?all=1&page=2")
    last = archive_client.get("/?all=1&page=4")
    assert len(titles(first.text)) == 2 and 'href="/?all=1&amp;page=2">older' in first.text
    assert titles(second.text)[0] == "Türkiye sets a $60 billion trade target"
    assert titles(last.text) == ["OTS summit opens in Baku"]
    assert "older →" not in last.text
    beyond = archive_client.get("/?all=1&page=9")
    assert beyond.status_code == 200 and "No more stories." in beyond.text


# --------------------------------------------------------------------------- search


def test_search_takes_the_rule_syntax_and_folds_like_the_rules(newsroom: Newsroom) -> None:
    """Omuraliev finds the Cyrillic story too, as a rule would; the words are marked."""
    page = newsroom.client.get("/?q=Omuraliev")
    assert titles(page.text) == [
        "Omuraliev visits the OTS diaspora in Kazan",
        "Кубанычбек Омуралиев встретился с послами",
    ]
    assert "<mark>Омуралиев</mark>" in page.text
    assert 'href="/story/3?q=Omuraliev"' in page.text


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('"trade target"', ["Türkiye sets a $60 billion trade target"]),
        (
            "diaspor* AND NOT Kazan",
            ["&lt;script&gt;alert(1)&lt;/script&gt; OTS diaspora", "Diaspora forum of the OTS"],
        ),
        (
            "title:diaspora AND NOT Kazan",
            ["&lt;script&gt;alert(1)&lt;/script&gt; OTS diaspora", "Diaspora forum of the OTS"],
        ),
        (
            "summary:diaspora",
            [
                "Omuraliev visits the OTS diaspora in Kazan",
                "&lt;script&gt;alert(1)&lt;/script&gt; OTS diaspora",
                "Diaspora forum of the OTS",
            ],
        ),
        ("entity:omuraliev AND diaspora", ["Omuraliev visits the OTS diaspora in Kazan"]),
        ("amount:>=50e9", ["Türkiye sets a $60 billion trade target"]),
        ("Bishkek OR Baku", []),
        ("feed:akipress AND sunny", []),
    ],
)
def test_search_matches_as_a_rule_does(newsroom: Newsroom, query: str, expected: list[str]) -> None:
    page = newsroom.client.get("/", params={"q": query})
    assert page.status_code == 200
    assert titles(page.text) == expected


def test_search_over_items_no_rule_matched(newsroom: Newsroom) -> None:
    assert titles(newsroom.client.get("/", params={"q": "Bishkek OR Baku", "all": "1"}).text) == [
        "Weather in Bishkek",
        "OTS summit opens in Baku",
    ]
    both = newsroom.client.get("/", params={"q": "feed:akipress AND sunny", "all": "1"})
    assert titles(both.text) == ["Weather in Bishkek"]


def test_the_index_follows_new_and_pruned_items(newsroom: Newsroom) -> None:
    store = newsroom.store
    assert store.index_items() == 0  # the newsroom indexed everything
    store.prune(newsroom.clock.now - timedelta(days=10))
    page = newsroom.client.get("/", params={"q": "OTS", "all": "1"})
    assert "OTS summit opens in Baku" not in titles(page.text)
    assert "Omuraliev visits the OTS diaspora in Kazan" in titles(page.text)


# --------------------------------------------------------------------------- a story


def test_a_story_shows_its_hits_explained_and_where_they_went(newsroom: Newsroom) -> None:
    page = newsroom.client.get("/story/7")
    assert page.status_code == 200
    html = page.text
    assert (
        "<mark>Omuraliev</mark> visits the <mark>OTS</mark> <mark>diaspora</mark> in Kazan" in html
    )
    assert "It matched because the title has “Omuraliev” and the summary has “Omuraliev”." in html
    assert "the title has “OTS” and “diaspora”" in html
    assert "rules/topics.yaml:" in html  # each rule's file and line
    assert "<code>entity:omuraliev</code>" in html
    assert re.search(r"<td>daily:file</td><td>digest</td><td[^>]*>sent", html)
    assert "2025-12-16 06:00 UTC" in html
    assert "AKIpress" in html and 'href="https://akipress.com/7"' in html


def test_a_story_opened_from_a_search_marks_the_searched_words(newsroom: Newsroom) -> None:
    page = newsroom.client.get("/story/5", params={"q": "sets"})
    assert "Türkiye <mark>sets</mark> a" in page.text
    assert "back to the search" in page.text


def test_feed_text_is_escaped_and_only_http_links_are_shown(newsroom: Newsroom) -> None:
    page = newsroom.client.get("/story/6")
    assert "<script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; the" in page.text
    assert "javascript:" not in page.text
    listing = newsroom.client.get("/")
    assert "javascript:" not in listing.text and "<script>" not in listing.text


def test_an_unknown_story_is_404_and_a_bad_number_400(newsroom: Newsroom) -> None:
    missing = newsroom.client.get("/story/999")
    assert missing.status_code == 404 and "no story 999" in missing.text
    bad = newsroom.client.get("/story/-1")
    assert bad.status_code == 400 and "is not a story number" in problem(bad.text)
    huge = newsroom.client.get("/story/" + "9" * 40)
    assert huge.status_code == 400


# --------------------------------------------------------------------------- topics, feeds


def test_topics_show_every_rule_with_a_chart_its_last_hit_and_its_file(newsroom: Newsroom) -> None:
    page = newsroom.client.get("/topics")
    html = page.text
    assert page.status_code == 200
    for name in ("OTS and the diaspora", "Omuraliev", "Trade target"):
        assert name in html
    assert html.count('<svg class="chart"') == 3
    assert html.count("<rect ") == 90  # 30 days each
    assert "2025-12-15: 1 hit" in html and "2025-12-01: 0 hits" in html
    assert re.search(r"rules/topics\.yaml:\d+", html)
    assert "2025-12-15 06:00 UTC" in html  # the last hit of omuraliev and ots-diaspora


def test_feeds_show_the_health_table(newsroom: Newsroom) -> None:
    from monitor.model import FeedState, FeedUpdate

    now = newsroom.clock.now
    broken = FeedState(
        id="akipress",
        url="https://akipress.com/rss/news.rss",
        last_polled=now,
        error_count=1,
        last_error="HTTP 503 <Service Unavailable>",
    )
    newsroom.store.record_states([FeedUpdate(feed=broken)])
    page = newsroom.client.get("/feeds")
    assert page.status_code == 200
    row = re.search(r"<tr>\s*<td><a[^>]*>akipress</a>.*?</tr>", page.text, re.S)
    assert row and 'class="status error">error' in row.group(0)
    assert "HTTP 503 &lt;Service Unavailable&gt;" in row.group(0)
    assert 'class="status ok">ok' in page.text  # trend


# --------------------------------------------------------------------------- try a query


def test_try_a_query_over_a_period(newsroom: Newsroom) -> None:
    assert newsroom.client.get("/try").status_code == 200
    page = newsroom.client.post("/try", data={"mode": "query", "text": "diaspora", "period": "7d"})
    assert page.status_code == 200
    found = "Checked the 2 items the full-text index found stored since 2025-12-09 06:00 UTC"
    assert found in page.text
    assert titles(page.text) == [
        "Omuraliev visits the OTS diaspora in Kazan",
        "&lt;script&gt;alert(1)&lt;/script&gt; OTS diaspora",
    ]


def test_try_a_rule_file_in_place_of_a_configured_one(newsroom: Newsroom) -> None:
    rules = "rules:\n  - id: ots-diaspora\n    name: OTS\n    query: OTS\n"
    page = newsroom.client.post(
        "/try", data={"mode": "file", "name": "topics.yaml", "text": rules, "period": "30d"}
    )
    assert page.status_code == 200
    row = re.search(r"<tr><td>OTS <span.*?</tr>", page.text)
    assert row
    assert re.findall(r'<td class="num">(\d+)</td>', row.group(0)) == ["4", "3", "1", "0"]


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"mode": "query", "text": "diaspora AND (", "period": "30d"}, "query, at character"),
        ({"mode": "query", "text": "", "period": "30d"}, "give a query"),
        ({"mode": "query", "text": "x", "period": "soon"}, "period: not a duration"),
        ({"mode": "query", "text": "x", "period": "0s"}, "longer than zero"),
        ({"mode": "maybe", "text": "x", "period": "30d"}, "is not query or file"),
        (
            {"mode": "file", "name": "../etc/passwd", "text": "rules: []", "period": "30d"},
            "not a rule file name",
        ),
        (
            {
                "mode": "file",
                "name": "topics.yaml",
                "text": "rules:\n  - id: x\n    query: 'a AND ('\n",
                "period": "30d",
            },
            "topics.yaml:3:",
        ),
        (
            {"mode": "file", "name": "new.yaml", "text": "entities: []\n", "period": "30d"},
            "has no rules",
        ),
        ({"mode": "query", "text": "x" * 10_000, "period": "30d"}, "10,000 characters is too long"),
    ],
)
def test_try_refuses_bad_input_on_the_page(
    newsroom: Newsroom, form: dict[str, str], message: str
) -> None:
    page = newsroom.client.post("/try", data=form)
    assert page.status_code == 400
    assert message in problem(page.text)


# --------------------------------------------------------------------------- bad parameters


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("since=2025-13-01", "since: &#39;2025-13-01&#39; is not a date (write YYYY-MM-DD)"),
        ("until=yesterday", "until: &#39;yesterday&#39; is not a date"),
        ("since=2025-12-10&until=2025-12-01", "since (2025-12-10) is after until (2025-12-01)"),
        ("page=-1", "page: &#39;-1&#39; is not a page number (1 to 10,000)"),
        ("page=0", "is not a page number"),
        ("page=abc", "is not a page number"),
        ("page=10001", "is not a page number"),
        ("q=" + "a" * 10_000, "q: 10,000 characters is too long (at most 1,000)"),
        ("q=%22unclosed", "query, at character 1: syntax error: unclosed quote"),
        ("q=diaspora%20AND%20(", "syntax error"),
        ("q=NOT%20sport", "no term that must be present"),
        ("q=entity:nobody", "no entity &#39;nobody&#39;"),
        ("q=a%00b", "control character U+0000"),
        ("topic=nothing", "topic: no rule &#39;nothing&#39;"),
        ("tag=nothing", "tag: no rule has the tag &#39;nothing&#39;"),
        ("feed=nothing", "feed: no feed &#39;nothing&#39;"),
        ("priority=urgent", "priority: &#39;urgent&#39; is not high or normal"),
    ],
)
def test_a_bad_parameter_is_a_clear_400(newsroom: Newsroom, query: str, message: str) -> None:
    page = newsroom.client.get(f"/?{query}")
    assert page.status_code == 400
    assert message in problem(page.text)
    assert "Traceback" not in page.text


# --------------------------------------------------------------------------- security


def test_every_response_carries_the_security_headers(newsroom: Newsroom) -> None:
    for path in ("/", "/story/1", "/topics", "/feeds", "/try", "/nothing", "/?page=-1"):
        response = newsroom.client.get(path)
        csp = response.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"


def test_no_request_changes_state(newsroom: Newsroom) -> None:
    before = newsroom.store.counts()
    for method in ("post", "put", "delete", "patch"):
        assert getattr(newsroom.client, method)("/").status_code == 405
        assert getattr(newsroom.client, method)("/story/1").status_code == 405
    assert newsroom.store.counts() == before


def test_the_pages_store_refuses_to_write(newsroom: Newsroom) -> None:
    from monitor.errors import StoreError
    from monitor.web.server import reader

    store = reader(newsroom.settings)
    try:
        assert store.counts()["items"] == 7
        with pytest.raises(StoreError), store._session() as s:
            s.execute(text("DELETE FROM hit"))
    finally:
        store.close()
    assert newsroom.store.counts()["hits"] > 0


@pytest.mark.parametrize(
    "path",
    [
        "/static/",
        "/static/../monitor.yaml",
        "/static/%2e%2e/monitor.yaml",
        "/static/app.js",
        "/templates/web/base.html",
        "/rules/topics.yaml",
    ],
)
def test_no_directory_listing_and_no_path_outside_the_app(newsroom: Newsroom, path: str) -> None:
    response = newsroom.client.get(path)
    assert response.status_code == 404
    assert "rules:" not in response.text and "storage:" not in response.text


def test_the_stylesheet_is_served_by_the_app(newsroom: Newsroom) -> None:
    css = newsroom.client.get("/static/app.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "mark {" in css.text


TOKEN = "s3cret-token-for-the-tests"


def test_with_a_token_every_request_must_bring_it(newsroom: Newsroom) -> None:
    client = newsroom.app_client(token=TOKEN)
    refused = client.get("/")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Basic")
    assert "default-src 'none'" in refused.headers["content-security-policy"]
    assert client.get("/", headers={"Authorization": "Bearer wrong-token"}).status_code == 401
    assert client.get("/", headers={"Authorization": "Basic !!!"}).status_code == 401
    assert client.get("/", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    basic = base64.b64encode(f"analyst:{TOKEN}".encode()).decode()
    assert client.get("/topics", headers={"Authorization": f"Basic {basic}"}).status_code == 200
