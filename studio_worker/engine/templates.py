"""Sandboxed ``{{ … }}`` templates for workflow node configs: expressions only, JSON data in and out, bounded cost.

Who writes what: workflow editors (semi-trusted) write the templates; run input, HTTP responses and LLM output
(untrusted) arrive as scope data (``input``, ``steps``, ``run``). Neither may reach Python internals, secrets,
files or other names, mutate the scope, or burn unbounded CPU/memory. The layers, outermost first:

* Only strings containing ``{{`` are templates. Their source is capped (``max_template_chars``), lexed and parsed:
  statements (``{% … %}``, ``{% raw %}``) and comments are refused, and the parsed AST may hold nothing but
  output, literal text and expression nodes (an allow-list by exact node type); ``__dunder`` attributes and the
  names Jinja treats specially (``self``, ``loop``, …) are refused at compile time.
* A jinja2 ``ImmutableSandboxedEnvironment`` with ``StrictUndefined``, no loader, no extensions, no compile-time
  constant folding, the globals reduced to a ``range()`` of at most 10,000 numbers, and a reduced filter set.
  Attribute access is an allow-list per data type (read-only ``str``/``dict``/``list`` methods); a dict key wins
  over a method of the same name, so ``body.items`` is the key ``items`` when it exists.
* Every place that can create a value larger than its inputs is guarded *before* allocating: ``*``, ``+``, ``**``
  and ``%`` (intercepted binops), ``~``, list/tuple/dict literals, slices, ``str.format``/``%`` widths, ``join``,
  ``replace``, ``batch``, ``round``, ``sum``, ``center``/``ljust``/``rjust``/``zfill``. Each value a template
  creates must stay within ``max_output_chars`` (sizes are measured as approximate JSON characters, shared
  references counted every time they appear). Integers are capped at about 4,300 digits (Python's own int/str
  conversion limit).
* CPU is bounded by a work budget per ``render()`` call of ten times ``max_output_chars``: values built are charged
  their size, and filters, tests, comparisons and str/list methods are charged the size of the data they read
  (memoised per container, so measuring is paid once). Re-reading large scope data in many places therefore ends
  in a ``TemplateError`` instead of a long render. Scope data must be plain JSON data (dict, list, str, …).
* Results must be JSON data: a whole-string expression returns the native value (tuples become lists, Markup
  becomes str); anything else (functions, methods, undefined values, other objects) is a ``TemplateError``.
  In a mixed string a dict/list is inserted as compact JSON (``json.dumps``, ``ensure_ascii=False``) and ``None``
  as an empty string, so the text never shows Python reprs; ``~`` and ``| string`` convert the same way.
  All outputs of one ``render()`` call together are capped at ``max_output_chars``.
* No value a template yields is Infinity or NaN (JSON has neither, and a stored one would poison its run): a
  literal beyond ±1.8e308 is refused at compile time, and arithmetic, ``float``, ``int``, ``sum`` and ``fromjson``
  refuse a non-finite result where it arises (``'inf' | float``, ``1e308 * 10``, ``'[NaN]' | fromjson``); the
  conversion of results checks every number again.

Filters kept: abs, batch, capitalize, count, d, default, dictsort, e, escape, filesizeformat, first, float, format,
fromjson, groupby (yields ``{"grouper", "list"}`` objects), int, items, join, json, last, length, list, lower, map,
max, min, reject, rejectattr, replace, reverse, round, select, selectattr, sort, string, sum, title, tojson (alias
of json: compact JSON, not HTML-escaped), trim, truncate, unique, upper, urlencode, wordcount. Removed: attr,
center, forceescape, indent, pprint, random, safe, slice, striptags, urlize, wordwrap, xmlattr. Filters that
return iterators return lists, so ``items | select(...) | length`` works.

Rendered data is never rendered again: a scope value containing ``{{ 7*7 }}`` comes out literally. Note that
Jinja normalises newlines (``\\r\\n`` → ``\\n``) in the literal text of mixed template strings.
"""

from __future__ import annotations

import functools
import json
import math
import operator
import re
import types
from collections.abc import Callable, ItemsView, Iterator, KeysView, Mapping, Sequence, ValuesView
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, NoReturn

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.environment import Template
from jinja2.exceptions import SecurityError, TemplateAssertionError, TemplateSyntaxError, UndefinedError
from jinja2.filters import make_attrgetter
from jinja2.runtime import Context, StrictUndefined, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEscapeFormatter, SandboxedFormatter
from jinja2.utils import pass_context, pass_environment
from markupsafe import Markup

from studio_shared.db.jsondata import describe

__all__ = ["TemplateError", "Templates", "default_templates"]

_MAX_RANGE = 10_000
_MAX_INT_BITS = 14_300  # ≈ 4,300 decimal digits, Python's default int <-> str conversion limit
_MAX_INT_DIGITS = int(_MAX_INT_BITS * math.log10(2))
_MAX_INT_TEXT = 4_400  # longest text the int filter converts
_MAX_FORMAT_WIDTH = 1_000  # widths/precisions in str.format specs and %-formats
_MAX_ROUND_PRECISION = 100
_MAX_DEPTH = 100  # nesting of data and configs
_WORK_FACTOR = 10  # all values created by one render() <= this * max_output_chars
_SHOWN = 60  # longest quoted value an error message may show

_RESERVED_NAMES = frozenset({"self", "super", "loop", "caller", "varargs", "kwargs"})
_EXPRESSION_NODES: frozenset[type[nodes.Node]] = frozenset(
    {
        nodes.Const,
        nodes.Tuple,
        nodes.List,
        nodes.Dict,
        nodes.Pair,
        nodes.Keyword,
        nodes.CondExpr,
        nodes.Filter,
        nodes.Test,
        nodes.Call,
        nodes.Getitem,
        nodes.Getattr,
        nodes.Slice,
        nodes.Concat,
        nodes.Compare,
        nodes.Operand,
        nodes.Add,
        nodes.Sub,
        nodes.Mul,
        nodes.Div,
        nodes.FloorDiv,
        nodes.Mod,
        nodes.Pow,
        nodes.And,
        nodes.Or,
        nodes.Not,
        nodes.Neg,
        nodes.Pos,
        nodes.Name,
    }
)
_STR_ATTRIBUTES = frozenset(
    {
        "capitalize",
        "casefold",
        "center",
        "count",
        "endswith",
        "find",
        "format",
        "format_map",
        "index",
        "isalnum",
        "isalpha",
        "isascii",
        "isdecimal",
        "isdigit",
        "isidentifier",
        "islower",
        "isnumeric",
        "isprintable",
        "isspace",
        "istitle",
        "isupper",
        "join",
        "ljust",
        "lower",
        "lstrip",
        "partition",
        "removeprefix",
        "removesuffix",
        "replace",
        "rfind",
        "rindex",
        "rjust",
        "rpartition",
        "rsplit",
        "rstrip",
        "split",
        "splitlines",
        "startswith",
        "strip",
        "swapcase",
        "title",
        "upper",
        "zfill",
    }
)
_DICT_ATTRIBUTES = frozenset({"get", "items", "keys", "values"})
_SEQUENCE_ATTRIBUTES = frozenset({"count", "index"})
_RANGE_ATTRIBUTES = frozenset({"count", "index", "start", "step", "stop"})
_NO_ATTRIBUTES: frozenset[str] = frozenset()
_PAD_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})
_VIEW_METHODS = frozenset({"items", "keys", "values"})

# Jinja filters kept as they are: O(1), they return one of their inputs or a number.
_CONSTANT_FILTERS = frozenset({"abs", "count", "d", "default", "first", "last", "length"})
# Kept, charged for reading their arguments; their result is a number or one of the input's items.
_READING_FILTERS = frozenset({"filesizeformat", "max", "min"})
# Kept, charged for reading their arguments; their result is new and size-checked (iterators become lists).
_CREATING_FILTERS = frozenset(
    {
        "capitalize",
        "dictsort",
        "e",
        "escape",
        "items",
        "list",
        "lower",
        "map",
        "reject",
        "rejectattr",
        "reverse",
        "select",
        "selectattr",
        "sort",
        "title",
        "trim",
        "truncate",
        "unique",
        "upper",
        "urlencode",
    }
)
# Tests that read (compare or scan) their arguments; the others only look at types.
_READING_TESTS = frozenset(
    {
        "!=",
        "<",
        "<=",
        "==",
        ">",
        ">=",
        "eq",
        "equalto",
        "ge",
        "greaterthan",
        "gt",
        "in",
        "le",
        "lessthan",
        "lower",
        "lt",
        "ne",
        "upper",
    }
)
_COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "gteq": operator.ge,
    "lt": operator.lt,
    "lteq": operator.le,
    "in": lambda left, right: left in right,
    "notin": lambda left, right: left not in right,
}
_SCALARS = (int, float, type(None))

_STATE: ContextVar[_State | None] = ContextVar("studio_template_state", default=None)
_DIGITS = re.compile(r"\d+")
_LONG_QUOTED = re.compile(rf"'[^'\n]{{{_SHOWN + 1},}}'|\"[^\"\n]{{{_SHOWN + 1},}}\"")
_LONG_TOKEN = re.compile(rf"\S{{{_SHOWN + 20},}}")
_WORD = re.compile(r"\w+")
_UNDEFINED_NAME = re.compile(r"has no attribute '([^']*)'|'([^']*)' is undefined")


class TemplateError(Exception):
    """A template that cannot be compiled or rendered: ``path`` says where in the config, the message what to fix."""

    def __init__(self, message: str, path: Sequence[str] = ()) -> None:
        self.message = message
        self.path: tuple[str, ...] = tuple(path)
        super().__init__(f"{'.'.join(self.path)}: {message}" if self.path else message)


def _count(n: int) -> str:
    """Format a (possibly astronomically large) size for an error message."""
    return f"{n:,}" if n < 10**15 else "an enormous number of"


def _shorten(text: str) -> str:
    """Shorten quoted values and long tokens so no data longer than ~60 characters reaches a message."""
    text = _LONG_QUOTED.sub(lambda m: f"{m.group(0)[: _SHOWN // 2]}…{m.group(0)[0]}", text)
    text = _LONG_TOKEN.sub(lambda m: f"{m.group(0)[: _SHOWN // 2]}…", text)
    return text if len(text) <= 240 else f"{text[:240]}…"


def _excerpt(source: str) -> str:
    """The template source for an error message, shortened."""
    flat = " ".join(source.split())
    return flat if len(flat) <= _SHOWN else f"{flat[: _SHOWN - 1]}…"


def _raise_undefined(value: Undefined) -> NoReturn:
    """Raise the error a StrictUndefined carries (it names the missing attribute or key)."""
    value._fail_with_undefined_error()
    raise TemplateError("undefined value")  # pragma: no cover - the call above always raises


def _not_data(value: object) -> TemplateError:
    """The error for a value that is not JSON data."""
    kind = type(value).__name__
    if callable(value):
        return TemplateError(
            f"the expression produced a function ({kind}), not data: call it with (...), or check that the key exists"
        )
    return TemplateError(
        f"the expression must produce JSON data (text, number, boolean, null, list, object), not {kind}"
    )


def _check_finite(value: float, what: str) -> None:
    """Refuse Infinity and NaN: JSON has neither, so no template may yield one."""
    if not math.isfinite(value):
        raise TemplateError(
            f"{what} is {describe(value)}; JSON has no Infinity or NaN: check the numbers it is computed from"
        )


def _non_finite_text(value: object) -> bool:
    """True for text such as "inf", "-Infinity", "nan" or "1e400": a number Python reads as non-finite."""
    if not isinstance(value, str) or len(value) > _MAX_INT_TEXT:
        return False
    try:
        return not math.isfinite(float(value))
    except ValueError:
        return False


def _check_int(value: int) -> None:
    """Refuse integers beyond ~4,300 digits."""
    if value.bit_length() > _MAX_INT_BITS:
        raise TemplateError(f"the number is too large (over {_MAX_INT_DIGITS:,} digits)")


class _Exceeded(Exception):
    """A size walk passed its cap (internal)."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


class _State:
    """Per-render() limits and accounting: work done, output produced, memoised sizes of containers."""

    __slots__ = ("max_output", "memo", "output", "work", "work_limit")

    def __init__(self, max_output: int) -> None:
        self.max_output = max_output
        self.work_limit = max_output * _WORK_FACTOR
        self.work = 0
        self.output = 0
        self.memo: dict[int, tuple[object, int]] = {}

    def charge(self, amount: int) -> None:
        """Account for a value created by the template."""
        self.work += amount
        if self.work > self.work_limit:
            raise TemplateError(
                f"the template processes too much data (over {self.work_limit:,} characters read or built in "
                "total); simplify it or reduce the data it works on"
            )

    def limit(self, size: int, what: str) -> None:
        """Refuse a value whose (estimated) size exceeds the output limit."""
        if size > self.max_output:
            raise TemplateError(f"{what} would be about {_count(size)} characters; the limit is {self.max_output:,}")

    def measure(self, value: object) -> int:
        """Approximate JSON size of a value about to be used or created; refused over the output limit."""
        try:
            return self._size(value, self.max_output, 0)
        except _Exceeded as exc:
            self.limit(exc.size, "a value built by the template")
            raise  # pragma: no cover - limit() raised

    def read(self, value: object) -> None:
        """Account for an operation that reads ``value`` (its JSON size; dict membership tests are O(1))."""
        if isinstance(value, str):
            self.charge(len(value))
            return
        try:
            size = self._size(value, self.work_limit - self.work, 0)
        except _Exceeded as exc:
            size = exc.size
        self.charge(size)

    def _size(self, value: object, cap: int, depth: int) -> int:
        """JSON size of JSON data, shared references counted each time; _Exceeded beyond ``cap``."""
        cls = type(value)
        if cls is str:
            size = len(value)  # type: ignore[arg-type]
        elif value is None or cls is bool:
            size = 5
        elif cls is int:
            size = value.bit_length() // 3 + 1  # type: ignore[attr-defined]
        elif cls is float:
            size = 24
        elif isinstance(value, list | tuple | dict):
            hit = self.memo.get(id(value))
            if hit is not None:
                size = hit[1]
            else:
                if depth >= _MAX_DEPTH:
                    raise TemplateError(f"the data is nested more than {_MAX_DEPTH} levels deep")
                self.charge(len(value))  # walking costs too, once per container and render
                size = 2
                if isinstance(value, dict):
                    for key, item in value.items():
                        size += self._size(key, cap, depth + 1) + self._size(item, cap, depth + 1) + 2
                        if size > cap:
                            raise _Exceeded(size)
                else:
                    for item in value:
                        size += self._size(item, cap, depth + 1) + 1
                        if size > cap:
                            raise _Exceeded(size)
                self.memo[id(value)] = (value, size)
        elif isinstance(value, str):
            size = len(value)
        elif isinstance(value, bool | int | float):
            size = 24
        elif isinstance(value, range):
            size = 2 + len(value) * (max(abs(value.start), abs(value.stop)).bit_length() // 3 + 2)
        elif isinstance(value, Undefined):
            _raise_undefined(value)
        else:
            raise _not_data(value)
        if size > cap:
            raise _Exceeded(size)
        return size

    def created(self, value: Any) -> Any:
        """Check and account for a value the template created; iterators and dict views become lists."""
        if isinstance(value, Iterator | KeysView | ValuesView | ItemsView):
            value = list(value)
        if isinstance(value, str):
            size = len(value)
        elif isinstance(value, list | tuple | dict):
            size = self.measure(value)
        else:
            return value
        self.limit(size, "a value built by the template")
        self.charge(size)
        return value

    def remember(self, value: object, size: int) -> None:
        """Record the size of a new container computed arithmetically (so it is never walked)."""
        if isinstance(value, list | tuple):
            self.memo[id(value)] = (value, size)


def _state() -> _State:
    """The state of the render() in progress."""
    state = _STATE.get()
    if state is None:
        raise TemplateError("templates can only be evaluated through Templates.render()")
    return state


class _Converter:
    """Converts template results to plain JSON data within a size budget."""

    __slots__ = ("budget", "limit", "used")

    def __init__(self, budget: int, limit: int) -> None:
        self.budget = budget
        self.limit = limit
        self.used = 0

    def _add(self, size: int) -> None:
        self.used += size
        if self.used > self.budget:
            raise TemplateError(f"the rendered result is larger than the limit of {self.limit:,} characters")

    def key(self, key: object) -> str:
        """An object key as JSON text (json.dumps conventions for scalar keys)."""
        if isinstance(key, str):
            return str.__str__(key)
        if key is None or isinstance(key, bool | int | float):
            if isinstance(key, int) and not isinstance(key, bool):
                _check_int(key)
            if isinstance(key, float):
                _check_finite(key, "an object key")
            return json.dumps(key)
        if isinstance(key, Undefined):
            _raise_undefined(key)
        raise TemplateError(f"object keys must be text, not {type(key).__name__}")

    def convert(self, value: object, depth: int = 0) -> Any:
        """Plain JSON data for ``value``: tuples and ranges become lists, Markup becomes str."""
        cls = type(value)
        if cls is str:
            self._add(len(value))  # type: ignore[arg-type]
            return value
        if cls is float:
            _check_finite(value, "the result")  # type: ignore[arg-type]
            self._add(5)
            return value
        if value is None or cls is bool:
            self._add(5)
            return value
        if cls is int:
            self._add(value.bit_length() // 3 + 1)  # type: ignore[attr-defined]
            return value
        if isinstance(value, dict | list | tuple | range):
            if depth >= _MAX_DEPTH:
                raise TemplateError(f"the result is nested more than {_MAX_DEPTH} levels deep")
            self._add(2)
            if isinstance(value, dict):
                result: dict[str, Any] = {}
                for key, item in value.items():
                    name = self.key(key)
                    self._add(len(name) + 2)
                    result[name] = self.convert(item, depth + 1)
                return result
            items = []
            for item in value:
                self._add(1)
                items.append(self.convert(item, depth + 1))
            return items
        if isinstance(value, str):
            self._add(len(value))
            return str.__str__(value)
        if isinstance(value, bool):
            return bool(value)
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            _check_finite(value, "the result")
            return float(value)
        if isinstance(value, Undefined):
            _raise_undefined(value)
        raise _not_data(value)


def _to_json(value: object, state: _State) -> str:
    """Compact JSON text of ``value`` within the output limit."""
    data = _Converter(state.max_output, state.max_output).convert(value)
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    state.limit(len(text), "the JSON text")
    return text


def _to_text(value: object, state: _State) -> str:
    """Text for insertion into a string: str as is, None → "", dict/list → compact JSON, numbers via str()."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        _check_finite(value, "a number in the text")
        return str(value)
    if isinstance(value, int):
        _check_int(value)
        return str(value)
    if isinstance(value, dict | list | tuple | range):
        return _to_json(value, state)
    if isinstance(value, Undefined):
        _raise_undefined(value)
    raise _not_data(value)


def _spec_allowance(spec: str) -> int:
    """Room a format spec may add; refuses widths/precisions above the limit."""
    biggest = 0
    for digits in _DIGITS.findall(spec):
        if len(digits) > 6 or int(digits) > _MAX_FORMAT_WIDTH:
            raise TemplateError(
                f"format width or precision {digits[:12]} is too large; the limit is {_MAX_FORMAT_WIDTH:,}"
            )
        biggest = max(biggest, int(digits))
    return biggest + 32


def _percent_specs(fmt: str) -> tuple[int, int]:
    """Scan a %-format: (number of conversions, room their widths/precisions may add)."""
    count = room = 0
    i = fmt.find("%")
    while i >= 0:
        i += 1
        if fmt.startswith("%", i):
            i = fmt.find("%", i + 1)
            continue
        if fmt.startswith("(", i):  # mapping key, parentheses may nest
            depth = 0
            while i < len(fmt):
                depth += {"(": 1, ")": -1}.get(fmt[i], 0)
                i += 1
                if depth == 0:
                    break
        start = i
        while i < len(fmt) and fmt[i] in "#0- +123456789.*":
            i += 1
        if "*" in fmt[start:i]:
            raise TemplateError("'*' widths are not supported in %-formatting; write the width as a number")
        room += _spec_allowance(fmt[start:i])
        count += 1
        i = fmt.find("%", i + 1)
    return count, room


def _percent_format(state: _State, fmt: str, args: object) -> str:
    """``fmt % args`` after bounding the result size."""
    count, room = _percent_specs(fmt)
    if isinstance(args, tuple):
        inserted = sum(state.measure(arg) for arg in args)
    elif isinstance(args, Mapping):
        biggest = max((state.measure(item) for item in args.values()), default=0)
        inserted = count * biggest + state.measure(args)
    else:
        inserted = state.measure(args)
    state.limit(len(fmt) + room + inserted, "the %-formatted text")
    text: str = fmt % args
    state.limit(len(text), "the %-formatted text")
    state.charge(len(text))
    return text


def _replace_size(text: str, old: object, new: object, count: object) -> int:
    """Size of ``text.replace(old, new, count)``, computed without building it."""
    if not isinstance(old, str) or not isinstance(new, str):
        return len(text)
    hits = len(text) + 1 if old == "" else text.count(old)
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * (len(new) - len(old))


def _range(*args: int) -> range:
    """range() for templates: at most 10,000 numbers."""
    numbers = range(*args)
    try:
        size = len(numbers)
    except OverflowError:
        size = _MAX_RANGE + 1
    if size > _MAX_RANGE:
        raise TemplateError(f"range() may produce at most {_MAX_RANGE:,} numbers")
    return numbers


@pass_context
def _finalize(context: Context, value: object) -> str:
    """Text of one {{ … }} inside a mixed string (pass_context keeps Jinja from running it at compile time)."""
    return _to_text(value, _state())


class _GuardedFormatter(SandboxedFormatter):
    """The sandbox's str.format formatter, limited to JSON data, bounded widths and a bounded result."""

    _produced = 0

    def get_field(self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[Any, str]:
        obj, first = super().get_field(field_name, args, kwargs)
        state = _state()
        state.limit(state.measure(obj), "a value inserted by format()")
        return obj, first

    def format_field(self, value: Any, format_spec: str) -> str:
        state = _state()
        room = _spec_allowance(format_spec)
        state.limit(self._produced + room + state.measure(value), "the text built by format()")
        text: str = super().format_field(value, format_spec)
        self._produced += len(text)
        state.limit(self._produced, "the text built by format()")
        state.charge(len(text))
        return text


class _GuardedEscapeFormatter(_GuardedFormatter, SandboxedEscapeFormatter):
    """The guarded formatter for Markup.format (escapes inserted values)."""


class _CodeGenerator(CodeGenerator):
    """Jinja's code generator with ``~``, comparisons, literals and slices routed through the environment's guards."""

    def visit_Compare(self, node: nodes.Compare, frame: Frame) -> None:
        self.write("environment.studio_compare(")
        self.visit(node.expr, frame)
        for operand in node.ops:
            if operand.op not in _COMPARISONS:  # pragma: no cover - the parser only produces these
                self.fail(f"unknown comparison {operand.op!r}", node.lineno)
            self.write(f", {operand.op!r}, ")
            self.visit(operand.expr, frame)
        self.write(")")

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.studio_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")

    def visit_List(self, node: nodes.List, frame: Frame) -> None:
        self.write("environment.studio_created(")
        super().visit_List(node, frame)
        self.write(")")

    def visit_Tuple(self, node: nodes.Tuple, frame: Frame) -> None:
        self.write("environment.studio_created(")
        super().visit_Tuple(node, frame)
        self.write(")")

    def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:
        self.write("environment.studio_created(")
        super().visit_Dict(node, frame)
        self.write(")")

    def visit_Getitem(self, node: nodes.Getitem, frame: Frame) -> None:
        if not isinstance(node.arg, nodes.Slice):
            super().visit_Getitem(node, frame)
            return
        self.write("environment.studio_slice(")
        self.visit(node.node, frame)
        for part in (node.arg.start, node.arg.stop, node.arg.step):
            self.write(", ")
            if part is None:
                self.write("None")
            else:
                self.visit(part, frame)
        self.write(")")


class _Environment(ImmutableSandboxedEnvironment):
    """The sandbox with allow-listed attributes, guarded operators and calls, and bounded str.format."""

    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "-", "/", "//", "%"})

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if not super().is_safe_attribute(obj, attr, value):
            return False
        if isinstance(obj, str):
            allowed = _STR_ATTRIBUTES
        elif isinstance(obj, dict):
            allowed = _DICT_ATTRIBUTES
        elif isinstance(obj, list | tuple):
            allowed = _SEQUENCE_ATTRIBUTES
        elif isinstance(obj, range):
            allowed = _RANGE_ATTRIBUTES
        else:
            allowed = _NO_ATTRIBUTES
        return attr in allowed

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, dict):  # data first: body.items is the key "items" when there is one
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                pass
        return super().getattr(obj, attribute)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        state = _state()
        if operator == "%" and isinstance(left, str):
            return _percent_format(state, left, right)
        if operator == "*":
            result = self._multiply(state, left, right)
        elif operator == "+":
            result = self._add(state, left, right)
        elif operator == "**":
            if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
                bits = right * math.log2(abs(left))
                if bits > _MAX_INT_BITS:
                    raise TemplateError(
                        f"the power is too large (about {_count(int(bits * 0.30103))} digits; "
                        f"the limit is {_MAX_INT_DIGITS:,})"
                    )
            result = self._power(left, right)
        else:
            result = self.binop_table[operator](left, right)
        if isinstance(result, float):
            _check_finite(result, f"the result of {operator}")
        elif isinstance(result, int):
            _check_int(result)
        return result

    @staticmethod
    def _power(left: Any, right: Any) -> Any:
        try:
            return left**right
        except OverflowError:
            raise TemplateError("the result of ** is too large for a number (over about 1.8e308)") from None

    @staticmethod
    def _multiply(state: _State, left: Any, right: Any) -> Any:
        if isinstance(left, int) and isinstance(right, str | list | tuple):
            left, right = right, left
        if isinstance(left, str | list | tuple) and isinstance(right, int):
            if right <= 0:
                return left * right
            size = state.measure(left)
            estimate = size * right if isinstance(left, str) else (size - 2) * right + 2
            state.limit(estimate, "the repeated value")
            state.charge(estimate)
            result = left * right
            state.remember(result, estimate)
            return result
        if (
            isinstance(left, int)
            and isinstance(right, int)
            and left.bit_length() + right.bit_length() > _MAX_INT_BITS + 1
        ):
            raise TemplateError(f"the product is too large (over {_MAX_INT_DIGITS:,} digits)")
        return left * right

    @staticmethod
    def _add(state: _State, left: Any, right: Any) -> Any:
        if isinstance(left, str) and isinstance(right, str):
            estimate = len(left) + len(right)
        elif isinstance(left, list | tuple) and isinstance(right, list | tuple):
            estimate = state.measure(left) + state.measure(right)
        else:
            return left + right
        state.limit(estimate, "the concatenated value")
        state.charge(estimate)
        result = left + right
        state.remember(result, estimate)
        return result

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        """Call a function from sandboxed code, guarding str methods that can grow their input."""
        if not __self.is_safe_callable(__obj):
            raise SecurityError(f"a {type(__obj).__name__} object is not safely callable")
        state = _state()
        owner = __obj.__self__ if isinstance(__obj, types.BuiltinMethodType) else None
        name = __obj.__name__ if owner is not None else ""
        if isinstance(owner, str | list | tuple):  # their methods scan the object and the arguments
            for value in (owner, *args, *kwargs.values()):
                state.read(value)
            if isinstance(owner, str):
                _guard_str_method(state, owner, name, args)
        result = __context.call(__obj, *args, **kwargs)
        if isinstance(owner, dict) and name in _VIEW_METHODS:
            result = list(result)
            state.charge(len(result))
        elif isinstance(owner, str) and result is not owner:
            result = state.created(result)
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """str.format/format_map through the guarded formatter (JSON data only, bounded widths and size)."""
        if not isinstance(value, types.MethodType | types.BuiltinMethodType) or value.__name__ not in (
            "format",
            "format_map",
        ):
            return None
        f_self = value.__self__
        if not isinstance(f_self, str):
            return None
        is_format_map = value.__name__ == "format_map"
        formatter: _GuardedFormatter
        if isinstance(f_self, Markup):
            formatter = _GuardedEscapeFormatter(self, escape=f_self.escape)
        else:
            formatter = _GuardedFormatter(self)
        str_type = type(f_self)

        def wrapper(*args: Any, **kwargs: Any) -> str:
            if is_format_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one positional argument")
                kwargs, args = args[0], ()
            return str_type(formatter.vformat(f_self, args, kwargs))

        return functools.update_wrapper(wrapper, value)

    def studio_concat(self, values: tuple[Any, ...]) -> str:
        """The ``~`` operator: values converted like output (None → "", dict/list → JSON), size-bounded."""
        state = _state()
        parts: list[str] = []
        total = 0
        for value in values:
            part = _to_text(value, state)
            total += len(part)
            state.limit(total, "the text joined with ~")
            parts.append(part)
        state.charge(total)
        return "".join(parts)

    def studio_compare(self, left: Any, *operations: Any) -> bool:
        """Comparisons (also chained, ``a < b < c``), charged for the data they read."""
        state = _state()
        for i in range(0, len(operations), 2):
            op, right = operations[i], operations[i + 1]
            if op in ("in", "notin"):
                if not isinstance(right, dict):  # dict membership is a hash lookup
                    state.read(right)
            elif not (isinstance(left, _SCALARS) and isinstance(right, _SCALARS)):
                state.read(left)
                state.read(right)
            if not _COMPARISONS[op](left, right):
                return False
            left = right
        return True

    def studio_created(self, value: Any) -> Any:
        """A list/tuple/dict literal: its size (shared references included) must stay within the limit."""
        return _state().created(value)

    def studio_slice(self, obj: Any, start: Any, stop: Any, step: Any) -> Any:
        """``obj[start:stop:step]``, accounted for."""
        part = slice(start, stop, step)
        if isinstance(obj, str | list | tuple):
            _state().charge(len(range(*part.indices(len(obj)))))
        return obj[part]


def _guard_str_method(state: _State, text: str, name: str, args: tuple[Any, ...]) -> None:
    """Refuse str method calls whose result would exceed the limit, before they run."""
    if name in _PAD_METHODS and args and isinstance(args[0], int):
        state.limit(args[0], f"the result of {name}()")
    elif name == "replace" and len(args) >= 2:
        state.limit(_replace_size(text, args[0], args[1], args[2] if len(args) > 2 else -1), "the result of replace()")
    elif name == "join" and args:
        items = args[0]
        gaps = max(len(items) - 1, 0) if isinstance(items, str | list | tuple | dict | range) else 0
        state.limit(state.measure(items) + gaps * len(text), "the result of join()")


def _guarded(func: Callable[..., Any], *, creates: bool) -> Callable[..., Any]:
    """Wrap a Jinja filter or test: charge for the data it reads; size-check what it creates (iterators → lists)."""
    offset = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        state = _state()
        for value in (*args[offset:], *kwargs.values()):
            if not (isinstance(value, dict) and func is _JINJA_TESTS["in"]):
                state.read(value)
        result = func(*args, **kwargs)
        if not creates or (len(args) > offset and result is args[offset]):
            return result
        return state.created(result)

    return guarded


@pass_environment
def _join(environment: _Environment, value: Any, d: Any = "", attribute: Any = None) -> str:
    """Join items as text (dict/list items as JSON, None as ""), size-bounded."""
    state = _state()
    if isinstance(value, Undefined):
        _raise_undefined(value)
    items: Any = value
    if attribute is not None:
        items = map(make_attrgetter(environment, attribute), value)
    separator = _to_text(d, state)
    parts: list[str] = []
    total = 0
    for item in items:
        part = _to_text(item, state)
        total += len(part) + len(separator)
        state.limit(total, "the joined text")
        parts.append(part)
    text = separator.join(parts)
    state.charge(len(text))
    return text


def _wordcount(value: Any) -> int:
    """Number of words, counted without building a list of them."""
    state = _state()
    text = _to_text(value, state)
    state.charge(len(text))
    return sum(1 for _ in _WORD.finditer(text))


def _string(value: Any) -> str:
    """Text of a value, converted like output (None → "", dict/list → compact JSON)."""
    state = _state()
    text = _to_text(value, state)
    state.charge(len(text))
    return text


def _json(value: Any) -> str:
    """Compact JSON text of a value (json.dumps, ensure_ascii=False)."""
    state = _state()
    text = _to_json(value, state)
    state.charge(len(text))
    return text


def _fromjson(value: Any) -> Any:
    """Parse JSON text (at most max_output_chars long)."""
    state = _state()
    if isinstance(value, Undefined):
        _raise_undefined(value)
    if not isinstance(value, str):
        raise TemplateError(f"fromjson expects text, not {type(value).__name__}")
    state.limit(len(value), "the JSON text given to fromjson")
    try:
        data = json.loads(value, parse_constant=_json_constant, parse_float=_json_float)
    except TemplateError:
        raise
    except ValueError as exc:
        message = exc.msg if isinstance(exc, json.JSONDecodeError) else "invalid number"
        raise TemplateError(f"fromjson: the text is not valid JSON ({message})") from None
    return state.created(data)


def _json_constant(name: str) -> NoReturn:
    raise TemplateError(f"fromjson: {name} is not JSON (JSON has no Infinity or NaN)")


def _json_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise TemplateError(f"fromjson: the number {_excerpt(text)} is beyond what JSON numbers hold (about 1.8e308)")
    return number


def _replace(value: Any, old: Any, new: Any, count: Any = None) -> str:
    """str.replace as a filter, refused when the result would exceed the limit."""
    state = _state()
    text, old_text, new_text = (_to_text(part, state) for part in (value, old, new))
    limit = -1 if count is None else count
    state.limit(_replace_size(text, old_text, new_text, limit), "the result of replace")
    result = text.replace(old_text, new_text, limit)
    state.charge(len(result))
    return result


def _format(value: Any, *args: Any, **kwargs: Any) -> str:
    """printf-style formatting (``'%s=%d'|format(a, b)``) with bounded widths and size."""
    if args and kwargs:
        raise TemplateError("format takes either positional or keyword arguments, not both")
    state = _state()
    return _percent_format(state, _to_text(value, state), kwargs or args)


def _round(value: Any, precision: Any = 0, method: Any = "common") -> Any:
    """Jinja's round with the precision limited to ±100 digits."""
    if not isinstance(precision, int) or abs(precision) > _MAX_ROUND_PRECISION:
        raise TemplateError(
            f"round precision must be a whole number between -{_MAX_ROUND_PRECISION} and {_MAX_ROUND_PRECISION}"
        )
    return _JINJA_FILTERS["round"](value, precision, method)


def _int(value: Any, default: Any = 0, base: Any = 10) -> Any:
    """Jinja's int, refusing text too long to be a sane integer and text that names a non-finite number."""
    if isinstance(value, str) and len(value) > _MAX_INT_TEXT:
        raise TemplateError(f"the text is too long to convert to an integer (over {_MAX_INT_TEXT:,} characters)")
    if _non_finite_text(value):
        raise TemplateError(f"int: {_shorten(repr(value))} is not a finite number; JSON has no Infinity or NaN")
    return _JINJA_FILTERS["int"](value, default, base)


def _float(value: Any, default: Any = 0.0) -> Any:
    """Jinja's float, refusing a non-finite result (``'inf'``, ``'nan'``, ``'1e400'``) rather than yielding it."""
    result = _JINJA_FILTERS["float"](value, default)
    if isinstance(result, float) and not math.isfinite(result):
        shown = _shorten(repr(value)) if isinstance(value, str) else "the value"
        raise TemplateError(f"float: {shown} is not a finite number; JSON has no Infinity or NaN")
    return result


@pass_environment
def _sum(environment: _Environment, iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
    """Sum numbers, or concatenate lists when ``start`` is a list; size-bounded and linear."""
    state = _state()
    if isinstance(iterable, Undefined):
        _raise_undefined(iterable)
    values = list(iterable if attribute is None else map(make_attrgetter(environment, attribute), iterable))
    if isinstance(start, list | tuple):
        merged = list(start)
        size = state.measure(start)
        for item in values:
            if not isinstance(item, list | tuple):
                raise TemplateError("sum with a list start adds lists; an item is not a list")
            size += state.measure(item)
            state.limit(size, "the summed list")
            merged.extend(item)
        state.charge(size)
        return merged
    for item in values:
        if isinstance(item, Undefined):
            _raise_undefined(item)
        if not isinstance(item, int | float):
            raise TemplateError("sum adds numbers (or lists, with start=[]); use join for text")
    total = sum(values, start)
    if isinstance(total, float):
        _check_finite(total, "the sum")
    return total


def _batch(value: Any, linecount: Any, fill_with: Any = None) -> list[list[Any]]:
    """Jinja's batch with the batch size limited to 1..10,000."""
    if not isinstance(linecount, int) or not 1 <= linecount <= _MAX_RANGE:
        raise TemplateError(f"batch size must be a whole number from 1 to {_MAX_RANGE:,}")
    return list(_JINJA_FILTERS["batch"](value, linecount, fill_with))


@pass_environment
def _groupby(
    environment: _Environment, value: Any, attribute: Any, default: Any = None, case_sensitive: Any = False
) -> Any:
    """Jinja's groupby, yielding ``{"grouper": key, "list": items}`` objects (JSON-friendly)."""
    groups = _JINJA_FILTERS["groupby"](environment, value, attribute, default, case_sensitive)
    return [{"grouper": group.grouper, "list": group.list} for group in groups]


_JINJA_FILTERS: dict[str, Any] = dict(ImmutableSandboxedEnvironment().filters)
_JINJA_TESTS: dict[str, Any] = dict(ImmutableSandboxedEnvironment().tests)


def _build_environment() -> _Environment:
    """The one sandbox configuration all templates compile in."""
    env = _Environment(  # autoescape off: outputs are data, not HTML
        autoescape=False,
        undefined=StrictUndefined,
        finalize=_finalize,
        optimized=False,
        keep_trailing_newline=True,
        cache_size=0,
        auto_reload=False,
    )
    env.globals.clear()
    env.globals["range"] = _range
    filters = {name: _JINJA_FILTERS[name] for name in _CONSTANT_FILTERS}
    filters.update({name: _guarded(_JINJA_FILTERS[name], creates=False) for name in _READING_FILTERS})
    filters.update({name: _guarded(_JINJA_FILTERS[name], creates=True) for name in _CREATING_FILTERS})
    filters.update(
        batch=_guarded(_batch, creates=True),
        float=_guarded(_float, creates=False),
        format=_format,
        fromjson=_fromjson,
        groupby=_guarded(_groupby, creates=True),
        int=_int,
        join=_join,
        json=_json,
        replace=_replace,
        round=_round,
        string=_string,
        sum=_guarded(_sum, creates=True),
        tojson=_json,
        wordcount=_wordcount,
    )
    env.filters.clear()
    env.filters.update(filters)
    for name in _READING_TESTS:
        env.tests[name] = _guarded(_JINJA_TESTS[name], creates=False)
    return env


def _validate(template: nodes.Template) -> None:
    """Allow only output, literal text and expression nodes; refuse dunder attributes and Jinja's special names."""
    stack: list[nodes.Node] = [template]
    while stack:
        node = stack.pop()
        kind = type(node)
        if kind is nodes.Template or kind is nodes.Output or kind is nodes.TemplateData:
            pass
        elif kind not in _EXPRESSION_NODES:
            raise TemplateError(
                f"{kind.__name__.lower()} statements are not allowed: a template is text with {{{{ expression }}}} "
                "parts only — use `a if condition else b`, filters like | join, | map, | select, or .get(...)"
            )
        elif isinstance(node, nodes.Name) and (node.ctx != "load" or node.name in _RESERVED_NAMES):
            raise TemplateError(f"the name {node.name!r} is not available; use input, steps or run")
        elif isinstance(node, nodes.Tuple) and node.ctx != "load":
            raise TemplateError("assignments are not allowed in templates")
        elif isinstance(node, nodes.Getattr) and node.attr.startswith("__"):
            raise TemplateError(f"attribute {node.attr!r} is not accessible (names starting with '__' are private)")
        elif isinstance(node, nodes.Const) and isinstance(node.value, float) and not math.isfinite(node.value):
            raise TemplateError("a number in the template is too large: JSON numbers stop at about 1.8e308")
        stack.extend(node.iter_child_nodes())


def _single_expression(template: nodes.Template) -> nodes.Expr | None:
    """The expression when the template is exactly one {{ … }} (whitespace around it allowed), else None."""
    found: list[nodes.Expr] = []
    for output in template.body:
        if not isinstance(output, nodes.Output):
            return None
        for child in output.nodes:
            if isinstance(child, nodes.TemplateData):
                if child.data.strip():
                    return None
            else:
                found.append(child)
    return found[0] if len(found) == 1 else None


def _describe(exc: BaseException) -> str:
    """A short, data-safe message for an exception raised while compiling or rendering."""
    if isinstance(exc, TemplateError):
        return exc.message
    if isinstance(exc, UndefinedError):
        message = _shorten(exc.message or "a value is undefined")
        match = _UNDEFINED_NAME.search(message)
        if match and match.group(2) is not None:
            return f"{message} — templates can read input, steps and run"
        key = match.group(1) if match else ""
        optional = f".get('{key}')" if key.isidentifier() else ".get(...)"
        return f"{message} — check the name, or make it optional with {optional} or | default(...)"
    if isinstance(exc, SecurityError):
        return f"not allowed: {_shorten(str(exc))}"
    if isinstance(exc, TemplateAssertionError):
        return _shorten(exc.message or str(exc))
    if isinstance(exc, TemplateSyntaxError):
        where = f" (line {exc.lineno})" if exc.source and "\n" in exc.source else ""
        return f"syntax error: {_shorten(exc.message or str(exc))}{where}"
    if isinstance(exc, RecursionError):
        return "the expression or its data is nested too deeply"
    if isinstance(exc, ZeroDivisionError):
        return "division by zero"
    if isinstance(exc, MemoryError):
        return "out of memory"
    text = _shorten(str(exc))
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A compiled template: native (one expression, value returned as is) or text."""

    template: Template
    native: bool


@dataclass(frozen=True, slots=True)
class _Failure:
    """A template that does not compile, with the reason (cached like successes)."""

    message: str


class Templates:
    """Renders ``{{ … }}`` templates in node configs against a scope of JSON data, inside the sandbox."""

    def __init__(
        self, *, max_template_chars: int = 20_000, max_output_chars: int = 1_000_000, cache_size: int = 2048
    ) -> None:
        """Limits: template source length, size of the values a render() may produce; LRU size of compiled sources."""
        self.max_template_chars = max_template_chars
        self.max_output_chars = max_output_chars
        self._env = _build_environment()
        self._compile = functools.lru_cache(maxsize=cache_size)(self._compile_uncached)

    def render(self, value: Any, scope: Mapping[str, Any], *, path: Sequence[str] = ()) -> Any:
        """Render every template in ``value`` (dicts/lists walked, new containers returned, input never mutated)."""
        state = _State(self.max_output_chars)
        token = _STATE.set(state)
        try:
            return self._walk(value, scope, tuple(path), state, 0)
        finally:
            _STATE.reset(token)

    def evaluate(self, expression_template: str, scope: Mapping[str, Any], *, path: Sequence[str] = ()) -> Any:
        """Render one template string natively (conditions, switch values); a string without {{ }} is an error."""
        if not isinstance(expression_template, str) or "{{" not in expression_template:
            raise TemplateError("expected an expression in {{ }}, for example {{ input.amount > 100 }}", path)
        return self.render(expression_template, scope, path=path)

    def check(self, value: Any, *, path: Sequence[str] = ()) -> list[tuple[tuple[str, ...], str]]:
        """Compile every template in a config without rendering; returns (path, message) for each bad one."""
        problems: list[tuple[tuple[str, ...], str]] = []
        self._check(value, tuple(path), problems, 0)
        return problems

    def cache_info(self) -> Any:
        """Statistics of the compiled-template LRU cache (functools.lru_cache's cache_info())."""
        return self._compile.cache_info()

    def _walk(self, value: Any, scope: Mapping[str, Any], path: tuple[str, ...], state: _State, depth: int) -> Any:
        if isinstance(value, str):
            return self._render_string(value, scope, path, state) if "{{" in value else value
        if isinstance(value, dict | list) and depth >= _MAX_DEPTH:
            raise TemplateError(f"the config is nested more than {_MAX_DEPTH} levels deep", path)
        if isinstance(value, dict):
            return {key: self._walk(item, scope, (*path, str(key)), state, depth + 1) for key, item in value.items()}
        if isinstance(value, list):
            return [self._walk(item, scope, (*path, str(i)), state, depth + 1) for i, item in enumerate(value)]
        return value

    def _check(
        self, value: Any, path: tuple[str, ...], problems: list[tuple[tuple[str, ...], str]], depth: int
    ) -> None:
        if isinstance(value, str):
            if "{{" in value:
                try:
                    self._compiled(value)
                except TemplateError as exc:
                    problems.append((path, exc.message))
        elif depth >= _MAX_DEPTH:
            if isinstance(value, dict | list):
                problems.append((path, f"the config is nested more than {_MAX_DEPTH} levels deep"))
        elif isinstance(value, dict):
            for key, item in value.items():
                self._check(item, (*path, str(key)), problems, depth + 1)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                self._check(item, (*path, str(i)), problems, depth + 1)

    def _compiled(self, source: str) -> _Compiled:
        """The compiled template for ``source`` (cached); TemplateError when it is too long or invalid."""
        if len(source) > self.max_template_chars:
            raise TemplateError(
                f"the template is {len(source):,} characters long; the limit is {self.max_template_chars:,} "
                "— shorten it"
            )
        compiled = self._compile(source)
        if isinstance(compiled, _Failure):
            raise TemplateError(f"{compiled.message} (in {_excerpt(source)})")
        return compiled

    def _compile_uncached(self, source: str) -> _Compiled | _Failure:
        try:
            for _, token, _ in self._env.lexer.tokeniter(source, None):
                if token in ("block_begin", "raw_begin", "linestatement_begin"):
                    raise TemplateError(
                        "statements ({% … %}) are not allowed: a template is text with {{ expression }} parts only "
                        "— use `a if condition else b`, filters like | join, | map, | select, or .get(...)"
                    )
                if token in ("comment_begin", "linecomment_begin"):
                    raise TemplateError("comments ({# … #}) are not allowed in templates; remove them")
            tree = self._env.parse(source)
            _validate(tree)
            expression = _single_expression(tree)
            if expression is None:
                return _Compiled(self._env.from_string(tree), native=False)
            body: list[nodes.Node] = [nodes.Assign(nodes.Name("result", "store"), expression, lineno=1)]
            return _Compiled(self._env.from_string(nodes.Template(body, lineno=1)), native=True)
        except Exception as exc:  # every compile problem becomes a message; nothing was executed
            return _Failure(_describe(exc))

    def _render_string(self, source: str, scope: Mapping[str, Any], path: tuple[str, ...], state: _State) -> Any:
        try:
            compiled = self._compiled(source)
        except TemplateError as exc:
            raise TemplateError(exc.message, path) from None
        try:
            context = compiled.template.new_context(dict(scope))
            if compiled.native:
                for _ in compiled.template.root_render_func(context):
                    pass
                converter = _Converter(state.max_output - state.output, state.max_output)
                result = converter.convert(context.vars["result"])
                state.output += converter.used
                return result
            parts: list[str] = []
            for part in compiled.template.root_render_func(context):
                state.output += len(part)
                if state.output > state.max_output:
                    raise TemplateError(
                        f"the rendered result is larger than the limit of {state.max_output:,} characters"
                    )
                parts.append(part)
            return "".join(parts)
        except Exception as exc:  # every failure becomes a TemplateError with the path
            raise TemplateError(f"{_describe(exc)} (in {_excerpt(source)})", path) from None


@functools.cache
def default_templates() -> Templates:
    """The shared Templates instance with default limits."""
    return Templates()
