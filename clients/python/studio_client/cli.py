"""``studio-cli``: daily work with runs and tasks from a shell or CI, on ``studio_client``.

Profiles (server URL and API key by name) live in ``$STUDIO_CLI_CONFIG`` (default
``~/.config/studio/profiles.json``), written with mode 0600. ``STUDIO_URL`` and ``STUDIO_TOKEN`` override the
profile. Output is a table, or JSON with ``--json``. Exit codes: 0 success (a waited run SUCCEEDED), 1 the run
FAILED, 2 bad usage, 3 the run was CANCELLED, 4 the server refused or could not be reached, 5 a wait timed out.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from studio_client._generated.enums import Decision, HumanTaskStatus, RunStatus
from studio_client.aio import FINISHED, AsyncStudioClient, Run
from studio_client.errors import StudioError, TransportError, WaitTimeout

EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED, EXIT_ERROR, EXIT_TIMEOUT = 1, 2, 3, 4, 5
RUN_EXIT = {RunStatus.SUCCEEDED: 0, RunStatus.FAILED: EXIT_FAILED, RunStatus.CANCELLED: EXIT_CANCELLED}


class UsageError(Exception):
    pass


def config_path() -> Path:
    return Path(os.environ.get("STUDIO_CLI_CONFIG") or Path.home() / ".config" / "studio" / "profiles.json")


def load_profiles() -> dict[str, dict[str, str]]:
    path = config_path()
    if not path.exists():
        return {}
    try:
        loaded = json.loads(path.read_text())
    except ValueError as exc:
        raise UsageError(f"{path} is not valid JSON ({exc}); fix or delete it, then run `studio-cli login`") from None
    return loaded if isinstance(loaded, dict) else {}


def save_profiles(profiles: dict[str, dict[str, str]]) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(profiles, out, indent=2, sort_keys=True)
    os.chmod(path, 0o600)  # an older file keeps its mode on open: set it
    return path


def connect(args: argparse.Namespace) -> AsyncStudioClient:
    profile = load_profiles().get(args.profile, {})
    url = os.environ.get("STUDIO_URL") or profile.get("server")
    token = os.environ.get("STUDIO_TOKEN") or profile.get("api_key")
    if not url or not token:
        raise UsageError(
            f"no server or key for profile {args.profile!r}: run `studio-cli login --profile {args.profile}` "
            "or set STUDIO_URL and STUDIO_TOKEN"
        )
    return AsyncStudioClient(url, token)


def parse_since(text: str) -> datetime:
    """``90s``, ``15m``, ``1h``, ``2d`` ago, or an ISO 8601 time."""
    match = re.fullmatch(r"(\d+)\s*([smhd])", text.strip())
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        unit_name = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[unit]
        return datetime.now(UTC) - timedelta(**{unit_name: amount})
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--since {text!r}: give a duration like 30m, 1h, 2d or an ISO time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_input(text: str | None) -> Any:
    """``--input``: JSON text, or ``@file.json``, or ``@-`` for standard input."""
    if text is None:
        return None
    try:
        source = (sys.stdin.read() if text == "@-" else Path(text[1:]).read_text()) if text.startswith("@") else text
    except OSError as exc:
        raise UsageError(f"--input {text}: {exc.strerror}") from None
    try:
        return json.loads(source)
    except ValueError as exc:
        raise UsageError(f"--input {text}: not JSON ({exc})") from None


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def emit_json(value: Any) -> None:
    print(json.dumps(_jsonable(value), sort_keys=True))


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    cells = [[("" if c is None else str(c)) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _when(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def show_runs(runs: list[Run], as_json: bool) -> None:
    if as_json:
        emit_json(runs)
        return
    table(
        [(r.id, r.workflow.name, r.status.value, r.trigger, _when(r.created_at), _when(r.finished_at)) for r in runs],
        ["ID", "WORKFLOW", "STATUS", "TRIGGER", "CREATED", "FINISHED"],
    )


class Progress:
    """One line on stderr, rewritten in place, when stderr is a terminal (nothing otherwise)."""

    def __init__(self) -> None:
        self.on = sys.stderr.isatty()
        self.started = time.monotonic()

    def update(self, text: str) -> None:
        if self.on:
            sys.stderr.write(f"\r\x1b[2K{text} ({time.monotonic() - self.started:.0f} s)")
            sys.stderr.flush()

    def done(self) -> None:
        if self.on:
            sys.stderr.write("\r\x1b[2K")
            sys.stderr.flush()


async def wait_with_progress(studio: AsyncStudioClient, run: Run, limit_s: float | None) -> Run:
    progress = Progress()
    try:
        async with asyncio.timeout(limit_s):
            try:
                async with aclosing(studio.run_events(run.id)) as events:
                    async for event in events:
                        step = f" {event.step_id}" if event.step_id else ""
                        progress.update(f"run {run.id}: {event.kind.value}{step}")
                        if event.final:
                            break
            except TransportError:
                progress.update(f"run {run.id}: polling")
            return await studio.wait_for_run(run.id)
    except TimeoutError:
        raise WaitTimeout(run.id, limit_s or 0.0) from None
    finally:
        progress.done()


async def cmd_login(args: argparse.Namespace) -> int:
    key = os.environ.get("STUDIO_TOKEN") or (
        getpass.getpass("API key: ") if sys.stdin.isatty() else sys.stdin.readline().strip()
    )
    if not key:
        raise UsageError("no API key: type it when asked, pipe it on stdin or set STUDIO_TOKEN (never an argument)")
    async with AsyncStudioClient(args.server, key) as studio:
        await studio.list_runs(first=1)  # the key works on this server
    profiles = load_profiles()
    profiles[args.profile] = {"server": args.server, "api_key": key}
    path = save_profiles(profiles)
    print(f"profile {args.profile!r} saved in {path}", file=sys.stderr)
    return 0


async def cmd_runs_start(args: argparse.Namespace) -> int:
    async with connect(args) as studio:
        run = await studio.start_run(args.workflow, parse_input(args.input), version=args.version)
        if args.wait and run.status not in FINISHED:
            run = await wait_with_progress(studio, run, args.timeout)
        if args.json:
            emit_json(run)
        else:
            show_runs([run], False)
        return RUN_EXIT.get(run.status, 0) if args.wait else 0


async def cmd_runs_list(args: argparse.Namespace) -> int:
    statuses = [RunStatus(s.upper()) for s in args.status] if args.status else None
    since = parse_since(args.since) if args.since else None
    async with connect(args) as studio:
        runs = await studio.list_runs(status=statuses, workflow_id=args.workflow, created_after=since, first=args.limit)
    show_runs(runs, args.json)
    return 0


async def cmd_runs_tail(args: argparse.Namespace) -> int:
    async with connect(args) as studio:
        async for event in studio.run_events(args.run, after_seq=args.after_seq):
            if args.json:
                emit_json(event)
            else:
                step = f" {event.step_id}" if event.step_id else ""
                status = f" {event.status}" if event.status else ""
                print(f"{event.seq:>5}  {_when(event.at)}  {event.kind.value}{step}{status}", flush=True)
            sys.stdout.flush()
        run = await studio.get_run(args.run)
    return RUN_EXIT.get(run.status, 0) if run else 0


async def cmd_runs_retry(args: argparse.Namespace) -> int:
    async with connect(args) as studio:
        run = await studio.retry_run(args.run, from_step=args.from_step)
    show_runs([run], args.json)
    return 0


async def cmd_tasks_list(args: argparse.Namespace) -> int:
    status = HumanTaskStatus(args.status.upper()) if args.status else None
    async with connect(args) as studio:
        tasks = await studio.list_tasks(status=status, assigned_to_me=args.mine or None, first=args.limit)
    if args.json:
        emit_json(tasks)
    else:
        table(
            [(t.id, t.status.value, t.title, t.run.id, t.assignee_role.value, _when(t.created_at)) for t in tasks],
            ["ID", "STATUS", "TITLE", "RUN", "ROLE", "CREATED"],
        )
    return 0


async def cmd_tasks_decide(args: argparse.Namespace) -> int:
    async with connect(args) as studio:
        task = await studio.decide_task(args.task, args.decision, comment=args.comment, data=parse_input(args.data))
    if args.json:
        emit_json(task)
    else:
        print(f"task {task.id}: {task.status.value}")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="studio-cli", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    root.add_argument("--profile", default=os.environ.get("STUDIO_PROFILE", "default"), help="profile name")
    commands = root.add_subparsers(dest="command", required=True)

    def leaf(parent: Any, name: str, handler: Any, help: str) -> argparse.ArgumentParser:
        made: argparse.ArgumentParser = parent.add_parser(name, help=help)
        made.set_defaults(handler=handler)
        made.add_argument("--profile", default=argparse.SUPPRESS, help="profile name (default: default)")
        if handler is not cmd_login:
            made.add_argument("--json", action="store_true", help="JSON instead of a table")
        return made

    login = leaf(commands, "login", cmd_login, "save a profile (the API key is asked for, or read from stdin)")
    login.add_argument("--server", required=True, help="e.g. https://studio.example.com")

    runs = commands.add_parser("runs", help="start, list, follow and retry runs").add_subparsers(
        dest="action", required=True
    )
    start = leaf(runs, "start", cmd_runs_start, "start a run of a workflow")
    start.add_argument("workflow", help="workflow id")
    start.add_argument("--input", help="JSON, @file.json or @- (stdin)")
    start.add_argument("--version", type=int)
    start.add_argument("--wait", action="store_true", help="wait for the end; the exit code tells how it ended")
    start.add_argument("--timeout", type=float, help="seconds to wait at most")
    listing = leaf(runs, "list", cmd_runs_list, "list runs, newest first")
    listing.add_argument("--status", action="append", type=str.upper, choices=[s.value for s in RunStatus])
    listing.add_argument("--since", help="30m, 1h, 2d or an ISO time")
    listing.add_argument("--workflow", help="workflow id")
    listing.add_argument("--limit", type=int, default=50)
    tail = leaf(runs, "tail", cmd_runs_tail, "follow a run's events to its end")
    tail.add_argument("run", help="run id")
    tail.add_argument("--after-seq", type=int, help="start after this event")
    retry = leaf(runs, "retry", cmd_runs_retry, "resume a run from a step (default: its failed steps)")
    retry.add_argument("run", help="run id")
    retry.add_argument("--from-step", help="step id")

    tasks = commands.add_parser("tasks", help="list and decide human tasks").add_subparsers(
        dest="action", required=True
    )
    task_list = leaf(tasks, "list", cmd_tasks_list, "list human tasks, newest first")
    task_list.add_argument("--status", type=str.upper, choices=[s.value for s in HumanTaskStatus])
    task_list.add_argument("--mine", action="store_true", help="only the ones you may decide")
    task_list.add_argument("--limit", type=int, default=50)
    for name, decision in (("approve", Decision.APPROVE), ("reject", Decision.REJECT)):
        decide = leaf(tasks, name, cmd_tasks_decide, f"{name} a task")
        decide.add_argument("task", help="task id")
        decide.add_argument("--comment")
        decide.add_argument("--data", help="the form's data: JSON, @file.json or @-")
        decide.set_defaults(decision=decision)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = asyncio.run(args.handler(args))
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except WaitTimeout as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return EXIT_TIMEOUT
    except StudioError as exc:
        for error in exc.errors:
            where = f" (at {'.'.join(error.path)})" if error.path else ""
            print(f"error: {error.code}: {error.message}{where}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    return code


def run() -> None:
    sys.exit(main())
