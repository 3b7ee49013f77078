"""Which network addresses and ports a crawl may connect to. Pure.

A source's pages are public: an address that is loopback, link-local (cloud metadata at
169.254.169.254), private, shared (carrier-grade NAT), multicast, unspecified or otherwise
reserved is never a source's, whatever name led to it. IPv6 forms that carry an IPv4
address (mapped, 6to4, Teredo, NAT64) are judged by the address they carry.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

_SHARED = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598, carrier-grade NAT
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 well-known prefix
DEFAULT_PORTS = {"http": 80, "https": 443}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_address(text: str) -> IPAddress | None:
    """The IP address an URL host or resolver answer spells, or None for a name."""
    try:
        return ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def _carried(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if addr.ipv4_mapped:
        return addr.ipv4_mapped
    if addr.sixtofour:
        return addr.sixtofour
    if addr.teredo:
        return addr.teredo[1]  # the client's address
    if addr in _NAT64:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


def address_class(addr: IPAddress) -> str | None:
    """What kind of non-public address this is ('loopback', 'private', ...), or None if public."""
    if isinstance(addr, ipaddress.IPv6Address):
        inner = _carried(addr)
        if inner is not None:
            kind = address_class(inner)
            return f"{kind} (inside IPv6 {addr})" if kind else None
    for kind, test in (
        ("unspecified", addr.is_unspecified),
        ("loopback", addr.is_loopback),
        ("link-local", addr.is_link_local),
        ("multicast", addr.is_multicast),
        ("shared (carrier-grade NAT)", isinstance(addr, ipaddress.IPv4Address) and addr in _SHARED),
        ("reserved", addr.is_reserved),
        ("private", addr.is_private),
        ("site-local", isinstance(addr, ipaddress.IPv6Address) and addr.is_site_local),
        ("not globally routable", not addr.is_global),
    ):
        if test:
            return kind
    return None


def address_refusal(host: str, address: str) -> str | None:
    """Why `host` (a name, or the literal itself) must not be contacted at `address`, or None."""
    addr = parse_address(address)
    if addr is None:
        return f"{host} resolved to {address!r}, which is not an IP address"
    kind = address_class(addr)
    if kind is None:
        return None
    if parse_address(host) is not None:
        return f"{address} is a {kind} address"
    return f"{host} resolves to {address}, a {kind} address"


def url_port(url: str) -> int | None:
    """The TCP port an http(s) URL reaches (its scheme's default when none is written); None if unreadable."""
    split = urlsplit(url)
    try:
        port = split.port
    except ValueError:  # out of range or not a number
        return None
    return DEFAULT_PORTS.get(split.scheme) if port is None else port
