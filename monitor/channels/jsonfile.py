"""The ``json`` channel: each message as one JSON file (the document of
``monitor digest --json``), written atomically next to the digest files.

The name carries the message id, as the file channel's does, so a message sent again
after a crash between send and mark replaces its file rather than adding a copy.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from pathlib import Path

from monitor.errors import NotifyError
from monitor.model import Message

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
log = logging.getLogger(__name__)


def stem(message: Message) -> tuple[str, str]:
    """(the file name without its stamp, the message's token): ``daily_json``, ``3f2a9c1b``."""
    token = _UNSAFE.sub("", message.message_id.strip("<>").split("@")[0])[:12]
    return _UNSAFE.sub("_", message.target), token


def write_atomically(path: Path, text: str) -> None:
    """Write a file so that a reader sees the old one or the new one, never half of one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class JsonFileNotifier:
    """Writes each message's document as TARGET-STAMP-TOKEN.json into a folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, message: Message) -> Path:
        name, token = stem(message)
        for old in self.folder.glob(f"{name}-*-{token}.json"):
            return old
        return self.folder / f"{name}-{message.created.strftime('%Y%m%dT%H%M%SZ')}-{token}.json"

    def send(self, message: Message) -> None:
        if message.document is None:
            raise NotifyError(f"{message.target}: the message has no document to write")
        text = json.dumps(message.document, ensure_ascii=False, indent=2) + "\n"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.path(message)
            write_atomically(path, text)
        except OSError as e:
            raise NotifyError(
                f"{message.target}: cannot write to {self.folder}: {e.strerror or e}"
            ) from e
        log.info("%s: wrote %s", message.target, path, extra={"target": message.target})
