"""Signal benchmark: how well the rules find what a reader of this mission wants.

    python bench/signal.py [--items tests/data/signal/items.jsonl] [--rules rules/]

The items are a labelled set of news (title and the start of the text, in English,
Russian, Turkish, Azerbaijani, Kazakh and Uzbek; see tests/data/signal/README.md): each is
relevant to the mission or not, and belongs to a group. The rules are matched exactly as
`monitor rules test --items FILE --json` matches them (the same loading, compiling and
explaining functions), and an item counts as found when any rule hits it.

The table gives, per group, found/total for the relevant groups (recall) and false
positives/total for the others, then overall precision and recall, then every miss and
every false positive (id, group, lang, title; a false positive also names its rules).

The last line is machine-readable:
RESULT precision=N recall=N items=N
"""

from __future__ import annotations

import sys

if __name__ == "signal":
    # This file has the name of a standard library module. The other scripts here run as
    # "python bench/poll.py", which puts this folder first on sys.path, so their "import
    # signal" (asyncio, subprocess) finds this file: load the real module and stand aside.
    import importlib.util
    import sysconfig
    from pathlib import Path as _Path

    _spec = importlib.util.spec_from_file_location(
        "signal", _Path(sysconfig.get_path("stdlib")) / "signal.py"
    )
    assert _spec is not None and _spec.loader is not None
    _real = importlib.util.module_from_spec(_spec)
    sys.modules["signal"] = _real  # what the importing statement receives
    _spec.loader.exec_module(_real)

import argparse
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from monitor.rules import compile_rules, load_rules
from monitor.rules.explain import entries_from_jsonl, explain_json

ROOT = Path(__file__).resolve().parent.parent
ITEMS = ROOT / "tests" / "data" / "signal" / "items.jsonl"
RULES = ROOT / "rules"


@dataclass(frozen=True)
class Labelled:
    id: str
    lang: str
    title: str
    relevant: bool
    group: str


@dataclass(frozen=True)
class Outcome:
    item: Labelled
    rules: tuple[str, ...]

    @property
    def found(self) -> bool:
        return bool(self.rules)


def read_labels(lines: Sequence[str]) -> list[Labelled]:
    labels = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        data = json.loads(line)
        relevant = data.get("relevant")
        if not isinstance(relevant, bool):
            raise SystemExit(f'line {number}: every item needs "relevant": true or false')
        labels.append(
            Labelled(
                id=str(data["id"]),
                lang=str(data.get("lang", "")),
                title=str(data.get("title", "")),
                relevant=relevant,
                group=str(data.get("group", "")),
            )
        )
    return labels


def evaluate(items: Path, rules: Sequence[Path]) -> list[Outcome]:
    """Every labelled item with the ids of the rules that hit it."""
    lines = items.read_text(encoding="utf-8").splitlines()
    labels = {label.id: label for label in read_labels(lines)}
    matcher = compile_rules(load_rules(list(rules)))
    return [
        Outcome(labels[result["id"]], tuple(hit["rule"] for hit in result["hits"]))
        for result in explain_json(matcher, entries_from_jsonl(lines))
    ]


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def report(outcomes: Sequence[Outcome]) -> Iterable[str]:
    groups: dict[tuple[bool, str], list[Outcome]] = {}
    for o in outcomes:
        groups.setdefault((o.item.relevant, o.item.group), []).append(o)
    yield f"{'group':14} {'class':9} {'items':>5} {'found':>5} {'rate':>6}"
    for relevant in (True, False):
        for (rel, group), members in sorted(groups.items()):
            if rel != relevant:
                continue
            found = sum(o.found for o in members)
            kind = "relevant" if relevant else "negative"
            what = "recall" if relevant else "FP rate"
            rate = _ratio(found, len(members))
            yield f"{group:14} {kind:9} {len(members):5d} {found:5d} {rate:6.3f}  {what}"
    true_pos = sum(o.found and o.item.relevant for o in outcomes)
    false_pos = sum(o.found and not o.item.relevant for o in outcomes)
    relevant_total = sum(o.item.relevant for o in outcomes)
    precision = _ratio(true_pos, true_pos + false_pos)
    recall = _ratio(true_pos, relevant_total)
    yield ""
    yield (
        f"found {true_pos} of {relevant_total} relevant items, "
        f"{false_pos} false positives among {len(outcomes) - relevant_total} others"
    )
    yield f"precision {precision:.3f}   recall {recall:.3f}"
    misses = [o for o in outcomes if o.item.relevant and not o.found]
    wrong = [o for o in outcomes if o.found and not o.item.relevant]
    for heading, rows in (("misses", misses), ("false positives", wrong)):
        yield ""
        yield f"{heading} ({len(rows)})"
        for o in sorted(rows, key=lambda o: (o.item.group, o.item.id)):
            line = f"  {o.item.id}  {o.item.group:12} {o.item.lang:2}  {o.item.title}"
            if o.found:
                line += f"  [{', '.join(o.rules)}]"
            yield line
    yield ""
    yield f"RESULT precision={precision:.3f} recall={recall:.3f} items={len(outcomes)}"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--items", type=Path, default=ITEMS, help="labelled JSON lines (default: %(default)s)"
    )
    parser.add_argument(
        "--rules",
        type=Path,
        action="append",
        help=f"a rule file or folder; may be repeated (default: {RULES})",
    )
    args = parser.parse_args(argv)
    for line in report(evaluate(args.items, args.rules or [RULES])):
        print(line)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
