"""The fast path against feedparser: wherever fastparse accepts a body, parse_feed gives
exactly the entries (and feed title and ttl) that feedparser gives.

Runs both paths over every feed in tests/data and the bundled sample, then over generated
RSS 2.0, RSS 1.0 and Atom 1.0 documents (hypothesis) that mix the elements, attributes,
namespaces and text the port handles with some it must decline.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import feedparser.mixin
import pytest
from feedparser.datetimes import _parse_date
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from monitor.errors import ParseError
from monitor.feeds import fastparse
from monitor.feeds.fastcore import FEEDPARSER_ENDS, FEEDPARSER_STARTS, Decline
from monitor.feeds.items import content_hash, fingerprint, html_to_text
from monitor.feeds.parse import parse_feed
from monitor.model import ParsedFeed

from ..helpers import DATA, ROOT

FEED_URL = "https://feeds.example.org/news/feed.xml"
#: Every feed body the tests keep: fixtures, malformed files, the bundled sample.
BODIES = sorted(
    [p for p in DATA.rglob("*") if p.suffix in (".xml", ".html", ".json", ".rss", ".atom")]
    + [ROOT / "monitor" / "data" / "sample.xml"]
)


def both(body: bytes, content_type: str | None = None) -> tuple[object, object]:
    """parse_feed through the fast path and through feedparser alone: a ParsedFeed or the
    ParseError's reason, each."""
    out: list[object] = []
    for fast in (True, False):
        try:
            out.append(parse_feed("f", body, content_type=content_type, url=FEED_URL, fast=fast))
        except ParseError as e:
            out.append(f"ParseError: {e.reason}")
    return out[0], out[1]


def accepted(body: bytes, content_type: str | None = None) -> bool:
    return fastparse.parse(body, content_type, _parse_date) is not None


def taken_and_read_alike(body: bytes) -> ParsedFeed:
    """The fast path takes `body` and reads it as feedparser does: the feed it read."""
    assert accepted(body)
    fast, slow = both(body)
    assert isinstance(fast, ParsedFeed)
    assert fast == slow
    return fast


def test_the_handler_names_are_feedparsers() -> None:
    """The port declines every element whose feedparser handler it does not carry, so its
    list of feedparser's handlers must be the installed feedparser's."""
    names = dir(feedparser.mixin._FeedParserMixin)
    starts = {n.removeprefix("_start_") for n in names if n.startswith("_start_")}
    ends = {n.removeprefix("_end_") for n in names if n.startswith("_end_")}
    assert starts == FEEDPARSER_STARTS
    assert ends == FEEDPARSER_ENDS


@pytest.mark.parametrize("path", BODIES, ids=lambda p: str(p.relative_to(ROOT)))
@pytest.mark.parametrize("content_type", [None, "application/rss+xml; charset=utf-8", "text/xml"])
def test_every_stored_feed_reads_the_same_both_ways(path: Path, content_type: str | None) -> None:
    body = path.read_bytes()
    fast, slow = both(body, content_type)
    assert fast == slow


def test_the_fast_path_takes_the_well_formed_fixtures_and_leaves_the_rest() -> None:
    took = {p.name for p in BODIES if accepted(p.read_bytes())}
    assert {"seed_rss.xml", "seed_atom.xml", "rss.xml", "atom.xml", "sample.xml"} <= took
    assert not took & {
        "broken.xml",  # not well-formed
        "malformed.xml",
        "crash_charref.xml",
        "not_a_feed.html",  # a DOCTYPE, and HTML
        "iso8859_9.xml",  # another encoding
        "jsonfeed_1_1.json",
    }


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"<rss><channel><item><title>a</title></channel></rss>", "not well-formed"),
        (b"<html><body><p>hello</p></body></html>", "root element html"),
        (b'<?xml version="1.0" encoding="iso-8859-1"?><rss/>', "declared encoding"),
        (
            b'<rss><channel><item><title xmlns="urn:x">t</title></item></channel></rss>',
            "namespace feedparser does not know",
        ),
        (
            b"<rss><channel><item xml:base='http://a/'><title>t</title></item></channel></rss>",
            "xml:base",
        ),
        (b"<rss><channel><item><title>a <b>b</b></title></item></channel></rss>", "markup"),
        (b"<rss><channel><title>empty</title></channel></rss>", "no entries"),
        (
            b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><content type="xhtml">'
            b'<div xmlns="http://www.w3.org/1999/xhtml">x</div></content></entry></feed>',
            "XHTML",
        ),
        (
            b"<rss><channel><item><georss:point xmlns:georss='http://www.georss.org/georss'>"
            b"1 2</georss:point></item></channel></rss>",
            "not ported",
        ),
    ],
)
def test_what_the_fast_path_declines(body: bytes, why: str) -> None:
    with pytest.raises(Decline, match=why):
        fastparse.read(body, None, _parse_date)
    fast, slow = both(body)
    assert fast == slow  # feedparser read it instead


def test_a_body_its_declared_encoding_cannot_read_is_left_to_feedparser() -> None:
    """text/xml without a charset means US-ASCII; a body that is not ASCII then has its
    encoding guessed by feedparser (chardet), which the fast path cannot know."""
    body = (
        "<rss><channel><item><title>a</title><title>\u015f</title></item></channel></rss>"
    ).encode()
    with pytest.raises(Decline, match="would guess"):
        fastparse.read(body, "text/xml", _parse_date)
    assert accepted(body, "text/xml; charset=utf-8")
    fast, slow = both(body, "text/xml")
    assert fast == slow


def test_garbage_is_still_one_parse_error() -> None:
    with pytest.raises(ParseError, match="not a feed"):
        parse_feed("junk", b"\x00\x01 this is no feed", url=FEED_URL)


# --------------------------------------------------------------------------- generated feeds

_TEXT = st.lists(
    st.sampled_from(
        [
            *"ab Z09 -_.,;:/?=#\t\n&<>\"'éşİəЖ中€\u00a0\x80\x93",
            *["&amp;", "Ã©", "Ã", "&lt;b&gt;", "<p>", "</p>", "<br/>", "&nbsp;", "&bogus;"],
            *["http://", "https:////x", "mailto:a@b.org", " (Name)", "]]>", "a@b.org"],
        ]
    ),
    max_size=8,
).map("".join)
_DATES = st.sampled_from(
    [
        "Mon, 15 Dec 2025 08:00:00 GMT",
        "Tue, 16 Dec 2025 10:30:00 +0300",
        "16 Dec 2025 10:30 EST",
        "2025-12-15T08:00:00Z",
        "2025-12-15T08:00:00+05:00",
        "2025-12-15",
        "yesterday",
        "",
        "Fri, 31 Dec 9999 23:59:59 -1200",
    ]
)
_LANGS = st.sampled_from([None, "en", "tr_TR", "", "az-Latn"])


def _text_node(text: str, cdata: bool) -> str:
    if cdata and "]]>" not in text:
        return f"<![CDATA[{text}]]>"
    return escape(text).replace("\x93", "&#x93;").replace("é", "&#233;")


@st.composite
def _element(draw: st.DrawFn, atom: bool) -> str:
    """One child of an entry: a known element, an unknown one, or one to decline."""
    names = (
        ["title", "summary", "content", "id", "published", "updated", "author", "category"]
        if atom
        else ["title", "link", "description", "guid", "pubDate", "author", "category"]
    )
    names += [
        "dc:creator",
        "dc:date",
        "dc:title",
        "content:encoded",
        "media:title",
        "media:description",
        "media:thumbnail",
        "media:content",
        "comments",
        "slash:comments",
        "source",
        "enclosure",
        "itunes:summary",
        "x:custom",
        "link",
    ]
    name = draw(st.sampled_from(names))
    attrs = ""
    if draw(st.booleans()):
        attrs += f" xml:lang={quoteattr(draw(_LANGS) or '')}"
    if name == "guid" and draw(st.booleans()):
        attrs += f" isPermaLink={quoteattr(draw(st.sampled_from(['true', 'false', 'TRUE'])))}"
    if name in ("title", "summary", "content", "description") and draw(st.booleans()):
        kind = draw(st.sampled_from(["text", "html", "text/plain", "TEXT/HTML", "xhtml"]))
        attrs += f" type={quoteattr(kind)}"
    if name == "link" and (atom or draw(st.booleans())):
        rel = draw(st.sampled_from(["alternate", "self", "enclosure", None]))
        kind = draw(st.sampled_from(["text/html", "application/pdf", None]))
        href = draw(st.sampled_from(["http://a.org/x?utm_source=y", "rel/path", "", "x&y"]))
        attrs += f" href={quoteattr(href)}"
        attrs += f" rel={quoteattr(rel)}" if rel else ""
        attrs += f" type={quoteattr(kind)}" if kind else ""
        return f"<{'atom:' if not atom else ''}link{attrs}/>"
    if name in ("media:thumbnail", "media:content", "enclosure"):
        return f'<{name} url="http://m.org/a.jpg"{attrs}/>'
    if name in ("published", "updated", "pubDate", "dc:date"):
        return f"<{name}{attrs}>{escape(draw(_DATES))}</{name}>"
    if name == "author" and atom:
        parts = draw(st.lists(st.sampled_from(["name", "email", "uri"]), max_size=3))
        inner = "".join(f"<{p}>{escape(draw(_TEXT))}</{p}>" for p in parts)
        return f"<author{attrs}>{inner}</author>"
    text = _text_node(draw(_TEXT), draw(st.booleans()))
    return f"<{name}{attrs}>{text}</{name}>"


_NS = (
    ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
    ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
    ' xmlns:media="http://search.yahoo.com/mrss/"'
    ' xmlns:slash="http://purl.org/rss/1.0/modules/slash/"'
    ' xmlns:itunes="http://www.itunes.com/DTDs/PodCast-1.0.dtd"'
    ' xmlns:x="urn:example:custom"'
)


@st.composite
def feeds(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["rss20", "rss10", "atom10"]))
    atom = kind == "atom10"
    items = []
    for _ in range(draw(st.integers(1, 3))):
        children = draw(st.lists(_element(atom), max_size=7))
        lang = draw(_LANGS)
        attrs = f" xml:lang={quoteattr(lang)}" if lang is not None else ""
        if kind == "rss10" and draw(st.booleans()):
            attrs += f' rdf:about="http://a.org/{len(items)}"'
        tag = "entry" if atom else "item"
        items.append(f"<{tag}{attrs}>{''.join(children)}</{tag}>")
    head = [f"<title>{_text_node(draw(_TEXT), draw(st.booleans()))}</title>"]
    if draw(st.booleans()):
        head.append(f"<ttl>{draw(st.sampled_from(['60', ' 15 ', 'x', '']))}</ttl>")
    if draw(st.booleans()):
        head.append("<image><url>http://a.org/i.png</url><title>Logo</title></image>")
    if draw(st.booleans()):
        head.append(f"<language>{draw(_LANGS) or ''}</language>")
    decl = draw(st.sampled_from(["", '<?xml version="1.0" encoding="utf-8"?>\n']))
    if kind == "rss20":
        doc = (
            f'<rss version="2.0"{_NS} xmlns:atom="http://www.w3.org/2005/Atom"><channel>'
            f"{''.join(head)}{''.join(items)}</channel></rss>"
        )
    elif kind == "rss10":
        doc = (
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
            f' xmlns="http://purl.org/rss/1.0/"{_NS}><channel rdf:about="http://a.org/">'
            f"{''.join(head[:1])}</channel>{''.join(items)}</rdf:RDF>"
        )
    else:
        doc = f'<feed xmlns="http://www.w3.org/2005/Atom"{_NS}>{head[0]}{"".join(items)}</feed>'
    return (decl + doc).encode("utf-8")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    feeds(),
    st.sampled_from([None, "application/rss+xml; charset=utf-8", "text/xml", "text/html"]),
)
def test_generated_feeds_read_the_same_both_ways(body: bytes, content_type: str | None) -> None:
    took = accepted(body, content_type)
    event("fast path" if took else "declined")
    fast, slow = both(body, content_type)
    assert fast == slow


def test_the_fast_path_answers_like_feedparser_on_a_big_feed() -> None:
    """A news feed like the benchmark's: 200 items with CDATA HTML, tracking links,
    authors and categories."""
    items = "".join(
        f"<item><title>Story {i} &amp; more</title>"
        f"<link>http://example.org/news/{i}?utm_source=rss&amp;id={i}</link>"
        f'<guid isPermaLink="false">g{i}</guid><pubDate>Mon, 15 Dec 2025 08:{i % 60:02d}:00'
        f" GMT</pubDate><dc:creator>Reporter {i % 7}</dc:creator><category>c{i}</category>"
        f"<description><![CDATA[<p>Body {i} &amp; text</p>]]></description></item>"
        for i in range(200)
    )
    body = (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"{_NS}><channel>'
        f"<title>Big</title><ttl>30</ttl>{items}</channel></rss>"
    ).encode()
    fast = taken_and_read_alike(body)
    assert len(fast.entries) == 200
    assert fast.ttl_minutes == 30


_RFC822_PARTS = st.tuples(
    st.sampled_from(["", "Mon, ", "tue, ", "SAT, ", "Sun,  ", "Foo, "]),
    st.integers(0, 32).map(str) | st.sampled_from(["05", "1"]),
    st.sampled_from(["Jan", "feb", "MAR", "Oct", "Dec", "Sept", "xyz"]),
    st.sampled_from(["2025", "1999", "0001", "9999", "25", "10000"]),
    st.sampled_from(["08:00:00", "23:59:59", "24:00:00", "00:00:60", "8:00:00", "08:00"]),
    st.sampled_from(["GMT", "gmt", "UT", "Z", "EST", "pdt", "+0000", "-0500", "+0530"])
    | st.sampled_from(["+1400", "-1200", "+9959", "A", "MET", "GMT+1", "+05:30", ""]),
)


@settings(max_examples=3000, deadline=None)
@given(_RFC822_PARTS)
def test_dates_in_the_rfc_822_form_read_as_feedparser_reads_them(parts: tuple[str, ...]) -> None:
    name, day, month, year, clock, zone = parts
    text = f"{name}{day} {month} {year} {clock} {zone}".strip()
    assert fastparse.dates(_parse_date)(text) == _parse_date(text)


@pytest.mark.parametrize(
    "items",
    [
        # a second description: feedparser takes it for content
        "<item><title>a</title><description>one</description><description>two</description></item>",
        "<item><content:encoded>c</content:encoded><description>d</description></item>"
        "<item><description>d</description><content:encoded>c</content:encoded></item>",
        "<item><guid>http:////a.org/x</guid><title></title><title>t</title></item>"
        '<item><guid isPermaLink="false">g</guid><link>http://b.org/?a=1&amp;b;=2</link></item>'
        '<item><guid ISPERMALINK="true">http://c.org/1</guid><link>http://c.org/2</link></item>',
        "<item><author>x@y.org (X)</author><dc:creator>Y</dc:creator><pubDate>Mon, 15 Dec"
        " 2025 08:00:00 +0300</pubDate><dc:date>2025-12-15T08:00:00Z</dc:date></item>",
        '<item xml:lang="tr_TR"><title>Ç</title><category domain="d">c</category>'
        '<enclosure url="http://e/x.mp3" length="1" type="audio/mpeg"/></item>',
        "<item><title>Ã©tÃ©</title><description>caf\u00c3\u00a9 \x93q\x94</description></item>",
    ],
)
@pytest.mark.parametrize("channel_content", ["", "<content:encoded>feed</content:encoded>"])
def test_flat_items_read_the_same_both_ways(items: str, channel_content: str) -> None:
    """The one-pass reading of flat RSS items (fastflat) on the cases where feedparser's
    rules are subtle: a description taken for content, a carried has-content flag, empty
    and repeated titles, permalink guids, last author and date winning, languages."""
    body = (
        f'<rss version="2.0"{_NS}><channel><title>T</title>{channel_content}{items}</channel></rss>'
    ).encode()
    taken_and_read_alike(body)


_SPACED = st.lists(
    st.sampled_from([*" \t\n\r\x0b\x0c\xa0\u200b\u3000\x85\u2028\x1cabİẞ<>&;", "<p>", "</p>"]),
    max_size=30,
).map("".join)


@settings(max_examples=2000, deadline=None)
@given(_SPACED, _SPACED)
def test_a_fingerprint_is_the_hash_of_the_folded_words(title: str, text: str) -> None:
    """fingerprint's quick folding (lone newlines as spaces) against its definition, on raw
    text and on text as html_to_text leaves it."""
    for body in (text, html_to_text(text)):
        words = " ".join(body.lower().split())
        expected = content_hash(" ".join(title.lower().split()), words)
        assert fingerprint(title, body) == expected
