"""bytes -> ParsedFeed: stable ids, plain text from HTML, UTC dates.

Pure: no network, no database, no clock. A body that feedparser cannot read becomes a
ParseError; feedparser's own exceptions never escape.
"""

from __future__ import annotations

import calendar
import hashlib
import html
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import feedparser

from monitor.errors import ParseError
from monitor.model import Entry, ParsedFeed

_BLOCK_TAGS = frozenset(
    {
        "p",
        "div",
        "br",
        "li",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "tr",
        "blockquote",
        "pre",
        "section",
        "article",
        "header",
        "footer",
        "table",
        "figure",
    }
)
_SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "iframe", "svg"})
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_LINES = re.compile(r"\s*\n\s*")
_TRACKING = re.compile(r"^(utm_\w+|fbclid|gclid|yclid|mc_cid|mc_eid|_hsenc|_hsmi|igshid)$", re.I)


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(value: str) -> str:
    """Reduce (untrusted) HTML to plain text: tags and scripts gone, entities decoded."""
    if not value:
        return ""
    if "<" not in value:
        text = html.unescape(value) if "&" in value else value
    else:
        extractor = _TextExtractor()
        try:
            extractor.feed(value)
            extractor.close()
        except Exception:  # html.parser is lenient; this is a last resort
            return _SPACES.sub(" ", re.sub(r"<[^>]*>", " ", value)).strip()
        text = "".join(extractor.parts)
    text = _SPACES.sub(" ", text)
    return _LINES.sub("\n", text).strip()


def canonical_url(url: str | None) -> str | None:
    """Drop tracking parameters and the fragment; lower-case scheme and host."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url.strip() or None
    query = urlencode(
        [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not _TRACKING.match(k)
        ]
    )
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", query, ""))


def _when(entry: Any, *keys: str) -> datetime | None:
    for key in keys:
        value = entry.get(key)
        if value:
            try:
                return datetime.fromtimestamp(calendar.timegm(value), UTC)
            except (OverflowError, ValueError, TypeError):
                continue
    return None


def _digest(*parts: str) -> str:
    h = hashlib.sha1(usedforsecurity=False)
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


def fingerprint(title: str, text: str) -> str:
    """Same text, same fingerprint: a republished item under a new guid is not new."""
    return _digest(" ".join(title.lower().split()), " ".join(text.lower().split()))


def _entry(feed_id: str, feed_title: str, raw: Any) -> Entry:
    title = html_to_text(raw.get("title", ""))
    summary = html_to_text(raw.get("summary", ""))
    contents = raw.get("content") or []
    content = html_to_text("\n".join(c.get("value", "") for c in contents)) if contents else ""
    if content == summary:
        content = ""
    url = canonical_url(raw.get("link"))
    text = content or summary
    guid = (raw.get("id") or "").strip() or url or _digest(title, text)
    author = html_to_text(raw.get("author", ""))
    lang = ""
    if raw.get("title_detail"):
        lang = raw["title_detail"].get("language") or ""
    return Entry(
        feed_id=feed_id,
        id=guid,
        url=url,
        title=title,
        summary=summary,
        content=content,
        author=author,
        published=_when(raw, "published_parsed", "updated_parsed"),
        lang=lang,
        fingerprint=fingerprint(title, text),
        feed_title=feed_title,
    )


def parse_feed(feed_id: str, body: bytes, *, content_type: str | None = None) -> ParsedFeed:
    """Parse one feed body. Raises ParseError when nothing usable is in it."""
    headers = {"content-type": content_type} if content_type else None
    try:
        parsed = feedparser.parse(
            body,
            response_headers=headers,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as e:  # feedparser raises on some malformed inputs
        raise ParseError(f"feed {feed_id}: unreadable feed ({e.__class__.__name__}: {e})") from e
    version = parsed.get("version") or ""
    if parsed.get("bozo") and not parsed.entries:
        reason = parsed.get("bozo_exception")
        raise ParseError(f"feed {feed_id}: not a feed ({reason.__class__.__name__}: {reason})")
    if not version and not parsed.entries:
        raise ParseError(f"feed {feed_id}: not a feed (no RSS or Atom root element)")
    feed_title = html_to_text(parsed.feed.get("title", "")) or None
    ttl: int | None = None
    if parsed.feed.get("ttl"):
        try:
            ttl = int(str(parsed.feed["ttl"]).strip())
        except ValueError:
            ttl = None
    entries = tuple(_entry(feed_id, feed_title or "", raw) for raw in parsed.entries)
    return ParsedFeed(title=feed_title, entries=entries, ttl_minutes=ttl)
