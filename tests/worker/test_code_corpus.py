"""The code node's corpus of escape and exhaustion attempts: each one refused or contained, in both languages.

Executed through the same functions the node calls (``run_javascript``, ``run_python``), with the real V8 and the
real bubblewrap sandbox. Python tests need bubblewrap (`.ci/run` installs it): without it they skip, saying so, or
fail under ``STUDIO_REQUIRE_SERVICES=1``. The same code through a real workflow run: test_code_node.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from studio_worker.code import MAX_LOG_CHARS, MAX_OUTPUT_BYTES, CodeError, Execution, Job
from studio_worker.code import python as sandbox
from studio_worker.code.javascript import run_javascript
from studio_worker.code.python import run_python, sandbox_status
from tests.conftest import missing_service

CANARY = "studio-canary-7f3a91c2"


def job(source: str, timeout_s: float = 5, memory_mb: int = 64, input: Any = None) -> Job:
    return Job(
        source, input if input is not None else {"n": 1}, {"up": {"output": 2}}, {"id": "r1"}, timeout_s, memory_mb
    )


async def js(source: str, **kw: Any) -> Execution:
    return await run_javascript(job(source, **kw))


async def py(source: str, **kw: Any) -> Execution:
    return await run_python(job(source, **kw))


async def js_fails(source: str, **kw: Any) -> CodeError:
    with pytest.raises(CodeError) as caught:
        await js(source, **kw)
    return caught.value


async def py_fails(source: str, **kw: Any) -> CodeError:
    with pytest.raises(CodeError) as caught:
        await py(source, **kw)
    return caught.value


@pytest.fixture
async def bwrap() -> None:
    status = await sandbox_status()
    if not status.available:
        missing_service("the bubblewrap sandbox", f"bwrap {status.reason}; apt-get install bubblewrap")


@pytest.fixture
def canary(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("STUDIO_CODE_CANARY", CANARY)
    return CANARY


@pytest.fixture
def fresh_probe() -> Iterator[None]:
    sandbox.forget_status()
    yield
    sandbox.forget_status()


def everything(execution: Execution) -> str:
    return json.dumps(execution.value) + execution.logs


# -- reading the host's files and environment ------------------------------------------------------------------


async def test_python_sees_no_etc_and_no_worker_files(bwrap: None) -> None:
    """The sandbox binds /usr, the interpreter and nothing else of the host: no /etc (so no passwd), no worker."""
    done = await py(
        "import os\n"
        "def main(input, steps, run):\n"
        "    try:\n"
        "        text = open('/etc/passwd').read()\n"
        "    except OSError as exc:\n"
        "        text = type(exc).__name__\n"
        "    return {'passwd': text, 'root': sorted(os.listdir('/')), 'cwd': os.getcwd(), 'uid': os.getuid()}\n"
    )
    assert done.value["passwd"] == "FileNotFoundError"
    assert "etc" not in done.value["root"] and "work" not in done.value["root"]
    system = {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "proc", "dev", "tmp", "sandbox"}
    prefixes = {"root", "opt", "home", "srv"}  # where an interpreter outside /usr may live (pyenv: /root/.pyenv)
    assert set(done.value["root"]) <= system | prefixes
    assert done.value["cwd"] == "/tmp"  # noqa: S108 - the sandbox's own
    assert done.value["uid"] == 65534


async def test_python_reads_no_test_file(bwrap: None) -> None:
    error = await py_fails(f"def main(input, steps, run):\n    return open({str(Path(__file__))!r}).read()\n")
    assert error.type == "CodeError" and "FileNotFoundError" in error.message and "(line 2)" in error.message


async def test_python_environment_is_cleared(bwrap: None, canary: str) -> None:
    assert os.environ["STUDIO_CODE_CANARY"] == canary
    done = await py(
        "import os\n"
        "def main(input, steps, run):\n"
        "    print(dict(os.environ))\n"
        "    found = {}\n"
        "    for pid in os.listdir('/proc'):\n"
        "        if pid.isdigit():\n"
        "            try:\n"
        "                found[pid] = open(f'/proc/{pid}/environ', 'rb').read().decode(errors='replace')\n"
        "            except OSError as exc:\n"
        "                found[pid] = type(exc).__name__\n"
        "    return {'env': dict(os.environ), 'procs': found}\n"
    )
    assert CANARY not in everything(done)
    assert set(done.value["env"]) <= {"HOME", "LANG", "PWD", "LC_CTYPE"}
    assert "STUDIO" not in everything(done)


async def test_javascript_has_no_process_env_or_files(canary: str) -> None:
    done = await js(
        "async function main() {\n"
        "  let imported;\n"
        "  try { await import('fs'); imported = 'yes'; } catch (e) { imported = e.name; }\n"
        "  return { names: Object.getOwnPropertyNames(globalThis), imported,\n"
        "    kinds: [typeof process, typeof require, typeof Deno, typeof Bun, typeof fetch, typeof XMLHttpRequest,\n"
        "            typeof WebSocket, typeof setTimeout, typeof setInterval, typeof queueMicrotask === 'function'] };\n"
        "}\n"
    )
    assert done.value["kinds"][:9] == ["undefined"] * 9
    assert done.value["imported"] != "yes"
    assert CANARY not in everything(done)
    assert not {"process", "require", "module", "os", "std"} & set(done.value["names"])


# -- the network ---------------------------------------------------------------------------------------------


async def test_python_reaches_no_network(bwrap: None) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    port = listener.getsockname()[1]
    try:
        done = await py(
            "import socket\n"
            "def main(input, steps, run):\n"
            "    out = {}\n"
            f"    for host, port in [('127.0.0.1', {port}), ('169.254.169.254', 80), ('10.0.0.1', 80)]:\n"
            "        s = socket.socket()\n"
            "        s.settimeout(2)\n"
            "        try:\n"
            "            s.connect((host, port))\n"
            "            out[host] = 'connected'\n"
            "        except OSError as exc:\n"
            "            out[host] = type(exc).__name__\n"
            "    try:\n"
            "        socket.getaddrinfo('example.org', 80)\n"
            "        out['dns'] = 'resolved'\n"
            "    except OSError as exc:\n"
            "        out['dns'] = type(exc).__name__\n"
            "    return out\n"
        )
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody knocked
    finally:
        listener.close()
    assert "connected" not in done.value.values() and done.value["dns"] != "resolved"
    assert done.value["127.0.0.1"] in {"ConnectionRefusedError", "OSError"}
    assert done.value["169.254.169.254"] == "OSError"  # network unreachable: the namespace has no route


# -- writing -------------------------------------------------------------------------------------------------


async def test_python_writes_only_its_temp_folder(bwrap: None, tmp_path: Path) -> None:
    target = tmp_path / "escaped"
    done = await py(
        "import errno\n"
        "def main(input, steps, run):\n"
        "    out = {}\n"
        f"    for path in ['/tmp/note', '/escaped', '/usr/escaped', '/dev/escaped', '/proc/escaped', {str(target)!r}]:\n"
        "        try:\n"
        "            with open(path, 'w') as f:\n"
        "                f.write('x')\n"
        "            out[path] = 'written'\n"
        "        except OSError as exc:\n"
        "            out[path] = errno.errorcode[exc.errno]\n"
        "    return out\n"
    )
    assert done.value.pop("/tmp/note") == "written"  # noqa: S108 - the sandbox's own
    assert set(done.value.values()) <= {"EROFS", "ENOENT", "EACCES", "EPERM"}, done.value
    assert not target.exists()


async def test_python_temp_folder_is_bounded(bwrap: None) -> None:
    done = await py(
        "import errno\n"
        "def main(input, steps, run):\n"
        "    try:\n"
        "        with open('/tmp/big', 'wb') as f:\n"
        "            for _ in range(200):\n"
        "                f.write(b'x' * 1024 * 1024)\n"
        "    except OSError as exc:\n"
        "        return errno.errorcode[exc.errno]\n"
        "    return 'wrote 200 MB'\n"
    )
    assert done.value in {"ENOSPC", "EFBIG"}


# -- processes -----------------------------------------------------------------------------------------------


async def test_python_fork_bomb_is_refused(bwrap: None) -> None:
    error = await py_fails("import os\ndef main(input, steps, run):\n    while True:\n        os.fork()\n")
    assert error.type == "CodeError"
    assert "PermissionError" in error.message and "(line 4)" in error.message


async def test_python_os_system_and_subprocess_have_no_effect(bwrap: None) -> None:
    done = await py(
        "import os, subprocess\n"
        "def main(input, steps, run):\n"
        "    status = os.system('echo pwned > /tmp/pwned')\n"
        "    try:\n"
        "        subprocess.run(['/bin/sh', '-c', 'echo pwned > /tmp/pwned2'])\n"
        "        ran = 'ran'\n"
        "    except OSError as exc:\n"
        "        ran = type(exc).__name__\n"
        "    return {'status': status, 'ran': ran, 'files': os.listdir('/tmp')}\n"
    )
    assert done.value["status"] != 0
    assert done.value["ran"] == "PermissionError"
    assert done.value["files"] == []


async def test_python_thread_bomb_is_contained(bwrap: None) -> None:
    error = await py_fails(
        "import threading, time\n"
        "def main(input, steps, run):\n"
        "    while True:\n"
        "        threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n",
        timeout_s=10,
    )
    assert error.type in {"CodeError", "CodeMemoryLimit"}
    assert "can't start new thread" in error.message or "MemoryError" in error.message


async def test_python_subclasses_walk_reaches_nothing(bwrap: None) -> None:
    """The classic escape: walk object.__subclasses__() to os or Popen. Inside the sandbox they lead nowhere."""
    done = await py(
        "def main(input, steps, run):\n"
        "    classes = ().__class__.__base__.__subclasses__()\n"
        "    found = {}\n"
        "    for cls in classes:\n"
        "        if cls.__name__ == '_wrap_close':\n"
        "            found['system'] = cls.__init__.__globals__['system']('id > /tmp/id')\n"
        "            found['environ'] = dict(cls.__init__.__globals__['environ'])\n"
        "        if cls.__name__ == 'Popen':\n"
        "            try:\n"
        "                cls(['/usr/bin/id'])\n"
        "                found['popen'] = 'started'\n"
        "            except OSError as exc:\n"
        "                found['popen'] = type(exc).__name__\n"
        "    import os\n"
        "    found['files'] = os.listdir('/tmp')\n"
        "    return found\n"
        "import subprocess\n"
    )
    assert done.value["system"] != 0
    assert done.value["popen"] == "PermissionError"
    assert done.value["files"] == []
    assert not any(key.startswith("STUDIO") for key in done.value["environ"])


async def test_python_ctypes_cannot_fork_unshare_or_escape(bwrap: None) -> None:
    done = await py(
        "import ctypes, platform\n"
        "def main(input, steps, run):\n"
        "    libc = ctypes.CDLL(None, use_errno=True)\n"
        "    fork_nr = {'x86_64': 57, 'aarch64': 220}[platform.machine()]\n"
        "    out = {}\n"
        "    out['fork'] = (libc.syscall(fork_nr, 17, 0, 0, 0, 0), ctypes.get_errno())\n"
        "    out['unshare'] = (libc.unshare(0x10000000), ctypes.get_errno())\n"  # CLONE_NEWUSER
        "    out['setuid'] = (libc.setuid(0), ctypes.get_errno())\n"
        "    out['ptrace'] = (libc.ptrace(0, 0, 0, 0), ctypes.get_errno())\n"
        "    return out\n"
    )
    for name, (result, _) in done.value.items():
        assert result == -1, name
    assert done.value["fork"][1] == 1  # EPERM: the process filter


async def test_python_crash_is_contained(bwrap: None) -> None:
    error = await py_fails("import ctypes\ndef main(input, steps, run):\n    return ctypes.string_at(0)\n")
    assert error.type == "CodeError" and "ended without an answer" in error.message


# -- exhaustion ----------------------------------------------------------------------------------------------


async def test_python_allocating_10_gb_fails_cleanly(bwrap: None) -> None:
    error = await py_fails("def main(input, steps, run):\n    return len(bytearray(10 * 1024 ** 3))\n")
    assert error.type == "CodeMemoryLimit"
    assert "memory_mb=64" in error.message


async def test_javascript_allocating_10_gb_fails_cleanly() -> None:
    heap = await js_fails(
        "function main() {\n  const a = [];\n  while (true) a.push('x'.repeat(1000) + Math.random());\n}\n",
        timeout_s=30,
    )
    assert heap.type == "CodeMemoryLimit" and "memory_mb=64" in heap.message
    buffer = await js_fails("function main() {\n  return new ArrayBuffer(10 * 1024 ** 3).byteLength;\n}\n")
    assert buffer.type == "CodeError" and "ArrayBuffer is not defined (line 2)" in buffer.message
    string = await js_fails("function main() {\n  return 'x'.repeat(10 * 1024 ** 3).length;\n}\n")
    assert "RangeError" in string.message


async def test_javascript_has_nothing_that_allocates_outside_the_heap() -> None:
    """Typed arrays and Intl objects live outside V8's heap, where memory_mb does not reach: they are removed."""
    done = await js(
        "function main() {\n"
        "  return ['ArrayBuffer', 'SharedArrayBuffer', 'DataView', 'Uint8Array', 'Float64Array', 'Atomics',\n"
        "          'WebAssembly', 'Intl'].filter((name) => name in globalThis);\n"
        "}\n"
    )
    assert done.value == []


async def test_infinite_loops_time_out() -> None:
    error = await js_fails("function main() {\n  while (true) {}\n}\n", timeout_s=0.5)
    assert error.type == "CodeTimeout" and "timeout_s=0.5" in error.message
    pending = await js_fails("function main() {\n  return new Promise(() => {});\n}\n", timeout_s=0.5)
    assert pending.type == "CodeTimeout"


async def test_python_infinite_loops_time_out(bwrap: None) -> None:
    busy = await py_fails("def main(input, steps, run):\n    while True:\n        pass\n", timeout_s=0.5)
    assert busy.type == "CodeTimeout" and "timeout_s=0.5" in busy.message
    asleep = await py_fails(
        "import signal, time\n"
        "def main(input, steps, run):\n"
        "    signal.signal(signal.SIGXCPU, signal.SIG_IGN)\n"
        "    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "    time.sleep(3600)\n",
        timeout_s=0.5,
    )
    assert asleep.type == "CodeTimeout"


# -- JavaScript's own escapes --------------------------------------------------------------------------------


async def test_javascript_constructor_constructor_finds_no_host() -> None:
    error = await js_fails("function main() {\n  return this.constructor.constructor('return process')();\n}\n")
    assert "ReferenceError: process is not defined" in error.message
    done = await js(
        "function main() {\n"
        "  const g = (function () {}).constructor('return this')();\n"
        "  return [typeof g.process, typeof g.require, typeof g.console.log, g === globalThis];\n"
        "}\n"
    )
    assert done.value == ["undefined", "undefined", "function", True]


async def test_javascript_pollution_stays_in_its_execution() -> None:
    polluted = await js(
        "function main(input) {\n"
        "  const before = input.polluted;\n"
        "  Object.prototype.polluted = 'yes';\n"
        "  Array.prototype.map = () => 'hijacked';\n"
        "  JSON.stringify = () => '\"hijacked\"';\n"
        "  globalThis.leftover = 1;\n"
        "  return [({}).polluted, Object.getPrototypeOf(input) === Object.prototype, before];\n"
        "}\n",
        input={"__proto__": {"polluted": "from input"}},
    )
    # The output encoder was captured before the code ran; JSON's __proto__ key is an own property, not a prototype.
    assert polluted.value == ["yes", True, None]
    clean = await js(
        "function main() {\n"
        "  return [({}).polluted, [1].map((x) => x + 1), JSON.stringify({a: 1}), typeof leftover];\n"
        "}\n"
    )
    assert clean.value == [None, [2], '{"a":1}', "undefined"]


# -- huge outputs and logs -----------------------------------------------------------------------------------


async def test_huge_outputs_are_refused() -> None:
    big = MAX_OUTPUT_BYTES + 10
    error = await js_fails(f"function main() {{\n  return 'x'.repeat({big});\n}}\n")
    assert error.type == "CodeOutputTooLarge" and f"{MAX_OUTPUT_BYTES:,}" in error.message


async def test_python_huge_outputs_are_refused(bwrap: None) -> None:
    error = await py_fails(f"def main(input, steps, run):\n    return 'x' * {MAX_OUTPUT_BYTES + 10}\n")
    assert error.type == "CodeOutputTooLarge" and f"{MAX_OUTPUT_BYTES:,}" in error.message
    flood = await py_fails(
        "import os\n"
        "def main(input, steps, run):\n"
        "    for fd in range(3, 10):\n"
        "        try:\n"
        "            os.write(fd, b'x' * (32 * 1024 * 1024))\n"
        "        except OSError:\n"
        "            pass\n"
    )
    assert flood.type == "CodeOutputTooLarge" and "answer channel" in flood.message


async def test_logs_are_capped_with_a_marker(bwrap: None) -> None:
    for execution in (
        await js("function main() {\n  for (let i = 0; i < 20000; i++) console.log('line ' + i);\n  return 1;\n}\n"),
        await py("def main(input, steps, run):\n    for i in range(20000):\n        print('line', i)\n    return 1\n"),
    ):
        assert execution.value == 1
        kept, marker = execution.logs.rsplit("\n", 1)
        assert kept.startswith("line 0\nline 1\n") and len(kept) <= MAX_LOG_CHARS
        assert marker.startswith("… [the code printed ") and "the logs keep the first 65,536" in marker


# -- without bubblewrap --------------------------------------------------------------------------------------


async def test_without_bubblewrap_python_is_refused_saying_how_to_enable_it(
    monkeypatch: pytest.MonkeyPatch, fresh_probe: None
) -> None:
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    status = await sandbox_status()
    assert not status.available and "not installed" in status.reason
    error = await py_fails("def main(input, steps, run):\n    return 1\n")
    assert error.type == "SandboxUnavailable"
    for hint in (
        "apt-get install bubblewrap",
        "kernel.unprivileged_userns_clone=1",
        "STUDIO_CODE_PYTHON_UNSAFE_NO_SANDBOX",
    ):
        assert hint in error.message


async def test_a_bubblewrap_that_cannot_make_namespaces_is_refused(
    monkeypatch: pytest.MonkeyPatch, fresh_probe: None, tmp_path: Path
) -> None:
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: str(fake))
    error = await py_fails("def main(input, steps, run):\n    return 1\n")
    assert error.type == "SandboxUnavailable"
    assert "No permissions to create new namespace" in error.message and "apt-get install bubblewrap" in error.message
    calls = []
    monkeypatch.setattr(sandbox, "_probe", lambda packages: calls.append(packages))
    await py_fails("def main(input, steps, run):\n    return 1\n")
    assert calls == []  # probed once per process


async def test_the_unsafe_opt_out_runs_with_limits_but_no_sandbox(canary: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    done = await run_python(
        job("import os\ndef main(input, steps, run):\n    print('hi')\n    return [input, sorted(os.environ)]\n"),
        unsafe_no_sandbox=True,
    )
    assert done.value[0] == {"n": 1} and done.logs == "hi\n"
    assert CANARY not in everything(done) and set(done.value[1]) <= {"HOME", "LANG", "LC_CTYPE"}
    with pytest.raises(CodeError) as fork:
        await run_python(job("import os\ndef main(input, steps, run):\n    os.fork()\n"), unsafe_no_sandbox=True)
    assert "PermissionError" in fork.value.message
    with pytest.raises(CodeError) as memory:
        await run_python(job("def main(input, steps, run):\n    bytearray(10 * 1024 ** 3)\n"), unsafe_no_sandbox=True)
    assert memory.value.type == "CodeMemoryLimit"


async def test_a_cancelled_javascript_step_stops_its_isolate() -> None:
    """A run cancelled (or a node timeout) while its code loops: V8 terminates the execution and frees the context,
    rather than burning a core until timeout_s."""
    from py_mini_racer._context import context_count  # mini-racer's own test helper: contexts still allocated

    before = context_count()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await js("function main() {\n  while (true) {}\n}\n", timeout_s=60)
    for _ in range(1000):  # the context closes on mini-racer's own loop, a moment after the cancellation
        if context_count() == before:
            break
        await asyncio.sleep(0.01)
    assert context_count() == before
