"""What every feed format shares: plain text from HTML, canonical URLs, fingerprints and
stable ids, and the Entry built from them.

Pure: no network, no database, no clock. The format readers (parse.py for RSS/Atom,
jsonfeed.py for JSON Feed) import this module; it imports neither of them.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import re
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

if TYPE_CHECKING:
    from monitor.model import Entry

_BLOCK_TAGS = (
    "p|div|br|hr|li|ul|ol|dl|dt|dd|h[1-6]|tr|td|th|table|thead|tbody|blockquote|pre|section|"
    "article|aside|header|footer|nav|main|figure|figcaption|address|details|summary"
)
_SKIP_TAGS = "script|style|noscript|template|iframe|svg|object|head|title"
# A tag's attributes may hold '>' inside quotes.
_ATTRS = r"""(?:"[^"]*"|'[^']*'|[^'">])*"""
_SKIPPED = re.compile(rf"<({_SKIP_TAGS})\b{_ATTRS}>.*?</\1\s*>", re.I | re.S)
_COMMENTS = re.compile(r"<!--.*?(?:-->|$)|<!\[CDATA\[|\]\]>", re.S)
#: The characters other than its two cases that IGNORECASE matches to an ASCII letter.
_FOLDS = {"i": "\u0130\u0131", "k": "\u212a", "s": "\u017f"}


def _anycase(pattern: str) -> str:
    """A pattern of ASCII letters that matches what it matches under IGNORECASE, without
    the flag: with it, re tries the pattern at every position of the text instead of
    searching for its first character."""
    return re.sub(
        "[A-Za-z]",
        lambda m: f"[{m[0].lower()}{m[0].upper()}{_FOLDS.get(m[0].lower(), '')}]",
        pattern,
    )


_BLOCKS = re.compile(rf"</?(?:{_anycase(_BLOCK_TAGS)})\b{_ATTRS}>")
_TAGS = re.compile(rf"</?[A-Za-z][A-Za-z0-9:-]*\b{_ATTRS}>|<![^>]*>|<\?[^>]*>")
_SKIP_HINT = re.compile(rf"<(?:{_anycase(_SKIP_TAGS)})")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u200b]+")
_NEWLINE_SPACE = re.compile(r"\n\s*")
_TRACKING = re.compile(
    r"^(utm_\w+|fbclid|gclid|dclid|gbraid|wbraid|msclkid|yclid|mc_cid|mc_eid|_hsenc|_hsmi|"
    r"igshid|mkt_tok|oly_anon_id|oly_enc_id|rb_clickid|s_cid|vero_id|wt_mc|ncid|cmpid|"
    r"at_medium|at_campaign|__twitter_impression|_ga|_gl)$",
    re.I,
)


#: A query of name=value pairs in characters that neither parse_qsl nor urlencode change.
_PAIR = r"[A-Za-z0-9_.~-]+=[A-Za-z0-9_.~-]*"
_PLAIN_QUERY = re.compile(rf"{_PAIR}(?:&{_PAIR})*")
#: A tracking pair in a plain query, with the "&" before it (none for the first pair):
#: the pairs that splitting on "&" and matching each name to _TRACKING would drop.
_TRACKING_PAIR = re.compile(
    rf"(?:^|&)(?:{_TRACKING.pattern.removeprefix('^(').removesuffix(')$')})=[A-Za-z0-9_.~-]*(?=&|$)",
    re.I,
)
#: Each tracking name, as it appears in a query that holds it (utm_\w+ as its prefix).
_TRACKING_HINT = re.compile(
    _TRACKING.pattern.removeprefix("^(").removesuffix(")$").replace(r"\w+", ""), re.I
)


#: An absolute URL with a netloc, in printable ASCII: scheme, netloc, path, query (and
#: a fragment, dropped), split as urlsplit splits it.
_SIMPLE_URL = re.compile(
    r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#\[\]]+)((?:/[^?#]*)?)(?:\?([^#]*))?(?:#.*)?", re.S
)


def html_to_text(value: str) -> str:
    """Reduce (untrusted) HTML to plain text: tags, scripts and comments gone, entities
    decoded, block elements on lines of their own, runs of spaces collapsed."""
    if not value:
        return ""
    # Each step runs only where it can change something: most item text has no comment,
    # no script and no run of spaces, and these steps are most of the cost.
    if "<" in value:
        if _SKIP_HINT.search(value):
            value = _SKIPPED.sub(" ", value)
        if "<!" in value or "]]>" in value:
            value = _COMMENTS.sub(" ", value)
        value = _BLOCKS.sub("\n", value)
        value = _TAGS.sub("", value)
    if "&" in value:
        value = html.unescape(value)
    if (
        "  " in value
        or "\t" in value
        or "\r" in value
        or "\f" in value
        or "\v" in value
        or "\xa0" in value
        or "\u200b" in value
    ):  # one search each for _SPACES's characters (a loop over them costs more)
        value = _SPACES.sub(" ", value)
    if "\n" in value:
        # _LINES (" ?\n\s*" -> "\n") in two quick steps: spaces come single here.
        value = _NEWLINE_SPACE.sub("\n", value).replace(" \n", "\n")
    return value.strip()


def canonical_url(url: str | None, base: str | None = None) -> str | None:
    """An item link as we store it: absolute (against the feed's URL), without tracking
    parameters or fragment, scheme and host in lower case."""
    if not url:
        return None
    url = url.strip()
    if not url:
        return None
    if base and "://" not in url[:12]:
        with contextlib.suppress(ValueError):
            url = urljoin(base, url)
    simple = _SIMPLE_URL.fullmatch(url) if url.isascii() and url.isprintable() else None
    if simple is not None:
        # What urlsplit makes of it: no character it strips or removes, a netloc without
        # brackets (nothing it checks), so the groups are its scheme, netloc, path, query.
        scheme, netloc, path, query = simple.groups()
        scheme = scheme.lower()
        netloc = netloc.lower()
        query = query or ""
    else:
        try:
            parts = urlsplit(url)
        except ValueError:
            return url
        scheme, netloc, path, query = (
            parts.scheme.lower(),
            parts.netloc.lower(),
            parts.path,
            parts.query,
        )
    # parse_qsl only where a tracking parameter can be: its name, or an escape, in the query.
    if query and ("%" in query or _TRACKING_HINT.search(query)):
        if _PLAIN_QUERY.fullmatch(query):
            # Names and values that parse_qsl leaves and urlencode writes as they are.
            query = _TRACKING_PAIR.sub("", query).removeprefix("&")
        else:
            pairs = parse_qsl(query, keep_blank_values=True)
            kept = [(k, v) for k, v in pairs if not _TRACKING.match(k)]
            if len(kept) != len(pairs):
                query = urlencode(kept)
    path = path or ("/" if scheme in ("http", "https") else "")
    if simple is not None:
        # urlunsplit's answer when there is a netloc (the path starts with "/" or is empty).
        return f"{scheme}://{netloc}{path}?{query}" if query else f"{scheme}://{netloc}{path}"
    return urlunsplit((scheme, netloc, path, query, ""))


def content_hash(*parts: str) -> str:
    """SHA-1 of the parts, each followed by a NUL: a short stable key for item text."""
    data = "\x00".join(parts) + "\x00" if parts else ""
    return hashlib.sha1(data.encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest()


def _folded(value: str) -> str:
    """ " ".join(value.lower().split()), quicker on text as html_to_text leaves it: when
    its only whitespace is single spaces and lone newlines inside, those become spaces."""
    spaced = value.replace("\n", " ") if "\n" in value else value
    if (
        (_no_odd_ascii_space(spaced) if spaced.isascii() else spaced.isprintable())
        and "  " not in spaced
        and spaced[:1] != " "
        and spaced[-1:] != " "
    ):
        return spaced.lower()
    return " ".join(value.lower().split())


def _no_odd_ascii_space(value: str) -> bool:
    """An ASCII text without whitespace but " " and "\n": what isprintable tells of it
    (with "\n" allowed), in single-character searches, which are many times quicker."""
    return not (
        "\t" in value
        or "\r" in value
        or "\f" in value
        or "\v" in value
        or "\x1c" in value
        or "\x1d" in value
        or "\x1e" in value
        or "\x1f" in value
    )


def _folded_text(value: str) -> str:
    """_folded of a text that html_to_text made: it has no double space, no space at
    either end and none beside a newline, and no newline beside another, so an ASCII one
    without other whitespace is folded by turning its newlines into spaces."""
    if value.isascii() and _no_odd_ascii_space(value):
        return (value.replace("\n", " ") if "\n" in value else value).lower()
    return _folded(value)


def fingerprint(title: str, text: str, url: str | None = None) -> str:
    """Same text, same fingerprint: a republished item under a new guid is not new.

    An item without any text beyond its title ("Daily briefing") is told apart by its
    link, so that tomorrow's briefing is not taken for today's.
    """
    return _fingerprint(_folded(title), _folded(text), url)


def _fingerprint(title: str, text: str, url: str | None) -> str:
    if not text and url:
        return content_hash(title, "", url)
    return content_hash(title, text)


def stable_id(guid: object, url: str | None, title: str, text: str) -> str:
    """The item's guid; without one its link; without either, a hash of its text."""
    if guid is not None and not isinstance(guid, str):
        guid = str(guid)
    guid = (guid or "").strip()
    return guid or url or "sha1:" + content_hash(title, text)


#: An entry as a tuple: the fields of Entry, in their order (entry_row's answer).
EntryRow = tuple[str, str, str | None, str, str, str, str, datetime | None, str, str, str]


def entry_row(
    feed_id: str,
    feed_title: str,
    guid: object,
    link: str | None,
    title: str,
    summary: str,
    content: str,
    author: str,
    published: datetime | None,
    lang: str,
    base: str | None,
) -> EntryRow:
    """make_entry's Entry as a tuple of its fields (Entry(*row) is the Entry): what a parser
    process sends, without building the Entry it would take apart again."""
    title = html_to_text(title) if title else ""
    summary = html_to_text(summary) if summary else ""
    content = html_to_text(content) if content else ""
    if content == summary:
        content = ""
    url = canonical_url(link, base)
    text = content or summary
    return (
        feed_id,
        stable_id(guid, url, title, text),
        url,
        title,
        summary,
        content,
        html_to_text(author) if author else "",
        published,
        lang or "",
        _fingerprint(_folded_text(title), _folded_text(text), url),
        feed_title,
    )


def make_entry(
    feed_id: str,
    feed_title: str,
    *,
    guid: object,
    link: str | None,
    title: str,
    summary: str,
    content: str,
    author: str = "",
    published: datetime | None = None,
    lang: str = "",
    base: str | None = None,
) -> Entry:
    """An Entry from one item's raw fields (HTML allowed in title, summary, content)."""
    from monitor.model import Entry  # here: a parser process makes rows, never an Entry

    return Entry(
        *entry_row(
            feed_id, feed_title, guid, link, title, summary, content, author, published, lang, base
        )
    )
