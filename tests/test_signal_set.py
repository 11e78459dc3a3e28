"""The labelled signal set (tests/data/signal/items.jsonl) is well formed, and the bench
that scores the rules on it (bench/signal.py) reports in its documented format. What the
rules score is the bench's business, not a test's."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from monitor.rules.explain import entries_from_jsonl

from .helpers import DATA, ROOT

SET = DATA / "signal" / "items.jsonl"
BENCH = ROOT / "bench" / "signal.py"

RELEVANT_GROUPS = {"ots", "diaspora", "trade-target", "trade", "officials"}
NEGATIVE_GROUPS = {"sport", "weather", "other-ots", "namesake", "other-trade", "other"}
LANGS = {"en", "ru", "tr", "az", "kk", "uz"}
FIELDS = {"id", "lang", "title", "summary", "relevant", "group"}


@pytest.fixture(scope="module")
def lines() -> list[str]:
    return SET.read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def items(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines]


def test_every_line_is_one_item_with_the_documented_fields(lines: list[str]) -> None:
    for number, line in enumerate(lines, start=1):
        item = json.loads(line)
        assert isinstance(item, dict), f"line {number}"
        assert set(item) == FIELDS, f"line {number}: {sorted(item)}"
        assert re.fullmatch(r"sig-\d{3}", item["id"]), f"line {number}: {item['id']}"
        assert isinstance(item["relevant"], bool), f"line {number}"
        for key in ("title", "summary"):
            assert isinstance(item[key], str) and item[key].strip(), f"line {number}: {key}"
        assert len(item["summary"]) <= 600, f"line {number}: summary too long"


def test_the_matcher_reads_every_item(lines: list[str], items: list[dict[str, Any]]) -> None:
    entries = list(entries_from_jsonl(lines))
    assert [e.id for e in entries] == [item["id"] for item in items]
    assert all(e.title and e.summary and e.lang for e in entries)


def test_ids_are_unique(items: list[dict[str, Any]]) -> None:
    counts = Counter(item["id"] for item in items)
    assert [i for i, n in counts.items() if n > 1] == []


def test_size_and_both_classes(items: list[dict[str, Any]]) -> None:
    assert len(items) >= 200
    relevant = sum(item["relevant"] for item in items)
    assert 0.4 <= relevant / len(items) <= 0.6


def test_every_group_is_present_and_belongs_to_its_class(items: list[dict[str, Any]]) -> None:
    for item in items:
        allowed = RELEVANT_GROUPS if item["relevant"] else NEGATIVE_GROUPS
        assert item["group"] in allowed, item["id"]
    assert {item["group"] for item in items} == RELEVANT_GROUPS | NEGATIVE_GROUPS


def test_every_language_is_present(items: list[dict[str, Any]]) -> None:
    counts = Counter(item["lang"] for item in items)
    assert set(counts) == LANGS
    assert all(counts[lang] >= 15 for lang in LANGS), counts
    assert counts["en"] >= len(items) * 0.4


def test_bench_reports_groups_and_ends_with_the_result_line(tmp_path: Path) -> None:
    rows = [
        {"id": "a", "lang": "en", "title": "OTS summit opens", "relevant": True, "group": "ots"},
        {"id": "b", "lang": "en", "title": "Rain in Baku", "relevant": True, "group": "ots"},
        {"id": "c", "lang": "en", "title": "Snow in Astana", "relevant": False, "group": "weather"},
    ]
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - id: summit\n    query: summit\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(BENCH), "--items", str(items), "--rules", str(rules)],
        capture_output=True,
        text=True,
        check=True,
    )
    out = done.stdout.splitlines()
    assert out[-1] == "RESULT precision=1.000 recall=0.500 items=3"
    assert any(re.match(r"ots\s+relevant\s+2\s+1\s+0\.500", line) for line in out)
    assert any(re.match(r"weather\s+negative\s+1\s+0\s+0\.000", line) for line in out)
    assert any(line.split()[:3] == ["b", "ots", "en"] for line in out)  # the miss


def test_bench_does_not_shadow_the_standard_signal_module() -> None:
    # Scripts in bench/ run with that folder first on sys.path, where bench/signal.py
    # would stand in for the standard library's module; asyncio needs the real one.
    code = "import asyncio, signal; asyncio.run(asyncio.sleep(0)); print(int(signal.SIGINT))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=BENCH.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "2"
