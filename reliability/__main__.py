"""``python -m reliability [scenario …]``: fault scenarios against real processes, counted, not assumed.

Each scenario prints its figures and a PASS/FAIL line per bound; the exit status is non-zero when any bound
is broken. ``make reliability`` runs them all (PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import signal
import sys
import time
from collections.abc import Sequence

from bench.engine import end_spawned
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
    # Stopped from outside (Ctrl-C, SIGTERM, CI's timeout), the scenario's processes die with it (bench.engine).
    atexit.register(end_spawned)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    outcomes: dict[str, Outcome] = {}
    seconds: dict[str, float] = {}
    for name in args.scenarios or list(SCENARIOS):
        print(f"\n## {name}: {SCENARIOS[name].TITLE}", flush=True)
        began = time.monotonic()
        outcomes[name] = asyncio.run(SCENARIOS[name].run(args.runs))
        seconds[name] = time.monotonic() - began
    print(summary(outcomes, seconds))
    failed = [name for name, outcome in outcomes.items() if not outcome.ok]
    print("\nall bounds held" if not failed else f"\nbounds broken in: {', '.join(failed)}")
    return 1 if failed else 0


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds the scenario (its context managers) and runs the atexit hooks


def summary(outcomes: dict[str, Outcome], seconds: dict[str, float]) -> str:
    """The closing table: one row per scenario, its headline figures, its bounds held out of checked, and how long
    it took (the whole run has to fit in CI's time)."""
    lines = ["", "## Summary", "", "| scenario | figures | bounds held | s |", "| --- | --- | ---: | ---: |"]
    for name, outcome in outcomes.items():
        figures = "; ".join(f"{key} {value}" for key, value in outcome.figures.items())
        held = f"{sum(outcome.bounds.values())}/{len(outcome.bounds)}{'' if outcome.ok else ' FAIL'}"
        lines.append(f"| {name} | {figures} | {held} | {seconds[name]:.0f} |")
    lines.append(f"| all | | | {sum(seconds.values()):.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
