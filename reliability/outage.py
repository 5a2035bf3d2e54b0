"""Redis restarted under load, seen from the outside: webhook senders, live subscribers and runs at once.

``redis-outage``: a real ``studio serve`` and two ``studio worker`` processes; a sender posts signed webhook
deliveries ten a second and posts each one again two seconds later (as senders retry), and retries any answer
that is not 2xx until it is; twenty websocket clients follow runs (``runEvents``) and ten follow the tenant's
``runUpdates``. Redis goes away for 3 s mid-stream and comes back empty (queue, pub/sub, rate-limit keys).
Counted: runs per delivery (exactly one: the idempotency record is a database constraint, not a Redis key),
answers by status (never a 500), runs lost or stuck, and whether every subscriber ends with what the database
says: each ``runEvents`` stream equal to the stored events, each ``runUpdates`` follower's last word on each
run equal to that run's final status.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from collections import Counter
from typing import Any

import httpx
import sqlalchemy as sa

from bench.engine import seed
from reliability.faults import _wait_final, redis_restart
from reliability.hostile import gql
from reliability.live import EVENTS, UPDATES, Connection, _stored, _viewer
from reliability.outcome import Measured, Outcome
from reliability.services import Studio, environment
from studio_shared.db import models
from studio_shared.types import RunStatus
from studio_shared.webhooks import sign_standard

HOOKED = {
    "nodes": [
        {"id": "start", "type": "trigger.webhook", "config": {}},
        {"id": "pause", "type": "delay", "config": {"seconds": 1}},
        {"id": "echo", "type": "transform", "config": {"value": "{{ input }}"}},
    ],
    "edges": [{"source": "start", "target": "pause"}, {"source": "pause", "target": "echo"}],
}
CREATE_HOOK = """mutation($w: ID!) { createWebhook(workflowId: $w, input: {auth: STANDARD}) {
  webhook { id } secret errors { code message } } }"""
START = "mutation($w: ID!) { startRun(workflowId: $w, input: {}) { run { id } errors { code message } } }"
DELIVERIES_PER_S = 10
RESEND_AFTER_S = 2.0
FOLLOWED_RUNS = 20
UPDATE_FOLLOWERS = 10
OUTAGE_AT_S = 2.0


class Sender:
    """Posts each delivery, posts it again later, and retries anything but 2xx until the studio takes it."""

    def __init__(self, client: httpx.AsyncClient, hook_id: str, secret: str) -> None:
        self.client, self.hook_id, self.secret = client, hook_id, secret
        self.answers: Counter[int] = Counter()
        self.bodies_5xx: list[str] = []
        self.accepted: set[str] = set()
        self.refused: set[str] = set()

    async def post(self, msg_id: str, payload: dict[str, Any]) -> int:
        body = json.dumps(payload).encode()
        stamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": sign_standard(self.secret, msg_id, stamp, body),
        }
        try:
            response = await self.client.post(f"/hooks/{self.hook_id}", content=body, headers=headers)
        except httpx.HTTPError:
            self.answers[0] += 1  # no answer at all
            return 0
        self.answers[response.status_code] += 1
        if response.status_code >= 500 and response.status_code != 503:
            self.bodies_5xx.append(response.text[:200])
        return response.status_code

    async def deliver(self, msg_id: str) -> None:
        payload = {"delivery": msg_id}
        for _attempt in range(60):  # a sender's retries: up to 30 s
            status = await self.post(msg_id, payload)
            if 200 <= status < 300:
                self.accepted.add(msg_id)
                break
            await asyncio.sleep(0.5)
        else:
            self.refused.add(msg_id)
            return
        await asyncio.sleep(RESEND_AFTER_S)  # the same delivery again: must not start a second run
        await self.post(msg_id, payload)


async def redis_outage(runs: int) -> Outcome:
    deliveries = max(20, runs // 2)
    async with environment() as world:
        tenant_id, workflow_id = await seed(world.state, HOOKED)
        admin = world.token(tenant_id, await world.admin(tenant_id))
        # Two people follow the runs: twenty sockets would be exactly one viewer's cap (STUDIO_MAX_WS_PER_PRINCIPAL).
        viewers = [(await _viewer(world, tenant_id, f"follower-{n}"))[1] for n in range(2)]
        for _ in range(2):
            await asyncio.to_thread(world.workers.start)
        base = await world.serve()
        url = base.replace("http://", "ws://") + "/graphql"
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            made = (await gql(client, admin, CREATE_HOOK, {"w": str(workflow_id)}))["createWebhook"]
            sender = Sender(client, made["webhook"]["id"], made["secret"])
            # Runs started by hand before the outage, each followed live; followers of every run's status.
            followed_runs = [
                uuid.UUID((await gql(client, admin, START, {"w": str(workflow_id)}))["startRun"]["run"]["id"])
                for _ in range(FOLLOWED_RUNS)
            ]
            followers = [Connection(tenant_id, viewers[n % 2]) for n in range(FOLLOWED_RUNS)]
            for conn in followers:
                await conn.open(url)
            streams = [
                (conn, await conn.subscribe(EVENTS, {"id": str(run_id)}), run_id)
                for conn, run_id in zip(followers, followed_runs, strict=True)
            ]
            updates = [(conn, await conn.subscribe(UPDATES)) for conn in followers[:UPDATE_FOLLOWERS]]

            async def send_all() -> None:
                tasks = []
                for i in range(deliveries):
                    tasks.append(asyncio.create_task(sender.deliver(f"msg_outage_{i}")))
                    await asyncio.sleep(1 / DELIVERIES_PER_S)
                await asyncio.gather(*tasks)

            sending = asyncio.create_task(send_all())
            await asyncio.sleep(OUTAGE_AT_S)
            outage_started = time.monotonic()
            await redis_restart(world.workers, random.Random(3))
            redis_back = time.monotonic()
            await sending
            hook_runs = await _hook_runs(world, tenant_id, sender.hook_id)
            all_runs = [*followed_runs, *(r for ids in hook_runs.values() for r in ids)]
            statuses = await _wait_final(world.observer, all_runs, 90)
            settled = time.monotonic()
            done = asyncio.gather(*(conn.done[id].wait() for conn, id, _ in streams))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done, 30)
            await asyncio.sleep(2)  # the last runUpdates messages
            stored = await _stored(world, followed_runs)
            final_status = {str(run_id): status.value for run_id, status in statuses.items()}
            for conn in followers:
                await conn.close()
    return _report(
        deliveries, sender, hook_runs, statuses, streams, updates, stored, final_status,
        outage_s=redis_back - outage_started, recovered_s=settled - redis_back,
    )  # fmt: skip


async def _hook_runs(world: Studio, tenant_id: uuid.UUID, hook_id: str) -> dict[str, list[uuid.UUID]]:
    """The runs each delivery id started, from the runs' idempotency keys (``webhook:<hook>:<delivery>``)."""
    runs = models.Run.__table__
    prefix = f"webhook:{hook_id}:"
    async with world.observer.connect() as conn:
        rows = await conn.execute(
            sa.select(runs.c.id, runs.c.idempotency_key).where(
                runs.c.tenant_id == tenant_id, runs.c.idempotency_key.like(f"{prefix}%")
            )
        )
        by_delivery: dict[str, list[uuid.UUID]] = {}
        for row in rows:
            by_delivery.setdefault(row.idempotency_key.removeprefix(prefix), []).append(row.id)
    return by_delivery


def _report(
    deliveries: int,
    sender: Sender,
    hook_runs: dict[str, list[uuid.UUID]],
    statuses: dict[Any, RunStatus],
    streams: list[tuple[Connection, str, uuid.UUID]],
    updates: list[tuple[Connection, str]],
    stored: dict[str, list[int]],
    final_status: dict[str, str],
    *,
    outage_s: float,
    recovered_s: float,
) -> Outcome:
    twice = sum(1 for ids in hook_runs.values() if len(ids) > 1)
    stuck = sum(1 for status in statuses.values() if not status.final)
    failed = sum(1 for status in statuses.values() if status is not RunStatus.SUCCEEDED)
    lost = repeated = unfinished = 0
    for conn, id, run_id in streams:
        seqs = [p["data"]["runEvents"]["seq"] for p in conn.received[id] if p.get("data")]
        lost += len(set(stored[str(run_id)]) - set(seqs))
        repeated += len(seqs) - len(set(seqs))
        unfinished += 0 if conn.done[id].is_set() else 1
    behind = 0  # (follower, run) pairs whose last word is not the run's final status
    for conn, id in updates:
        last: dict[str, str] = {}
        for p in conn.received[id]:
            if p.get("data"):
                last[p["data"]["runUpdates"]["id"]] = p["data"]["runUpdates"]["status"]
        behind += sum(1 for run_id, status in final_status.items() if last.get(run_id) != status)
    answers = ", ".join(f"{code or 'no answer'}: {n}" for code, n in sorted(sender.answers.items()))
    print("| deliveries | accepted | runs started by them | started twice | answers | runs stuck | failed "
          "| streams lost / repeated / open | runUpdates followers behind | outage s | final after s |")  # fmt: skip
    print("| ---: | ---: | ---: | ---: | --- | ---: | ---: | --- | ---: | ---: | ---: |")
    print(
        f"| {deliveries} | {len(sender.accepted)} | {len(hook_runs)} | {twice} | {answers} | {stuck} | {failed}"
        f" | {lost} / {repeated} / {unfinished} | {behind} | {outage_s:.1f} | {recovered_s:.1f} |"
    )
    for body in sender.bodies_5xx[:3]:
        print(f"  5xx: {body}")
    outcome = Outcome(
        figures={
            "deliveries": f"{len(sender.accepted)}/{deliveries} accepted",
            "runs per delivery": "1" if not twice and len(hook_runs) == deliveries else f"{twice} twice",
            "answers": answers,
            "stuck": str(stuck),
            "subscribers behind": str(lost + unfinished + behind),
            "final after s": f"{recovered_s:.1f}",
        }
    )
    outcome.check("every delivery is accepted (after the sender's retries)", len(sender.accepted) == deliveries)
    outcome.check("exactly one run per delivery, resends included", twice == 0 and len(hook_runs) == deliveries)
    outcome.check("no 5xx but 503", not sender.bodies_5xx)
    outcome.check("no run lost or stuck; none failed", stuck == 0 and failed == 0)
    outcome.check("runEvents streams equal the stored events and complete", lost == repeated == unfinished == 0)
    outcome.check("runUpdates followers end with every run's final status", behind == 0)
    return outcome


SCENARIOS = [
    Measured(
        "redis-outage",
        f"Redis restarted while webhooks arrive ({DELIVERIES_PER_S}/s, each resent) and {FOLLOWED_RUNS} sockets follow",
        redis_outage,
    ),
]
