"""Cron expressions evaluated on the wall clock of an IANA timezone, with daylight-saving time made explicit.

A schedule's ticks are the instants at which the zone's wall clock shows a time the expression matches.
Two kinds of wall time need a rule, and we follow Vixie cron's (the cron of most Unix systems):

* **Fixed-time expressions** (a specific minute *and* hour, e.g. ``30 2 * * *``) mean "once at this time of
  day". A time the clock skips (spring forward: 02:30 does not exist in Berlin on the last Sunday of March)
  fires once, at the first instant after the gap (03:00 CEST). A time the clock shows twice (fall back:
  02:30 happens in CEST and again in CET) fires once, at its first occurrence.
* **Interval expressions** (a ``*`` or ``*/n`` minute or hour field, e.g. ``*/15 * * * *``, ``0 * * * *``)
  mean "every so often" and follow elapsed time: a skipped wall time does not happen (the next tick is the
  next one the clock shows), and a repeated wall time fires at both of its instants.

Ticks that land on the same instant are one tick. Expressions have 5 fields (minute hour day-of-month month
day-of-week) or 6 with a trailing seconds field (croniter's order); ``@hourly``, ``@daily``, ``@weekly``,
``@monthly`` and ``@yearly`` are accepted.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterError, croniter

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# Keys ZoneInfo loads that mean "whatever this machine is set to": a schedule must not change with the host.
MACHINE_ZONES = frozenset({"localtime", "posixrules", "Factory"})
# A backward clock change (fall back) is looked for this far around an instant; real ones are 30 min to 2 h.
LOOKAROUND = timedelta(hours=25)
MAX_STEPS = 200_000  # croniter steps per search: an hour's fold of a per-second expression is 3,600
MAX_YEARS = 5  # an expression that matches nothing within this many years (30 February) never fires
_SECOND = timedelta(seconds=1)
# croniter's R (random) and H (hashed) fields: each process would pick its own value, so schedulers would disagree.
_RANDOM = re.compile(r"(?<![A-Za-z])[HhRr](?![A-Za-z])")


class InvalidCron(ValueError):
    """The expression is not a cron expression this studio accepts; the message says why."""


class InvalidTimezone(ValueError):
    """The name is not an IANA timezone (``Europe/Berlin``, ``America/New_York``, ``UTC``)."""


def parse_timezone(name: str) -> ZoneInfo:
    if not name or name != name.strip() or name in MACHINE_ZONES:
        raise InvalidTimezone(f"{name!r} is not an IANA timezone name such as 'Europe/Berlin' or 'UTC'")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise InvalidTimezone(f"unknown timezone {name!r}: use an IANA name such as 'Europe/Berlin' or 'UTC'") from exc


@dataclass(frozen=True, slots=True)
class Cron:
    """A validated expression in a timezone; ``next_after`` and ``previous_before`` give tick instants in UTC."""

    expression: str  # normalised: single spaces, aliases expanded
    zone: ZoneInfo
    fixed_time: bool  # minute and hour both specific: gaps shift, repeats fire once (see the module docstring)
    has_seconds: bool

    @classmethod
    def parse(cls, expression: str, timezone: str = "UTC") -> Cron:
        """Raises InvalidCron or InvalidTimezone; an expression that can never fire is invalid too."""
        zone = parse_timezone(timezone)
        text = " ".join(expression.split())
        text = ALIASES.get(text.lower(), text)
        fields = text.split(" ")
        if not text or len(fields) not in (5, 6):
            raise InvalidCron(
                f"a cron expression has 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds "
                f"last; {expression!r} has {len(fields) if text else 0}"
            )
        if _RANDOM.search(text):
            raise InvalidCron(f"{expression!r}: random ('R') and hashed ('H') fields are not supported")
        try:
            croniter(text, datetime(2000, 1, 1), max_years_between_matches=MAX_YEARS)
        except (CroniterBadCronError, CroniterError, ValueError, KeyError) as exc:
            raise InvalidCron(f"{expression!r} is not a valid cron expression: {exc}") from exc
        minute, hour = fields[0], fields[1]
        cron = cls(text, zone, not (minute.startswith("*") or hour.startswith("*")), len(fields) == 6)
        if cron.next_after(datetime.now(UTC)) is None:
            raise InvalidCron(f"{expression!r} matches no date within {MAX_YEARS} years (e.g. 30 February)")
        return cron

    @property
    def timezone(self) -> str:
        return self.zone.key

    # -- searching -----------------------------------------------------------------------------------

    def next_after(self, after: datetime) -> datetime | None:
        """The first tick strictly after ``after`` (aware), in UTC; None if the expression never matches again."""
        after = after.astimezone(UTC)
        best: datetime | None = None
        bound: datetime | None = None  # no wall time past this can map to an instant before ``best``
        for wall in self._walls(self._earliest_wall_after(after) - _SECOND, forward=True):
            if bound is not None and wall > bound:
                break
            for instant in self.instants(wall):
                if instant > after and (best is None or instant < best):
                    best, bound = instant, self._latest_wall_before(instant)
        return best

    def previous_before(self, before: datetime) -> datetime | None:
        """The last tick strictly before ``before`` (aware), in UTC; None if there is none within the search."""
        before = before.astimezone(UTC)
        best: datetime | None = None
        bound: datetime | None = None  # no wall time before this can map to an instant after ``best``
        for wall in self._walls(self._latest_wall_before(before) + _SECOND, forward=False):
            if bound is not None and wall < bound:
                break
            for instant in self.instants(wall):
                if instant < before and (best is None or instant > best):
                    best, bound = instant, self._earliest_wall_after(instant)
        return best

    def instants(self, wall: datetime) -> list[datetime]:
        """The UTC instants a matching naive wall-clock time fires at: usually one; see the module docstring."""
        first = wall.replace(tzinfo=self.zone, fold=0).astimezone(UTC)
        second = wall.replace(tzinfo=self.zone, fold=1).astimezone(UTC)
        if first == second:
            return [first]
        if first.astimezone(self.zone).replace(tzinfo=None) == wall:  # shown twice: first < second
            return [first] if self.fixed_time else [first, second]
        # Never shown (fold=1 applies the later offset, so it is the earlier instant): the gap ends in between.
        return [self._transition(second, first)] if self.fixed_time else []

    # -- helpers ---------------------------------------------------------------------------------------

    def _walls(self, start: datetime, *, forward: bool) -> Iterator[datetime]:
        it = croniter(self.expression, start, max_years_between_matches=MAX_YEARS)
        for _ in range(MAX_STEPS):
            try:
                found: datetime = it.get_next(datetime) if forward else it.get_prev(datetime)
            except CroniterBadDateError:
                return
            yield found

    def _wall(self, at: datetime) -> datetime:
        return at.astimezone(self.zone).replace(tzinfo=None)

    def _offset(self, at: datetime) -> timedelta:
        offset = at.astimezone(self.zone).utcoffset()
        return offset if offset is not None else timedelta(0)

    def _earliest_wall_after(self, at: datetime) -> datetime:
        """The smallest wall-clock reading at any instant after ``at``: lower when the clock falls back soon."""
        wall = self._wall(at)
        later = at + LOOKAROUND
        if self._offset(later) < self._offset(at):
            change = self._transition(at, later)
            wall = min(wall, self._wall(change))
        return wall

    def _latest_wall_before(self, at: datetime) -> datetime:
        """The largest wall-clock reading at any instant before ``at``: higher when the clock fell back lately."""
        wall = self._wall(at)
        earlier = at - LOOKAROUND
        if self._offset(earlier) > self._offset(at):
            change = self._transition(earlier, at)
            wall = max(wall, (change + self._offset(earlier)).replace(tzinfo=None))
        return wall

    def _transition(self, lo: datetime, hi: datetime) -> datetime:
        """The first instant in (lo, hi] with hi's UTC offset (one offset change lies in between), to the second."""
        target = self._offset(hi)
        lo_s, hi_s = int(lo.timestamp()), int(hi.timestamp())
        while hi_s - lo_s > 1:
            mid = (lo_s + hi_s) // 2
            if self._offset(datetime.fromtimestamp(mid, UTC)) == target:
                hi_s = mid
            else:
                lo_s = mid
        return datetime.fromtimestamp(hi_s, UTC)


def jitter(seed: str, tick: datetime, max_s: int) -> timedelta:
    """A delay in [0, max_s] seconds (millisecond steps) that depends only on the seed and the tick.

    Every scheduler process computes the same value, so they agree on when a jittered tick is due.
    """
    if max_s <= 0:
        return timedelta(0)
    digest = hashlib.sha256(f"{seed}|{tick.astimezone(UTC).isoformat()}".encode()).digest()
    return timedelta(milliseconds=int.from_bytes(digest[:8], "big") % (max_s * 1000 + 1))
