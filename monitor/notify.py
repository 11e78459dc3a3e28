"""Senders: SMTP (multipart text + HTML) and files. Each raises NotifyError when nobody got
the message; SMTP returns the recipients the server refused when others took it.

Feed text reaches headers (an alert's subject is an item's title): every header value is
cleaned of CR, LF and other control characters first, so a title can neither break the
message nor add a header.
"""

from __future__ import annotations

import contextlib
import email.errors
import logging
import os
import re
import smtplib
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from monitor.errors import NotifyError
from monitor.model import Message
from monitor.protocols import Refused

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
#: C0 and C1 control characters (CR and LF among them), DEL, and the Unicode line and
#: paragraph separators: none belongs in a header value.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
#: A subject longer than this is cut (RFC 5322 advises lines of at most 78 characters;
#: longer subjects are folded, but nobody reads 500 characters of subject).
MAX_SUBJECT = 250
#: Digest files are readable by all, as files written with a usual umask are.
FILE_MODE = 0o644
log = logging.getLogger(__name__)


def header_value(value: str, limit: int = 998) -> str:
    """A header value safe to send: control characters become spaces, runs of spaces
    one, and the result is cut to ``limit`` characters."""
    cleaned = " ".join(_CONTROL.sub(" ", value).split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"


def to_email(message: Message, sender: str) -> EmailMessage:
    """A multipart/alternative mail: the text part first, the HTML part preferred."""
    mail = EmailMessage()
    mail["Subject"] = header_value(message.subject, MAX_SUBJECT)
    mail["From"] = header_value(sender)
    mail["To"] = ", ".join(header_value(r) for r in message.recipients)
    mail["Date"] = format_datetime(message.created)
    mail["Message-ID"] = header_value(message.message_id)
    mail["X-Monitor-Target"] = header_value(message.target)
    mail.set_content(message.text)
    mail.add_alternative(message.html, subtype="html")
    return mail


@dataclass(eq=False)
class SmtpNotifier:
    """Sends mail through an SMTP server."""

    host: str
    port: int = 25
    _: KW_ONLY
    sender: str = "monitor@localhost"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    use_ssl: bool = False
    timeout: float = 30

    def send(self, message: Message) -> Refused | None:
        """Mail the message to its envelope (every recipient, unless told fewer). Returns
        the recipients the server refused while it took the others; raises NotifyError
        when nobody got the message."""
        envelope = message.recipients if message.envelope is None else message.envelope
        to = [header_value(r) for r in envelope]
        if not to:
            raise NotifyError(f"{message.target}: no recipients to mail to")
        try:
            mail = to_email(message, self.sender)
        except (ValueError, TypeError, LookupError, email.errors.MessageError) as e:
            raise NotifyError(f"{message.target}: cannot build the mail: {e}") from e
        where = f"SMTP server {self.host}:{self.port}"
        try:
            smtp: smtplib.SMTP
            if self.use_ssl:
                smtp = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password or "")
                refused = smtp.send_message(mail, from_addr=header_value(self.sender), to_addrs=to)
        except smtplib.SMTPRecipientsRefused as e:
            raise NotifyError(
                f"{message.target}: {where} refused every recipient: {_answers(e.recipients)}"
            ) from e
        except (smtplib.SMTPException, OSError, ValueError) as e:
            raise NotifyError(f"{message.target}: {where}: {e.__class__.__name__}: {e}") from e
        if refused:
            log.warning("%s: %s refused %s", message.target, where, _answers(refused))
        return {r: _answer(answer) for r, answer in refused.items()}


def _answer(answer: tuple[int, bytes | str]) -> str:
    code, text = answer
    return f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"


def _answers(refused: Mapping[str, tuple[int, bytes | str]]) -> str:
    return "; ".join(f"{r} ({_answer(answer)})" for r, answer in refused.items())


class FileNotifier:
    """Writes each message as NAME.html and NAME.txt into a folder, atomically.

    The file name carries the message id, so writing the same message again (after a
    crash between send and mark) replaces it rather than adding a copy.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def stem(self, message: Message) -> str:
        stamp = message.created.strftime("%Y%m%dT%H%M%SZ")
        token = _UNSAFE.sub("", message.message_id.strip("<>").split("@")[0])[:12]
        return f"{_UNSAFE.sub('_', message.target)}-{stamp}-{token}"

    def existing(self, message: Message) -> Path | None:
        token = _UNSAFE.sub("", message.message_id.strip("<>").split("@")[0])[:12]
        for path in self.folder.glob(f"{_UNSAFE.sub('_', message.target)}-*-{token}.html"):
            return path
        return None

    def send(self, message: Message) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            old = self.existing(message)
            stem = old.stem if old else self.stem(message)
            for suffix, body in ((".txt", message.text), (".html", message.html)):
                fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=suffix)
                try:
                    with os.fdopen(fd, "w", encoding="utf-8") as handle:
                        # mkstemp makes the file 0600; a digest is for whoever reads the
                        # folder (a host user opening a container's volume).
                        os.fchmod(handle.fileno(), FILE_MODE)
                        handle.write(body)
                    os.replace(tmp, self.folder / f"{stem}{suffix}")
                except BaseException:
                    with contextlib.suppress(OSError):
                        os.unlink(tmp)
                    raise
        except OSError as e:
            raise NotifyError(
                f"{message.target}: cannot write to {self.folder}: {e.strerror or e}"
            ) from e
        log.info("%s: wrote %s.html and .txt", message.target, self.folder / stem)
