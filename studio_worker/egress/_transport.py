"""The chokepoint: a network backend that resolves a host once, checks every answer, then dials the checked IP.

httpx builds its httpcore pool inside ``AsyncHTTPTransport`` with no way to pass a network backend, so this
module has a small transport of its own over ``httpcore.AsyncConnectionPool(network_backend=...)`` that maps
httpcore's exceptions to httpx's like httpx's does. httpcore hands ``connect_tcp`` the request's host and then
calls ``start_tls(server_hostname=<that host>)`` on the stream it gets back, so TLS (SNI and certificate checks)
and the Host header keep the name while the socket goes to the address that was checked: no second lookup,
so DNS rebinding between check and connect has nothing to race.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from http.cookiejar import CookieJar, DefaultCookiePolicy
from ipaddress import ip_address
from typing import Any

import anyio
import httpcore
import httpx

from studio_worker.egress._addresses import IPAddress, effective, parse_host
from studio_worker.egress._errors import EgressDenied
from studio_worker.egress._policy import EgressPolicy

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""``resolver(host, port)``: the host's IP addresses as strings, in the order to try them."""

SocketOption = tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]

DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)


async def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's answer (``loop.getaddrinfo``), in its preference order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Checks every TCP connection against the policy; ``network_backend`` opens the sockets (tests swap it)."""

    def __init__(
        self,
        policy: EgressPolicy,
        *,
        resolver: Resolver | None = None,
        network_backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.policy = policy
        self._resolver = resolver or system_resolver
        self._backend = network_backend or httpcore.AnyIOBackend()

    async def addresses(self, host: str, port: int) -> list[IPAddress]:
        """The checked addresses to dial for ``host``: one lookup; any blocked answer refuses the whole host."""
        target = parse_host(host)
        if not isinstance(target, str):
            self.policy.check_address(target)
            return [target]
        self.policy.check_name(target)
        try:
            answers = await self._resolver(target, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {target}: {exc}") from exc
        found: list[IPAddress] = []
        for answer in answers:
            try:
                address = ip_address(answer)
            except ValueError:
                raise EgressDenied(f"the lookup of {target} returned something that is not an address") from None
            if address not in found:
                found.append(address)
        if not found:
            raise httpcore.ConnectError(f"cannot resolve {target}: no addresses")
        if not self.policy.host_allowed(target):
            # Every answer, not just the first: a record set mixing a public and a private address would
            # otherwise let the private one through on a retry or on another client's connection.
            for address in found:
                self.policy.check_address(address, host=target)
        return found

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        deadline = None if timeout is None else anyio.current_time() + timeout
        try:
            with anyio.fail_after(timeout):
                addresses = await self.addresses(host, port)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"looking up {host} took longer than {timeout} s") from exc
        failures: list[Exception] = []
        for address in addresses:
            remaining = None if deadline is None else max(deadline - anyio.current_time(), 0.0)
            try:
                return await self._backend.connect_tcp(
                    str(effective(address)),  # an address, never the name: nothing is looked up again
                    port,
                    timeout=remaining,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:
                failures.append(exc)
        raise httpcore.ConnectError(f"cannot connect to {host} port {port}: {failures[-1]}") from failures[-1]

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise EgressDenied("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


# Most specific first: httpx's classes mirror httpcore's.
_EXCEPTIONS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.ProxyError, httpx.ProxyError),
)


@contextlib.contextmanager
def _httpx_exceptions() -> Iterator[None]:
    try:
        yield
    except Exception as exc:  # EgressDenied and anything else not httpcore's passes unchanged
        for source, target in _EXCEPTIONS:
            if isinstance(exc, source):
                raise target(str(exc)) from exc
        raise


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_exceptions():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        if hasattr(self._stream, "aclose"):
            await self._stream.aclose()


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport whose connections all pass ``GuardedBackend``; requests are URL-checked too."""

    def __init__(
        self,
        policy: EgressPolicy,
        *,
        resolver: Resolver | None = None,
        network_backend: httpcore.AsyncNetworkBackend | None = None,
        verify: ssl.SSLContext | bool = True,
        limits: httpx.Limits = DEFAULT_LIMITS,
    ) -> None:
        self.policy = policy
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(policy, resolver=resolver, network_backend=network_backend),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.policy.check_url(request.url)  # the same refusals for client.get() as for send()
        if not isinstance(request.stream, httpx.AsyncByteStream):
            raise TypeError("a synchronous request body cannot be sent by an async client")
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _httpx_exceptions():
            response = await self._pool.handle_async_request(core_request)
        if not isinstance(response.stream, AsyncIterable):
            raise TypeError("httpcore returned a synchronous body to an async pool")
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


class GuardedClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` over ``GuardedTransport``: no redirects, no proxies, no cookie jar."""

    def __init__(self, policy: EgressPolicy, transport: GuardedTransport, **kwargs: Any) -> None:
        super().__init__(transport=transport, follow_redirects=False, trust_env=False, cookies=_no_cookies(), **kwargs)
        self.policy = policy


def guarded_client(
    policy: EgressPolicy,
    *,
    timeout: httpx.Timeout,
    resolver: Resolver | None = None,
    headers: Mapping[str, str] | None = None,
    verify: ssl.SSLContext | bool = True,
    limits: httpx.Limits = DEFAULT_LIMITS,
    network_backend: httpcore.AsyncNetworkBackend | None = None,
) -> GuardedClient:
    """The only client outbound HTTP should use; pass requests through ``send`` to follow redirects safely.

    Redirects are off (``send`` follows them by hand, re-checking each hop), environment proxies are ignored
    (a proxy would do the lookup the guard cannot see), and no cookies are kept between requests (one client
    may serve many tenants' steps). ``Accept-Encoding`` is limited to what ``send`` decodes with a size bound.
    """
    transport = GuardedTransport(
        policy, resolver=resolver, network_backend=network_backend, verify=verify, limits=limits
    )
    defaults = {"Accept-Encoding": "gzip, deflate", **(headers or {})}
    return GuardedClient(policy, transport, timeout=timeout, headers=defaults)


def _no_cookies() -> CookieJar:
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))  # refuses every Set-Cookie
