"""Rate limits per key, in Redis when configured (shared by every process), else in memory.

``hit``: fixed windows (webhook deliveries per minute, answered 429 with ``Retry-After``).
``attempt``: back-off after failures (logins per account and per address): see its docstring.
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


# Back-off over several keys at once, atomically. Per key: KEYS[2i-1] counts attempts not yet forgiven,
# KEYS[2i] is a lock whose time to live is the wait. ARGV: free attempts per key (one per key), then base and cap of
# the lock (ms), then how long a count is remembered (ms). Returns the longest wait in ms (0: admitted, counted).
_ATTEMPT = """
local n = #KEYS / 2
local wait = 0
for i = 1, n do
  local left = redis.call('PTTL', KEYS[2 * i])
  if left > wait then wait = left end
end
if wait > 0 then return wait end
local base, cap, forget = tonumber(ARGV[n + 1]), tonumber(ARGV[n + 2]), tonumber(ARGV[n + 3])
for i = 1, n do
  local count = redis.call('INCR', KEYS[2 * i - 1])
  redis.call('PEXPIRE', KEYS[2 * i - 1], forget)
  local free = tonumber(ARGV[i])
  if count >= free then
    local lock = math.min(cap, base * 2 ^ math.min(count - free, 40))
    redis.call('SET', KEYS[2 * i], '1', 'PX', string.format('%d', lock))
  end
end
return 0
"""
# Uncount one attempt of a key (a success from an address); the lock goes once the count is under the free ones.
# KEYS: count, lock. ARGV: free attempts.
_REFUND = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count > 0 then count = redis.call('DECR', KEYS[1]) end
if count < tonumber(ARGV[1]) then redis.call('DEL', KEYS[2]) end
return count
"""


class RateLimiter:
    def __init__(self, redis_url: str | None) -> None:
        self._redis: Any = None
        if redis_url:
            from redis.asyncio import Redis

            self._redis = Redis.from_url(redis_url)
            self._pace_script = self._redis.register_script(_PACE)
            self._attempt_script = self._redis.register_script(_ATTEMPT)
            self._refund_script = self._redis.register_script(_REFUND)
        self._local: dict[str, tuple[int, int]] = {}  # key -> (window, count)
        self._local_tat: dict[str, float] = {}  # key -> theoretical arrival time (monotonic seconds)
        self._local_strikes: dict[str, tuple[int, float, float]] = {}  # key -> (count, locked until, forget at)

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

    async def attempt(self, guards: dict[str, int], *, base_s: float, cap_s: float) -> float | None:
        """Admit one attempt of a guarded action (a login) under every key of ``guards`` (key -> free attempts), or
        refuse it: None when admitted, else the seconds until every key's lock has passed (nothing is counted).

        An admitted attempt counts against each key until ``forgive`` (the account proved itself) or ``refund``
        (an address's attempt succeeded). From a key's ``free``-th counted attempt on, each one locks the key for
        ``base_s`` doubled per attempt beyond (at most ``cap_s``), so the next attempt waits. Counting before the
        outcome is known keeps a burst of concurrent attempts to the free ones; counts are forgotten ``2 * cap_s``
        after the last attempt. Every key is checked and counted in one atomic step."""
        forget_s = 2 * cap_s
        if self._redis is not None:
            try:
                keys = [name for key in guards for name in (f"studio:strikes:{key}", f"studio:lock:{key}")]
                args = [*guards.values(), round(base_s * 1000), round(cap_s * 1000), round(forget_s * 1000)]
                wait_ms = int(await self._attempt_script(keys=keys, args=args))
                return wait_ms / 1000 if wait_ms > 0 else None
            except (RedisError, OSError):
                log.warning("login limits counted in memory: Redis is unavailable")
        now = time.monotonic()
        if len(self._local_strikes) > 100_000:  # forget keys nobody tried for a while
            self._local_strikes = {k: v for k, v in self._local_strikes.items() if v[2] > now}
        held = [self._local_strikes.get(key) for key in guards]
        wait = max((entry[1] - now for entry in held if entry is not None), default=0.0)
        if wait > 0:
            return wait
        for (key, free), entry in zip(guards.items(), held, strict=True):
            count = (entry[0] if entry is not None and entry[2] > now else 0) + 1
            until = now + min(cap_s, base_s * 2 ** min(count - free, 40)) if count >= free else 0.0
            self._local_strikes[key] = (count, until, now + forget_s)
        return None

    async def forgive(self, key: str) -> None:
        """Forget every counted attempt and lock of ``key``."""
        if self._redis is not None:
            try:
                await self._redis.delete(f"studio:strikes:{key}", f"studio:lock:{key}")
            except (RedisError, OSError):
                log.warning("login limits counted in memory: Redis is unavailable")
        self._local_strikes.pop(key, None)

    async def refund(self, key: str, free: int) -> None:
        """Uncount one attempt of ``key``; its lock goes once fewer than ``free`` attempts are counted."""
        if self._redis is not None:
            try:
                await self._refund_script(keys=[f"studio:strikes:{key}", f"studio:lock:{key}"], args=[free])
            except (RedisError, OSError):
                log.warning("login limits counted in memory: Redis is unavailable")
        entry = self._local_strikes.get(key)
        if entry is not None:
            count = max(0, entry[0] - 1)
            self._local_strikes[key] = (count, entry[1] if count >= free else 0.0, entry[2])

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
