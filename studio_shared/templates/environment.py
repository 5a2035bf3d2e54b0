"""The sandbox environment every template compiles in: allow-listed attributes, guarded operators and calls,
bounded ``str.format``, no globals but a bounded ``range()``, and only the filters of ``filters.build_filters``."""

from __future__ import annotations

import math
import types
from typing import Any

from jinja2.exceptions import SecurityError
from jinja2.runtime import Context, StrictUndefined
from jinja2.utils import pass_context

from studio_shared.templates._jinja_internals import GuardedSandbox
from studio_shared.templates.allowlists import (
    COMPARISONS,
    DICT_ATTRIBUTES,
    NO_ATTRIBUTES,
    PAD_METHODS,
    RANGE_ATTRIBUTES,
    SEQUENCE_ATTRIBUTES,
    STR_ATTRIBUTES,
    VIEW_METHODS,
)
from studio_shared.templates.errors import TemplateError, count_text
from studio_shared.templates.filters import build_filters, guarded_tests
from studio_shared.templates.formats import FormatGuard, percent_format, replace_size
from studio_shared.templates.limits import MAX_INT_BITS, MAX_INT_DIGITS, MAX_RANGE
from studio_shared.templates.meter import Meter, current
from studio_shared.templates.values import check_finite, check_int, to_text

_SCALARS = (int, float, type(None))


class SandboxEnvironment(GuardedSandbox):
    """The sandbox with allow-listed attributes, guarded operators and calls, and bounded str.format.

    The ``studio_*`` methods are what ``GuardedCodeGenerator`` compiles literals, ``~``, comparisons and slices to.
    """

    intercepted_binops = frozenset({"*", "**", "+", "-", "/", "//", "%"})

    def format_guard(self) -> FormatGuard:
        return FormatGuard()

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if not super().is_safe_attribute(obj, attr, value):
            return False
        if isinstance(obj, str):
            allowed = STR_ATTRIBUTES
        elif isinstance(obj, dict):
            allowed = DICT_ATTRIBUTES
        elif isinstance(obj, list | tuple):
            allowed = SEQUENCE_ATTRIBUTES
        elif isinstance(obj, range):
            allowed = RANGE_ATTRIBUTES
        else:
            allowed = NO_ATTRIBUTES
        return attr in allowed

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, dict):  # data first: body.items is the key "items" when there is one
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                pass
        return super().getattr(obj, attribute)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        meter = current()
        if operator == "%" and isinstance(left, str):
            return percent_format(meter, left, right)
        if operator == "*":
            result = self._multiply(meter, left, right)
        elif operator == "+":
            result = self._add(meter, left, right)
        elif operator == "**":
            if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
                bits = right * math.log2(abs(left))
                if bits > MAX_INT_BITS:
                    raise TemplateError(
                        f"the power is too large (about {count_text(int(bits * 0.30103))} digits; "
                        f"the limit is {MAX_INT_DIGITS:,})"
                    )
            result = self._power(left, right)
        else:
            result = self.binop_table[operator](left, right)
        if isinstance(result, float):
            check_finite(result, f"the result of {operator}")
        elif isinstance(result, int):
            check_int(result)
        return result

    @staticmethod
    def _power(left: Any, right: Any) -> Any:
        try:
            return left**right
        except OverflowError:
            raise TemplateError("the result of ** is too large for a number (over about 1.8e308)") from None

    @staticmethod
    def _multiply(meter: Meter, left: Any, right: Any) -> Any:
        if isinstance(left, int) and isinstance(right, str | list | tuple):
            left, right = right, left
        if isinstance(left, str | list | tuple) and isinstance(right, int):
            if right <= 0:
                return left * right
            size = meter.measure(left)
            estimate = size * right if isinstance(left, str) else (size - 2) * right + 2
            meter.limit(estimate, "the repeated value")
            meter.charge(estimate)
            result = left * right
            meter.remember(result, estimate)
            return result
        if (
            isinstance(left, int)
            and isinstance(right, int)
            and left.bit_length() + right.bit_length() > MAX_INT_BITS + 1
        ):
            raise TemplateError(f"the product is too large (over {MAX_INT_DIGITS:,} digits)")
        return left * right

    @staticmethod
    def _add(meter: Meter, left: Any, right: Any) -> Any:
        if isinstance(left, str) and isinstance(right, str):
            estimate = len(left) + len(right)
        elif isinstance(left, list | tuple) and isinstance(right, list | tuple):
            estimate = meter.measure(left) + meter.measure(right)
        else:
            return left + right
        meter.limit(estimate, "the concatenated value")
        meter.charge(estimate)
        result = left + right
        meter.remember(result, estimate)
        return result

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        """Call a function from sandboxed code, guarding str methods that can grow their input."""
        if not __self.is_safe_callable(__obj):
            raise SecurityError(f"a {type(__obj).__name__} object is not safely callable")
        meter = current()
        owner = __obj.__self__ if isinstance(__obj, types.BuiltinMethodType) else None
        name = __obj.__name__ if owner is not None else ""
        if isinstance(owner, str | list | tuple):  # their methods scan the object and the arguments
            for value in (owner, *args, *kwargs.values()):
                meter.read(value)
            if isinstance(owner, str):
                _guard_str_method(meter, owner, name, args)
        result = __context.call(__obj, *args, **kwargs)
        if isinstance(owner, dict) and name in VIEW_METHODS:
            result = list(result)
            meter.charge(len(result))
        elif isinstance(owner, str) and result is not owner:
            result = meter.created(result)
        return result

    def studio_concat(self, values: tuple[Any, ...]) -> str:
        """The ``~`` operator: values converted like output (None → "", dict/list → JSON), size-bounded."""
        meter = current()
        parts: list[str] = []
        total = 0
        for value in values:
            part = to_text(value, meter)
            total += len(part)
            meter.limit(total, "the text joined with ~")
            parts.append(part)
        meter.charge(total)
        return "".join(parts)

    def studio_compare(self, left: Any, *operations: Any) -> bool:
        """Comparisons (also chained, ``a < b < c``), charged for the data they read."""
        meter = current()
        for i in range(0, len(operations), 2):
            op, right = operations[i], operations[i + 1]
            if op in ("in", "notin"):
                if not isinstance(right, dict):  # dict membership is a hash lookup
                    meter.read(right)
            elif not (isinstance(left, _SCALARS) and isinstance(right, _SCALARS)):
                meter.read(left)
                meter.read(right)
            if not COMPARISONS[op](left, right):
                return False
            left = right
        return True

    def studio_created(self, value: Any) -> Any:
        """A list/tuple/dict literal: its size (shared references included) must stay within the limit."""
        return current().created(value)

    def studio_slice(self, obj: Any, start: Any, stop: Any, step: Any) -> Any:
        """``obj[start:stop:step]``, accounted for."""
        part = slice(start, stop, step)
        if isinstance(obj, str | list | tuple):
            current().charge(len(range(*part.indices(len(obj)))))
        return obj[part]


def _guard_str_method(meter: Meter, text: str, name: str, args: tuple[Any, ...]) -> None:
    """Refuse str method calls whose result would exceed the limit, before they run."""
    if name in PAD_METHODS and args and isinstance(args[0], int):
        meter.limit(args[0], f"the result of {name}()")
    elif name == "replace" and len(args) >= 2:
        meter.limit(replace_size(text, args[0], args[1], args[2] if len(args) > 2 else -1), "the result of replace()")
    elif name == "join" and args:
        items = args[0]
        gaps = max(len(items) - 1, 0) if isinstance(items, str | list | tuple | dict | range) else 0
        meter.limit(meter.measure(items) + gaps * len(text), "the result of join()")


def _range(*args: int) -> range:
    """range() for templates: at most 10,000 numbers."""
    numbers = range(*args)
    try:
        size = len(numbers)
    except OverflowError:
        size = MAX_RANGE + 1
    if size > MAX_RANGE:
        raise TemplateError(f"range() may produce at most {MAX_RANGE:,} numbers")
    return numbers


@pass_context
def _finalize(context: Context, value: object) -> str:
    """Text of one {{ … }} inside a mixed string (pass_context keeps Jinja from running it at compile time)."""
    return to_text(value, current())


def build_environment() -> SandboxEnvironment:
    """The one sandbox configuration all templates compile in."""
    env = SandboxEnvironment(  # autoescape off: outputs are data, not HTML
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
    env.filters.clear()
    env.filters.update(build_filters())
    env.tests.update(guarded_tests())
    return env
