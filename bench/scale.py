"""Scale-out benchmark: one job instance, then two, on one PostgreSQL database.

    python bench/scale.py [--feeds 2000] [--items 25] [--change 5] [--claim 100]
                          [--pg postgresql+psycopg://postgres@127.0.0.1:5432]

A loopback server (its own process) serves FEEDS RSS feeds of ITEMS items. For each
configuration (1 instance, then 2) the bench makes a fresh database, starts the instances
as separate processes (each with its own parser processes, as `monitor run` would), lets
them claim and poll the feeds, and checks what the database holds:

- round 1, cold: every feed is new; every item is parsed, matched and stored;
- round 2, changing items: every feed drops its CHANGE oldest items and gains CHANGE new
  ones (a new body and validators), so each instance fetches, keeps the unseen and stores.

Per configuration and round it reports items/s (new items stored / wall time from "go" to
the last instance done), CPU per item of the instances (with their parser processes), the
CPU seconds of the loopback server and of PostgreSQL, requests per feed (must be exactly
one: a feed claimed by one instance is never fetched by another), items stored twice
(must be 0) and hits lost (the hits the real rules in rules/ give the expected items,
minus those stored: must be 0).

The loopback server is kept off the critical path: every body is rendered before the clock
starts and served from memory by an aiohttp server without access log in a process of its
own; its CPU per round is reported next to the instances'. Each instance fetches with
concurrency 20 (per host 20: all feeds share the loopback host).

Where no PostgreSQL answers, the bench says so and exits 0. It creates and drops its own
database (`monitor_scale`), connecting to the database `test` to do so. The last line:
RESULT workers1_items_per_s=N workers2_items_per_s=N duplicate_fetches=N
duplicate_items=N lost_hits=N
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from email.utils import formatdate
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import ServerProcess, compiled, internal_options, serve_routes, verdict  # noqa: E402
from bench.poll import BEAT_WORDS as WORDS  # noqa: E402  (the poll benchmark's beat)

#: Text the rules in rules/ match (and some they do not), one per item in turn.
PHRASES = [
    phrase.split()
    for phrase in (
        "the Organization of Turkic States met diaspora leaders",
        "trade with the Turkic states should reach $60 billion",
        "",
        "",
        "",
        "Fuad Muradov spoke on the Joint Action Plan on the Diaspora",
        "",
        "",
        "",
        "",
    )
]
DB_NAME = "monitor_scale"
#: Feeds an instance claims at a time: what `monitor run` does on PostgreSQL.
CLAIM = 200
CONCURRENCY = 20
#: The clock of each round (the instances get it injected): two days apart, so that every
#: feed is due again in round 2.
ROUNDS = ("2025-12-16T06:00:00+00:00", "2025-12-18T06:00:00+00:00")


# --------------------------------------------------------------------------- feeds


def make_feed(n: int, items: int, first: int) -> bytes:
    """Feed n holding items first .. first+items-1 (newest first)."""
    import random

    out = [
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>\n'
        f"<title>Scale feed {n}</title><link>http://example.org/{n}/</link>\n"
        f"<description>Feed {n}</description><language>en</language>\n"
    ]
    base = 1_765_000_000
    for i in reversed(range(first, first + items)):
        rng = random.Random(n * 100_003 + i)
        words = [rng.choice(WORDS) for _ in range(60)]
        words[20:20] = PHRASES[i % len(PHRASES)]  # so that the rules in rules/ hit some
        out.append(
            f"<item><title>{' '.join(words[:8]).capitalize()} {n}-{i}</title>"
            f"<link>http://example.org/{n}/news/{i}?utm_source=rss</link>"
            f'<guid isPermaLink="false">feed{n}-item{i}</guid>'
            f"<pubDate>{formatdate(base + i * 3600 - n, usegmt=True)}</pubDate>"
            f"<dc:creator>Reporter {i % 7}</dc:creator>"
            f"<description><![CDATA[<p>{' '.join(words[8:38])}.</p>"
            f"<p>{' '.join(words[38:])}</p>]]></description></item>\n"
        )
    out.append("</channel></rss>\n")
    return "".join(out).encode()


def bodies(feeds: int, items: int, change: int) -> list[list[bytes]]:
    """Per round, per feed: the body."""
    return [[make_feed(n, items, r * change) for n in range(feeds)] for r in range(2)]


# --------------------------------------------------------------------------- server


def serve(port_file: str, feeds: int, items: int, change: int) -> None:
    """/feed/N (the current round's body, ETag per round), /_round/R, /_stats."""
    from aiohttp import web

    rendered = bodies(feeds, items, change)
    state: dict[str, Any] = {"round": 0, "hits": [0] * feeds}

    async def feed(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        state["hits"][n] += 1
        r = state["round"]
        etag = f'"feed-{n}-r{r}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(
            body=rendered[r][n], headers={"ETag": etag}, content_type="application/rss+xml"
        )

    async def set_round(request: web.Request) -> web.Response:
        state["round"] = int(request.match_info["r"])
        state["hits"] = [0] * feeds
        return web.Response(text="ok")

    async def stats(request: web.Request) -> web.Response:
        cpu = time.process_time()
        return web.json_response({"hits": state["hits"], "cpu": cpu})

    routes = {"/feed/{n}": feed, "/_round/{r}": set_round, "/_stats": stats}
    serve_routes(port_file, routes, backlog=2048)


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=60) as reply:
        data = reply.read()
    return json.loads(data) if data.startswith(b"{") else data


# --------------------------------------------------------------------------- an instance


def instance(db: str, base: str, feeds: int, clock_iso: str, claim: int) -> None:
    """One job instance: wait for "go" on stdin, run one poll (claiming batches of `claim`
    feeds until none is due), print what it did as JSON."""
    import logging
    import resource
    from datetime import datetime

    from monitor.app import parsers_for
    from monitor.feeds.fetch import HttpFetcher
    from monitor.poll import Poller
    from monitor.rules import compile_rules, load_rules
    from monitor.store import Store

    logging.getLogger("monitor").setLevel(logging.ERROR)
    now = datetime.fromisoformat(clock_iso)
    matcher = compile_rules(load_rules([ROOT / "rules"]))
    store = Store(db)
    fetcher = HttpFetcher(concurrency=CONCURRENCY, per_host=CONCURRENCY, clock=lambda: now)
    poller = Poller(
        store, fetcher, matcher, clock=lambda: now, parsers=parsers_for(None), claim=claim
    )
    print("ready", flush=True)
    sys.stdin.readline()
    cpu = time.process_time()
    results = list(poller.run())
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    store.close()
    print(
        json.dumps(
            {
                "feeds": len(results),
                "items": sum(r.new_items for r in results),
                "errors": [r.error for r in results if r.status not in ("ok", "not_modified")],
                "cpu": time.process_time() - cpu + kids.ru_utime + kids.ru_stime,
            }
        ),
        flush=True,
    )


# --------------------------------------------------------------------------- the database


def admin(pg: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(pg.replace("+psycopg", "") + "/test", autocommit=True) as conn:
        conn.execute(sql)


def fresh_database(pg: str, feeds: int, base: str) -> str:
    from monitor.model import FeedState
    from monitor.store import Store

    admin(pg, f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    admin(pg, f"CREATE DATABASE {DB_NAME}")
    url = f"{pg}/{DB_NAME}"
    store = Store(url)
    store.migrate()
    store.sync_feeds(
        [FeedState(id=f"f{n}", url=f"{base}/feed/{n}", min_interval=900) for n in range(feeds)]
    )
    store.close()
    return url


def audit(url: str) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        one = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
        hits = {
            (feed, guid, rule)
            for feed, guid, rule in conn.execute(
                "SELECT i.feed_id, i.guid, h.rule_id FROM hit h JOIN item i ON i.id = h.item_id"
            )
        }
        return {
            "items": one("SELECT count(*) FROM item"),
            "items_twice": one("SELECT count(*) - count(DISTINCT (feed_id, fingerprint)) FROM item")
            + one("SELECT count(*) - count(DISTINCT (feed_id, guid)) FROM item"),
            "hits_twice": one("SELECT count(*) - count(DISTINCT (item_id, rule_id)) FROM hit"),
            "hits": hits,
        }


def expected_hits(feeds: int, items: int, change: int) -> set[tuple[str, str, str]]:
    """What the real rules find in every item either round holds."""
    from monitor.feeds.parse import parse_feed
    from monitor.rules import compile_rules, load_rules

    matcher = compile_rules(load_rules([ROOT / "rules"]))
    out = set()
    for round_bodies in bodies(feeds, items, change):
        for n, body in enumerate(round_bodies):
            for entry in parse_feed(f"f{n}", body, url=f"http://127.0.0.1/feed/{n}").entries:
                out.update((f"f{n}", entry.id, hit.rule_id) for hit in matcher.match(entry))
    return out


# --------------------------------------------------------------------------- a run


def database_cpu() -> float:
    """CPU seconds used so far by the PostgreSQL processes on this machine, with the
    backends that have exited (counted in their parent's children time); Linux /proc, 0
    where they cannot be read."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                name, rest = f.read().rsplit(")", 1)
        except OSError:
            continue
        if name.partition("(")[2].startswith("postgres"):
            fields = rest.split()
            total += sum(int(v) for v in fields[11:15])
    return total / os.sysconf("SC_CLK_TCK")


def run_round(
    workers: int, db: str, base: str, feeds: int, clock_iso: str, claim: int
) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--instance",
                f"--db={db}",
                f"--base={base}",
                f"--feeds={feeds}",
                f"--clock={clock_iso}",
                f"--claim={claim}",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(workers)
    ]
    for proc in procs:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise SystemExit("an instance did not start")
    server_cpu = get(f"{base}/_stats")["cpu"]
    db_cpu = database_cpu()
    started = time.perf_counter()
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outs = []
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode:
            raise SystemExit(f"an instance failed with status {proc.returncode}")
        outs.append(json.loads(out.strip().splitlines()[-1]))
    wall = time.perf_counter() - started
    stats = get(f"{base}/_stats")
    return {
        "wall": wall,
        "items": sum(o["items"] for o in outs),
        "per_instance": [o["feeds"] for o in outs],
        "errors": [e for o in outs for e in o["errors"]],
        "cpu": sum(o["cpu"] for o in outs),
        "server_cpu": stats["cpu"] - server_cpu,
        "db_cpu": database_cpu() - db_cpu,
        "requests": stats["hits"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--items", type=int, default=25)
    parser.add_argument("--change", type=int, default=5)
    parser.add_argument("--claim", type=int, default=CLAIM)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    parser.add_argument("--instance", action="store_true", help=argparse.SUPPRESS)
    internal_options(parser, "serve", "db", "base", "clock")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.feeds, args.items, args.change)
        return
    if args.instance:
        instance(args.db, args.base, args.feeds, args.clock, args.claim)
        return
    try:
        admin(args.pg, "SELECT 1")
    except Exception as e:
        print(f"scale benchmark skipped: no PostgreSQL answers at {args.pg}/test ({e})")
        return

    print(
        f"Scale benchmark: {args.feeds} feeds x {args.items} items ({args.change} change in "
        f"round 2), PostgreSQL at {args.pg}, {os.cpu_count()} CPU cores, claims of "
        f"{args.claim} feeds; load average {os.getloadavg()[0]:.1f}"
    )
    want_hits = expected_hits(args.feeds, args.items, args.change)
    compiled()
    server = ServerProcess(
        __file__,
        [f"--feeds={args.feeds}", f"--items={args.items}", f"--change={args.change}"],
        start_within=300,
    )
    rows: list[tuple[int, int, dict[str, Any]]] = []
    totals = {"duplicate_fetches": 0, "missed_fetches": 0, "duplicate_items": 0, "lost_hits": 0}
    try:
        base = server.base
        for workers in (1, 2):
            db = fresh_database(args.pg, args.feeds, base)
            for r, clock_iso in enumerate(ROUNDS):
                get(f"{base}/_round/{r}")
                row = run_round(workers, db, base, args.feeds, clock_iso, args.claim)
                rows.append((workers, r, row))
                totals["duplicate_fetches"] += sum(max(0, n - 1) for n in row["requests"])
                totals["missed_fetches"] += sum(1 for n in row["requests"] if n == 0)
            found = audit(db)
            expected_items = args.feeds * (args.items + args.change)
            totals["duplicate_items"] += found["items_twice"] + found["hits_twice"]
            totals["duplicate_items"] += max(0, found["items"] - expected_items)
            totals["lost_hits"] += len(want_hits - found["hits"])
            rows[-1][2]["audit"] = (found["items"], expected_items, len(found["hits"]))
        admin(args.pg, f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    finally:
        server.close()

    print()
    print(
        f"{'instances / round':28} {'wall s':>7} {'new items':>10} {'items/s':>8} "
        f"{'CPU us/item':>12} {'server s':>9} {'database s':>11} {'req/feed':>9} "
        f"{'feeds per inst.':>16}"
    )
    rates: dict[int, float] = {}
    for workers, r, row in rows:
        rate = row["items"] / row["wall"]
        if r == 0:
            rates[workers] = rate
        reqs = sorted(set(row["requests"]))
        print(
            f"{workers} {'cold' if r == 0 else 'changing items':26} {row['wall']:7.2f} "
            f"{row['items']:10d} {rate:8.0f} {1e6 * row['cpu'] / max(row['items'], 1):12.0f} "
            f"{row['server_cpu']:9.2f} {row['db_cpu']:11.2f} {'/'.join(map(str, reqs)):>9} "
            f"{'+'.join(map(str, row['per_instance'])):>16}"
        )
        if row["errors"]:
            print(f"  {len(row['errors'])} feeds failed, e.g. {row['errors'][0]}")
    for workers, _, row in rows:
        if "audit" in row:
            stored, expected, hits = row["audit"]
            print(
                f"{workers} instance(s): {stored} items stored of {expected} expected; "
                f"{hits} hits stored of {len(want_hits)} expected"
            )
    print()
    speedup = rates[2] / rates[1]
    print(
        f"two instances {speedup:.2f}x one (cold); requests per feed per round: exactly one "
        f"{verdict(not totals['duplicate_fetches'] and not totals['missed_fetches'])}"
        f"; items or hits stored twice: {totals['duplicate_items']}; hits lost: "
        f"{totals['lost_hits']}; load average {os.getloadavg()[0]:.1f}"
    )
    print()
    print(
        f"RESULT workers1_items_per_s={rates[1]:.0f} workers2_items_per_s={rates[2]:.0f} "
        f"duplicate_fetches={totals['duplicate_fetches']} "
        f"duplicate_items={totals['duplicate_items']} lost_hits={totals['lost_hits']}"
    )


if __name__ == "__main__":
    main()
