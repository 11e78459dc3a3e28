"""The ``atom`` channel: one Atom 1.0 feed per digest (``DIGEST.atom`` next to the digest
files) holding its latest stories, for any feed reader.

Each story is an entry whose id is fixed by the story (``channels.document.story_id``), so
a reader never shows it twice; a message adds its stories at the top, an entry with the
same id is replaced, and the feed keeps the newest ``entries``. The entries already in the
file are read back from it (the file is the only state), so a feed that cannot be read is
started afresh, with a warning, rather than blocking the channel for good.
"""

from __future__ import annotations

import html
import logging
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from monitor.channels.document import NAMESPACE, config_id, iso
from monitor.channels.jsonfile import write_atomically
from monitor.errors import NotifyError
from monitor.model import Message

ATOM = "http://www.w3.org/2005/Atom"
#: Characters XML 1.0 does not allow, which feed text may still hold.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
log = logging.getLogger(__name__)

ET.register_namespace("", ATOM)


def _tag(name: str) -> str:
    return f"{{{ATOM}}}{name}"


def _add(parent: ET.Element, name: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, _tag(name), {k: _NOT_XML.sub("", v) for k, v in attrs.items()})
    if text is not None:
        element.text = _NOT_XML.sub("", text)
    return element


def story_html(story: Mapping[str, Any]) -> str:
    """An entry's content: why it matched (topic, rules, in words), then its items' links."""
    why = f"Topic: {story.get('topic') or '-'}. Matched rules: {', '.join(story['rules'])}"
    if story.get("why"):
        why += f"; why: {story['why']}"
    items = []
    for item in story["items"]:
        title = html.escape(item.get("title") or "(untitled)")
        link = f'<a href="{html.escape(item["url"])}">{title}</a>' if item.get("url") else title
        source = " · ".join(
            html.escape(str(p)) for p in (item.get("feed_title"), item.get("published")) if p
        )
        items.append(f"<li>{link}{f' ({source})' if source else ''}</li>")
    return f"<p>{html.escape(why)}.</p><ul>{''.join(items)}</ul>"


def entry(story: Mapping[str, Any], updated: str) -> ET.Element:
    """One story as an Atom entry."""
    element = ET.Element(_tag("entry"))
    _add(element, "id", story["id"])
    _add(element, "title", story.get("title") or "(untitled)", type="text")
    _add(element, "updated", updated)
    items: Sequence[Mapping[str, Any]] = story["items"]
    published = next((i["published"] for i in items if i.get("published")), None)
    if published:
        _add(element, "published", published)
    for n, item in enumerate(i for i in items if i.get("url")):
        _add(
            element,
            "link",
            rel="alternate" if n == 0 else "related",
            type="text/html",
            href=item["url"],
            title=item.get("title") or "",
        )
    if story.get("topic"):
        _add(element, "category", term=story["topic"], label=story["topic"])
    for rule in story["rules"]:
        _add(element, "category", term=rule, scheme="urn:monitor:rule")
    _add(element, "content", story_html(story), type="html")
    return element


class AtomNotifier:
    """Keeps DIGEST.atom in a folder: the latest ``entries`` stories of one digest."""

    def __init__(
        self, folder: Path, *, title: str, entries: int = 50, link: str | None = None
    ) -> None:
        self.folder = folder
        self.title = title
        self.entries = entries
        self.link = link

    def path(self, target: str) -> Path:
        return self.folder / f"{_UNSAFE.sub('_', config_id(target))}.atom"

    def old_entries(self, path: Path) -> tuple[list[ET.Element], str | None]:
        """The entries already in the feed, and when it was last updated."""
        try:
            root = ET.parse(path).getroot()
        except FileNotFoundError:
            return [], None
        except (ET.ParseError, OSError) as e:
            log.warning("%s: cannot read the feed (%s); starting it afresh", path, e)
            return [], None
        return root.findall(_tag("entry")), root.findtext(_tag("updated"))

    def render(self, message: Message, old: list[ET.Element], last: str | None) -> str:
        document = message.document or {}
        now = iso(message.created) or ""
        new = [entry(story, now) for story in document.get("stories") or ()]
        ids = {e.findtext(_tag("id")) for e in new}
        entries = [*new, *(e for e in old if e.findtext(_tag("id")) not in ids)]
        feed = ET.Element(_tag("feed"))
        digest = config_id(message.target)
        _add(feed, "id", f"urn:uuid:{uuid.uuid5(NAMESPACE, 'feed' + chr(10) + digest)}")
        _add(feed, "title", self.title, type="text")
        _add(feed, "subtitle", f"Stories matched by monitor's rules for {digest}", type="text")
        _add(feed, "updated", now if new or not last else last)
        author = _add(feed, "author")
        _add(author, "name", "monitor")
        _add(feed, "generator", "monitor")
        if self.link:
            _add(feed, "link", rel="self", type="application/atom+xml", href=self.link)
        feed.extend(entries[: self.entries])
        ET.indent(feed)
        return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, "unicode") + "\n"

    def send(self, message: Message) -> None:
        if message.document is None:
            raise NotifyError(f"{message.target}: the message has no document for the feed")
        path = self.path(message.target)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            text = self.render(message, *self.old_entries(path))
            write_atomically(path, text)
        except OSError as e:
            raise NotifyError(f"{message.target}: cannot write {path}: {e.strerror or e}") from e
        stories = len(message.document.get("stories") or ())
        log.info(
            "%s: %d stories into %s",
            message.target,
            stories,
            path,
            extra={"target": message.target},
        )
