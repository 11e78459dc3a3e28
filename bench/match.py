"""Matching throughput: our engine against one regular expression per rule.

10,000 synthetic items of feed-like length (a headline of 8-14 words and a summary of three
sentences, about 380 characters, like the descriptions in news outlets' RSS feeds; one item
in ten has Turkish, Azerbaijani or Cyrillic words) are
matched against 100, 1,000 and 10,000 rules of a realistic mix: single words, word pairs,
phrases and proximity, entities with aliases, and boolean groups with OR, NOT and prefix*.

The naive baseline is how Huginn, Miniflux and Tiny Tiny RSS match: one compiled regular
expression per rule (its terms as a word-bounded alternation), searched in every item.
That is less work than the real rules ask for (no AND, NOT or positions), so the ratio is
a lower bound. At 1,000 and 10,000 rules it runs on a subsample of the items, which the
table says, so the whole bench ends in a few minutes.

The engine runs with inflected forms and name keys on (the default); the "forms off"
column is the same rules compiled with ``forms=False``, every term matched as written.

Single core, one process. Engine passes and compiles are timed three times and the best
is kept, as the machines this runs on share their cores. Run: python bench/match.py
"""

from __future__ import annotations

import gc
import random
import re
import time
from collections.abc import Callable

from monitor.model import Entity, Entry, Rule, RuleSet
from monitor.rules import compile_rules
from monitor.rules.query import _parse_cached

SEED = 20251202
N_ITEMS = 10_000
RULE_COUNTS = (100, 1_000, 10_000)
#: Engine runs and compiles are timed this many times and the best is kept.
PASSES = 3


def _words(text: str) -> list[str]:
    return text.split()


NAIVE_ITEMS = {100: 1_000, 1_000: 200, 10_000: 20}

_STOP = _words(
    "the of and to in a is that for on with as was by at from it be has are an its this "
    "which have will said were also but after more been their new his over than who into "
    "two year other about one last first would between states minister president"
)
_SYLLABLES = _words(
    "ka ra ta na ma la sa pa da ba ga za ko ro to no mo lo so po do bo go zo ki ri ti ni mi "
    "li si pi di bi gi zi ku ru tu nu mu lu su pu du bu gu zu ar an en er in on ur al el il "
    "ol ul as es is os us at et it ot ut ab eb ib ob ub"
)
_EXTRA = _words(
    "Türkiye İstanbul Azərbaycan Bakı Qazaqstan Oʻzbekiston Кыргызстан Казахстан Ташкент "
    "Алматы Бишкек правительство соглашение сотрудничество Erdoğan Ömüraliev Şuşa Gəncə "
    "işbirliği ticaret yatırım hükümet müşavir"
)


def vocabulary(rng: random.Random, size: int = 30_000) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))))
    out = sorted(words)
    rng.shuffle(out)
    return out


def make_items(rng: random.Random, vocab: list[str], n: int) -> list[Entry]:
    # Zipf-like: common words dominate, a long tail of rare ones.
    weights = [1.0 / (rank + 10) for rank in range(len(vocab))]
    pool = rng.choices(vocab, weights=weights, k=n * 110)
    items = []
    k = 0

    def sentence(length: int, exotic: bool) -> str:
        nonlocal k
        words = []
        for _ in range(length):
            if rng.random() < 0.35:
                words.append(rng.choice(_STOP))
            elif exotic and rng.random() < 0.15:
                words.append(rng.choice(_EXTRA))
            else:
                words.append(pool[k % len(pool)])
                k += 1
        if rng.random() < 0.3:
            words.insert(rng.randrange(len(words)), f"${rng.randint(1, 120)} billion")
        words[0] = words[0].capitalize()
        return " ".join(words)

    for i in range(n):
        exotic = i % 10 == 0
        title = sentence(rng.randint(8, 14), exotic)
        summary = ". ".join(sentence(rng.randint(10, 18), exotic) for _ in range(3)) + "."
        items.append(Entry(feed_id=f"feed{i % 40}", id=str(i), title=title, summary=summary))
    return items


def make_rules(rng: random.Random, vocab: list[str], n: int) -> RuleSet:
    mid = vocab[1_500:]  # topic words: names and specific terms, not everyday words
    entities = []
    for e in range(max(5, n // 20)):
        aliases = tuple(
            " ".join(rng.sample(mid, rng.randint(1, 2))) for _ in range(rng.randint(2, 4))
        )
        entities.append(
            Entity(
                id=f"e{e}",
                name=" ".join(rng.sample(mid, 2)),
                aliases=aliases,
                not_=(" ".join(rng.sample(mid, 2)),),
            )
        )
    rules = []
    for i in range(n):
        w = lambda: rng.choice(mid)  # noqa: E731
        kind = rng.random()
        if kind < 0.25:
            query = w()
        elif kind < 0.40:
            query = f"{w()} {w()}"
        elif kind < 0.55:
            query = f'"{w()} {w()}"' if rng.random() < 0.6 else f'"{w()} {w()}"~4'
        elif kind < 0.70:
            query = f"entity:e{rng.randrange(len(entities))}"
            if rng.random() < 0.5:
                query += f" AND ({w()} OR {w()})"
        elif kind < 0.95:
            query = f'({w()} OR {w()} OR "{w()} {w()}") AND ({w()} OR {w()}*) NOT {w()}'
        else:
            query = f"amount:[50e9 TO *] AND ({w()} OR {w()})"
        rules.append(
            Rule(
                id=f"r{i}",
                name=f"rule {i}",
                query=query,
                priority="high" if i % 50 == 0 else "normal",
            )
        )
    return RuleSet(tuple(rules), tuple(entities))


def naive_patterns(ruleset: RuleSet) -> list[re.Pattern[str]]:
    aliases = {e.id: (e.name, *e.aliases) for e in ruleset.entities}
    patterns = []
    for rule in ruleset.rules:
        terms: list[str] = []
        for token in re.findall(r'"[^"]*"|entity:\w+|amount:\S+|\S+', rule.query):
            token = token.strip("()")
            if token in ("AND", "OR", "NOT", "") or token.startswith("amount:"):
                continue
            if token.startswith("entity:"):
                terms.extend(re.escape(a) for a in aliases[token[7:]])
            elif token.endswith("*"):
                terms.append(re.escape(token[:-1]) + r"\w*")
            else:
                terms.append(re.escape(token.strip('"').split('"')[0]))
        patterns.append(re.compile(r"\b(?:" + "|".join(terms) + r")\b", re.IGNORECASE))
    return patterns


def rate(func: Callable[[Entry], object], items: list[Entry], passes: int = 1) -> tuple[float, int]:
    """Items per second, the best of ``passes`` runs (this machine shares its cores)."""
    best = float("inf")
    total = 0
    for _ in range(passes):
        gc.collect()
        start = time.perf_counter()
        total = 0
        for item in items:
            if func(item):
                total += 1
        best = min(best, time.perf_counter() - start)
    return len(items) / best, total


def main() -> None:
    rng = random.Random(SEED)
    vocab = vocabulary(rng)
    items = make_items(rng, vocab, N_ITEMS)
    chars = sum(len(e.title) + len(e.summary) for e in items) / len(items)
    print(f"{len(items)} items, {chars:.0f} characters on average; one core")
    print()
    header = (
        f"{'rules':>6}  {'compile s':>9}  {'engine items/s':>14}  {'items hit':>9}  "
        f"{'forms off items/s':>17}  {'hit':>6}  "
        f"{'naive items/s':>13}  {'naive sample':>12}  {'speedup':>8}"
    )
    print(header)
    print("-" * len(header))
    results: dict[int, tuple[float, float, float]] = {}
    for count in RULE_COUNTS:
        ruleset = make_rules(random.Random(SEED + count), vocab, count)
        compile_s = float("inf")
        for _ in range(PASSES):
            _parse_cached.cache_clear()  # compile from cold: every query parsed again
            gc.collect()
            start = time.perf_counter()
            matcher = compile_rules(ruleset)
            compile_s = min(compile_s, time.perf_counter() - start)
        engine_rate, hit_items = rate(matcher.match, items, PASSES)
        off_rate, off_hit = rate(compile_rules(ruleset, forms=False).match, items, PASSES)
        patterns = naive_patterns(ruleset)
        sample = items[: NAIVE_ITEMS[count]]

        def naive(entry: Entry, patterns: list[re.Pattern[str]] = patterns) -> list[int]:
            text = f"{entry.title}\n{entry.summary}\n{entry.content}"
            return [i for i, p in enumerate(patterns) if p.search(text)]

        naive_rate, _ = rate(naive, sample)
        results[count] = (compile_s, engine_rate, naive_rate)
        print(
            f"{count:>6}  {compile_s:>9.2f}  {engine_rate:>14,.0f}  {hit_items:>9}  "
            f"{off_rate:>17,.0f}  {off_hit:>6}  "
            f"{naive_rate:>13,.1f}  {len(sample):>12}  {engine_rate / naive_rate:>7,.0f}x"
        )
    print()
    print(
        "engine: best of 3 passes over all items (compile: best of 3, from cold, parsing "
        "included), forms on; forms off: the same with forms=False; naive: one regular "
        "expression per rule searched in every item, one pass over the first 'naive "
        "sample' items"
    )
    compile10k, rate10k, _ = results[10_000]
    _, rate1k, naive1k = results[1_000]
    print(
        f"RESULT rules=1000 items_per_s={rate1k:.0f} naive_items_per_s={naive1k:.1f} "
        f"rules10k_items_per_s={rate10k:.0f} compile10k_s={compile10k:.2f}"
    )


if __name__ == "__main__":
    main()
