"""Webhooks: a message's JSON document POSTed to an http(s) URL.

A send makes up to ``1 + retries`` attempts, ``backoff`` seconds apart and doubling, on
what may pass (no answer, a timeout, 408, 429 and 5xx; ``Retry-After`` is honoured up to
a minute); any other status fails at once. Every request carries:

- ``Content-Type: application/json; charset=utf-8``, the body the document;
- ``X-Monitor-Delivery``: the message id. A message sent again after a crash between send
  and mark carries the same id, so a receiver can drop the repeat;
- ``X-Monitor-Signature-256: sha256=HEX`` when the channel has a ``secret``: the
  HMAC-SHA256 of the raw body under the secret, as GitHub signs its webhooks. A receiver
  computes the same over the bytes it got and compares in constant time.

Redirects are not followed (a POST that turns into a GET loses its body): a 3xx fails.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from monitor import __version__
from monitor.channels import redact
from monitor.channels.spec import Channel
from monitor.errors import NotifyError
from monitor.model import Message

SIGNATURE_HEADER = "X-Monitor-Signature-256"
DELIVERY_HEADER = "X-Monitor-Delivery"
#: The longest wait a Retry-After may ask for between two attempts of one send.
MAX_RETRY_AFTER = 60.0
log = logging.getLogger(__name__)


def signature(secret: str, body: bytes) -> str:
    """The value of X-Monitor-Signature-256 for a body."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class _Failure(Exception):
    def __init__(self, reason: str, *, again: bool, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.again, self.wait = reason, again, wait


class WebhookNotifier:
    """POSTs each message's document to one URL, with retries and an optional signature."""

    def __init__(
        self,
        channel: Channel,
        *,
        backoff: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.channel = channel
        self.backoff = backoff
        self.sleep = sleep
        self.opener = urllib.request.build_opener(_NoRedirect)
        redact.protect(channel.secrets)

    def request(self, message: Message, body: bytes) -> urllib.request.Request:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": f"monitor/{__version__}",
            DELIVERY_HEADER: message.message_id,
        }
        if self.channel.secret:
            headers[SIGNATURE_HEADER] = signature(self.channel.secret, body)
        return urllib.request.Request(self.channel.url, body, headers, method="POST")

    def send(self, message: Message) -> None:
        if message.document is None:
            raise NotifyError(f"{message.target}: the message has no document to post")
        body = json.dumps(message.document, ensure_ascii=False).encode("utf-8")
        request = self.request(message, body)
        attempts = 1 + self.channel.retries
        for attempt in range(1, attempts + 1):
            try:
                self._post(request)
            except _Failure as failure:
                reason = redact.scrub(failure.reason)
                if not failure.again or attempt == attempts:
                    tries = f" (after {attempt} attempts)" if attempt > 1 else ""
                    raise NotifyError(
                        f"{message.target}: webhook {self.channel.shown}: {reason}{tries}"
                    ) from None
                wait = self.backoff * 2 ** (attempt - 1)
                if failure.wait is not None:
                    wait = max(wait, min(failure.wait, MAX_RETRY_AFTER))
                log.warning(
                    "%s: webhook %s: %s; trying again in %.0f s",
                    message.target,
                    self.channel.shown,
                    reason,
                    wait,
                    extra={"target": message.target},
                )
                self.sleep(wait)
            else:
                log.info(
                    "%s: posted to webhook %s",
                    message.target,
                    self.channel.shown,
                    extra={"target": message.target},
                )
                return

    def _post(self, request: urllib.request.Request) -> None:
        try:
            with self.opener.open(request, timeout=self.channel.timeout) as response:
                response.read(65_536)
        except urllib.error.HTTPError as e:
            status = e.code
            again = status in (408, 429) or status >= 500
            hint = " (redirects are not followed)" if 300 <= status < 400 else ""
            raise _Failure(
                f"HTTP {status} {e.reason}{hint}",
                again=again,
                wait=_retry_after(e.headers.get("Retry-After")),
            ) from None
        except urllib.error.URLError as e:
            raise _Failure(f"no answer: {e.reason}", again=True) from None
        except (TimeoutError, OSError, http.client.HTTPException) as e:
            reason = "timed out" if isinstance(e, TimeoutError) else f"{type(e).__name__}: {e}"
            raise _Failure(f"no answer: {reason}", again=True) from None


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (an HTTP date is left to the backoff: no clock here)."""
    try:
        return max(float(value), 0.0) if value else None
    except ValueError:
        return None
