"""The one engine for regular expressions that users write: RE2, which matches in time linear in the text.

Python's ``re`` backtracks: ``^(a+)+$`` against 28 characters blocked the event loop for seconds, doubling with
each character, and nothing can interrupt it. RE2 has no backtracking, so no pattern can do that; it refuses
what needs it (look-around, back-references) when the pattern is compiled, which is where users learn of it.

Linear is not free: a crafted 1,000-character pattern costs RE2 about 4 ns per text byte and program
instruction (8 s for a 1 MB text). Every search therefore charges ``len(text) x program size`` to the
current validation's ``budget.Meter`` (when one is running), which stops the validation before that adds up.

Compiled patterns (and the reasons some do not compile) are cached per process, bounded.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import re2

from studio_shared.schemas import budget

MAX_PATTERN_CHARS = 1000
# RE2's memory budget per pattern: its compiled program and its DFA cache. A pattern that needs more does not
# compile ("pattern too large"); a DFA that outgrows it falls back to RE2's NFA, slower but still linear.
MAX_MEM_BYTES = 1 << 20
CACHE_SIZE = 256  # with MAX_MEM_BYTES: at most 256 MiB of RE2 state per process, typically a few KiB each
# Roughly how many (text byte x program instruction) steps of RE2's slowest path cost as much as one keyword
# call of jsonschema (2.5 to 5 µs here, against ~4.4 ns a step): the exchange rate of regex work into budget units.
STEPS_PER_UNIT = 1024
SYNTAX_HINT = "RE2 syntax: no look-around, no back-references, \\z (not \\Z) for the end of the text"


class RegexError(ValueError):
    """A pattern that RE2 does not compile (or that is too long); ``reason`` says why in RE2's words."""

    def __init__(self, pattern: str, reason: str) -> None:
        super().__init__(reason)
        self.pattern, self.reason = pattern, reason


def _options() -> Any:
    options = re2.Options()
    options.max_mem = MAX_MEM_BYTES
    options.log_errors = False  # a user's mistake is reported to the user, not to stderr
    return options


_OPTIONS = _options()


@dataclass(frozen=True, eq=False, slots=True)
class Regex:
    """A compiled pattern. ``search`` is the only way user patterns are matched in the studio."""

    pattern: str
    program_size: int
    _compiled: Any

    def search(self, text: str) -> bool:
        """Whether the pattern matches somewhere in ``text`` (like ``re.search``), charged to the current meter."""
        # Bytes, not str: re2 would map every match offset back to characters, and a lone surrogate (which JSON
        # can carry) has no UTF-8 form; "surrogatepass" keeps it as bytes that simply match nothing special.
        data = text.encode("utf-8", "surrogatepass")
        budget.spend(1 + len(data) * self.program_size // STEPS_PER_UNIT)
        return self._compiled.search(data) is not None

    def cost(self, text_length: int) -> int:
        """Worst-case RE2 steps to search a text of ``text_length`` characters (4 UTF-8 bytes each at most)."""
        return 4 * text_length * self.program_size


_cache: OrderedDict[str, Regex | RegexError] = OrderedDict()
_lock = threading.Lock()


def _build(pattern: str) -> Regex | RegexError:
    if len(pattern) > MAX_PATTERN_CHARS:
        return RegexError(pattern, f"longer than {MAX_PATTERN_CHARS:,} characters")
    try:
        compiled = re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        detail = exc.args[0] if exc.args else "not a valid pattern"
        reason = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
        return RegexError(pattern, reason)
    except (TypeError, UnicodeEncodeError):  # a lone surrogate has no UTF-8 form, so RE2 cannot take it
        return RegexError(pattern, "the pattern holds a character with no UTF-8 form (a lone surrogate)")
    return Regex(pattern, int(compiled.programsize), compiled)


def compile_regex(pattern: str) -> Regex:
    """The compiled ``pattern``; raises RegexError (cached as well) when RE2 refuses it."""
    with _lock:
        found = _cache.get(pattern)
        if found is not None:
            _cache.move_to_end(pattern)
    if found is None:
        found = _build(pattern)
        with _lock:
            _cache[pattern] = found
            if len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    if isinstance(found, RegexError):
        raise RegexError(pattern, found.reason)  # a fresh exception: re-raising the cached one grows its traceback
    return found


def regex_problem(pattern: object) -> str | None:
    """Why ``pattern`` cannot be used as a user pattern (None when it can); for messages at save time."""
    if not isinstance(pattern, str):
        return "a pattern must be a string"
    try:
        compile_regex(pattern)
    except RegexError as exc:
        return f"not a valid RE2 regular expression: {exc.reason} ({SYNTAX_HINT})"
    return None
