"""The layout analysts read: the topic that explains a story, why it matched in words, the
terms that explain it highlighted, http(s) links only, CSS inlined for mail clients.

Hits come from the real rules in rules/ matching the newsroom's items (tests/newsdesk.py).
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest

from monitor.layout import build, needed, safe_url
from monitor.model import Batch, Entry, RenderJob, Rule, RuleSet, StoredHit
from monitor.render import Renderer
from monitor.rules import compile_rules, load_rules
from monitor.rules.query import parse_query

from . import newsdesk as nd
from .helpers import ROOT

NOW = datetime(2025, 12, 16, 6, 0, tzinfo=UTC)
UTC_ZONE = ZoneInfo("UTC")


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return load_rules([ROOT / "rules"])


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(ROOT / "templates")


def entities(ruleset: RuleSet) -> dict[str, str]:
    return {e.id: e.name for e in ruleset.entities}


def stored(ruleset: RuleSet, items: list[Entry], story: int | None = None) -> list[StoredHit]:
    """The hits the real rules find in these entries, as the store hands them over."""
    matcher = compile_rules(ruleset)
    out: list[StoredHit] = []
    for entry in items:
        for hit in matcher.match(entry):
            out.append(StoredHit.of(len(out) + 1, entry, hit, NOW, story))
    return out


def render(renderer: Renderer, ruleset: RuleSet, hits: list[StoredHit], kind: str = "digest"):  # type: ignore[no-untyped-def]
    return renderer.render(
        RenderJob(
            kind=kind,
            batch=Batch("daily:file", "<m@monitor>", tuple(hits)),
            title="Turkic daily",
            rules=ruleset.by_id(),
            now=NOW,
            entities=entities(ruleset),
        )
    )


# --------------------------------------------------------------------------- topics


def test_the_reception_goes_under_omuraliev_not_the_ambassador_named_in_the_text(
    ruleset: RuleSet,
) -> None:
    hits = stored(ruleset, [nd.entry(i) for i in nd.RECEPTION], story=7)
    matched = {h.rule_id for h in hits}
    assert {"omuraliev", "khazar-ibrahim", "ots-diaspora"} <= matched
    layout = build(hits, ruleset.by_id(), entities(ruleset), UTC_ZONE)
    (story,) = layout.stories
    assert story.topic_id == "omuraliev"
    assert "Khazar Ibrahim, Azerbaijan's ambassador to the US" in story.also_topics
    assert story.why == "names Kubanychbek Omuraliev"
    # The wire was first; the same item through its second feed and the daily follow.
    assert story.feed == "Turan Wire"
    assert [c.feed for c in story.also_reported] == ["Turan Wire: World", "Bosphorus Daily"]


def test_a_story_naming_the_ambassador_in_its_headline_goes_under_him(ruleset: RuleSet) -> None:
    entry = Entry(
        "report",
        "r-1",
        "https://report.example.net/en/khazar-ibrahim-diaspora",
        "Khazar Ibrahim hosts Azerbaijani diaspora leaders in Washington",
        "Azerbaijan's Ambassador to the United States Khazar Ibrahim met community leaders; "
        "OTS Secretary General Kubanychbek Omuraliev sent a message.",
        published=NOW,
        feed_title="Caspian Report",
    )
    (story,) = build(stored(ruleset, [entry]), ruleset.by_id(), entities(ruleset), UTC_ZONE).stories
    assert story.topic_id == "khazar-ibrahim"


def test_why_names_the_entity_the_phrase_and_the_amount_without_query_syntax(
    ruleset: RuleSet,
) -> None:
    (story,) = build(
        stored(ruleset, [nd.entry(nd.TRADE[0])]), ruleset.by_id(), entities(ruleset), UTC_ZONE
    ).stories
    # filed under the rule that covers the headline best (Türkiye and Azerbaijan trade)
    assert story.topic_id == "turkiye-turkic-trade"
    assert story.why == "names Türkiye; names trade, investment or transport; names Azerbaijan"
    plan = nd.entry(nd.BUDAPEST[0])
    (budapest,) = build(
        stored(ruleset, [plan]), ruleset.by_id(), entities(ruleset), UTC_ZONE
    ).stories
    assert not re.search(r"entity:|amount:|~\d|\*|\[", budapest.why)


def test_only_the_terms_that_explain_the_match_are_highlighted(ruleset: RuleSet) -> None:
    # ots-diaspora: entity:ots AND (diaspor* OR compatriot* OR ...): the text says
    # "diaspora" three times and names the OTS twice; one mark each is enough.
    entry = nd.entry(nd.BUDAPEST[0])
    hits = [h for h in stored(ruleset, [entry]) if h.rule_id == "ots-diaspora"]
    assert sum(1 for m in hits[0].matches if m.field == "summary") >= 4
    (story,) = build(hits, ruleset.by_id(), entities(ruleset), UTC_ZONE).stories
    marked = [text for text, on in story.snippet if on]
    assert marked == ["diaspora", "Organization of Turkic States"]
    assert [text for text, on in story.title if on] == ["OTS", "diaspora"]


def test_of_an_or_the_alternative_in_the_headline_explains() -> None:
    tree = parse_query("Turkic AND (energy OR trade)")
    found = {"Turkic": (1, 5), "energy": (1, 40), "trade": (0, 10)}
    assert [leaf.text for leaf in needed(tree, found) or []] == ["Turkic", "trade"]
    assert needed(parse_query("a AND b"), {"a": (0, 0)}) is None
    assert needed(parse_query("a AND NOT b"), {"a": (0, 0)}) is not None


def test_a_rule_changed_since_the_hit_still_renders(ruleset: RuleSet, renderer: Renderer) -> None:
    hits = stored(ruleset, [nd.entry(nd.TRADE[0])])
    rules = dict(ruleset.by_id())
    rules["turkiye-turkic-trade"] = replace(rules["turkiye-turkic-trade"], query="(((")
    message = renderer.render(
        RenderJob(
            kind="digest",
            batch=Batch("d:file", "<m@x>", tuple(hits)),
            title="T",
            rules=rules,
            now=NOW,
        )
    )
    # Without the query, every matched term is named, as the item wrote it.
    (why,) = [line for line in message.text.splitlines() if line.strip().startswith("Why:")]
    assert "mentions Türkiye" in why and "mentions Azerbaijan" in why
    assert not re.search(r"entity:|amount:|~\d|\(", why)


# --------------------------------------------------------------------------- output safety

BAD_LINKS = [
    "javascript:alert(document.cookie)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
    "//evil.example.com/x",
    "https:///no-host",
    "ftp://files.example.com/x",
]


@pytest.mark.parametrize("link", BAD_LINKS)
def test_only_http_and_https_are_links(link: str) -> None:
    assert safe_url(link) is None


def test_safe_links_stay_links() -> None:
    assert safe_url("https://example.org/a?x=1&y=2") == "https://example.org/a?x=1&y=2"
    assert safe_url("HTTP://EXAMPLE.ORG/") == "HTTP://EXAMPLE.ORG/"


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.styled = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if "href" in values:
            self.hrefs.append(values["href"] or "")
        if values.get("style"):
            self.styled += 1


@pytest.mark.parametrize("kind", ["digest", "alert"])
def test_bad_links_from_feeds_never_become_hrefs(
    ruleset: RuleSet, renderer: Renderer, kind: str
) -> None:
    entries = [
        replace(nd.entry(item), url=BAD_LINKS[i % len(BAD_LINKS)])
        for i, item in enumerate([*nd.TRADE, nd.UZBEK_TRADE])
    ]
    message = render(renderer, ruleset, stored(ruleset, entries, story=None), kind)
    page = Links()
    page.feed(message.html)
    assert all(h.startswith("#") for h in page.hrefs), page.hrefs
    assert "javascript:alert(document.cookie)" in message.html  # shown as text...
    assert "link not shown as a link" in message.text  # ...in both parts
    assert all(copy.url is None for story in message.stories for copy in story.items)


def test_the_html_is_email_safe(ruleset: RuleSet, renderer: Renderer) -> None:
    message = render(renderer, ruleset, stored(ruleset, [nd.entry(i) for i in nd.FIRST_POLL]))
    page = Links()
    page.feed(message.html)
    assert page.styled > 50  # the stylesheet went into style attributes
    assert all(h.startswith(("https://", "http://", "#")) for h in page.hrefs)
    style = re.search(r"<style>(.*?)</style>", message.html, re.S)
    assert style is None or style.group(1).strip().startswith("@media")
    assert 'role="presentation"' in message.html  # tables for the clients that need them
    # The overview: stories per topic, and the top stories.
    assert "At a glance" in message.html and "Top stories" in message.html
    assert "AT A GLANCE" in message.text and "TOP STORIES" in message.text


def test_feed_text_is_escaped(ruleset: RuleSet, renderer: Renderer) -> None:
    entry = replace(nd.entry(nd.TRADE[0]), title='Trade <script>alert("x")</script> $60 billion')
    message = render(renderer, ruleset, stored(ruleset, [entry]))
    assert "<script>" not in message.html
    assert "&lt;script&gt;" in message.html


def test_rules_without_a_name_or_a_topic_fall_back_to_ids(renderer: Renderer) -> None:
    hit = StoredHit(1, "gone-rule", "f", "Feed", "g", "Title", None, "text", None, NOW)
    message = renderer.render(
        RenderJob(
            kind="digest",
            batch=Batch("d:file", "<m@x>", (hit,)),
            title="T",
            rules={"other": Rule("other", "Other", "x")},
            now=NOW,
        )
    )
    assert "gone-rule" in message.text and message.stories[0].topic == "gone-rule"


def test_a_match_only_in_the_full_text_is_shown_from_the_full_text() -> None:
    """A full_text feed's hit may lie past the lead: the snippet comes from the article."""
    from monitor.layout import explain
    from monitor.model import StoredHit, TermMatch

    article = "The summit opened with a long list of speeches. " * 3 + "Omuraliev spoke last."
    at = article.index("Omuraliev")
    hit = StoredHit(
        id=1,
        rule_id="omuraliev",
        feed_id="f",
        feed_title="F",
        item_id="i",
        title="Summit ends",
        url=None,
        summary="A short lead without the name.",
        published=None,
        fetched=NOW,
        matches=(TermMatch("omuraliev", "content", at, at + len("Omuraliev")),),
        content=article,
    )
    explained = explain(hit, None, {})
    assert ("Omuraliev", True) in explained.snippet(hit)
    assert explained.why == "mentions Omuraliev"
    lead_only = replace(hit, content="")  # no full text stored: the lead, unmarked
    assert all(not marked for _, marked in explain(lead_only, None, {}).snippet(lead_only))
