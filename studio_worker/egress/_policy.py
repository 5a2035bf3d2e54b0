"""The egress policy: which destinations outbound HTTP may reach, and the URL check every request passes."""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import TYPE_CHECKING

import httpx

from studio_worker.egress._addresses import (
    IPAddress,
    blocked_reason,
    effective,
    ends_in_number,
    is_hostname,
    parse_host,
    parse_network,
)
from studio_worker.egress._errors import EgressDenied

if TYPE_CHECKING:
    from studio_shared.settings import Settings

SCHEMES = frozenset({"http", "https"})


@dataclass(frozen=True)
class EgressPolicy:
    """Public addresses only, unless opted in.

    ``allow_private`` admits every address (development, single-machine installs). ``allowed_hosts`` admits
    on-premise targets one by one: a host name (``intranet.corp``), every subdomain of one (``*.corp``; not
    ``corp`` itself), or an IP network (``10.0.0.0/8``, ``192.168.1.20``). A name that matches may resolve to
    any address; a network admits the addresses inside it whatever name led there.
    """

    allow_private: bool = False
    allowed_hosts: frozenset[str] = frozenset()
    _networks: tuple[IPv4Network | IPv6Network, ...] = field(init=False, repr=False, compare=False)
    _names: frozenset[str] = field(init=False, repr=False, compare=False)
    _suffixes: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        networks: list[IPv4Network | IPv6Network] = []
        names: set[str] = set()
        suffixes: list[str] = []
        entries = frozenset(e.strip().lower() for e in self.allowed_hosts if e.strip())
        for entry in entries:
            network = parse_network(entry)
            if network is not None:
                networks.append(network)
                continue
            name = entry.removeprefix("*.").rstrip(".")
            if not is_hostname(name) or ends_in_number(name):
                raise ValueError(f"allowed host {entry!r} is neither a host name nor an IP network")
            if entry.startswith("*."):
                suffixes.append("." + name)
            else:
                names.add(name)
        object.__setattr__(self, "allowed_hosts", entries)
        object.__setattr__(self, "_networks", tuple(networks))
        object.__setattr__(self, "_names", frozenset(names))
        object.__setattr__(self, "_suffixes", tuple(suffixes))

    @classmethod
    def from_settings(cls, settings: Settings) -> EgressPolicy:
        """``STUDIO_HTTP_ALLOW_PRIVATE`` and the comma-separated ``STUDIO_HTTP_ALLOWED_HOSTS``."""
        hosts = frozenset(h for h in settings.http_allowed_hosts.split(",") if h.strip())
        return cls(allow_private=settings.http_allow_private, allowed_hosts=hosts)

    def host_allowed(self, name: str) -> bool:
        """Is the host name opted in by name (exact, or under a ``*.suffix``)?"""
        name = name.lower().rstrip(".")
        return name in self._names or any(name.endswith(suffix) for suffix in self._suffixes)

    def address_allowed(self, ip: str | IPAddress) -> bool:
        address = _as_ip(ip)
        if self.allow_private or blocked_reason(address) is None:
            return True
        target = effective(address)
        return any(target in net for net in self._networks if net.version == target.version)

    def check_address(self, ip: str | IPAddress, *, host: str | None = None) -> None:
        """Raise EgressDenied unless ``ip`` is allowed; ``host`` is the name that resolved to it, for the message."""
        address = _as_ip(ip)
        if self.address_allowed(address):
            return
        reason = blocked_reason(address)
        if host is None or host == str(address):
            raise EgressDenied(f"requests to {address} are not allowed: it is {reason}", host=str(address))
        raise EgressDenied(
            f"requests to {host} are not allowed: it resolves to {address}, which is {reason}", host=host
        )

    def check_name(self, name: str) -> None:
        """The checks a host name gets before it is resolved (its addresses are checked after)."""
        if self.allow_private or self.host_allowed(name):
            return
        if name == "localhost" or name.endswith(".localhost"):  # RFC 6761: loopback, often answered locally
            raise EgressDenied(f"requests to {name} are not allowed: localhost names are loopback", host=name)

    def check_url(self, url: str | httpx.URL) -> httpx.URL:
        """The parsed URL if it may be requested: http(s), a host, no credentials, an allowed IP literal."""
        try:
            parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
        except (httpx.InvalidURL, TypeError):
            # httpx's message may quote parts of the URL, credentials included: say nothing more.
            raise EgressDenied("the URL is not valid") from None
        if parsed.scheme not in SCHEMES:
            scheme = parsed.scheme[:20] or "a relative URL"
            raise EgressDenied(f"only http and https URLs are allowed, not {scheme}")
        raw_host = parsed.raw_host.decode("ascii")
        if parsed.userinfo:
            shown = parsed.host if parsed.host else "the host"
            raise EgressDenied(
                f"the URL for {shown} carries credentials (user:password@): use a stored credential instead",
                host=parsed.host or None,
            )
        if parsed.port is not None and not 0 < parsed.port < 65536:
            raise EgressDenied(f"port {parsed.port} is not a valid port", host=parsed.host)
        host = parse_host(raw_host)
        if isinstance(host, str):
            self.check_name(host)
        else:
            self.check_address(host)
        return parsed


def check_url(url: str | httpx.URL, policy: EgressPolicy | None = None) -> httpx.URL:
    """``policy.check_url(url)``, with the default policy (public addresses only) when none is given."""
    return (policy or EgressPolicy()).check_url(url)


def _as_ip(ip: str | IPAddress) -> IPAddress:
    if isinstance(ip, IPv4Address | IPv6Address):
        return ip
    return ip_address(ip)  # ValueError for anything that is not an address (scoped "fe80::1%eth0" parses)
