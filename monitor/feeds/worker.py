"""A parser process: ``python -m monitor.feeds.worker``, started by feeds/pool.py.

It reads bodies from stdin and answers each on stdout, in length-prefixed pickles (the
frames below, which pool.py writes and reads too): a job is (feed_id, body, content type,
url); an answer is ("ok", title, ttl, rows) with the entries as tuples of their fields
(parse.parse_rows), ("error", reason) for a ParseError, or ("bug", traceback).

A parser process is started for every cycle that parses in processes, so what it imports
is paid each time: only this module and parse.py's (lxml; feedparser once a body needs
it), never the job's logging, threads, subprocesses, models or database.
"""

from __future__ import annotations

import pickle
import signal
import sys
from typing import IO, Any

_HEADER = 4


def _read_exact(stream: IO[bytes], size: int) -> bytes | None:
    data = stream.read(size)
    if data is None or len(data) < size:
        return None
    return data


def write_frame(stream: IO[bytes], payload: bytes) -> None:
    stream.write(len(payload).to_bytes(_HEADER, "big") + payload)
    stream.flush()


def read_frame(stream: IO[bytes]) -> bytes | None:
    """The next frame's payload, or None at the end of the stream (or a cut frame)."""
    head = _read_exact(stream, _HEADER)
    if head is None:
        return None
    return _read_exact(stream, int.from_bytes(head, "big"))


def dumps(message: Any) -> bytes:
    return pickle.dumps(message, protocol=5)


def loads(payload: bytes) -> Any:
    return pickle.loads(payload)


def main() -> None:
    """Parse bodies from stdin until it closes; answer each on stdout."""
    import gc

    from monitor.errors import ParseError
    from monitor.feeds.parse import parse_rows

    # feedparser makes many short-lived containers; collecting them less often is a
    # measurable gain and refcounting frees nearly all of them anyway.
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)

    # Ctrl-C reaches the whole process group; the parent decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the protocol
    write_frame(sink, dumps(("ready",)))
    while True:
        frame = read_frame(source)
        if frame is None:
            return
        feed_id, body, content_type, url = loads(frame)
        try:
            message: tuple[Any, ...] = (
                "ok",
                *parse_rows(feed_id, body, content_type=content_type, url=url),
            )
        except ParseError as e:
            message = ("error", e.reason)
        except Exception:
            import traceback

            message = ("bug", traceback.format_exc())
        write_frame(sink, dumps(message))


if __name__ == "__main__":
    main()
