"""A big batch's signatures on two cores (monitor/sigpool.py): the same signatures as one
process makes, and a helper that cannot start, dies, fails or hangs costs only time."""

from __future__ import annotations

import logging
import random
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.model import Entry
from monitor.signature import Signature, signatures
from monitor.sigpool import SignaturePool

WORDS = [
    "summit",
    "trade",
    "pipeline",
    "diaspora",
    "council",
    "railway",
    "corridor",
    "energy",
    "grain",
    "customs",
]
NAMES = ["Omuraliev", "Tokayev", "Aliyev", "Erdogan", "Baku", "Astana", "Ankara", "Бишкек"]


def entries(count: int, seed: int = 1) -> list[Entry]:
    rng = random.Random(seed)
    out = []
    for n in range(count):
        names = rng.sample(NAMES, 3)
        words = " ".join(rng.choices(WORDS, k=25))
        body = (
            f"{names[0]} met {names[1]} in {names[2]} on {rng.randrange(1, 29)} March. "
            f"The {words}, worth ${rng.randrange(1, 99)} billion, {names[1]} said."
        )
        out.append(
            Entry(
                feed_id="f",
                id=f"i{n}",
                title=f"{names[0]} and {names[1]} talk {rng.choice(WORDS)} in {names[2]}",
                url=f"https://news.example/{n % 50}",
                summary=body,
                published=datetime(2026, 3, 1, tzinfo=UTC),
            )
        )
    return out


def same(ours: list[Signature], theirs: list[Signature]) -> None:
    """Equal signatures, their band keys and search keys too (not compared by ==)."""
    assert ours == theirs
    assert [s.bands for s in ours] == [s.bands for s in theirs]
    assert [s.search_keys() for s in ours] == [s.search_keys() for s in theirs]


def fake_helper(tmp_path: Path, body: str) -> str:
    """An executable that stands in for the helper (its arguments are ignored)."""
    script = tmp_path / "helper"
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys, time\n"
        "from monitor.feeds.worker import dumps, loads, read_frame, write_frame\n"
        "out, inp = sys.stdout.buffer, sys.stdin.buffer\n" + body
    )
    script.chmod(0o755)
    return str(script)


def test_a_big_batch_is_shared_with_the_helper_and_gives_the_same_signatures() -> None:
    batch = entries(400)
    with_pool = SignaturePool(chunk=10, cores=2)
    try:
        assert with_pool.start()  # ready before the batch: it takes chunks for sure
        same(with_pool.signatures(batch), signatures(batch))
        assert with_pool.helper_cpu > 0  # the helper made some of them
        helper = with_pool._helper
        same(with_pool.signatures(batch[:57]), signatures(batch[:57]))  # a part chunk
        assert with_pool._helper is helper  # the same helper serves later batches
    finally:
        with_pool.close()
    assert with_pool._helper is None and helper is not None and helper.proc.poll() is not None


def test_answers_that_come_in_one_read_are_all_taken(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The helper has two chunks at a time, and its two answers may reach this process
    in one read: the second must not wait for more to come on the pipe. This stand-in
    helper answers every chunk that came in one read with one write."""
    import time

    executable = fake_helper(
        tmp_path,
        "import os, pickle, select\n"
        "from monitor.signature import gists\n"
        "write_frame(out, dumps(('ready',)))\n"
        "pending, items = b'', []\n"
        "while True:\n"
        "    if select.select([0], [], [], 0.3)[0]:\n"
        "        data = os.read(0, 1 << 22)\n"
        "        if not data:\n"
        "            break\n"
        "        pending += data\n"
        "        while len(pending) >= 4 + int.from_bytes(pending[:4], 'big'):\n"
        "            size = int.from_bytes(pending[:4], 'big')\n"
        "            items.append(pickle.loads(pending[4 : 4 + size]))\n"
        "            pending = pending[4 + size :]\n"
        "        if len(items) < 2:\n"
        "            continue  # a moment for a second chunk: both are answered at once\n"
        "    answers = b''\n"
        "    for chunk in items:\n"
        "        answer = dumps(('ok', gists(chunk), 0.001))\n"
        "        answers += len(answer).to_bytes(4, 'big') + answer\n"
        "    items = []\n"
        "    out.write(answers)\n"
        "    out.flush()\n",
    )
    batch = entries(2000)  # in chunks of 4 at most: two answers fit in one read
    pool = SignaturePool(chunk=4, cores=2, timeout=5.0, executable=executable)
    caplog.set_level(logging.WARNING, logger="monitor.sigpool")
    try:
        assert pool.start()
        started = time.monotonic()
        same(pool.signatures(batch), signatures(batch))
        assert time.monotonic() - started < 3  # no wait for an answer already here
        assert pool.helper_cpu > 0 and pool._helper is not None
    finally:
        pool.close()
    assert not caplog.records


def test_small_batches_and_one_core_stay_in_this_process() -> None:
    batch = entries(30)
    small = SignaturePool(chunk=20, cores=2)
    same(small.signatures(batch), signatures(batch))
    assert small._helper is None  # fewer than two chunks: no helper started
    one_core = SignaturePool(chunk=5, cores=1)
    same(one_core.signatures(batch), signatures(batch))
    assert one_core._helper is None and not one_core.start()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (None, "No such file"),  # no such executable
        ("sys.exit(3)\n", "exited"),  # dies while starting
        ("write_frame(out, dumps(('ready',)))\nread_frame(inp)\nsys.exit(4)\n", "exited"),
        (
            "write_frame(out, dumps(('ready',)))\nread_frame(inp)\n"
            "write_frame(out, dumps(('bug', 'Traceback: a test')))\ntime.sleep(30)\n",
            "a test",
        ),
        ("write_frame(out, dumps(('ready',)))\nread_frame(inp)\ntime.sleep(30)\n", "no answer"),
        (
            "write_frame(out, dumps(('ready',)))\nread_frame(inp)\n"
            "write_frame(out, b'not a pickle')\ntime.sleep(30)\n",
            "load key",
        ),
        (
            "write_frame(out, dumps(('ready',)))\nread_frame(inp)\n"
            "write_frame(out, dumps(('ok', (b'', b'', [], []), 0.0)))\ntime.sleep(30)\n",
            "0 gists for",
        ),
        ("time.sleep(30)\n", "not ready"),
    ],
    ids=[
        "missing",
        "dies-starting",
        "dies-on-a-chunk",
        "fails",
        "hangs",
        "garbage",
        "short",
        "never-ready",
    ],
)
def test_a_helper_that_fails_costs_only_time(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, body: str | None, reason: str
) -> None:
    batch = entries(60)
    executable = str(tmp_path / "no-such-python") if body is None else fake_helper(tmp_path, body)
    pool = SignaturePool(chunk=10, cores=2, timeout=1.0, executable=executable)
    caplog.set_level(logging.WARNING, logger="monitor.sigpool")
    try:
        if reason == "not ready":  # a batch does not wait for a helper to be ready
            same(pool.signatures(batch), signatures(batch))
            assert not pool.start()
        else:
            pool.start()
            same(pool.signatures(batch), signatures(batch))
        same(pool.signatures(batch), signatures(batch))  # and the next batch too
    finally:
        pool.close()
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1  # warned once
    assert "signature helper" in warnings[0] and reason in warnings[0], warnings
    assert pool._helper is None  # given up, and not tried again for a while


def test_the_helper_exits_quietly_when_its_parent_is_gone() -> None:
    """A parent killed mid-chunk closes both pipes: the helper's answer finds no reader,
    and it exits without a traceback (its stderr is the job's log)."""
    import os
    import subprocess

    from monitor.feeds.worker import dumps, loads, read_frame, write_frame
    from monitor.signature import texts

    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": root}
    helper = subprocess.Popen(
        [sys.executable, "-m", "monitor.sigpool"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert helper.stdin is not None and helper.stdout is not None
    frame = read_frame(helper.stdout)
    assert frame is not None and loads(frame) == ("ready",)
    write_frame(helper.stdin, dumps(texts(entries(300))))  # a chunk it works on...
    helper.stdout.close()  # ...while its parent goes away
    helper.stdin.close()
    assert helper.wait(timeout=30) == 0
    assert helper.stderr is not None
    err = helper.stderr.read()
    helper.stderr.close()
    assert b"Traceback" not in err


def test_an_idle_helper_is_stopped() -> None:
    """A job that had one big batch keeps no second process for nothing."""
    import time

    pool = SignaturePool(chunk=10, cores=2, idle=0.3)
    try:
        same(pool.signatures(entries(100)), signatures(entries(100)))
        helper = pool._helper
        assert helper is not None and helper.proc.poll() is None
        deadline = time.monotonic() + 10
        while pool._helper is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pool._helper is None and helper.proc.poll() is not None
        same(pool.signatures(entries(100)), signatures(entries(100)))  # a later batch
        assert pool._helper is not None and pool._helper is not helper  # starts another
    finally:
        pool.close()


def test_closing_the_pool_does_not_wait_for_a_batch_in_another_thread(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """At exit the job closes the pool while a delivery's batch may still have the helper:
    the close stops the helper at once, and that batch still gets every signature."""
    import threading
    import time

    executable = fake_helper(
        tmp_path, "write_frame(out, dumps(('ready',)))\nread_frame(inp)\ntime.sleep(60)\n"
    )
    pool = SignaturePool(chunk=10, cores=2, timeout=60.0, executable=executable)
    caplog.set_level(logging.WARNING, logger="monitor.sigpool")
    assert pool.start()
    batch = entries(200)
    got: list[list[Signature]] = []
    worker = threading.Thread(target=lambda: got.append(pool.signatures(batch)))
    worker.start()
    time.sleep(0.5)  # the batch is waiting for the helper's chunk
    started = time.monotonic()
    pool.close()
    worker.join(timeout=30)
    assert time.monotonic() - started < 10 and not worker.is_alive()
    same(got[0], signatures(batch))
    assert pool._helper is None
