"""Egress for protocols other than HTTP (SMTP, PostgreSQL): the same policy, the same single checked lookup.

``checked_addresses`` resolves a server's host once and refuses it unless every answer is allowed (a private,
loopback or metadata address needs the operator's opt-in, as for HTTP); the caller then connects to one of
those addresses, never to the name, so DNS rebinding between check and connect has nothing to race. TLS keeps
the name (SNI and certificate checks) through the library's ``server_hostname``.
"""

from __future__ import annotations

import asyncio
import socket
from ipaddress import IPv6Address

import httpcore

from studio_worker.egress._addresses import IPAddress, effective
from studio_worker.egress._policy import EgressPolicy
from studio_worker.egress._transport import GuardedBackend, Resolver


class CannotConnect(OSError):
    """The server's name did not resolve, or no checked address accepted a connection (worth a retry)."""


async def checked_addresses(
    policy: EgressPolicy, host: str, port: int, *, resolver: Resolver | None = None
) -> list[IPAddress]:
    """The addresses ``host`` may be reached at, in order; EgressDenied when the policy refuses it."""
    try:
        found = await GuardedBackend(policy, resolver=resolver).addresses(host, port)
    except httpcore.ConnectError as exc:
        raise CannotConnect(str(exc)) from None
    return [effective(address) for address in found]


async def connect_socket(addresses: list[IPAddress], port: int, timeout_s: float, host: str) -> socket.socket:
    """A connected non-blocking TCP socket to the first checked address that answers."""
    loop = asyncio.get_running_loop()
    failures: list[str] = []
    async with asyncio.timeout(timeout_s):
        for address in addresses:
            family = socket.AF_INET6 if isinstance(address, IPv6Address) else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                await loop.sock_connect(sock, (str(address), port))
            except OSError as exc:
                sock.close()
                failures.append(f"{address}: {exc.strerror or type(exc).__name__}")
                continue
            except BaseException:
                sock.close()
                raise
            return sock
    raise CannotConnect(f"cannot connect to {host} port {port} ({'; '.join(failures)})")
