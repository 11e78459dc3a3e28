"""Jinja2: stored hits -> Message (text and HTML), highlighted and explained.

Feed text is untrusted: HTML templates autoescape, and highlighting hands the templates
plain (text, marked) segments, never markup. StrictUndefined makes a typo in a template an
error at check time, not a blank in a digest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2

from monitor.errors import RenderError
from monitor.model import Batch, Message, Rule, StoredHit, TermMatch, distinct_terms

TEMPLATES = ("digest.html", "digest.txt", "alert.html", "alert.txt")
SNIPPET = 280

Segments = list[tuple[str, bool]]


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


def _spans(matches: Sequence[TermMatch], field: str) -> list[tuple[int, int]]:
    return [(m.start, m.end) for m in matches if m.field == field]


@dataclass(frozen=True)
class HitView:
    """One hit as templates see it."""

    id: int
    title: Segments
    title_text: str
    url: str | None
    feed: str
    published: str
    snippet: Segments
    terms: tuple[str, ...]
    fields: tuple[str, ...]
    #: Names of the other rules that matched this item.
    also: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuleGroup:
    rule_id: str
    name: str
    tags: tuple[str, ...]
    priority: str
    hits: list[HitView]


class Renderer:
    """Loads the templates once; renders digests and alerts."""

    def __init__(self, templates: Path) -> None:
        self.templates = templates
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(templates)),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )

    def check(self) -> list[str]:
        """Every template problem, each naming file and line."""
        problems = []
        for name in TEMPLATES:
            try:
                self.env.get_template(name)
            except jinja2.TemplateNotFound:
                problems.append(f"{self.templates / name}: template is missing")
            except jinja2.TemplateSyntaxError as e:
                problems.append(f"{self.templates / name}:{e.lineno}: {e.message}")
        return problems

    def _view(self, hits: Sequence[StoredHit], also: tuple[str, ...], tz: ZoneInfo) -> HitView:
        """One item, with the matches of every rule that hit it merged."""
        hit = hits[0]
        matches = tuple(m for h in hits for m in h.matches)
        published = hit.published or hit.fetched
        return HitView(
            id=hit.id,
            title=highlight(hit.title or "(untitled)", _spans(matches, "title")),
            title_text=hit.title or "(untitled)",
            url=hit.url,
            feed=hit.feed_title,
            published=published.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z"),
            snippet=snippet(hit.summary, _spans(matches, "summary")),
            terms=distinct_terms(matches),
            fields=tuple(dict.fromkeys(m.field for m in matches)),
            also=also,
        )

    def groups(
        self, hits: Sequence[StoredHit], rules: Mapping[str, Rule], tz: ZoneInfo
    ) -> list[RuleGroup]:
        """Each item once, under its most specific rule (the one with the fewest items in
        this message; ties go to the rule listed first), newest first; the other rules that
        matched it are named beside it."""
        order = {rule_id: i for i, rule_id in enumerate(rules)}
        by_item: dict[tuple[str, str], list[StoredHit]] = {}
        items_per_rule: dict[str, int] = {}
        for hit in hits:
            by_item.setdefault((hit.feed_id, hit.item_id), []).append(hit)
            items_per_rule[hit.rule_id] = items_per_rule.get(hit.rule_id, 0) + 1

        def specificity(rule_id: str) -> tuple[int, int, str]:
            return (items_per_rule[rule_id], order.get(rule_id, len(order)), rule_id)

        def name(rule_id: str) -> str:
            rule = rules.get(rule_id)
            return rule.name if rule else rule_id

        placed: dict[str, list[tuple[StoredHit, HitView]]] = {}
        for item_hits in by_item.values():
            item_hits.sort(key=lambda h: specificity(h.rule_id))
            home = item_hits[0].rule_id
            also = tuple(name(h.rule_id) for h in item_hits[1:])
            placed.setdefault(home, []).append((item_hits[0], self._view(item_hits, also, tz)))
        out = []
        for rule_id in sorted(placed, key=lambda r: (order.get(r, len(order)), r)):
            rule = rules.get(rule_id)
            entries = sorted(
                placed[rule_id], key=lambda p: p[0].published or p[0].fetched, reverse=True
            )
            out.append(
                RuleGroup(
                    rule_id=rule_id,
                    name=name(rule_id),
                    tags=rule.tags if rule else (),
                    priority=rule.priority if rule else "normal",
                    hits=[view for _, view in entries],
                )
            )
        return out

    def render(
        self,
        *,
        kind: str,
        batch: Batch,
        title: str,
        rules: Mapping[str, Rule],
        now: datetime,
        timezone: str = "UTC",
        recipients: Sequence[str] = (),
        notices: Sequence[str] = (),
    ) -> Message:
        if kind not in ("digest", "alert"):
            raise ValueError(f"unknown message kind {kind!r}")
        tz = ZoneInfo(timezone)
        groups = self.groups(batch.hits, rules, tz)
        items = len({h.item_id for h in batch.hits})
        if kind == "alert":
            first = groups[0] if groups else None
            lead = first.hits[0].title_text if first and first.hits else ""
            subject = f"[{title}] {first.name if first else 'alert'}: {lead}"
            if items > 1:
                subject += f" (+{items - 1} more)"
        else:
            plural = "s" if items != 1 else ""
            subject = f"{title}: {items} new item{plural}, {now.astimezone(tz):%Y-%m-%d}"
        context = {
            "title": title,
            "subject": subject,
            "generated": now.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z"),
            "groups": groups,
            "hit_count": len(batch.hits),
            "item_count": items,
            "notices": list(notices),
            "message_id": batch.message_id,
        }
        try:
            text = self.env.get_template(f"{kind}.txt").render(context)
            html = self.env.get_template(f"{kind}.html").render(context)
        except jinja2.TemplateError as e:
            where = f"{getattr(e, 'filename', None) or self.templates}"
            line = getattr(e, "lineno", None)
            raise RenderError(f"{where}{f':{line}' if line else ''}: {e}") from e
        return Message(
            target=batch.target,
            kind=kind,  # type: ignore[arg-type]
            message_id=batch.message_id,
            subject=subject,
            text=text,
            html=html,
            recipients=tuple(recipients),
            created=now,
        )
