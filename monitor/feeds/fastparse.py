"""Well-formed RSS 2.0, RSS 1.0 (RDF) and Atom 1.0 over lxml: feedparser's answer, faster.

feedparser reads a well-formed feed with expat and a state machine (its "strict" mode);
almost all of its time goes to that machine's per-element Python work. This module builds
the tree with lxml (C) and runs a port of the same machine over it, for the elements whose
handlers it carries: the feed and entry structure, titles, links, guids and ids, summaries
and content, authors, dates, categories, enclosures and the common Dublin Core, content,
Media RSS and iTunes elements. What it returns is shaped like feedparser's result (a dict
with `feed`, `entries`, `version`), so parse.py reads both the same way, and the
differential test in tests/feeds/ holds the two equal.

It declines (returns None) whatever it cannot answer exactly as feedparser would, and
parse.py then asks feedparser: a body that is not well-formed XML, a DOCTYPE, an encoding
other than UTF-8 (or ASCII), another root than rss, rdf:RDF or an Atom feed, a namespace it
does not know, xml:base, markup inside a text element (inline XHTML), base64 content, an
element whose feedparser handler is not ported here, no entries at all.

Pure: bytes in, values out; no network (lxml is told never to fetch), no clock. Dates are
read by the function parse.py hands in (feedparser's own), so they cannot differ.
"""

from __future__ import annotations

import codecs
import datetime
import re
import time
from typing import Any

from lxml import etree

from monitor.feeds.fastcore import _MATCH, _STD_PREFIXES, DateParser, Decline
from monitor.feeds.fasthandlers import Machine

_RSS10 = "http://purl.org/rss/1.0/"
_ATOM10 = "http://www.w3.org/2005/Atom"
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"

# --------------------------------------------------------------------------- encoding

_BOMS = (codecs.BOM_UTF32_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF16_LE)
_MARKERS = (b"\x4c\x6f\xa7\x94", b"\x00\x3c\x00\x3f", b"\x3c\x00\x3f\x00")
_MARKERS_32 = (b"\x00\x00\x00\x3c", b"\x3c\x00\x00\x00")
_XML_PI_ENCODING = re.compile(rb"^<\?.*encoding=['\"](.*?)['\"].*\?>")
_APPLICATION_XML = (
    "application/xml",
    "application/xml-dtd",
    "application/xml-external-parsed-entity",
)
_TEXT_XML = ("text/xml", "text/xml-external-parsed-entity")


def _codec(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return ""


def check_encoding(body: bytes, content_type: str | None) -> None:
    """Decline unless feedparser would read the body as UTF-8 (or ASCII, the same text)
    and lxml will decode it the same way (feedparser's encodings.convert_to_utf8)."""
    data = body
    bom = ""
    if data[:3] == codecs.BOM_UTF8:
        bom, data = "utf-8", data[3:]
    elif data[:4] in _BOMS or data[:2] in _BOMS or data[:4] in _MARKERS + _MARKERS_32:
        raise Decline("a UTF-16, UTF-32 or EBCDIC body")
    match = _XML_PI_ENCODING.match(data)
    try:
        declared = match.group(1).decode("utf-8").lower() if match else ""
    except UnicodeDecodeError as e:
        raise Decline("an unreadable encoding declaration") from e
    if declared and _codec(declared) not in ("utf-8", "ascii"):
        raise Decline(f"declared encoding {declared}")
    mime, charset = "", ""
    if content_type:
        chunks = content_type.split(";")
        mime = chunks[0].strip()
        for chunk in chunks[1:]:
            key, _, value = chunk.partition("=")
            if key.strip().lower() == "charset":
                charset = value.strip().strip("\"'")
    if mime in _APPLICATION_XML or (mime.startswith("application/") and mime.endswith("+xml")):
        proposed = charset or declared or "utf-8"
    elif (
        mime in _TEXT_XML
        or (mime.startswith("text/") and mime.endswith("+xml"))
        or mime.startswith("text/")
    ):
        proposed = charset or "us-ascii"
    else:
        proposed = declared or "utf-8"
    ascii_body: bool | None = None
    for name in (proposed, declared, bom):
        if not name:
            continue
        codec = _codec(name)
        if codec == "utf-8":
            return  # lxml refuses a body that is not UTF-8, and then so do we
        if codec == "ascii":
            if ascii_body is None:
                ascii_body = data.isascii()
            if ascii_body:
                return
            continue
        if codec:
            raise Decline(f"encoding {name}")
    # None of them reads the body: feedparser asks chardet (when it is installed) before it
    # tries UTF-8, and chardet may well guess windows-1252.
    raise Decline("an encoding feedparser would guess")


# --------------------------------------------------------------------------- the document


def _parser() -> Any:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
        huge_tree=False,
    )


_DECLARATION = re.compile(rb"""xmlns:([^\s=/>]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")


def check_declarations(body: bytes) -> None:
    """Decline the namespace declarations that would make feedparser map an element to
    another handler than its namespace says: a prefix that is one of feedparser's own
    names bound to another of its namespaces, a prefix bound twice, an unknown namespace
    under two prefixes."""
    if b"xmlns:" not in body:
        return
    bound: dict[bytes, bytes] = {}
    unknown: dict[str, bytes] = {}
    for prefix, dq, sq in _DECLARATION.findall(body):
        uri = dq if dq or not sq else sq
        if bound.setdefault(prefix, uri) != uri:
            raise Decline("a namespace prefix bound twice")
        lower = uri.decode("utf-8", "replace").lower()
        if "backend.userland.com/rss" in lower:
            lower = "http://backend.userland.com/rss"
        std = _MATCH.get(lower)
        name = prefix.decode("utf-8", "replace")
        if std is None:
            if unknown.setdefault(lower, prefix) != prefix:
                raise Decline("an unknown namespace under two prefixes")
        elif name.lower() in _STD_PREFIXES and name.lower() != std.lower():
            raise Decline(f"prefix {name} bound to the namespace of {std or 'the format'}")


def _version(root: Any) -> str:
    tag = root.tag
    if tag == "rss":
        return ""
    if tag == f"{{{_RDF}}}RDF":
        if _RSS10 not in root.nsmap.values():
            raise Decline("an RDF document without the RSS 1.0 namespace")
        return "rss10"
    if tag == f"{{{_ATOM10}}}feed":
        return "atom10"
    raise Decline(f"root element {tag}")


# --------------------------------------------------------------------------- dates

#: The usual RSS date ("Mon, 15 Dec 2025 08:00:00 GMT"): a form feedparser's W3C-DTF
#: reader (tried first) always refuses, so its RFC 822 reader decides it, as below.
_RFC822 = re.compile(
    r"(?:(?:mon|tue|wed|thu|fri|sat|sun), )?(\d{1,2}) "
    r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec) (\d{4}) "
    r"(\d{2}):(\d{2}):(\d{2}) (gmt|ut|z|[ecmp][sd]t|[+-]\d{4})",
    re.I,
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_ZONES = {"gmt": 0, "ut": 0, "z": 0, "edt": -4, "est": -5, "cdt": -5, "cst": -6}
_ZONES.update({"mdt": -6, "mst": -7, "pdt": -7, "pst": -8})
_ZONE_SECONDS = {zone: hours * 3600 for zone, hours in _ZONES.items()}
#: The seconds since 1970 of datetime's first and last second (years 1 to 9999).
_FIRST, _LAST = -62_135_596_800, 253_402_300_799
_EPOCH_ORDINAL = 719_163  # datetime.date(1970, 1, 1).toordinal()


#: The date and zone parts of RFC 822 dates seen, read: a feed's items share a few days.
_DAYS: dict[tuple[str, str, str], int] = {}
_OFFSETS: dict[str, int] = {}


def _offset(zone: str) -> int:
    """A zone's offset from UTC in seconds."""
    zone = zone.lower()
    if zone[0] in "+-":
        offset = int(zone[1:3]) * 3600 + int(zone[3:]) * 60
        return -offset if zone[0] == "-" else offset
    return _ZONE_SECONDS[zone]


def dates(fallback: DateParser) -> DateParser:
    """feedparser's date reader with its RFC 822 case done here: the same arithmetic as
    feedparser/datetimes/rfc822.py on the usual form, the reader itself on anything else.

    feedparser builds a datetime, subtracts the zone and takes its UTC time tuple; here the
    fields are checked as datetime checks them and the seconds since 1970 go to gmtime,
    which gives the same tuple (a date outside datetime's years is feedparser's to read).
    """

    def parse(value: str) -> Any:
        found = _RFC822.fullmatch(value.strip())
        if found is None:
            return fallback(value)
        day, month, year, hour, minute, second, zone = found.groups()
        offset = _OFFSETS.get(zone)
        if offset is None:
            offset = _offset(zone)
            if len(_OFFSETS) < 1024:
                _OFFSETS[zone] = offset
        days = _DAYS.get((day, month, year))
        if days is None:
            try:
                days = datetime.date(int(year), _MONTHS[month.lower()], int(day)).toordinal()
            except ValueError:
                return fallback(value)  # feedparser's other readers may still take it
            if len(_DAYS) < 4096:
                _DAYS[day, month, year] = days
        hours, minutes, seconds = int(hour), int(minute), int(second)
        if hours > 23 or minutes > 59 or seconds > 59:
            return fallback(value)
        stamp = (days - _EPOCH_ORDINAL) * 86400 + hours * 3600 + minutes * 60 + seconds - offset
        if not _FIRST <= stamp <= _LAST:
            return fallback(value)
        return time.gmtime(stamp)

    return parse


# --------------------------------------------------------------------------- entry point


def read(body: bytes, content_type: str | None, parse_date: DateParser) -> dict[str, Any]:
    """The body as feedparser's result (`feed`, `entries`, `version`), or Decline."""
    check_encoding(body, content_type)
    check_declarations(body)
    try:
        root = etree.fromstring(body, _parser())
    except (etree.XMLSyntaxError, ValueError) as e:
        raise Decline(f"not well-formed ({e})") from e
    if root is None:
        raise Decline("no root element")
    if root.getroottree().docinfo.doctype:
        raise Decline("a DOCTYPE")
    machine = Machine(dates(parse_date))
    machine.version = _version(root)
    machine.walk(root, None)
    if not machine.entries:
        raise Decline("no entries")
    return {
        "bozo": False,
        "feed": machine.feeddata,
        "entries": machine.entries,
        "version": machine.version or "rss",
    }


def parse(body: bytes, content_type: str | None, parse_date: DateParser) -> dict[str, Any] | None:
    """The body as feedparser's result would be, or None when feedparser must read it.

    Whatever goes wrong here (a Decline, a document nested too deep, or a case the port
    gets wrong and trips over) leaves the body to feedparser, which reads it as it always
    did; the tests call `read`, which lets every such error out."""
    try:
        return read(body, content_type, parse_date)
    except Exception:
        return None
