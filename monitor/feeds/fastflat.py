"""The common RSS item in one pass: what fastparse's machine would do, without the machine.

Most RSS items are flat: a title, a link, a guid, a date, an author, categories and a
description or content:encoded, each an element with text and no children. For such an
item the machine's stack, contexts and handler calls always come to the same few
assignments, which `read_item` makes directly (each case below says which handler it
stands for). An item with anything else (an attribute other than the few allowed here,
xml:lang, a child with children, an element outside the table, a second description
that feedparser would take for content) is left to the machine, untouched.

Pure: no I/O, no clock, no lxml import (the element is handed in).
"""

from __future__ import annotations

import contextlib
from typing import Any

from monitor.feeds.fastcore import _CP1252, _LINK_AMP, Core, _urljoin

#: Element key -> what it is in a flat item (handlers in fasthandlers.py).
KINDS = {
    # start_title / end_title
    "title": "title",
    "dc_title": "title",
    # start_link without href: the text is the link
    "link": "link",
    # start_guid / end_guid
    "guid": "guid",
    # end_published / end_updated
    "pubdate": "published",
    "published": "published",
    "issued": "published",
    "dcterms_issued": "published",
    "dc_date": "updated",
    "updated": "updated",
    "modified": "updated",
    "dcterms_modified": "updated",
    # start_description (as a summary) / start_content_encoded
    "description": "description",
    "dc_description": "description",
    "content_encoded": "content",
    # start_author / end_author: an author's text, without name or email children
    "author": "author",
    "managingeditor": "author",
    "dc_creator": "author",
    "dc_author": "author",
    "itunes_author": "author",
    # start_category: nothing that is read
    "category": "skip",
    "dc_subject": "skip",
    "keywords": "skip",
    # start_enclosure: a link of the entry's, never its link
    "enclosure": "skip",
}
#: The attributes a flat item's elements may carry (lower case), by kind.
ALLOWED = {"guid": {"ispermalink"}, "skip": {"domain", "url", "length", "type"}}
_ABOUT = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}about"


def _value(text: str, relative: bool = False) -> str:
    """Core.pop's steps for a text: strip, fix a URI, repair UTF-8 read as Latin-1."""
    out = text.strip()
    if relative and ":///" in out:  # only a slash after the first "://" is fixed
        out = _urljoin(out)
    if not out.isascii():
        out = _repaired(out)
    return out


def _repaired(out: str) -> str:
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        out = out.encode("iso-8859-1").decode("utf-8")
    return out.translate(_CP1252)


#: Element tag -> its kind in a flat item ("" for an element that makes an item not
#: flat), for the tags whose _Info every document shares.
_KIND_OF: dict[str, str] = {}


def _kind(m: Core, child: Any) -> str:
    tag = child.tag
    shared = m.infos.get(tag)
    info = shared or m.info(child)
    kind = KINDS.get(info.key)
    if kind is None:
        # An element feedparser has no handler for: nothing is read (a "skip").
        kind = "" if info.start is not None or info.end is not None else "skip"
    if shared is not None and len(_KIND_OF) < 4096:
        _KIND_OF[tag] = kind
    return kind


def read_item(m: Core, item: Any, lang: str | None) -> bool:
    """Read a flat <item> into a new entry as the machine would; False (nothing done)
    when the item is not flat. The walk has counted the item's depth and set its lang.

    One pass over the children builds the entry aside; the machine takes it (and the
    state that start_item and end_item leave) only once the last child proved the item
    flat. A child that is read for nothing (a "skip") is only checked."""
    if m.inentry or m.incontent or m.insource:
        return False
    keys = item.keys()
    if keys and keys != [_ABOUT]:
        return False
    # start_item (its push of "item" and end_item's pop of it leave the stack as it was)
    entry: dict[str, Any] = {}
    if keys:
        about = item.get(_ABOUT)
        if about:
            entry["id"] = about
    title_depth = -1
    guidislink = False
    summary = content = False
    depth = m.depth + 1
    language = lang.replace("_", "-") if lang else lang
    kind_of = _KIND_OF
    for child in item:
        kind = kind_of.get(child.tag) or _kind(m, child)
        if not kind or len(child):
            return False
        names = child.keys()
        if names:
            allowed = ALLOWED.get(kind, set())
            lowered = {n.lower() for n in names}
            if len(lowered) != len(names) or not lowered <= allowed:
                return False
        if kind == "skip":
            continue
        text = child.text or ""
        out = text.strip()
        if not out.isascii():
            out = _repaired(out)
        if kind == "title":
            if not -1 < title_depth <= depth:
                entry["title"] = out
                entry["title_detail"] = {"language": language}
            if out:
                title_depth = depth
        elif kind == "link":
            if ":///" in out:
                out = _value(text, relative=True)
            if "&" in out:
                out = out.replace("&amp;", "&")
                if ";" in out:
                    out = _LINK_AMP.sub(r"&\g<1>", out)
            entry["link"] = out
        elif kind == "guid":
            guidislink = (child.get(names[0]) if names else "true") == "true"
            if guidislink and ":///" in out:
                out = _value(text, relative=True)
            entry["id"] = out
            entry.setdefault("guidislink", guidislink and "link" not in entry)
            if guidislink:
                entry.setdefault("link", out)
        elif kind == "published" or kind == "updated":
            entry[f"{kind}_parsed"] = m.parse_date(out) if out else None
        elif kind == "description":
            if summary and not content and not m.has_content:
                return False  # feedparser takes this one for content: the machine reads it
            summary = True
            entry["summary"] = out
        elif kind == "author":
            entry["author"] = out
        else:  # content
            summary = content = True
            entry.setdefault("content", []).append({"value": out})
            entry.setdefault("summary", out)
    m.entries.append(entry)
    m.depthmap = {}
    m.guidislink = guidislink
    m.title_depth = title_depth
    # end_item
    m.inentry = 0
    m.has_content = 0
    return True
