"""Live subscriptions at scale, across tenants, and when credentials stop being valid.

``subscribers``: 500 graphql-transport-ws connections to a real ``studio serve`` process, 100 in each of five
tenants (ten per viewer), each following one run of its tenant (``runEvents``); ten per tenant also follow the
tenant's ``runUpdates``. Every connection also asks for another tenant's run (it must read as not found), one asks
for more subscriptions than a connection may hold, and one viewer opens a connection past the per-principal cap.
Counted: events delivered (p95 from commit to receipt), events lost or repeated against the database,
cross-tenant events, API memory per connection.

``revocation``: connections whose user is disabled, or whose token expires, while they follow live runs:
each socket must close (4401) within the re-check bound, and no event may arrive after the close.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jwt
import sqlalchemy as sa
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.common import percentile
from bench.engine import seed
from bench.subscriptions import DEFINITION, _rss_mb
from reliability.faults import _wait_final
from reliability.outcome import Measured, Outcome
from reliability.services import Studio, environment
from studio_shared.auth import encode_access_token
from studio_shared.db import models
from studio_shared.rbac import Role
from studio_shared.store import tenants

EVENTS = "subscription($id: ID!) { runEvents(runId: $id) { seq runId kind at final } }"
UPDATES = "subscription { runUpdates { id status } }"
TENANTS = 5
UPDATE_FOLLOWERS = 10
SUBSCRIPTION_LIMIT = 5
SOCKET_CAP = 20  # STUDIO_MAX_WS_PER_PRINCIPAL, its default
SOCKETS_PER_VIEWER = 10  # each tenant's connections are its viewers', ten each (under the per-principal cap)
REAUTH_S = 1.0
DELIVERY_P95_MS = 3000  # measured 450 to 1,060 ms at 500 sockets here; the bound catches a queue building up
TOKEN_LEEWAY_S = 5  # decode_access_token's allowance for clock skew


@dataclass
class Connection:
    """One socket: its own tenant, what it received, and how it ended."""

    tenant_id: uuid.UUID
    token: str
    ws: ClientConnection | None = None
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    received: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # subscription id -> payloads
    subscribed: dict[str, float] = field(default_factory=dict)  # subscription id -> when it was sent
    arrival: dict[str, list[float]] = field(default_factory=dict)
    done: dict[str, asyncio.Event] = field(default_factory=dict)
    closed_at: float | None = None
    closed_wall: float | None = None
    close_code: int | None = None
    reader: asyncio.Task[None] | None = None

    async def open(self, url: str) -> None:
        self.ws = await connect(url, subprotocols=["graphql-transport-ws"], max_queue=None)  # type: ignore[list-item]
        await self.ws.send(
            json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {self.token}"}})
        )
        ack = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
        if ack["type"] != "connection_ack":
            raise RuntimeError(f"not acknowledged: {ack}")
        self.reader = asyncio.create_task(self._read())

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        assert self.ws is not None
        id = str(next(self.ids))
        self.received[id], self.arrival[id], self.done[id] = [], [], asyncio.Event()
        self.subscribed[id] = time.time()
        payload = {"query": query, "variables": variables or {}}
        await self.ws.send(json.dumps({"id": id, "type": "subscribe", "payload": payload}))
        return id

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for raw in self.ws:
                message = json.loads(raw)
                if message["type"] == "ping":
                    await self.ws.send(json.dumps({"type": "pong"}))
                elif message["type"] == "next":
                    self.received[message["id"]].append(message["payload"])
                    self.arrival[message["id"]].append(time.time())
                elif message["type"] in ("complete", "error"):
                    if message["type"] == "error":
                        self.received[message["id"]].append({"errors": message["payload"]})
                    self.done[message["id"]].set()
        except ConnectionClosed as exc:
            self.close_code = exc.rcvd.code if exc.rcvd else None
        self.closed_at, self.closed_wall = time.monotonic(), time.time()
        for event in self.done.values():
            event.set()

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self.reader


def _codes(payloads: list[dict[str, Any]]) -> list[str]:
    return [(e.get("extensions") or {}).get("code", "") for p in payloads for e in p.get("errors") or []]


async def _viewer(world: Studio, tenant_id: uuid.UUID, name: str, ttl_s: int | None = None) -> tuple[uuid.UUID, str]:
    async with world.state.sessions.begin() as s:
        user = await tenants.create_user(s, tenant_id, f"{name}@{tenant_id.hex[:8]}.example", "x" * 16, Role.VIEWER)
    token = encode_access_token(world.settings, subject=user.id, tenant_id=tenant_id, role=Role.VIEWER, ttl_s=ttl_s)
    return user.id, token


def _exp(token: str) -> int:
    return int(jwt.decode(token, options={"verify_signature": False})["exp"])


async def _stored(world: Studio, run_ids: list[uuid.UUID]) -> dict[str, list[int]]:
    events = models.RunEvent.__table__
    async with world.observer.connect() as conn:
        rows = await conn.execute(
            sa.select(events.c.run_id, events.c.seq).where(events.c.run_id.in_(run_ids)).order_by(events.c.seq)
        )
        stored: dict[str, list[int]] = {str(r): [] for r in run_ids}
        for row in rows:
            stored[str(row.run_id)].append(row.seq)
    return stored


async def subscribers(runs: int) -> Outcome:
    # The runs are queued before any worker starts and every stream is live before the workers do: delivery is
    # measured under the load of 500 runs executing, not behind the burst of a thousand subscriptions being set up
    # (that burst is measured on its own, as setup time).
    per_tenant = max(1, runs)  # 500 connections at the default --runs 100
    env = {
        "STUDIO_MAX_SUBSCRIPTIONS_PER_CONNECTION": str(SUBSCRIPTION_LIMIT),
        "STUDIO_MAX_WS_PER_PRINCIPAL": str(SOCKET_CAP),
    }
    async with environment(**env) as world:
        seeded = [await seed(world.state, DEFINITION) for _ in range(TENANTS)]
        viewers = -(-per_tenant // SOCKETS_PER_VIEWER)
        tokens = {
            tenant_id: [(await _viewer(world, tenant_id, f"viewer-{n}"))[1] for n in range(viewers)]
            for tenant_id, _ in seeded
        }
        base = await world.serve()
        url = base.replace("http://", "ws://") + "/graphql"
        server = world.procs[-1]
        baseline_rss = _rss_mb(server.pid)
        conns = [
            Connection(tenant_id, tokens[tenant_id][n // SOCKETS_PER_VIEWER])
            for tenant_id, _ in seeded
            for n in range(per_tenant)
        ]
        for start in range(0, len(conns), 50):
            await asyncio.gather(*(c.open(url) for c in conns[start : start + 50]))
        connected_rss = _rss_mb(server.pid)
        # One run per connection, in its tenant; a foreign run for each connection to try.
        control = world.state.control
        run_of: list[uuid.UUID] = []
        for tenant_id, workflow_id in seeded:
            for _ in range(per_tenant):
                run_of.append((await control.start_run(tenant_id, "reliability", workflow_id))[0].id)
        tenant_of_run = {run_id: conn.tenant_id for run_id, conn in zip(run_of, conns, strict=True)}
        followed: list[tuple[Connection, str, uuid.UUID]] = []
        updates: list[tuple[Connection, str]] = []
        foreign: list[tuple[Connection, str]] = []
        for i, (conn, run_id) in enumerate(zip(conns, run_of, strict=True)):
            followed.append((conn, await conn.subscribe(EVENTS, {"id": str(run_id)}), run_id))
            other = run_of[(i + per_tenant) % len(run_of)]  # the same position in the next tenant
            foreign.append((conn, await conn.subscribe(EVENTS, {"id": str(other)})))
            if i % per_tenant < UPDATE_FOLLOWERS:
                updates.append((conn, await conn.subscribe(UPDATES)))
        greedy = Connection(seeded[0][0], tokens[seeded[0][0]][0])
        await greedy.open(url)
        extra = [await greedy.subscribe(UPDATES) for _ in range(SUBSCRIPTION_LIMIT + 2)]
        # One viewer opening connections beyond the per-principal cap: the one past it is closed with 4429.
        hoarder = (await _viewer(world, seeded[-1][0], "hoarder"))[1]
        hoarded = [Connection(seeded[-1][0], hoarder) for _ in range(SOCKET_CAP)]
        for start in range(0, len(hoarded), 10):
            await asyncio.gather(*(c.open(url) for c in hoarded[start : start + 10]))
        over = Connection(seeded[-1][0], hoarder)
        socket_cap_ok = False
        try:
            await over.open(url)
        except ConnectionClosed as exc:
            socket_cap_ok = exc.rcvd is not None and exc.rcvd.code == 4429
        for conn in hoarded:
            await conn.close()
        # A stream is live once the server has replayed its run's stored events (run.queued, at least).
        setup_ms: list[float] = []
        for conn, id, _ in followed:
            for _ in range(600):
                if conn.arrival[id] or conn.done[id].is_set():
                    break
                await asyncio.sleep(0.05)
            if conn.arrival[id]:
                setup_ms.append((conn.arrival[id][0] - conn.subscribed[id]) * 1000)
        live_at = time.time()
        for _ in range(2):
            await asyncio.to_thread(world.workers.start)
        statuses = await _wait_final(world.observer, run_of, 120)
        streams = asyncio.gather(*(conn.done[id].wait() for conn, id, _ in followed))
        try:
            await asyncio.wait_for(streams, 60)
        except TimeoutError:
            print(f"  streams still open after 60 s: {sum(1 for c, i, _ in followed if not c.done[i].is_set())}")
        await asyncio.sleep(1)  # the last runUpdates messages
        stored = await _stored(world, run_of)
        for conn in [*conns, greedy]:
            await conn.close()
    latencies: list[float] = []
    stream_errors: list[str] = []
    lost = repeated = 0
    for conn, id, run_id in followed:
        paired = list(zip(conn.received[id], conn.arrival[id], strict=True))
        stream_errors.extend(str(p.get("errors"))[:200] for p, _ in paired if p.get("errors"))
        events = [p["data"]["runEvents"] for p, _ in paired if p.get("data")]
        arrivals = [at for p, at in paired if p.get("data")]
        seqs = [e["seq"] for e in events]
        lost += len(set(stored[str(run_id)]) - set(seqs))
        repeated += len(seqs) - len(set(seqs))
        for event, received in zip(events, arrivals, strict=True):
            committed = datetime.fromisoformat(event["at"]).astimezone(UTC).timestamp()
            if committed > live_at:  # live, not replayed from before the stream was set up
                latencies.append((received - committed) * 1000)
    cross = sum(
        1
        for conn, id in updates
        for p in conn.received[id]
        if p.get("data") and tenant_of_run.get(uuid.UUID(p["data"]["runUpdates"]["id"])) != conn.tenant_id
    )
    update_events = sum(len(conn.received[id]) for conn, id in updates)
    foreign_refused = sum(1 for conn, id in foreign if _codes(conn.received[id]) == ["NOT_FOUND"])
    foreign_data = sum(1 for conn, id in foreign for p in conn.received[id] if p.get("data"))
    limited = [_codes(greedy.received[id]) for id in extra]
    limit_ok = limited == [[]] * SUBSCRIPTION_LIMIT + [["LIMIT"]] * 2
    rss_kib = (connected_rss - baseline_rss) * 1024 / len(conns)
    finished = sum(1 for s in statuses.values() if s.final)
    print("| connections | tenants | setup p95 ms | events delivered | delivery p50 / p95 / p99 ms | lost | repeated "
          "| cross-tenant | foreign run refused | API RSS per connection |")  # fmt: skip
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| {len(conns)} | {TENANTS} | {percentile(setup_ms, 95):.0f} | {len(latencies) + update_events:,}"
        f" | {percentile(latencies, 50):.0f} / {percentile(latencies, 95):.0f} / {percentile(latencies, 99):.0f}"
        f" | {lost} | {repeated} | {cross} | {foreign_refused}/{len(foreign)} | {rss_kib:.0f} KiB |"
    )
    print(f"  limit: extra subscriptions of one connection answered {limited}")
    outcome = Outcome(
        figures={
            "connections": str(len(conns)),
            "setup p95 ms": f"{percentile(setup_ms, 95):.0f}",
            "delivery p95 ms": f"{percentile(latencies, 95):.0f}",
            "lost/repeated": f"{lost}/{repeated}",
            "cross-tenant": str(cross + foreign_data),
            "KiB per connection": f"{rss_kib:.0f}",
        }
    )
    for error in stream_errors[:3]:
        print(f"  stream error: {error}")
    outcome.check("every stream went live (replayed its run's stored events)", len(setup_ms) == len(followed))
    outcome.check(f"delivery p95 under {DELIVERY_P95_MS} ms", percentile(latencies, 95) < DELIVERY_P95_MS)
    outcome.check("every run finished", finished == len(run_of))
    outcome.check("no stream ended in an error", not stream_errors)
    outcome.check("every stream equals the stored events (none lost, none repeated)", lost == 0 and repeated == 0)
    outcome.check("0 cross-tenant events", cross == 0 and foreign_data == 0 and update_events > 0)
    outcome.check("another tenant's run reads as not found", foreign_refused == len(foreign))
    outcome.check(f"the per-connection limit ({SUBSCRIPTION_LIMIT}) is enforced", limit_ok)
    outcome.check(f"a viewer's connection past the cap ({SOCKET_CAP}) is closed with 4429", socket_cap_ok)
    return outcome


# ------------------------------------------------------------------------------------------- revocation


async def revocation(runs: int) -> Outcome:
    env = {"STUDIO_WS_REAUTH_INTERVAL_S": str(REAUTH_S)}
    async with environment(**env) as world:
        tenant_id, workflow_id = await seed(world.state, DEFINITION)
        await asyncio.to_thread(world.workers.start)
        base = await world.serve()
        url = base.replace("http://", "ws://") + "/graphql"
        disabled = [await _viewer(world, tenant_id, f"disabled-{i}") for i in range(5)]
        expiring = [await _viewer(world, tenant_id, f"expiring-{i}", ttl_s=2) for i in range(5)]
        kept = [await _viewer(world, tenant_id, f"kept-{i}") for i in range(5)]
        conns = {
            kind: [Connection(tenant_id, token) for _, token in users]
            for kind, users in (("disabled", disabled), ("expiring", expiring), ("kept", kept))
        }
        for conn in itertools.chain(*conns.values()):
            await conn.open(url)
            await conn.subscribe(UPDATES)
        runs_started: list[uuid.UUID] = []

        async def traffic() -> None:  # a run every 0.3 s: there is always something to deliver
            while True:
                runs_started.append((await world.state.control.start_run(tenant_id, "r", workflow_id))[0].id)
                await asyncio.sleep(0.3)

        producer = asyncio.create_task(traffic())
        await asyncio.sleep(1)
        users = models.User.__table__
        async with world.observer.begin() as conn:
            await conn.execute(sa.update(users).where(users.c.id.in_([u for u, _ in disabled])).values(active=False))
        disabled_at, disabled_wall = time.monotonic(), time.time()
        await asyncio.sleep(2 + TOKEN_LEEWAY_S + 3 * REAUTH_S)
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await producer
        live_before = sum(
            1
            for conn in itertools.chain(conns["disabled"], conns["expiring"])
            for arrivals in conn.arrival.values()
            for at in arrivals
            if at < disabled_wall
        )
        kept_events = sum(len(v) for conn in conns["kept"] for v in conn.received.values())
        kept_open = sum(1 for conn in conns["kept"] if conn.closed_at is None)
        for conn in itertools.chain(*conns.values()):
            await conn.close()
        await _wait_final(world.observer, runs_started, 60)
    disable_delays = [c.closed_at - disabled_at for c in conns["disabled"] if c.closed_at is not None]
    expiry_delays = [  # after the moment the server stops accepting the token: its exp plus the leeway
        c.closed_wall - (_exp(c.token) + TOKEN_LEEWAY_S) for c in conns["expiring"] if c.closed_wall is not None
    ]
    codes = {c.close_code for c in itertools.chain(conns["disabled"], conns["expiring"])}
    print("| sockets | disabled: closed, max s after | expired: closed, max s after | close codes | events before "
          "| untouched sockets open |")  # fmt: skip
    print("| ---: | --- | --- | --- | ---: | ---: |")
    print(
        f"| 15 | {len(disable_delays)}/5, {max(disable_delays, default=float('nan')):.1f} | {len(expiry_delays)}/5,"
        f" {max(expiry_delays, default=float('nan')):.1f} | {sorted(c for c in codes if c)} | {live_before}"
        f" | {kept_open}/5 |"
    )
    bound = 1.5 * REAUTH_S + 0.5  # the re-check interval, half an interval of shared reads, and the close
    outcome = Outcome(
        figures={
            "disabled closed within s": f"{max(disable_delays, default=float('nan')):.1f}",
            "expired closed within s": f"{max(expiry_delays, default=float('nan')):.1f}",
            "valid sockets open": f"{kept_open}/5",
        }
    )
    outcome.check(f"a disabled user's sockets close (4401) within {bound:g} s", len(disable_delays) == 5
                  and max(disable_delays) <= bound and codes == {4401})  # fmt: skip
    outcome.check(
        f"an expired token's sockets close within {bound:g} s of expiry (+{TOKEN_LEEWAY_S} s leeway)",
        len(expiry_delays) == 5 and max(expiry_delays) <= bound,
    )
    outcome.check("the revoked sockets were receiving events before", live_before > 0)
    outcome.check("valid sockets stay open and keep receiving", kept_open == 5 and kept_events > 0)
    return outcome


SCENARIOS = [
    Measured("subscribers", f"--runs websocket subscribers in each of {TENANTS} tenants (500)", subscribers),
    Measured("revocation", "sockets of disabled users and expired tokens while runs stream", revocation),
]
