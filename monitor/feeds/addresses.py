"""Which addresses a request may be sent to: the rule against redirects into a private net.

Pure: the addresses a host name resolves to come in as arguments (the fetcher resolves
them, or a test hands in its own resolver).

A feed list may come from someone else's OPML file, and every item's link comes from the
feed's server. A feed on a public address must not make us request a loopback, link-local
or private address by redirecting there (or by linking an article there): that is a
server-side request forgery path into the machine's own network. So:

- a request whose origin (the feed's configured address) is public may only reach public
  addresses, through every redirect hop and every article link it gives;
- a feed the user configured on a loopback, link-local or private address is trusted as
  configured: it, its redirects and its article links may go anywhere (the user's own
  intranet feeds keep working, and so do the tests' 127.0.0.1 servers);
- ``poll.allow_private_redirects`` lifts the rule.

An origin is public when every address its name resolves to is global; a target is
refused when any of its addresses is not (the connection may use any of them).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

#: The kinds of address that are not public, in the words of the refusal.
LOOPBACK, LINK_LOCAL, PRIVATE, RESERVED, PUBLIC = (
    "loopback",
    "link-local",
    "private",
    "reserved",
    "public",
)


def kind(address: str) -> str:
    """'public', 'loopback', 'link-local', 'private' or 'reserved' (unspecified, shared,
    multicast, documentation...). An IPv4 address mapped into IPv6 counts as itself;
    text that is no address at all is 'reserved' (refused, never trusted)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return RESERVED
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return LOOPBACK
    if ip.is_link_local:
        return LINK_LOCAL
    if ip.is_global and not ip.is_multicast:
        return PUBLIC
    if ip.is_private and not ip.is_unspecified:
        return PRIVATE
    return RESERVED


def is_public(addresses: Iterable[str]) -> bool:
    """An origin is public when it resolves to public addresses only (and to some)."""
    kinds = [kind(a) for a in addresses]
    return bool(kinds) and all(k == PUBLIC for k in kinds)


def refusal(host: str, addresses: Iterable[str]) -> str | None:
    """Why a request that started at a public address may not go to `host` (which
    resolves to `addresses`), or None when it may."""
    for address in addresses:
        found = kind(address)
        if found != PUBLIC:
            shown = host if host == address else f"{host} ({address})"
            article = "an" if found[0] in "aeiou" else "a"
            return (
                f"refused: a public address led to {shown}, {article} {found} address "
                "(set poll.allow_private_redirects to allow it)"
            )
    return None
