"""The element handlers of fastparse's machine: feedparser's, ported one by one.

Each method is the namesake of a feedparser handler (`start_title` of `_start_title`, in
feedparser/namespaces/_base.py, dc.py, mediarss.py, itunes.py) and does what it does to
the values that are read back: titles, links, ids, summaries, content, authors, dates,
the feed's title and ttl. Bookkeeping nobody reads (tags, enclosures' details, media
credits' text) is kept only as far as other handlers look at it. An element whose
handler is not here is declined by Core.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partialmethod

from monitor.feeds import fastflat
from monitor.feeds.fastcore import (
    _HTML_TYPES,
    Core,
    Decline,
    _map_content_type,
    _urljoin,
    _words,
)


class Machine(Core):
    """Core with the handlers."""

    flat = fastflat.read_item  # the walk calls it as a method: one call less per item

    def start_rss(self, attrs: dict[str, str]) -> None:
        if not self.version or not self.version.startswith("rss"):
            version = attrs.get("version", "")
            self.version = "rss20" if version.startswith("2.") else "rss"

    def start_channel(self, attrs: dict[str, str]) -> None:
        self.infeed = 1
        self._cdf(attrs)

    def _cdf(self, attrs: dict[str, str]) -> None:
        if "lastmod" in attrs or "href" in attrs:
            raise Decline("a CDF attribute")

    def start_feed(self, attrs: dict[str, str]) -> None:
        self.infeed = 1
        if not self.version:
            self.version = "atom"

    def end_feed(self) -> None:
        self.infeed = 0

    def start_image(self, attrs: dict[str, str]) -> None:
        if self.inentry:
            raise Decline("an image inside an entry")
        self.context().setdefault("image", {})
        self.inimage = 1
        self.title_depth = -1
        self.push("image", 0)

    def end_image(self) -> None:
        self.pop("image")
        self.inimage = 0

    def start_author(self, attrs: dict[str, str]) -> None:
        self.inauthor = 1
        self.push("author", 1)
        context = self.context()
        context.setdefault("authors", [])
        context["authors"].append({})

    def end_author(self) -> None:
        self.pop("author")
        self.inauthor = 0
        self.sync_author_detail()

    def start_contributor(self, attrs: dict[str, str]) -> None:
        self.incontributor = 1
        self.push("contributor", 0)

    def end_contributor(self) -> None:
        self.pop("contributor")
        self.incontributor = 0

    def _plain(self, name: str, expecting: int, attrs: dict[str, str]) -> None:
        self.push(name, expecting)

    start_name = partialmethod(_plain, "name", 0)
    start_width = partialmethod(_plain, "width", 0)
    start_height = partialmethod(_plain, "height", 0)
    start_url = partialmethod(_plain, "href", 1)
    start_email = partialmethod(_plain, "email", 0)

    def _size(self, name: str) -> None:
        value = self.pop(name)
        if value is None:
            raise Decline(f"{name} out of place")  # feedparser raises on int(None)
        try:
            number = int(value)
        except ValueError:
            number = 0
        if self.inimage:
            self.context()[name] = number

    end_width = partialmethod(_size, "width")
    end_height = partialmethod(_size, "height")

    def _person_detail(self, key: str) -> None:
        """A publisher's or an author's name or email, as feedparser saves it."""
        value = self.pop(key)
        if self.inpublisher:
            self.save_author(key, value, "publisher")
        elif self.inauthor:
            self.save_author(key, value)

    end_name = partialmethod(_person_detail, "name")
    end_email = partialmethod(_person_detail, "email")

    def end_url(self) -> None:
        value = self.pop("href")
        if self.inauthor:
            self.save_author("href", value)

    def start_subtitle(self, attrs: dict[str, str]) -> None:
        self.push_content("subtitle", attrs, "text/plain", 1)

    def end_subtitle(self) -> None:
        self.pop_content("subtitle")

    def start_rights(self, attrs: dict[str, str]) -> None:
        self.push_content("rights", attrs, "text/plain", 1)

    def end_rights(self) -> None:
        self.pop_content("rights")

    def start_info(self, attrs: dict[str, str]) -> None:
        self.push_content("info", attrs, "text/plain", 1)

    def end_info(self) -> None:
        self.pop_content("info")

    def start_item(self, attrs: dict[str, str]) -> None:
        if self.inentry:
            raise Decline("an entry inside an entry")
        self.entries.append({})
        self.depthmap = {}
        self.push("item", 0)
        self.inentry = 1
        self.guidislink = False
        self.title_depth = -1
        about = attrs.get("rdf:about") if attrs else None
        if about:
            self.context()["id"] = about
        self._cdf(attrs)

    def end_item(self) -> None:
        self.pop("item")
        self.inentry = 0
        self.has_content = 0

    def start_language(self, attrs: dict[str, str]) -> None:
        self.push("language", 1)

    def end_language(self) -> None:
        self.lang = self.pop("language")

    def start_webmaster(self, attrs: dict[str, str]) -> None:
        self.push("publisher", 1)

    def end_webmaster(self) -> None:
        self.pop("publisher")
        self.sync_author_detail("publisher")

    def start_published(self, attrs: dict[str, str]) -> None:
        self.push("published", 1)

    def end_published(self) -> None:
        value = self.pop("published")
        self.save("published_parsed", self.parse_date(value) if value else None, True)

    def start_updated(self, attrs: dict[str, str]) -> None:
        self.push("updated", 1)

    def end_updated(self) -> None:
        value = self.pop("updated")
        self.save("updated_parsed", self.parse_date(value) if value else None, True)

    def start_created(self, attrs: dict[str, str]) -> None:
        self.push("created", 1)

    def end_created(self) -> None:
        self.pop("created")  # created_parsed is never read

    def start_expirationdate(self, attrs: dict[str, str]) -> None:
        self.push("expired", 1)

    def end_expirationdate(self) -> None:
        self.pop("expired")  # expired_parsed is never read

    def start_category(self, attrs: dict[str, str]) -> None:
        self.push("category", 1)  # tags are never read

    def end_category(self) -> None:
        self.pop("category")

    def start_cloud(self, attrs: dict[str, str]) -> None:
        self.context()["cloud"] = attrs

    def start_link(self, attrs: dict[str, str]) -> None:
        attrs.setdefault("rel", "alternate")
        if attrs["rel"] == "self":
            attrs.setdefault("type", "application/atom+xml")
        else:
            attrs.setdefault("type", "text/html")
        context = self.context()
        href = attrs.get("url", attrs.get("uri", attrs.get("href")))
        if href:
            attrs.pop("url", None)
            attrs.pop("uri", None)
            attrs["href"] = href
        if "href" in attrs:
            attrs["href"] = _urljoin(attrs["href"])
        expecting_text = self.infeed or self.inentry or self.insource
        links = context.setdefault("links", [])
        if not isinstance(links, list):
            raise Decline("links that are not a list")
        if not (self.inentry and self.inimage):
            links.append(attrs)
        if "href" in attrs:
            if attrs.get("rel") == "alternate" and (
                _map_content_type(attrs.get("type") or "") in _HTML_TYPES
            ):
                context["link"] = attrs["href"]
        else:
            self.push("link", expecting_text)

    def end_link(self) -> None:
        self.pop("link")

    def start_guid(self, attrs: dict[str, str]) -> None:
        self.guidislink = attrs.get("ispermalink", "true") == "true"
        self.push("id", 1)

    def end_guid(self) -> None:
        value = self.pop("id")
        self.save("guidislink", self.guidislink and "link" not in self.context())
        if self.guidislink:
            self.save("link", value)

    def start_title(self, attrs: dict[str, str]) -> None:
        self.push_content(
            "title", attrs, "text/plain", self.infeed or self.inentry or self.insource
        )

    def end_title(self) -> None:
        value = self.pop_content("title")
        if not value:
            return
        self.title_depth = self.depth

    def start_description(self, attrs: dict[str, str]) -> None:
        if "summary" in self.context() and not self.has_content:
            self.summary_key = "content"
            self.start_content(attrs)
        else:
            self.push_content(
                "description", attrs, "text/html", self.infeed or self.inentry or self.insource
            )

    def start_abstract(self, attrs: dict[str, str]) -> None:
        self.push_content(
            "description", attrs, "text/plain", self.infeed or self.inentry or self.insource
        )

    def end_description(self) -> None:
        if self.summary_key == "content":
            self.end_content()
        else:
            self.pop_content("description")
        self.summary_key = None

    def start_generator(self, attrs: dict[str, str]) -> None:
        self.context()["generator_detail"] = attrs
        self.push("generator", 1)

    def end_generator(self) -> None:
        self.pop("generator")

    def start_summary(self, attrs: dict[str, str]) -> None:
        if "summary" in self.context() and not self.has_content:
            self.summary_key = "content"
            self.start_content(attrs)
        else:
            self.summary_key = "summary"
            self.push_content("summary", attrs, "text/plain", 1)

    def end_summary(self) -> None:
        if self.summary_key == "content":
            self.end_content()
        else:
            self.pop_content(self.summary_key or "summary")
        self.summary_key = None

    def start_enclosure(self, attrs: dict[str, str]) -> None:
        links = self.context().setdefault("links", [])
        if not isinstance(links, list):
            raise Decline("links that are not a list")
        links.append(attrs)

    def start_source(self, attrs: dict[str, str]) -> None:
        if "url" in attrs:
            self.sourcedata["href"] = attrs["url"]
        self.push("source", 1)
        self.insource = 1
        self.title_depth = -1

    def end_source(self) -> None:
        self.insource = 0
        value = self.pop("source")
        if value:
            self.sourcedata["title"] = value
        self.context()["source"] = dict(self.sourcedata)
        self.sourcedata.clear()

    def start_content(self, attrs: dict[str, str]) -> None:
        self.has_content = 1
        self.push_content("content", attrs, "text/plain", 1)
        self.push("content", 1)

    def start_content_encoded(self, attrs: dict[str, str]) -> None:
        self.has_content = 1
        self.push_content("content", attrs, "text/html", 1)

    def end_content(self) -> None:
        kind = self.contentparams.get("type")
        copy = kind is not None and _map_content_type(kind) in ("text/plain", *_HTML_TYPES)
        value = self.pop_content("content")
        if copy:
            self.save("summary", value)

    def start_media_category(self, attrs: dict[str, str]) -> None:
        self.start_category(attrs)

    def end_media_keywords(self) -> None:
        self.pop("media_keywords")

    def end_media_title(self) -> None:
        depth = self.title_depth
        self.end_title()
        self.title_depth = depth

    def start_nothing(self, attrs: dict[str, str]) -> None:
        pass

    def start_media_content(self, attrs: dict[str, str]) -> None:
        self.context().setdefault("media_content", []).append(attrs)

    def start_media_thumbnail(self, attrs: dict[str, str]) -> None:
        self.context().setdefault("media_thumbnail", []).append(attrs)
        self.push("url", 1)

    def end_media_thumbnail(self) -> None:
        self.pop("url")

    def start_itunes_owner(self, attrs: dict[str, str]) -> None:
        self.inpublisher = 1
        self.push("publisher", 0)

    def end_itunes_owner(self) -> None:
        self.pop("publisher")
        self.inpublisher = 0
        self.sync_author_detail("publisher")

    def end_itunes_keywords(self) -> None:
        self.pop("itunes_keywords")

    def start_itunes_image(self, attrs: dict[str, str]) -> None:
        self.push("itunes_image", 0)
        if attrs.get("href"):
            self.context()["image"] = {"href": attrs.get("href")}
        elif attrs.get("url"):
            self.context()["image"] = {"href": attrs.get("url")}

    def end_itunes_image(self) -> None:
        self.pop("itunes_image")

    def end_itunes_flag(self, key: str) -> None:
        value = self.pop(key, 0)
        self.context()[key] = value


def _pusher(element: str, expecting: int) -> Callable[[Machine, dict[str, str]], None]:
    def start(m: Machine, attrs: dict[str, str]) -> None:
        m.push(element, expecting)

    return start


def _popper(element: str) -> Callable[[Machine], None]:
    def end(m: Machine) -> None:
        m.pop(element)

    return end


def _flag(key: str) -> Callable[[Machine], None]:
    def end(m: Machine) -> None:
        m.end_itunes_flag(key)

    return end


#: feedparser's aliases (`_start_managingeditor = _start_author` ...): element key ->
#: the key whose handlers it shares.
ALIASES = dict(
    pair.split("=")
    for pair in _words(
        """
        managingeditor=author dc_author=author dc_creator=author itunes_author=author
        itunes_name=name homepage=url uri=url itunes_email=email tagline=subtitle
        itunes_subtitle=subtitle copyright=rights dc_rights=rights
        feedburner_browserfriendly=info entry=item dc_language=language
        dc_publisher=webmaster issued=published pubdate=published dcterms_issued=published
        modified=updated lastbuilddate=updated dc_date=updated dcterms_modified=updated
        dcterms_created=created keywords=category dc_subject=category
        itunes_category=category id=guid dc_title=title dc_description=description
        media_description=description itunes_summary=summary fullitem=content_encoded
        itunes_link=itunes_image
        """
    )
)
_OWN = _words(
    """
    rss channel feed image author contributor name width height url email subtitle rights
    info item language webmaster published updated created expirationdate category cloud
    link guid title description abstract generator summary enclosure source content
    content_encoded media_category media_keywords media_title media_content media_thumbnail
    itunes_owner itunes_keywords itunes_image
    """
)


def _tables() -> None:
    starts: dict[str, Callable[[Machine, dict[str, str]], None]] = {}
    ends: dict[str, Callable[[Machine], None]] = {}
    for key in (*_OWN, *ALIASES):
        own = ALIASES.get(key, key)
        if hasattr(Machine, f"start_{own}"):
            starts[key] = getattr(Machine, f"start_{own}")
        if hasattr(Machine, f"end_{own}"):
            ends[key] = getattr(Machine, f"end_{own}")
    # The differences from the plain rule above, as feedparser has them.
    ends["channel"] = ends["feed"]
    ends["abstract"] = ends["description"]
    ends["media_category"] = ends["category"]
    ends["content"] = ends["content_encoded"] = ends["fullitem"] = Machine.end_content
    starts["media_title"] = Machine.start_title
    starts["media_group"] = Machine.start_nothing
    for key, element, expecting in (
        ("media_credit", "credit", 1),
        ("media_rating", "rating", 1),
        ("media_restriction", "restriction", 1),
        ("media_license", "license", 1),
        ("media_player", "media_player", 0),
    ):
        starts[key] = _pusher(element, expecting)
        ends[key] = _popper(element)
    ends["itunes_block"] = _flag("itunes_block")
    ends["itunes_explicit"] = _flag("itunes_explicit")
    Machine.starts = starts
    Machine.ends = ends


_tables()
