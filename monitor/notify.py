"""Senders: SMTP (multipart text + HTML) and files. Each raises NotifyError on failure."""

from __future__ import annotations

import logging
import os
import re
import smtplib
import ssl
import tempfile
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from monitor.errors import NotifyError
from monitor.model import Message

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
log = logging.getLogger(__name__)


def to_email(message: Message, sender: str) -> EmailMessage:
    """A multipart/alternative mail: the text part first, the HTML part preferred."""
    mail = EmailMessage()
    mail["Subject"] = message.subject
    mail["From"] = sender
    mail["To"] = ", ".join(message.recipients)
    mail["Date"] = format_datetime(message.created)
    mail["Message-ID"] = message.message_id
    mail["X-Monitor-Target"] = message.target
    mail.set_content(message.text)
    mail.add_alternative(message.html, subtype="html")
    return mail


class SmtpNotifier:
    """Sends mail through an SMTP server."""

    def __init__(
        self,
        host: str,
        port: int = 25,
        *,
        sender: str = "monitor@localhost",
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        use_ssl: bool = False,
        timeout: float = 30,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.username = username
        self.password = password
        self.starttls = starttls
        self.use_ssl = use_ssl
        self.timeout = timeout

    def send(self, message: Message) -> None:
        if not message.recipients:
            raise NotifyError(f"{message.target}: no recipients to mail to")
        mail = to_email(message, self.sender)
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
                refused = smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as e:
            raise NotifyError(
                f"{message.target}: {where} refused every recipient: {', '.join(e.recipients)}"
            ) from e
        except (smtplib.SMTPException, OSError) as e:
            raise NotifyError(f"{message.target}: {where}: {e.__class__.__name__}: {e}") from e
        if refused:
            raise NotifyError(f"{message.target}: {where} refused {', '.join(refused)}")


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
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(body)
                os.replace(tmp, self.folder / f"{stem}{suffix}")
        except OSError as e:
            raise NotifyError(
                f"{message.target}: cannot write to {self.folder}: {e.strerror or e}"
            ) from e
        log.info("%s: wrote %s.html and .txt", message.target, self.folder / stem)
