"""JavaScript code steps: a fresh V8 isolate per execution (``mini-racer``), limited by V8 itself.

Each execution gets a new context (its own isolate), so nothing a step defines or pollutes reaches another step,
run or tenant. V8 enforces the heap limit (``memory_mb``) and the time limit (``timeout_s``: the execution is
terminated). The context has ECMAScript's built-ins only: no ``process``, ``require``, network, filesystem or
clock-driven timers. Before the step's code runs, a prelude removes what would allocate memory outside V8's heap,
where the heap limit does not reach (measured: 300,000 ``Intl.Segmenter`` objects under a 128 MB limit held 2 GB,
a ``Uint8Array`` of 1 GB was allowed): ``ArrayBuffer``, ``SharedArrayBuffer``, ``DataView``, the typed arrays,
``Atomics``, ``WebAssembly``, ``Intl`` and ``Temporal``; dates' ``toLocale*String`` refuse locales and options (each
call would build an ICU formatter); and mini-racer's ``setTimeout``/``clearTimeout`` (built on
``SharedArrayBuffer``). ``console.log`` and friends write to the step's logs.

mini-racer's asyncio calls run on one event loop of their own, in a daemon thread started on first use; V8 itself
runs on each context's own thread. The worker's event loop only awaits the outcome, so it stays responsive, and a
cancelled step cancels the execution (V8 terminates it).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from studio_worker.code import MAX_LOG_CHARS, MAX_OUTPUT_BYTES, CodeError, Execution, Job, with_marker

T = TypeVar("T")
SCRIPT = "main.js"
LOGS_TIMEOUT_S = 0.5

PRELUDE = r"""
(() => {
  const g = globalThis;
  for (const name of [
    "ArrayBuffer", "SharedArrayBuffer", "DataView", "Atomics", "WebAssembly", "Intl", "Temporal",
    "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array", "Int32Array", "Uint32Array",
    "Float16Array", "Float32Array", "Float64Array", "BigInt64Array", "BigUint64Array",
  ]) {
    delete g[name];
  }
  // A date formatted with locales or options builds an ICU formatter each time, outside the heap (measured: 100,000
  // calls held 290 MB under a 128 MB limit). Without them V8 reuses one.
  for (const name of ["toLocaleString", "toLocaleDateString", "toLocaleTimeString"]) {
    const original = Date.prototype[name];
    const plain = function () {
      if (arguments[0] !== undefined || arguments[1] !== undefined) {
        throw new TypeError(`Date.prototype.${name} takes no locales or options in code steps (there is no Intl)`);
      }
      return original.call(this);
    };
    Object.defineProperty(Date.prototype, name, { value: plain, writable: true, configurable: true });
  }
  g.setTimeout = undefined;
  g.clearTimeout = undefined;
  g.__timer_manager = undefined;
  const stringify = JSON.stringify, parse = JSON.parse, StringOf = String, cap = __CAP__, outputCap = __OUTPUT_CAP__;
  const logs = [];
  let size = 0, dropped = 0;
  const show = (value) => {
    if (typeof value === "string") return value;
    try {
      const text = stringify(value);
      return text === undefined ? StringOf(value) : text;
    } catch (e) {
      return StringOf(value);
    }
  };
  const write = (...values) => {
    const line = values.map(show).join(" ") + "\n";
    const room = cap - size;
    if (room > 0) {
      const kept = line.slice(0, room);
      logs.push(kept);
      size += kept.length;
    }
    dropped += Math.max(0, line.length - Math.max(room, 0));
  };
  g.console = { log: write, info: write, warn: write, error: write, debug: write, trace: write };
  const finish = (value) => {
    const text = stringify(value === undefined ? null : value);
    if (text !== undefined && text.length > outputCap) {
      return stringify({ ok: false, type: "CodeOutputTooLarge", size: text.length, logs: logs.join(""), dropped });
    }
    return stringify({ ok: true, value: text === undefined ? "null" : text, logs: logs.join(""), dropped });
  };
  const failed = (error) => {
    const stack = error && typeof error.stack === "string" ? error.stack : "";
    const message = error instanceof Error ? `${error.name}: ${error.message}` : `Uncaught ${show(error)}`;
    return stringify({ ok: false, type: "CodeError", message, stack, logs: logs.join(""), dropped });
  };
  g.__studio_logs = () => stringify({ logs: logs.join(""), dropped });
  g.__studio_call = (payload) => {
    const job = parse(payload);
    if (typeof g.main !== "function") {
      const message = "define a function main(input, steps, run)";
      return stringify({ ok: false, type: "CodeError", message, logs: logs.join(""), dropped });
    }
    let out;
    try {
      out = g.main(job.input, job.steps, job.run);
    } catch (error) {
      return failed(error);
    }
    if (out !== null && typeof out === "object" && typeof out.then === "function") {
      return Promise.resolve(out).then(
        (value) => { try { return finish(value); } catch (error) { return failed(error); } },
        failed,
      );
    }
    try {
      return finish(out);
    } catch (error) {
      return failed(error);
    }
  };
})();
""".replace("__CAP__", str(MAX_LOG_CHARS)).replace("__OUTPUT_CAP__", str(MAX_OUTPUT_BYTES))

_LOCATION = re.compile(r"main\.js:(\d+)")  # SCRIPT's lines in V8's stack traces

_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()


def _mini_racer_loop() -> asyncio.AbstractEventLoop:
    """The event loop mini-racer's contexts use, in a daemon thread of its own (started once, never closed)."""
    global _loop
    with _lock:
        if _loop is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="studio-javascript", daemon=True).start()
            _loop = loop
        return _loop


async def _on_mini_racer_loop(coro: Coroutine[Any, Any, T]) -> T:
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, _mini_racer_loop()))


async def run_javascript(job: Job) -> Execution:
    return await _on_mini_racer_loop(_execute(job))


def _line(text: str) -> int | None:
    found = _LOCATION.search(text)
    return int(found.group(1)) if found else None


async def _logs_of(mr: Any) -> str:
    """What the code printed before it failed, read with a deadline of its own: the code may have replaced anything
    the reader calls (an ``Array.prototype.join`` that never returns)."""
    try:
        async with asyncio.timeout(LOGS_TIMEOUT_S):
            got = json.loads(await mr.eval_cancelable("__studio_logs()"))
        return with_marker(str(got["logs"]), int(got["dropped"]))
    except Exception:  # terminated, tampered with or too slow: the error goes without its logs
        return ""


async def _execute(job: Job) -> Execution:
    from py_mini_racer import JSEvalException, JSOOMException, JSParseException, JSPromise, JSTimeoutException
    from py_mini_racer import mini_racer as make_context

    loop = asyncio.get_running_loop()
    deadline = loop.time() + job.timeout_s
    payload = json.dumps(json.dumps({"input": job.input, "steps": job.steps, "run": job.run}))
    with make_context(loop) as mr:
        mr.set_hard_memory_limit(job.memory_mb * 1024 * 1024)
        await mr.eval_cancelable(PRELUDE)
        try:
            async with asyncio.timeout_at(deadline):
                await mr.eval_cancelable(f"{job.source}\n//# sourceURL={SCRIPT}\n")
                result = await mr.eval_cancelable(f"__studio_call({payload})")
                if isinstance(result, JSPromise):
                    result = await result
        except TimeoutError:
            raise CodeError(
                "CodeTimeout", f"the code ran past timeout_s={job.timeout_s:g} and was stopped", await _logs_of(mr)
            ) from None
        except JSOOMException:
            raise CodeError(
                "CodeMemoryLimit",
                f"the code used more than memory_mb={job.memory_mb} of JavaScript heap and was stopped",
            ) from None
        except JSParseException as exc:
            raise CodeError("CodeError", _syntax_message(str(exc), job.source.count("\n") + 1)) from None
        except JSEvalException as exc:
            if mr.was_hard_memory_limit_reached():
                raise CodeError(
                    "CodeMemoryLimit",
                    f"the code used more than memory_mb={job.memory_mb} of JavaScript heap and was stopped",
                ) from None
            raise CodeError("CodeError", _eval_message(str(exc)), await _logs_of(mr)) from None
        if isinstance(result, JSTimeoutException):  # pragma: no cover - mini-racer raises it, never returns it
            raise result
    return _answer(job, result)


def _syntax_message(text: str, lines: int) -> str:
    first = text.strip().splitlines()[0] if text.strip() else "the code could not be parsed"
    line = _line(first)
    line = min(line, lines) if line is not None else None  # "unexpected end of input" is past the last line
    message = first.split(": ", 1)[1] if ": " in first and line is not None else first
    return f"{message} (line {line})" if line is not None else message


def _eval_message(text: str) -> str:
    """mini-racer's report of an uncaught error in the top level of the code: ``main.js:3: TypeError: …``."""
    first = text.strip().splitlines()[0] if text.strip() else "the code failed"
    line = _line(first)
    if line is not None and ": " in first:
        return f"{first.split(': ', 1)[1]} (line {line})"
    return first


def _answer(job: Job, result: Any) -> Execution:
    """The prelude's answer; the code may have replaced the prelude's functions, so every part is checked."""
    unreadable = CodeError("CodeError", "the code's answer could not be read (was __studio_call replaced?)")
    try:
        answer = json.loads(result) if isinstance(result, str) else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise unreadable
    logs = with_marker(str(answer.get("logs") or ""), _count(answer.get("dropped")))
    if answer.get("ok") is True:
        try:
            return Execution(json.loads(answer["value"]), logs)
        except (KeyError, TypeError, ValueError):
            raise unreadable from None
    kind = str(answer.get("type") or "CodeError")
    if kind == "CodeOutputTooLarge":
        size = _count(answer.get("size"))
        message = f"main returned {size:,} characters of JSON; a code step may return {MAX_OUTPUT_BYTES:,}"
        raise CodeError(kind, message, logs)
    message = str(answer.get("message") or "the code failed")
    line = _line(str(answer.get("stack") or ""))
    raise CodeError("CodeError", f"{message} (line {line})" if line is not None else message, logs)


def _count(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and value == value else 0
