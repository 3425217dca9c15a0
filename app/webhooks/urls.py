"""Which URLs may receive webhooks (pure: no settings, no network).

An endpoint is an absolute `https://` URL naming its host by a public DNS name, without
credentials or fragment, in printable ASCII. `http://` is accepted only to a loopback receiver
(127.0.0.1, [::1], localhost), and only where WEBHOOK_ALLOW_HTTP_LOOPBACK allows it (the
default outside production). The rule is stated as a JSON-schema pattern, so clients and
fuzzers know it; `check_url` gives the clear message for each way of breaking it.

At delivery time the host is resolved once and every address checked (`address_allowed`): a
public name that resolves to a private or loopback address, or to an IPv6 address carrying a
non-public IPv4 one (IPv4-mapped, 6to4, Teredo, NAT64), is refused, so an endpoint cannot reach
into our own network; the request then goes to the address checked (`app.webhooks.delivery`).
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# A top-level label starts with a letter: no IP address matches the host rule.
_TOP = r"[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PORT = (
    r"(?::(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]"
    r"|6553[0-5]))?"
)
# RFC 3986 path and query characters, percent-escapes whole; no '@' (it reads as credentials to
# some parsers), no '#'.
_REST = r"(?:[/?](?:[A-Za-z0-9._~:/?!$&'()*+,;=-]|%[0-9A-Fa-f]{2})*)?"
URL_PATTERN = (
    rf"^(?:https://(?:{_LABEL}\.)+{_TOP}|http://(?:127\.0\.0\.1|localhost|\[::1\])){_PORT}{_REST}$"
)
_URL = re.compile(URL_PATTERN)
SHAPE = "https://host.example.com[:port][/path][?query] in printable ASCII (percent-encode others)"


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def is_loopback_host(host: str) -> bool:
    return host.lower() in LOOPBACK_HOSTS


def check_url(value: str) -> str:
    """`value` when it is an acceptable endpoint URL; ValueError naming what is wrong."""
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
    except ValueError:
        raise ValueError(f"not a URL; use {SHAPE}") from None
    if parts.scheme not in ("https", "http"):
        raise ValueError(f"must be an https:// URL ({SHAPE})")
    if "@" in parts.netloc:
        raise ValueError(
            "must not carry credentials (user:password@); the signature authenticates us, or "
            "put a token of yours in the path"
        )
    if "#" in value:
        raise ValueError("must not have a fragment (#...): it is never sent")
    if parts.scheme == "http" and not is_loopback_host(host):
        raise ValueError(
            "must use https; http is accepted only for a loopback receiver (127.0.0.1, [::1], "
            "localhost) in local development"
        )
    if parts.scheme == "https":
        if _ip(host) is not None:
            raise ValueError("must name its host by a DNS name, not an IP address")
        if "." not in host:
            raise ValueError("must name a public host (a DNS name such as hooks.example.com)")
    if not _URL.fullmatch(value):
        raise ValueError(f"must be an absolute URL: {SHAPE}")
    return value


# IPv6 ranges that carry an IPv4 address in their last 32 bits (besides IPv4-mapped, 6to4 and
# Teredo, which `ipaddress` decodes): NAT64's well-known prefix (RFC 6052) and SIIT's
# IPv4-translated addresses (RFC 2765).
_EMBEDDING_LOW_32 = (
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("::ffff:0:0:0/96"),
)
# Never public: the deprecated IPv4-compatible addresses (::a.b.c.d, RFC 4291) and the local-use
# NAT64 prefix (RFC 8215), which may embed an address of a private network anywhere.
_REFUSED_V6 = (
    ipaddress.IPv6Network("::/96"),
    ipaddress.IPv6Network("64:ff9b:1::/48"),
)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries: IPv4-mapped (::ffff:0:0/96), 6to4
    (2002::/16), Teredo (2001::/32: its server and its client), NAT64 (64:ff9b::/96) and
    IPv4-translated (::ffff:0:0:0/96); empty for any other."""
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if any(ip in network for network in _EMBEDDING_LOW_32):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def address_allowed(address: str, *, allow_loopback: bool) -> bool:
    """Whether a resolved address may be sent to: a public one, or loopback when allowed. An
    IPv6 address that carries an IPv4 one is allowed only when that one is public (an
    IPv4-mapped loopback address counts as loopback)."""
    ip = _ip(address.split("%", 1)[0])
    if ip is None:
        return False
    if ip.is_loopback:
        return allow_loopback
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return address_allowed(str(ip.ipv4_mapped), allow_loopback=allow_loopback)
        if any(ip in network for network in _REFUSED_V6):
            return False
        if not all(address_allowed(str(v4), allow_loopback=False) for v4 in embedded_ipv4(ip)):
            return False
    return ip.is_global and not ip.is_multicast
