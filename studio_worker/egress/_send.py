"""``send``: one request through a guarded client, redirects followed by hand, the body read with a size bound."""

from __future__ import annotations

import inspect
import zlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import httpx

from studio_shared import tracing
from studio_worker.egress._errors import EgressDenied, ResponseTooLarge, TooManyRedirects
from studio_worker.egress._policy import EgressPolicy
from studio_worker.egress._transport import GuardedClient

# Dropped when a redirect leaves the first request's origin (scheme, host, port), with the caller's own names.
SENSITIVE_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
_BODY_HEADERS = ("content-length", "transfer-encoding", "content-type")

OnRedirect = Callable[[httpx.URL], bool | Awaitable[bool]]
"""Called with each checked redirect target before it is requested; False refuses it (EgressDenied)."""


@dataclass(frozen=True)
class GuardedResponse:
    status: int
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes  # decoded (gzip, deflate), at most max_response_bytes
    url: httpx.URL  # after redirects
    redirects: int


async def send(
    client: httpx.AsyncClient,
    request: httpx.Request,
    *,
    max_response_bytes: int,
    policy: EgressPolicy | None = None,
    max_redirects: int = 5,
    follow_redirects: bool = True,
    on_redirect: OnRedirect | None = None,
    credential_headers: Iterable[str] = (),
) -> GuardedResponse:
    """Send ``request`` with ``client`` (from ``guarded_client``), following at most ``max_redirects`` redirects.

    Every hop is re-checked (URL here, addresses in the client's backend). 301/302/303 become a GET without
    a body (HEAD stays HEAD); 307/308 keep the method and body. ``Authorization``, ``Cookie``,
    ``Proxy-Authorization`` and ``credential_headers`` are dropped once a redirect leaves the first origin
    and stay dropped. ``policy`` checks the URLs and defaults to the client's; connections are always checked
    with the client's. Raises EgressDenied, TooManyRedirects, ResponseTooLarge, or httpx's errors (timeouts
    as ``httpx.TimeoutException``).
    """
    if not isinstance(client, GuardedClient):
        raise TypeError("send() needs a client from guarded_client(): another client would skip the address check")
    policy = client.policy if policy is None else policy
    origin = _origin(policy.check_url(request.url))
    sensitive = SENSITIVE_HEADERS | {name.lower() for name in credential_headers}
    redirects = 0
    while True:
        # One client span per hop (a step's span is its parent): method, scheme, host and port, the status; never the
        # path or query, where a URL often keeps its secret.
        with tracing.span(
            f"HTTP {request.method}", _span_attributes(request.url, request.method), kind="client"
        ) as current:
            response = await client.send(request, stream=True, follow_redirects=False)
            if current is not None:
                current.set_attribute("http.response.status_code", response.status_code)
            try:
                if not (follow_redirects and response.has_redirect_location):
                    body = await _read_body(response, max_response_bytes)
                    return GuardedResponse(
                        status=response.status_code,
                        headers={name.lower(): value for name, value in response.headers.items()},
                        body=body,
                        url=request.url,
                        redirects=redirects,
                    )
                if redirects >= max_redirects:
                    raise TooManyRedirects(max_redirects, request.url.host)
                target = _redirect_target(request.url, response.headers["location"], policy)
                if on_redirect is not None:
                    verdict = on_redirect(target)
                    if inspect.isawaitable(verdict):
                        verdict = await verdict
                    if not verdict:
                        raise EgressDenied(f"the redirect to {target.host} was refused", host=target.host)
                request = _redirected(
                    request, response.status_code, target, drop=() if _origin(target) == origin else sensitive
                )
            finally:
                await response.aclose()  # a redirect's body is never read
        redirects += 1


def _span_attributes(url: httpx.URL, method: str) -> dict[str, str | int]:
    attributes: dict[str, str | int] = {
        "http.request.method": method,
        "url.scheme": url.scheme,
        "server.address": url.host,
    }
    if url.port is not None:
        attributes["server.port"] = url.port
    return attributes


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default = {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host, url.port or default


def _redirect_target(current: httpx.URL, location: str, policy: EgressPolicy) -> httpx.URL:
    try:
        target = current.join(location)
    except httpx.InvalidURL:
        raise EgressDenied(f"{current.host} redirected to a URL that is not valid", host=current.host) from None
    return policy.check_url(target)


def _redirected(request: httpx.Request, status: int, target: httpx.URL, drop: Iterable[str]) -> httpx.Request:
    headers = request.headers.copy()
    headers["Host"] = target.netloc.decode("ascii")  # a Request built with stream= gets no automatic Host
    for name in drop:
        headers.pop(name, None)
    method = request.method
    stream: httpx.SyncByteStream | httpx.AsyncByteStream | None = request.stream
    if status in (301, 302, 303) and method != "HEAD":
        method, stream = "GET", None  # what browsers do; only 307/308 promise to repeat the body
        for name in _BODY_HEADERS:
            headers.pop(name, None)
    return httpx.Request(method, target, headers=headers, stream=stream, extensions=request.extensions)


async def _read_body(response: httpx.Response, limit: int) -> bytes:
    host = response.request.url.host
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ResponseTooLarge(limit, host)  # before reading a byte of it
    decoder = _decoder(response)
    body = bytearray()
    try:
        async for chunk in response.aiter_raw():
            body += decoder.decode(chunk, limit - len(body))
            if len(body) > limit:
                raise ResponseTooLarge(limit, host)
        body += decoder.flush()
    except zlib.error as exc:
        raise httpx.DecodingError(
            f"the response from {host} is not valid {decoder.name}", request=response.request
        ) from exc
    if len(body) > limit:
        raise ResponseTooLarge(limit, host)
    return bytes(body)


class _Identity:
    name = "identity"

    def decode(self, data: bytes, budget: int) -> bytes:
        return data

    def flush(self) -> bytes:
        return b""


class _Inflate:
    """gzip or deflate, never producing more than the remaining budget plus one byte per chunk.

    httpx's own decoders inflate a whole chunk at once (a 64 KiB chunk of a gzip bomb is ~64 MiB), so the body
    is read raw and inflated here with ``max_length``.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._gzip = name in ("gzip", "x-gzip")
        self._inflater = zlib.decompressobj(zlib.MAX_WBITS | 16 if self._gzip else zlib.MAX_WBITS)
        self._started = False

    def decode(self, data: bytes, budget: int) -> bytes:
        try:
            out = self._inflater.decompress(data, budget + 1)
        except zlib.error:
            if self._gzip or self._started:
                raise
            self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)  # "deflate" sent raw, without the zlib header
            out = self._inflater.decompress(data, budget + 1)
        self._started = True
        return out

    def flush(self) -> bytes:
        return self._inflater.flush()


def _decoder(response: httpx.Response) -> _Identity | _Inflate:
    codings = [c.strip().lower() for c in response.headers.get("content-encoding", "").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if not codings:
        return _Identity()
    if len(codings) > 1:
        raise httpx.DecodingError("stacked content encodings are not supported", request=response.request)
    if codings[0] in ("gzip", "x-gzip", "deflate"):
        return _Inflate(codings[0])
    return _Identity()  # an encoding we did not ask for (br, zstd): passed through raw, as httpx does
