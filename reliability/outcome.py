"""What every scenario returns: its bounds (held or not) and its headline figures for the closing table."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class Outcome:
    bounds: dict[str, bool] = field(default_factory=dict)  # bound -> held
    figures: dict[str, str] = field(default_factory=dict)  # headline figure -> value, for the summary table

    @property
    def ok(self) -> bool:
        return all(self.bounds.values())

    def check(self, bound: str, held: bool) -> None:
        self.bounds[bound] = held
        print(f"{'PASS' if held else 'FAIL'}: {bound}", flush=True)


class Scenario(Protocol):
    NAME: str
    TITLE: str

    async def run(self, runs: int) -> Outcome: ...


@dataclass(frozen=True)
class Measured:
    """A scenario that is one measuring function of ``--runs``."""

    NAME: str
    TITLE: str
    measure: Callable[[int], Awaitable[Outcome]]

    async def run(self, runs: int) -> Outcome:
        return await self.measure(runs)
