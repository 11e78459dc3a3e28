"""The machine under fastparse: feedparser's element bookkeeping, ported.

feedparser's strict mode (feedparser/mixin.py, _FeedParserMixin) keeps a stack of open
elements, each collecting its text; an element's handler decides where the text goes when
it closes (the entry, the feed, an author...), with rules for depth, language, repeated
elements and its own quirks. `Core` carries that bookkeeping over an lxml tree: `walk`
feeds it the same start, text and end events expat would, and `pop` applies the same
steps to the text. The handlers themselves live in fasthandlers.py.

An element feedparser has a handler for that is not ported, a namespace it does not know,
markup inside a text element and the like raise Decline: feedparser reads that body.
Pure: no I/O, no clock, no lxml import (the tree is handed in).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import Any, ClassVar

#: (date text) -> time.struct_time in UTC, or None: feedparser's date reader.
DateParser = Callable[[str], Any]

# --------------------------------------------------------------------------- namespaces

#: feedparser's namespace table (mixin._FeedParserMixin.namespaces): URI -> its prefix,
#: '' for the URIs whose elements are the format's own.
NAMESPACES: dict[str, str] = {
    "": "",
    "http://backend.userland.com/rss": "",
    "http://blogs.law.harvard.edu/tech/rss": "",
    "http://purl.org/rss/1.0/": "",
    "http://my.netscape.com/rdf/simple/0.9/": "",
    "http://example.com/newformat#": "",
    "http://example.com/necho": "",
    "http://purl.org/echo/": "",
    "uri/of/echo/namespace#": "",
    "http://purl.org/pie/": "",
    "http://purl.org/atom/ns#": "",
    "http://www.w3.org/2005/Atom": "",
    "http://purl.org/rss/1.0/modules/rss091#": "",
    "http://webns.net/mvcb/": "admin",
    "http://purl.org/rss/1.0/modules/aggregation/": "ag",
    "http://purl.org/rss/1.0/modules/annotate/": "annotate",
    "http://media.tangent.org/rss/1.0/": "audio",
    "http://backend.userland.com/blogChannelModule": "blogChannel",
    "http://creativecommons.org/ns#license": "cc",
    "http://web.resource.org/cc/": "cc",
    "http://cyber.law.harvard.edu/rss/creativeCommonsRssModule.html": "creativeCommons",
    "http://backend.userland.com/creativeCommonsRssModule": "creativeCommons",
    "http://purl.org/rss/1.0/modules/company": "co",
    "http://purl.org/rss/1.0/modules/content/": "content",
    "http://my.theinfo.org/changed/1.0/rss/": "cp",
    "http://purl.org/dc/elements/1.1/": "dc",
    "http://purl.org/dc/terms/": "dcterms",
    "http://purl.org/rss/1.0/modules/email/": "email",
    "http://purl.org/rss/1.0/modules/event/": "ev",
    "http://rssnamespace.org/feedburner/ext/1.0": "feedburner",
    "http://freshmeat.net/rss/fm/": "fm",
    "http://xmlns.com/foaf/0.1/": "foaf",
    "http://www.w3.org/2003/01/geo/wgs84_pos#": "geo",
    "http://www.georss.org/georss": "georss",
    "http://www.opengis.net/gml": "gml",
    "http://postneo.com/icbm/": "icbm",
    "http://purl.org/rss/1.0/modules/image/": "image",
    "http://www.itunes.com/DTDs/PodCast-1.0.dtd": "itunes",
    "http://example.com/DTDs/PodCast-1.0.dtd": "itunes",
    "http://purl.org/rss/1.0/modules/link/": "l",
    "http://search.yahoo.com/mrss": "media",
    "http://search.yahoo.com/mrss/": "media",
    "http://madskills.com/public/xml/rss/module/pingback/": "pingback",
    "http://prismstandard.org/namespaces/1.2/basic/": "prism",
    "http://www.w3.org/1999/02/22-rdf-syntax-ns#": "rdf",
    "http://www.w3.org/2000/01/rdf-schema#": "rdfs",
    "http://purl.org/rss/1.0/modules/reference/": "ref",
    "http://purl.org/rss/1.0/modules/richequiv/": "reqv",
    "http://purl.org/rss/1.0/modules/search/": "search",
    "http://purl.org/rss/1.0/modules/slash/": "slash",
    "http://schemas.xmlsoap.org/soap/envelope/": "soap",
    "http://purl.org/rss/1.0/modules/servicestatus/": "ss",
    "http://hacks.benhammersley.com/rss/streaming/": "str",
    "http://purl.org/rss/1.0/modules/subscription/": "sub",
    "http://purl.org/rss/1.0/modules/syndication/": "sy",
    "http://schemas.pocketsoap.com/rss/myDescModule/": "szf",
    "http://purl.org/rss/1.0/modules/taxonomy/": "taxo",
    "http://purl.org/rss/1.0/modules/threading/": "thr",
    "http://purl.org/rss/1.0/modules/textinput/": "ti",
    "http://madskills.com/public/xml/rss/module/trackback/": "trackback",
    "http://wellformedweb.org/commentAPI/": "wfw",
    "http://purl.org/rss/1.0/modules/wiki/": "wiki",
    "http://www.w3.org/1999/xhtml": "xhtml",
    "http://www.w3.org/1999/xlink": "xlink",
    "http://www.w3.org/XML/1998/namespace": "xml",
    "http://podlove.org/simple-chapters": "psc",
}
_MATCH = {uri.lower(): prefix for uri, prefix in NAMESPACES.items()}
_STD_PREFIXES = frozenset(p.lower() for p in NAMESPACES.values() if p)
_RSS10 = "http://purl.org/rss/1.0/"
_ATOM10 = "http://www.w3.org/2005/Atom"
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Every element key feedparser 6 has a _start_ or an _end_ handler for
#: (tests/feeds/test_fastparse.py checks these against the installed feedparser).
FEEDPARSER_STARTS = _words(
    """
    abstract author body category cc_license channel cloud content content_encoded
    contributor copyright created creativeCommons_license creativecommons_license
    dc_author dc_contributor dc_creator dc_date dc_description dc_language dc_publisher
    dc_rights dc_subject dc_title dcterms_created dcterms_issued dcterms_modified
    dcterms_valid description email enclosure entry expirationdate feed
    feedburner_browserfriendly fullitem generator georss_box georss_line georss_point
    georss_polygon georss_where georssgeom gml_exterior gml_linearring gml_linestring
    gml_point gml_polygon gml_pos gml_poslist guid height homepage id image info issued
    item itunes_author itunes_category itunes_email itunes_image itunes_link itunes_name
    itunes_owner itunes_subtitle itunes_summary keywords language lastbuilddate link
    managingeditor media_category media_content media_credit media_description media_group
    media_license media_player media_rating media_restriction media_thumbnail media_title
    modified name newlocation psc_chapter psc_chapters pubdate published rights rss source
    subtitle summary tagline tags textInput textinput title updated uri url webmaster
    where width xhtml_body
    """
)
FEEDPARSER_ENDS = _words(
    """
    abstract author body category channel content content_encoded contributor copyright
    created creativeCommons_license creativecommons_license dc_author dc_contributor
    dc_creator dc_date dc_description dc_language dc_publisher dc_rights dc_subject
    dc_title dcterms_created dcterms_issued dcterms_modified dcterms_valid description
    email entry expirationdate feed feedburner_browserfriendly fullitem generator geom
    georss_box georss_line georss_point georss_polygon georss_where gml_exterior
    gml_linearring gml_linestring gml_point gml_polygon gml_pos gml_poslist guid height
    homepage id image info issued item itunes_author itunes_block itunes_category
    itunes_email itunes_explicit itunes_keywords itunes_name itunes_owner itunes_subtitle
    itunes_summary keywords language lastbuilddate link managingeditor media_category
    media_credit media_description media_keywords media_license media_player media_rating
    media_restriction media_thumbnail media_title modified name newlocation
    psc_chapters pubdate published rights source subtitle summary tagline tags textInput
    textinput title updated uri url webmaster where width xhtml_body
    """
)

#: Keys that feedparser's handlers (or parse.py) read back from an entry or the feed: an
#: element without a handler stores its text under its own key, so such a key would
#: change what is read.
_READ_KEYS = _words(
    """
    author author_detail authors cloud content contributors generator_detail guidislink id
    image link links media_content media_credit media_license media_player media_rating
    media_restriction media_thumbnail published_parsed publisher publisher_detail
    publishers source summary summary_detail tags textinput title title_detail
    updated_parsed
    """
)


class Decline(Exception):
    """Not for the fast path: feedparser reads the body."""


# --------------------------------------------------------------------------- text


_URIFIXER = re.compile("^([A-Za-z][A-Za-z0-9+-.]*://)(/*)(.*?)")
_LINK_AMP = re.compile("&([A-Za-z0-9_]+);")
#: feedparser's e-mail pattern, for re.search to compile on first use (not on import: it
#: takes a parser process longer than all its other patterns together)
_EMAIL = r"""(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([a-zA-Z0-9\-]+\.)+))([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?"""  # noqa: E501
_CP1252 = {
    128: "\u20ac", 130: "\u201a", 131: "\u0192", 132: "\u201e", 133: "\u2026", 134: "\u2020",
    135: "\u2021", 136: "\u02c6", 137: "\u2030", 138: "\u0160", 139: "\u2039", 140: "\u0152",
    142: "\u017d", 145: "\u2018", 146: "\u2019", 147: "\u201c", 148: "\u201d", 149: "\u2022",
    150: "\u2013", 151: "\u2014", 152: "\u02dc", 153: "\u2122", 154: "\u0161", 155: "\u203a",
    156: "\u0153", 158: "\u017e", 159: "\u0178",
}  # fmt: skip
_CAN_BE_RELATIVE = frozenset(
    (
        "comments",
        "docs",
        "href",
        "icon",
        "id",
        "link",
        "logo",
        "url",
        "wfw_comment",
        "wfw_commentrss",
    )
)
_HTML_TYPES = ("application/xhtml+xml", "text/html")


def _map_content_type(content_type: str) -> str:
    content_type = content_type.lower()
    if content_type in ("text", "plain"):
        return "text/plain"
    if content_type == "html":
        return "text/html"
    if content_type == "xhtml":
        return "application/xhtml+xml"
    return content_type


def _urljoin(uri: str) -> str:
    """feedparser's _urljoin against an empty base: only its slash fixer acts, and only on
    a slash right after the first "://"."""
    at = uri.find("://")
    if at < 0 or uri[at + 3 : at + 4] != "/":
        return uri
    return _URIFIXER.sub(r"\1\3", uri)


# --------------------------------------------------------------------------- the machine


class _Info:
    """What feedparser makes of one element name: its handler key, its prefix, and the
    handlers that take it here (None: an element feedparser has no handler for)."""

    __slots__ = ("end", "flat", "hack", "key", "start", "tag")

    def __init__(self, key: str, prefix: str, tag: str) -> None:
        self.key = key  # e.g. "title", "dc_creator": the _start_/_end_ method suffix
        self.tag = tag  # "prefix:local" as unknown_starttag sees it
        #: An element of the format's own that ends feedparser's image context.
        self.hack = not prefix and tag not in _IMAGE_TAGS
        #: An RSS item, which fastflat may read in one pass.
        self.flat = key == "item"
        self.start: Callable[[Any, dict[str, str]], None] | None = None
        self.end: Callable[[Any], None] | None = None


_IMAGE_TAGS = ("title", "link", "description", "url", "href", "width", "height")


def _name(tag: str, doc_prefix: str | None) -> tuple[str, str, str]:
    """(key, prefix, tag) of an element, as feedparser's strict parser names it."""
    if tag[:1] == "{":
        uri, _, local = tag[1:].partition("}")
    else:
        uri, local = "", tag
    local = local.lower()
    lower = uri.lower()
    if "backend.userland.com/rss" in lower:
        lower = "http://backend.userland.com/rss"
    prefix = _MATCH.get(lower)
    if prefix is None:
        # An unknown namespace: feedparser keys the element by the document's prefix.
        if not doc_prefix or doc_prefix.lower() in _STD_PREFIXES:
            raise Decline(f"element {tag} in a namespace feedparser does not know")
        prefix = doc_prefix
    prefix = prefix.lower()
    if prefix:
        return f"{prefix}_{local}", prefix, f"{prefix}:{local}"
    return local, prefix, local


def _uri(tag: str) -> str:
    uri = tag[1:].partition("}")[0].lower() if tag[:1] == "{" else ""
    return "http://backend.userland.com/rss" if "backend.userland.com/rss" in uri else uri


def _attrs(el: Any) -> dict[str, str]:
    """feedparser's attribute dict: keys lower case with the mapped namespace prefix;
    `rel` and `type` values lower case."""
    out: dict[str, str] = {}
    for name, value in el.items():
        if name[:1] == "{":
            uri, _, local = name[1:].partition("}")
            prefix = _MATCH.get(uri.lower())
            if prefix is None or prefix == "":
                raise Decline(f"attribute {name} in a namespace feedparser does not know")
            if prefix == "xml" and local.lower() == "base":
                raise Decline("xml:base")
            key = f"{prefix}:{local}".lower()
        else:
            key = name.lower()
            if key == "base":
                raise Decline("a base attribute")
        out[key] = value.lower() if key in ("rel", "type") else value
    return out


class Core:
    """feedparser's _FeedParserMixin without its handlers (see each method's namesake in
    feedparser/mixin.py)."""

    #: Handler key -> start and end handlers (filled by fasthandlers.Machine).
    starts: ClassVar[dict[str, Callable[[Any, dict[str, str]], None]]] = {}
    ends: ClassVar[dict[str, Callable[[Any], None]]] = {}
    #: Element tag (or tag and prefix) -> its _Info, shared by every document.
    infos: ClassVar[dict[Any, _Info]] = {}

    def __init__(self, parse_date: DateParser) -> None:
        self.parse_date = parse_date
        self.feeddata: dict[str, Any] = {}
        self.entries: list[dict[str, Any]] = []
        self.version = ""
        self.infeed = self.inentry = self.incontent = 0
        self.inimage = self.inauthor = self.incontributor = self.inpublisher = 0
        self.insource = 0
        self.sourcedata: dict[str, Any] = {}
        self.contentparams: dict[str, Any] = {}
        self.summary_key: str | None = None
        self.stack: list[list[Any]] = []
        self.lang: str | None = None
        self.title_depth = -1
        self.depth = 0
        self.has_content = 0
        self.guidislink = False
        self.depthmap: dict[str, int] = {}

    # ------------------------------------------------------------------ the walk

    def info(self, el: Any) -> _Info:
        """The element's _Info (cached per tag, and per prefix in unknown namespaces)."""
        cache = self.infos
        tag = el.tag
        found = cache.get(tag)
        if found is not None:
            return found
        prefix = el.prefix
        found = cache.get((tag, prefix))
        if found is not None:
            return found
        key, mapped, name = _name(tag, prefix)
        info = _Info(key, mapped, name)
        start = self.starts.get(key)
        if start is None and key in FEEDPARSER_STARTS:
            raise Decline(f"element {name} (its feedparser handler is not ported)")
        end = self.ends.get(key)
        if end is None and key in FEEDPARSER_ENDS:
            raise Decline(f"element {name} (its feedparser handler is not ported)")
        if (start is None or end is None) and key in _READ_KEYS:
            raise Decline(f"element {name} would overwrite a key that is read")
        info.start, info.end = start, end
        if len(cache) < 4096:
            cache[tag if _MATCH.get(_uri(tag)) is not None else (tag, prefix)] = info
        return info

    def walk(self, el: Any, parent_lang: str | None) -> None:
        """unknown_starttag, the text, the children, unknown_endtag: feedparser's events.

        feedparser keeps a stack of xml:lang values; an element inherits its parent's, so
        the walk hands it down instead (`self.lang` is what the handlers read).
        """
        info = self.infos.get(el.tag) or self.info(el)
        # start: depth, xml:lang (and lang), feedparser's image-context hack, the handler
        self.depth += 1
        if el.keys():
            attrs = _attrs(el)
            lang = attrs.get("xml:lang", attrs.get("lang"))
            if lang == "":
                lang = None
            elif lang is None:
                lang = parent_lang
        else:
            attrs = {}
            lang = parent_lang
        self.lang = lang
        if self.incontent or self.insource:
            raise Decline("markup inside a text element or a source")
        if info.hack:
            self.inimage = 0
        if info.flat and self.flat(el, lang):
            self.depth -= 1
            return
        start = info.start
        stack = self.stack
        if start is not None:
            start(self, attrs)
        elif attrs:
            self.context()[info.key] = attrs
        else:
            stack.append([info.key, 1, []])
        text = el.text
        if text and stack:
            stack[-1][2].append(text)
        if len(el):
            walk = self.walk
            for child in el:
                walk(child, lang)
                tail = child.tail
                if tail and stack:
                    stack[-1][2].append(tail)
        end = info.end
        if end is not None:
            end(self)
        else:
            self.pop(info.key)
        self.depth -= 1

    def flat(self, item: Any, lang: str | None) -> bool:  # fasthandlers.Machine reads it
        return False  # False: walk the item

    # ------------------------------------------------------------------ the stack

    def push(self, element: str, expecting_text: Any) -> None:
        self.stack.append([element, expecting_text, []])

    def pop(self, element: str, strip_whitespace: int = 1) -> str | None:
        stack = self.stack
        if not stack or stack[-1][0] != element:
            return None
        element, expecting_text, pieces = stack.pop()
        output = "".join(pieces)
        if strip_whitespace:
            output = output.strip()
        if not expecting_text:
            return output
        if element in _CAN_BE_RELATIVE and output and (element != "id" or self.guidislink):
            output = _urljoin(output)
        if not output.isascii():
            # feedparser's repair of UTF-8 read as ISO-8859-1, then its cp1252 mapping.
            with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
                output = output.encode("iso-8859-1").decode("utf-8")
            output = output.translate(_CP1252)
        if element in ("category", "tags", "itunes_keywords"):
            return output
        if element == "title" and -1 < self.title_depth <= self.depth:
            return output
        if self.inentry and not self.insource:
            entry = self.entries[-1]
            if element == "content":
                entry.setdefault("content", []).append({"value": output})
            elif element == "link":
                if not self.inimage:
                    if "&" in output:
                        output = output.replace("&amp;", "&")
                        if ";" in output:
                            output = _LINK_AMP.sub(r"&\g<1>", output)
                    entry["link"] = output
                    if output:
                        self._last_link(entry)
            else:
                if element == "description":
                    element = "summary"
                old = self.depthmap.get(element)
                if old is None or self.depth <= old:
                    self.depthmap[element] = self.depth
                    entry[element] = output
                if self.incontent:
                    entry[element + "_detail"] = {"language": self.contentparams.get("language")}
        elif self.infeed or self.insource:
            context = self.context()
            if element == "description":
                element = "subtitle"
            context[element] = output
            if element == "link":
                if "&" in output:
                    output = _LINK_AMP.sub(r"&\g<1>", output)
                context[element] = output
                self._last_link(context)
            elif self.incontent:
                context[element + "_detail"] = {"language": self.contentparams.get("language")}
        return output

    @staticmethod
    def _last_link(context: dict[str, Any]) -> None:
        links = context.get("links")
        if not links or not isinstance(links, list):
            raise Decline("a link's text without its link")

    def push_content(self, tag: str, attrs: dict[str, str], default: str, expecting: Any) -> None:
        self.incontent += 1
        if self.lang:
            self.lang = self.lang.replace("_", "-")
        kind = default  # text/plain or text/html: neither base64 nor XHTML
        if attrs:
            kind = _map_content_type(attrs.get("type", default))
            if attrs.get("mode", "") == "base64" or not (
                kind.startswith("text/") or kind.endswith("+xml") or kind.endswith("/xml")
            ):
                raise Decline("base64 content")
            if kind == "application/xhtml+xml":
                raise Decline("XHTML content")
        self.contentparams = {"type": kind, "language": self.lang}
        self.push(tag, expecting)

    def pop_content(self, tag: str) -> str | None:
        value = self.pop(tag)
        self.incontent -= 1
        self.contentparams.clear()
        return value

    def context(self) -> dict[str, Any]:
        if self.insource:
            return self.sourcedata
        if self.inimage and "image" in self.feeddata:
            image: dict[str, Any] = self.feeddata["image"]
            return image
        if self.inentry:
            return self.entries[-1]
        return self.feeddata

    def save(self, key: str, value: Any, overwrite: bool = False) -> None:
        if overwrite:
            self.context()[key] = value
        else:
            self.context().setdefault(key, value)

    def save_author(self, key: str, value: Any, prefix: str = "author") -> None:
        context = self.context()
        context.setdefault(prefix + "_detail", {})
        context[prefix + "_detail"][key] = value
        self.sync_author_detail()
        context.setdefault("authors", [{}])
        context["authors"][-1][key] = value

    def sync_author_detail(self, key: str = "author") -> None:
        context = self.context()
        detail = context.get(f"{key}s", [{}])[-1]
        if detail:
            name = detail.get("name")
            email = detail.get("email")
            if name and email:
                context[key] = f"{name} ({email})"
            elif name:
                context[key] = name
            elif email:
                context[key] = email
            return
        author, email = context.get(key), None
        if not author:
            return
        found = re.search(_EMAIL, author)
        if found:
            email = found.group(0)
            author = author.replace(email, "")
            author = author.replace("()", "")
            author = author.replace("<>", "")
            author = author.replace("&lt;&gt;", "")
            author = author.strip()
            if author and (author[0] == "("):
                author = author[1:]
            if author and (author[-1] == ")"):
                author = author[:-1]
            author = author.strip()
        if author or email:
            context.setdefault(f"{key}_detail", detail)
        if author:
            detail["name"] = author
        if email:
            detail["email"] = email
