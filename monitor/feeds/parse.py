"""bytes -> ParsedFeed: RSS, Atom and RDF through feedparser, JSON Feed through jsonfeed.

Pure: no network, no database, no clock. feedparser is configured for speed: it neither
sanitises HTML nor resolves relative URIs inside it, because we reduce every HTML field
to plain text ourselves (items.html_to_text) and resolve item links against the feed's
URL. The body goes in as a stream, never as a string that feedparser could take for a
file name or URL.

feedparser raises on a few malformed inputs instead of flagging them (an out-of-range
numeric character reference, a stray </width> in a channel image, a <textInput> inside an
item). Such a body is repaired once (the offending parts carry nothing we keep) and
parsed again; if it still fails, the feed gets a ParseError naming it. feedparser's
exceptions never escape.

A body that says it is UTF-8 (or says nothing, which in XML means UTF-8) but has a few
bytes that are not would be decoded by feedparser as windows-1252 as a whole, garbling
every clean item ("Ã¼ber"); such a body is decoded as UTF-8 with only the bad bytes
replaced (U+FFFD) before feedparser sees it.

Well-formed RSS 2.0, RSS 1.0 and Atom 1.0 go first to fastparse (lxml and a port of
feedparser's own rules, many times faster); what it declines, feedparser reads. Both give
the same entries (tests/feeds/test_fastparse.py holds them to it).

This module is also what a parser process imports (see feeds/worker.py), so it imports
nothing heavier than lxml, feedparser only once a body needs it, and the models only where
parse_feed builds them (a parser process sends parse_rows' tuples).
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from monitor.errors import ParseError
from monitor.feeds import fastparse
from monitor.feeds.items import EntryRow, canonical_url, entry_row, fingerprint, html_to_text
from monitor.feeds.jsonfeed import looks_like_json, parse_json_feed

if TYPE_CHECKING:
    from monitor.model import ParsedFeed

__all__ = ["ParseError", "canonical_url", "fingerprint", "html_to_text", "parse_feed", "parse_rows"]

_CHARREF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));")
_IMAGE = re.compile(rb"<image\b.*?</image\s*>", re.I | re.S)
_TEXTINPUT = re.compile(rb"<textinput\b.*?</textinput\s*>", re.I | re.S)
_STRAY_SIZE = re.compile(rb"</(?:width|height)\s*>", re.I)
_XML_ENCODING = re.compile(rb"^\s*<\?xml[^>]*?\sencoding\s*=\s*[\"']([^\"']*)[\"']", re.I)
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([^\s;\"']*)", re.I)
_BOMS = (b"\xfe\xff", b"\xff\xfe", b"\x00\x00\xfe\xff")  # UTF-16, UTF-32: not ours
_REPLACEMENT = "\ufffd".encode()


def _valid_charref(match: re.Match[bytes]) -> bytes:
    hexa, dec = match.groups()
    try:
        code = int(hexa, 16) if hexa else int(dec)
    except ValueError:
        return b"&#xFFFD;"
    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return b"&#xFFFD;"
    return match.group(0)


def repair(body: bytes) -> bytes:
    """Remove what makes feedparser raise: out-of-range character references become
    U+FFFD; the channel image and any text input go (we keep neither)."""
    body = _CHARREF.sub(_valid_charref, body)
    body = _IMAGE.sub(b"", body)
    body = _TEXTINPUT.sub(b"", body)
    return _STRAY_SIZE.sub(b"", body)


def _is_utf8(name: str) -> bool:
    return name.strip().lower().replace("_", "-") in ("utf-8", "utf8")


def utf8_repaired(body: bytes, content_type: str | None = None) -> bytes:
    """The body with its bytes that are not UTF-8 replaced by U+FFFD, when it is meant to
    be UTF-8: every encoding it declares (HTTP charset, XML declaration) is UTF-8, or it
    declares none, and it is mostly UTF-8 (no fewer well-formed non-ASCII characters than
    bad bytes). Any other body is returned as it is: a windows-1252 body mislabelled UTF-8
    has no well-formed non-ASCII character, and feedparser's fallback reads it right."""
    if body.startswith(_BOMS):
        return body
    declared = []
    charset = _CHARSET.search(content_type or "")
    if charset:
        declared.append(charset.group(1))
    xml = _XML_ENCODING.match(body.removeprefix(b"\xef\xbb\xbf"))
    if xml:
        declared.append(xml.group(1).decode("ascii", "replace"))
    if not all(_is_utf8(name) for name in declared):
        return body
    try:
        body.decode("utf-8")
        return body
    except UnicodeDecodeError:
        pass
    text = body.decode("utf-8", "replace")
    replaced = text.count("\ufffd")
    bad = replaced - body.count(_REPLACEMENT)
    well_formed = len(text) - len(text.encode("ascii", "ignore")) - replaced
    return text.encode("utf-8") if well_formed >= bad else body


def _parse_date(text: str) -> Any:
    """feedparser's date reader, for the dates fastparse does not read itself."""
    from feedparser.datetimes import _parse_date as parse_date

    return parse_date(text)


def _harmless(reason: object) -> bool:
    """What feedparser flags on perfectly readable feeds (a charset the headers got
    wrong...). Only feedparser sets a reason, so it is imported by then."""
    import feedparser

    return isinstance(reason, feedparser.ThingsNobodyCaresAboutButMe)


def _feedparser(body: bytes, content_type: str | None) -> Any:
    import feedparser  # here, so that a worker whose feeds all take the fast path skips it

    # No Content-Location: with a base URL feedparser resolves every element against it,
    # which costs a third of its time; make_entry resolves the one link we keep.
    headers = {"content-type": content_type} if content_type else None
    return feedparser.parse(
        io.BytesIO(body),
        response_headers=headers,
        sanitize_html=False,
        resolve_relative_uris=False,
    )


def _when(raw: dict[str, Any], *keys: str) -> datetime | None:
    for key in keys:
        value = raw.get(key)
        if value:
            try:
                # The fields as they are, when datetime takes them: the same instant as
                # timegm's seconds; timegm carries fields out of range (60 seconds...).
                year, month, day, hour, minute, second = value[:6]
                return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
            except (ValueError, TypeError):
                pass
            try:
                import calendar  # here: it imports locale, which a parser process skips

                return datetime.fromtimestamp(calendar.timegm(value), UTC)
            except (OverflowError, ValueError, TypeError):
                continue
    return None


def _row(feed_id: str, feed_title: str, raw: dict[str, Any], base: str | None) -> EntryRow:
    # feedparser's dicts remap keys on every lookup; plain dict.get is several times faster
    # and the keys it stores are the canonical ones read here.
    get = dict.get
    contents = get(raw, "content")
    content = "\n".join(dict.get(c, "value", "") for c in contents) if contents else ""
    detail = get(raw, "title_detail")
    return entry_row(
        feed_id,
        feed_title,
        get(raw, "id"),
        get(raw, "link"),
        get(raw, "title", ""),
        get(raw, "summary", ""),
        content,
        get(raw, "author", ""),
        _when(raw, "published_parsed", "updated_parsed"),
        (dict.get(detail, "language") or "") if detail else "",
        base,
    )


def parse_feed(
    feed_id: str,
    body: bytes,
    *,
    content_type: str | None = None,
    url: str | None = None,
    fast: bool = True,
) -> ParsedFeed:
    """Parse one feed body. Raises ParseError, naming the feed, when nothing usable is in
    it. `url` (where the body came from) makes relative item links absolute and names the
    feed in a ParseError. `fast=False` skips fastparse (the differential test)."""
    from monitor.model import Entry, ParsedFeed  # here: a parser process makes rows only

    title, ttl, rows = parse_rows(feed_id, body, content_type=content_type, url=url, fast=fast)
    return ParsedFeed(title=title, entries=tuple(Entry(*row) for row in rows), ttl_minutes=ttl)


def parse_rows(
    feed_id: str,
    body: bytes,
    *,
    content_type: str | None = None,
    url: str | None = None,
    fast: bool = True,
) -> tuple[str | None, int | None, list[EntryRow]]:
    """parse_feed's answer as (title, ttl in minutes, entries as tuples of their fields):
    what a parser process sends back, without building Entry values to take apart."""
    if looks_like_json(body, content_type):
        from dataclasses import astuple

        parsed_json = parse_json_feed(feed_id, body, url=url)
        rows = [astuple(e) for e in parsed_json.entries]
        return parsed_json.title, parsed_json.ttl_minutes, rows
    body = utf8_repaired(body, content_type)
    try:
        parsed = (fast and fastparse.parse(body, content_type, _parse_date)) or _feedparser(
            body, content_type
        )
    except Exception as first:  # feedparser raises on some malformed inputs
        fixed = repair(body)
        try:
            if fixed == body:
                raise first
            parsed = _feedparser(fixed, content_type)
        except Exception:
            raise ParseError(
                feed_id, url, f"unreadable feed ({first.__class__.__name__}: {first})"
            ) from first
    entries_raw = parsed.get("entries") or []
    version = parsed.get("version") or ""
    reason = parsed.get("bozo_exception")
    if parsed.get("bozo") and not entries_raw and not _harmless(reason):
        raise ParseError(feed_id, url, f"not a feed ({reason.__class__.__name__}: {reason})")
    if not version and not entries_raw:
        raise ParseError(feed_id, url, "not a feed (no RSS, Atom or JSON Feed document)")
    meta = parsed.get("feed") or {}
    feed_title = html_to_text(dict.get(meta, "title", "")) or None
    ttl: int | None = None
    raw_ttl = dict.get(meta, "ttl")
    if raw_ttl:
        try:
            ttl = max(0, int(str(raw_ttl).strip()))
        except ValueError:
            ttl = None
    base = url if url and url.startswith(("http:", "https:")) else None
    title = feed_title or ""
    return feed_title, ttl or None, [_row(feed_id, title, raw, base) for raw in entries_raw]
