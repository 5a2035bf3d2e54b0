"""The work one validation against a user's schema may do, counted deterministically.

A user's schema runs on the event loop, and some small schemas cost a great deal: ``anyOf`` nested 14 deep under
``unevaluatedProperties`` is under 1 KB and took jsonschema 18 s (each level multiplies the work), and a long
pattern over a long string costs RE2 seconds although it is linear. Every keyword call of the studio's validators
and every regex search spends units from the meter of the validation in progress; past its limit the validation
stops with ``TooExpensive``, which the caller reports as a problem. One unit is about one keyword call of
jsonschema (2.5 to 5 µs here), so a limit of N units bounds the CPU time, whatever the schema does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

# About 0.5 to 1 s of work on this machine (2 cores, shared): more than any form or webhook payload needs. A valid
# input usually takes the fast path and spends only its regex searches; jsonschema, for an invalid one, spends about
# one unit per value checked (a 1 MB input of 30,000 small objects with an error: ~180,000 units, and it stops there
# with the problems found so far).
DEFAULT_UNITS = 150_000


class TooExpensive(Exception):
    """The validation in progress spent its budget; ``units`` is the limit it had."""

    def __init__(self, units: int) -> None:
        super().__init__(f"spent more than {units:,} units")
        self.units = units


class Meter:
    """Units left for one validation; ``spend`` raises TooExpensive once they run out."""

    __slots__ = ("left", "units")

    def __init__(self, units: int) -> None:
        self.units, self.left = units, units

    def spend(self, units: int) -> None:
        self.left -= units
        if self.left < 0:
            raise TooExpensive(self.units)


_current: ContextVar[Meter | None] = ContextVar("studio_schema_meter", default=None)


def spend(units: int) -> None:
    """Charge ``units`` to the validation in progress (nothing when none is metered)."""
    meter = _current.get()
    if meter is not None:
        meter.spend(units)


@contextlib.contextmanager
def metered(units: int | None) -> Iterator[None]:
    """Run a validation with a budget of ``units`` (None: unmetered, for the studio's own schemas)."""
    token = _current.set(None if units is None else Meter(units))
    try:
        yield
    finally:
        _current.reset(token)
