"""The egress guard (SSRF protection) against a real HTTP server on 127.0.0.1 that records every connection.

The only server is on loopback, so "allowed" tests opt it in (``allow_private`` or an ``allowed_hosts`` entry)
and every refusal test asserts the server saw no connection at all: the proof that the guard refused before
dialling, not merely after reading a response.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import ipaddress
import json
import socket
import time
import urllib.parse
import zlib
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import h11
import httpcore
import httpx
import pytest

from studio_worker import egress
from studio_worker.egress import (
    EgressDenied,
    EgressError,
    EgressPolicy,
    GuardedBackend,
    GuardedClient,
    GuardedResponse,
    ResponseTooLarge,
    TooManyRedirects,
    check_url,
    guarded_client,
    send,
)
from tests.timing import HANG_S

CORPUS: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent.parent / "corpora" / "ssrf.json").read_text(encoding="utf-8")
)
CANARY = "s3cret"  # the password in the corpus's user:password@ URLs: no message may repeat it
LIMIT = 64 * 1024
PUBLIC = "93.184.215.14"  # a public address no test ever really dials


# --- the recording server ---------------------------------------------------------------------------------------


@dataclass
class Seen:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Server:
    """HTTP/1.1 on 127.0.0.1 (h11 over asyncio streams) that counts connections and records requests."""

    port: int = 0
    connections: int = 0
    requests: list[Seen] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def reset(self) -> None:
        self.connections = 0
        self.requests.clear()

    def paths(self) -> list[str]:
        return [urllib.parse.urlsplit(seen.target).path for seen in self.requests]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                event = await _next_event(conn, reader)
                if not isinstance(event, h11.Request):
                    return
                body = b""
                while isinstance(part := await _next_event(conn, reader), h11.Data):
                    body += part.data
                headers = {k.decode().lower(): v.decode() for k, v in event.headers}
                seen = Seen(event.method.decode(), event.target.decode(), headers, body)
                self.requests.append(seen)
                await _respond(conn, reader, writer, seen)
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()
        except (ConnectionError, h11.ProtocolError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()


async def _next_event(conn: h11.Connection, reader: asyncio.StreamReader) -> Any:
    while (event := conn.next_event()) is h11.NEED_DATA:
        conn.receive_data(await reader.read(65536))
    return event


def _gzip_of(size: int) -> bytes:
    return gzip.compress(b"\0" * size, compresslevel=9)


async def _respond(
    conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: Seen
) -> None:
    url = urllib.parse.urlsplit(seen.target)
    query = dict(urllib.parse.parse_qsl(url.query))
    parts = url.path.strip("/").split("/")

    async def reply(status: int, body: bytes = b"", headers: Sequence[tuple[str, str]] = ()) -> None:
        fields = [*headers, ("content-length", str(len(body)))] if seen.method != "HEAD" else list(headers)
        writer.write(conn.send(h11.Response(status_code=status, headers=fields)))
        writer.write(conn.send(h11.Data(data=body)) if body and seen.method != "HEAD" else b"")
        writer.write(conn.send(h11.EndOfMessage()))
        await writer.drain()

    async def redirect(location: str, code: int = 302) -> None:
        await reply(code, b"moved", [("location", location)])

    match parts:
        case ["json"]:
            await reply(200, b'{"ok": true}', [("content-type", "application/json"), ("X-Custom", "Yes")])
        case ["status", code]:
            await reply(int(code), b"boom")
        case ["slow"]:
            await asyncio.sleep(float(query.get("s", "5")))
            await reply(200, b"late")
        case ["echo"]:
            payload = {"method": seen.method, "headers": seen.headers, "body": seen.body.decode()}
            await reply(200, json.dumps(payload).encode(), [("content-type", "application/json")])
        case ["redirect", n]:
            if int(n) == 0:
                await reply(200, b'{"ok": true}')
            else:
                await redirect(f"/redirect/{int(n) - 1}", int(query.get("code", "302")))
        case ["loop"]:
            await redirect("/loop")
        case ["to"]:
            await redirect(query["url"], int(query.get("code", "302")))
        case ["cookie"]:
            await reply(200, b"", [("set-cookie", "sid=abc; Path=/")])
        case ["chunked"]:  # no content-length: h11 frames it chunked; size 0 means endless
            size, chunk = int(query.get("size", "0")), int(query.get("chunk", "1024"))
            writer.write(conn.send(h11.Response(status_code=200, headers=[("transfer-encoding", "chunked")])))
            sent = 0
            while size == 0 or sent < size:
                n = chunk if size == 0 else min(chunk, size - sent)
                writer.write(conn.send(h11.Data(data=b"x" * n)))
                await writer.drain()
                sent += n
            writer.write(conn.send(h11.EndOfMessage()))
            await writer.drain()
        case ["huge-length"]:  # declares a gigabyte, sends ten bytes, then waits for the client to go away
            headers = [("content-length", str(10**9))]
            writer.write(conn.send(h11.Response(status_code=200, headers=headers)) + b"0123456789")
            await writer.drain()
            await reader.read()
            raise ConnectionResetError  # the message is incomplete: close the connection
        case ["gzip"]:
            body = _gzip_of(int(query["size"]))
            await reply(200, body, [("content-encoding", "gzip")])
        case ["deflate"]:
            data = b"deflated " * int(query.get("n", "10"))
            packer = zlib.compressobj(wbits=-zlib.MAX_WBITS if query.get("raw") == "1" else zlib.MAX_WBITS)
            body = packer.compress(data) + packer.flush()
            await reply(200, body, [("content-encoding", "deflate")])
        case _:
            await reply(404, b"no route")


@pytest.fixture(scope="module")
async def live_server() -> AsyncIterator[Server]:
    server = Server()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def server(live_server: Server) -> Server:
    live_server.reset()
    return live_server


# --- helpers ----------------------------------------------------------------------------------------------------


class FakeDNS:
    """A resolver over a dict; a list of answer lists is served one per lookup (the last one repeats)."""

    def __init__(self, answers: dict[str, Any] | None = None) -> None:
        self.answers = {k.lower(): v for k, v in (answers or {}).items()}
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        found = self.answers.get(host)
        if found is None:
            raise socket.gaierror(socket.EAI_NONAME, f"{host} is not in the fake DNS")
        if found and isinstance(found[0], list):
            return list(found[min(len(self.calls), len(found)) - 1])
        return list(found)


@contextlib.asynccontextmanager
async def client_for(
    policy: EgressPolicy, dns: FakeDNS | None = None, *, read_s: float = 5.0, **kwargs: Any
) -> AsyncIterator[GuardedClient]:
    async with guarded_client(
        policy, resolver=dns or FakeDNS(), timeout=httpx.Timeout(5.0, read=read_s), **kwargs
    ) as client:
        yield client


async def fetch(
    client: GuardedClient,
    url: str,
    method: str = "GET",
    *,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
    **options: Any,
) -> GuardedResponse:
    """The way nodes call it: check the user's URL, build the request, send it with a size limit."""
    request = client.build_request(method, check_url(url, client.policy), content=content, headers=headers)
    return await send(client, request, max_response_bytes=LIMIT, **options)


LOCAL = EgressPolicy(allow_private=True)


# --- the corpus -------------------------------------------------------------------------------------------------


def _corpus_id(entry: dict[str, Any]) -> str:
    return f"{entry['category']}:{entry.get('redirect_to') or entry['url']}"


@pytest.mark.parametrize("entry", CORPUS, ids=_corpus_id)
async def test_corpus_is_refused_before_any_connection(server: Server, entry: dict[str, Any]) -> None:
    url = entry["url"].replace("{port}", str(server.port))
    answers = dict(entry.get("dns", {}))
    policy = EgressPolicy()
    if entry["category"] == "redirect":
        # The first hop is opted in by name only; each redirect target must then stand on its own.
        policy = EgressPolicy(allowed_hosts=frozenset({"public.test"}))
        answers["public.test"] = ["127.0.0.1"]
        if "redirect_to" in entry:
            target = entry["redirect_to"].replace("{port}", str(server.port))
            url += "?" + urllib.parse.urlencode({"url": target, "code": entry["code"]})
    dns = FakeDNS(answers)
    async with client_for(policy, dns) as client:
        with pytest.raises(getattr(egress, entry["expect"])) as info:
            await fetch(client, url)
    message = str(info.value)
    assert CANARY not in message
    if "match" in entry:
        assert entry["match"] in message.lower(), message
    if entry["category"] != "redirect":
        assert server.connections == 0
        assert dns.calls in ([], [(urllib.parse.urlsplit(url).hostname or "").rstrip(".")])
    elif entry["expect"] == "TooManyRedirects":
        assert len(server.requests) == 6  # the first request and five redirects, never a seventh
    else:
        assert server.paths() == ["/to"]  # the allowed first hop only: the target was never requested


BACKEND_CATEGORIES = {"ipv4", "ipv6", "embedded", "spelling", "hostname", "dns"}


@pytest.mark.parametrize("entry", [e for e in CORPUS if e["category"] in BACKEND_CATEGORIES], ids=_corpus_id)
async def test_corpus_is_refused_by_the_backend_alone(server: Server, entry: dict[str, Any]) -> None:
    """The network backend holds on its own, for hosts no URL check has seen (parsed by urllib, not httpx)."""
    host = urllib.parse.urlsplit(entry["url"].replace("{port}", str(server.port))).hostname
    assert host is not None
    backend = GuardedBackend(EgressPolicy(), resolver=FakeDNS(entry.get("dns")))
    with pytest.raises(EgressDenied):
        await backend.connect_tcp(host, server.port, timeout=2.0)
    assert server.connections == 0


def test_corpus_covers_every_category() -> None:
    categories = {e["category"] for e in CORPUS}
    assert categories == BACKEND_CATEGORIES | {"url", "scheme", "redirect"}
    assert len(CORPUS) >= 60
    assert all(hasattr(egress, e["expect"]) and issubclass(getattr(egress, e["expect"]), EgressError) for e in CORPUS)


# --- the policy -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ip",
    [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.215.14",
        "2606:4700:4700::1111",
        "2001:4860:4860::8888",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
    ],
)
def test_public_addresses_are_allowed(ip: str) -> None:
    assert EgressPolicy().address_allowed(ip)
    EgressPolicy().check_address(ip)


@pytest.mark.parametrize(
    "ip",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.0.1",
        "192.168.0.1",
        "100.64.0.1",
        "169.254.169.254",
        "0.0.0.0",  # noqa: S104 (an address refused, not bound)
        "224.0.0.1",
        "255.255.255.255",
        "198.18.0.1",
        "::1",
        "::",
        "fd00:ec2::254",
        "fe80::1%eth0",
        "fec0::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::127.0.0.1",
        "64:ff9b::7f00:1",
        "64:ff9b:1::a00:1",
        "2002:7f00:1::",
        "2001:0:4136:e378:8000:63bf:80ff:fffe",
    ],
)
def test_non_public_addresses_are_refused(ip: str) -> None:
    policy = EgressPolicy()
    assert not policy.address_allowed(ip)
    assert egress.blocked_reason(ipaddress.ip_address(ip)) is not None
    with pytest.raises(EgressDenied, match="not allowed"):
        policy.check_address(ip, host="intranet.example")
    assert EgressPolicy(allow_private=True).address_allowed(ip)


def test_allowed_hosts_admit_names_suffixes_and_networks() -> None:
    policy = EgressPolicy(
        allowed_hosts=frozenset({"10.0.0.0/8", "192.168.1.20", "fd00::/8", "Intranet.Corp.", "*.lab.corp"})
    )
    assert policy.address_allowed("10.200.0.1")
    assert policy.address_allowed("::ffff:10.200.0.1")  # the mapped form is the same destination
    assert policy.address_allowed("192.168.1.20")
    assert not policy.address_allowed("192.168.1.21")
    assert policy.address_allowed("fd00::5")
    assert not policy.address_allowed("127.0.0.1")
    assert policy.host_allowed("intranet.corp")
    assert policy.host_allowed("a.lab.corp") and policy.host_allowed("a.b.lab.corp")
    assert not policy.host_allowed("lab.corp")  # *.suffix is the subdomains, not the suffix itself
    assert not policy.host_allowed("evil-lab.corp")
    assert policy.allowed_hosts == {"10.0.0.0/8", "192.168.1.20", "fd00::/8", "intranet.corp.", "*.lab.corp"}


@pytest.mark.parametrize("entry", ["intranet:8080", "10.0.0.0/33", "http://x", "*.", "a..b", "127.1", "fe80::/zz"])
def test_allowed_hosts_reject_malformed_entries(entry: str) -> None:
    with pytest.raises(ValueError, match="allowed host"):
        EgressPolicy(allowed_hosts=frozenset({entry}))


def test_policy_from_settings() -> None:
    settings = SimpleNamespace(http_allow_private=False, http_allowed_hosts=" *.corp.example, 10.0.0.0/8 ,,")
    policy = EgressPolicy.from_settings(settings)  # type: ignore[arg-type]
    assert policy == EgressPolicy(allowed_hosts=frozenset({"*.corp.example", "10.0.0.0/8"}))
    assert policy.host_allowed("git.corp.example") and policy.address_allowed("10.1.1.1")


def test_check_url_returns_the_parsed_url() -> None:
    url = check_url("HTTPS://Example.COM:8443/a/b?c=1#frag")
    assert isinstance(url, httpx.URL)
    assert (url.scheme, url.host, url.port, url.path) == ("https", "example.com", 8443, "/a/b")
    assert check_url("http://8.8.8.8/").host == "8.8.8.8"
    assert check_url("http://[2606:4700:4700::1111]:80/").host == "2606:4700:4700::1111"
    assert check_url("http://127.0.0.1/", LOCAL).host == "127.0.0.1"


def test_denials_name_the_host_but_not_the_credentials() -> None:
    with pytest.raises(EgressDenied) as info:
        check_url("http://alice:hunter2@metadata.internal/latest")
    assert "metadata.internal" in str(info.value)
    assert "hunter2" not in str(info.value) and "alice" not in str(info.value)
    assert info.value.host == "metadata.internal"


# --- requests that are allowed ----------------------------------------------------------------------------------


async def test_json_response(server: Server) -> None:
    async with client_for(LOCAL) as client:
        response = await fetch(client, f"http://127.0.0.1:{server.port}/json")
    assert response.status == 200
    assert json.loads(response.body) == {"ok": True}
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-custom"] == "Yes"  # names lower-cased, values untouched
    assert response.url == httpx.URL(f"http://127.0.0.1:{server.port}/json")
    assert response.redirects == 0
    assert server.connections == 1


async def test_server_error_is_a_response_not_an_exception(server: Server) -> None:
    async with client_for(LOCAL) as client:
        response = await fetch(client, f"http://127.0.0.1:{server.port}/status/500")
    assert (response.status, response.body) == (500, b"boom")


async def test_allowed_hosts_admit_exactly_the_opted_in_targets(server: Server) -> None:
    dns = FakeDNS({"api.corp.test": ["127.0.0.1"], "corp.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    by_network = EgressPolicy(allowed_hosts=frozenset({"127.0.0.1/32"}))
    async with client_for(by_network, dns) as client:
        assert (await fetch(client, f"http://127.0.0.1:{server.port}/json")).status == 200
        assert (await fetch(client, f"http://other.test:{server.port}/json")).status == 200
        with pytest.raises(EgressDenied, match=r"127\.0\.0\.2"):
            await fetch(client, f"http://127.0.0.2:{server.port}/json")
    by_name = EgressPolicy(allowed_hosts=frozenset({"*.corp.test"}))
    async with client_for(by_name, dns) as client:
        assert (await fetch(client, f"http://api.corp.test:{server.port}/json")).status == 200
        with pytest.raises(EgressDenied, match=r"corp\.test"):
            await fetch(client, f"http://corp.test:{server.port}/json")
        with pytest.raises(EgressDenied):
            await fetch(client, f"http://127.0.0.1:{server.port}/json")
    assert server.connections == 3  # one per allowed host, none for the refused ones


async def test_environment_proxies_are_ignored(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with client_for(LOCAL) as client:
        response = await fetch(client, f"http://127.0.0.1:{server.port}/json")
    assert response.status == 200
    assert server.requests[0].target == "/json"  # origin-form: nothing went through a proxy


async def test_no_cookies_are_kept_between_requests(server: Server) -> None:
    async with client_for(LOCAL) as client:
        await fetch(client, f"http://127.0.0.1:{server.port}/cookie")
        await fetch(client, f"http://127.0.0.1:{server.port}/echo")
        assert len(client.cookies.jar) == 0
    assert "cookie" not in server.requests[1].headers


async def test_plain_client_calls_are_guarded_too(server: Server) -> None:
    async with client_for(EgressPolicy()) as client:
        with pytest.raises(EgressDenied):
            await client.get(f"http://127.0.0.1:{server.port}/json")
        with pytest.raises(EgressDenied, match="credentials"):
            await client.get(f"http://u:{CANARY}@127.0.0.1:{server.port}/json")
    assert server.connections == 0


async def test_send_refuses_an_unguarded_client(server: Server) -> None:
    async with httpx.AsyncClient() as plain:
        with pytest.raises(TypeError, match="guarded_client"):
            await send(
                plain, plain.build_request("GET", f"http://127.0.0.1:{server.port}/json"), max_response_bytes=LIMIT
            )
    assert server.connections == 0


async def test_unix_sockets_are_refused() -> None:
    with pytest.raises(EgressDenied, match="unix"):
        await GuardedBackend(LOCAL).connect_unix_socket("/var/run/docker.sock")


async def test_unresolvable_host_is_a_connect_error(server: Server) -> None:
    async with client_for(EgressPolicy()) as client:
        with pytest.raises(httpx.ConnectError, match=r"nowhere\.test"):
            await fetch(client, "http://nowhere.test/")


# --- DNS: one lookup per connection, the checked address is the one dialled -------------------------------------


class RecordingBackend(httpcore.AsyncNetworkBackend):
    """Records what the guard asks to dial; only 127.0.0.1 really connects (the rest is 'unreachable')."""

    def __init__(self) -> None:
        self.dialled: list[str] = []
        self._real = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.dialled.append(host)
        if host != "127.0.0.1":
            raise httpcore.ConnectError(f"{host} is unreachable from the tests")
        return await self._real.connect_tcp(host, port, timeout=timeout)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def test_dns_rebinding_cannot_swap_the_checked_address(server: Server) -> None:
    """Public on the first lookup, loopback on any later one: the connection uses the first, checked answer."""
    dns = FakeDNS({"rebind.test": [[PUBLIC], ["127.0.0.1"]]})
    dialer = RecordingBackend()
    async with client_for(EgressPolicy(), dns, network_backend=dialer) as client:
        with pytest.raises(httpx.ConnectError, match="unreachable"):
            await fetch(client, f"http://rebind.test:{server.port}/json")
        assert dns.calls == ["rebind.test"]  # one lookup for the connection, none at connect time
        assert dialer.dialled == [PUBLIC]  # the checked address, never the name
        # The next connection looks up again, sees loopback and is refused before dialling.
        with pytest.raises(EgressDenied, match=r"rebind\.test"):
            await fetch(client, f"http://rebind.test:{server.port}/json")
        assert dns.calls == ["rebind.test", "rebind.test"]
        assert dialer.dialled == [PUBLIC]
    assert server.connections == 0


async def test_one_lookup_per_connection_and_the_name_is_never_resolved_again(server: Server) -> None:
    """The name is unknown to the system resolver, so these requests only work because the guard dials the IP."""
    dns = FakeDNS({"stable.test": [["127.0.0.1"], ["169.254.169.254"]]})
    async with client_for(EgressPolicy(allowed_hosts=frozenset({"127.0.0.1/32"})), dns) as client:
        for _ in range(3):
            response = await fetch(client, f"http://stable.test:{server.port}/echo")
            assert response.status == 200
    assert dns.calls == ["stable.test"]
    assert server.connections == 1  # kept alive: three requests, one connection, one lookup
    assert {seen.headers["host"] for seen in server.requests} == {f"stable.test:{server.port}"}


async def test_a_failing_address_falls_back_to_the_next_checked_one(server: Server) -> None:
    dns = FakeDNS({"two.test": [PUBLIC, "127.0.0.1"]})
    dialer = RecordingBackend()
    policy = EgressPolicy(allowed_hosts=frozenset({"127.0.0.1/32"}))
    async with client_for(policy, dns, network_backend=dialer) as client:
        response = await fetch(client, f"http://two.test:{server.port}/json")
    assert response.status == 200
    assert dialer.dialled == [PUBLIC, "127.0.0.1"]
    assert dns.calls == ["two.test"]


class TLSRecorder(httpcore.AsyncNetworkBackend):
    """A fake network: records the dialled address, the TLS server name and the bytes sent; answers 200."""

    def __init__(self) -> None:
        self.dialled: list[str] = []
        self.server_names: list[str | None] = []
        self.sent = b""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.dialled.append(host)
        recorder = self

        class Stream(httpcore.AsyncMockStream):
            async def start_tls(
                self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
            ) -> httpcore.AsyncNetworkStream:
                recorder.server_names.append(server_hostname)
                return self

            async def write(self, buffer: bytes, timeout: float | None = None) -> None:
                recorder.sent += buffer

        return Stream([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"])

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def test_tls_and_host_header_keep_the_name_while_the_socket_gets_the_address() -> None:
    dns = FakeDNS({"secure.test": [PUBLIC]})
    network = TLSRecorder()
    async with client_for(EgressPolicy(), dns, network_backend=network) as client:
        response = await fetch(client, "https://secure.test/path")
    assert response.body == b"ok"
    assert network.dialled == [PUBLIC]
    assert network.server_names == ["secure.test"]  # SNI and certificate check against the name
    assert b"\r\nHost: secure.test\r\n" in network.sent


# --- redirects --------------------------------------------------------------------------------------------------


async def test_five_redirects_are_followed_and_a_sixth_is_refused(server: Server) -> None:
    async with client_for(LOCAL) as client:
        response = await fetch(client, f"http://127.0.0.1:{server.port}/redirect/5")
        assert (response.status, response.redirects) == (200, 5)
        assert response.url.path == "/redirect/0"
        server.reset()
        with pytest.raises(TooManyRedirects, match="more than 5 redirects"):
            await fetch(client, f"http://127.0.0.1:{server.port}/redirect/6")
        assert server.paths() == [f"/redirect/{n}" for n in range(6, 0, -1)]  # /redirect/0 never requested
        server.reset()
        with pytest.raises(TooManyRedirects):
            await fetch(client, f"http://127.0.0.1:{server.port}/redirect/1", max_redirects=0)
        assert server.paths() == ["/redirect/1"]


async def test_redirects_can_be_left_unfollowed(server: Server) -> None:
    async with client_for(LOCAL) as client:
        response = await fetch(client, f"http://127.0.0.1:{server.port}/redirect/2", follow_redirects=False)
    assert (response.status, response.headers["location"], response.redirects) == (302, "/redirect/1", 0)
    assert response.body == b"moved"


@pytest.mark.parametrize("code", [301, 302, 303])
async def test_301_302_303_turn_into_a_get_without_body(server: Server, code: int) -> None:
    url = f"http://127.0.0.1:{server.port}/to?" + urllib.parse.urlencode({"url": "/echo", "code": code})
    async with client_for(LOCAL) as client:
        response = await fetch(client, url, "POST", content=b"payload", headers={"Content-Type": "text/plain"})
    echoed = json.loads(response.body)
    assert (echoed["method"], echoed["body"]) == ("GET", "")
    assert "content-type" not in echoed["headers"] and "content-length" not in echoed["headers"]
    assert server.requests[0].body == b"payload"


async def test_head_stays_head_through_a_303(server: Server) -> None:
    url = f"http://127.0.0.1:{server.port}/to?" + urllib.parse.urlencode({"url": "/echo", "code": 303})
    async with client_for(LOCAL) as client:
        response = await fetch(client, url, "HEAD")
    assert response.status == 200 and response.body == b""
    assert [seen.method for seen in server.requests] == ["HEAD", "HEAD"]


@pytest.mark.parametrize("code", [307, 308])
async def test_307_308_keep_method_and_body(server: Server, code: int) -> None:
    url = f"http://127.0.0.1:{server.port}/to?" + urllib.parse.urlencode({"url": "/echo", "code": code})
    async with client_for(LOCAL) as client:
        response = await fetch(client, url, "PUT", content=b"payload", headers={"Content-Type": "text/plain"})
    echoed = json.loads(response.body)
    assert (echoed["method"], echoed["body"], echoed["headers"]["content-type"]) == ("PUT", "payload", "text/plain")


CREDENTIALS = {
    "Authorization": "Bearer tok",
    "Cookie": "sid=1",
    "Proxy-Authorization": "Basic eA==",
    "X-Api-Key": "key",
    "X-Trace": "keep-me",
}


async def test_cross_origin_redirect_drops_credentials(server: Server) -> None:
    dns = FakeDNS({"a.test": ["127.0.0.1"], "b.test": ["127.0.0.1"]})
    policy = EgressPolicy(allowed_hosts=frozenset({"127.0.0.1/32"}))
    there = f"http://b.test:{server.port}/echo"
    async with client_for(policy, dns) as client:
        response = await fetch(
            client,
            f"http://a.test:{server.port}/to?" + urllib.parse.urlencode({"url": there}),
            headers=CREDENTIALS,
            credential_headers={"x-api-key"},
        )
    echoed = json.loads(response.body)["headers"]
    assert echoed["host"] == f"b.test:{server.port}"
    assert echoed["x-trace"] == "keep-me"
    assert not {"authorization", "cookie", "proxy-authorization", "x-api-key"} & set(echoed)
    assert server.requests[0].headers["authorization"] == "Bearer tok"  # the first origin got them


async def test_same_origin_redirect_keeps_credentials_and_leaving_once_drops_them_for_good(server: Server) -> None:
    dns = FakeDNS({"a.test": ["127.0.0.1"], "b.test": ["127.0.0.1"]})
    policy = EgressPolicy(allowed_hosts=frozenset({"127.0.0.1/32"}))
    back_home = f"http://a.test:{server.port}/echo"
    via_b = f"http://b.test:{server.port}/to?" + urllib.parse.urlencode({"url": back_home})
    async with client_for(policy, dns) as client:
        same = await fetch(client, f"http://a.test:{server.port}/to?url=/echo", headers=CREDENTIALS)
        round_trip = await fetch(
            client, f"http://a.test:{server.port}/to?" + urllib.parse.urlencode({"url": via_b}), headers=CREDENTIALS
        )
    assert json.loads(same.body)["headers"]["authorization"] == "Bearer tok"
    assert round_trip.redirects == 2
    assert "authorization" not in json.loads(round_trip.body)["headers"]


async def test_on_redirect_can_veto_the_next_hop(server: Server) -> None:
    dns = FakeDNS({"a.test": ["127.0.0.1"], "b.test": ["127.0.0.1"]})
    policy = EgressPolicy(allowed_hosts=frozenset({"127.0.0.1/32"}))
    start = f"http://a.test:{server.port}/to?" + urllib.parse.urlencode({"url": f"http://b.test:{server.port}/json"})
    seen: list[httpx.URL] = []

    def only_a(url: httpx.URL) -> bool:
        seen.append(url)
        return url.host == "a.test"

    async def anything(url: httpx.URL) -> bool:
        return True

    async with client_for(policy, dns) as client:
        with pytest.raises(EgressDenied, match=r"redirect to b\.test was refused"):
            await fetch(client, start, on_redirect=only_a)
        assert seen == [httpx.URL(f"http://b.test:{server.port}/json")]
        assert server.paths() == ["/to"]
        assert (await fetch(client, start, on_redirect=anything)).redirects == 1
        # The hook only ever sees targets the policy already allows.
        blocked = f"http://a.test:{server.port}/to?" + urllib.parse.urlencode({"url": "http://169.254.169.254/"})
        seen.clear()
        with pytest.raises(EgressDenied, match="link-local"):
            await fetch(client, blocked, on_redirect=only_a)
        assert seen == []


# --- response size ----------------------------------------------------------------------------------------------


async def test_content_length_over_the_limit_fails_before_reading(server: Server) -> None:
    started = time.monotonic()
    async with client_for(LOCAL, read_s=10.0) as client:
        with pytest.raises(ResponseTooLarge, match=f"larger than {LIMIT} bytes"):
            await fetch(client, f"http://127.0.0.1:{server.port}/huge-length")
    assert time.monotonic() - started < 5  # reading the body would have waited for the read timeout


async def test_chunked_body_is_cut_off_once_the_limit_is_crossed(server: Server) -> None:
    async with client_for(LOCAL) as client:
        async with asyncio.timeout(10):  # without the limit this would read forever
            with pytest.raises(ResponseTooLarge):
                await fetch(client, f"http://127.0.0.1:{server.port}/chunked?size=0&chunk=4096")  # endless
        exact = await fetch(client, f"http://127.0.0.1:{server.port}/chunked?size={LIMIT}&chunk=1000")
    assert len(exact.body) == LIMIT
    assert "content-length" not in exact.headers


async def test_compressed_bodies_are_limited_after_decoding(server: Server) -> None:
    async with client_for(LOCAL) as client:
        small = await fetch(client, f"http://127.0.0.1:{server.port}/gzip?size=1000")
        assert small.body == b"\0" * 1000
        with pytest.raises(ResponseTooLarge):  # ~20 KB on the wire, 20 MB inflated
            await fetch(client, f"http://127.0.0.1:{server.port}/gzip?size=20000000")
        for raw in ("0", "1"):
            deflated = await fetch(client, f"http://127.0.0.1:{server.port}/deflate?n=10&raw={raw}")
            assert deflated.body == b"deflated " * 10
    assert server.requests[0].headers["accept-encoding"] == "gzip, deflate"


# --- timeouts ---------------------------------------------------------------------------------------------------


async def test_slow_response_raises_an_httpx_timeout(server: Server) -> None:
    started = time.monotonic()
    async with client_for(LOCAL, read_s=0.2) as client:
        with pytest.raises(httpx.TimeoutException) as info:
            await fetch(client, f"http://127.0.0.1:{server.port}/slow?s={3 * HANG_S}")
    assert isinstance(info.value, httpx.ReadTimeout)
    assert time.monotonic() - started < HANG_S  # without the read timeout: the server's 30 s


async def test_slow_lookup_is_a_connect_timeout() -> None:
    async def slow(host: str, port: int) -> list[str]:
        await asyncio.sleep(5)
        return [PUBLIC]

    async with guarded_client(EgressPolicy(), resolver=slow, timeout=httpx.Timeout(5.0, connect=0.2)) as client:
        with pytest.raises(httpx.ConnectTimeout, match=r"slow\.test"):
            await fetch(client, "http://slow.test/")
