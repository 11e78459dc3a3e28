"""Digest benchmark: rendering a digest of stories, and clustering items into stories.

    python bench/digest.py [--hits 1000] [--items 10000] [--runs 15]

Synthetic news, made here from a fixed seed: events of the Turkic-states beat (names,
places, dollar amounts, dates), each reported by one to five outlets in their own words
(a third of the words changed, sentences reordered), over three days. Measured:

- render: a digest of HITS hits from the real rules in rules/ (matched against the
  items, clustered into stories first), text and HTML with its CSS inlined; median of
  RUNS renders, and the same hits without stories (one entry per item) beside it;
- cluster: ITEMS items in one window: their signatures (MinHash and anchors) as the job
  makes them (a big batch on two cores: monitor/sigpool.py; the CPU time counts both
  processes), and the same in one process beside them; the decisions
  (monitor.stories.cluster), wall and CPU time (the median of three runs, the first with
  cold caches), and how well the stories match the events (pair precision and recall);
- MinHash: monitor.minhash against datasketch's MinHash.bulk on the same word sets, and
  what importing datasketch costs (it imports scipy), when datasketch is installed;
- the store: assigning stories to 2,000 items with hits in a SQLite file (what the first
  delivery after a poll does).

Goals: render <= 50 ms, cluster 10,000 items <= 1 s. The last line is machine-readable:
RESULT render_ms=N cluster_10k_s=N
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import accumulate, combinations
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import verdict  # noqa: E402
from monitor import stories  # noqa: E402
from monitor.minhash import NUM_PERM, minhashes, word_hash  # noqa: E402
from monitor.model import Batch, Entry, FeedState, FeedUpdate, Pending, RenderJob, StoredHit  # noqa: E402
from monitor.sigpool import SignaturePool  # noqa: E402

START = datetime(2025, 12, 14, 0, 0, tzinfo=UTC)
NAMES = [
    "Omuraliev",
    "Erdogan",
    "Aliyev",
    "Tokayev",
    "Mirziyoyev",
    "Japarov",
    "Bolat",
    "Jabbarov",
    "Muradov",
    "Orban",
    "Baku",
    "Astana",
    "Tashkent",
    "Bishkek",
    "Ankara",
    "Budapest",
    "Gabala",
    "Samarkand",
    "Turkistan",
    "Shusha",
    "Aktau",
    "Azerbaijan",
    "Kazakhstan",
    "Uzbekistan",
    "Kyrgyzstan",
    "Hungary",
    "Turkmenistan",
]
TOPIC = [
    "OTS",
    "diaspora",
    "trade",
    "Turkic",
    "states",
    "summit",
    "cooperation",
    "energy",
    "corridor",
    "transport",
    "Middle",
    "Corridor",
    "investment",
    "customs",
    "railway",
    "parliament",
    "delegation",
    "forum",
    "ministers",
    "agreement",
    "logistics",
    "digital",
    "compatriots",
    "culture",
    "education",
]
MONTHS = ["December", "November"]


def vocabulary(rng: random.Random, size: int = 20_000) -> list[str]:
    syllables = [
        "ka",
        "ra",
        "bo",
        "tu",
        "mi",
        "sa",
        "le",
        "an",
        "ik",
        "or",
        "ze",
        "ul",
        "ba",
        "ni",
        "da",
        "go",
        "pe",
        "ve",
        "ty",
        "ch",
        "ar",
        "en",
        "os",
    ]
    words = {"".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(size)}
    return sorted(words)


def events(count: int, rng: random.Random) -> list[dict[str, object]]:
    vocab = vocabulary(rng)
    weights = list(accumulate(1 / (i + 50) for i in range(len(vocab))))
    out = []
    for n in range(count):
        names = rng.sample(NAMES, 3)
        words = rng.choices(vocab, cum_weights=weights, k=55) + rng.sample(TOPIC, 4)
        facts = []
        if rng.random() < 0.5:
            facts.append(f"${rng.choice([5, 10, 15, 20, 60, 100])} billion")
        if rng.random() < 0.6:
            facts.append(f"on {rng.randint(1, 28)} {rng.choice(MONTHS)}")
        out.append(
            {
                "n": n,
                "names": names,
                "words": words,
                "facts": facts,
                "at": START + timedelta(minutes=rng.randint(0, 3 * 24 * 60 - 240)),
                "vocab": vocab,
                "weights": weights,
            }
        )
    return out


def rewrite(event: dict[str, object], outlet: int, rng: random.Random) -> Entry:
    words = list(event["words"])  # type: ignore[call-overload]
    vocab, weights = event["vocab"], event["weights"]
    if outlet:
        for i in range(len(words)):
            if rng.random() < 0.33:
                words[i] = rng.choices(vocab, cum_weights=weights)[0]  # type: ignore[arg-type]
        rng.shuffle(words)
    a, b, c = event["names"]  # type: ignore[misc]
    facts = " ".join(event["facts"])  # type: ignore[arg-type]
    half = len(words) // 2
    summary = (
        f"{a} met {b} in {c} {facts}. The {' '.join(words[:half])} of {b}. "
        f"Officials said {' '.join(words[half:])}, {a} added."
    )
    title = f"{a} and {b} {' '.join(words[:5])} in {c}"
    when = event["at"] + timedelta(minutes=37 * outlet)  # type: ignore[operator]
    return Entry(
        feed_id=f"outlet{outlet}",
        id=f"e{event['n']}-o{outlet}",
        url=f"https://outlet{outlet}.example.com/{event['n']}",
        title=title,
        summary=summary,
        published=when,
        feed_title=f"Outlet {outlet}",
    )


def corpus(items: int, seed: int = 7) -> tuple[list[Entry], list[int]]:
    """Items in time order and the event each reports."""
    rng = random.Random(seed)
    out: list[tuple[Entry, int]] = []
    for event in events(items, rng):
        for outlet in range(rng.choice([1, 1, 2, 3, 3, 4, 5])):
            out.append((rewrite(event, outlet, rng), int(event["n"])))  # type: ignore[call-overload]
            if len(out) >= items:
                break
        if len(out) >= items:
            break
    out.sort(key=lambda p: p[0].published or START)
    return [e for e, _ in out], [n for _, n in out]


def pair_scores(found: list[int], truth: list[int]) -> tuple[float, float]:
    """Pair precision and recall of the stories against the events."""

    def pairs(labels: list[int]) -> set[tuple[int, int]]:
        groups: dict[int, list[int]] = {}
        for i, label in enumerate(labels):
            groups.setdefault(label, []).append(i)
        return {p for g in groups.values() for p in combinations(g, 2)}

    ours, real = pairs(found), pairs(truth)
    both = len(ours & real)
    return both / max(len(ours), 1), both / max(len(real), 1)


# --------------------------------------------------------------------------- measures


def measure_cluster(items: int, runs: int = 3) -> dict[str, Any]:
    """Signatures as the job makes them (store/stories.py: a big batch on two cores, with
    the helper process started, as the job's stays once a big batch started it; its CPU
    is counted), then the decisions: ``runs`` times, the median run kept (the first with
    cold caches, as a job's first batch; the others as a running job's). One process's
    signatures after, for comparison (its caches warm: that favours it)."""
    entries, truth = corpus(items)
    stories.signatures(entries[:5])  # numpy imported, tables built: not what is measured
    pool = SignaturePool()
    helper = pool.start()
    measured = []
    for _ in range(runs):
        wall, cpu, away = time.perf_counter(), time.process_time(), pool.helper_cpu
        sigs = pool.signatures(entries)
        sig_wall = time.perf_counter() - wall
        sig_cpu = time.process_time() - cpu + pool.helper_cpu - away
        wall2, cpu2 = time.perf_counter(), time.process_time()
        found = stories.cluster(
            (s, e.published or START) for s, e in zip(sigs, entries, strict=True)
        )
        dec_wall, dec_cpu = time.perf_counter() - wall2, time.process_time() - cpu2
        measured.append((sig_wall + dec_wall, sig_wall, sig_cpu, dec_wall, dec_cpu))
    pool.close()
    total, sig_wall, sig_cpu, dec_wall, dec_cpu = sorted(measured)[len(measured) // 2]
    wall3, cpu3 = time.perf_counter(), time.process_time()
    alone = stories.signatures(entries)
    one_wall, one_cpu = time.perf_counter() - wall3, time.process_time() - cpu3
    same = alone == sigs and [s.bands for s in alone] == [s.bands for s in sigs]
    precision, recall = pair_scores(found, truth)
    return {
        "items": len(entries),
        "events": len(set(truth)),
        "stories": len(set(found)),
        "cores": pool.cores if helper else 1,
        "runs": runs,
        "totals": [m[0] for m in measured],
        "sig_s": sig_wall,
        "sig_cpu": sig_cpu,
        "one_s": one_wall,
        "one_cpu": one_cpu,
        "same": float(same),
        "decide_s": dec_wall,
        "decide_cpu": dec_cpu,
        "total_s": total,
        "total_cpu": sig_cpu + dec_cpu,
        "precision": precision,
        "recall": recall,
    }


def measure_minhash(items: int) -> dict[str, float] | None:
    try:
        from datasketch import MinHash
    except ImportError:
        return None
    entries, _ = corpus(items)
    sets = [[word_hash(w) for w in stories.content_words(e.title, e.summary)] for e in entries]
    started = time.perf_counter()
    ours = minhashes(sets)
    ours_s = time.perf_counter() - started
    started = time.perf_counter()
    theirs = MinHash.bulk([s or [0] for s in sets], num_perm=NUM_PERM, hashfunc=int)
    theirs_s = time.perf_counter() - started
    same = all(list(o) == list(t.hashvalues) for o, t in zip(ours[:200], theirs[:200], strict=True))
    probe = (
        "import time; t = time.perf_counter(); import datasketch; print(time.perf_counter() - t)"
    )
    # The resident size now (a child's ru_maxrss starts at its parent's, this process's).
    now_rss = "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmRSS')][0])"
    rss = f"import datasketch; {now_rss}"
    base = now_rss
    run = [sys.executable, "-c"]
    import_s = float(subprocess.run([*run, probe], capture_output=True, text=True).stdout)
    with_ds = int(subprocess.run([*run, rss], capture_output=True, text=True).stdout)
    bare = int(subprocess.run([*run, base], capture_output=True, text=True).stdout)
    return {
        "ours_s": ours_s,
        "datasketch_s": theirs_s,
        "same": float(same),
        "import_s": import_s,
        "import_mb": (with_ds - bare) / 1024,
    }


def digest_hits(count: int) -> tuple[list[StoredHit], object]:
    """About ``count`` hits of the real rules on synthetic items, clustered into stories."""
    from monitor.rules import compile_rules, load_rules

    ruleset = load_rules([ROOT / "rules"])
    matcher = compile_rules(ruleset)
    rng = random.Random(3)
    topical = [
        "OTS Secretary General Kubanychbek Omuraliev met the diaspora",
        "Erdogan said trade with the Turkic states should reach $60 billion",
        "the Organization of Turkic States adopted the Joint Action Plan on the Diaspora",
        "Azerbaijan's Ambassador to the United States Khazar Ibrahim spoke to compatriots",
        "ministers discussed the Middle Corridor and energy corridors of the Turkic world",
        "Fuad Muradov presented the Diaspora Capacity Building training programme",
    ]
    entries, _ = corpus(count * 2, seed=11)
    hits: list[StoredHit] = []
    for entry in entries:
        lead = rng.choice(topical)
        entry = replace(
            entry, summary=f"{lead}. {entry.summary}", title=f"{entry.title}: {lead[:40]}"
        )
        for hit in matcher.match(entry):
            hits.append(StoredHit.of(len(hits) + 1, entry, hit, entry.published or START))
        if len(hits) >= count:
            break
    hits = hits[:count]
    items = {h.item_id: h for h in hits}
    by_id = {e.id: e for e in entries}
    order = sorted(items, key=lambda i: by_id[i].published or START)
    sigs = stories.signatures([by_id[i] for i in order])
    found = stories.cluster(
        (s, by_id[i].published or START) for s, i in zip(sigs, order, strict=True)
    )
    story_of = dict(zip(order, found, strict=True))
    return [replace(h, story_id=story_of[h.item_id]) for h in hits], ruleset


def measure_render(count: int, runs: int) -> dict[str, float]:
    from monitor.render import Renderer

    hits, ruleset = digest_hits(count)
    renderer = Renderer(ROOT / "templates")
    names = {e.id: e.name for e in ruleset.entities}  # type: ignore[attr-defined]
    rules = ruleset.by_id()  # type: ignore[attr-defined]
    now = START + timedelta(days=3)

    def once(batch_hits: list[StoredHit]) -> tuple[float, int, int]:
        started = time.perf_counter()
        message = renderer.render(
            RenderJob(
                kind="digest",
                batch=Batch("daily:file", "<bench@monitor>", tuple(batch_hits)),
                title="Turkic world daily",
                rules=rules,
                now=now,
                timezone="Europe/Istanbul",
                entities=names,
            )
        )
        return time.perf_counter() - started, len(message.stories), len(message.html)

    once(hits)
    timings = [once(hits) for _ in range(runs)]
    flat = [replace(h, story_id=None) for h in hits]
    flat_timings = [once(flat) for _ in range(runs)]
    inline_html = renderer.env.get_template("digest.html")
    del inline_html
    return {
        "hits": len(hits),
        "rules": len(Counter(h.rule_id for h in hits)),
        "stories": timings[0][1],
        "items": len({h.item_id for h in hits}),
        "html_kb": timings[0][2] / 1024,
        "render_ms": 1000 * statistics.median(t for t, _, _ in timings),
        "flat_ms": 1000 * statistics.median(t for t, _, _ in flat_timings),
        "flat_entries": flat_timings[0][1],
    }


def measure_store(items: int) -> dict[str, float]:
    from monitor.model import Hit, TermMatch
    from monitor.store import Store

    entries, _ = corpus(items, seed=5)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        store.migrate()
        feeds = sorted({e.feed_id for e in entries})
        store.sync_feeds([FeedState(id=f, url=f"https://{f}.example.com/rss") for f in feeds])
        polled = START + timedelta(days=3)
        for feed in feeds:
            mine = tuple(e for e in entries if e.feed_id == feed)
            hits = {
                e.id: [Hit("ots", "v", "normal", (TermMatch("OTS", "title", 0, 3),))] for e in mine
            }
            state = FeedState(id=feed, url=f"https://{feed}.example.com/rss", last_polled=polled)
            store.record(FeedUpdate(feed=state, entries=mine, hits=hits))
        started = time.perf_counter()
        taken = store.peek(
            Pending("daily:file", None, polled, limit=items, max_age=timedelta(days=7))
        )
        assign_s = time.perf_counter() - started
        started = time.perf_counter()
        store.peek(Pending("daily:file", None, polled, limit=items, max_age=timedelta(days=7)))
        again_s = time.perf_counter() - started
        counts = store.story_counts()
        store.close()
    return {
        "items": len(taken),
        "stories": counts["stories"],
        "assign_s": assign_s,
        "again_s": again_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--hits", type=int, default=1000)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--store-items", type=int, default=2000)
    args = parser.parse_args()

    render = measure_render(args.hits, args.runs)
    cluster = measure_cluster(args.items)
    minhash = measure_minhash(args.items)
    store = measure_store(args.store_items)

    print(f"Digest benchmark, Python {sys.version.split()[0]}, NUM_PERM={NUM_PERM}")
    print()
    print(f"{'measure':48} {'value':>12}")
    print(
        f"{'render: hits / items / stories':48} "
        f"{render['hits']:.0f} / {render['items']:.0f} / {render['stories']:.0f}"
    )
    print(f"{'render: HTML size, KB':48} {render['html_kb']:12.0f}")
    print(f"{'render with stories, median ms':48} {render['render_ms']:12.1f}")
    print(
        f"{'render, one entry per item (no stories), ms':48} {render['flat_ms']:12.1f}"
        f"  ({render['flat_entries']:.0f} entries)"
    )
    print(
        f"{'cluster: items / events / stories':48} "
        f"{cluster['items']:.0f} / {cluster['events']:.0f} / {cluster['stories']:.0f}"
    )
    sig = f"{cluster['sig_s']:12.2f}  ({cluster['sig_cpu']:.2f})"
    cores = f"{min(cluster['cores'], 2):.0f} process{'es' if cluster['cores'] > 1 else ''}"
    print(f"{f'cluster: signatures ({cores}), s (CPU s)':48} {sig}")  # the median run
    one = f"{cluster['one_s']:12.2f}  ({cluster['one_cpu']:.2f})"
    print(f"{'  the same in one process, s (CPU s)':48} {one}")
    print(f"{'  the same signatures':48} {bool(cluster['same'])!s:>12}")
    print(
        f"{'cluster: decisions, s (CPU s)':48} "
        f"{cluster['decide_s']:12.2f}  ({cluster['decide_cpu']:.2f})"
    )
    print(
        f"{'cluster: total, s (CPU s)':48} {cluster['total_s']:12.2f}  ({cluster['total_cpu']:.2f})"
    )
    every = ", ".join(f"{t:.2f}" for t in cluster["totals"])
    print(f"{'  every run (the first with cold caches), s':48} {every:>12}")
    print(
        f"{'cluster: pair precision / recall':48} "
        f"{cluster['precision']:.3f} / {cluster['recall']:.3f}"
    )
    if minhash:
        print(f"{'MinHash of the same sets: monitor.minhash, s':48} {minhash['ours_s']:12.2f}")
        print(f"{'MinHash: datasketch MinHash.bulk, s':48} {minhash['datasketch_s']:12.2f}")
        print(f"{'MinHash: values equal datasketch (first 200)':48} {bool(minhash['same'])!s:>12}")
        print(
            f"{'import datasketch (scipy): s / MB RSS':48} "
            f"{minhash['import_s']:.2f} / {minhash['import_mb']:.0f}"
        )
    else:
        print("MinHash against datasketch: skipped (pip install datasketch)")
    print(
        f"{'store: assign stories to new items, s':48} {store['assign_s']:12.2f}"
        f"  ({store['items']:.0f} items -> {store['stories']:.0f} stories)"
    )
    print(f"{'store: the same peek again (assigned), s':48} {store['again_s']:12.2f}")
    print()
    print("goals")
    print(
        f"  render {args.hits} hits <= 50 ms       {render['render_ms']:.1f} ms  "
        f"{verdict(render['render_ms'] <= 50)}"
    )
    print(
        f"  cluster {args.items} items <= 1 s     {cluster['total_s']:.2f} s  "
        f"{verdict(cluster['total_s'] <= 1)}"
    )
    print()
    print(f"RESULT render_ms={render['render_ms']:.1f} cluster_10k_s={cluster['total_s']:.2f}")


if __name__ == "__main__":
    main()
