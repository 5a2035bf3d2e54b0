"""Python code steps: a process per execution, inside bubblewrap, with ``runner.py`` setting its limits.

The sandbox (``bwrap``): every namespace unshared (no network: only a loopback that is down), an unprivileged user
(uid 65534) in its own user namespace that may not make another one, every capability dropped, a new session, no
environment but ``HOME``/``LANG``, dying with the worker; a read-only view of ``/usr`` (and the ``/lib``, ``/bin``
links), of the interpreter's prefix and of the operator's package folders, nothing of ``/etc`` or of the worker's
files; a fresh ``/proc`` of its own pid namespace, a minimal read-only ``/dev``, an empty tmpfs ``/tmp`` (the home
and working folder) of ``TMP_BYTES``; everything else read-only. The runner then sets rlimits and a seccomp filter
(see ``runner.py``); the worker kills the process at the wall-clock limit.

Whether the sandbox works here is probed once per process, with a real execution. Where it does not, Python steps
fail with SandboxUnavailable saying how to enable it, unless ``STUDIO_CODE_PYTHON_UNSAFE_NO_SANDBOX`` is true: then
the runner runs as a plain child process with its rlimits and filter, in a temporary folder, with a cleared
environment, but with the worker's view of the filesystem and network.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio_shared.settings import Settings
from studio_worker.code import MAX_LOG_CHARS, MAX_OUTPUT_BYTES, CodeError, Execution, Job, with_marker

log = logging.getLogger("studio.code")

RUNNER = Path(__file__).with_name("runner.py")
TMP_BYTES = 32 * 1024 * 1024  # the sandbox's /tmp (memory: tmpfs)
FILE_BYTES = 16 * 1024 * 1024  # RLIMIT_FSIZE
NPROC = 32  # RLIMIT_NPROC (threads count; new processes are refused by the filter anyway)
ANSWER_SLACK = 1024 * 1024  # the answer holds the value, the logs (4 bytes a character at most) and framing
SANDBOX_UID = "65534"
INSTALL_HINT = (
    "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap) and let it create namespaces: allow "
    "unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, or user.max_user_namespaces > 0; "
    "in a container, a seccomp/AppArmor profile that permits unshare and mount, e.g. docker run "
    "--security-opt seccomp=unconfined --security-opt apparmor=unconfined). On a single-user install you may "
    "instead set STUDIO_CODE_PYTHON_UNSAFE_NO_SANDBOX=true, which runs Python steps with limits but without isolation"
)


@dataclass(frozen=True, slots=True)
class SandboxStatus:
    available: bool
    reason: str  # why not, or "bubblewrap <path>"


_status: SandboxStatus | None = None


def interpreter() -> str:
    """The real interpreter behind the worker's (a virtualenv's python is a link to it)."""
    return os.path.realpath(sys.executable)


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/", name)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    exe = Path(interpreter())
    for prefix in {Path(sys.base_prefix).resolve(), exe.parent.parent}:
        if not prefix.is_relative_to("/usr") and prefix.is_dir():
            args += ["--ro-bind", str(prefix), str(prefix)]
    return args


def package_paths(setting: str) -> list[Path]:
    """The operator's package folders (``STUDIO_CODE_PYTHON_PACKAGES``), each an existing directory."""
    return [Path(part.strip()) for part in setting.split(",") if part.strip()]


def bwrap_argv(bwrap: str, packages: list[Path]) -> tuple[list[str], list[str]]:
    """The sandbox's command line, and the package folders as the code sees them."""
    argv = [
        bwrap,
        "--unshare-all",
        "--unshare-user",
        "--uid",
        SANDBOX_UID,
        "--gid",
        SANDBOX_UID,
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        "--cap-drop",
        "ALL",
        *_system_binds(),
        "--ro-bind",
        str(RUNNER),
        "/sandbox/runner.py",
    ]
    inside = []
    for i, path in enumerate(packages):
        argv += ["--ro-bind", str(path), f"/sandbox/packages/{i}"]
        inside.append(f"/sandbox/packages/{i}")
    argv += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--size",
        str(TMP_BYTES),
        "--tmpfs",
        "/tmp",  # noqa: S108 - the sandbox's own tmpfs
        "--setenv",
        "HOME",
        "/tmp",  # noqa: S108
        "--setenv",
        "LANG",
        "C.UTF-8",
        "--chdir",
        "/tmp",  # noqa: S108
        "--remount-ro",
        "/dev",
        "--remount-ro",
        "/",
        interpreter(),
        "-I",
        "-S",
        "-B",
        "/sandbox/runner.py",
    ]
    return argv, inside


def warn_if_unsandboxed(settings: Settings) -> None:
    """At a worker's start: say loudly that Python steps will run without the sandbox."""
    if settings.code_python_unsafe_no_sandbox:
        log.warning(
            "STUDIO_CODE_PYTHON_UNSAFE_NO_SANDBOX is true: Python code steps run WITHOUT the bubblewrap sandbox "
            "(rlimits and a process filter only; they can read what this worker can read and reach the network). "
            "Use it on single-user installs only."
        )


async def sandbox_status(packages: str = "") -> SandboxStatus:
    """Whether bubblewrap can run the runner here: probed once per process with a real execution."""
    global _status
    if _status is None:
        _status = await _probe(packages)
        if not _status.available:
            log.warning("Python code steps are refused: the sandbox is unavailable (%s)", _status.reason)
    return _status


def forget_status() -> None:
    """Probe again on the next execution (for tests)."""
    global _status
    _status = None


async def _probe(packages: str) -> SandboxStatus:
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return SandboxStatus(False, "is not installed (no bwrap on PATH)")
    probe = Job("def main(input, steps, run):\n    return 'ok'\n", None, None, None, 10, 64)
    argv, inside = bwrap_argv(bwrap, package_paths(packages))
    try:
        execution = await _execute(argv, probe, inside, env={}, cwd=None)
    except CodeError as exc:
        return SandboxStatus(False, f"could not start a sandbox: {exc.message}")
    if execution.value != "ok":
        return SandboxStatus(False, f"answered the probe with {execution.value!r}")
    return SandboxStatus(True, f"bubblewrap {bwrap}")


async def run_python(job: Job, *, packages: str = "", unsafe_no_sandbox: bool = False) -> Execution:
    if unsafe_no_sandbox:
        folders = package_paths(packages)
        with tempfile.TemporaryDirectory(prefix="studio-code-") as home:
            env = {"HOME": home, "LANG": "C.UTF-8"}
            argv = [interpreter(), "-I", "-S", "-B", str(RUNNER)]
            return await _execute(argv, job, [str(p) for p in folders], env=env, cwd=home)
    status = await sandbox_status(packages)
    if not status.available:
        raise CodeError(
            "SandboxUnavailable",
            f"Python code steps need the bubblewrap sandbox, which {status.reason}: {INSTALL_HINT}",
        )
    bwrap = shutil.which("bwrap")
    if bwrap is None:  # removed since the probe
        raise CodeError("SandboxUnavailable", f"Python code steps need bubblewrap (no bwrap on PATH): {INSTALL_HINT}")
    argv, inside = bwrap_argv(bwrap, package_paths(packages))
    return await _execute(argv, job, inside, env={}, cwd=None)


async def _read(stream: asyncio.StreamReader | None, cap: int, proc: asyncio.subprocess.Process) -> bytes | None:
    """Everything ``stream`` says, or None once it passes ``cap`` bytes: then the process is killed and the rest
    read and dropped (a reader that stops reading would never see the pipe close)."""
    if stream is None:
        return b""
    chunks, size = [], 0
    while chunk := await stream.read(64 * 1024):
        size += len(chunk)
        if size > cap:
            _kill(proc)
            await _drain(stream)
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def _drain(stream: asyncio.StreamReader | None) -> None:
    if stream is not None:
        while await stream.read(64 * 1024):
            pass


async def _feed(stdin: asyncio.StreamWriter | None, data: bytes) -> None:
    if stdin is None:
        return
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        stdin.write(data)
        await stdin.drain()
        stdin.close()


def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # its own group (start_new_session); bwrap's child dies with it


async def _execute(argv: list[str], job: Job, paths: list[str], *, env: dict[str, str], cwd: str | None) -> Execution:
    limits = {
        "cpu_s": math.ceil(job.timeout_s) + 1,
        "memory_bytes": job.memory_mb * 1024 * 1024,
        "nproc": NPROC,
        "file_bytes": FILE_BYTES,
        "log_chars": MAX_LOG_CHARS,
        "output_bytes": MAX_OUTPUT_BYTES,
    }
    payload = json.dumps(
        {"source": job.source, "input": job.input, "steps": job.steps, "run": job.run, "paths": paths, "limits": limits}
    ).encode()
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )
    cap = MAX_OUTPUT_BYTES + 4 * MAX_LOG_CHARS + ANSWER_SLACK
    try:
        async with asyncio.timeout(job.timeout_s):
            _, out, err, _ = await asyncio.gather(
                _feed(proc.stdin, payload),
                _read(proc.stdout, cap, proc),
                _read(proc.stderr, 64 * 1024, proc),
                proc.wait(),
            )
    except TimeoutError:
        raise CodeError("CodeTimeout", f"the code ran past timeout_s={job.timeout_s:g} and was stopped") from None
    finally:
        _kill(proc)
        # The pipes must be read to their end for asyncio to see the process finish (it may have stopped reading).
        with contextlib.suppress(ProcessLookupError, TimeoutError):
            async with asyncio.timeout(10):
                await asyncio.gather(_drain(proc.stdout), _drain(proc.stderr), proc.wait())
    if out is None:
        raise CodeError("CodeOutputTooLarge", f"the code wrote more than {cap:,} bytes to its answer channel")
    return _answer(job, out, err or b"", proc.returncode)


def _answer(job: Job, out: bytes, err: bytes, returncode: int | None) -> Execution:
    try:
        answer: Any = json.loads(out)
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or not isinstance(answer.get("ok"), bool):
        if returncode in (-signal.SIGXCPU, -signal.SIGKILL):
            raise CodeError("CodeTimeout", f"the code used up its CPU time (timeout_s={job.timeout_s:g})")
        detail = err.decode(errors="replace").strip()[-500:] or f"exit status {returncode}"
        raise CodeError("CodeError", f"the code's process ended without an answer: {detail}")
    logs = with_marker(str(answer.get("logs") or ""), int(answer.get("logs_dropped") or 0))
    if answer["ok"]:
        return Execution(answer.get("value"), logs)
    error = answer.get("error")
    error = error if isinstance(error, dict) else {}
    kind, message = str(error.get("type") or "CodeError"), str(error.get("message") or "the code failed")
    if kind == "CodeMemoryLimit":
        message = f"{message}: the code needed more than memory_mb={job.memory_mb}"
    raise CodeError(kind, message, logs)
