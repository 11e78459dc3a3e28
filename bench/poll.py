"""Poll benchmark: monitor's poller against lemon24/reader on one loopback server.

    python bench/poll.py [--feeds 1000] [--items 50] [--on-topic 0.1] [--skip-reader]
                         [--skip-clients] [--rules PATH]

A loopback HTTP server (aiohttp, in its own process, neither measured nor counted) serves
FEEDS feeds of ITEMS items each: realistic RSS 2.0 news items with HTML descriptions,
tracking parameters and authors. A share of them (ON_TOPIC, a tenth by default) is about
the beat that the seeded rules follow; the rest is the other news of a general feed. In
one run this measures

- monitor, in a fresh process: a cold poll (every feed answers 200 with a new body: all
  of it is parsed, matched and stored), a warm poll (every feed answers 304 to our
  validators) and an unchanged poll (the server drops its validators and answers 200 with
  the same bytes);
- reader, in another fresh process: a cold and a warm poll of the same server and feeds,
  with `update_feeds(scheduled=False, workers=N)`;
- a side table: aiohttp and httpx on 500 requests at concurrency 50 (the client choice).

monitor's modules are compiled to bytecode first, as an installed package's are (reader's
were when pip installed it). Each contender's peak RSS is the sum over its process and
every child it starts (parser workers), sampled every 20 ms from outside. CPU per item of
a cold poll counts every process: monitor's own (all its threads) and its parser
processes; reader's process (its threads). CPU per item moves less than items/s when
other work shares the machine, so the load average is printed next to each contender.
Goals (issue 13): CPU per item at most a fifth of reader's, cold at least 4x reader's
items/s, warm in at most half of reader's warm time, unchanged within 4 s, peak RSS of all
processes at most 150 MB.

The last line is machine-readable:
RESULT cold_items_per_s=N reader_items_per_s=N warm_s=N reader_warm_s=N unchanged_s=N
peak_rss_mb=N cpu_us_per_item=N reader_cpu_us_per_item=N
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from email.utils import formatdate
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import ServerProcess, compiled, internal_options, serve_routes, verdict  # noqa: E402

LAST_MODIFIED = "Mon, 15 Dec 2025 08:00:00 GMT"
#: The words of an item on the beat that the seeded rules follow.
_BEAT = """
turkic states summit trade diaspora minister agreement energy corridor caspian transport
investment culture education digital customs railway parliament delegation cooperation
economy security forum bank billion astana baku ankara tashkent bishkek
"""
#: The words of the rest of the news: what most items of a general feed are about.
_NEWS = """
council police weather storm football match league season coach players film festival
award music concert school teachers students hospital doctors health patients court judge
trial housing prices market shares company profits airline flights strike union workers
election campaign voters mayor city river bridge fire museum exhibition science study
researchers space climate farmers harvest tourism hotel restaurant traffic accident road
"""
_GLUE = ["the", "of", "and", "a", "in", "to", "for", "on", "with", "at", "by", "from"]
BEAT_WORDS = _BEAT.split() + _GLUE
NEWS_WORDS = _NEWS.split() + _GLUE
#: The share of items on the beat. A monitor reads general feeds to find the few items on
#: its topics; a tenth is generous. `--on-topic 1` makes every item topical, the worst case
#: for matching (every item hits a rule or more, and each hit is explained).
ON_TOPIC = 0.1
#: Fetch limits for monitor. All feeds share one loopback host, so the per-host limit is
#: raised to the global one (the default of 2 protects real outlets, not this server).
CONCURRENCY = 20


# --------------------------------------------------------------------------- feeds


def make_feed(n: int, items: int, on_topic: float = ON_TOPIC) -> bytes:
    """A realistic RSS 2.0 news feed: HTML descriptions, tracking parameters, authors; a
    share ``on_topic`` of its items is about the beat."""
    rng = random.Random(n)
    vocabulary = NEWS_WORDS

    def words(k: int) -> str:
        return " ".join(rng.choice(vocabulary) for _ in range(k))

    out = [
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">\n<channel>\n'
        f"<title>Bench feed {n}</title>\n<link>http://example.org/{n}/</link>\n"
        f"<description>Feed {n} of the poll benchmark</description>\n<language>en</language>\n"
    ]
    base = 1_765_000_000
    for i in range(items):
        vocabulary = BEAT_WORDS if rng.random() < on_topic else NEWS_WORDS
        out.append(
            "<item>\n"
            f"<title>{words(8).capitalize()}</title>\n"
            f"<link>http://example.org/{n}/news/{i}?utm_source=rss&amp;utm_medium=feed</link>\n"
            f'<guid isPermaLink="false">feed{n}-item{i}</guid>\n'
            f"<pubDate>{formatdate(base - i * 3600 - n, usegmt=True)}</pubDate>\n"
            f"<dc:creator>Reporter {i % 7}</dc:creator>\n"
            f"<category>{rng.choice(vocabulary)}</category>\n"
            f"<description><![CDATA[<p>{words(30)} &amp; {words(20)}.</p>"
            f'<p><a href="http://example.org/{n}/x">{words(5)}</a> {words(25)}</p>]]>'
            "</description>\n</item>\n"
        )
    out.append("</channel>\n</rss>\n")
    return "".join(out).encode()


# --------------------------------------------------------------------------- server


def serve(port_file: str, feeds: int, items: int, on_topic: float = ON_TOPIC) -> None:
    """The loopback server: /feed/N, /_validators/on|off. Runs until killed."""
    from aiohttp import web

    bodies = [make_feed(n, items, on_topic) for n in range(feeds)]
    state = {"validators": True}

    async def feed(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        etag = f'"feed-{n}-v1"'
        headers: dict[str, str] = {}
        if state["validators"]:
            if request.headers.get("If-None-Match") == etag or (
                request.headers.get("If-Modified-Since") == LAST_MODIFIED
            ):
                return web.Response(status=304, headers={"ETag": etag})
            headers = {"ETag": etag, "Last-Modified": LAST_MODIFIED}
        return web.Response(
            body=bodies[n], headers=headers, content_type="application/rss+xml", charset="utf-8"
        )

    async def validators(request: web.Request) -> web.Response:
        state["validators"] = request.match_info["mode"] == "on"
        return web.Response(text="ok")

    serve_routes(port_file, {"/feed/{n}": feed, "/_validators/{mode}": validators}, backlog=1024)


def validators(base: str, on: bool) -> None:
    with urllib.request.urlopen(f"{base}/_validators/{'on' if on else 'off'}") as reply:
        reply.read()


# --------------------------------------------------------------------------- measuring


def tree_rss(pid: int) -> tuple[int, int]:
    """RSS in bytes of a process and all its descendants (Linux /proc), and of the process
    alone."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    total, own, todo, page = 0, 0, [pid], os.sysconf("SC_PAGE_SIZE")
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm") as f:
                rss = int(f.read().split()[1]) * page
        except (OSError, IndexError, ValueError):
            rss = 0
        total += rss
        own = own or rss
        todo.extend(children.get(p, ()))
    return total, own


def run_contender(args: list[str]) -> tuple[dict[str, Any], float]:
    """Run `bench/poll.py --contender ...` in a fresh process: (its JSON, peak RSS in MB).
    The JSON gets ``rss_parts``: the process's own RSS and its children's at that peak."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    proc = subprocess.Popen(
        [sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True, env=env
    )
    peak = (0, 0)
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, tree_rss(proc.pid))
            stop.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    stop.set()
    sampler.join()
    if proc.returncode:
        raise SystemExit(f"contender {args} failed with status {proc.returncode}")
    lines = [line for line in out.splitlines() if line.startswith("{")]
    total, own = peak
    found = json.loads(lines[-1])
    found["rss_parts"] = (own / 2**20, (total - own) / 2**20)
    return found, total / 2**20


# --------------------------------------------------------------------------- contenders


def contender_monitor(base: str, feeds: int, rules: str) -> dict[str, Any]:
    import logging
    from datetime import UTC, datetime, timedelta

    from monitor.app import parsers_for
    from monitor.feeds.fetch import HttpFetcher
    from monitor.feeds.pool import default_workers
    from monitor.model import Entry, FeedState, Hit
    from monitor.poll import Poller
    from monitor.store import Store

    class NoMatch:
        def match(self, entry: Entry) -> list[Hit]:
            return []

    try:
        from monitor.rules import compile_rules, load_rules

        ruleset = load_rules([Path(rules)])
        matcher: Any = compile_rules(ruleset)
        matcher_kind = f"real ({len(ruleset.rules)} rules from {rules})"
    except ImportError:
        matcher, matcher_kind = NoMatch(), "none (monitor.rules not available)"

    class Clock:
        now = datetime(2025, 12, 16, 6, 0, tzinfo=UTC)

        def __call__(self) -> datetime:
            return self.now

    # Two simulated days pass between polls, so every feed reports itself silent: correct,
    # and a thousand log lines that are not what is measured here.
    logging.getLogger("monitor").setLevel(logging.ERROR)
    clock = Clock()
    out: dict[str, Any] = {"matcher": matcher_kind, "workers": default_workers()}
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'monitor.db'}")
        store.migrate()
        store.sync_feeds([FeedState(id=f"f{n}", url=f"{base}/feed/{n}") for n in range(feeds)])
        fetcher = HttpFetcher(concurrency=CONCURRENCY, per_host=CONCURRENCY, clock=clock)
        poller = Poller(store, fetcher, matcher, clock=clock, parsers=parsers_for(None))
        for phase in ("cold", "warm", "unchanged"):
            if phase == "unchanged":
                validators(base, on=False)
            started, cpu, kids = time.perf_counter(), time.process_time(), children_cpu()
            results = list(poller.run())
            out[f"{phase}_s"] = time.perf_counter() - started
            out[f"{phase}_cpu"] = (time.process_time() - cpu, children_cpu() - kids)
            out[f"{phase}_items"] = sum(r.new_items for r in results)
            out[f"{phase}_hits"] = sum(r.new_hits for r in results)
            out[f"{phase}_status"] = dict(Counter(r.status for r in results))
            clock.now += timedelta(days=2)  # every feed is due again
        validators(base, on=True)
        out["stored"] = store.counts()["items"]
        store.close()
    return out


def children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def contender_reader(base: str, feeds: int, workers: int) -> dict[str, Any]:
    import reader

    with tempfile.TemporaryDirectory() as tmp:
        r = reader.make_reader(str(Path(tmp) / "reader.sqlite"))
        for n in range(feeds):
            r.add_feed(f"{base}/feed/{n}")
        started, cpu = time.perf_counter(), time.process_time()
        r.update_feeds(scheduled=False, workers=workers)
        cold, cold_cpu = time.perf_counter() - started, time.process_time() - cpu
        items = r.get_entry_counts().total
        started = time.perf_counter()
        r.update_feeds(scheduled=False, workers=workers)
        warm = time.perf_counter() - started
        r.close()
    return {
        "cold_s": cold,
        "cold_cpu": cold_cpu,
        "items": items,
        "warm_s": warm,
        "version": reader.__version__,
    }


def contender_clients(base: str, requests: int, concurrency: int) -> dict[str, Any]:
    import aiohttp
    import httpx

    urls = [f"{base}/feed/{n % 100}" for n in range(requests)]
    out: dict[str, Any] = {}

    async def with_aiohttp() -> int:
        limit = asyncio.Semaphore(concurrency)
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one(url: str) -> int:
                async with limit, session.get(url) as resp:
                    return len(await resp.read())

            return sum(await asyncio.gather(*(one(u) for u in urls)))

    async def with_httpx() -> int:
        limit = asyncio.Semaphore(concurrency)
        limits = httpx.Limits(max_connections=concurrency)
        async with httpx.AsyncClient(limits=limits) as client:

            async def one(url: str) -> int:
                async with limit:
                    return len((await client.get(url)).content)

            return sum(await asyncio.gather(*(one(u) for u in urls)))

    def with_httpx_sync() -> int:
        with httpx.Client() as client:
            return sum(len(client.get(u).content) for u in urls)

    for name, run in (
        ("aiohttp.ClientSession", lambda: asyncio.run(with_aiohttp())),
        ("httpx.AsyncClient", lambda: asyncio.run(with_httpx())),
        ("httpx.Client, sequential", with_httpx_sync),
    ):
        started = time.perf_counter()
        size = run()
        out[name] = {"s": time.perf_counter() - started, "bytes": size}
    out["versions"] = {"aiohttp": aiohttp.__version__, "httpx": httpx.__version__}
    return out


# --------------------------------------------------------------------------- report


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument(
        "--on-topic",
        type=float,
        default=ON_TOPIC,
        help=f"share of items on the rules' beat (default {ON_TOPIC}; 1 = every item)",
    )
    parser.add_argument("--reader-workers", type=int, default=4)
    parser.add_argument("--skip-reader", action="store_true")
    parser.add_argument(
        "--rules", default=str(ROOT / "rules"), help="rule files monitor matches (default rules/)"
    )
    parser.add_argument("--skip-clients", action="store_true")
    internal_options(parser, "serve", "contender", "base")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.feeds, args.items, args.on_topic)
        return
    if args.contender:
        runs = {
            "monitor": lambda: contender_monitor(args.base, args.feeds, args.rules),
            "reader": lambda: contender_reader(args.base, args.feeds, args.reader_workers),
            "clients": lambda: contender_clients(args.base, 500, 50),
        }
        print(json.dumps(runs[args.contender]()))
        return

    total = args.feeds * args.items
    print(
        f"Poll benchmark: {args.feeds} feeds x {args.items} items on a loopback server "
        f"(its own process), {args.on_topic:.0%} of them on the rules' beat, "
        f"{os.cpu_count()} CPU cores, Python {sys.version.split()[0]}"
    )
    compiled()
    server = ServerProcess(
        __file__,
        [f"--feeds={args.feeds}", f"--items={args.items}", f"--on-topic={args.on_topic}"],
        start_within=120,
    )
    try:
        common = [f"--base={server.base}", f"--feeds={args.feeds}", f"--items={args.items}"]
        loads = [os.getloadavg()[0]]
        ours, our_rss = run_contender(["--contender=monitor", f"--rules={args.rules}", *common])
        loads.append(os.getloadavg()[0])
        theirs: dict[str, Any] | None = None
        their_rss = 0.0
        if not args.skip_reader:
            validators(server.base, True)
            theirs, their_rss = run_contender(
                ["--contender=reader", *common, f"--reader-workers={args.reader_workers}"]
            )
            loads.append(os.getloadavg()[0])
        clients = None if args.skip_clients else run_contender(["--contender=clients", *common])[0]
    finally:
        server.close()

    cold_rate = ours["cold_items"] / ours["cold_s"]
    print(
        f"monitor: matcher {ours['matcher']}; {ours['workers']} parser processes; "
        f"fetch concurrency {CONCURRENCY}, per host {CONCURRENCY} (one loopback host)"
    )
    if theirs:
        print(
            f"reader {theirs['version']}: update_feeds(scheduled=False, "
            f"workers={args.reader_workers})"
        )
    print()
    print(
        f"{'contender / poll':30} {'wall s':>8} {'new items':>10} {'items/s':>9} "
        f"{'peak RSS MB':>12}"
    )
    rows = [
        ("monitor  cold (all 200)", ours["cold_s"], ours["cold_items"], our_rss),
        ("monitor  warm (all 304)", ours["warm_s"], ours["warm_items"], None),
        ("monitor  unchanged (200, same)", ours["unchanged_s"], ours["unchanged_items"], None),
    ]
    if theirs:
        rows += [
            ("reader   cold (all 200)", theirs["cold_s"], theirs["items"], their_rss),
            ("reader   warm (all 304)", theirs["warm_s"], 0, None),
        ]
    for name, secs, items, rss in rows:
        rate = f"{items / secs:9.0f}" if items else f"{'-':>9}"
        rss_text = f"{rss:12.0f}" if rss is not None else f"{'':>12}"
        print(f"{name:30} {secs:8.2f} {items:10d} {rate} {rss_text}")
    main_cpu, worker_cpu = ours["cold_cpu"]
    our_cpu = 1e6 * (main_cpu + worker_cpu) / max(ours["cold_items"], 1)
    their_cpu = 1e6 * theirs["cold_cpu"] / max(theirs["items"], 1) if theirs else 0.0
    print(
        f"cold poll CPU: monitor {main_cpu:.1f} s in its process + {worker_cpu:.1f} s in parser "
        f"processes = {our_cpu:.0f} us/item"
        + (f"; reader {theirs['cold_cpu']:.1f} s = {their_cpu:.0f} us/item" if theirs else "")
    )
    own, kids = ours["rss_parts"]
    print(f"monitor's peak RSS: {own:.0f} MB its process + {kids:.0f} MB its parser processes")
    print(
        "load average (1 min) before monitor, after monitor"
        + (", after reader" if theirs else "")
        + ": "
        + ", ".join(f"{load:.1f}" for load in loads)
    )
    print(
        f"monitor statuses: cold {ours['cold_status']}, warm {ours['warm_status']}, "
        f"unchanged {ours['unchanged_status']}; {ours['cold_hits']} hits; "
        f"{ours['stored']} of {total} items stored"
    )

    reader_rate = theirs["items"] / theirs["cold_s"] if theirs else 0.0
    reader_warm = theirs["warm_s"] if theirs else 0.0
    print()
    print("goals")
    if theirs:
        print(
            f"  CPU/item <= 1/5 of reader's      {our_cpu:.0f} vs {their_cpu:.0f} us "
            f"({our_cpu / their_cpu:.2f})  {verdict(our_cpu <= their_cpu / 5)}"
        )
        print(
            f"  cold items/s >= 4x reader's      {cold_rate:.0f} vs {reader_rate:.0f} "
            f"({cold_rate / reader_rate:.1f}x)  {verdict(cold_rate >= 4 * reader_rate)}"
        )
        print(
            f"  warm <= half of reader's warm    {ours['warm_s']:.2f} s vs {reader_warm:.2f} s  "
            f"{verdict(ours['warm_s'] <= reader_warm / 2)}"
        )
    print(
        f"  unchanged <= 4 s                 {ours['unchanged_s']:.2f} s  "
        f"{verdict(ours['unchanged_s'] <= 4)}"
    )
    print(f"  peak RSS <= 150 MB               {our_rss:.0f} MB  {verdict(our_rss <= 150)}")

    if clients:
        versions = clients.pop("versions")
        clients.pop("rss_parts")  # what run_contender measured, not a client
        print()
        print(
            "HTTP client: 500 requests of a feed (about "
            f"{clients['aiohttp.ClientSession']['bytes'] / 500 / 1000:.0f} KB) on loopback "
            f"(aiohttp {versions['aiohttp']}, httpx {versions['httpx']})"
        )
        print(f"{'client':40} {'wall s':>8} {'requests/s':>11}")
        for name, row in clients.items():
            label = name if "sequential" in name else f"{name}, concurrency 50"
            print(f"{label:40} {row['s']:8.2f} {500 / row['s']:11.0f}")

    print()
    print(
        f"RESULT cold_items_per_s={cold_rate:.0f} reader_items_per_s={reader_rate:.0f} "
        f"warm_s={ours['warm_s']:.2f} reader_warm_s={reader_warm:.2f} "
        f"unchanged_s={ours['unchanged_s']:.2f} peak_rss_mb={our_rss:.0f} "
        f"cpu_us_per_item={our_cpu:.0f} reader_cpu_us_per_item={their_cpu:.0f}"
    )


if __name__ == "__main__":
    main()
