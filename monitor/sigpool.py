"""Signatures of a big batch on two cores: this process and one helper process.

A signature costs about 60 us an item, nearly all of it in the gist's regular expressions
and numpy, on one core. A batch of ``2 * chunk`` items or more (the first delivery after a
long pause, a backfill) is cut into chunks: this process works through them from the
front while a helper process (``python -m monitor.sigpool``) takes them from the back, two
ahead, the chunks shrinking as the batch runs out. On two cores the batch takes half as
long at best; on a machine whose two busy cores each run 1.4 times slower than one alone,
bench/digest.py's 10,000 items took 0.42 s instead of 0.53. The signatures are the same as
``signature.signatures`` makes in one process (a test holds them to it).

The helper is started by the first big batch (this process begins on its chunks while the
helper imports) and serves every later one; it is stopped after ``idle`` seconds (ten
minutes) without a big batch, and when this process ends or closes the pool (it exits when
its stdin closes). Chunks and answers travel as length-prefixed pickles (feeds/worker.py's
frames) of plain values: headlines, texts and links in, ``signature.gists`` out.

A helper that cannot start, dies, answers with an error or with anything but the gists
asked for, or does not answer within ``timeout`` costs only time: its chunks are done
here, a warning is logged once, and no helper is tried again for ``pause`` seconds. On one
core, or when another thread is using the helper, a batch is done here as before.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import queue
import select
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from monitor.collector import paused_gc
from monitor.feeds.worker import dumps, loads, read_frame, write_frame
from monitor.model import Entry
from monitor.signature import Gists, Signature, assemble, gists, signatures, texts

__all__ = ["SignaturePool", "pooled_signatures"]

log = logging.getLogger(__name__)

#: The folder that holds the `monitor` package, so that the helper can import it.
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class _Helper:
    """One helper process, and whether it has said it is ready."""

    def __init__(self, executable: str) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH", "")) if p
        )
        self.proc = subprocess.Popen(
            [executable, "-m", "monitor.sigpool"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            close_fds=True,
        )
        self.ready = False
        self.started = time.monotonic()
        #: The CPU seconds it spent on chunks, as it reports them.
        self.cpu = 0.0

    def wait_ready(self, timeout: float, stop: threading.Event | None = None) -> bool:
        """Whether the helper says it is ready, within ``timeout`` seconds of its start
        (OSError after that), or before ``stop`` is set (False then)."""
        while not self.ready:
            if stop is not None and stop.is_set():
                return False
            if time.monotonic() - self.started > timeout:
                raise OSError(f"not ready in {timeout:g} s")
            if self.answered(0.01):
                if self.receive()[0] != "ready":
                    raise OSError("it did not say it was ready")
                self.ready = True
        return True

    def answered(self, wait: float = 0.0) -> bool:
        """Whether a frame has arrived (after waiting up to ``wait`` seconds). Only for
        "ready", when nothing else can be in the reader's buffer: answers are read with
        a blocking read, as two of them may come in one read."""
        assert self.proc.stdout is not None
        return bool(select.select([self.proc.stdout], [], [], wait)[0])

    def send(self, items: Sequence[tuple[str, str, str]]) -> None:
        assert self.proc.stdin is not None
        write_frame(self.proc.stdin, dumps(list(items)))

    def receive(self) -> Any:
        """The next answer; OSError when the helper is gone or failed."""
        assert self.proc.stdout is not None
        frame = read_frame(self.proc.stdout)
        if frame is None:
            raise OSError(f"it exited (status {self.proc.poll()})")
        message = loads(frame)
        if message[0] == "bug":
            raise OSError(f"it failed:\n{message[1]}")
        return message

    def close(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class SignaturePool:
    """``signatures`` of a batch, big ones shared with a helper process (see the module's
    docstring). ``chunk``: items a chunk; ``cores``: how many the batch may use (the
    process's own count when None); ``timeout``: how long the end of a batch waits for
    the helper's last chunk; ``pause``: seconds without a helper after one failed;
    ``idle``: seconds without a big batch after which the helper is stopped."""

    def __init__(
        self,
        chunk: int = 500,
        *,
        cores: int | None = None,
        timeout: float = 60.0,
        pause: float = 600.0,
        idle: float = 600.0,
        executable: str | None = None,
    ) -> None:
        self.chunk = max(1, chunk)
        self.cores = _cores() if cores is None else cores
        self.timeout = timeout
        self.pause = pause
        self.idle = idle
        self._idle_timer: threading.Timer | None = None
        self.executable = executable or sys.executable
        self._helper: _Helper | None = None
        self._lock = threading.Lock()
        self._failed_at: float | None = None
        self._warned = False
        self._cpu = 0.0

    @property
    def helper_cpu(self) -> float:
        """The CPU seconds the helper processes have spent on chunks so far."""
        return self._cpu + (self._helper.cpu if self._helper else 0.0)

    def signatures(self, entries: Sequence[Entry]) -> list[Signature]:
        """The signatures of ``entries``, as ``signature.signatures`` makes them."""
        if len(entries) < 2 * self.chunk or self.cores < 2 or not self._lock.acquire(False):
            return signatures(entries)
        try:
            helper = self._ready_helper()
            if helper is None:
                return signatures(entries)
            with paused_gc(promote=True):
                return self._shared(helper, entries)
        finally:
            self._rest()
            self._lock.release()

    def _rest(self) -> None:
        """Stop the helper after ``idle`` seconds without a big batch (a job that
        started it with its first poll keeps no second process for nothing)."""
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        if self._helper is not None:
            self._idle_timer = threading.Timer(self.idle, self._stop_idle)
            self._idle_timer.daemon = True
            self._idle_timer.start()

    def _stop_idle(self) -> None:
        if self._lock.acquire(False):  # a batch that has the helper now keeps it
            try:
                self._stop_helper()
            finally:
                self._lock.release()

    def start(self) -> bool:
        """Start the helper now and wait until it is ready (up to ``timeout``): whether
        big batches will have it. The first big batch starts it otherwise."""
        if self.cores < 2:
            return False
        with self._lock:
            helper = self._ready_helper()
            if helper is None:
                return False
            try:
                return helper.wait_ready(self.timeout)
            except Exception as e:  # a helper that fails to start costs only time
                self._drop(str(e))
                return False
            finally:
                self._rest()

    def close(self) -> None:
        """Stop the helper (a later big batch starts another). A batch that has it now
        (another thread's, at exit) is not waited for beyond a moment: its helper is
        stopped under it, and that batch does its chunks in its own process."""
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        if not self._lock.acquire(timeout=1.0):
            helper = self._helper
            if helper is not None:
                with contextlib.suppress(OSError):
                    helper.proc.kill()
            return
        try:
            self._stop_helper()
        finally:
            self._lock.release()

    # ------------------------------------------------------------------ the helper

    def _ready_helper(self) -> _Helper | None:
        if self._helper is not None and self._helper.proc.poll() is None:
            return self._helper
        if self._helper is not None:
            self._drop(f"it exited (status {self._helper.proc.returncode})")
        if self._failed_at is not None and time.monotonic() - self._failed_at < self.pause:
            return None
        try:
            self._helper = _Helper(self.executable)
        except OSError as e:
            self._drop(str(e))
            return None
        return self._helper

    def _drop(self, reason: str) -> None:
        """Give the helper up after a failure: warned once, not tried for a while."""
        if not self._warned:
            self._warned = True
            log.warning("the signature helper process failed (%s); working in one process", reason)
        self._failed_at = time.monotonic()
        self._stop_helper(kill=True)

    def _stop_helper(self, *, kill: bool = False) -> None:
        """Close the helper's pipes and wait for it to exit (``kill``: stop it first);
        under the lock."""
        if self._helper is not None:
            self._cpu += self._helper.cpu
            if kill:
                with contextlib.suppress(OSError):
                    self._helper.proc.kill()
            self._helper.close()
            self._helper = None

    def _shared(self, helper: _Helper, entries: Sequence[Entry]) -> list[Signature]:
        """This thread takes chunks from the front; another feeds the helper from the
        back (once it is ready), two chunks ahead so that it never waits for the next,
        and waits on its pipe without holding the interpreter (up to ``timeout`` once
        this thread is done). Chunks shrink as the batch runs out (a quarter of what is
        left, ``chunk`` at most, a fifth of it at least), so neither side waits long for
        the other at the end. A chunk the helper fails is done here."""
        items = texts(entries)
        work = _Work(len(items), self.chunk)
        made: dict[int, list[Signature]] = {}
        arrived: deque[tuple[int, Gists]] = deque()  # the helper's, to be made here
        sent: dict[int, int] = {}  # the helper's chunks not yet answered: start -> end
        stop = threading.Event()
        failure: list[str] = []

        def make(begin: int, end: int, part: Gists) -> None:
            made[begin] = assemble([item[2] for item in items[begin:end]], [part])

        def feed() -> None:
            try:
                if not helper.wait_ready(self.timeout, stop):
                    return
                order: deque[int] = deque()
                while True:
                    while len(order) < 2 and (span := work.take(front=False)) is not None:
                        helper.send(items[span[0] : span[1]])
                        sent[span[0]] = span[1]
                        order.append(span[0])
                    if not order:
                        return
                    # A blocking read (two answers may come in one read, so the pipe
                    # cannot tell whether another is waiting); the end of the batch
                    # stops a helper that does not answer.
                    _, part, cpu = helper.receive()
                    begin = order[0]
                    if len(part[2]) != sent[begin] - begin:
                        raise ValueError(f"{len(part[2])} gists for {sent[begin] - begin} items")
                    helper.cpu += float(cpu)
                    order.popleft()
                    arrived.append((begin, part))
                    del sent[begin]
            except Exception as e:  # whatever the helper did, its chunks are done here
                failure.append(str(e) or type(e).__name__)

        def take_arrived() -> None:
            # Signatures are made as chunks come, while the helper works on: the less
            # is left for the end, the sooner the batch is done.
            while arrived:
                begin, part = arrived.popleft()
                make(begin, begin + len(part[2]), part)

        feeder = threading.Thread(target=feed, name="monitor-signatures", daemon=True)
        feeder.start()
        while (span := work.take(front=True)) is not None:
            make(*span, gists(items[span[0] : span[1]]))
            take_arrived()
        stop.set()
        feeder.join(self.timeout)
        if feeder.is_alive():  # the helper has not answered: stopped, its chunks done here
            failure.insert(0, f"no answer in {self.timeout:g} s")
            with contextlib.suppress(OSError):
                helper.proc.kill()
            feeder.join()
        take_arrived()
        if failure:
            self._drop(failure[0])
        for begin, end in sent.items():  # chunks the helper failed
            make(begin, end, gists(items[begin:end]))
        return [sig for begin in sorted(made) for sig in made[begin]]


class _Work:
    """The items left of a batch, [lo, hi): this process takes chunks from the front,
    the helper from the back."""

    def __init__(self, count: int, most: int) -> None:
        self.lo, self.hi = 0, count
        self.most, self.least = most, max(1, most // 5)
        self._lock = threading.Lock()

    def take(self, *, front: bool) -> tuple[int, int] | None:
        with self._lock:
            left = self.hi - self.lo
            if left <= 0:
                return None
            size = min(left, max(self.least, min(self.most, left // 4)))
            if front:
                self.lo += size
                return self.lo - size, self.lo
            self.hi -= size
            return self.hi, self.hi + size


_POOL = SignaturePool()
atexit.register(_POOL.close)


def pooled_signatures(entries: Sequence[Entry]) -> list[Signature]:
    """``SignaturePool.signatures`` with the process's own pool (its helper is started by
    the first big batch and stopped after ten minutes without one, or at exit)."""
    return _POOL.signatures(entries)


def main() -> None:
    """The helper: chunks of (headline, text, link) from stdin, their gists on stdout."""
    import traceback

    # Ctrl-C reaches the whole process group; the parent decides when the helper stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the protocol
    gists([("", "", "")])  # numpy imported, patterns compiled: then ready
    # A thread reads the next chunks while this one works, so that the parent's writes
    # never wait for this process to finish a chunk (and its answer never waits for them).
    frames: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()

    def read() -> None:
        while (frame := read_frame(source)) is not None:
            frames.put(frame)
        frames.put(None)

    threading.Thread(target=read, name="monitor-signatures-read", daemon=True).start()
    try:
        write_frame(sink, dumps(("ready",)))
        while (frame := frames.get()) is not None:
            started = time.process_time()
            try:
                with paused_gc():
                    part = gists(loads(frame))
                message: tuple[Any, ...] = ("ok", part, time.process_time() - started)
            except Exception:
                message = ("bug", traceback.format_exc())
            write_frame(sink, dumps(message))
    except OSError:  # the parent is gone (its end of the pipe closed): nothing to answer
        return


if __name__ == "__main__":
    main()
