"""JSON Feed 1.0 and 1.1 (https://jsonfeed.org/version/1.1) -> ParsedFeed.

feedparser does not read JSON Feed, so this module does. Pure: bytes in, values out.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from monitor.errors import ParseError
from monitor.feeds.items import make_entry

if TYPE_CHECKING:
    from monitor.model import ParsedFeed

VERSION_PREFIX = "https://jsonfeed.org/version/"


def looks_like_json(body: bytes, content_type: str | None) -> bool:
    """A JSON body: one that starts with '{', or, when it starts with neither '{' nor '<',
    one whose Content-Type says JSON. (Servers mislabel feeds; the first byte does not lie.)"""
    head = body[:64].lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head in (b"{", b"<"):
        return head == b"{"
    return bool(content_type and "json" in content_type.lower())


def _date(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _authors(item: dict[str, Any], feed: dict[str, Any]) -> str:
    """1.1 has `authors` (a list), 1.0 has `author`; an item inherits the feed's."""
    for source in (item, feed):
        people = source.get("authors")
        if not isinstance(people, list):
            one = source.get("author")
            people = [one] if isinstance(one, dict) else []
        names = [
            p["name"] for p in people if isinstance(p, dict) and isinstance(p.get("name"), str)
        ]
        if names:
            return ", ".join(names)
    return ""


def parse_json_feed(feed_id: str, body: bytes, *, url: str | None = None) -> ParsedFeed:
    """Parse a JSON Feed. Raises ParseError, naming the feed, when the body is not one."""
    import json  # here, with the models: a parser process may never need them

    from monitor.model import ParsedFeed

    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise ParseError(feed_id, url, f"not valid JSON ({e})") from e
    except RecursionError as e:
        raise ParseError(feed_id, url, "JSON nested too deeply to be a feed") from e
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
        raise ParseError(feed_id, url, "JSON without an `items` list is not a JSON Feed")
    version = doc.get("version")
    if not isinstance(version, str) or not version.startswith(VERSION_PREFIX):
        raise ParseError(feed_id, url, f"JSON Feed version {version!r} is not one we know")
    feed_title = _text(doc.get("title")).strip()
    feed_lang = _text(doc.get("language"))
    base = url or _text(doc.get("feed_url")) or _text(doc.get("home_page_url")) or None
    entries = []
    for item in doc["items"]:
        if not isinstance(item, dict):
            continue
        entries.append(
            make_entry(
                feed_id,
                feed_title,
                guid=item.get("id"),
                link=_text(item.get("url")) or _text(item.get("external_url")) or None,
                title=_text(item.get("title")),
                summary=_text(item.get("summary")),
                content=_text(item.get("content_html"))
                or html.escape(_text(item.get("content_text"))),
                author=_authors(item, doc),
                published=_date(item.get("date_published")) or _date(item.get("date_modified")),
                lang=_text(item.get("language")) or feed_lang,
                base=base,
            )
        )
    return ParsedFeed(title=feed_title or None, entries=tuple(entries))
