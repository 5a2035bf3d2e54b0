"""Fixed-window rate limits per key: in Redis when configured (shared by every API process), else in memory."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from redis.exceptions import RedisError

log = logging.getLogger("studio.gql")

WINDOW_S = 60


class RateLimiter:
    def __init__(self, redis_url: str | None) -> None:
        self._redis: Any = None
        if redis_url:
            from redis.asyncio import Redis

            self._redis = Redis.from_url(redis_url)
        self._local: dict[str, tuple[int, int]] = {}  # key -> (window, count)

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

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
