"""Parser worker processes: results, errors, a worker that dies, a feed that takes too long."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.errors import ParseError
from monitor.feeds.parse import parse_feed
from monitor.feeds.pool import ParsePool

from ..helpers import DATA

POLL = DATA / "poll"


def big_feed(items: int) -> bytes:
    item = (
        "<item><title>Item {n}</title><guid>g{n}</guid>"
        "<description>&lt;p&gt;Words and more words about item {n}.&lt;/p&gt;</description></item>"
    )
    body = "".join(item.format(n=n) for n in range(items))
    return f'<rss version="2.0"><channel><title>Big</title>{body}</channel></rss>'.encode()


@pytest.fixture(scope="module")
def pool() -> ParsePool:
    with ParsePool(2, timeout=30) as p:
        yield p  # type: ignore[misc]


def test_workers_parse_like_this_process(pool: ParsePool) -> None:
    body = (POLL / "rss.xml").read_bytes()
    url = "https://feeds.example.org/cw.xml"
    assert pool.submit("cw", body, "application/rss+xml", url).result() == parse_feed(
        "cw", body, content_type="application/rss+xml", url=url
    )
    json = pool.submit("json", (POLL / "jsonfeed_1_1.json").read_bytes()).result()
    assert len(json.entries) == 2


def test_a_parse_error_comes_back_as_a_parse_error(pool: ParsePool) -> None:
    future = pool.submit("page", (POLL / "not_a_feed.html").read_bytes())
    with pytest.raises(ParseError, match=r"^feed page: not a feed"):
        future.result()


def test_a_parse_error_from_a_worker_keeps_its_feed_and_url(pool: ParsePool) -> None:
    url = "https://example.org/page"
    future = pool.submit("page", (POLL / "not_a_feed.html").read_bytes(), "text/html", url)
    with pytest.raises(ParseError) as caught:
        future.result()
    assert (caught.value.feed_id, caught.value.url) == ("page", url)
    assert caught.value.reason.startswith("not a feed")
    assert str(caught.value).startswith(f"feed page ({url}): not a feed")


def test_a_dead_worker_is_replaced(pool: ParsePool) -> None:
    body = (POLL / "atom.xml").read_bytes()
    pool.submit("warm", body).result()
    for proc in list(pool._procs):
        proc.kill()
        proc.wait()
    results = [pool.submit(f"after-{i}", body) for i in range(4)]
    assert all(len(f.result().entries) == 1 for f in results)


def test_a_feed_that_takes_too_long_is_stopped() -> None:
    with ParsePool(1, timeout=0.3) as slow_pool:
        too_long = slow_pool.submit("huge", big_feed(100_000))
        with pytest.raises(ParseError, match=r"^feed huge: parsing took longer than 0\.3 s"):
            too_long.result()
        late = slow_pool.submit("late", big_feed(100_000), None, "https://example.org/late")
        with pytest.raises(ParseError) as caught:
            late.result()
        assert caught.value.url == "https://example.org/late"
        assert caught.value.reason == "parsing took longer than 0.3 s; the parser was stopped"
        small = slow_pool.submit("small", (POLL / "atom.xml").read_bytes())
        assert len(small.result().entries) == 1


def test_closing_at_once_cancels_queued_bodies() -> None:
    p = ParsePool(1, timeout=30)
    futures = [p.submit(f"f{i}", big_feed(2_000)) for i in range(6)]
    p.close(now=True)
    assert any(f.cancelled() for f in futures)
    for f in futures:
        if not f.cancelled():
            assert f.done()


def test_without_worker_processes_bodies_are_parsed_here(tmp_path: Path) -> None:
    with ParsePool(1, executable=str(tmp_path / "no-such-python")) as broken:
        parsed = broken.submit("cw", (POLL / "rss.xml").read_bytes()).result()
    assert len(parsed.entries) == 3


def test_one_watch_kills_only_the_workers_whose_job_outlasts_the_timeout() -> None:
    import subprocess
    import sys
    import time

    from monitor.feeds.pool import _Watch

    watch = _Watch(0.2)
    sleepers = [
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) for _ in range(2)
    ]
    try:
        slow, quick = sleepers
        watch.arm(slow)
        watch.arm(quick)
        assert watch.disarm(quick) is False  # answered in time
        assert slow.wait(timeout=10) != 0  # killed at its deadline
        assert watch.disarm(slow) is True
        assert quick.poll() is None
        time.sleep(0.3)
        assert quick.poll() is None  # a disarmed worker is left alone
    finally:
        watch.stop()
        for proc in sleepers:
            proc.kill()
            proc.wait()


def test_a_parser_process_imports_parse_and_little_else() -> None:
    """Every cycle that parses in processes starts them, so their imports are paid each
    time: not the job's models, logging, threads or subprocesses."""
    import subprocess
    import sys

    job = (
        "import sys, monitor.feeds.worker, monitor.feeds.parse; print(' '.join(sorted("
        "m for m in ('monitor.model', 'logging', 'threading', 'subprocess', 'dataclasses',"
        " 'monitor.feeds.pool', 'feedparser') if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", job], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_a_cut_frame_reads_as_the_end() -> None:
    import io

    from monitor.feeds.worker import dumps, loads, read_frame, write_frame

    stream = io.BytesIO()
    write_frame(stream, dumps(("ok", "T", None, [])))
    whole = stream.getvalue()
    assert loads(read_frame(io.BytesIO(whole)) or b"") == ("ok", "T", None, [])
    assert read_frame(io.BytesIO(whole[:-1])) is None
    assert read_frame(io.BytesIO(whole[:2])) is None
    assert read_frame(io.BytesIO(b"")) is None
