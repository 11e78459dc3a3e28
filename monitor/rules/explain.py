"""Pure helpers behind ``monitor rules test``: items in, explanations out (JSON or text)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from monitor.errors import MonitorError
from monitor.model import Entry, Hit, Rule, TermMatch
from monitor.protocols import Matcher

__all__ = ["entries_from_jsonl", "explain_json", "format_hits", "hit_json", "snippet"]

_TEXT_KEYS = ("title", "summary", "content", "author", "url", "lang")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def hit_json(entry: Entry, hit: Hit) -> dict[str, Any]:
    """One hit as plain data: rule id, the terms that matched and where."""
    return {
        "rule": hit.rule_id,
        "terms": list(hit.terms),
        "spans": [
            {
                "term": m.term,
                "field": m.field,
                "start": m.start,
                "end": m.end,
                "text": entry.field_text(m.field)[m.start : m.end],
            }
            for m in hit.matches
        ],
    }


def explain_json(matcher: Matcher, entries: Iterable[Entry]) -> Iterator[dict[str, Any]]:
    """``{"id": ..., "hits": [{"rule", "terms", "spans"}]}`` for each entry, in order."""
    for entry in entries:
        yield {"id": entry.id, "hits": [hit_json(entry, h) for h in matcher.match(entry)]}


def entries_from_jsonl(lines: Iterable[str | bytes]) -> Iterator[Entry]:
    """Entries from JSON lines: ``{"id", "title", "summary", "content", "feed"}``.

    Only ``id`` is required; blank lines are skipped. Lines may be bytes (UTF-8). A bad line
    (not UTF-8, not JSON, an unpaired surrogate in a text) raises MonitorError naming its
    line number.
    """
    for number, raw in enumerate(lines, start=1):
        line = _decoded(raw, number)
        if not line.strip():
            continue
        data = _json(line, number)
        if not isinstance(data, dict):
            raise MonitorError(f"line {number}: expected a JSON object, got {type(data).__name__}")
        item_id = data.get("id")
        if item_id is None or isinstance(item_id, bool) or not isinstance(item_id, str | int):
            raise MonitorError(f'line {number}: every item needs an "id" (text or number)')
        fields: dict[str, str] = {"id": str(item_id)}
        for key in (*_TEXT_KEYS, "feed"):
            value = data.get(key)
            if value is None:
                continue
            if not isinstance(value, str):
                raise MonitorError(
                    f'line {number}: "{key}" must be text, got {type(value).__name__}'
                )
            fields[key] = value
        for key, value in fields.items():
            surrogate = _SURROGATE.search(value)
            if surrogate:
                raise MonitorError(
                    f'line {number}: "{key}" holds an unpaired surrogate '
                    f"(\\u{ord(surrogate.group()):04x}), which is not a character"
                )
        yield Entry(
            feed_id=fields.get("feed", ""),
            id=fields["id"],
            url=fields.get("url"),
            title=fields.get("title", ""),
            summary=fields.get("summary", ""),
            content=fields.get("content", ""),
            author=fields.get("author", ""),
            lang=fields.get("lang", ""),
        )


def _decoded(line: str | bytes, number: int) -> str:
    if isinstance(line, str):
        return line
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as e:
        column = len(line[: e.start].decode("utf-8", "replace")) + 1
        raise MonitorError(
            f"line {number}: not UTF-8 text (byte 0x{line[e.start]:02x} at column {column})"
        ) from e


def _json(line: str, number: int) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as e:
        raise MonitorError(f"line {number}: not valid JSON: {e.msg} (column {e.colno})") from e
    except ValueError as e:  # a number longer than Python converts (thousands of digits)
        raise MonitorError(f"line {number}: not valid JSON: a number is too long") from e
    except RecursionError as e:
        raise MonitorError(f"line {number}: not valid JSON: nested too deeply") from e


def snippet(text: str, start: int, end: int, width: int = 60) -> str:
    """The matched text in «» with up to ``width`` characters of context on each side."""
    left = max(0, start - width)
    right = min(len(text), end + width)
    if left > 0 and not text[left - 1].isspace():  # do not start inside a word
        space = text.find(" ", left, start)
        left = space + 1 if space != -1 else left
    if right < len(text) and not text[right].isspace():  # nor end inside one
        space = text.rfind(" ", end, right)
        right = space if space != -1 else right
    before = text[left:start]
    after = text[end:right]
    flat = " ".join
    return (
        ("…" if left > 0 else "")
        + flat(before.split())
        + (" " if before[-1:].isspace() else "")
        + "«"
        + flat(text[start:end].split())
        + "»"
        + (" " if after[:1].isspace() else "")
        + flat(after.split())
        + ("…" if right < len(text) else "")
    )


def format_hits(entry: Entry, hits: Iterable[Hit], rules: Mapping[str, Rule]) -> str:
    """Human-readable explanation: per hit, rule id and name, terms, and a snippet per field."""
    hits = list(hits)
    title = entry.title or entry.id
    if not hits:
        return f"{title}\n  no rule matches"
    lines = [title]
    for hit in hits:
        rule = rules.get(hit.rule_id)
        name = f" ({rule.name})" if rule and rule.name != rule.id else ""
        flag = " [high]" if hit.priority == "high" else ""
        lines.append(f"  {hit.rule_id}{name}{flag}")
        lines.append(f"    terms: {', '.join(hit.terms)}")
        shown: set[str] = set()
        for match in _first_per_term_and_field(hit.matches):
            key = f"{match.field}:{match.start}"
            if key in shown:
                continue
            shown.add(key)
            text = entry.field_text(match.field)
            lines.append(f"    {match.field}: {snippet(text, match.start, match.end)}")
    return "\n".join(lines)


def _first_per_term_and_field(matches: Iterable[TermMatch]) -> list[TermMatch]:
    seen: set[tuple[str, str]] = set()
    out = []
    for m in matches:
        if (m.term, m.field) not in seen:
            seen.add((m.term, m.field))
            out.append(m)
    return out
