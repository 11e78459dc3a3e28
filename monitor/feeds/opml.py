"""OPML 2.0, the format every feed reader imports and exports.

- ``parse_opml``: an OPML file -> the feeds in it (nested outlines are folders).
- ``render_opml``: the feeds we poll -> an OPML 2.0 document.
- ``merge_into_config``: adds feeds to the text of monitor.yaml, keeping its comments and
  layout: the configuration stays the source of truth for which feeds are polled.
- ``import_opml``: all of that for `monitor feeds import`, writing the file only after
  the result validates.

Only the last one does I/O. XML is read with the standard library's expat parser, which
refuses entity-expansion bombs; outlines are walked without recursion, however deep they
nest. Every feed keeps the line of its outline, so a feed that cannot be imported (a
`javascript:` or `ftp:` address) is named with the file and line.
"""

from __future__ import annotations

import email.utils
import json
import os
import re
import tempfile
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit
from xml.parsers import expat
from xml.sax.saxutils import quoteattr

from monitor.errors import ConfigError, MonitorError
from monitor.model import FeedState

_ID_CHARS = re.compile(r"[^a-z0-9]+")
_FEEDS_KEY = re.compile(r"^feeds[ \t]*:[ \t]*(?P<rest>[^#\n]*?)[ \t]*(?:#.*)?$", re.M)
_KNOWN_ID = re.compile(r"^[ \t]*#?[ \t]*(?:-[ \t]+)?id[ \t]*:[ \t]*[\"']?([^\"'#\s]+)", re.M)
_KNOWN_URL = re.compile(r"^[ \t]*(?:-[ \t]+)?url[ \t]*:[ \t]*[\"']?([^\"'#\s]+)", re.M)
_ITEM = re.compile(r"^([ \t]*)-[ \t]", re.M)


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    url: str
    title: str = ""
    html_url: str = ""
    #: The folders the outline sits in, outermost first.
    folders: tuple[str, ...] = ()
    #: The line of its outline in the OPML file.
    line: int = field(default=0, compare=False)


@dataclass
class _Element:
    tag: str
    attrs: dict[str, str]
    line: int
    children: list[_Element] = field(default_factory=list)


def _parse_xml(data: bytes, source: str) -> _Element:
    """The document's root element, with the line of every element."""
    parser = expat.ParserCreate()
    top = _Element("", {}, 0)
    stack = [top]

    def start(tag: str, attrs: dict[str, str]) -> None:
        element = _Element(tag, attrs, parser.CurrentLineNumber)
        stack[-1].children.append(element)
        stack.append(element)

    def end(tag: str) -> None:
        stack.pop()

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(data, True)
    except expat.ExpatError as e:
        raise ConfigError(f"{source}: not valid XML ({e})") from e
    if not top.children:
        raise ConfigError(f"{source}: not valid XML (no element found)")
    return top.children[0]


@dataclass
class ImportReport:
    added: list[tuple[str, str]] = field(default_factory=list)  # (id, url)
    skipped: list[str] = field(default_factory=list)  # urls already configured


def parse_opml(data: bytes, source: str = "OPML file") -> list[OpmlFeed]:
    """The feeds of an OPML document (every outline with an xmlUrl), in document order.

    Raises ConfigError, naming the source, when it is not OPML.
    """
    root = _parse_xml(data, source)
    if root.tag.lower() != "opml":
        raise ConfigError(f"{source}: not an OPML document (the root element is <{root.tag}>)")
    body = next((child for child in root.children if child.tag == "body"), None)
    if body is None:
        raise ConfigError(f"{source}: an OPML document needs a <body>")
    found: list[OpmlFeed] = []
    # Depth first, in document order, with a stack: (outlines left, their folders).
    stack: list[tuple[Iterator[_Element], tuple[str, ...]]] = [(iter(body.children), ())]
    while stack:
        pending, folders = stack[-1]
        outline = next(pending, None)
        if outline is None:
            stack.pop()
            continue
        if outline.tag != "outline":
            continue
        attrs = {k.lower(): v for k, v in outline.attrs.items()}
        text = (attrs.get("title") or attrs.get("text") or "").strip()
        url = (attrs.get("xmlurl") or "").strip()
        if url:
            html_url = (attrs.get("htmlurl") or "").strip()
            found.append(OpmlFeed(url, text, html_url, folders, line=outline.line))
        stack.append((iter(outline.children), (*folders, text) if text and not url else folders))
    return found


def render_opml(feeds: Iterable[FeedState], *, now: datetime, title: str = "monitor feeds") -> str:
    """An OPML 2.0 document listing the feeds (http and https ones: a local file means
    nothing to another reader)."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        "  <head>",
        f"    <title>{_text(title)}</title>",
        f"    <dateCreated>{email.utils.format_datetime(now)}</dateCreated>",
        "  </head>",
        "  <body>",
    ]
    for feed in feeds:
        if not feed.url.startswith(("http://", "https://")):
            continue
        name = feed.title or feed.id
        lines.append(
            f'    <outline type="rss" text={quoteattr(name)} title={quoteattr(name)} '
            f"xmlUrl={quoteattr(feed.url)}/>"
        )
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines)


def _text(value: str) -> str:
    return quoteattr(value)[1:-1]


def feed_id(title: str, url: str, taken: set[str]) -> str:
    """A readable, unique id for a feed: from its title, else its address."""
    base = _slug(title) or _slug(
        (urlsplit(url).hostname or "").removeprefix("www.") + " " + urlsplit(url).path
    )
    base = (base or "feed")[:40].strip("-") or "feed"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    taken.add(candidate)
    return candidate


def _slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.replace("ı", "i").replace("İ", "I"))
    ascii_text = folded.encode("ascii", "ignore").decode().lower()
    return _ID_CHARS.sub("-", ascii_text).strip("-")


def merge_into_config(
    config_text: str, feeds: Sequence[OpmlFeed], *, note: str = ""
) -> tuple[str, ImportReport]:
    """Add the feeds not configured yet to the `feeds:` list of a monitor.yaml text.

    Comments and layout are kept: the new entries go after the last item of the list
    (or into a new `feeds:` section at the end). A feed whose URL is already in the file
    is skipped.
    """
    report = ImportReport()
    taken = set(_KNOWN_ID.findall(config_text))
    known_urls = set(_KNOWN_URL.findall(config_text))
    lines = config_text.splitlines()
    match = _FEEDS_KEY.search(config_text)
    start = config_text.count("\n", 0, match.start()) if match else None
    indent = "  "
    if start is not None:
        end = len(lines)
        for i in range(start + 1, len(lines)):
            line = lines[i]
            if line.strip() and not line.startswith((" ", "\t", "#", "-")):
                end = i
                break
        # Comments and blank lines just before the next key belong to that key.
        while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].startswith("#")):
            end -= 1
        item = _ITEM.search("\n".join(lines[start + 1 : end]))
        if item:
            indent = item.group(1)
    entries: list[str] = []
    for feed in feeds:
        if feed.url in known_urls:
            report.skipped.append(feed.url)
            continue
        known_urls.add(feed.url)
        new_id = feed_id(feed.title, feed.url, taken)
        report.added.append((new_id, feed.url))
        entries.append(f"{indent}- id: {new_id}")
        entries.append(f"{indent}  url: {json.dumps(feed.url, ensure_ascii=False)}")
        if feed.title:
            entries.append(f"{indent}  title: {json.dumps(feed.title, ensure_ascii=False)}")
    if not entries:
        return config_text, report
    if note:
        entries[:0] = ["", f"{indent}# {note}"]
    if start is None:
        text = config_text.rstrip("\n")
        return f"{text}\n\nfeeds:\n" + "\n".join(entries) + "\n", report
    rest = match.group("rest") if match else ""
    if rest.strip() not in ("", "[]"):
        raise ConfigError(
            "monitor.yaml: `feeds:` is written in flow style on one line; write it as a "
            "block list (one `- id: ...` per feed) to import into it"
        )
    if rest.strip() == "[]":
        lines[start] = "feeds:"
    new_lines = [*lines[:end], *entries, *lines[end:]]
    return "\n".join(new_lines) + "\n", report


def import_opml(
    config: Path,
    opml_file: Path,
    *,
    validate: Callable[[Path], object],
    now: datetime,
    check_url: Callable[[str], str | None] | None = None,
) -> ImportReport:
    """Add the feeds of an OPML file to a config file. The file is replaced only when the
    result passes `validate` (which raises a MonitorError otherwise). `check_url` says why
    a feed's URL cannot be polled (None: it can); any such feed stops the import, each
    named with the OPML file's line."""
    try:
        data = opml_file.read_bytes()
        text = config.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{e.filename}: cannot read: {e.strerror or e}") from e
    feeds = parse_opml(data, str(opml_file))
    if not feeds:
        raise ConfigError(f"{opml_file}: no feeds in it (no outline with an xmlUrl)")
    if check_url is not None:
        problems = [
            f"{opml_file}:{feed.line}: xmlUrl {feed.url!r}: {problem}"
            for feed in feeds
            if (problem := check_url(feed.url))
        ]
        if problems:
            raise ConfigError(
                problems[0] if len(problems) == 1 else f"{len(problems)} problems in {opml_file}",
                problems,
            )
    merged, report = merge_into_config(
        text, feeds, note=f"imported from {opml_file.name} on {now:%Y-%m-%d}"
    )
    if not report.added:
        return report
    fd, tmp_name = tempfile.mkstemp(prefix=".import-", suffix=".yaml", dir=config.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(merged)
        try:
            validate(tmp)
        except MonitorError as e:
            raise ConfigError(
                f"{config}: importing {opml_file} would make the configuration invalid; "
                f"nothing was changed ({e})"
            ) from e
        os.replace(tmp, config)
    finally:
        tmp.unlink(missing_ok=True)
    return report
