"""``python -m reliability [scenario …]``: fault scenarios against real processes, counted, not assumed.

Each scenario prints its figures and a PASS/FAIL line per bound; the exit status is non-zero when any bound
is broken. ``make reliability`` runs them all (PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from reliability import fanout, faults, fuzz, hostile, live, load, outage, services
from reliability.outcome import Outcome, Scenario

SCENARIOS: dict[str, Scenario] = {
    scenario.NAME: scenario
    for module in (faults, outage, services, load, fanout, live, hostile, fuzz)
    for scenario in module.SCENARIOS
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reliability", description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", help=f"any of {', '.join(SCENARIOS)} (default: all)")
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args(argv)
    unknown = [name for name in args.scenarios if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {', '.join(unknown)}: choose from {', '.join(SCENARIOS)}")
    outcomes: dict[str, Outcome] = {}
    for name in args.scenarios or list(SCENARIOS):
        print(f"\n## {name}: {SCENARIOS[name].TITLE}", flush=True)
        outcomes[name] = asyncio.run(SCENARIOS[name].run(args.runs))
    print(summary(outcomes))
    failed = [name for name, outcome in outcomes.items() if not outcome.ok]
    print("\nall bounds held" if not failed else f"\nbounds broken in: {', '.join(failed)}")
    return 1 if failed else 0


def summary(outcomes: dict[str, Outcome]) -> str:
    """The closing table: one row per scenario, its headline figures, and its bounds held out of checked."""
    lines = ["", "## Summary", "", "| scenario | figures | bounds held |", "| --- | --- | ---: |"]
    for name, outcome in outcomes.items():
        figures = "; ".join(f"{key} {value}" for key, value in outcome.figures.items())
        held = sum(outcome.bounds.values())
        lines.append(f"| {name} | {figures} | {held}/{len(outcome.bounds)}{'' if outcome.ok else ' FAIL'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
