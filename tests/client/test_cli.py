"""``studio-cli`` (``python -m studio_client``) as a user runs it, against a real ``studio serve``: profiles saved
0600, runs started and waited with an exit code from their status, a run that needs approval approved from another
command, lists, retry, and ``runs tail`` across a dropped socket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from studio_client import AsyncStudioClient

from tests.client.conftest import Proxy, Server, publish
from tests.client.test_client import APPROVAL, QUICK, SLOW, stored_seqs
from tests.worker.engine_harness import chain


class Cli:
    def __init__(self, config: Path, url: str | None = None) -> None:
        self.config, self.url = config, url

    async def __call__(self, *args: str, stdin: str = "", url: str | None = None) -> tuple[int, str, str]:
        proc = await self.start(*args, url=url)
        out, err = await proc.communicate(stdin.encode())
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    async def start(self, *args: str, url: str | None = None) -> asyncio.subprocess.Process:
        env = {k: v for k, v in os.environ.items() if k not in {"STUDIO_URL", "STUDIO_TOKEN", "STUDIO_PROFILE"}}
        env["STUDIO_CLI_CONFIG"] = str(self.config)
        if url or self.url:
            env["STUDIO_URL"] = url or self.url or ""
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "studio_client",
            *args,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )


@pytest.fixture(scope="module")
def tenant_token(studio_server: Server) -> str:
    return studio_server.token(f"cli-{secrets.token_hex(4)}")


@pytest.fixture
async def cli(tmp_path: Path, studio_server: Server, tenant_token: str) -> Cli:
    run = Cli(tmp_path / "conf" / "profiles.json")
    code, _, err = await run("login", "--server", studio_server.url, stdin=tenant_token + "\n")
    assert code == 0, err
    return run


async def test_login_saves_a_private_profile_and_refuses_a_bad_key(
    tmp_path: Path, studio_server: Server, tenant_token: str
):
    config = tmp_path / "profiles.json"
    cli = Cli(config)
    code, _, err = await cli("login", "--profile", "ci", "--server", studio_server.url, stdin="not-a-key\n")
    assert code == 4, err
    assert "UNAUTHENTICATED" in err
    assert not config.exists()  # nothing saved for a key that does not work
    code, _, err = await cli("login", "--profile", "ci", "--server", studio_server.url, stdin=tenant_token + "\n")
    assert code == 0, err
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert json.loads(config.read_text()) == {"ci": {"server": studio_server.url, "api_key": tenant_token}}
    code, out, err = await cli("--profile", "ci", "runs", "list", "--json")
    assert (code, err) == (0, ""), err
    assert isinstance(json.loads(out), list)
    code, _, err = await cli("--profile", "elsewhere", "runs", "list")
    assert code == 2
    assert "studio-cli login --profile elsewhere" in err


async def test_runs_start_wait_exit_code_list_and_retry(
    cli: Cli, studio_server: Server, tenant_token: str, tmp_path: Path
):
    quick = await publish(studio_server, tenant_token, QUICK)
    (tmp_path / "input.json").write_text('{"n": 4}')
    code, out, err = await cli("runs", "start", quick, "--input", f"@{tmp_path / 'input.json'}", "--wait", "--json")
    assert code == 0, err
    done = json.loads(out)
    assert (done["status"], done["input"]) == ("SUCCEEDED", {"n": 4})

    gate = tmp_path / "gate"
    gate.write_text("closed")
    gated = await publish(
        studio_server, tenant_token, chain({"id": "g", "type": "test.gate", "config": {"gate": str(gate)}})
    )
    code, out, err = await cli("runs", "start", gated, "--wait", "--json")
    assert code == 1, (out, err)  # the run FAILED
    failed = json.loads(out)
    assert failed["status"] == "FAILED"

    code, out, _ = await cli("runs", "list", "--status", "failed", "--since", "1h", "--json")
    assert code == 0
    assert [r["id"] for r in json.loads(out)] == [failed["id"]]
    code, out, _ = await cli("runs", "list", "--since", "1h")  # the table
    assert out.splitlines()[0].split() == ["ID", "WORKFLOW", "STATUS", "TRIGGER", "CREATED", "FINISHED"]
    assert {failed["id"], done["id"]} <= {line.split()[0] for line in out.splitlines()[1:]}

    code, out, err = await cli("runs", "retry", done["id"])
    assert code == 4
    assert "INVALID" in err and "fromStep" in err  # a succeeded run needs a step to run again from

    gate.unlink()
    code, out, err = await cli("runs", "retry", failed["id"], "--from-step", "g", "--json")
    assert code == 0, err
    async with AsyncStudioClient(studio_server.url, tenant_token) as studio:
        assert (await studio.wait_for_run(failed["id"], timeout=60)).status.value == "SUCCEEDED"

    code, _, err = await cli("runs", "start", quick, "--input", "{not json")
    assert code == 2 and "not JSON" in err


async def test_a_waited_run_that_needs_approval_is_approved_from_another_command(
    cli: Cli, studio_server: Server, tenant_token: str
):
    workflow_id = await publish(studio_server, tenant_token, APPROVAL)
    waiting = await cli.start("runs", "start", workflow_id, "--input", '{"amount": 3}', "--wait", "--json")
    waited = asyncio.ensure_future(waiting.communicate())
    task: dict[str, Any] | None = None
    for _ in range(600):
        code, out, err = await cli("tasks", "list", "--status", "open", "--json")
        assert code == 0, err
        mine = [t for t in json.loads(out) if t["title"] == "Approve 3"]
        if mine:
            task = mine[0]
            break
        assert not waited.done()
        await asyncio.sleep(0.1)
    assert task is not None, "no task opened"
    code, out, err = await cli("tasks", "approve", task["id"], "--comment", "ok")
    assert (code, out.strip()) == (0, f"task {task['id']}: APPROVED"), err
    out_b, err_b = await asyncio.wait_for(waited, 60)
    assert waiting.returncode == 0, err_b
    run = json.loads(out_b)
    assert (run["id"], run["status"]) == (task["run"]["id"], "SUCCEEDED")
    code, _, err = await cli("tasks", "approve", task["id"])
    assert code == 4 and "ALREADY_DECIDED" in err


async def test_runs_tail_survives_a_dropped_socket(cli: Cli, studio_server: Server, tenant_token: str, proxy: Proxy):
    workflow_id = await publish(studio_server, tenant_token, SLOW)
    async with AsyncStudioClient(studio_server.url, tenant_token) as studio:
        run = await studio.start_run(workflow_id)
        tail = await cli.start("runs", "tail", run.id, "--json", url=f"http://127.0.0.1:{proxy.port}")
        assert tail.stdout is not None
        seqs: list[int] = []
        while line := await asyncio.wait_for(tail.stdout.readline(), 60):
            seqs.append(json.loads(line)["seq"])
            if len(seqs) == 2:
                proxy.cut()
        await tail.wait()
        assert tail.returncode == 0
        assert proxy.accepted >= 2
        assert seqs == await stored_seqs(studio, run.id)
    code, out, _ = await cli("runs", "tail", run.id)  # human-readable, from the start, for a finished run
    assert code == 0
    lines = [line.split() for line in out.splitlines()]
    assert [int(line[0]) for line in lines] == seqs  # seq, date, time, kind[, step][, status]
    assert lines[-1][3] == "RUN_SUCCEEDED"


async def test_a_wait_past_its_timeout_and_a_cancelled_run_have_their_exit_codes(
    cli: Cli, studio_server: Server, tenant_token: str
):
    workflow_id = await publish(studio_server, tenant_token, APPROVAL)
    code, out, err = await cli("runs", "start", workflow_id, "--input", '{"amount": 9}', "--wait", "--timeout", "0.5")
    assert code == 5, (out, err)
    assert "did not finish" in err
    async with AsyncStudioClient(studio_server.url, tenant_token) as studio:
        [run] = await studio.list_runs(workflow_id=workflow_id)
        await studio.cancel_run(run.id)
    code, out, err = await cli("runs", "tail", run.id)
    assert code == 3, (out, err)  # the run was CANCELLED
    assert out.splitlines()[-1].split()[3] == "RUN_CANCELLED"


async def test_a_wait_on_a_terminal_shows_a_progress_line(cli: Cli, studio_server: Server, tenant_token: str):
    import pty

    workflow_id = await publish(studio_server, tenant_token, SLOW)
    master, slave = pty.openpty()
    try:
        env = {k: v for k, v in os.environ.items() if k not in {"STUDIO_URL", "STUDIO_TOKEN", "STUDIO_PROFILE"}}
        env["STUDIO_CLI_CONFIG"] = str(cli.config)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "studio_client",
            "runs",
            "start",
            workflow_id,
            "--wait",
            "--json",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=slave,
        )
        out, _ = await proc.communicate()
        os.close(slave)
        slave = -1
        terminal = b""
        with contextlib.suppress(OSError):  # EIO once the pty's other end is closed and drained
            while chunk := os.read(master, 65536):
                terminal += chunk
    finally:
        os.close(master)
        if slave != -1:
            os.close(slave)
    assert proc.returncode == 0
    run_id = json.loads(out)["id"]
    assert f"run {run_id}: STEP_STARTED".encode() in terminal  # the line, rewritten as events arrive
    assert terminal.endswith(b"\r\x1b[2K")  # and cleared before the answer
