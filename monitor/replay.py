"""Replay stored items against (changed) rules: which hits would be added or removed.

``monitor rules test --since 30d [RULES_FILE]`` runs this before a user enables a new or
edited topic. It reads items and their stored hits through ``ReplayStore`` and never
writes anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice

from monitor.protocols import Matcher, ReplayStore

__all__ = ["ReplayReport", "ReplayStore", "RuleChange", "replay"]

BATCH = 500


@dataclass
class RuleChange:
    """One rule's difference between the stored hits and a replay."""

    rule_id: str
    kept: int = 0
    added: int = 0
    removed: int = 0
    added_examples: list[str] = field(default_factory=list)
    removed_examples: list[str] = field(default_factory=list)


@dataclass
class ReplayReport:
    since: datetime
    now: datetime
    items: int = 0
    rules: dict[str, RuleChange] = field(default_factory=dict)

    def change(self, rule_id: str) -> RuleChange:
        found = self.rules.get(rule_id)
        if found is None:
            found = self.rules[rule_id] = RuleChange(rule_id)
        return found

    @property
    def added(self) -> int:
        return sum(c.added for c in self.rules.values())

    @property
    def removed(self) -> int:
        return sum(c.removed for c in self.rules.values())

    def format(self) -> str:
        days = (self.now - self.since).total_seconds() / 86_400
        head = (
            f"Replayed {self.items} stored item{'s' if self.items != 1 else ''} since "
            f"{self.since:%Y-%m-%d %H:%M} UTC ({days:g} days): "
            f"{self.added} hits would be added, {self.removed} removed."
        )
        if not self.rules:
            return head + "\nNo rule matches any of them, and none has stored hits."
        width = max(len("rule"), *(len(r) for r in self.rules))
        lines = [head, "", f"{'rule':<{width}}  {'kept':>6}  {'+add':>6}  {'-remove':>7}"]
        for rule_id in sorted(self.rules):
            c = self.rules[rule_id]
            lines.append(f"{rule_id:<{width}}  {c.kept:>6}  {c.added:>6}  {c.removed:>7}")
        for rule_id in sorted(self.rules):
            c = self.rules[rule_id]
            if not (c.added_examples or c.removed_examples):
                continue
            lines.append("")
            lines.append(f"{rule_id}:")
            lines.extend(f"  + {title}" for title in c.added_examples)
            lines.extend(f"  - {title}" for title in c.removed_examples)
        return "\n".join(lines)


def replay(
    store: ReplayStore,
    matcher: Matcher,
    since: datetime,
    now: datetime,
    examples: int = 3,
) -> ReplayReport:
    """Match every item stored since ``since`` and compare with its stored hits."""
    report = ReplayReport(since=since, now=now)
    for rule_id in matcher.rules:  # list rules that would hit nothing too
        report.change(rule_id)
    items = store.items_since(since)
    while batch := list(islice(items, BATCH)):
        stored = store.hit_rules([item_id for item_id, _ in batch])
        for item_id, entry in batch:
            report.items += 1
            new = {hit.rule_id for hit in matcher.match(entry)}
            old = stored.get(item_id, set())
            title = entry.title or entry.url or entry.id
            for rule_id in new & old:
                report.change(rule_id).kept += 1
            for rule_id in new - old:
                change = report.change(rule_id)
                change.added += 1
                if len(change.added_examples) < examples:
                    change.added_examples.append(title)
            for rule_id in old - new:
                change = report.change(rule_id)
                change.removed += 1
                if len(change.removed_examples) < examples:
                    change.removed_examples.append(title)
    return report
