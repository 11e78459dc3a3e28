"""Full-text benchmark: 1,000 article pages of about 30 KB fetched from a loopback server,
extracted and matched, as the job's full-text stage does it.

    python bench/fulltext.py [--pages 1000]

The pages are the saved articles of tests/data/pages (four languages, with menus, ads,
related links and comments around the story), each made about 30 KB long as news pages
are (a story of a few KB, the rest menus, comments, related links and scripts), and
numbered so that no two are alike. A child process
serves them (so its CPU is not counted); this process runs fulltext.TextStage on a SQLite
file holding 1,000 items that await their article: robots.txt, fetch, extraction, the
seeded rules, the write of text and hits. All pages are on one host, so ``per_host`` is
set to the global concurrency (20): the limit that a real feed's pages meet is the site's.

It runs the stage twice, with trafilatura (the job's extractor) and with readability-lxml
(``pip install readability-lxml``, the bench extra), then times extraction alone, and
checks both extractors on the saved pages: which story sentences each keeps, and which
clutter (comments, ads, menus) it lets in.

The last line is machine-readable (the job's extractor):
RESULT pages_per_s=N cpu_ms_per_page=N
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import multiprocessing
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import QuietHandler  # noqa: E402
from monitor.feeds.article import extract_text  # noqa: E402
from monitor.feeds.pages import PageFetcher  # noqa: E402
from monitor.fulltext import TextStage  # noqa: E402
from monitor.model import Entry, FeedState, FeedUpdate  # noqa: E402
from monitor.rules import compile_rules, load_rules  # noqa: E402
from monitor.store import Store  # noqa: E402

PAGES = ROOT / "tests" / "data" / "pages"
SIZE = 30_000
NOW = datetime(2025, 12, 16, 6, 0, tzinfo=UTC)
#: What each saved page's story says (must be kept) and what is around it (must not be).
CHECKS = {
    "en_trend.html": (
        ["Kubanychbek Omuraliev", "$100 billion", "Aktau, Kuryk and Alat"],
        ["transit_fan", "Most read", "Advertisement", "SUV", "Read also"],
    ),
    "tr_haber.html": (
        ["Kubanıçbek Ömüraliyev", "Fuad Muradov", "60 milyar dolar"],
        ["Mehmet K.", "Çok okunanlar", "Kredi kartı", "Süper Lig", "REKLAM"],
    ),
    "ru_novosti.html": (
        ["Кубанычбек Омуралиев", "100 млрд", "Бишкеке"],
        ["Айдар", "Курс тенге", "Ипотека", "Реклама"],
    ),
    "az_xeber.html": (
        ["Fuad Muradov", "Azərbaycan evlərinin", "Diaspora ilə İş"],
        ["Elvin", "qar yağacaq", "aviabiletlər", "Reklam"],
    ),
}


def grown(name: str, number: int) -> bytes:
    """A saved page made about SIZE bytes long as news pages are: the story a little longer
    (its paragraphs once more), and the rest markup around it: menus, related links,
    comments and scripts, numbered so that no two pages are alike."""
    html = (PAGES / name).read_text(encoding="utf-8")
    paragraphs = re.findall(r"<p>(?:(?!</p>).)*</p>", html, flags=re.S)
    story = "".join(p.replace("<p>", f'<p data-n="{number}">', 1) for p in paragraphs[:3])
    html = html.replace(paragraphs[1], paragraphs[1] + story, 1)  # inside the story
    chrome = ""
    i = 0
    while len(html.encode()) + len(chrome.encode()) < SIZE:
        chrome += (
            f'<div class="comment"><b>reader{number}_{i}</b><p>Comment {i} on story '
            f"{number}: thanks for the report.</p></div>"
            f'<ul class="related"><li><a href="/related/{number}/{i}">Related story {i}</a></li>'
            f'<li><a href="/video/{i}">Video {i}</a></li></ul>'
            f"<script>window.slots = window.slots || []; slots.push({{id: {i}}});</script>"
        )
        i += 1
    at = "</main>" if "</main>" in html else "</body>"
    html = html.replace(at, chrome + at, 1)
    return html.replace("<title>", f"<title>{number} · ", 1).encode()


def serve(port: multiprocessing.Queue, count: int) -> None:  # type: ignore[type-arg]
    names = sorted(CHECKS)
    bodies = [grown(names[i % len(names)], i) for i in range(count)]

    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            if self.path == "/robots.txt":
                self.reply(404)
                return
            body = bodies[int(self.path.rsplit("/", 1)[1])]
            self.reply(200, body, "text/html; charset=utf-8")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port.put((server.server_address[1], sum(len(b) for b in bodies) / len(bodies)))
    server.serve_forever()


@contextlib.contextmanager
def pages_served(count: int) -> Iterator[tuple[int, float]]:
    queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    child = multiprocessing.Process(target=serve, args=(queue, count), daemon=True)
    child.start()
    try:
        yield queue.get(timeout=60)
    finally:
        child.terminate()
        child.join(10)


def readability_text(body: bytes, url: str | None, content_type: str | None) -> str:
    import lxml.html
    from readability import Document

    html = Document(body.decode("utf-8", "replace")).summary(html_partial=True)
    return " ".join(lxml.html.fromstring(html).text_content().split())


def stage_run(
    port: int, count: int, extract: Callable[[bytes, str | None, str | None], str]
) -> tuple[float, float, int, int]:
    """(wall seconds, CPU seconds, pages in, hits) for one stage over `count` items."""
    with tempfile.TemporaryDirectory() as folder:
        store = Store(f"sqlite:///{folder}/bench.db")
        store.migrate()
        origin = f"http://127.0.0.1:{port}/feed.xml"
        store.sync_feeds([FeedState(id="bench", url=origin, full_text=True)])
        entries = tuple(
            Entry(
                feed_id="bench",
                id=str(i),
                url=f"http://127.0.0.1:{port}/story/{i}",
                title=f"Story {i}",
                summary="The first sentence of the story.",
            )
            for i in range(count)
        )
        polled = FeedState(id="bench", url=origin, last_polled=NOW)
        store.record(
            FeedUpdate(feed=polled, entries=entries, awaiting=tuple(e.id for e in entries))
        )
        matcher = compile_rules(load_rules([ROOT / "rules"]))
        fetcher = PageFetcher(concurrency=20, per_host=20, clock=lambda: NOW)
        stage = TextStage(store, fetcher, matcher, extract, clock=lambda: NOW, per_cycle=count)
        wall, cpu = time.perf_counter(), time.process_time()
        results = list(stage.run())
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        store.close()
    return wall, cpu, sum(r.pages for r in results), sum(r.new_hits for r in results)


def extraction_only(
    extract: Callable[[bytes, str | None, str | None], str], bodies: list[bytes]
) -> float:
    started = time.process_time()
    for body in bodies:
        extract(body, None, "text/html; charset=utf-8")
    return (time.process_time() - started) / len(bodies) * 1000


def quality(extract: Callable[[bytes, str | None, str | None], str]) -> tuple[int, int, int, int]:
    """(story phrases kept, of all; clutter phrases let in, of all) on the saved pages."""
    kept = let_in = wanted = unwanted = 0
    for name, (story, clutter) in CHECKS.items():
        text = extract((PAGES / name).read_bytes(), None, "text/html; charset=utf-8")
        kept += sum(phrase in text for phrase in story)
        let_in += sum(phrase in text for phrase in clutter)
        wanted, unwanted = wanted + len(story), unwanted + len(clutter)
    return kept, wanted, let_in, unwanted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=1000)
    count = parser.parse_args().pages
    extractors: dict[str, Callable[[bytes, str | None, str | None], str]] = {
        "trafilatura": extract_text
    }
    try:
        import readability  # noqa: F401

        extractors["readability-lxml"] = readability_text
    except ImportError:
        print(
            "readability-lxml is not installed (pip install -e '.[bench]'): compared with nothing"
        )
    names = sorted(CHECKS)
    bodies = [grown(names[i % len(names)], i) for i in range(100)]
    rows = []
    with pages_served(count) as (port, mean_size):
        print(f"{count} pages of {mean_size / 1000:.1f} KB on average, served on 127.0.0.1:{port}")
        for name, extract in extractors.items():
            wall, cpu, fetched, hits = stage_run(port, count, extract)
            kept, wanted, let_in, unwanted = quality(extract)
            rows.append(
                (
                    name,
                    fetched / wall,
                    cpu / count * 1000,
                    extraction_only(extract, bodies),
                    hits,
                    f"{kept}/{wanted}",
                    f"{let_in}/{unwanted}",
                )
            )
    print(
        f"{'extractor':18} {'pages/s':>8} {'cpu ms/page':>12} {'extract ms':>11} {'hits':>6} "
        f"{'story kept':>11} {'clutter in':>11}"
    )
    for name, rate, cpu_ms, extract_ms, hits, kept, let_in in rows:
        print(
            f"{name:18} {rate:8.0f} {cpu_ms:12.1f} {extract_ms:11.1f} {hits:6} "
            f"{kept:>11} {let_in:>11}"
        )
    _, rate, cpu_ms, *_ = rows[0]
    print(f"RESULT pages_per_s={rate:.0f} cpu_ms_per_page={cpu_ms:.1f}")


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
