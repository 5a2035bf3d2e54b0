"""Which IP addresses are public, and how a URL's host is read: the pure half of the egress guard.

Python's ``is_global`` is only the last check: its tables change between patch releases (3.11.7 calls
``64:ff9b::7f00:1``, ``::127.0.0.1``, ``2002:7f00:1::`` and ``fec0::1`` global), so every range that matters is
listed here explicitly, and the IPv6 forms that carry an IPv4 address are unpacked and judged by it.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network

from studio_worker.egress._errors import EgressDenied

IPAddress = IPv4Address | IPv6Address

_V4_BLOCKED: tuple[tuple[IPv4Network, str], ...] = tuple(
    (IPv4Network(net), why)
    for net, why in (
        ("0.0.0.0/8", "in 0.0.0.0/8 ('this network', reaches the local host)"),
        ("10.0.0.0/8", "private (RFC 1918)"),
        ("100.64.0.0/10", "carrier-grade NAT space (RFC 6598)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local (where cloud metadata services live)"),
        ("172.16.0.0/12", "private (RFC 1918)"),
        ("192.0.0.0/24", "reserved for IETF protocol assignments"),
        ("192.0.2.0/24", "a documentation address"),
        ("192.88.99.0/24", "the deprecated 6to4 relay anycast range"),
        ("192.168.0.0/16", "private (RFC 1918)"),
        ("198.18.0.0/15", "reserved for benchmarking"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved (or the broadcast address)"),
    )
)

# Whole tunnelling ranges are refused even when the IPv4 address inside is public: 6to4, Teredo and
# IPv4-compatible addresses are deprecated and no public service needs them. Their embedded IPv4 address is
# still checked first, so the message names the real target.
_V6_BLOCKED: tuple[tuple[IPv6Network, str], ...] = tuple(
    (IPv6Network(net), why)
    for net, why in (
        ("::/128", "the unspecified address"),
        ("::1/128", "loopback"),
        ("::/96", "an IPv4-compatible address (deprecated)"),
        ("::ffff:0:0:0/96", "an IPv4-translated address (SIIT)"),
        ("64:ff9b:1::/48", "a local-use NAT64 address (RFC 8215)"),
        ("100::/64", "discard-only (RFC 6666)"),
        ("2001::/32", "a Teredo tunnel address"),
        ("2001::/23", "reserved for IETF protocol assignments (including benchmarking)"),
        ("2001:db8::/32", "a documentation address"),
        ("2002::/16", "a 6to4 tunnel address"),
        ("3fff::/20", "a documentation address"),
        ("fc00::/7", "unique-local (private)"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local (deprecated)"),
        ("ff00::/8", "multicast"),
    )
)

_NAT64 = IPv6Network("64:ff9b::/96")  # well-known prefix: the IPv4 address is the last 32 bits
_NAT64_LOCAL = IPv6Network("64:ff9b:1::/48")  # refused whole; /96 embedding checked for a better message
_COMPATIBLE = IPv6Network("::/96")

# WHATWG URL: a host whose last label is a number (decimal, or 0x hex) is an IPv4 address, not a name.
_NUMBER = re.compile(r"[0-9]+|0x[0-9a-f]*")
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")


def _embedded_v4(ip: IPv6Address) -> list[IPv4Address]:
    """The IPv4 addresses an IPv6 address hands traffic to (NAT64, 6to4, Teredo, IPv4-compatible)."""
    if ip in _NAT64 or ip in _NAT64_LOCAL:
        return [IPv4Address(int(ip) & 0xFFFFFFFF)]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)  # (server, client); the client address is stored inverted, teredo undoes it
    if ip in _COMPATIBLE and int(ip) > 1:
        return [IPv4Address(int(ip))]
    return []


def blocked_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public address (None: it is); IPv4-mapped addresses are judged as their IPv4 form."""
    if isinstance(ip, IPv4Address):
        for net, why in _V4_BLOCKED:
            if ip in net:
                return why
        return None if ip.is_global else "not globally reachable"
    if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d connects to a.b.c.d on a dual-stack socket
        inner = blocked_reason(ip.ipv4_mapped)
        return None if inner is None else f"an IPv4-mapped form of {ip.ipv4_mapped}, which is {inner}"
    for v4 in _embedded_v4(ip):
        inner = blocked_reason(v4)
        if inner is not None:
            return f"an address that embeds {v4}, which is {inner}"
    for net6, why in _V6_BLOCKED:
        if ip in net6:
            return why
    return None if ip.is_global else "not globally reachable"


def effective(ip: IPAddress) -> IPAddress:
    """The address a socket really talks to: an IPv4-mapped IPv6 address is its IPv4 address."""
    if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def ends_in_number(host: str) -> bool:
    return _NUMBER.fullmatch(host.rstrip(".").rsplit(".", 1)[-1]) is not None


def is_hostname(name: str) -> bool:
    return 0 < len(name) <= 253 and all(_LABEL.fullmatch(label) for label in name.split("."))


def parse_host(raw: str) -> IPAddress | str:
    """A URL host (httpx's ASCII ``raw_host``) as an IP address or a lower-case name without the trailing dot.

    Numeric hosts must be canonical: ``2130706433``, ``0x7f.0.0.1``, ``0177.0.0.1`` and ``127.1`` are refused
    rather than normalized, because resolvers, proxies and libraries disagree on what they mean (inet_aton reads
    0177 as octal, others as decimal), and a guard that parses a host differently from whatever connects is
    how SSRF filters get bypassed. No legitimate URL needs those spellings.
    """
    host = raw.lower()
    if host.endswith("."):
        host = host[:-1]  # "example.com." is the fully qualified spelling of "example.com"
    if not host:
        raise EgressDenied("the URL has no host")
    if ":" in host:  # an IPv6 literal (httpx strips the brackets)
        if "%" in host:
            raise EgressDenied("IPv6 zone ids (fe80::1%eth0) are not allowed: they name a local interface")
        try:
            return IPv6Address(host)
        except ValueError:
            raise EgressDenied(f"{host!r} is not a valid IPv6 address") from None
    if ends_in_number(host):
        try:
            return IPv4Address(host)  # dotted quad without leading zeros only
        except ValueError:
            raise EgressDenied(
                f"{host!r} is not a canonical IPv4 address: write numeric hosts as four decimal parts",
                host=host,
            ) from None
    if not is_hostname(host):
        raise EgressDenied(f"{host!r} is not a valid host name", host=host)
    return host


def parse_network(entry: str) -> IPv4Network | IPv6Network | None:
    """An allowlist entry as a network (``10.0.0.0/8``, or one address), or None when it is a host pattern."""
    try:
        return ip_network(entry, strict=False)
    except ValueError:
        if "/" in entry or ":" in entry:
            raise ValueError(f"allowed host {entry!r} is neither a host name nor an IP network") from None
        return None
