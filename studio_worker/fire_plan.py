"""What one scheduler pass does with a due schedule: which ticks fire, which were missed, what overlap allows.

Pure: the scheduler loads the schedule and the state of its previous fire, calls ``plan``, and writes the
result in one transaction. A fire's ``outcome`` is one of:

* ``pending``: claimed, its run is being started (a fire left pending by a dead scheduler is started again by
  any scheduler; the run's idempotency key makes that start the same run);
* ``started``: its run exists (``run_id``);
* ``buffered``: ``buffer_one`` while the previous fire's run is active; it starts when that run finishes;
* ``skipped``: the previous fire's run was still active (``skip``, or ``buffer_one`` with one already waiting);
* ``missed``: the scheduler reached the tick too late (downtime) and the catch-up policy did not fire it;
* ``failed``: the run could not start (workflow archived or unpublished, input invalid); ``error`` says why.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from studio_shared.cron import Cron, jitter

PENDING, STARTED, BUFFERED, SKIPPED, MISSED, FAILED = "pending", "started", "buffered", "skipped", "missed", "failed"
MAX_CATCH_UP = 1000  # missed ticks one pass looks at (the most recent ones): bounded work after any downtime
MAX_DUE = 1000  # ticks due at once that one pass fires (a per-second schedule within the grace has 30)


@dataclass(frozen=True, slots=True)
class Timing:
    """The settings of a schedule that decide its fires."""

    schedule_id: uuid.UUID
    cron: Cron
    jitter_s: int = 0
    overlap: str = "skip"
    catch_up: str = "skip"
    catch_up_window_s: int | None = None

    def due(self, tick: datetime) -> datetime:
        """When a tick fires: the tick plus its jitter, which every scheduler computes alike."""
        return tick + jitter(str(self.schedule_id), tick, self.jitter_s)


@dataclass(frozen=True, slots=True)
class Previous:
    """The schedule's previous fires: is a run of it active (or about to start), is a fire waiting for it?"""

    active: bool = False
    buffered: bool = False


@dataclass(slots=True)
class Plan:
    fires: list[tuple[datetime, str]] = field(default_factory=list)  # (tick, outcome), oldest first
    next_tick: datetime | None = None  # the new cursor; None: the expression never matches again
    next_fire: datetime | None = None

    @property
    def last_fired(self) -> datetime | None:
        """The newest tick that fired (started, buffered or skipped by overlap; not a missed one)."""
        fired = [tick for tick, outcome in self.fires if outcome != MISSED]
        return fired[-1] if fired else None


def plan(timing: Timing, cursor: datetime, now: datetime, grace: timedelta, previous: Previous) -> Plan:
    """Fire the ticks from ``cursor`` (the schedule's next tick) up to ``now``.

    A tick more than ``grace`` (plus the largest jitter) older than ``now`` was missed; the catch-up policy
    picks which missed ticks still fire: ``skip`` none, ``latest`` the newest, ``all`` every one within
    ``catch_up_window_s`` (at most ``MAX_CATCH_UP``). The others are recorded as missed.
    """
    cron = timing.cron
    missed_before = now - grace - timedelta(seconds=timing.jitter_s)
    missed: list[datetime] = []
    tick: datetime | None = cursor
    if cursor < missed_before:
        found = cron.previous_before(missed_before)
        while found is not None and found >= cursor and len(missed) < MAX_CATCH_UP:
            missed.append(found)
            found = cron.previous_before(found)
        missed.reverse()
        tick = cron.next_after(missed_before - timedelta(microseconds=1))
    on_time: list[datetime] = []
    while tick is not None and timing.due(tick) <= now and len(on_time) < MAX_DUE:
        on_time.append(tick)
        tick = cron.next_after(tick)

    window_start = now - timedelta(seconds=timing.catch_up_window_s) if timing.catch_up_window_s else None
    eligible = [t for t in missed if window_start is None or t >= window_start]
    catch = {"skip": [], "latest": eligible[-1:], "all": eligible}.get(timing.catch_up, [])
    result = Plan(next_tick=tick, next_fire=timing.due(tick) if tick is not None else None)
    decided = _overlap(timing.overlap, [*catch, *on_time], previous)
    caught = set(catch)
    result.fires = sorted([(t, MISSED) for t in missed if t not in caught] + decided)
    return result


def _overlap(policy: str, ticks: list[datetime], previous: Previous) -> list[tuple[datetime, str]]:
    """Each firing tick's outcome under the overlap policy; a tick this pass starts is active for the next."""
    active, buffered = previous.active, previous.buffered
    out: list[tuple[datetime, str]] = []
    for tick in ticks:
        if policy in ("allow", "cancel_previous") or not active:
            outcome = PENDING
            active = True
        elif policy == "buffer_one" and not buffered:
            outcome = BUFFERED
            buffered = True
        else:
            outcome = SKIPPED
        out.append((tick, outcome))
    return out
