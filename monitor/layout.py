"""Stored hits -> stories as a message shows them. Pure: no templates, no clock.

- **One entry per story.** Hits are grouped by story (monitor/stories.py; without one, by
  link or item id, so one item through two feeds is still one entry). The earliest copy
  leads; the other outlets are listed as "also reported by", with their links.
- **The topic that explains it best.** A story is filed under the rule, among those that
  matched its lead copy, whose matched terms cover most of the headline; then the rule
  matched earliest in the text (the lead paragraph names its subject first); then the
  order of the rules. A story about Omuraliev at a reception where an ambassador also
  spoke goes under Omuraliev: his name is in the headline, the ambassador's is not. The
  other topics that matched are named in words.
- **Why, in words.** The rule's query says which of its terms a match needs: of an OR the
  first alternative found, of an AND every part, nothing under NOT. Those terms, and only
  those, are named ("names Kubanychbek Omuraliev; mentions diaspora; an amount of $60
  billion") and highlighted, once each in the headline and in the snippet.
- **Only http and https links.** Any other link (``javascript:``, ``data:``) is never a
  link: the templates show it as text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from monitor.model import Priority, Rule, StoredHit, Story, StoryCopy, TermMatch
from monitor.rules.query import Amount, And, EntityRef, Node, Not, Or, Phrase, QueryError, Term
from monitor.rules.query import parse_query as _parse_query

__all__ = [
    "SNIPPET",
    "Layout",
    "StoryView",
    "Topic",
    "TopicGroup",
    "build",
    "highlight",
    "safe_url",
]

SNIPPET = 280
#: Stories named at the top of a digest.
TOP = 5
#: An unsafe link is shown as text, cut to this length.
UNSAFE_SHOWN = 80

Segments = list[tuple[str, bool]]


#: An http or https URL with a host, and nothing a browser would read otherwise (no space,
#: control character, quote or angle bracket).
_SAFE = re.compile(r"https?://[^\s/?#\\@\"'<>]*[^\s/?#\\@:\"'<>.][^\s\"'<>\\]*\Z", re.I)


def safe_url(url: str | None) -> str | None:
    """The link if it is an http or https URL with a host, else None."""
    if not url:
        return None
    url = url.strip()
    return url if _SAFE.match(url) else None


def _unsafe(url: str | None, safe: str | None) -> str | None:
    """A link that must not be a link, as text to show (cut short), or None."""
    if not url or safe:
        return None
    flat = " ".join(url.split())
    return flat if len(flat) <= UNSAFE_SHOWN else flat[: UNSAFE_SHOWN - 1] + "…"


def highlight(text: str, spans: Sequence[tuple[int, int]]) -> Segments:
    """Split text into (piece, is_match) segments; overlapping spans are merged."""
    merged: list[list[int]] = []
    for start, end in sorted((max(0, s), min(len(text), e)) for s, e in spans):
        if start >= end:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out: Segments = []
    pos = 0
    for start, end in merged:
        if start > pos:
            out.append((text[pos:start], False))
        out.append((text[start:end], True))
        pos = end
    if pos < len(text):
        out.append((text[pos:], False))
    return out


def snippet(text: str, spans: Sequence[tuple[int, int]], width: int = SNIPPET) -> Segments:
    """A window of the text around its first match, highlighted."""
    if len(text) <= width:
        return highlight(text, spans)
    first = min((s for s, _ in spans), default=0)
    start = max(0, first - width // 3)
    if start:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < first else start
    end = min(len(text), start + width)
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > start else end
    shifted = [(s - start, e - start) for s, e in spans if s >= start and e <= end]
    segments = highlight(text[start:end], shifted)
    if start:
        segments.insert(0, ("… ", False))
    if end < len(text):
        segments.append((" …", False))
    return segments


# --------------------------------------------------------------------------- views


@dataclass(frozen=True)
class CopyView:
    """One outlet's copy of a story."""

    feed: str
    feed_id: str
    title: str
    url: str | None
    unsafe_url: str | None
    published: str
    published_at: datetime | None


@dataclass(frozen=True)
class StoryView:
    """One story as templates see it: its lead copy, why it matched, its other copies."""

    anchor: str
    title: Segments
    title_text: str
    url: str | None
    unsafe_url: str | None
    feed: str
    published: str
    snippet: Segments
    why: str
    topic_id: str
    topic: str
    priority: Priority
    #: Names of the other topics that matched.
    also_topics: tuple[str, ...]
    #: The other outlets' copies, earliest first.
    also_reported: tuple[CopyView, ...]
    record: Story
    #: When the lead copy was published (or fetched).
    when: datetime


@dataclass(frozen=True)
class Topic:
    """A topic as a message or a page heads it: its rule's id, name, tags and priority."""

    rule_id: str
    name: str
    tags: tuple[str, ...]
    priority: str


@dataclass(frozen=True)
class TopicGroup(Topic):
    stories: list[StoryView]

    @property
    def anchor(self) -> str:
        return f"topic-{self.rule_id}"


@dataclass(frozen=True)
class Layout:
    groups: list[TopicGroup]
    #: The stories most outlets reported (then the high-priority ones, then the newest).
    top: list[StoryView]

    @property
    def stories(self) -> list[StoryView]:
        return [story for group in self.groups for story in group.stories]

    @property
    def items(self) -> int:
        return sum(len(s.record.items) for s in self.stories)

    @property
    def outlets(self) -> int:
        return len({c.feed_id for s in self.stories for c in s.record.items})


# --------------------------------------------------------------------------- explanation


def _parse(query: str) -> Node | None:
    try:
        return _parse_query(query)
    except (QueryError, ValueError):
        return None


Leaf = Term | Phrase | EntityRef | Amount


def needed(node: Node, found: Mapping[str, tuple[int, int]]) -> list[Leaf] | None:
    """The terms a match of ``node`` needs, given where each term was found first (None:
    it does not match with these): every part of an AND, nothing under a NOT, and of an
    OR the alternative found first (in the headline before the text)."""
    if isinstance(node, Not):
        return []
    if isinstance(node, And):
        out: list[Leaf] = []
        for child in node.children:
            part = needed(child, found)
            if part is None:
                return None
            out.extend(part)
        return out
    if isinstance(node, Or):
        options = [p for p in (needed(child, found) for child in node.children) if p]
        if not options:
            return None
        return min(options, key=lambda p: min(found.get(leaf.text, (9, 0)) for leaf in p))
    return [node] if node.text in found else None


def _field_text(hit: StoredHit, field: str) -> str | None:
    if field == "title":
        return hit.title
    if field == "summary":
        return hit.summary
    if field == "content":
        return hit.content
    return None


def _shown(hit: StoredHit, matches: Sequence[TermMatch]) -> str | None:
    """The text a term matched, as the item wrote it (title, summary or full text)."""
    for m in matches:
        text = _field_text(hit, m.field)
        if text is not None and 0 <= m.start < m.end <= len(text):
            return " ".join(text[m.start : m.end].split())
    return None


def _in_words(
    leaf: Leaf | str, hit: StoredHit, matches: list[TermMatch], entities: Mapping[str, str]
) -> str:
    shown = _shown(hit, matches)
    if isinstance(leaf, EntityRef):
        return f"names {entities.get(leaf.name) or shown or leaf.name}"
    if isinstance(leaf, Amount):
        if shown:
            return f"an amount of {shown}"
        low = f"${leaf.low:,.0f}" if leaf.low is not None else None
        return f"an amount of {low} or more" if low else "an amount in range"
    if isinstance(leaf, Phrase):
        return f'mentions "{shown or " ".join(leaf.tokens)}"'
    if isinstance(leaf, Term):
        return f"mentions {shown or leaf.token}"
    return f"mentions {shown or leaf}"


@dataclass
class _Explained:
    why: str
    title_spans: list[tuple[int, int]]
    summary_spans: list[tuple[int, int]]
    #: Spans in the article's full text (full_text feeds), shown when the summary has none.
    content_spans: list[tuple[int, int]]

    def snippet(self, hit: StoredHit) -> Segments:
        """A window of the summary around its first match, or of the full text when only
        the full text matched."""
        if self.content_spans and not self.summary_spans and hit.content:
            return snippet(hit.content, self.content_spans)
        return snippet(hit.summary, self.summary_spans)


def explain(hit: StoredHit, rule: Rule | None, entities: Mapping[str, str]) -> _Explained:
    """Why one rule matched one item, in words, and the spans that show it."""
    fields = {"title": 0, "summary": 1}
    found: dict[str, tuple[int, int]] = {}
    for m in hit.matches:
        where = (fields.get(m.field, 2), m.start)
        found[m.term] = min(found.get(m.term, where), where)
    tree = _parse(rule.query) if rule else None
    leaves: Sequence[Leaf | str] | None = needed(tree, found) if tree is not None else None
    if not leaves:
        leaves = list(dict.fromkeys(m.term for m in hit.matches))
    words: list[str] = []
    title_spans: list[tuple[int, int]] = []
    summary_spans: list[tuple[int, int]] = []
    content_spans: list[tuple[int, int]] = []
    for leaf in leaves:
        term = leaf if isinstance(leaf, str) else leaf.text
        matches = sorted((m for m in hit.matches if m.term == term), key=lambda m: m.start)
        words.append(_in_words(leaf, hit, matches, entities))
        in_title = [(m.start, m.end) for m in matches if m.field == "title"]
        in_summary = [(m.start, m.end) for m in matches if m.field == "summary"]
        in_content = [(m.start, m.end) for m in matches if m.field == "content"]
        title_spans.extend(in_title[:1])
        summary_spans.extend(in_summary[:1])
        content_spans.extend(in_content[:1])
    return _Explained("; ".join(dict.fromkeys(words)), title_spans, summary_spans, content_spans)


# --------------------------------------------------------------------------- topics


def _cover(hit: StoredHit) -> tuple[int, tuple[int, int]]:
    """How much of the headline a hit's matches cover, and where it matched first."""
    spans = highlight(hit.title, [(m.start, m.end) for m in hit.matches if m.field == "title"])
    covered = sum(len(text) for text, marked in spans if marked)
    order = {"title": 0, "summary": 1}
    first = min(((order.get(m.field, 2), m.start) for m in hit.matches), default=(3, 0))
    return covered, first


def topic(hits: Sequence[StoredHit], rules: Mapping[str, Rule]) -> StoredHit:
    """Of one item's hits, the one whose rule explains the item best (see the module)."""
    order = {rule_id: i for i, rule_id in enumerate(rules)}

    def rank(hit: StoredHit) -> tuple[int, tuple[int, int], int, str]:
        covered, first = _cover(hit)
        return (-covered, first, order.get(hit.rule_id, len(order)), hit.rule_id)

    return min(hits, key=rank)


# --------------------------------------------------------------------------- build


def _when(hit: StoredHit) -> datetime:
    return hit.published or hit.fetched


def _story_key(hit: StoredHit) -> tuple[str, str]:
    if hit.story_id is not None:
        return ("story", str(hit.story_id))
    return ("link", hit.url) if hit.url else ("item", hit.item_id)


def build(
    hits: Sequence[StoredHit],
    rules: Mapping[str, Rule],
    entities: Mapping[str, str],
    tz: ZoneInfo,
    *,
    top: int = TOP,
) -> Layout:
    """Each story once, under its topic; the topics in the rules' order, the stories of a
    topic newest first; the top stories beside."""
    by_story: dict[tuple[str, str], dict[tuple[str, str], list[StoredHit]]] = {}
    for hit in hits:
        copies = by_story.setdefault(_story_key(hit), {})
        copies.setdefault((hit.feed_id, hit.item_id), []).append(hit)

    def name(rule_id: str) -> str:
        rule = rules.get(rule_id)
        return rule.name if rule else rule_id

    def stamp(when: datetime | None) -> str:
        return when.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z") if when else ""

    placed: dict[str, list[StoryView]] = {}
    for number, copies in enumerate(by_story.values(), start=1):
        ordered = sorted(copies.values(), key=lambda h: (_when(h[0]), h[0].feed_id))
        lead_hits = ordered[0]
        lead = topic(lead_hits, rules)
        rule = rules.get(lead.rule_id)
        explained = explain(lead, rule, entities)
        all_rules = list(dict.fromkeys([lead.rule_id, *(h.rule_id for c in ordered for h in c)]))
        copies_view = []
        for c in ordered:
            url = safe_url(c[0].url)
            copies_view.append(
                CopyView(
                    feed=c[0].feed_title,
                    feed_id=c[0].feed_id,
                    title=c[0].title or "(untitled)",
                    url=url,
                    unsafe_url=_unsafe(c[0].url, url),
                    published=stamp(_when(c[0])),
                    published_at=c[0].published,
                )
            )
        record = Story(
            id=lead.story_id,
            title=lead.title or "(untitled)",
            topic_id=lead.rule_id,
            topic=name(lead.rule_id),
            rules=tuple(all_rules),
            why=explained.why,
            items=tuple(
                StoryCopy(c.feed_id, c.feed, c.title, c.url, c.published_at) for c in copies_view
            ),
        )
        view = StoryView(
            anchor=f"story-{number}",
            title=highlight(lead.title or "(untitled)", explained.title_spans),
            title_text=lead.title or "(untitled)",
            url=copies_view[0].url,
            unsafe_url=copies_view[0].unsafe_url,
            feed=lead.feed_title,
            published=copies_view[0].published,
            snippet=explained.snippet(lead),
            why=explained.why,
            topic_id=lead.rule_id,
            topic=name(lead.rule_id),
            priority=rule.priority if rule else "normal",
            also_topics=tuple(name(r) for r in all_rules[1:]),
            also_reported=tuple(copies_view[1:]),
            record=record,
            when=_when(lead),
        )
        placed.setdefault(lead.rule_id, []).append(view)

    order = {rule_id: i for i, rule_id in enumerate(rules)}
    groups = []
    for rule_id in sorted(placed, key=lambda r: (order.get(r, len(order)), r)):
        rule = rules.get(rule_id)
        stories = sorted(placed[rule_id], key=lambda s: s.when, reverse=True)
        groups.append(
            TopicGroup(
                rule_id=rule_id,
                name=name(rule_id),
                tags=rule.tags if rule else (),
                priority=rule.priority if rule else "normal",
                stories=stories,
            )
        )
    everything = [s for g in groups for s in g.stories]
    ranked = sorted(
        everything,
        key=lambda s: (-len(s.record.items), s.priority != "high", s.anchor),
    )
    return Layout(groups=groups, top=ranked[:top])
