"""What each archive page shows: read from the store, explained by the rules.

The pages' parameters arrive checked (pages.py); a problem found here (a query that does
not parse, a topic that does not exist) is a ``BadRequest`` with one clear line, shown on
the page with status 400. Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from monitor.archive import ArchiveItem, ArchiveStore, Filters, Prefilter, StoredMatch, Story
from monitor.feeds.health import status as feed_status
from monitor.layout import Segments, Topic, highlight, snippet
from monitor.model import Clock, Entry, FeedState, Hit, Rule, RuleSet, TermMatch, copied
from monitor.protocols import ReplayStore
from monitor.rules import QueryError, RuleMatcher, compile_rules, parse_query
from monitor.rules.entities import compile_entity
from monitor.rules.query import entity_names
from monitor.search import prefilter
from monitor.web.chart import Bar, bars, days_ending

#: Candidates the rules check for one page of search results, at most.
MAX_SCAN = 20_000
CHART_DAYS = 30
_BATCH = 200


class BadRequest(Exception):
    """A parameter the page cannot use: one line for the user, status 400."""


class WebStore(ArchiveStore, ReplayStore, Protocol):
    """What the pages read."""


@dataclass
class Archive:
    """What the pages need: the store, the rules in force, the clock, the rule files."""

    store: WebStore
    rules: Callable[[], RuleSet]
    clock: Clock
    rule_paths: tuple[Path, ...] = ()
    base: Path | None = None
    page_size: int = 25
    _queries: dict[tuple[str, int], tuple[RuleMatcher, Prefilter | None]] = field(
        default_factory=dict, repr=False
    )

    def query(self, text: str) -> tuple[RuleMatcher, Prefilter | None]:
        """A search query compiled as a rule (with the configured entities), and what the
        full-text index is asked for it. Raises BadRequest naming the problem."""
        ruleset = self.rules()
        key = (text, id(ruleset))
        found = self._queries.get(key)
        if found is None:
            found = _compile_query(text, ruleset)
            if len(self._queries) > 256:
                self._queries.clear()
            self._queries[key] = found
        return found

    def where(self, rule: Rule) -> str:
        """A rule's file:line, relative to the configuration's folder when inside it."""
        path = Path(rule.file)
        if self.base is not None and path.is_relative_to(self.base):
            path = path.relative_to(self.base)
        return f"{path}:{rule.line}"


def _compile_query(text: str, ruleset: RuleSet) -> tuple[RuleMatcher, Prefilter | None]:
    try:
        node = parse_query(text)
    except QueryError as e:
        pos, message = e.problems[0]
        raise BadRequest(f"query, at character {pos + 1}: {message}") from e
    entities = {e.id: compile_entity(e) for e in ruleset.entities}
    for ref in entity_names(node):
        if ref.name not in entities:
            known = ", ".join(sorted(entities)) or "none"
            raise BadRequest(f"query: no entity {ref.name!r} in the rule files (known: {known})")
    matcher = compile_rules(
        RuleSet((Rule(id="query", name="query", query=text),), ruleset.entities)
    )
    if len(matcher) == 0:
        raise BadRequest(
            "query: it has no term that must be present (only NOT), so it would match "
            "almost every item; add a term"
        )
    return matcher, prefilter(node, entities)


def safe_url(url: str | None) -> str | None:
    """A link to show: http and https only."""
    if not url:
        return None
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    return url if scheme in ("http", "https") else None


def entry(item: ArchiveItem) -> Entry:
    """The item as rules see it (an archived item carries no fingerprint)."""
    return copied(Entry, item, id=item.guid, fingerprint="")


def _spans(matches: Sequence[TermMatch], field_name: str) -> list[tuple[int, int]]:
    return [(m.start, m.end) for m in matches if m.field == field_name]


# --------------------------------------------------------------------------- the list


@dataclass(frozen=True)
class Listing:
    """A page of the list: the filters as given, the stories shown, and paging."""

    stories: list[StoryLine]
    page: int
    has_next: bool
    #: Set when a search checked MAX_SCAN candidates and stopped.
    truncated: bool = False


@dataclass(frozen=True)
class StoryLine:
    id: int
    title: Segments
    url: str | None
    snippet: Segments
    feed: str
    when: datetime
    topics: tuple[tuple[str, str], ...]
    high: bool


def rule_filter(ruleset: RuleSet, topic: str | None, tag: str | None) -> tuple[str, ...] | None:
    """The rule ids a topic and a tag leave (None: no such filter)."""
    ids: set[str] | None = None
    rules = ruleset.by_id()
    if topic:
        if topic not in rules:
            raise BadRequest(f"topic: no rule {topic!r} in the rule files")
        ids = {topic}
    if tag:
        tagged = {r.id for r in ruleset.rules if tag in r.tags}
        if not tagged:
            raise BadRequest(f"tag: no rule has the tag {tag!r}")
        ids = tagged if ids is None else ids & tagged
    return None if ids is None else tuple(sorted(ids))


def listing(archive: Archive, filters: Filters, query: str, page: int) -> Listing:
    size = archive.page_size
    rules = archive.rules().by_id()
    if not query:
        stories = archive.store.stories(filters, offset=(page - 1) * size, limit=size + 1)
        lines = [story_line(s, rules, [m for h in s.hits for m in h.matches]) for s in stories]
        return Listing(lines[:size], page, len(lines) > size)
    matcher, pre = archive.query(query)
    skip = (page - 1) * size
    found: list[tuple[ArchiveItem, Hit]] = []
    scan = Scan(archive.store, pre, filters)
    for item in scan:
        for hit in matcher.match(entry(item)):
            if skip:
                skip -= 1
            else:
                found.append((item, hit))
        if len(found) > size:
            break
    shown = found[:size]
    stored = archive.store.hit_rules([item.id for item, _ in shown])
    lines = []
    for item, hit in shown:
        ids = sorted(stored.get(item.id, ()))
        marks = tuple(
            StoredMatch(0, item.id, r, "", _priority(rules, r), (), item.fetched) for r in ids
        )
        lines.append(story_line(Story(item.id, (item,), marks), rules, hit.matches))
    return Listing(lines, page, len(found) > size, scan.truncated)


@dataclass
class Scan:
    """The candidates of a search, newest first, read in batches; at most ``limit``."""

    store: ArchiveStore
    pre: Prefilter | None
    filters: Filters
    limit: int = MAX_SCAN
    batch: int = _BATCH
    #: The first read is small: a first page of results usually needs few candidates.
    first: int = 64
    truncated: bool = False

    def __iter__(self) -> Iterator[ArchiveItem]:
        before: int | None = None
        read = 0
        batch = self.first
        while True:
            items = self.store.search(self.pre, self.filters, before=before, limit=batch)
            for item in items:
                if read >= self.limit:
                    self.truncated = True
                    return
                read += 1
                yield item
            if len(items) < batch:
                return
            before = items[-1].id
            batch = min(batch * 4, self.batch)


def _priority(rules: Mapping[str, Rule], rule_id: str) -> str:
    rule = rules.get(rule_id)
    return rule.priority if rule else "normal"


def story_line(story: Story, rules: Mapping[str, Rule], matches: Sequence[TermMatch]) -> StoryLine:
    item = story.lead
    return StoryLine(
        id=story.id,
        title=highlight(item.title or "(untitled)", _spans(matches, "title")),
        url=safe_url(item.url),
        snippet=snippet(item.summary, _spans(matches, "summary"), 240),
        feed=item.feed_title,
        when=item.when,
        topics=tuple(
            (rule_id, rules[rule_id].name if rule_id in rules else rule_id)
            for rule_id in story.rule_ids
        ),
        high=any(h.priority == "high" for h in story.hits),
    )


# --------------------------------------------------------------------------- one story


@dataclass(frozen=True)
class Delivered:
    target: str
    kind: str
    status: str
    when: datetime | None
    message_id: str
    attempts: int
    error: str | None


@dataclass(frozen=True)
class HitView:
    rule_id: str
    name: str
    query: str | None
    where: str | None
    priority: str
    created: datetime
    why: str
    #: The rule changed since it made this hit (its version differs), or is gone.
    changed: bool
    sent: list[Delivered]


@dataclass(frozen=True)
class ItemView:
    id: int
    feed: str
    url: str | None
    when: datetime
    author: str
    title: Segments
    summary: Segments
    content: Segments


@dataclass(frozen=True)
class StoryPage:
    id: int
    items: list[ItemView]
    hits: list[HitView]
    query: str


def story_page(
    archive: Archive, story_id: int, query: str = "", kinds: Mapping[str, str] | None = None
) -> StoryPage | None:
    """One story: its items highlighted (the stored hits' spans, and the query's when the
    page was opened from a search), each hit explained in words, and its deliveries."""
    story = archive.store.story(story_id)
    if story is None:
        return None
    rules = archive.rules().by_id()
    extra: list[TermMatch] = []
    if query:
        matcher, _ = archive.query(query)
        extra = [m for h in matcher.match(entry(story.lead)) for m in h.matches]
    sendings = archive.store.sendings([h.id for h in story.hits])
    items = []
    for item in story.items:
        matches = [m for h in story.hits if h.item_id == item.id for m in h.matches] + extra
        items.append(
            ItemView(
                id=item.id,
                feed=item.feed_title,
                url=safe_url(item.url),
                when=item.when,
                author=item.author,
                title=highlight(item.title or "(untitled)", _spans(matches, "title")),
                summary=highlight(item.summary, _spans(matches, "summary")),
                content=highlight(item.content, _spans(matches, "content")),
            )
        )
    lead = entry(story.lead)
    hits = []
    for stored in story.hits:
        rule = rules.get(stored.rule_id)
        hits.append(
            HitView(
                rule_id=stored.rule_id,
                name=rule.name if rule else stored.rule_id,
                query=rule.query if rule else None,
                where=archive.where(rule) if rule else None,
                priority=stored.priority,
                created=stored.created,
                why=why(lead, stored.matches),
                changed=rule is None or bool(rule.version and rule.version != stored.rule_version),
                sent=[
                    Delivered(
                        target=d.target,
                        kind=(kinds or {}).get(d.target.split(":", 1)[0], ""),
                        status=d.status,
                        when=d.sent_at or d.reserved_at,
                        message_id=d.message_id,
                        attempts=d.attempts,
                        error=d.last_error,
                    )
                    for d in sendings
                    if d.hit_id == stored.id
                ],
            )
        )
    return StoryPage(story.id, items, hits, query)


def why(item: Entry, matches: Sequence[TermMatch]) -> str:
    """A hit in words: which words were found in which field."""
    if not matches:
        return "It matched without a word to show (an amount, or a NOT only)."
    found: dict[str, list[str]] = {}
    for m in matches:
        text = " ".join(item.field_text(m.field)[m.start : m.end].split()) or m.term
        words = found.setdefault(m.field, [])
        if text not in words:
            words.append(text)
    parts = [
        f"the {field_name} has " + _and([f"“{w}”" for w in words])
        for field_name, words in found.items()
    ]
    return "It matched because " + _and(parts) + "."


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


# --------------------------------------------------------------------------- topics, feeds


@dataclass(frozen=True)
class TopicLine(Topic):
    where: str | None
    query: str | None
    bars: list[Bar]
    total: int
    last_hit: datetime | None


def topics(archive: Archive) -> list[TopicLine]:
    """Every rule, with its hits per day over the last 30 days and its last hit; rules
    that have stored hits but are no longer configured come last."""
    now = archive.clock()
    days = days_ending(now.date(), CHART_DAYS)
    since = datetime.combine(days[0], datetime.min.time(), tzinfo=now.tzinfo)
    activity = {a.rule_id: a for a in archive.store.activity(since)}
    ruleset = archive.rules()
    out = []
    for rule in ruleset.rules:
        found = activity.pop(rule.id, None)
        per_day = found.per_day if found else {}
        out.append(
            TopicLine(
                rule.id,
                rule.name,
                rule.tags,
                rule.priority,
                archive.where(rule),
                rule.query,
                bars(per_day, days),
                sum(per_day.values()),
                found.last_hit if found else None,
            )
        )
    for rule_id, found in sorted(activity.items()):
        out.append(
            TopicLine(
                rule_id,
                rule_id,
                (),
                "normal",
                None,
                None,
                bars(found.per_day, days),
                sum(found.per_day.values()),
                found.last_hit,
            )
        )
    return out


@dataclass(frozen=True)
class FeedLine:
    id: str
    title: str
    url: str | None
    status: str
    last_success: datetime | None
    items_per_week: float
    next_poll: datetime | None
    errors: int
    last_error: str


def feeds(archive: Archive) -> list[FeedLine]:
    """The health table of ``monitor feeds``, with the same statuses."""
    return [_feed_line(f) for f in archive.store.feeds()]


def _feed_line(f: FeedState) -> FeedLine:
    return FeedLine(
        f.id,
        f.title or f.id,
        safe_url(f.url),
        feed_status(f),
        f.last_success,
        f.items_per_week,
        f.next_poll,
        f.error_count,
        f.last_error or "",
    )


__all__ = ["Archive", "BadRequest", "WebStore"]
