"""Admission: the one gate every new run passes, whatever started it.

- A **start** (GraphQL ``startRun``, ``replayRun`` and ``retryRun``, a webhook delivery, a message, a schedule's
  fire; all of them through ``Control``) takes a turn of its tenant's start pace (``run_starts_per_tenant_per_s``,
  one budget for every kind of start, in Redis when configured so every process shares it) and must fit under the
  tenant's cap on live runs.
- A **child run** (``foreach``, ``subworkflow``, ``loop``, an agent's workflow tool) must fit under the same cap; it
  takes no turn of the pace (a parent waiting for a turn would stall its own run) and is spawned held: the held-run
  dispatch gives it one of the tenant's concurrency slots when one is free, exactly like a start beyond the limit.

A refusal is ``RateLimited`` (``TooManyLiveRuns`` for the cap), which every transport maps the same way. Live runs are
counted with a bounded count (``studio_worker.engine.records.limits``).
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from studio_shared.errors import RateLimited, TooManyLiveRuns
from studio_shared.ratelimit import RateLimiter
from studio_shared.settings import Settings
from studio_worker.engine.records import limits

START_TURN_WAIT_S = 1.0  # a start waits this long for its turn at most; one whose turn is further away is refused


class Admission:
    """The start pace of every tenant and the cap on its live runs; ``Control`` holds one, the engine reads the cap."""

    def __init__(self, settings: Settings, limiter: RateLimiter) -> None:
        self.settings, self.limiter = settings, limiter

    async def take_turns(self, tenant_id: uuid.UUID, turns: int = 1) -> None:
        """Wait for the tenant's next turn to start runs (at most ``START_TURN_WAIT_S``) and use ``turns`` of them;
        RateLimited, taking nothing, when the turn is further away."""
        rate = self.settings.run_starts_per_tenant_per_s
        if not rate:
            return
        retry_after = await self.limiter.pace(
            f"runstart:{tenant_id}", rate, burst=rate, max_wait_s=START_TURN_WAIT_S, turns=turns
        )
        if retry_after is not None:
            retry_after = math.ceil(retry_after * 100) / 100
            raise RateLimited(
                f"your tenant starts at most {rate} runs per second: retry in {retry_after:g} s", retry_after
            )

    async def check_room(self, conn: Any, tenant_id: uuid.UUID, adding: int) -> None:
        """TooManyLiveRuns unless ``adding`` more live runs fit under the tenant's cap (one bounded count)."""
        await check_live_room(conn, tenant_id, adding, self.settings.max_live_runs_per_tenant)


async def check_live_room(conn: Any, tenant_id: uuid.UUID, adding: int, default_cap: int) -> None:
    """TooManyLiveRuns unless ``adding`` more live runs fit under the tenant's cap (a Core connection or session)."""
    live, cap = await limits.live_room(conn, tenant_id, default_cap)
    refuse_beyond_cap(live, cap, adding)


def refuse_beyond_cap(live: int, cap: int, adding: int) -> None:
    if live + adding > cap:
        raise TooManyLiveRuns(cap, live, adding)
