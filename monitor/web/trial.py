"""Try a query: what a query, or a rule file's text, would have caught among the items
stored in a period, as ``monitor rules test --since`` tells it. Reads only; the rule text
is written to a temporary file so the rule loader reads it as it reads any rule file (and
names its lines)."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from monitor.archive import ArchiveItem, Filters, Prefilter, Story
from monitor.errors import ConfigError
from monitor.model import Rule, RuleSet
from monitor.rules import RuleMatcher, compile_rules, load_rules
from monitor.rules.load import with_changed_file
from monitor.web.views import Archive, BadRequest, Scan, StoryLine, WebStore, entry, story_line

#: Items a trial run reads, at most, and the catches it lists.
MAX_TRIAL = 200_000
TRIAL_SHOWN = 100
_BATCH = 500


@dataclass
class Caught:
    item: StoryLine
    rules: list[str]


@dataclass
class TrialRule:
    rule_id: str
    name: str
    caught: int = 0
    kept: int = 0
    added: int = 0
    removed: int = 0


@dataclass
class Trial:
    """What a query or rule file would have caught among the items of a period."""

    since: datetime
    items: int = 0
    rules: dict[str, TrialRule] = field(default_factory=dict)
    caught: list[Caught] = field(default_factory=list)
    caught_total: int = 0
    #: Set when MAX_TRIAL items were read and the run stopped.
    truncated: bool = False
    #: Stored hits are compared (a rule file: its rules have ids that may have hits).
    compared: bool = False
    #: The full-text index chose the items read (a query); else every item was read.
    indexed: bool = False


def trial_of_query(archive: Archive, text: str, since: datetime) -> Trial:
    matcher, pre = archive.query(text)
    trial = Trial(since, rules={"query": TrialRule("query", "your query")}, indexed=pre is not None)
    _run_trial(archive, matcher, pre, trial)
    return trial


def trial_of_file(archive: Archive, text: str, name: str, since: datetime) -> Trial:
    """Run a rule file's text in place of the configured file called ``name`` (or beside
    them, for a new name), as ``monitor rules test --since`` does."""
    with tempfile.TemporaryDirectory(prefix="monitor-try-") as folder:
        path = Path(folder) / name
        path.write_text(text, encoding="utf-8")
        try:
            ruleset = load_rules(with_changed_file(list(archive.rule_paths), path))
        except ConfigError as e:
            problems = [p.replace(str(path), name) for p in e.problems] or [str(e)]
            raise BadRequest("; ".join(problems[:5])) from e
        own = tuple(r for r in ruleset.rules if r.file == str(path))
    if not own:
        raise BadRequest(f"{name}: the rule text has no rules")
    matcher = compile_rules(RuleSet(own, ruleset.entities))
    trial = Trial(since, rules={r.id: TrialRule(r.id, r.name) for r in own}, compared=True)
    _run_trial(archive, matcher, None, trial)
    return trial


def _run_trial(archive: Archive, matcher: RuleMatcher, pre: Prefilter | None, trial: Trial) -> None:
    rules = archive.rules().by_id()
    scan = Scan(archive.store, pre, Filters(since=trial.since, matched=False), MAX_TRIAL, _BATCH)
    batch: list[ArchiveItem] = []
    for item in scan:
        batch.append(item)
        if len(batch) == _BATCH:
            _trial_batch(archive.store, matcher, trial, rules, batch)
            batch = []
    _trial_batch(archive.store, matcher, trial, rules, batch)
    trial.truncated = scan.truncated


def _trial_batch(
    store: WebStore,
    matcher: RuleMatcher,
    trial: Trial,
    rules: Mapping[str, Rule],
    batch: list[ArchiveItem],
) -> None:
    stored = store.hit_rules([i.id for i in batch]) if trial.compared and batch else {}
    for item in batch:
        trial.items += 1
        hits = matcher.match(entry(item))
        new = {h.rule_id for h in hits}
        old = stored.get(item.id, set()) & set(trial.rules)
        for rule_id in new:
            change = trial.rules[rule_id]
            change.caught += 1
            change.kept += rule_id in old
            change.added += trial.compared and rule_id not in old
        for rule_id in old - new:
            trial.rules[rule_id].removed += 1
        if hits:
            trial.caught_total += 1
            if len(trial.caught) < TRIAL_SHOWN:
                matches = [m for h in hits for m in h.matches]
                trial.caught.append(
                    Caught(story_line(Story(item.id, (item,)), rules, matches), sorted(new))
                )
