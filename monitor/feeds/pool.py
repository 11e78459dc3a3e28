"""Parser processes: feed bodies go in, ParsedFeed values come out, off the fetching path.

Parsing and building entries is much of a poll's CPU (about twenty-five thousand items a
second on one core through the fast path, one to two thousand through feedparser), so a big
cycle parses in worker processes, one per core, while the poller keeps fetching and
storing.
Each worker is a fresh interpreter running ``python -m monitor.feeds.worker``: it imports
the parse module (lxml; feedparser once a body needs it) and nothing else (about 25 MB),
never the database or HTTP stacks of the job, and it does not re-run the program that
started it the way multiprocessing's spawn and forkserver modes do.

Bodies and results travel over the worker's stdin and stdout as length-prefixed pickles
(worker.py's frames; entries as plain tuples of their fields, made as tuples by
parse.parse_rows: the worker never builds an Entry only to take it apart). A worker that
dies is replaced and its feed gets a ParseError; a feed that takes longer than ``timeout``
to parse has its worker killed (by one watch thread for the pool) and gets a ParseError
too, so no body can stall a cycle.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from monitor.errors import ParseError
from monitor.feeds.worker import dumps, loads, read_frame, write_frame
from monitor.model import Entry, ParsedFeed

log = logging.getLogger(__name__)

#: The folder that holds the `monitor` package, so that a worker can import it.
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


def default_workers() -> int:
    """One worker per core the process may use, at least one, at most four."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


def _from_wire(job: _Job, message: tuple[Any, ...]) -> ParsedFeed:
    kind = message[0]
    if kind == "ok":
        _, title, ttl, rows = message
        return ParsedFeed(title=title, entries=tuple(Entry(*row) for row in rows), ttl_minutes=ttl)
    if kind == "error":
        raise ParseError(job.feed_id, job.url, message[1])
    raise RuntimeError(f"the parser failed on feed {job.feed_id} (a bug):\n{message[1]}")


class _Watch:
    """Kills a worker whose job outlasts the timeout: one thread watches every worker of a
    pool (a timer thread per job cost more CPU than moving the job's frames).

    It never sleeps longer than the timeout, so a job armed while it sleeps is looked at
    no later than the job's deadline, and arming needs no wake-up."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._deadlines: dict[subprocess.Popen[bytes], float] = {}
        self._fired: set[subprocess.Popen[bytes]] = set()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name="monitor-parse-watch", daemon=True)
        self._thread.start()

    def arm(self, proc: subprocess.Popen[bytes]) -> None:
        with self._cond:
            self._deadlines[proc] = time.monotonic() + self.timeout

    def disarm(self, proc: subprocess.Popen[bytes]) -> bool:
        """Stop watching the worker's job; True when the worker was killed for it."""
        with self._cond:
            self._deadlines.pop(proc, None)
            if proc in self._fired:
                self._fired.discard(proc)
                return True
            return False

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def _loop(self) -> None:
        with self._cond:
            while not self._stopped:
                now = time.monotonic()
                wait = self.timeout
                for proc, deadline in list(self._deadlines.items()):
                    if deadline <= now:
                        del self._deadlines[proc]
                        self._fired.add(proc)
                        with contextlib.suppress(OSError):
                            proc.kill()
                    else:
                        wait = min(wait, deadline - now)
                self._cond.wait(wait)


class _Job:
    __slots__ = ("feed_id", "future", "payload", "url")

    def __init__(
        self, feed_id: str, url: str | None, payload: bytes, future: Future[ParsedFeed]
    ) -> None:
        self.feed_id = feed_id
        #: Where the body came from, to name the feed in a ParseError.
        self.url = url
        self.payload = payload
        self.future = future


class ParsePool:
    """Worker processes that parse feed bodies; started on the first submit."""

    def __init__(
        self,
        workers: int | None = None,
        *,
        timeout: float = 120.0,
        executable: str | None = None,
    ) -> None:
        self.workers = max(1, workers or default_workers())
        self.timeout = timeout
        self.executable = executable or sys.executable
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._procs: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._warned = False
        self._watch: _Watch | None = None

    def __enter__(self) -> ParsePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(now=exc[0] is not None)

    # ------------------------------------------------------------------ public

    def submit(
        self,
        feed_id: str,
        body: bytes,
        content_type: str | None = None,
        url: str | None = None,
    ) -> Future[ParsedFeed]:
        if self._closed:
            raise RuntimeError("the parser pool is closed")
        future: Future[ParsedFeed] = Future()
        payload = dumps((feed_id, body, content_type, url))
        self._jobs.put(_Job(feed_id, url, payload, future))
        with self._lock:
            if not self._threads:
                self._watch = _Watch(self.timeout)
                for i in range(self.workers):
                    thread = threading.Thread(
                        target=self._serve, name=f"monitor-parse-{i}", daemon=True
                    )
                    thread.start()
                    self._threads.append(thread)
        return future

    def close(self, *, now: bool = False) -> None:
        """Stop the workers: after the queued bodies, or at once (`now`), cancelling them."""
        if self._closed:
            return
        self._closed = True
        if now:
            while True:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is not None:
                    job.future.cancel()
            with self._lock:
                for proc in list(self._procs):
                    proc.kill()
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join(timeout=30)
        if self._watch is not None:
            self._watch.stop()

    # ------------------------------------------------------------------ workers

    def _start(self) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH", "")) if p
        )
        proc = subprocess.Popen(
            [self.executable, "-m", "monitor.feeds.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            close_fds=True,
        )
        with self._lock:
            self._procs.add(proc)
        assert proc.stdout is not None
        if read_frame(proc.stdout) is None:  # the worker says it is ready once imported
            self._stop(proc, kill=True)
            raise OSError(f"the parser process exited while starting (status {proc.returncode})")
        return proc

    def _stop(self, proc: subprocess.Popen[bytes], *, kill: bool = False) -> None:
        with self._lock:
            self._procs.discard(proc)
        try:
            if kill:
                proc.kill()
            elif proc.stdin:
                proc.stdin.close()
            proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def _serve(self) -> None:
        proc: subprocess.Popen[bytes] | None = None
        try:
            while True:
                job = self._jobs.get()
                if job is None:
                    return
                if not job.future.set_running_or_notify_cancel():
                    continue
                if proc is None or proc.poll() is not None:
                    if proc is not None:
                        self._stop(proc)
                    try:
                        proc = self._start()
                    except OSError as e:
                        # No worker (a frozen or sandboxed interpreter): parse here instead.
                        if not self._warned:
                            self._warned = True
                            log.warning("cannot start a parser process (%s); parsing in-process", e)
                        proc = None
                        self._here(job)
                        continue
                proc = self._run(proc, job)
        finally:
            if proc is not None:
                self._stop(proc)

    def _here(self, job: _Job) -> None:
        from monitor.feeds.parse import parse_feed

        feed_id, body, content_type, url = loads(job.payload)
        try:
            job.future.set_result(parse_feed(feed_id, body, content_type=content_type, url=url))
        except Exception as e:  # ParseError, or a bug: the caller raises it
            job.future.set_exception(e)

    def _run(self, proc: subprocess.Popen[bytes], job: _Job) -> subprocess.Popen[bytes] | None:
        """One job on one worker; returns the worker, or None when it had to go."""
        assert proc.stdin is not None and proc.stdout is not None
        watch = self._watch
        assert watch is not None
        watch.arm(proc)
        try:
            write_frame(proc.stdin, job.payload)
            frame = read_frame(proc.stdout)
        except (OSError, ValueError):
            frame = None
        timed_out = watch.disarm(proc)
        if frame is None:
            if timed_out:
                reason = f"parsing took longer than {self.timeout:g} s; the parser was stopped"
            elif self._closed:
                reason = "cancelled, the job is stopping"
            else:
                code = proc.poll()
                reason = f"the parser process died (exit status {code})"
            error = ParseError(job.feed_id, job.url, reason)
            log.warning("%s", error)
            job.future.set_exception(error)
            self._stop(proc, kill=True)
            return None
        try:
            job.future.set_result(_from_wire(job, loads(frame)))
        except Exception as e:  # ParseError, or a bug reported by the worker
            job.future.set_exception(e)
        if timed_out:  # killed as it answered: the next job needs another worker
            self._stop(proc, kill=True)
            return None
        return proc
