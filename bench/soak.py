"""Soak: the job left running on feeds that never stop changing. Does it leak?

A loopback server serves FEEDS feeds whose items change every minute (each minute brings
new items and drops the oldest). `monitor run` polls them with a short tick for MINUTES
minutes, as a user's container would for months. Every minute this prints the job's
resident memory (its own process and its parser processes) and its open file descriptors;
at the end, the growth from minute 5 (after start-up and the first full cycles) to the
last minute.

    python bench/soak.py [--minutes 20] [--feeds 500] [--tick 5]

Last line: RESULT minutes=N rss_growth_mb=N fds_growth=N items=N (goal: growth under 10 MB
and 0 descriptors).
"""

from __future__ import annotations

import argparse
import os
import signal as signals
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from email.utils import formatdate
from http.server import ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import QuietHandler, verdict  # noqa: E402

ITEMS_PER_MINUTE = 3
KEEP_MINUTES = 10

TOPICS = (
    "Organization of Turkic States secretary general meets diaspora leaders",
    "Turkiye and Azerbaijan discuss trade of 15 billion dollars",
    "Kazakhstan weather: snow expected in Astana",
    "Uzbekistan and Turkiye sign transport agreement on the Middle Corridor",
    "Football: Qarabag wins at home",
)


def feed_body(feed: int, minute: int) -> bytes:
    items = []
    for m in range(max(0, minute - KEEP_MINUTES + 1), minute + 1):
        for k in range(ITEMS_PER_MINUTE):
            title = TOPICS[(feed + m + k) % len(TOPICS)]
            items.append(
                f"<item><title>{title} ({feed}-{m}-{k})</title>"
                f"<link>http://127.0.0.1/{feed}/{m}/{k}</link>"
                f"<guid>f{feed}-m{m}-k{k}</guid>"
                f"<pubDate>{formatdate(1_760_000_000 + m * 60, usegmt=True)}</pubDate>"
                f"<description>Minute {m}, item {k} of feed {feed}: {title}.</description></item>"
            )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Soak feed {feed}</title><link>http://127.0.0.1/</link>"
        f"<description>changes every minute</description>{''.join(items)}</channel></rss>"
    ).encode()


class Feeds(QuietHandler):
    started = time.monotonic()

    def do_GET(self) -> None:
        minute = int((time.monotonic() - self.started) // 60)
        try:
            feed = int(self.path.strip("/").split(".")[0])
        except ValueError:
            self.send_error(404)
            return
        self.reply(200, feed_body(feed, minute), "application/rss+xml")


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (the parser processes), in MB."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):  # children of any of its threads
        try:
            pids += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def stored_items(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
            return int(conn.execute("SELECT count(*) FROM item").fetchone()[0])
    except sqlite3.Error:
        return -1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=int, default=20)
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--tick", type=int, default=5, help="the job's poll tick, seconds")
    args = parser.parse_args()
    if args.minutes < 6:
        parser.error("--minutes must be at least 6 (growth is measured from minute 5)")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Feeds)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]

    work = Path(tempfile.mkdtemp(prefix="monitor-soak-"))
    db = work / "monitor.db"
    feeds = "".join(
        f"  - id: soak{i}\n    url: http://127.0.0.1:{port}/{i}.xml\n    interval: 1m\n"
        for i in range(args.feeds)
    )
    (work / "monitor.yaml").write_text(
        f"storage: sqlite:///{db}\n"
        f"rules: [{ROOT / 'rules'}]\n"
        f"templates: {ROOT / 'templates'}\n"
        f"digests_dir: {work / 'digests'}\n"
        f"poll:\n  tick: {args.tick}s\n  min_interval: 1m\n  max_interval: 1m\n"
        "  concurrency: 50\n  per_host: 50\n"
        f"feeds:\n{feeds}"
        "digests:\n  - id: hourly\n    schedule: '0 * * * *'\n    deliver: [file]\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    job = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "--quiet", "run"],
        cwd=work,
        env={**env, "MONITOR_CONFIG": str(work / "monitor.yaml")},
    )
    print(
        f"soak: {args.feeds} loopback feeds, items change every minute, tick {args.tick} s, "
        f"{args.minutes} minutes; job pid {job.pid}"
    )
    print(f"{'minute':>6} {'rss MB':>8} {'fds':>5} {'items':>8}")
    samples: list[tuple[int, float, int, int]] = []
    start = time.monotonic()
    try:
        for minute in range(1, args.minutes + 1):
            time.sleep(max(0.0, start + minute * 60 - time.monotonic()))
            if job.poll() is not None:
                sys.exit(f"soak: the job exited with status {job.returncode} at minute {minute}")
            sample = (minute, tree_rss_mb(job.pid), open_fds(job.pid), stored_items(db))
            samples.append(sample)
            print(f"{sample[0]:>6} {sample[1]:>8.1f} {sample[2]:>5} {sample[3]:>8}", flush=True)
    finally:
        job.send_signal(signals.SIGTERM)
        try:
            job.wait(timeout=60)
        except subprocess.TimeoutExpired:
            job.kill()
        server.shutdown()
    base = next(s for s in samples if s[0] == 5)
    last = samples[-1]
    rss_growth = last[1] - base[1]
    fds_growth = last[2] - base[2]
    print(f"growth from minute 5 to {last[0]}: {rss_growth:+.1f} MB, {fds_growth:+d} descriptors")
    print(f"goal: under 10 MB and 0 descriptors: {verdict(rss_growth < 10 and fds_growth <= 0)}")
    print(
        f"RESULT minutes={last[0]} rss_growth_mb={rss_growth:.1f} fds_growth={fds_growth} "
        f"items={last[3]}"
    )


if __name__ == "__main__":
    main()
