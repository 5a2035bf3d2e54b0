"""Hostile input against real processes: GraphQL documents, forged tokens, webhook signatures, node payloads.

Every scenario runs in services mode: a ``studio serve`` process on a fresh PostgreSQL database with Redis
(database 13), and one ``studio worker`` process. This process seeds two tenants (A and B) through the store,
then talks to the API over HTTP and websockets only, as a client on the network would, and afterwards reads
the database (and the server's log) to count what the hostile input left behind.

- ``hostile-graphql``: ``tests/corpora/graphql.json`` (depth, alias and fragment bombs, token floods, batches,
  bad encodings and content types, NUL and surrogates, directives, operation names…) over HTTP, and its bombs
  plus malformed protocol messages over graphql-transport-ws. Every document refused with a message, no 5xx,
  nothing internal in an answer or the log, no corpus mutation wrote a row.
- ``hostile-jwt``: ``tests/corpora/jwt.json``, recipes built at run time with PyJWT and the server's secret,
  sent as ``Authorization`` and in ``connection_init``: none accepted, the honest controls accepted.
- ``hostile-webhooks``: ``tests/corpora/webhooks.json`` against Standard, GitHub and Stripe webhooks made
  through the API (rotated and disabled ones too): exactly the valid deliveries accepted, one run each.
- ``hostile-nodes``: ``ssrf.json`` through ``http.request``, ``ssti.json`` through ``transform`` and
  ``paths.json`` through ``artifact.write``, on the worker; a recorder listening on every local address counts
  what reached it (only a non-loopback address of this machine is allowed, for the controls). A storage bomb
  (20 transforms of 999,000 characters) must stop at its run's stored-output quota.
- ``hostile-endpoints``: ``/artifacts/{id}``, signed artifact links, ``/hooks/{id}`` and ``/messages/{channel}``
  with tenant A's credentials: B's ids answer like ids that never existed.
- ``hostile-schemas``: ``tests/corpora/schemas.json`` (remote ``$ref``s, dialect switches, ReDoS, patterns RE2
  refuses, schemas whose work multiplies) through validateDefinition, then as versions stored before those
  checks through startRun, an unsigned webhook and sendMessage: answered as the corpus says, nothing fetched
  (a recorder on every local address), /healthz never blocked.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import ipaddress
import itertools
import json
import os
import re
import secrets
import socket
import subprocess
import tempfile
import time
import urllib.parse
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import h11
import httpx
import jwt
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from bench.common import POSTGRES_URL, fresh_database
from bench.engine import (
    REPO,
    _observer,
    _settings,
    flush_redis,
    spawn_logged,
    start_studio,
    stop_studio,
    studio,
    studio_argv,
    studio_env,
)
from bench.subscriptions import _free_port
from reliability.outcome import Outcome
from studio_gql.routes.hooks import ENDPOINT_TTL_S
from studio_gql.state import AppState
from studio_shared.auth import Principal, encode_access_token
from studio_shared.db import models
from studio_shared.rbac import Role
from studio_shared.settings import Settings
from studio_shared.store import tenants
from studio_shared.store import workflows as store_workflows
from studio_shared.types import FINAL_RUN_STATUSES, RunStatus, StepStatus
from studio_shared.webhooks import sign_github, sign_standard, sign_stripe

REDIS_URL = "redis://127.0.0.1:6379/13"
PASSWORD = "correct horse battery staple"  # noqa: S105 - the seeded users' password, as in the tests
CORPORA = REPO / "tests" / "corpora"
# What no answer may contain: the server's internals (a traceback, the ORM or driver, a source path).
INTERNALS = ("Traceback", "sqlalchemy", "asyncpg", "psycopg", 'File "', "/studio_", ".py", "site-packages")
MASKED = "Internal error; it has been logged."  # an unexpected exception a resolver raised: a hidden 500


@dataclass
class Tenant:
    id: uuid.UUID
    slug: str
    users: dict[Role, uuid.UUID] = field(default_factory=dict)
    tokens: dict[Role, str] = field(default_factory=dict)


@dataclass
class Services:
    """The running studio: its URLs, settings, an in-process state for seeding, and two seeded tenants."""

    base: str
    ws: str
    settings: Settings
    state: AppState
    observer: AsyncEngine
    tmp: Path
    a: Tenant
    b: Tenant
    serve: subprocess.Popen[bytes]
    worker: subprocess.Popen[bytes] | None

    def alive(self) -> bool:
        return self.serve.poll() is None and (self.worker is None or self.worker.poll() is None)

    def serve_log(self) -> str:
        return (self.tmp / "serve.log").read_text(errors="replace")


async def make_tenant(state: AppState, settings: Settings, label: str) -> Tenant:
    slug = f"{label}-{secrets.token_hex(4)}"
    async with state.sessions.begin() as s:
        row = await tenants.get_or_create_tenant(s, slug)
        tenant = Tenant(id=row.id, slug=slug)
        for role in (Role.ADMIN, Role.EDITOR, Role.OPERATOR, Role.VIEWER):
            user = await tenants.create_user(s, row.id, f"{role.value.lower()}@{slug}.example", PASSWORD, role)
            tenant.users[role] = user.id
    for role, user_id in tenant.users.items():
        tenant.tokens[role] = encode_access_token(settings, subject=user_id, tenant_id=tenant.id, role=role)
    return tenant


def _start_serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    return spawn_logged(studio_argv("serve", "--port", str(port)), env, log)


async def _wait_ready(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    async with httpx.AsyncClient() as client:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{base}/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    tail = await asyncio.to_thread(log.read_text, errors="replace")
    raise RuntimeError(f"studio serve did not start:\n{tail[-2000:]}")


@contextlib.asynccontextmanager
async def services(worker: bool = True, **extra_env: str) -> AsyncIterator[Services]:
    """A fresh database, Redis db 13 emptied, ``studio serve`` (and a ``studio worker``), tenants A and B."""
    async with fresh_database("postgres", POSTGRES_URL) as url:
        with tempfile.TemporaryDirectory(prefix="studio-hostile-") as tmp_name:
            tmp = Path(tmp_name)
            settings = _settings(url, REDIS_URL, tmp / "state").model_copy(
                update={"storage_url": f"file://{tmp / 'storage'}"}
            )
            await flush_redis(REDIS_URL)
            env = studio_env(settings, STUDIO_STORAGE_URL=settings.storage_url, **extra_env)
            port = _free_port()
            base = f"http://127.0.0.1:{port}"
            procs: list[subprocess.Popen[bytes]] = []
            observer = _observer(url)
            try:
                serve = _start_serve(env, port, tmp / "serve.log")
                procs.append(serve)
                await _wait_ready(base, serve, tmp / "serve.log")
                worker_proc = None
                if worker:
                    worker_proc = await asyncio.to_thread(start_studio, "worker", env, tmp / "worker.log")
                    procs.append(worker_proc)
                async with studio(settings) as state:
                    a = await make_tenant(state, settings, "tenant-a")
                    b = await make_tenant(state, settings, "tenant-b")
                    yield Services(
                        base=base,
                        ws=f"ws://127.0.0.1:{port}/graphql",
                        settings=settings,
                        state=state,
                        observer=observer,
                        tmp=tmp,
                        a=a,
                        b=b,
                        serve=serve,
                        worker=worker_proc,
                    )
            finally:
                await asyncio.to_thread(stop_studio, procs)
                await observer.dispose()


async def count_rows(observer: AsyncEngine, query: Any) -> int:
    async with observer.connect() as conn:
        return int(await conn.scalar(query) or 0)


def leaks(text: str) -> list[str]:
    """The internals markers found in an answer."""
    return [marker for marker in INTERNALS if marker in text]


def fresh_client(base: str, timeout_s: float = 10) -> httpx.AsyncClient:
    """No keep-alive: every request on a connection of its own, so one answer cannot spoil the next one's."""
    limits = httpx.Limits(max_keepalive_connections=0)
    return httpx.AsyncClient(base_url=base, timeout=timeout_s, limits=limits)


def tracebacks(services_: Services) -> int:
    return services_.serve_log().count("Traceback")


class Ws:
    """A raw graphql-transport-ws connection: sends any text, reads messages with a timeout."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn: ClientConnection | None = None

    async def __aenter__(self) -> Ws:
        self.conn = await connect(self.url, subprotocols=[Subprotocol("graphql-transport-ws")], max_size=None)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.conn is not None:
            await self.conn.close()

    async def send(self, message: Any) -> None:
        assert self.conn is not None
        await self.conn.send(message if isinstance(message, str) else json.dumps(message))

    async def recv(self, timeout_s: float = 5) -> dict[str, Any]:
        """The next message; ``{"type": "closed", "code": …, "reason": …}`` once the server closed the socket."""
        assert self.conn is not None
        try:
            raw = await asyncio.wait_for(self.conn.recv(), timeout_s)
        except ConnectionClosed as exc:
            return {
                "type": "closed",
                "code": exc.rcvd.code if exc.rcvd else None,
                "reason": exc.rcvd.reason if exc.rcvd else "",
            }
        except TimeoutError:
            return {"type": "timeout"}
        message: dict[str, Any] = json.loads(raw)
        return message

    async def init(self, payload: Any) -> dict[str, Any]:
        await self.send({"type": "connection_init", "payload": payload})
        return await self.recv()

    async def until(self, id: str, timeout_s: float = 5) -> list[dict[str, Any]]:
        """Messages of operation ``id`` up to its ``error``/``complete`` (or the socket's end); pongs answered."""
        seen: list[dict[str, Any]] = []
        while True:
            message = await self.recv(timeout_s)
            if message["type"] == "ping":
                await self.send({"type": "pong"})
                continue
            if message.get("id") not in (None, id):
                continue
            seen.append(message)
            if message["type"] in {"error", "complete", "closed", "timeout"}:
                return seen

    async def sane(self) -> bool:
        """The socket still answers a ping and runs a query to completion."""
        try:
            return await self._sane()
        except ConnectionClosed:
            return False

    async def _sane(self) -> bool:
        await self.send({"type": "ping"})
        pong = await self.recv()
        while pong["type"] == "ping":
            await self.send({"type": "pong"})
            pong = await self.recv()
        if pong["type"] != "pong":
            return False
        await self.send({"id": "sane", "type": "subscribe", "payload": {"query": "{ me { role } }"}})
        messages = await self.until("sane")
        data = [m["payload"].get("data") for m in messages if m["type"] == "next"]
        return bool(data and data[0] and data[0]["me"]["role"]) and messages[-1]["type"] == "complete"


# ============================================================================================ hostile-graphql


def expand(spec: Any) -> str:
    """Corpus text: a string, or a list of parts; ``{"repeat": part, "times": n, "join": s}`` repeats a part with
    ``{i}`` (and ``{j}`` = i + 1) replaced by the repetition's index."""
    if isinstance(spec, str):
        return spec
    if isinstance(spec, list):
        return "".join(expand(part) for part in spec)
    text, join, times = expand(spec["repeat"]), str(spec.get("join", "")), int(spec["times"])
    if "{i}" not in text and "{j}" not in text:
        return join.join([text] * times)
    return join.join(text.replace("{i}", str(i)).replace("{j}", str(i + 1)) for i in range(spec["times"]))


def dump(spec: Any) -> str:
    """Corpus JSON as text: plain JSON, with ``{"$nest": n, "leaf": v, "as": "list"|"object"}`` (nesting built as
    text, so no encoder recursion), ``{"$text": spec}``, ``{"$array": v, "times": n}``, ``{"$object": "k{i}", …}``."""
    if isinstance(spec, dict):
        if "$nest" in spec:
            n, leaf = int(spec["$nest"]), dump(spec["leaf"])
            if spec.get("as") == "object":
                return '{"a": ' * n + leaf + "}" * n
            return "[" * n + leaf + "]" * n
        if "$text" in spec:
            return json.dumps(expand(spec["$text"]))
        if "$array" in spec:
            return "[" + ", ".join([dump(spec["$array"])] * spec["times"]) + "]"
        if "$object" in spec:
            value = dump(spec["value"])
            return (
                "{"
                + ", ".join(f'"{spec["$object"].replace("{i}", str(i))}": {value}' for i in range(spec["times"]))
                + "}"
            )
        return "{" + ", ".join(f"{json.dumps(k)}: {dump(v)}" for k, v in spec.items()) + "}"
    if isinstance(spec, list):
        return "[" + ", ".join(dump(v) for v in spec) + "]"
    return json.dumps(spec)


def graphql_body(entry: dict[str, Any]) -> bytes:
    if "body_hex" in entry:
        return bytes.fromhex(entry["body_hex"].replace(" ", ""))
    if "body_utf16" in entry:
        return str(entry["body_utf16"]).encode("utf-16")
    if "body" in entry:
        return expand(entry["body"]).encode()
    if "payload" in entry:
        return dump(entry["payload"]).encode()
    fields = {"query": {"$text": entry["query"]}} if "query" in entry else {}
    for key in ("variables", "operationName"):
        if key in entry:
            fields[key] = entry[key]
    return dump(fields).encode()


@dataclass
class Answer:
    entry: str
    status: int  # 0: no answer (connection dropped or timed out)
    text: str
    seconds: float
    tracebacks: int = 0  # logged by the server while answering


def _errors(text: str) -> tuple[bool, str]:
    """(whether the answer carries errors, the first message or the text)."""
    try:
        body = json.loads(text)
    except ValueError:
        return False, text
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "errors" and isinstance(item, list) and item:
                    found.extend(
                        str(e.get("message", e.get("code", ""))) if isinstance(e, dict) else str(e) for e in item
                    )
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(body)
    if isinstance(body, dict) and "error" in body:
        found.append(str(body.get("message") or body["error"]))
    return bool(found), found[0] if found else text


async def send_graphql(client: httpx.AsyncClient, entry: dict[str, Any], token: str) -> tuple[int, str]:
    method = entry.get("method", "POST")
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    content_type = entry.get("content_type", "application/json")
    if content_type is not None:
        headers["Content-Type"] = content_type
    params = {k: expand(v) for k, v in entry.get("params", {}).items()}
    content: Any = graphql_body(entry) if method in {"POST", "PUT"} else None
    if content is not None and entry.get("chunked"):
        data = content

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(data), 64 * 1024):
                yield data[start : start + 64 * 1024]

        content = chunks()
    response = await client.request(method, "/graphql", content=content, params=params, headers=headers)
    return response.status_code, response.text


MAX_ANSWER_S = 2.0  # a refusal is cheap: anything slower is work the document made the server do


def judge(entry: dict[str, Any], answer: Answer) -> list[str]:
    """What is wrong with the answer to a corpus entry ([] when nothing)."""
    problems = []
    if answer.status == 0:
        problems.append(f"no answer ({answer.text})")
    elif answer.status >= 500:
        problems.append(f"status {answer.status}")
    if MASKED in answer.text:
        problems.append("an unexpected server exception (masked)")
    if found := leaks(answer.text):
        problems.append(f"internals in the answer: {found}")
    if answer.tracebacks:
        problems.append(f"{answer.tracebacks} traceback(s) logged")
    if answer.seconds > MAX_ANSWER_S:
        problems.append(f"answered in {answer.seconds:.1f} s")
    has_errors, message = _errors(answer.text)
    if entry.get("expect") == "answer":
        if answer.status != 200 or has_errors:
            problems.append(f"a harmless request was refused: {answer.status} {message[:160]}")
        return problems
    if not (400 <= answer.status < 500 or (answer.status == 200 and has_errors)):
        problems.append(f"not refused: {answer.status} {answer.text[:160]}")
    elif not message.strip():
        problems.append("refused without a message")
    if "match" in entry and entry["match"].lower() not in answer.text.lower():
        problems.append(f"message lacks {entry['match']!r}: {message[:160]}")
    if "status" in entry and answer.status != entry["status"]:
        problems.append(f"status {answer.status}, expected {entry['status']}")
    return problems


CREATE_CONTROL = """mutation($n: String!) { createWorkflow(input: {name: $n, definition: {nodes: [{id: "start",
  type: "trigger.manual", config: {}}], edges: []}}) { workflow { id } errors { code message } } }"""


def ws_payload(entry: dict[str, Any]) -> str:
    fields: dict[str, Any] = {"query": {"$text": entry["query"]}}
    for key in ("variables", "operationName"):
        if key in entry:
            fields[key] = entry[key]
    return '{"id": "bomb", "type": "subscribe", "payload": ' + dump(fields) + "}"


def _subscribe(payload: str, id: str = '"r"') -> str:
    return f'{{"id": {id}, "type": "subscribe", "payload": {payload}}}'


_ME = '"query": "{ me { role } }"'
# Raw websocket messages no decoder should choke on: each must end in an error or a 4400 close, never 1011.
WS_RAW = {
    "deep-json-message": _subscribe(f'{{{_ME}, "variables": {{"d": {"[" * 5000}{"]" * 5000}}}}}'),
    "huge-integer-message": _subscribe(f'{{{_ME}, "variables": {{"n": {"7" * 5000}}}}}'),
    "nul-in-variables": _subscribe(f'{{{_ME}, "variables": {{"a": "\\u0000"}}}}'),
    "variables-not-object": _subscribe(f'{{{_ME}, "variables": [1]}}'),
    "payload-not-object": _subscribe('"{ me { role } }"'),
    "query-not-string": _subscribe('{"query": 5}'),
    "id-not-string": _subscribe(f"{{{_ME}}}", id="7"),
    "no-id": f'{{"type": "subscribe", "payload": {{{_ME}}}}}',
    "not-json": "{subscribe",
    "json-array": "[1, 2, 3]",
    "unknown-type": '{"id": "r", "type": "explode"}',
}


async def graphql_over_ws(sv: Services, corpus: list[dict[str, Any]], token: str) -> dict[str, Any]:
    """The corpus's websocket entries as ``subscribe`` messages, then raw malformed messages; each on a socket that
    must stay usable (ping, a query) unless the server closed it with 4400 for an undecodable message."""
    init = {"authorization": f"Bearer {token}"}
    results: dict[str, list[str]] = {}
    refused = 0
    bombs = [entry for entry in corpus if entry.get("ws")]
    cases = [(f"corpus:{e['id']}", ws_payload(e), e) for e in bombs] + [(f"raw:{k}", v, {}) for k, v in WS_RAW.items()]
    for name, message, entry in cases:
        problems: list[str] = []
        before = tracebacks(sv)
        async with Ws(sv.ws) as ws:
            ack = await ws.init(init)
            if ack["type"] != "connection_ack":
                results[name] = [f"no connection_ack: {ack}"]
                continue
            started = time.perf_counter()
            await ws.send(message)
            answers = await ws.until("r" if name.startswith("raw:") else "bomb")
            elapsed = time.perf_counter() - started
            last = answers[-1]
            text = json.dumps(answers)
            errored = last["type"] == "error" or any(
                m["type"] == "next" and m["payload"].get("errors") for m in answers
            )
            closed_4400 = last["type"] == "closed" and last.get("code") in {4400, 4404}
            if not (errored or closed_4400):
                problems.append(f"not refused: {text[:200]}")
            if last["type"] == "closed" and not closed_4400:
                problems.append(f"closed {last.get('code')} {last.get('reason')}")
            if last["type"] == "timeout":
                problems.append("no answer within 5 s")
            if MASKED in text:
                problems.append("an unexpected server exception (masked)")
            if found := leaks(text):
                problems.append(f"internals: {found}")
            if "match" in entry and errored and entry["match"].lower() not in text.lower():
                problems.append(f"message lacks {entry['match']!r}: {text[:160]}")
            if elapsed > MAX_ANSWER_S:
                problems.append(f"answered in {elapsed:.1f} s")
            if last["type"] != "closed" and not await ws.sane():
                problems.append("the socket stopped answering after the refusal")
        if tracebacks(sv) > before:
            problems.append("a traceback was logged")
        refused += not problems
        results[name] = problems
    return {"cases": len(cases), "refused": refused, "problems": {k: v for k, v in results.items() if v}}


class HostileGraphQL:
    NAME = "hostile-graphql"
    TITLE = "tests/corpora/graphql.json against a real `studio serve` over HTTP and websockets"

    async def run(self, runs: int) -> Outcome:
        corpus: list[dict[str, Any]] = json.loads((CORPORA / "graphql.json").read_text(encoding="utf-8"))
        workflows = models.Workflow.__table__
        async with services(worker=True) as sv:
            token = sv.a.tokens[Role.ADMIN]
            answers: list[Answer] = []
            async with fresh_client(sv.base) as client:
                for entry in corpus:
                    before = tracebacks(sv)
                    started = time.perf_counter()
                    try:
                        status, text = await send_graphql(client, entry, token)
                    except httpx.HTTPError as exc:
                        status, text = 0, type(exc).__name__
                    answers.append(Answer(entry["id"], status, text, time.perf_counter() - started))
                    answers[-1].tracebacks = tracebacks(sv) - before
                control = await client.post(
                    "/graphql",
                    json={"query": CREATE_CONTROL, "variables": {"n": "control-graphql"}},
                    headers={"Authorization": f"Bearer {token}"},
                )
            ws = await graphql_over_ws(sv, corpus, token)
            async with fresh_client(sv.base) as client:
                me = await client.post(
                    "/graphql", json={"query": "{ me { role } }"}, headers={"Authorization": f"Bearer {token}"}
                )
            alive = (
                sv.alive() and me.status_code == 200 and me.json().get("data", {}).get("me", {}).get("role") == "ADMIN"
            )
            written = await count_rows(
                sv.observer, sa.select(sa.func.count()).where(workflows.c.name.like("hostile-%"))
            )
            controls = await count_rows(
                sv.observer, sa.select(sa.func.count()).where(workflows.c.name == "control-graphql")
            )
        by_id = {entry["id"]: entry for entry in corpus}
        verdicts = {a.entry: judge(by_id[a.entry], a) for a in answers}
        hostile = [a for a in answers if by_id[a.entry].get("expect") != "answer"]
        harmless = [a for a in answers if by_id[a.entry].get("expect") == "answer"]
        server_errors = [a for a in answers if a.status == 0 or a.status >= 500]
        leaked = [a for a in answers if leaks(a.text) or MASKED in a.text or a.tracebacks]
        slow = max(answers, key=lambda a: a.seconds)
        print("| category | entries | refused as expected |\n| --- | ---: | ---: |")
        categories = sorted({entry["category"] for entry in corpus})
        for category in categories:
            mine = [a for a in answers if by_id[a.entry]["category"] == category]
            print(f"| {category} | {len(mine)} | {sum(not verdicts[a.entry] for a in mine)} |")
        for a in answers:
            if verdicts[a.entry]:
                print(f"  {a.entry}: {'; '.join(verdicts[a.entry])}")
        for name, problems in ws["problems"].items():
            print(f"  websocket {name}: {'; '.join(problems)}")
        print(
            f"entries {len(corpus)} (hostile {len(hostile)}, harmless {len(harmless)}); slowest answer "
            f"{slow.seconds:.2f} s ({slow.entry}); corpus rows written {written}; control rows {controls}; "
            f"websocket {ws['refused']}/{ws['cases']} refused cleanly"
        )
        outcome = Outcome(
            figures={
                "entries": str(len(corpus)),
                "refused": f"{sum(not verdicts[a.entry] for a in hostile)}/{len(hostile)}",
                "5xx/dropped": str(len(server_errors)),
                "leaks": str(len(leaked)),
                "rows written": str(written),
                "ws refused": f"{ws['refused']}/{ws['cases']}",
                "slowest s": f"{slow.seconds:.2f}",
            }
        )
        outcome.check("0 answers >= 500 or dropped connections", not server_errors)
        outcome.check(
            "every hostile document refused (4xx or GraphQL errors) with the expected message",
            all(not verdicts[a.entry] or all(p.startswith("answered in") for p in verdicts[a.entry]) for a in hostile),
        )
        outcome.check("the harmless controls in the corpus answered", all(not verdicts[a.entry] for a in harmless))
        outcome.check("no internals (traceback, ORM, paths, masked exceptions) in answers or the log", not leaked)
        outcome.check(f"every answer within {MAX_ANSWER_S:g} s (no expansion work)", slow.seconds <= MAX_ANSWER_S)
        outcome.check(
            "no corpus mutation wrote a row (refused before any resolver), the control wrote its one",
            written == 0 and controls == 1 and control.status_code == 200,
        )
        outcome.check("every websocket bomb refused and the socket still sane", not ws["problems"])
        outcome.check("the server is up and answering afterwards", alive)
        return outcome


# ================================================================================================= hostile-jwt


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Forger:
    """Builds a recipe's ``Authorization`` value from the server's real secret and real users."""

    settings: Settings
    subjects: dict[str, tuple[uuid.UUID, uuid.UUID]]  # name -> (user id, tenant id)
    tenant_b: uuid.UUID
    admin: uuid.UUID

    def key(self, name: str) -> bytes:
        secret = self.settings.jwt_key()
        return {
            "server": secret,
            "other": "another-signing-key-" + "z" * 40,
            "empty": "",
            "half": secret[: len(secret) // 2],
            "attacker": "attacker",
        }[name].encode()

    def claims(self, recipe: dict[str, Any]) -> dict[str, Any]:
        user, tenant = self.subjects[recipe.get("subject", "viewer")]
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": str(user),
            "tenant_id": str(tenant),
            "role": Role.VIEWER.value,
            "iat": now,
            "exp": now + 600,
            "iss": self.settings.jwt_issuer,
            "aud": self.settings.jwt_audience,
        }
        for name, value in recipe.get("set", {}).items():
            claims[name] = self.value(value, claims)
        for name in recipe.get("drop", []):
            claims.pop(name, None)
        return claims

    def value(self, value: Any, claims: dict[str, Any]) -> Any:
        if not isinstance(value, str) or not value.startswith("$"):
            return value
        now = int(time.time())
        if value.startswith("$now"):
            return now + int(value[4:] or 0)
        if value.startswith("$pad:"):
            return "p" * int(value[5:])
        return {
            "$tenant": claims.get("tenant_id"),
            "$tenant_a": str(self.subjects["viewer"][1]),
            "$tenant_b": str(self.tenant_b),
            "$admin": str(self.admin),
        }[value]

    def token(self, recipe: dict[str, Any]) -> str:
        if "token" in recipe:
            literal = str(recipe["token"])
            return "p" * int(literal[5:]) if literal.startswith("$pad:") else literal
        honest = self.claims({k: v for k, v in recipe.items() if k not in {"set", "drop"}})
        claims = self.claims(recipe)
        header = {"alg": "HS256", "typ": "JWT", **recipe.get("header", {})}
        header = {k: v for k, v in header.items() if v is not None}
        key = self.key(recipe.get("key", "server"))
        sign = recipe.get("sign", "pyjwt")
        if sign == "pyjwt" and not key:
            sign = "hmac-sha256"  # PyJWT refuses an empty key: sign by hand
        if sign == "pyjwt" and "payload_raw" not in recipe and "header_raw" not in recipe:
            extra = {k: v for k, v in header.items() if k not in {"alg", "typ"}}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # short keys (the recipes' wrong ones) are the point
                token = jwt.encode(claims, key, algorithm=header["alg"], headers=extra or None)
        else:
            head = b64(recipe["header_raw"].encode()) if "header_raw" in recipe else b64(json.dumps(header).encode())
            if "payload_raw" in recipe:
                raw = recipe["payload_raw"]
                for name, value in {
                    "$sub": claims["sub"],
                    "$tenant": claims["tenant_id"],
                    "$iss": claims["iss"],
                    "$aud": claims["aud"],
                    "$now": str(claims["iat"]),
                    "$exp": str(claims["exp"]),
                }.items():
                    raw = raw.replace(name, str(value))
                body = b64(raw.encode())
            else:
                body = b64(json.dumps(claims).encode())
            signing_input = f"{head}.{body}"
            if sign == "none":
                signature = ""
            elif sign == "original":
                signature = jwt.encode(honest, self.key("server"), algorithm="HS256").rsplit(".", 1)[1]
            else:
                digest = {"pyjwt": "sha256", "hmac-sha256": "sha256", "hmac-sha384": "sha384", "hmac-sha512": "sha512"}[
                    sign
                ]
                signature = b64(hmac.new(key, signing_input.encode(), digest).digest())
            token = f"{signing_input}.{signature}"
        for shape in recipe.get("shape", []):
            token = reshape(token, shape)
        return token

    def authorization(self, recipe: dict[str, Any]) -> str:
        return str(recipe.get("authorization", "Bearer {token}")).replace("{token}", self.token(recipe))


def reshape(token: str, shape: str) -> str:
    head, body, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    std = base64.b64encode(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))).decode()
    return {
        "drop-signature": f"{head}.{body}",
        "extra-segment": f"{token}.{signature}",
        "empty-signature": f"{head}.{body}.",
        "truncate-signature": token[:-4],
        "flip-signature": f"{head}.{body}.{flipped}",
        "pad-header": f"{head}==.{body}.{signature}",
        "pad-payload": f"{head}.{body}==.{signature}",
        "pad-signature-3": f"{token}===",
        "std-base64-signature": f"{head}.{body}.{std}",
        "space-inside": f"{head}. {body}.{signature}",
    }[shape]


ME = "{ me { role user { id } tenant { id } } }"


@dataclass
class Verdict:
    recipe: str
    expect: str
    http_status: int
    http_accepted: bool
    http_role: str | None
    ws: str  # "ack", "4403", "4400", … or what else happened
    problems: list[str] = field(default_factory=list)


async def try_jwt(sv: Services, client: httpx.AsyncClient, recipe: dict[str, Any], authorization: str) -> Verdict:
    expect = recipe.get("expect", "reject")
    problems: list[str] = []
    header = authorization.encode("latin-1", "replace")
    before = tracebacks(sv)
    try:
        response = await client.post("/graphql", json={"query": ME}, headers=[(b"authorization", header)])
        status, text = response.status_code, response.text
    except httpx.HTTPError as exc:
        status, text = 0, type(exc).__name__
    role = None
    try:
        body = json.loads(text)
        me = (body.get("data") or {}).get("me")
        role = me["role"] if me else None
        codes = [(e.get("extensions") or {}).get("code") for e in body.get("errors") or []]
    except (ValueError, AttributeError, TypeError):
        codes = []
    accepted = status == 200 and role is not None
    if status == 0 or status >= 500:
        problems.append(f"HTTP {status or 'dropped'}")
    if not accepted and status == 200 and codes[:1] != ["UNAUTHENTICATED"]:
        problems.append(f"refused without UNAUTHENTICATED: {text[:160]}")
    credential = authorization.partition(" ")[2] or authorization
    echoed = [part for part in credential.split(".") if len(part) >= 16 and part in text]
    if echoed or (len(credential) >= 16 and credential in text):
        problems.append("the answer echoes the credential")
    if found := leaks(text):
        problems.append(f"internals: {found}")
    ws_outcome = "skipped"
    if len(authorization) < 60_000:  # the 64 KiB value is an HTTP header test
        ws_outcome = await ws_init(sv, {"authorization": authorization})
    if ws_outcome not in {"ack", "4403", "skipped"}:
        problems.append(f"websocket: {ws_outcome}")
    if tracebacks(sv) > before:
        problems.append("a traceback was logged")
    ws_accepted = ws_outcome == "ack"
    if expect == "reject" and (accepted or ws_accepted):
        problems.append(f"ACCEPTED (HTTP role {role}, websocket {ws_outcome})")
    if expect == "accept" and not (accepted and ws_accepted and role == Role.VIEWER.value):
        problems.append(f"an honest token was refused (HTTP {status} {text[:120]}, websocket {ws_outcome})")
    if expect == "accept-as-viewer" and (role not in {None, Role.VIEWER.value}):
        problems.append(f"the token's role was believed: {role}")
    return Verdict(recipe["id"], expect, status, accepted, role, ws_outcome, problems)


async def ws_init(sv: Services, payload: Any) -> str:
    """How the server answers a ``connection_init`` with ``payload``: "ack", or the close code."""
    try:
        async with Ws(sv.ws) as ws:
            answer = await ws.init(payload)
    except (OSError, ConnectionClosed, InvalidStatus) as exc:
        return f"connect failed: {type(exc).__name__}"
    if answer["type"] == "connection_ack":
        return "ack"
    if answer["type"] == "closed":
        return str(answer.get("code"))
    return json.dumps(answer)[:100]


WS_INIT_PAYLOADS: dict[str, Any] = {
    "authorization-number": {"authorization": 123},
    "authorization-list": {"authorization": ["Bearer x"]},
    "authorization-object": {"authorization": {"Bearer": "x"}},
    "authorization-null": {"authorization": None},
    "payload-missing": None,
    "payload-list": ["Bearer x"],
    "payload-string": "Bearer x",
}


class HostileJWT:
    NAME = "hostile-jwt"
    TITLE = "tests/corpora/jwt.json: forged, broken and stale tokens over HTTP and in connection_init"

    async def run(self, runs: int) -> Outcome:
        recipes: list[dict[str, Any]] = json.loads((CORPORA / "jwt.json").read_text(encoding="utf-8"))
        async with services(worker=False) as sv:
            async with sv.state.sessions.begin() as s:
                disabled = await tenants.create_user(s, sv.a.id, f"disabled@{sv.a.slug}.example", PASSWORD, Role.VIEWER)
                deleted = await tenants.create_user(s, sv.a.id, f"deleted@{sv.a.slug}.example", PASSWORD, Role.VIEWER)
            forger = Forger(
                sv.settings,
                subjects={
                    "viewer": (sv.a.users[Role.VIEWER], sv.a.id),
                    "disabled": (disabled.id, sv.a.id),
                    "deleted": (deleted.id, sv.a.id),
                    "unknown": (uuid.uuid4(), sv.a.id),
                    "tenant-b-admin": (sv.b.users[Role.ADMIN], sv.b.id),
                },
                tenant_b=sv.b.id,
                admin=sv.a.users[Role.ADMIN],
            )
            # Both tokens are signed while their users are live: afterwards one is disabled and one deleted.
            authorizations = {recipe["id"]: forger.authorization(recipe) for recipe in recipes}
            async with sv.state.sessions.begin() as s:
                await s.execute(sa.update(models.User).where(models.User.id == disabled.id).values(active=False))
                await s.execute(sa.delete(models.User).where(models.User.id == deleted.id))
            verdicts = []
            async with fresh_client(sv.base) as client:
                for recipe in recipes:
                    verdicts.append(await try_jwt(sv, client, recipe, authorizations[recipe["id"]]))
            init_outcomes = {name: await ws_init(sv, payload) for name, payload in WS_INIT_PAYLOADS.items()}
            alive = sv.alive()
        print("| recipe | expect | HTTP | accepted | websocket | problems |\n| --- | --- | ---: | --- | --- | --- |")
        for v in verdicts:
            print(
                f"| {v.recipe} | {v.expect} | {v.http_status} | {v.http_role or '-'} | {v.ws} |"
                f" {'; '.join(v.problems) or 'ok'} |"
            )
        for name, answer in init_outcomes.items():
            print(f"  connection_init {name}: {answer}")
        forged = [v for v in verdicts if v.expect == "reject"]
        accepted = [v for v in forged if v.http_accepted or v.ws == "ack"]
        server_errors = [v for v in verdicts if v.http_status == 0 or v.http_status >= 500]
        controls = [v for v in verdicts if v.expect == "accept"]
        outcome = Outcome(
            figures={
                "recipes": str(len(verdicts)),
                "forged accepted": f"{len(accepted)}/{len(forged)}",
                "5xx": str(len(server_errors)),
                "controls accepted": f"{sum(not v.problems for v in controls)}/{len(controls)}",
            }
        )
        outcome.check("0 forged or broken tokens accepted (HTTP or websocket)", not accepted)
        outcome.check("0 answers >= 500 or dropped", not server_errors)
        outcome.check(
            "the honest control tokens are accepted (so a refusal can fail)", all(not v.problems for v in controls)
        )
        outcome.check(
            "every refusal is UNAUTHENTICATED / 4403, echoes no credential, logs no traceback",
            all(not v.problems for v in verdicts),
        )
        outcome.check(
            "malformed connection_init payloads are refused (4403/4400), never accepted",
            all(answer in {"4403", "4400"} for answer in init_outcomes.values()),
        )
        outcome.check("the server is up afterwards", alive)
        return outcome


# ============================================================================================ hostile-webhooks

HOOKED = {
    "nodes": [
        {"id": "start", "type": "trigger.webhook", "config": {}},
        {"id": "echo", "type": "transform", "config": {"value": "{{ input }}"}},
    ],
    "edges": [{"source": "start", "target": "echo"}],
}
CREATE_HOOK = """mutation($w: ID!, $input: WebhookInput) { createWebhook(workflowId: $w, input: $input) {
  webhook { id } secret errors { code message } } }"""
ROTATE_HOOK = "mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret errors { code message } } }"
UPDATE_HOOK = """mutation($id: ID!, $input: WebhookUpdateInput!) { updateWebhook(id: $id, input: $input) {
  webhook { enabled } errors { code } } }"""


@dataclass
class Hook:
    id: str
    auth: str
    secret: str | None
    previous: str | None = None


async def gql(client: httpx.AsyncClient, token: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers={"Authorization": f"Bearer {token}"}
    )
    body: dict[str, Any] = response.json()
    if body.get("errors"):
        raise RuntimeError(f"{query[:40]}…: {body['errors']}")
    data: dict[str, Any] = body["data"]
    return data


async def make_hooks(sv: Services, client: httpx.AsyncClient) -> tuple[dict[str, Hook], uuid.UUID]:
    """The webhooks the corpus names, made through the API (rotation and disabling too), on one workflow."""
    workflow_id = await publish(sv, HOOKED, "hooked")
    token = sv.a.tokens[Role.EDITOR]
    hooks: dict[str, Hook] = {}
    for name, auth in [
        ("standard", "STANDARD"),
        ("standard2", "STANDARD"),
        ("github", "GITHUB"),
        ("stripe", "STRIPE"),
        ("rotated", "STANDARD"),
        ("expired", "STANDARD"),
        ("none", "NONE"),
        ("disabled", "STANDARD"),
    ]:
        made = (await gql(client, token, CREATE_HOOK, {"w": str(workflow_id), "input": {"auth": auth}}))[
            "createWebhook"
        ]
        hooks[name] = Hook(made["webhook"]["id"], auth, made["secret"])
    for name in ("rotated", "expired"):
        rotated = (await gql(client, token, ROTATE_HOOK, {"id": hooks[name].id}))["rotateWebhookSecret"]
        hooks[name].previous, hooks[name].secret = hooks[name].secret, rotated["secret"]
    # The overlap of "expired" ended a second ago (no delivery has reached it yet, so no process caches it).
    async with sv.state.sessions.begin() as s:
        await s.execute(
            sa.update(models.Webhook)
            .where(models.Webhook.id == uuid.UUID(hooks["expired"].id))
            .values(previous_secret_expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    await gql(client, token, UPDATE_HOOK, {"id": hooks["disabled"].id, "input": {"enabled": False}})
    hooks["unknown"] = Hook(str(uuid.uuid4()), "STANDARD", hooks["standard"].secret)
    hooks["not-a-uuid"] = Hook("not-a-uuid", "STANDARD", hooks["standard"].secret)
    return hooks, workflow_id


async def publish(sv: Services, definition: dict[str, Any], name: str, tenant: Tenant | None = None) -> uuid.UUID:
    tenant = tenant or sv.a
    actor = Principal(tenant_id=tenant.id, role=Role.ADMIN, user_id=tenant.users[Role.ADMIN])
    async with sv.state.sessions.begin() as s:
        row = await store_workflows.create(
            s, tenant.id, actor, sv.state.registry, name=name, description=None, definition=definition
        )
        await store_workflows.publish(s, tenant.id, actor, sv.state.registry, row.id, None)
    return row.id


async def publish_unchecked(sv: Services, definition: dict[str, Any], name: str) -> uuid.UUID:
    """Tenant A's workflow whose version 1 is ``definition`` as a version published before the template checks
    existed (publishing refuses templates the sandbox would refuse now): the runtime sandbox must still hold
    against it. The draft saves (template errors do not block a save); the version row is written directly."""
    actor = Principal(tenant_id=sv.a.id, role=Role.ADMIN, user_id=sv.a.users[Role.ADMIN])
    async with sv.state.sessions.begin() as s:
        row = await store_workflows.create(
            s, sv.a.id, actor, sv.state.registry, name=name, description=None, definition=definition
        )
        s.add(models.WorkflowVersion(tenant_id=sv.a.id, workflow_id=row.id, version=1, definition=definition))
    return row.id


def delivery_request(entry: dict[str, Any], hooks: dict[str, Hook], now: int) -> tuple[str, bytes, dict[str, str]]:
    """The path, body and headers of a corpus delivery."""
    hook = hooks[entry["hook"]]
    if "body_text" in entry:
        body = entry["body_text"].encode()
    elif "body_spec" in entry:
        body = dump(entry["body_spec"]).encode()
    else:
        body = json.dumps(entry["body"]).encode()
    signed_body = json.dumps(entry["sign_body"]).encode() if "sign_body" in entry else body
    other = hooks["standard2" if entry["hook"] != "standard2" else "standard"].secret or ""
    choice = entry.get("secret", "current")
    wrong = "whsec_" + base64.b64encode(b"w" * 32).decode() if hook.auth == "STANDARD" else "wrong-secret"
    chosen = {"current": hook.secret, "previous": hook.previous, "wrong": wrong, "other-hook": other}
    keys = [chosen[c] or "" for c in choice.split("+")]
    stamp = now + int(entry.get("stamp", 0))
    msg_id = str(entry.get("msg_id") or f"msg_{secrets.token_hex(6)}")
    if msg_id.startswith("$long:"):
        msg_id = "m" * int(msg_id[6:])
    form = entry.get("signature_form")
    scheme = entry.get("scheme", hook.auth.lower())
    headers: dict[str, str] = {"content-type": "application/json"}
    bad = ["v1," + base64.b64encode(secrets.token_bytes(32)).decode() for _ in range(entry.get("extra_signatures", 0))]
    if scheme == "standard":
        sign_id = entry.get("sign_id", msg_id)
        good = [sign_standard(k, sign_id, stamp, signed_body) for k in keys]
        digest = good[0].partition(",")[2]
        if form == "bare":
            good = [digest]
        elif form == "v2":
            good = ["v2," + digest]
        elif form == "hex":
            good = ["v1," + base64.b64decode(digest).hex()]
        shown = str(stamp + int(entry.get("stamp_header_offset", 0)))
        raw_stamp = entry.get("stamp_raw")
        if raw_stamp is not None:
            shown = {"$ms": str(now * 1000), "$huge": "9" * 400}.get(raw_stamp, raw_stamp)
        headers |= {"webhook-id": msg_id, "webhook-timestamp": shown, "webhook-signature": " ".join(bad + good)}
    elif scheme == "github":
        signature = sign_github(keys[0], signed_body)
        if form == "sha1":
            headers["x-hub-signature"] = "sha1=" + hmac.new(keys[0].encode(), signed_body, "sha1").hexdigest()
        elif form == "bare":
            headers["x-hub-signature-256"] = signature.removeprefix("sha256=")
        elif form == "doubled":
            headers["x-hub-signature-256"] = f"{signature},{signature}"
        else:
            headers["x-hub-signature-256"] = signature
        if "msg_id" in entry:
            headers["x-github-delivery"] = msg_id
    elif scheme == "stripe":
        digest = sign_stripe(keys[0], stamp, signed_body).partition(",v1=")[2]
        wrong_v1 = [f"v1={secrets.token_hex(32)}" for _ in range(entry.get("extra_signatures", 0))]
        headers["stripe-signature"] = {
            "no-t": f"v1={digest}",
            "v0": f"t={stamp},v0={digest}",
            "t-garbage": f"t=soon,v1={digest}",
        }.get(form or "", ",".join([f"t={stamp}", *wrong_v1, f"v1={digest}"]))
    if "signature_raw" in entry:
        headers["webhook-signature"] = entry["signature_raw"]
    for name in entry.get("drop", []):
        headers.pop(name, None)
    headers |= entry.get("headers", {})
    return f"/hooks/{hook.id}{entry.get('query', '')}", body, headers


class HostileWebhooks:
    NAME = "hostile-webhooks"
    TITLE = "tests/corpora/webhooks.json: signatures, replays and bodies against real Standard, GitHub and Stripe hooks"

    async def run(self, runs: int) -> Outcome:
        corpus: list[dict[str, Any]] = json.loads((CORPORA / "webhooks.json").read_text(encoding="utf-8"))
        async with services(worker=True) as sv, fresh_client(sv.base) as client:
            hooks, workflow_id = await make_hooks(sv, client)
            results: list[tuple[dict[str, Any], int, str, list[str]]] = []
            for entry in corpus:
                path, body, headers = delivery_request(entry, hooks, int(time.time()))
                before = tracebacks(sv)
                try:
                    response = await client.post(path, content=body, headers=headers)
                    status, text = response.status_code, response.text
                except httpx.HTTPError as exc:
                    status, text = 0, type(exc).__name__
                problems = []
                if status == 0 or status >= 500:
                    problems.append(f"status {status or 'dropped'}")
                if tracebacks(sv) > before:
                    problems.append("a traceback was logged")
                if found := leaks(text):
                    problems.append(f"internals: {found}")
                if any(h.secret and h.secret in text for h in hooks.values()):
                    problems.append("a secret in the answer")
                took = status in {200, 202}
                if took != entry["valid"]:
                    problems.append(f"{'accepted' if took else 'refused'} ({status} {text[:140]})")
                if not took and "status" in entry and status != entry["status"]:
                    problems.append(f"status {status}, expected {entry['status']}: {text[:140]}")
                if not took and status and not _errors(text)[0]:
                    problems.append(f"a refusal without a JSON error: {text[:140]}")
                results.append((entry, status, text, problems))
            runs_table = models.Run.__table__
            stored = await count_rows(
                sv.observer, sa.select(sa.func.count()).where(runs_table.c.workflow_id == workflow_id)
            )
            alive = sv.alive()
        accepted = [(e, t) for e, status, t, _ in results if status in {200, 202}]
        deliveries: set[str] = set()
        for index, (entry, _) in enumerate(accepted):
            deliveries.add(entry["delivery"] if entry.get("delivery") else f"unkeyed-{index}")
        run_ids = {json.loads(t).get("run_id") for _, t in accepted}
        valid = [e for e in corpus if e["valid"]]
        statuses: dict[int, int] = {}
        for result in results:
            statuses[result[1]] = statuses.get(result[1], 0) + 1
        for entry, _, _, problems in results:
            if problems:
                print(f"  {entry['id']}: {'; '.join(problems)}")
        print(
            f"deliveries {len(corpus)} (valid {len(valid)}); answers "
            + ", ".join(f"{code}: {n}" for code, n in sorted(statuses.items()))
            + f"; accepted {len(accepted)}; distinct deliveries {len(deliveries)}; run ids {len(run_ids)};"
            f" runs stored {stored}"
        )
        server_errors = [r for r in results if r[1] == 0 or r[1] >= 500]
        outcome = Outcome(
            figures={
                "deliveries": str(len(corpus)),
                "accepted": f"{len(accepted)} (valid {len(valid)})",
                "runs": f"{stored} for {len(deliveries)} distinct",
                "5xx": str(len(server_errors)),
            }
        )
        outcome.check(
            "the accepted set is exactly the valid deliveries",
            {e["id"] for e, _ in accepted} == {e["id"] for e in valid},
        )
        outcome.check(
            "runs stored == distinct accepted deliveries (re-sends add none)",
            stored == len(deliveries) == len(run_ids),
        )
        outcome.check("0 answers >= 500 or dropped", not server_errors)
        outcome.check(
            "every refusal has the expected status and a JSON reason; no secret, internals or traceback",
            all(not problems for *_, problems in results),
        )
        outcome.check("the server is up afterwards", alive)
        return outcome


# =============================================================================================== hostile-nodes


def local_address() -> str:
    """A non-loopback IPv4 address of this machine (the one a default route would use)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the route's source address
        address = str(probe.getsockname()[0])
    if ipaddress.ip_address(address).is_loopback:
        raise RuntimeError("this machine has no non-loopback address: the SSRF control cannot be reached")
    return address


@dataclass
class Recorder:
    """An HTTP/1.1 server on every local address (0.0.0.0 and ::, one port) that records each connection's
    local address and each request: a connection to loopback can only come from an entry the guard let through."""

    port: int = 0
    connections: list[str] = field(default_factory=list)  # the local address each connection arrived at
    requests: list[tuple[str, str]] = field(default_factory=list)  # (local address, path)
    _servers: list[asyncio.Server] = field(default_factory=list)

    async def start(self) -> None:
        v4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        v4.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        v4.bind(("0.0.0.0", 0))  # noqa: S104 - the point: loopback and the allowed address alike
        self.port = v4.getsockname()[1]
        self._servers.append(await asyncio.start_server(self._serve, sock=v4))
        with contextlib.suppress(OSError):  # no IPv6 here: the v6 entries are then refused by the kernel too
            v6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            v6.bind(("::", self.port))
            self._servers.append(await asyncio.start_server(self._serve, sock=v6))

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
            await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        local = str(writer.get_extra_info("sockname")[0])
        self.connections.append(local)
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                event = await self._next(conn, reader)
                if not isinstance(event, h11.Request):
                    return
                while not isinstance(await self._next(conn, reader), h11.EndOfMessage):
                    pass
                url = urllib.parse.urlsplit(event.target.decode())
                self.requests.append((local, url.path))
                query = dict(urllib.parse.parse_qsl(url.query))
                parts = url.path.strip("/").split("/")
                status, headers, body = 200, [("content-type", "application/json")], b'{"ok": true}'
                if parts == ["to"]:
                    status, headers, body = int(query.get("code", "302")), [("location", query["url"])], b""
                elif parts == ["loop"]:
                    status, headers, body = 302, [("location", "/loop")], b""
                elif parts == ["nul"]:  # an answer PostgreSQL could not store as is
                    body = b'{"x": "a\\u0000b", "y": "\\udc00"}'
                elif parts[0] == "redirect" and len(parts) == 2 and int(parts[1]) > 0:
                    status, headers, body = 302, [("location", f"/redirect/{int(parts[1]) - 1}")], b""
                headers.append(("content-length", str(len(body))))
                writer.write(conn.send(h11.Response(status_code=status, headers=headers)))
                writer.write(conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage()))
                await writer.drain()
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()
        except (ConnectionError, h11.ProtocolError, ValueError):
            pass
        finally:
            writer.close()

    @staticmethod
    async def _next(conn: h11.Connection, reader: asyncio.StreamReader) -> Any:
        while (event := conn.next_event()) is h11.NEED_DATA:
            conn.receive_data(await reader.read(65536))
        return event


# The corpus's fake-DNS names have no answers here; those that point at loopback get a real name that does
# (``/etc/hosts``), the rest stay unresolvable (refused by resolution, which the figures count apart).
def _hosts_loopback_names() -> list[str]:
    names = []
    for candidate in (socket.gethostname(), "vm", "runsc", "ip6-localhost", "ip6-loopback"):
        with contextlib.suppress(OSError):
            answers = {str(info[4][0]) for info in socket.getaddrinfo(candidate, 80, proto=socket.IPPROTO_TCP)}
            if answers and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in answers):
                names.append(candidate)
    return list(dict.fromkeys(names))


def ssrf_urls(corpus: list[dict[str, Any]], port: int, allowed: str) -> list[dict[str, Any]]:
    """Each corpus entry as the URL a node gets: ``{port}`` is the recorder's; a redirect's first hop is the
    allowed address (so only the redirect target can be refused); fake-DNS names map to real loopback names."""
    loopback_names = _hosts_loopback_names()
    cases = []
    for index, entry in enumerate(corpus):
        url = entry["url"].replace("{port}", str(port))
        realised = True
        names = {**entry.get("dns", {})}
        if names:
            host = next(iter(names))
            loopback = any(ipaddress.ip_address(a).is_loopback for a in names[host])
            if loopback and loopback_names:
                name = loopback_names[index % len(loopback_names)]
                url = re.sub(re.escape(host), name.upper() + "." if host.endswith(".") else name, url, flags=re.I)
            else:
                realised = False
        if entry["category"] == "redirect":
            url = url.replace("public.test", allowed)
            if "redirect_to" in entry:
                target = entry["redirect_to"].replace("{port}", str(port)).replace("public.test", allowed)
                if "loopback.test" in target and loopback_names:
                    target = target.replace("loopback.test", loopback_names[0])
                url += "?" + urllib.parse.urlencode({"url": target, "code": entry["code"]})
        cases.append({**entry, "node": f"u{index}", "final_url": url, "realised": realised})
    return cases


def fan_out(nodes: list[dict[str, Any]], head: dict[str, Any] | None = None) -> dict[str, Any]:
    """A manual trigger, an optional head step, then every node in parallel; a failing node fails alone."""
    start = {"id": "start", "type": "trigger.manual", "config": {}}
    first = [start, head] if head else [start]
    edges = [{"source": "start", "target": head["id"]}] if head else []
    source = head["id"] if head else "start"
    edges += [{"source": source, "target": node["id"]} for node in nodes]
    return {"nodes": [*first, *({**n, "on_error": "continue"} for n in nodes)], "edges": edges}


async def run_and_wait(sv: Services, tenant: Tenant, workflow_id: uuid.UUID, input: Any, limit_s: float = 90) -> Any:
    run, _ = await sv.state.control.start_run(tenant.id, "hostile", workflow_id, input=input)
    runs = models.Run.__table__
    deadline = time.monotonic() + limit_s
    while True:
        async with sv.observer.connect() as conn:
            row = (await conn.execute(sa.select(runs).where(runs.c.id == run.id))).one()
        if RunStatus(row.status) in FINAL_RUN_STATUSES or time.monotonic() > deadline:
            return row
        await asyncio.sleep(0.2)


async def steps_of(sv: Services, run_id: uuid.UUID) -> dict[str, Any]:
    steps = models.Step.__table__
    async with sv.observer.connect() as conn:
        rows = await conn.execute(sa.select(steps).where(steps.c.run_id == run_id))
        return {row.step_id: row for row in rows}


CANARY_PASSWORD = "s3cret"  # noqa: S105 - the password in the SSRF corpus's user:password@ URLs
ESCAPES = ("/tmp/hostile-pwned.txt", "/tmp/hostile-pwned-input.txt")  # noqa: S108 - where the names try to write
SSTI_POSITIONS: dict[str, Callable[[str], Any]] = {
    "whole": lambda p: p,
    "embedded": lambda p: f"prefix {p} suffix",
    "nested": lambda p: {"node": {"config": [p]}},
}


def ssrf_nodes(cases: list[dict[str, Any]], allowed: str, port: int) -> list[dict[str, Any]]:
    timeouts = {"timeout_s": 5, "connect_timeout_s": 2}
    nodes = [{"id": c["node"], "type": "http.request", "config": {"url": c["final_url"], **timeouts}} for c in cases]
    # The control, and allowed targets whose answer or path holds U+0000 (the step must be stored, the run end).
    for node, path in (("control", "control"), ("control_nul_body", "nul"), ("control_nul_path", "x%00y")):
        nodes.append(
            {"id": node, "type": "http.request", "config": {"url": f"http://{allowed}:{port}/{path}", **timeouts}}
        )
    return nodes


def check_ssrf(cases: list[dict[str, Any]], steps: dict[str, Any], recorder: Recorder, allowed: str) -> dict[str, Any]:
    """Nothing but the controls and the allowed first hops of redirects reached the recorder."""
    allowed_paths = {"/control", "/to", "/loop", "/nul", "/x%00y"} | {f"/redirect/{n}" for n in range(1, 51)}
    kinds = {c["node"]: (steps[c["node"]].error or {}).get("type") for c in cases}
    return {
        "entries": len(cases),
        "realised": sum(c["realised"] for c in cases),
        "refused by the guard": sum(
            c["realised"] and kinds[c["node"]] in {"EgressDenied", "TooManyRedirects"} for c in cases
        ),
        "breaches": [local for local in recorder.connections if local != allowed],
        "followed": [path for local, path in recorder.requests if local == allowed and path not in allowed_paths],
        "succeeded": [c["final_url"] for c in cases if steps[c["node"]].status != StepStatus.FAILED],
        "wrong_kind": [
            f"{c['final_url']}: {kinds[c['node']]}" for c in cases if c["realised"] and kinds[c["node"]] != c["expect"]
        ],
        "canary": [c["node"] for c in cases if CANARY_PASSWORD in json.dumps(steps[c["node"]].error or {})],
        "control_ok": steps["control"].status == StepStatus.SUCCEEDED and (allowed, "/control") in recorder.requests,
        "nul_ok": all(steps[n].status == StepStatus.SUCCEEDED for n in ("control_nul_body", "control_nul_path")),
    }


def check_ssti(
    corpus: list[dict[str, Any]], steps: dict[str, Any], scope: dict[str, Any], leak_markers: tuple[str, ...]
) -> dict[str, Any]:
    """Each render rendered or failed with TemplateError, quickly, showing nothing of the runtime (as the pytest
    corpus test asserts: a result may echo scope data, an error may quote the template)."""
    scope_text = json.dumps(scope)
    problems, slowest, rendered, failed_safely = [], 0.0, 0, 0
    for i, entry in enumerate(corpus):
        for where in SSTI_POSITIONS:
            row, label = steps[f"t{i}_{where}"], f"{entry['payload'][:50]} ({where})"
            failed = row.status == StepStatus.FAILED
            text = json.dumps(row.error if failed else row.output, ensure_ascii=False)
            if row.started_at and row.finished_at:
                slowest = max(slowest, (row.finished_at - row.started_at).total_seconds())
            if row.status not in {StepStatus.SUCCEEDED, StepStatus.FAILED}:
                problems.append(f"{label}: {row.status}")
            elif failed and (row.error or {}).get("type") != "TemplateError":
                problems.append(f"{label}: failed with {(row.error or {}).get('type')}")
            elif not failed and entry.get("expect") == "TemplateError":  # e.g. a non-finite number
                problems.append(f"{label}: rendered, but the corpus expects a TemplateError")
            rendered += row.status == StepStatus.SUCCEEDED
            failed_safely += failed and (row.error or {}).get("type") == "TemplateError"
            for marker in leak_markers:
                if marker in text and not (marker in scope_text or (failed and marker in entry["payload"])):
                    problems.append(f"{label}: {marker!r} in {text[:120]}")
    return {
        "renders": len(corpus) * len(SSTI_POSITIONS),
        "literal": rendered,
        "failed safely": failed_safely,
        "problems": problems,
        "slowest_s": slowest,
    }


def storage_findings(root: Path, keys: set[str]) -> tuple[list[str], list[str]]:
    """Files under the storage root that no artifact row names, and escape targets that exist (blocking IO)."""
    on_disk = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} if root.exists() else set()
    return sorted(on_disk - keys), [p for p in ESCAPES if Path(p).exists()]


async def check_paths(sv: Services, names: list[dict[str, Any]], run_id: uuid.UUID) -> dict[str, Any]:
    """Every key is tenant/run/step/<name> and resolves inside the root; nothing else was written; each artifact
    downloads as an attachment with a safe file name."""
    artifacts = models.Artifact.__table__
    async with sv.observer.connect() as conn:
        rows = list(await conn.execute(sa.select(artifacts).where(artifacts.c.run_id == run_id)))
    root = Path(sv.settings.storage_url.removeprefix("file://"))
    real_root = await asyncio.to_thread(os.path.realpath, root)
    bad_keys = []
    for row in rows:
        segments = row.storage_key.split("/")
        resolved = await asyncio.to_thread(os.path.realpath, os.path.join(real_root, row.storage_key))
        if (
            segments[:3] != [str(sv.a.id), str(run_id), row.step_id]
            or len(segments) != 4
            or not resolved.startswith(real_root + os.sep)
        ):
            bad_keys.append(row.storage_key)
    stray, outside = await asyncio.to_thread(storage_findings, root, {row.storage_key for row in rows})
    steps = await steps_of(sv, run_id)
    refused = {
        names[int(step_id[1:])]["name"][:40]: (row.error or {}).get("type")
        for step_id, row in steps.items()
        if step_id.startswith("a") and row.status != StepStatus.SUCCEEDED
    }
    downloads = []
    async with fresh_client(sv.base) as client:
        for row in rows:
            headers = {"Authorization": f"Bearer {sv.a.tokens[Role.VIEWER]}"}
            response = await client.get(f"/artifacts/{row.id}", headers=headers)
            disposition = response.headers.get("content-disposition", "")
            if response.status_code != 200 or not re.fullmatch(r'attachment; filename="[A-Za-z0-9._-]+"', disposition):
                downloads.append(f"{row.name[:40]!r}: {response.status_code} {disposition[:80]}")
    return {
        "names": len(names),
        "stored": len(rows),
        "bad_keys": bad_keys,
        "stray": stray,
        "outside": outside,
        "refused": refused,
        "downloads": downloads,
    }


BOMB_STEPS, BOMB_RUN_LIMIT = 20, 8 * 1024 * 1024  # issue 17: 20 such transforms grew the database by 122 MB


def storage_bomb() -> dict[str, Any]:
    """A chain of transforms that each render 999,000 characters (just under the per-render limit)."""
    nodes = [{"id": "start", "type": "trigger.manual", "config": {}}] + [
        {"id": f"b{i}", "type": "transform", "config": {"value": "{{ 'a' * 999000 }}"}} for i in range(BOMB_STEPS)
    ]
    edges = [{"source": a["id"], "target": b["id"]} for a, b in itertools.pairwise(nodes)]
    return {"nodes": nodes, "edges": edges}


async def check_storage_bomb(sv: Services, run: Any) -> dict[str, Any]:
    """The run stopped at its stored-output quota, and the database holds no more than the quota for it."""

    def length(column: Any) -> Any:
        return sa.func.coalesce(sa.func.sum(sa.func.length(sa.cast(column, sa.Text))), 0)

    steps, events = models.Step.__table__, models.RunEvent.__table__
    async with sv.observer.connect() as conn:
        held = 0
        for column in (steps.c.input, steps.c.output, steps.c.error, steps.c.envelope, steps.c.state):
            held += int(await conn.scalar(sa.select(length(column)).where(steps.c.run_id == run.id)) or 0)
        held += int(await conn.scalar(sa.select(length(events.c.data)).where(events.c.run_id == run.id)) or 0)
    rows = await steps_of(sv, run.id)
    return {
        "status": run.status,
        "errors": sorted({(row.error or {}).get("type") for row in rows.values() if row.status == StepStatus.FAILED}),
        "succeeded": sum(row.status == StepStatus.SUCCEEDED for row in rows.values()) - 1,  # not the trigger
        "stored_bytes": run.stored_bytes,
        "held": held,
    }


async def hostile_nodes(sv: Services, recorder: Recorder, allowed: str) -> dict[str, Any]:
    """Three published workflows, one node per corpus entry (each ``on_error: continue``), run at once."""
    # The SSTI corpus test's own scope and markers of a leaked runtime object: a payload passes here exactly
    # when it passes ``test_ssti_payloads_cannot_escape``.
    from tests.shared.test_templates import LEAKS, make_scope

    ssrf_corpus = json.loads((CORPORA / "ssrf.json").read_text(encoding="utf-8"))
    ssti_corpus = json.loads((CORPORA / "ssti.json").read_text(encoding="utf-8"))
    names = json.loads((CORPORA / "paths.json").read_text(encoding="utf-8"))
    cases = ssrf_urls(ssrf_corpus, recorder.port, allowed)
    scope = make_scope()
    fetch = {"id": "fetch", "type": "transform", "config": {"value": scope["steps"]["fetch"]["output"]}}
    ssti_nodes = [
        {"id": f"t{i}_{where}", "type": "transform", "config": {"value": shape(entry["payload"])}}
        for i, entry in enumerate(ssti_corpus)
        for where, shape in SSTI_POSITIONS.items()
    ]
    artifact_nodes = [
        {"id": f"a{i}", "type": "artifact.write", "config": {"name": entry["name"], "content": f"artifact {i}"}}
        for i, entry in enumerate(names)
    ]
    ssrf_id = await publish(sv, fan_out(ssrf_nodes(cases, allowed, recorder.port)), "hostile-ssrf")
    ssti_id = await publish_unchecked(sv, fan_out(ssti_nodes, head=fetch), "hostile-ssti")
    paths_id = await publish(sv, fan_out(artifact_nodes), "hostile-paths")
    bomb_id = await publish(sv, storage_bomb(), "hostile-storage-bomb")
    started = time.monotonic()
    ssrf_run, ssti_run, paths_run, bomb_run = await asyncio.gather(
        run_and_wait(sv, sv.a, ssrf_id, None),
        run_and_wait(sv, sv.a, ssti_id, scope["input"]),
        run_and_wait(sv, sv.a, paths_id, {"name": "../../../../../../tmp/hostile-pwned-input.txt"}),
        run_and_wait(sv, sv.a, bomb_id, None),
    )
    elapsed = time.monotonic() - started
    ssti = check_ssti(ssti_corpus, await steps_of(sv, ssti_run.id), scope, LEAKS)
    ssti["input_unchanged"] = ssti_run.input == scope["input"]
    return {
        "elapsed_s": elapsed,
        "runs_final": all(RunStatus(r.status) in FINAL_RUN_STATUSES for r in (ssrf_run, ssti_run, paths_run, bomb_run)),
        "bomb": await check_storage_bomb(sv, bomb_run),
        "ssrf": check_ssrf(cases, await steps_of(sv, ssrf_run.id), recorder, allowed),
        "ssti": ssti,
        "paths": await check_paths(sv, names, paths_run.id),
    }


class HostileNodes:
    NAME = "hostile-nodes"
    TITLE = "SSRF, SSTI and artifact-path corpora through published workflows on a real worker"

    async def run(self, runs: int) -> Outcome:
        allowed = local_address()
        recorder = Recorder()
        await recorder.start()
        try:
            # Only the non-loopback address is allowed (the control's); 127.0.0.1 and ::1 stay refused.
            async with services(
                worker=True,
                STUDIO_HTTP_ALLOWED_HOSTS=f"{allowed}/32",
                STUDIO_MAX_RUN_OUTPUT_BYTES=str(BOMB_RUN_LIMIT),
            ) as sv:
                figures = await hostile_nodes(sv, recorder, allowed)
                alive = sv.alive()
                serve_tracebacks = tracebacks(sv)
        finally:
            await recorder.stop()
        ssrf, ssti, paths = figures["ssrf"], figures["ssti"], figures["paths"]
        print(
            f"SSRF: {ssrf['entries']} entries ({ssrf['realised']} realised here; the rest name hosts with no DNS"
            f" answer here), refused by the guard {ssrf['refused by the guard']}, connections to loopback"
            f" {len(ssrf['breaches'])}, redirect targets followed {len(ssrf['followed'])}, control"
            f" {'reached' if ssrf['control_ok'] else 'NOT reached'}"
        )
        for line in ssrf["wrong_kind"][:20]:
            print(f"  refused, but not as the corpus expects: {line}")
        print(
            f"SSTI: {ssti['renders']} renders: {ssti['literal']} rendered, {ssti['failed safely']} failed with"
            f" TemplateError; slowest step {ssti['slowest_s']:.2f} s; problems {len(ssti['problems'])}"
        )
        for line in ssti["problems"][:20]:
            print(f"  {line}")
        print(
            f"artifact names: {paths['names']} names, {paths['stored']} stored; keys outside tenant/run/step:"
            f" {len(paths['bad_keys'])}; stray files {len(paths['stray'])}; files outside the root {paths['outside']};"
            f" refused names {paths['refused']}; bad downloads {paths['downloads']}"
        )
        bomb = figures["bomb"]
        print(
            f"storage bomb ({BOMB_STEPS} transforms of 999,000 characters, run quota {BOMB_RUN_LIMIT:,} bytes):"
            f" {bomb['status']}, {bomb['succeeded']} steps kept, failed with {bomb['errors']}; stored_bytes"
            f" {bomb['stored_bytes']:,}, JSON text held {bomb['held']:,}"
        )
        print(f"all four runs final in {figures['elapsed_s']:.1f} s")
        outcome = Outcome(
            figures={
                "SSRF entries": str(ssrf["entries"]),
                "loopback connections": str(len(ssrf["breaches"])),
                "SSTI renders": str(ssti["renders"]),
                "SSTI leaks": str(len(ssti["problems"])),
                "artifact keys outside": str(len(paths["bad_keys"]) + len(paths["stray"]) + len(paths["outside"])),
            }
        )
        outcome.check(
            "0 connections from blocked SSRF entries reached the recorder (none on loopback, no target followed)",
            not ssrf["breaches"] and not ssrf["followed"] and not ssrf["succeeded"],
        )
        outcome.check("every realisable SSRF entry refused by the guard as the corpus expects", not ssrf["wrong_kind"])
        outcome.check("the control request to the allowed address succeeded", ssrf["control_ok"])
        outcome.check(
            "an answer or URL holding U+0000 is stored (as U+FFFD) and every run finishes",
            ssrf["nul_ok"] and figures["runs_final"],
        )
        outcome.check("no error repeats a URL's password", not ssrf["canary"])
        outcome.check(
            "every SSTI payload rendered literally or failed with TemplateError, leaking nothing, each step < 2 s",
            not ssti["problems"] and ssti["slowest_s"] < 2 and ssti["input_unchanged"],
        )
        outcome.check(
            "the storage bomb ends FAILED at its quota (OutputQuotaExceeded), the database holding at most the quota",
            bomb["status"] == RunStatus.FAILED
            and bomb["errors"] == ["OutputQuotaExceeded"]
            and bomb["held"] <= BOMB_RUN_LIMIT
            and bomb["stored_bytes"] <= BOMB_RUN_LIMIT + 4096,
        )
        outcome.check(
            "every artifact key under tenant/run/step, no stray file, nothing outside the root, downloads safe",
            not paths["bad_keys"] and not paths["stray"] and not paths["outside"] and not paths["downloads"],
        )
        outcome.check("no traceback in the API log; the processes are up", serve_tracebacks == 0 and alive)
        return outcome


# =========================================================================================== hostile-endpoints

UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def same_answer(a: tuple[int, str], b: tuple[int, str], *ids: str) -> bool:
    """Status and body equal once the ids asked about (and fresh uuids, such as a new message's) are masked."""

    def masked(text: str) -> str:
        for id in ids:
            text = text.replace(id, "<id>")
        return UUID_TEXT.sub("<uuid>", text)

    return a[0] == b[0] and masked(a[1]) == masked(b[1])


async def answer(response: Awaitable[httpx.Response]) -> tuple[int, str]:
    done = await response
    return done.status_code, done.text


class HostileEndpoints:
    NAME = "hostile-endpoints"
    TITLE = "id-taking HTTP routes with tenant A's credentials: B's ids answer exactly like ids that never existed"

    async def run(self, runs: int) -> Outcome:
        write = {"id": "write", "type": "artifact.write", "config": {"name": "secret-{{ run.id }}.txt", "content": "x"}}
        listen = {"nodes": [{"id": "start", "type": "trigger.message", "config": {"channel": "orders"}}], "edges": []}
        checks: dict[str, bool] = {}
        async with services(worker=True) as sv, fresh_client(sv.base) as client:
            artifacts, hook_ids, run_ids = {}, {}, {}
            for tenant in (sv.a, sv.b):
                workflow_id = await publish(sv, fan_out([write]), "writes", tenant)
                run = await run_and_wait(sv, tenant, workflow_id, None, limit_s=30)
                run_ids[tenant.slug] = str(run.id)
                table = models.Artifact.__table__
                async with sv.observer.connect() as conn:
                    artifacts[tenant.slug] = str(
                        await conn.scalar(sa.select(table.c.id).where(table.c.run_id == run.id))
                    )
                hooked = await publish(sv, HOOKED, "hooked", tenant)
                made = await gql(client, tenant.tokens[Role.EDITOR], CREATE_HOOK, {"w": str(hooked), "input": None})
                hook_ids[tenant.slug] = (made["createWebhook"]["webhook"]["id"], made["createWebhook"]["secret"])
            await publish(sv, listen, "listens", sv.b)
            a_art, b_art, never = artifacts[sv.a.slug], artifacts[sv.b.slug], str(uuid.uuid4())
            viewer = {"Authorization": f"Bearer {sv.a.tokens[Role.VIEWER]}"}
            # --- GET /artifacts/{id}: token of A
            mine = await client.get(f"/artifacts/{a_art}", headers=viewer)
            theirs = await answer(client.get(f"/artifacts/{b_art}", headers=viewer))
            missing = await answer(client.get(f"/artifacts/{never}", headers=viewer))
            garbage = await answer(client.get("/artifacts/not-an-id", headers=viewer))
            checks["/artifacts: A's id answers 200 with the file"] = mine.status_code == 200 and mine.content == b"x"
            checks["/artifacts: B's id == a random id == a malformed id (status and body)"] = (
                theirs[0] == 404 and same_answer(theirs, missing, b_art, never) and same_answer(missing, garbage)
            )
            # ... and A's signed link, re-aimed at B's artifact or at nothing
            link = await gql(
                client,
                sv.a.tokens[Role.VIEWER],
                "query($id: ID!) { run(id: $id) { artifacts { downloadUrl } } }",
                {"id": run_ids[sv.a.slug]},
            )
            query = link["run"]["artifacts"][0]["downloadUrl"].partition("?")[2]
            signed_mine = await client.get(f"/artifacts/{a_art}?{query}")
            signed_theirs = await answer(client.get(f"/artifacts/{b_art}?{query}"))
            signed_missing = await answer(client.get(f"/artifacts/{never}?{query}"))
            checks["/artifacts?signature: A's link works, re-aimed at B == at nothing"] = (
                signed_mine.status_code == 200 and same_answer(signed_theirs, signed_missing, b_art, never)
            )
            # --- POST /hooks/{id}: A's delivery (signed with A's secret) at A's, B's and a random id
            (a_hook, a_secret), (b_hook, _) = hook_ids[sv.a.slug], hook_ids[sv.b.slug]
            runs_table = models.Run.__table__

            async def deliver(hook_id: str) -> tuple[int, str]:
                body, stamp, msg = b'{"n": 1}', int(time.time()), f"msg_{secrets.token_hex(4)}"
                headers = {
                    "content-type": "application/json",
                    "webhook-id": msg,
                    "webhook-timestamp": str(stamp),
                    "webhook-signature": sign_standard(a_secret, msg, stamp, body),
                }
                return await answer(client.post(f"/hooks/{hook_id}", content=body, headers=headers))

            b_runs_before = await count_rows(
                sv.observer, sa.select(sa.func.count()).where(runs_table.c.tenant_id == sv.b.id)
            )
            hook_mine, hook_theirs, hook_missing = await deliver(a_hook), await deliver(b_hook), await deliver(never)
            await gql(
                client,
                sv.b.tokens[Role.EDITOR],
                "mutation($id: ID!) { deleteWebhook(id: $id) { errors { code } } }",
                {"id": b_hook},
            )
            await asyncio.sleep(ENDPOINT_TTL_S + 0.2)  # the API caches a webhook this long
            hook_deleted = await deliver(b_hook)
            b_runs_after = await count_rows(
                sv.observer, sa.select(sa.func.count()).where(runs_table.c.tenant_id == sv.b.id)
            )
            checks["/hooks: A's delivery at A's webhook starts a run (202)"] = hook_mine[0] == 202
            checks["/hooks: A's delivery at B's webhook is refused (401) and starts nothing in B"] = (
                hook_theirs[0] == 401 and b_runs_after == b_runs_before
            )
            checks["/hooks: B's deleted webhook == a random id == 404"] = hook_missing[0] == 404 and same_answer(
                hook_deleted, hook_missing, b_hook, never
            )
            # --- POST /messages/{channel}: A's operator, at the channel only B listens on and at an unused one
            operator = {"Authorization": f"Bearer {sv.a.tokens[Role.OPERATOR]}"}
            to_b = await answer(client.post("/messages/orders", json={"text": "hi"}, headers=operator))
            to_none = await answer(
                client.post(f"/messages/unused-{secrets.token_hex(3)}", json={"text": "hi"}, headers=operator)
            )
            b_runs_final = await count_rows(
                sv.observer, sa.select(sa.func.count()).where(runs_table.c.tenant_id == sv.b.id)
            )
            checks["/messages: B's channel from A starts nothing in B and answers like an unused channel"] = (
                to_b[0] == 202 and same_answer(to_b, to_none) and b_runs_final == b_runs_after
            )
            alive = sv.alive() and tracebacks(sv) == 0
        print(f"  artifacts: A {mine.status_code}, B {theirs}, random {missing}, malformed {garbage}")
        print(f"  signed link: A {signed_mine.status_code}, at B {signed_theirs}, at random {signed_missing}")
        print(f"  hooks: A {hook_mine[0]}, B {hook_theirs}, random {hook_missing}, B deleted {hook_deleted}")
        print(f"  messages: to B's channel {to_b}, to an unused one {to_none}")
        print(
            "  note: an enabled webhook's id is its public URL, so a delivery signed with another secret gets 401"
            " there and 404 at an unknown id; a deleted or disabled one answers exactly like an unknown one."
        )
        outcome = Outcome(figures={"routes": "artifacts, artifact links, hooks, messages", "checks": str(len(checks))})
        for bound, held in checks.items():
            outcome.check(bound, held)
        outcome.check("no traceback logged; the server is up", alive)
        return outcome


# ============================================================================================ hostile-schemas

VALIDATE = "query($d: JSON!) { validateDefinition(definition: $d) { path message code } }"
START = "mutation($w: ID!, $input: JSON) { startRun(workflowId: $w, input: $input) { run { id } errors { code } } }"
SEND = "mutation($c: String!, $t: String!) { sendMessage(channel: $c, text: $t) { runs { id } errors { code } } }"
SCHEMA_SECRET = "hostile-schema-secret-7d2e"  # noqa: S105 - what a fetched `$ref` (a service or a file) would quote back


async def stored_before_the_checks(sv: Services, definition: dict[str, Any], name: str) -> uuid.UUID:
    """A workflow of tenant A whose published version 1 is ``definition``, written as it was before save refused
    it (the rows an upgrade finds), so the corpus reaches the places a stored schema is used."""
    actor = Principal(tenant_id=sv.a.id, role=Role.ADMIN, user_id=sv.a.users[Role.ADMIN])
    control = {"nodes": [{"id": "start", "type": "trigger.manual", "config": {}}], "edges": []}
    async with sv.state.sessions.begin() as s:
        row = await store_workflows.create(
            s, sv.a.id, actor, sv.state.registry, name=name, description=None, definition=control
        )
        s.add(models.WorkflowVersion(tenant_id=sv.a.id, workflow_id=row.id, version=1, definition=definition))
    return row.id


async def graphql(client: httpx.AsyncClient, token: str, query: str, variables: dict[str, Any]) -> tuple[int, Any]:
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers={"Authorization": f"Bearer {token}"}
    )
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, response.text


async def healthz_gaps(base: str, stop: asyncio.Event) -> float:
    """The longest wait between two /healthz answers until ``stop``: how long the API's event loop was blocked."""
    longest, last = 0.0, time.monotonic()
    async with fresh_client(base, timeout_s=60) as client:
        while not stop.is_set():
            with contextlib.suppress(httpx.HTTPError):
                await client.get("/healthz")
            now = time.monotonic()
            longest, last = max(longest, now - last), now
            await asyncio.sleep(0.02)
    return longest


async def schema_entry(
    sv: Services, client: httpx.AsyncClient, entry: dict[str, Any], internal: str, file: str
) -> tuple[list[str], list[str], float]:
    """One corpus entry: validateDefinition, then the stored version through startRun and an unsigned webhook (or
    sendMessage). Returns what differed from the corpus, every answer's text, and the slowest answer (s)."""
    from tests import schema_corpus

    a = sv.a
    wrong: list[str] = []
    texts: list[str] = []
    channel = f"hostile-{secrets.token_hex(4)}"
    definition = schema_corpus.definition(entry, internal, file, channel)
    _, body = await graphql(client, a.tokens[Role.EDITOR], VALIDATE, {"d": definition})
    texts.append(json.dumps(body))
    found = [(p["path"], p["code"]) for p in (body.get("data") or {}).get("validateDefinition") or []]
    if found != schema_corpus.save_problems(entry):
        wrong.append(f"save answered {found}")
    workflow_id = await stored_before_the_checks(sv, definition, entry["id"])
    slowest = 0.0
    if entry["trigger"] == "message":
        started = time.monotonic()
        status, body = await graphql(
            client, a.tokens[Role.OPERATOR], SEND, {"c": channel, "t": schema_corpus.text(entry["text"])}
        )
        slowest = time.monotonic() - started
        texts.append(json.dumps(body))
        runs = ((body.get("data") or {}).get("sendMessage") or {}).get("runs") if isinstance(body, dict) else None
        if status != 200 or runs is None or len(runs) != entry["runs"]:
            wrong.append(f"sendMessage answered {status} {json.dumps(body)[:160]}")
        return wrong, texts, slowest
    payload = schema_corpus.input_json(entry, internal, file)
    started = time.monotonic()
    variables = {"w": str(workflow_id), "input": json.loads(payload)}
    status, body = await graphql(client, a.tokens[Role.OPERATOR], START, variables)
    slowest = time.monotonic() - started
    texts.append(json.dumps(body))
    errors = ((body.get("data") or {}).get("startRun") or {}).get("errors") if isinstance(body, dict) else None
    codes = [e["code"] for e in errors or []]
    if status != 200 or errors is None or (codes != [] if entry["use"] == "accepted" else codes[:1] != [entry["use"]]):
        wrong.append(f"startRun answered {status} {json.dumps(body)[:160]}")
    made = await gql(client, a.tokens[Role.EDITOR], CREATE_HOOK, {"w": str(workflow_id), "input": {"auth": "NONE"}})
    hook_id = made["createWebhook"]["webhook"]["id"]
    started = time.monotonic()
    headers = {"content-type": "application/json"}
    response = await client.post(f"/hooks/{hook_id}", content=payload.encode(), headers=headers)
    slowest = max(slowest, time.monotonic() - started)
    texts.append(response.text)
    expected = 202 if entry["use"] == "accepted" else 422
    code = (response.json().get("problems") or [{}])[0].get("code") if response.status_code == 422 else None
    if response.status_code != expected or (expected == 422 and code != entry["use"]):
        wrong.append(f"the webhook answered {response.status_code} {response.text[:160]}")
    return wrong, texts, slowest


class HostileSchemas:
    NAME = "hostile-schemas"
    TITLE = (
        "tests/corpora/schemas.json: remote $refs, ReDoS, multiplying schemas, at save and where stored ones are used"
    )

    async def run(self, runs: int) -> Outcome:
        from tests import schema_corpus

        corpus = schema_corpus.load()
        recorder = Recorder()  # every local address: a `$ref` to a service on the API's network would land here
        await recorder.start()
        results: dict[str, list[str]] = {}
        leaked: list[str] = []
        slowest: tuple[float, str] = (0.0, "")
        try:
            async with services(worker=True) as sv, fresh_client(sv.base, timeout_s=60) as client:
                secret_file = sv.tmp / "internal-config.json"
                secret_file.write_text(json.dumps({"const": SCHEMA_SECRET}))
                internal = f"http://127.0.0.1:{recorder.port}"
                stop = asyncio.Event()
                gaps = asyncio.create_task(healthz_gaps(sv.base, stop))
                for entry in corpus:
                    wrong, texts, took = await schema_entry(sv, client, entry, internal, secret_file.as_uri())
                    results[entry["id"]] = wrong
                    slowest = max(slowest, (took, entry["id"]))
                    leaked += [entry["id"] for t in texts if SCHEMA_SECRET in t or leaks(t)]
                stop.set()
                longest_gap = await gaps
                alive = sv.alive()
                serve_tracebacks = tracebacks(sv)
        finally:
            await recorder.stop()
        for entry_id, wrong in results.items():
            for line in wrong:
                print(f"  {entry_id}: {line}")
        refused = sum(bool(e["save"]) for e in corpus)
        print(
            f"entries {len(corpus)} ({refused} refused at save); answers not as the corpus expects:"
            f" {sum(map(bool, results.values()))}; fetches that reached the recorder {len(recorder.connections)};"
            f" answers quoting a fetched secret or internals {len(leaked)}; slowest answer {slowest[0]:.2f} s"
            f" ({slowest[1]}); longest /healthz gap {longest_gap:.2f} s"
        )
        outcome = Outcome(
            figures={
                "entries": str(len(corpus)),
                "fetches": str(len(recorder.connections)),
                "slowest answer": f"{slowest[0]:.2f} s",
                "/healthz gap": f"{longest_gap:.2f} s",
            }
        )
        outcome.check(
            "every entry refused at save as the corpus says, and its stored version answered as it says",
            not any(results.values()),
        )
        outcome.check("no `$ref` reached a service or a file (0 connections to the recorder)", not recorder.connections)
        outcome.check("no answer quotes a fetched secret or internals", not leaked)
        outcome.check(
            "no answer took 3 s, and /healthz never waited 1 s (the event loop was never blocked)",
            slowest[0] < 3 and longest_gap < 1,
        )
        outcome.check("no traceback in the API log; the processes are up", serve_tracebacks == 0 and alive)
        return outcome


SCENARIOS = [HostileGraphQL(), HostileJWT(), HostileWebhooks(), HostileNodes(), HostileEndpoints(), HostileSchemas()]
