"""``python -m bench <benchmark> [options]``: one subcommand per benchmark module.

A benchmark module exposes ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``main(args) -> int``;
list it in ``BENCHMARKS`` to make it a subcommand.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from types import ModuleType

from bench import (
    admission,
    client,
    code,
    engine,
    error_runs,
    fanout,
    graphql_reads,
    graphql_validation,
    logins,
    schedule_latency,
    schemas,
    starts,
    subscriptions,
    trusted_documents,
    validation,
    webhooks,
)

BENCHMARKS: tuple[ModuleType, ...] = (
    client,
    engine,
    fanout,
    graphql_reads,
    graphql_validation,
    subscriptions,
    webhooks,
    schedule_latency,
    starts,
    logins,
    schemas,
    admission,
    validation,
    code,
    error_runs,
    trusted_documents,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    for module in BENCHMARKS:
        command = sub.add_parser(module.NAME, help=module.HELP, description=module.__doc__)
        module.add_arguments(command)
        command.set_defaults(run=module.main)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
