"""Rate limits per key, in Redis when configured (shared by every process), else in memory.

``hit``: fixed windows (webhook deliveries per minute, answered 429 with ``Retry-After``).
``pace``: a paced rate (every start of a run, per tenant and second: see ``studio_worker.admission``). Calls beyond
the rate are not refused at once: each takes the next free turn, one every 1/rate seconds, and waits for it up to a
bound; only a call whose turn is further away is refused, told when to retry. A fixed window let a whole second's
worth in at the start of every window, back to back, and refused the rest: a flooding tenant's admitted calls came
in bursts that every other tenant's requests queued behind, and its refused ones came back as a stream of retries.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any

from redis.exceptions import RedisError

log = logging.getLogger("studio.ratelimit")

WINDOW_S = 60

# GCRA (the generic cell rate algorithm) over a key holding the theoretical arrival time (TAT) in microseconds,
# on Redis's own clock so that every API process agrees. A call's turn is TAT - tolerance (``burst`` calls fit
# at once); it takes the turn and moves TAT on by ``turns`` intervals when the turn is within ``max_wait`` (a call
# that starts several runs waits for its first turn and uses as many: the calls after it wait for the rest).
# KEYS[1]: the key. ARGV: interval, tolerance, max wait (µs), turns. Returns {admitted (1/0), µs to wait or retry}.
_PACE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - tonumber(ARGV[2]) - now
if wait < 0 then wait = 0 end
if wait > tonumber(ARGV[3]) then
  return {0, wait - tonumber(ARGV[3])}
end
tat = tat + tonumber(ARGV[1]) * tonumber(ARGV[4])
redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
return {1, wait}
"""


class RateLimiter:
    def __init__(self, redis_url: str | None) -> None:
        self._redis: Any = None
        if redis_url:
            from redis.asyncio import Redis

            self._redis = Redis.from_url(redis_url)
            self._pace_script = self._redis.register_script(_PACE)
        self._local: dict[str, tuple[int, int]] = {}  # key -> (window, count)
        self._local_tat: dict[str, float] = {}  # key -> theoretical arrival time (monotonic seconds)

    async def hit(self, key: str, limit: int, window_s: int = WINDOW_S) -> int | None:
        """Count one request; None when within ``limit`` per window, else the seconds until the window ends."""
        now = time.time()
        window = int(now // window_s)
        retry_after = max(1, math.ceil((window + 1) * window_s - now))
        count: int | None = None
        if self._redis is not None:
            name = f"studio:ratelimit:{key}:{window_s}:{window}"
            try:
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.incr(name)
                    pipe.expire(name, window_s * 2)
                    count, _ = await pipe.execute()
            except (RedisError, OSError):
                # Redis is away: count in this process instead (per-process limits) rather than refuse everything.
                log.warning("rate limits counted in memory: Redis is unavailable")
        if count is None:
            local = f"{key}:{window_s}"
            seen_window, seen = self._local.get(local, (window, 0))
            count = (seen if seen_window == window else 0) + 1
            self._local[local] = (window, count)
            if len(self._local) > 100_000:  # forget old windows
                self._local = {k: v for k, v in self._local.items() if v[0] == window}
        return retry_after if int(count) > limit else None

    async def pace(self, key: str, rate_per_s: float, *, burst: int, max_wait_s: float, turns: int = 1) -> float | None:
        """Admit one call at ``rate_per_s``, ``burst`` at once from idle, using ``turns`` turns: None once its turn
        has come (after waiting for it, at most ``max_wait_s``), else the seconds after which a call would wait no
        longer than that (its turn is further away; nothing was taken)."""
        interval = 1 / rate_per_s
        tolerance = (max(1, burst) - 1) * interval
        turns = max(1, turns)
        admitted: bool | None = None
        if self._redis is not None:
            try:
                us = [round(v * 1_000_000) for v in (interval, tolerance, max_wait_s)]
                ok, delay_us = await self._pace_script(keys=[f"studio:pace:{key}"], args=[*us, turns])
                admitted, delay = bool(ok), int(delay_us) / 1_000_000
            except (RedisError, OSError):
                log.warning("rate limits counted in memory: Redis is unavailable")
        if admitted is None:
            admitted, delay = self._pace_locally(key, interval, tolerance, max_wait_s, turns)
        if not admitted:
            return max(delay, 0.001)
        if delay > 0:
            await asyncio.sleep(delay)
        return None

    def _pace_locally(
        self, key: str, interval: float, tolerance: float, max_wait_s: float, turns: int
    ) -> tuple[bool, float]:
        now = time.monotonic()
        tat = max(self._local_tat.get(key, now), now)
        wait = max(0.0, tat - tolerance - now)
        if wait > max_wait_s:
            return False, wait - max_wait_s
        self._local_tat[key] = tat + interval * turns
        if len(self._local_tat) > 100_000:  # forget keys that are idle again
            self._local_tat = {k: v for k, v in self._local_tat.items() if v > now}
        return True, wait

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
