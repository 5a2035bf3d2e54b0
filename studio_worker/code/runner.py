"""Runs one ``code`` step's Python inside its sandbox: read the job from stdin, limit, run ``main``, answer on fd 1.

This file is executed as a script by the sandbox's interpreter (``python -I -S runner.py``), never imported by the
worker: it uses the standard library only. Before any user code runs it

- sets the rlimits (CPU seconds, address space, processes, file size, no core dumps);
- installs a seccomp filter that refuses new processes (fork, vfork, clone without CLONE_THREAD; clone3 reads as
  missing so threads fall back to clone) and a few kernel interfaces sandboxed code has no use for (ptrace, bpf,
  perf events, userfaultfd, io_uring, keyrings). Linux does not apply RLIMIT_NPROC to root, so without the filter
  a worker running as root would have no bound on a fork bomb;
- points fd 1 and 2 at /dev/null and keeps the answer channel to itself; ``print`` and ``sys.stderr`` go to a
  capped buffer that becomes the step's logs.

The answer is one JSON document: ``{"ok": true, "value": ..., "logs": ..., "logs_truncated": ...}`` or
``{"ok": false, "error": {"type": ..., "message": ...}, "logs": ...}``.
"""

from __future__ import annotations

import ctypes
import io
import json
import os
import resource
import struct
import sys

FILENAME = "main.py"


# -- seccomp ---------------------------------------------------------------------------------------------------

_ARCHES = {
    # machine: (AUDIT_ARCH, fork/vfork numbers, clone, clone3, denied numbers)
    "x86_64": (0xC000003E, (57, 58), 56, 435, (101, 298, 321, 323, 425, 426, 427, 248, 249, 250)),
    "aarch64": (0xC00000B7, (), 220, 435, (117, 241, 280, 282, 425, 426, 427, 217, 218, 219)),
}
_ALLOW, _ERRNO = 0x7FFF0000, 0x00050000
_EPERM, _ENOSYS = 1, 38
_CLONE_THREAD = 0x00010000


def _filter(machine: str) -> bytes:
    """A classic BPF program for seccomp: the rules above, for this machine's syscall numbers."""
    arch, forks, clone, clone3, denied = _ARCHES[machine]
    prog: list[tuple[int, int, int, int]] = []

    def stmt(code: int, k: int) -> None:
        prog.append((code, 0, 0, k))

    def jump(code: int, k: int, jt: int, jf: int) -> None:
        prog.append((code, jt, jf, k))

    ld_w, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    stmt(ld_w, 4)  # seccomp_data.arch
    jump(jeq, arch, 1, 0)
    stmt(ret, _ERRNO | _ENOSYS)  # another ABI (i386 through int 0x80, x32): nothing the interpreter uses
    stmt(ld_w, 0)  # seccomp_data.nr
    if machine == "x86_64":
        jump(jge, 0x40000000, 0, 1)  # the x32 ABI
        stmt(ret, _ERRNO | _ENOSYS)
    for number in (*forks, *denied):
        jump(jeq, number, 0, 1)
        stmt(ret, _ERRNO | _EPERM)
    jump(jeq, clone3, 0, 1)
    stmt(ret, _ERRNO | _ENOSYS)
    jump(jeq, clone, 0, 4)
    stmt(ld_w, 16)  # the low word of args[0], clone's flags (little-endian)
    jump(jset, _CLONE_THREAD, 0, 1)
    stmt(ret, _ALLOW)
    stmt(ret, _ERRNO | _EPERM)
    stmt(ret, _ALLOW)
    return b"".join(struct.pack("=HBBI", *ins) for ins in prog)


def install_filter() -> None:
    machine = os.uname().machine
    if machine not in _ARCHES:
        raise OSError(f"no process filter for the machine {machine!r}")
    program = _filter(machine)
    buffer = ctypes.create_string_buffer(program)

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(program) // 8, ctypes.addressof(buffer))
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_no_new_privs, pr_set_seccomp, seccomp_mode_filter = 38, 22, 2
    if libc.prctl(pr_set_no_new_privs, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    if libc.prctl(pr_set_seccomp, seccomp_mode_filter, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")


# -- limits ----------------------------------------------------------------------------------------------------


def address_space() -> int:
    """Bytes of address space this interpreter holds now (its code, libraries and heap so far)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[0]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return 0


def set_limits(limits: dict[str, int]) -> None:
    cpu = int(limits["cpu_s"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))  # SIGXCPU, then SIGKILL a second later
    memory = address_space() + int(limits["memory_bytes"])  # memory_mb on top of the interpreter itself
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits["nproc"], limits["nproc"]))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_bytes"], limits["file_bytes"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


# -- logs ------------------------------------------------------------------------------------------------------


class CappedLog(io.TextIOBase):
    """What the code prints, up to ``cap`` characters; the rest is counted, not kept."""

    def __init__(self, cap: int) -> None:
        self.cap, self.size, self.dropped = cap, 0, 0
        self.parts: list[str] = []

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        text = str(text)
        room = self.cap - self.size
        if room > 0:
            kept = text[:room]
            self.parts.append(kept)
            self.size += len(kept)
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def flush(self) -> None:
        return None

    def text(self) -> str:
        return "".join(self.parts)


# -- running ---------------------------------------------------------------------------------------------------


def user_line(exc: BaseException) -> int | None:
    """The line of the user's code nearest to where ``exc`` was raised."""
    if isinstance(exc, SyntaxError) and exc.filename == FILENAME:
        return exc.lineno
    import traceback  # only on failure: every import is paid by each execution's start

    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == FILENAME:
            line = frame.lineno
    return line


def describe(exc: BaseException) -> dict[str, str]:
    name = type(exc).__name__
    message = f"{name}: {exc}" if str(exc) else name
    line = user_line(exc)
    if line is not None:
        message += f" (line {line})"
    return {"type": "CodeError", "message": message}


def run(job: dict[str, object], log: CappedLog) -> dict[str, object]:
    paths = job.get("paths")
    sys.path.extend(str(path) for path in (paths if isinstance(paths, list) else []))
    namespace: dict[str, object] = {"__name__": "__main__", "__builtins__": __builtins__}
    try:
        code = compile(str(job["source"]), FILENAME, "exec")
        exec(code, namespace)  # noqa: S102 - the step's own code, inside the sandbox
        main = namespace.get("main")
        if not callable(main):
            return {"ok": False, "error": {"type": "CodeError", "message": "define a function main(input, steps, run)"}}
        value = main(job.get("input"), job.get("steps"), job.get("run"))
    except MemoryError:
        return {"ok": False, "error": {"type": "CodeMemoryLimit", "message": "MemoryError"}}
    except BaseException as exc:  # SystemExit and KeyboardInterrupt are the code's failures too
        return {"ok": False, "error": describe(exc)}
    try:
        encoded = json.dumps(value, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError) as exc:
        message = f"main returned a value JSON cannot hold: {type(exc).__name__}: {exc}"
        return {"ok": False, "error": {"type": "CodeOutputInvalid", "message": message}}
    limit = int(job["limits"]["output_bytes"])  # type: ignore[index]
    size = len(encoded.encode("utf-8", "surrogatepass"))
    if size > limit:
        message = f"main returned {size:,} bytes of JSON; a code step may return {limit:,}"
        return {"ok": False, "error": {"type": "CodeOutputTooLarge", "message": message}}
    return {"ok": True, "value": value}


def main() -> None:
    answer = os.fdopen(os.dup(1), "w", encoding="utf-8", errors="surrogatepass")
    job = json.loads(sys.stdin.buffer.read())
    limits = job["limits"]
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    log = CappedLog(int(limits["log_chars"]))
    sys.stdin = io.StringIO("")
    sys.stdout = sys.stderr = log
    try:
        set_limits(limits)
        install_filter()
    except (OSError, ValueError) as exc:
        outcome: dict[str, object] = {
            "ok": False,
            "error": {"type": "SandboxUnavailable", "message": f"the sandbox could not set its limits: {exc}"},
        }
    else:
        outcome = run(job, log)
    outcome["logs"] = log.text()
    outcome["logs_dropped"] = log.dropped
    try:
        text = json.dumps(outcome, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):  # the logs themselves cannot be encoded: keep the verdict
        text = json.dumps({"ok": False, "error": {"type": "CodeError", "message": "the answer could not be encoded"}})
    answer.write(text)
    answer.flush()
    os._exit(0)  # no atexit handlers, no threads the code started


if __name__ == "__main__":
    main()
