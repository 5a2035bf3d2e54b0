"""The event bus: every behaviour against both adapters (memory and Redis), plus Redis-only reconnection."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from studio_shared.events import (
    RECONNECTED,
    BusUnavailable,
    MemoryEventBus,
    Message,
    Subscription,
    channels,
    event_bus_from,
    reconnected_since,
)
from studio_shared.events.redis import RedisEventBus, mask_password
from tests.conftest import missing_service, services_pass_only

REDIS_URL = "redis://127.0.0.1:6379/15"
WAIT_S = 5.0

Bus = MemoryEventBus | RedisEventBus


async def _admin() -> aioredis.Redis:
    """A plain client for inspecting Redis; skips (or fails under CI) when Redis is not running."""
    services_pass_only()
    client: aioredis.Redis = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, decode_responses=True)
    try:
        await client.ping()
    except (RedisError, OSError):
        await client.aclose()
        missing_service("Redis", "start redis-server on 127.0.0.1:6379")
    return client


@pytest.fixture
async def admin() -> AsyncIterator[aioredis.Redis]:
    client = await _admin()
    yield client
    await client.aclose()


async def _started(kind: str) -> Bus:
    if kind == "memory":
        bus: Bus = MemoryEventBus()
    else:
        await (await _admin()).aclose()
        bus = RedisEventBus(REDIS_URL)
    await bus.start()
    return bus


@pytest.fixture(params=["memory", "redis"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    started = await _started(request.param)
    yield started
    await started.close()


@pytest.fixture
async def redis_bus() -> AsyncIterator[RedisEventBus]:
    started = await _started("redis")
    assert isinstance(started, RedisEventBus)
    yield started
    await started.close()


def a_run() -> str:
    return channels.run(uuid.uuid4(), uuid.uuid4())


async def receive(sub: Subscription, count: int) -> list[Message]:
    out: list[Message] = []
    for _ in range(count):
        message = await sub.get(timeout=WAIT_S)
        assert message is not None, f"timed out after {len(out)} of {count} messages"
        out.append(message)
    return out


async def numsub(channel: str) -> int:
    """Subscribers of `channel` on the Redis server, counted by connection."""
    admin = await _admin()
    try:
        counts: list[tuple[str, int]] = await admin.pubsub_numsub(channel)
    finally:
        await admin.aclose()
    return counts[0][1]


# both adapters


async def test_round_trip_encodes_uuids_and_datetimes_as_strings(bus: Bus) -> None:
    channel, run_id, at = a_run(), uuid.uuid4(), datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    async with bus.subscribe(channel) as sub:
        await bus.publish(channel, {"seq": 1, "run_id": run_id, "at": at, "data": {"ok": True, "n": [1, 2]}})
        assert await sub.get(timeout=WAIT_S) == {
            "seq": 1,
            "run_id": str(run_id),
            "at": "2025-01-02T03:04:05+00:00",
            "data": {"ok": True, "n": [1, 2]},
        }
        assert sub.dropped == 0


async def test_messages_published_after_subscribe_arrive_in_order(bus: Bus) -> None:
    channel = a_run()
    async with bus.subscribe(channel) as sub:
        for seq in range(1000):
            await bus.publish(channel, {"seq": seq})
        assert [m["seq"] for m in await receive(sub, 1000)] == list(range(1000))
        assert sub.dropped == 0


async def test_two_subscribers_in_other_tasks_each_get_every_message(bus: Bus) -> None:
    channel = a_run()

    async def consume(sub: Subscription) -> list[int]:
        seqs: list[int] = []
        async for message in sub:
            seqs.append(message["seq"])
            if len(seqs) == 50:
                break
        return seqs

    async with bus.subscribe(channel) as first, bus.subscribe(channel) as second:
        tasks = [asyncio.create_task(consume(first)), asyncio.create_task(consume(second))]
        await bus.publish_many([(channel, {"seq": seq}) for seq in range(50)])
        results = await asyncio.wait_for(asyncio.gather(*tasks), WAIT_S)
    assert results == [list(range(50)), list(range(50))]


async def test_channels_are_isolated_by_run_and_tenant(bus: Bus) -> None:
    tenant, other_tenant, run_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    mine = channels.run(tenant, run_id)
    async with bus.subscribe(mine) as run_sub, bus.subscribe(channels.tenant_runs(tenant)) as tenant_sub:
        await bus.publish(channels.run(tenant, uuid.uuid4()), {"seq": -1})  # another run of the tenant
        await bus.publish(channels.run(other_tenant, run_id), {"seq": -2})  # the same run id under another tenant
        await bus.publish(channels.tenant_runs(other_tenant), {"seq": -3})
        await bus.publish(channels.tenant_tasks(tenant), {"seq": -4})
        await bus.publish(mine, {"seq": 1})
        await bus.publish(channels.tenant_runs(tenant), {"seq": 2})
        assert await receive(run_sub, 1) == [{"seq": 1}]
        assert await receive(tenant_sub, 1) == [{"seq": 2}]
        assert await run_sub.get(timeout=0.05) is None
        assert await tenant_sub.get(timeout=0.05) is None


async def test_leaving_unsubscribes_and_ends_iteration(bus: Bus) -> None:
    channel = a_run()
    async with bus.subscribe(channel) as sub:
        assert bus.subscriber_count(channel) == 1
        if isinstance(bus, RedisEventBus):
            assert await numsub(channel) == 1
    assert bus.subscriber_count(channel) == 0
    if isinstance(bus, RedisEventBus):
        assert await numsub(channel) == 0
    await bus.publish(channel, {"seq": 1})  # nobody listens: a no-op
    assert await sub.get(timeout=WAIT_S) is None  # ended: returns at once
    assert [m async for m in sub] == []


async def test_one_of_two_local_subscribers_leaving_keeps_the_channel(bus: Bus) -> None:
    channel = a_run()
    async with bus.subscribe(channel) as staying:
        async with bus.subscribe(channel):
            assert bus.subscriber_count(channel) == 2
            if isinstance(bus, RedisEventBus):
                assert await numsub(channel) == 1  # one pub/sub connection per process
        assert bus.subscriber_count(channel) == 1
        if isinstance(bus, RedisEventBus):
            assert await numsub(channel) == 1
        await bus.publish(channel, {"seq": 1})
        assert await receive(staying, 1) == [{"seq": 1}]


async def test_a_slow_subscriber_keeps_the_newest_and_counts_the_dropped(bus: Bus) -> None:
    channel = a_run()
    async with bus.subscribe(channel) as fast, bus.subscribe(channel, buffer=10) as slow:
        for seq in range(100):
            await bus.publish(channel, {"seq": seq})
        assert [m["seq"] for m in await receive(fast, 100)] == list(range(100))
        assert fast.dropped == 0
        assert [m["seq"] for m in await receive(slow, 10)] == list(range(90, 100))
        assert slow.dropped == 90
        assert await slow.get(timeout=0.05) is None


async def test_publish_many_preserves_order_across_and_within_channels(bus: Bus) -> None:
    a, b = a_run(), a_run()
    items = [(a if i % 3 else b, {"seq": i}) for i in range(300)]
    async with bus.subscribe(a, b) as both, bus.subscribe(b) as only_b:
        await bus.publish_many(items)
        await bus.publish_many([])
        assert [m["seq"] for m in await receive(both, 300)] == list(range(300))
        assert [m["seq"] for m in await receive(only_b, 100)] == [i for i in range(300) if i % 3 == 0]


async def test_get_returns_none_when_idle(bus: Bus) -> None:
    async with bus.subscribe(a_run()) as sub:
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await sub.get(timeout=0.05) is None
        assert loop.time() - started >= 0.04


async def test_close_ends_subscriptions_and_refuses_publishing(bus: Bus) -> None:
    channel = a_run()
    async with bus.subscribe(channel) as sub:
        reader = asyncio.create_task(anext(aiter(sub), None))
        await asyncio.sleep(0)
        await bus.close()
        assert await asyncio.wait_for(reader, WAIT_S) is None
    with pytest.raises(BusUnavailable, match="closed"):
        await bus.publish(channel, {"seq": 1})
    with pytest.raises(BusUnavailable, match="closed"):
        await bus.publish_many([(channel, {"seq": 1})])
    with pytest.raises(BusUnavailable, match="closed"):
        async with bus.subscribe(channel):
            pass


async def test_unserialisable_messages_fail_on_both_adapters(bus: Bus) -> None:
    with pytest.raises(TypeError, match="object is not JSON serialisable"):
        await bus.publish(a_run(), {"seq": 1, "oops": object()})


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_a_bus_must_be_started(kind: str) -> None:
    if kind == "redis":
        await (await _admin()).aclose()
    bus = MemoryEventBus() if kind == "memory" else RedisEventBus(REDIS_URL)
    with pytest.raises(BusUnavailable, match="not started"):
        await bus.publish(a_run(), {"seq": 1})
    with pytest.raises(BusUnavailable, match="not started"):
        async with bus.subscribe(a_run()):
            pass
    await bus.close()


async def test_subscribe_needs_a_channel_and_a_positive_buffer(bus: Bus) -> None:
    with pytest.raises(ValueError, match="at least one channel"):
        async with bus.subscribe():
            pass
    with pytest.raises(ValueError, match="buffer"):
        async with bus.subscribe(a_run(), buffer=0):
            pass


# Redis only


async def test_a_killed_pubsub_connection_reconnects_and_says_so(
    redis_bus: RedisEventBus, admin: aioredis.Redis
) -> None:
    channel = a_run()
    async with redis_bus.subscribe(channel) as sub:
        await redis_bus.publish(channel, {"seq": 1})
        assert await receive(sub, 1) == [{"seq": 1}]
        # `CLIENT KILL TYPE pubsub` would also cut other processes' subscribers on this shared server: kill ours only.
        ours = [c for c in await admin.client_list(_type="pubsub") if c["name"] == redis_bus.client_name]
        assert len(ours) == 1
        killed_at = datetime.now(UTC)
        await admin.client_kill_filter(_id=ours[0]["id"])
        notice = await sub.get(timeout=WAIT_S)
        assert notice is not None and notice.items() >= RECONNECTED.items()
        lost_since = reconnected_since(notice)  # when messages may have been lost from: a re-read starts there
        assert lost_since is not None and killed_at <= lost_since <= datetime.now(UTC)
        await redis_bus.publish(channel, {"seq": 2})
        assert await receive(sub, 1) == [{"seq": 2}]
        assert await numsub(channel) == 1
    assert await numsub(channel) == 0


async def test_a_burst_of_subscribers_goes_out_in_few_writes(redis_bus: RedisEventBus) -> None:
    """Hundreds of sockets subscribing at once (a reconnect storm, a busy monitor page) must not queue behind
    one write per command: on a busy API the writer runs about once per event-loop turn, and at 500 subscribers
    one-by-one writes left confirmations waiting past their timeout. Queued commands share a write."""
    conn = redis_bus._conn
    assert conn is not None
    writes: list[int] = []
    send = conn.send

    async def counted(commands: Any) -> None:
        writes.append(1)
        await send(commands)

    conn.send = counted  # type: ignore[method-assign]
    names = [a_run() for _ in range(300)]
    async with contextlib.AsyncExitStack() as stack:
        subs = await asyncio.gather(*(stack.enter_async_context(redis_bus.subscribe(n)) for n in names))
        assert len(writes) < 30, f"{len(names)} SUBSCRIBE commands took {len(writes)} writes"
        await redis_bus.publish(names[-1], {"seq": 1})
        assert await receive(subs[-1], 1) == [{"seq": 1}]
        assert [await numsub(n) for n in (names[0], names[150], names[-1])] == [1, 1, 1]
    assert [await numsub(n) for n in (names[0], names[150], names[-1])] == [0, 0, 0], "and unsubscribed"


async def test_unreachable_redis_raises_bus_unavailable() -> None:
    bus = RedisEventBus("redis://:hunter2@127.0.0.1:1/0", timeout_s=0.5, subscribe_timeout_s=0.2)
    await bus.start()  # does not raise: the reader keeps retrying in the background
    try:
        with pytest.raises(BusUnavailable, match=r"redis://:\*\*\*@127\.0\.0\.1:1/0") as raised:
            await bus.publish(a_run(), {"seq": 1})
        assert "hunter2" not in str(raised.value)
        with pytest.raises(BusUnavailable):
            await bus.publish_many([(a_run(), {"seq": 1})])
        channel = a_run()
        with pytest.raises(BusUnavailable, match="did not confirm"):
            async with bus.subscribe(channel):
                pass
        assert bus.subscriber_count(channel) == 0
    finally:
        await bus.close()


# names and factory


def test_channel_names() -> None:
    tenant, run_id = uuid.uuid4(), uuid.uuid4()
    assert channels.run(tenant, run_id) == f"studio:run:{tenant}:{run_id}"
    assert channels.run(str(tenant).upper(), run_id.hex) == channels.run(tenant, run_id)
    assert channels.tenant_runs(tenant) == f"studio:runs:{tenant}"
    assert channels.tenant_tasks(tenant) == f"studio:tasks:{tenant}"
    assert channels.control() == "studio:control"
    assert channels.wake() == "studio:wake"
    assert len({channels.run(tenant, run_id), channels.tenant_runs(tenant), channels.tenant_tasks(tenant)}) == 3
    with pytest.raises(ValueError, match="badly formed"):
        channels.run(tenant, "x:y")


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:s3cret@host:6379/0", "redis://:***@host:6379/0"),
        ("rediss://user:s3cr%40et@host/1", "rediss://user:***@host/1"),
        ("unix:///run/redis.sock?db=0&password=s3cret", "unix:///run/redis.sock?db=0&password=***"),
    ],
)
def test_mask_password(url: str, masked: str) -> None:
    assert mask_password(url) == masked


def test_event_bus_from_picks_the_adapter_by_url() -> None:
    assert isinstance(event_bus_from(None), MemoryEventBus)
    assert isinstance(event_bus_from(REDIS_URL), RedisEventBus)
