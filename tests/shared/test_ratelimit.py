"""Paced rate limits (``startRun`` per tenant): calls beyond the rate take evenly spaced turns, waiting for them
up to a bound; a call whose turn is further away is refused at once and told when to retry. In Redis (shared by
every API process) and in memory (no Redis configured, or Redis away)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from studio_shared.ratelimit import RateLimiter
from tests.conftest import REDIS_URL, missing_service, services_pass_only

# A turn every TURN_S; two at once; a turn at most 2.5 turns away is waited for. Every bound below is a fraction of
# a turn: at 0.1 s a turn, "at once" meant under 80 ms, which a loaded machine's Redis round trip can take.
TURN_S = 0.5
RATE, BURST, MAX_WAIT = 1 / TURN_S, 2, 2.5 * TURN_S
AT_ONCE = 0.8 * TURN_S  # a call that took no turn answers within this


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    if request.param == "redis":
        services_pass_only()
        probe = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
        try:
            await probe.ping()
        except (RedisError, OSError):
            missing_service("Redis", "start redis-server on 127.0.0.1:6379")
        finally:
            await probe.aclose()
    found = RateLimiter(REDIS_URL if request.param == "redis" else None)
    yield found
    await found.close()


async def _timed(limiter: RateLimiter, key: str) -> tuple[float | None, float]:
    began = time.monotonic()
    refused = await limiter.pace(key, RATE, burst=BURST, max_wait_s=MAX_WAIT)
    return refused, time.monotonic() - began


async def test_calls_beyond_the_rate_wait_for_evenly_spaced_turns_then_are_refused(limiter: RateLimiter) -> None:
    key = f"test:{uuid.uuid4()}"
    answers = await asyncio.gather(*(_timed(limiter, key) for _ in range(7)))
    admitted = sorted(waited for refused, waited in answers if refused is None)
    refused = [retry for retry, _ in answers if retry is not None]
    # Turns at 0, 0 (the burst), 1 and 2 turns; the next, 3 turns away, is further than 2.5.
    assert len(admitted) == 4 and len(refused) == 3, answers
    assert admitted[1] < AT_ONCE, "the burst goes through at once"
    assert admitted[2] >= AT_ONCE and admitted[3] >= TURN_S + AT_ONCE, "the others waited for their turns, one each"
    assert all(0 < retry <= TURN_S for retry in refused), "told to come back when a turn is within the bound"
    other, waited = await _timed(limiter, f"test:{uuid.uuid4()}")
    assert other is None and waited < AT_ONCE, "another key has turns of its own"
    await asyncio.sleep(max(refused))
    again, _ = await _timed(limiter, key)
    assert again is None, "a call that came back when told is admitted"


async def test_a_refused_call_takes_no_turn(limiter: RateLimiter) -> None:
    key = f"test:{uuid.uuid4()}"
    began = time.monotonic()
    answers = await asyncio.gather(*(_timed(limiter, key) for _ in range(24)))
    assert sum(1 for refused, _ in answers if refused is None) == 4, "the turns within the bound, then refusals"
    # Past the last turn taken (2 turns) and one more.
    await asyncio.sleep(max(0.0, began + 3.1 * TURN_S - time.monotonic()))
    admitted, waited = await _timed(limiter, key)
    assert admitted is None and waited < AT_ONCE, "twenty refusals took no turns: the next one is free again"
