"""A ``deliver:`` entry -> a Channel: which kind, its stable name, where it goes, and the
secrets to keep out of every line a person or a database sees.

An entry is a word (``file``, ``email``, ``atom``, ``json``), a URL (``https://`` is a
webhook, any other scheme an Apprise URL), a name whose URL is in the environment
(``team-slack`` reads ``MONITOR_CHANNEL_TEAM_SLACK``), or a mapping with options::

    - channel: https://hooks.example.org/monitor
      name: hooks
      secret: ${HOOK_SECRET}

``${VAR}`` is expanded from the environment inside channel entries only (their URL,
secret and link), so a secret never has to be written into monitor.yaml. A channel's name
is part of its delivery target (``daily:hooks``), which the database stores: it is the
``name:`` given, or the scheme and a hash of the entry as written (``slack-3f2a9c1b``), so
it never holds a secret and stays the same when the secret behind ``${VAR}`` changes.

The environment is handed in (``channel_entry`` takes it from pydantic's validation
context); nothing here reads the clock or the network.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from importlib.util import find_spec
from typing import Any, Literal
from urllib.parse import quote, urlsplit

Kind = Literal["file", "email", "atom", "json", "webhook", "apprise"]

#: Channels named by a word.
WORDS: tuple[Kind, ...] = ("file", "email", "atom", "json")
_WORD_KINDS: dict[str, Kind] = {word: word for word in WORDS}
#: The schemes of webhooks; any other scheme is an Apprise URL.
WEBHOOK_SCHEMES = ("http", "https")
#: Where to read about Apprise URLs, for messages.
APPRISE_HELP = "https://github.com/caronc/apprise/wiki"
#: The options a mapping entry may have, and the kinds each one is for.
OPTIONS: Mapping[str, tuple[Kind, ...]] = {
    "channel": (),
    "name": (),
    "secret": ("webhook",),
    "timeout": ("webhook",),
    "retries": ("webhook",),
    "link": ("atom", "apprise"),
    "entries": ("atom",),
}
#: Secrets shorter than this are not masked: hiding every "1" would say nothing and hide
#: everything else.
MIN_SECRET = 4

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Channel(str):
    """A channel: its name (a ``str``, so ``"email" in deliver`` reads as before and the
    target key is ``f"{config_id}:{channel}"``) and where it goes.

    ``url`` and ``secret`` hold secrets: they are left out of ``repr`` and every message;
    ``shown`` is the form for people (``slack://***``), ``secrets`` what ``mask`` hides.
    """

    kind: Kind
    url: str
    secret: str | None
    shown: str
    secrets: tuple[str, ...]
    timeout: float
    retries: int
    link: str | None
    entries: int

    def __new__(
        cls,
        name: str = "file",
        *,
        kind: Kind | None = None,
        url: str = "",
        secret: str | None = None,
        shown: str = "",
        secrets: Sequence[str] = (),
        timeout: float = 10.0,
        retries: int = 2,
        link: str | None = None,
        entries: int = 50,
    ) -> Channel:
        self = super().__new__(cls, name)
        self.kind = kind or _WORD_KINDS.get(name, "file")
        self.url = url
        self.secret = secret
        self.shown = shown or name
        self.secrets = tuple(secrets)
        self.timeout = timeout
        self.retries = retries
        self.link = link
        self.entries = entries
        return self

    def __repr__(self) -> str:
        return f"Channel({str(self)!r}, {self.kind}, {self.shown})"

    def same_as(self, other: Channel) -> bool:
        """Both go to the same place the same way (the name aside)."""
        return (self.kind, self.url, self.secret, self.link, self.entries) == (
            other.kind,
            other.url,
            other.secret,
            other.link,
            other.entries,
        )


def env_name(name: str) -> str:
    """The variable that holds the URL of a channel named ``name``: MONITOR_CHANNEL_NAME."""
    return "MONITOR_CHANNEL_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def mask(text: str, secrets: Iterable[str]) -> str:
    """The text with every secret (longest first) replaced by ``***``."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if len(secret) >= MIN_SECRET and secret in text:
            text = text.replace(secret, "***")
    return text


def _expand(text: str, env: Mapping[str, str], used: list[str]) -> str:
    """``${VAR}`` -> its value; the values go into ``used`` (they are secrets)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if not _VARIABLE_NAME.fullmatch(name):
            raise ValueError(f"${{{name}}} is not a variable name (letters, digits, _)")
        found = env.get(name, "")
        if not found:
            raise ValueError(f"${{{name}}} is not set in the environment")
        used.append(found)
        return found

    return _VARIABLE.sub(value, text)


def _is_host_name(host: str) -> bool:
    """A host that names a machine (example.org, 127.0.0.1, localhost) rather than a token
    in the host's place, as in Slack's, Discord's and Telegram's Apprise URLs."""
    if host == "localhost" or "." in host:
        return True
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _netloc(url: str) -> tuple[str, str, str]:
    """(scheme, netloc, the rest) of a URL, without urlsplit's checks: Apprise URLs put
    tokens where a port would be (``tgram://123:abc/``)."""
    scheme = _SCHEME.match(url)
    rest = url[scheme.end() :] if scheme else url
    netloc = re.split(r"[/?#]", rest, maxsplit=1)[0]
    return (scheme.group(1).lower() if scheme else ""), netloc, rest[len(netloc) :]


def _host(netloc: str) -> str:
    hostport = netloc.rpartition("@")[2]
    return hostport.rsplit(":", 1)[0] if hostport.count(":") == 1 else hostport


def _looks_secret(part: str) -> bool:
    """A URL part that may be a token: a long one, or one with a digit in it."""
    return len(part) >= 16 or (len(part) >= 6 and any(c.isdigit() for c in part))


def url_secrets(url: str) -> list[str]:
    """The parts of a URL to keep out of logs: the whole URL, its user and password, a
    host that is not a host name, and path segments and query values that may be
    tokens. Encoded forms too, as libraries log URLs re-encoded."""
    _, netloc, tail = _netloc(url)
    found = [url]
    if "@" in netloc or tail.strip("/?#"):
        found.append(url.partition("://")[2])
    userinfo, _, hostport = netloc.rpartition("@")
    found.extend(p for p in userinfo.split(":") if p)
    if not _is_host_name(_host(netloc)):
        found.append(hostport)
        found.extend(p for p in hostport.split(":") if p)
    path, _, query = tail.partition("?")
    found.extend(p for p in (path, path.strip("/")) if _looks_secret(p))
    found.extend(p for p in re.split(r"[/#]", path) if _looks_secret(p))
    found.extend(
        value for pair in query.split("&") if _looks_secret(value := pair.partition("=")[2])
    )
    found.extend([quote(p, safe="") for p in found] + [quote(p) for p in found])
    return [p for p in dict.fromkeys(found) if len(p) >= MIN_SECRET]


def shown_url(url: str, secrets: Sequence[str]) -> str:
    """A URL for people: its scheme, and its host when that is a host name and no secret
    (``https://hooks.example.org/***``, ``slack://***``)."""
    scheme, netloc, tail = _netloc(url)
    hostport = netloc.rpartition("@")[2]
    if not scheme:
        return "***"
    if not _is_host_name(_host(netloc)) or mask(hostport, secrets) != hostport:
        return f"{scheme}://***"
    hidden = "@" in netloc or tail.strip("/?#")
    return f"{scheme}://{hostport}{'/***' if hidden else ''}"


def channel_entry(value: Any, info: Any) -> Channel:
    """config.py's validator of one ``deliver:`` entry: the environment is the one handed
    to load_settings (in the validation context), Apprise the one installed."""
    env = (getattr(info, "context", None) or {}).get("env", os.environ)
    return parse_channel(value, env, apprise_installed=find_spec("apprise") is not None)


def parse_channel(value: Any, env: Mapping[str, str], *, apprise_installed: bool = True) -> Channel:
    """One ``deliver:`` entry -> a Channel. Raises ValueError with a message that names
    what is wrong and never holds a secret (no URL, no variable's value)."""
    options: dict[str, Any]
    if isinstance(value, str):
        options = {"channel": value}
    elif isinstance(value, dict):
        options = dict(value)
        unknown = sorted(str(k) for k in options if k not in OPTIONS)
        if unknown:
            raise ValueError(
                f"unknown key {unknown[0]!r} in a channel (keys: {', '.join(OPTIONS)})"
            )
        if "channel" not in options and "name" not in options:
            raise ValueError("a channel needs `channel:` (a word or a URL) or a `name:`")
    else:
        raise ValueError(
            "a channel is a word (file, email, atom, json), a URL or a mapping, "
            f"not {type(value).__name__}"
        )
    name = options.get("name")
    if name is not None and (not isinstance(name, str) or not _NAME.fullmatch(name)):
        raise ValueError("a channel name is letters, digits, '_', '.' or '-' (64 at most)")
    if name in WORDS:
        raise ValueError(f"{name!r} is a channel word: name a URL channel otherwise")
    written = options.get("channel")
    if written is None:
        var = env_name(str(name))
        written = env.get(var, "")
        if not written:
            raise ValueError(f"channel {name!r} has no `channel:` and {var} is not set")
        used = [written]
    elif not isinstance(written, str):
        raise ValueError(f"`channel:` is a word or a URL, not {type(written).__name__}")
    else:
        used = []
    channel = _channel(written, name, used, options, env, apprise_installed)
    for key in options:
        if OPTIONS[key] and channel.kind not in OPTIONS[key]:
            raise ValueError(
                f"`{key}:` is for {' and '.join(OPTIONS[key])} channels, not {channel.kind}"
            )
    return channel


def _channel(
    written: str,
    name: str | None,
    used: list[str],
    options: Mapping[str, Any],
    env: Mapping[str, str],
    apprise_installed: bool,
) -> Channel:
    if written in WORDS:
        if name is not None:
            raise ValueError(f"the {written} channel is named {written}: it takes no `name:`")
        return Channel(written, kind=written, **_word_options(written, options, env))
    if _SCHEME.match(written) is None and "${" not in written:
        if _NAME.fullmatch(written) and name is None:
            var = env_name(written)
            url = env.get(var, "")
            if not url:
                raise ValueError(
                    f"{written!r} is not a channel: use {', '.join(WORDS)}, a URL, "
                    f"or set {var} to one"
                )
            return _channel(url, written, [url], options, env, apprise_installed)
        raise ValueError(
            f"not a channel: use {', '.join(WORDS)}, an http(s) URL for a webhook or an "
            f"Apprise URL ({APPRISE_HELP})"
        )
    url = _expand(written, env, used)
    if any(c.isspace() or not c.isprintable() for c in url):
        raise ValueError("a channel URL has no spaces or control characters")
    scheme = _SCHEME.match(url)
    if scheme is None:
        raise ValueError("the channel URL has no scheme (https://..., slack://...)")
    kind: Kind = "webhook" if scheme.group(1).lower() in WEBHOOK_SCHEMES else "apprise"
    if kind == "webhook":
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            raise ValueError("not a valid webhook URL") from None
        if not parts.hostname:
            raise ValueError("the webhook URL has no host")
    elif not apprise_installed:
        raise ValueError(
            f"{scheme.group(1).lower()}:// is an Apprise URL: install Apprise "
            "(pip install 'monitor[apprise]')"
        )
    secret = options.get("secret")
    if secret is not None:
        if not isinstance(secret, str) or not secret:
            raise ValueError("`secret:` is text (write it as ${VARIABLE})")
        secret = _expand(secret, env, used)
    secrets = [*url_secrets(url), *(s for v in used for s in url_secrets(v)), *used]
    if secret:
        secrets.append(secret)
    digest = hashlib.sha256(written.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return Channel(
        name or f"{scheme.group(1).lower()}-{digest}",
        kind=kind,
        url=url,
        secret=secret,
        shown=shown_url(url, secrets),
        secrets=[s for s in dict.fromkeys(secrets) if len(s) >= MIN_SECRET],
        timeout=_number(options, "timeout", 10.0, 0.1, 300.0),
        retries=int(_number(options, "retries", 2, 0, 10, whole=True)),
        link=_link(options, env),
    )


def _word_options(word: str, options: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    if word != "atom":
        return {}
    return {
        "entries": int(_number(options, "entries", 50, 1, 1000, whole=True)),
        "link": _link(options, env),
    }


def _number(
    options: Mapping[str, Any],
    key: str,
    default: float,
    low: float,
    high: float,
    *,
    whole: bool = False,
) -> float:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or (whole and value % 1):
        raise ValueError(f"`{key}:` is a {'whole ' if whole else ''}number")
    if not low <= value <= high:
        raise ValueError(f"`{key}:` is between {low:g} and {high:g}")
    return float(value)


def _link(options: Mapping[str, Any], env: Mapping[str, str]) -> str | None:
    link = options.get("link")
    if link is None:
        return None
    if not isinstance(link, str):
        raise ValueError("`link:` is an http(s) URL")
    link = _expand(link, env, [])
    if urlsplit(link).scheme not in WEBHOOK_SCHEMES or any(c.isspace() for c in link):
        raise ValueError("`link:` is an http(s) URL")
    return link


def unique(channels: Sequence[Channel]) -> tuple[Channel, ...]:
    """Each channel once; two different channels under one name are refused."""
    seen: dict[str, Channel] = {}
    for channel in channels:
        first = seen.setdefault(str(channel), channel)
        if first is not channel and not first.same_as(channel):
            raise ValueError(f"two channels are named {str(channel)!r}: give one a `name:`")
    return tuple(seen.values())
