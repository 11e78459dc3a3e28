"""items.py's quick paths against their definitions: html_to_text skips the steps that
cannot change a text, canonical_url splits a plain absolute URL without urlsplit, an
entry travels as a tuple of its fields."""

from __future__ import annotations

import contextlib
import html
import re
from dataclasses import astuple, fields
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.feeds import items
from monitor.feeds.items import (
    canonical_url,
    content_hash,
    entry_row,
    fingerprint,
    html_to_text,
    make_entry,
    stable_id,
)
from monitor.feeds.parse import parse_feed, parse_rows
from monitor.model import Entry

from ..helpers import DATA

# html_to_text's definition, written out here as it was first written (the module's own
# patterns may be rewritten for speed, so they cannot be the oracle).
_BLOCK_TAGS = (
    "p|div|br|hr|li|ul|ol|dl|dt|dd|h[1-6]|tr|td|th|table|thead|tbody|blockquote|pre|section|"
    "article|aside|header|footer|nav|main|figure|figcaption|address|details|summary"
)
_SKIP_TAGS = "script|style|noscript|template|iframe|svg|object|head|title"
_ATTRS = r"""(?:"[^"]*"|'[^']*'|[^'">])*"""
_SKIPPED = re.compile(rf"<({_SKIP_TAGS})\b{_ATTRS}>.*?</\1\s*>", re.I | re.S)
_COMMENTS = re.compile(r"<!--.*?(?:-->|$)|<!\[CDATA\[|\]\]>", re.S)
_BLOCKS = re.compile(rf"</?(?:{_BLOCK_TAGS})\b{_ATTRS}>", re.I)
_TAGS = re.compile(rf"</?[A-Za-z][A-Za-z0-9:-]*\b{_ATTRS}>|<![^>]*>|<\?[^>]*>")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u200b]+")
_LINES = re.compile(r" ?\n[\s]*")
FEED = "https://feeds.example.org/news/feed.xml"


def defined_html_to_text(value: str) -> str:
    """html_to_text as it is defined: every step, whether or not it changes the text."""
    if not value:
        return ""
    if "<" in value:
        value = _SKIPPED.sub(" ", value)
        value = _COMMENTS.sub(" ", value)
        value = _BLOCKS.sub("\n", value)
        value = _TAGS.sub("", value)
    if "&" in value:
        value = html.unescape(value)
    value = _SPACES.sub(" ", value)
    if "\n" in value:
        value = _LINES.sub("\n", value)
    return value.strip()


def defined_canonical_url(url: str | None, base: str | None = None) -> str | None:
    """canonical_url as it is defined: urlsplit, parse_qsl, urlencode, urlunsplit."""
    if not url:
        return None
    url = url.strip()
    if not url:
        return None
    if base and "://" not in url[:12]:
        with contextlib.suppress(ValueError):
            url = urljoin(base, url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        kept = [(k, v) for k, v in pairs if not items._TRACKING.match(k)]
        if len(kept) != len(pairs):
            query = urlencode(kept)
    scheme = parts.scheme.lower()
    path = parts.path or ("/" if scheme in ("http", "https") else "")
    return urlunsplit((scheme, parts.netloc.lower(), path, query, ""))


_HTML = st.lists(
    st.sampled_from(
        [
            *" \t\n\r\x0b\x0c\xa0\u200b\u3000\x85abZ<>&;'\"=/!-?]",
            *["<p>", "</P>", "<br/>", "<div class='a>b'>", '<a href="x>y">', "</a>", "<b>"],
            *["<script>x</script>", "<STYLE a=1>y</style >", "<!-- c -->", "<!--", "-->"],
            *["<![CDATA[", "]]>", "<?pi?>", "<!DOCTYPE x>", "&amp;", "&nbsp;", "&#233;"],
            *["&bogus;", "<h1>", "<li", "<td x='1'>", "<a-", "<x:y>", "  ", "\n \n"],
            # what IGNORECASE matches to ASCII letters: d\u0130v is a div to it
            *["<d\u0130v>", "<L\u0131>", "<\u017fcript>x</\u017fcript>", "<bloc\u212aquote>"],
            *["<TITLE>t</title>", "<\u017ftyle>", "<P-x>", "<pre>", "<Hr/>", "</TBODY >"],
        ]
    ),
    max_size=25,
).map("".join)


@settings(max_examples=3000, deadline=None)
@given(_HTML)
def test_html_to_text_is_its_definition(value: str) -> None:
    assert html_to_text(value) == defined_html_to_text(value)


_URL = st.tuples(
    st.sampled_from(["http", "HTTPS", "ftp", "h2x+a.b-c", "9x", "", "mailto:"]),
    st.sampled_from(["://", ":", "//", ":///", "://user@", ""]),
    st.sampled_from(["Example.ORG", "a.org:8080", "[::1]", "a[b", "x]", "", "é.org", "a b"]),
    st.sampled_from(["", "/", "/Path/x", "//x", "/a b", "/é", "/a\tb", "rel/x", "/%7e"]),
    st.sampled_from(["", "?", "?a=1", "?utm_source=x&b=2", "?b=1&fbclid=2", "?a=%20&gclid=1"])
    | st.sampled_from(["?a=1&a=2&utm_medium", "?x=é&utm_source=1", "?a?b=1", "?q=1#f"])
    | st.lists(
        st.tuples(
            st.sampled_from(["a", "utm_source", "UTM_Medium", "utm_", "utm_a.b", "fbclid", "_ga"])
            | st.sampled_from(["_gax", "xgclid", "x~y", "mc_cid", "s_cid", ""]),
            st.sampled_from(["=", "==", ""]),
            st.sampled_from(["", "1", "a.b~c-d_e", "%41", "a+b", "é"]),
        ).map("".join),
        min_size=1,
        max_size=5,
    ).map(lambda pairs: "?" + "&".join(pairs)),
    st.sampled_from(["", "#", "#frag", "#a?b", "#utm_source=1"]),
    st.sampled_from(["", " ", "\x00", "\n", "\x7f"]),
)


@settings(max_examples=3000, deadline=None)
@given(_URL, st.sampled_from([None, "https://feeds.example.org/news/feed.xml"]))
def test_canonical_url_is_its_definition(parts: tuple[str, ...], base: str | None) -> None:
    scheme, sep, netloc, path, query, fragment, edge = parts
    url = f"{edge}{scheme}{sep}{netloc}{path}{query}{fragment}{edge}"
    assert canonical_url(url, base) == defined_canonical_url(url, base)


@settings(max_examples=3000, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [*" \t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u200b\u3000\u2028abİẞ", "<p>", "&nbsp;"]
        ),
        max_size=30,
    ).map("".join)
)
def test_a_text_as_html_to_text_leaves_it_is_folded_as_defined(value: str) -> None:
    text = html_to_text(value)
    assert items._folded_text(text) == items._folded(text) == " ".join(text.lower().split())


def test_content_hash_is_the_hash_of_the_parts_each_ended_by_a_nul() -> None:
    import hashlib

    assert content_hash() == hashlib.sha1(b"").hexdigest()
    assert (
        content_hash("a", "", "\ud800é")
        == hashlib.sha1("a\x00\x00\ud800é\x00".encode("utf-8", "surrogatepass")).hexdigest()
    )


def test_an_entry_row_is_the_entry_as_a_tuple() -> None:
    raw = {
        "guid": None,
        "link": "/a?utm_source=x",
        "title": "<b>T</b> &amp; t",
        "summary": "<p>S</p>",
        "content": "<p>C</p>",
        "author": "A",
        "published": datetime(2025, 12, 15, 8, tzinfo=UTC),
        "lang": "en",
        "base": "https://example.org/feed",
    }
    row = entry_row("f", "F", *raw.values())
    entry = make_entry("f", "F", **raw)  # type: ignore[arg-type]
    assert Entry(*row) == entry
    assert astuple(entry) == row
    assert len(row) == len(fields(Entry))


@settings(max_examples=1000, deadline=None)
@given(
    st.sampled_from([None, "", "  ", " g1 ", 7, "http://a.org/x"]),
    st.sampled_from([None, "", "http://A.org/b?utm_source=x", "rel/y"]),
    _HTML,
    _HTML,
    _HTML,
)
def test_an_entry_row_has_the_id_and_fingerprint_of_its_texts(
    guid: object, link: str | None, title: str, summary: str, content: str
) -> None:
    row = entry_row("f", "F", guid, link, title, summary, content, "", None, "", FEED)
    url = canonical_url(link, FEED)
    title, summary, content = html_to_text(title), html_to_text(summary), html_to_text(content)
    text = ("" if content == summary else content) or summary
    assert row[1] == stable_id(guid, url, title, text)
    assert row[9] == fingerprint(title, text, url)


def test_parse_rows_is_parse_feed_as_tuples() -> None:
    url = "https://feeds.example.org/cw.xml"
    for name in ("rss.xml", "atom.xml", "jsonfeed_1_1.json"):
        body = (DATA / "poll" / name).read_bytes()
        parsed = parse_feed("cw", body, url=url)
        title, ttl, rows = parse_rows("cw", body, url=url)
        assert (title, ttl) == (parsed.title, parsed.ttl_minutes)
        assert rows == [astuple(e) for e in parsed.entries]
        assert rows
