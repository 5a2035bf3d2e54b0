"""The filters and tests templates may use: Jinja's, charged for what they read and size-checked for what they
build, and 13 of our own where Jinja's could build unbounded values or yield what JSON cannot hold."""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable
from typing import Any, NoReturn

from jinja2 import Environment
from jinja2.runtime import Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import pass_environment

from studio_shared.templates._jinja_internals import attrgetter, passes_first_argument, raise_undefined
from studio_shared.templates.allowlists import CONSTANT_FILTERS, CREATING_FILTERS, READING_FILTERS, READING_TESTS
from studio_shared.templates.errors import TemplateError, excerpt, shorten
from studio_shared.templates.formats import percent_format, replace_size
from studio_shared.templates.limits import MAX_INT_TEXT, MAX_RANGE, MAX_ROUND_PRECISION
from studio_shared.templates.meter import current
from studio_shared.templates.values import check_finite, non_finite_text, to_json, to_text

JINJA_FILTERS: dict[str, Any] = dict(ImmutableSandboxedEnvironment().filters)
JINJA_TESTS: dict[str, Any] = dict(ImmutableSandboxedEnvironment().tests)
_WORD = re.compile(r"\w+")


def guarded(func: Callable[..., Any], *, creates: bool) -> Callable[..., Any]:
    """Wrap a Jinja filter or test: charge for the data it reads; size-check what it creates (iterators → lists)."""
    offset = 1 if passes_first_argument(func) else 0

    @functools.wraps(func)
    def call(*args: Any, **kwargs: Any) -> Any:
        meter = current()
        for value in (*args[offset:], *kwargs.values()):
            if not (isinstance(value, dict) and func is JINJA_TESTS["in"]):
                meter.read(value)
        result = func(*args, **kwargs)
        if not creates or (len(args) > offset and result is args[offset]):
            return result
        return meter.created(result)

    return call


@pass_environment
def _join(environment: Environment, value: Any, d: Any = "", attribute: Any = None) -> str:
    """Join items as text (dict/list items as JSON, None as ""), size-bounded."""
    meter = current()
    if isinstance(value, Undefined):
        raise_undefined(value)
    items: Any = value
    if attribute is not None:
        items = map(attrgetter(environment, attribute), value)
    separator = to_text(d, meter)
    parts: list[str] = []
    total = 0
    for item in items:
        part = to_text(item, meter)
        total += len(part) + len(separator)
        meter.limit(total, "the joined text")
        parts.append(part)
    text = separator.join(parts)
    meter.charge(len(text))
    return text


def _wordcount(value: Any) -> int:
    """Number of words, counted without building a list of them."""
    meter = current()
    text = to_text(value, meter)
    meter.charge(len(text))
    return sum(1 for _ in _WORD.finditer(text))


def _string(value: Any) -> str:
    """Text of a value, converted like output (None → "", dict/list → compact JSON)."""
    meter = current()
    text = to_text(value, meter)
    meter.charge(len(text))
    return text


def _json(value: Any) -> str:
    """Compact JSON text of a value (json.dumps, ensure_ascii=False)."""
    meter = current()
    text = to_json(value, meter)
    meter.charge(len(text))
    return text


def _fromjson(value: Any) -> Any:
    """Parse JSON text (at most max_output_chars long)."""
    meter = current()
    if isinstance(value, Undefined):
        raise_undefined(value)
    if not isinstance(value, str):
        raise TemplateError(f"fromjson expects text, not {type(value).__name__}")
    meter.limit(len(value), "the JSON text given to fromjson")
    try:
        data = json.loads(value, parse_constant=_json_constant, parse_float=_json_float)
    except TemplateError:
        raise
    except ValueError as exc:
        message = exc.msg if isinstance(exc, json.JSONDecodeError) else "invalid number"
        raise TemplateError(f"fromjson: the text is not valid JSON ({message})") from None
    return meter.created(data)


def _json_constant(name: str) -> NoReturn:
    raise TemplateError(f"fromjson: {name} is not JSON (JSON has no Infinity or NaN)")


def _json_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise TemplateError(f"fromjson: the number {excerpt(text)} is beyond what JSON numbers hold (about 1.8e308)")
    return number


def _replace(value: Any, old: Any, new: Any, count: Any = None) -> str:
    """str.replace as a filter, refused when the result would exceed the limit."""
    meter = current()
    text, old_text, new_text = (to_text(part, meter) for part in (value, old, new))
    limit = -1 if count is None else count
    meter.limit(replace_size(text, old_text, new_text, limit), "the result of replace")
    result = text.replace(old_text, new_text, limit)
    meter.charge(len(result))
    return result


def _format(value: Any, *args: Any, **kwargs: Any) -> str:
    """printf-style formatting (``'%s=%d'|format(a, b)``) with bounded widths and size."""
    if args and kwargs:
        raise TemplateError("format takes either positional or keyword arguments, not both")
    meter = current()
    return percent_format(meter, to_text(value, meter), kwargs or args)


def _round(value: Any, precision: Any = 0, method: Any = "common") -> Any:
    """Jinja's round with the precision limited to ±100 digits."""
    if not isinstance(precision, int) or abs(precision) > MAX_ROUND_PRECISION:
        raise TemplateError(
            f"round precision must be a whole number between -{MAX_ROUND_PRECISION} and {MAX_ROUND_PRECISION}"
        )
    return JINJA_FILTERS["round"](value, precision, method)


def _int(value: Any, default: Any = 0, base: Any = 10) -> Any:
    """Jinja's int, refusing text too long to be a sane integer and text that names a non-finite number."""
    if isinstance(value, str) and len(value) > MAX_INT_TEXT:
        raise TemplateError(f"the text is too long to convert to an integer (over {MAX_INT_TEXT:,} characters)")
    if non_finite_text(value):
        raise TemplateError(f"int: {shorten(repr(value))} is not a finite number; JSON has no Infinity or NaN")
    return JINJA_FILTERS["int"](value, default, base)


def _float(value: Any, default: Any = 0.0) -> Any:
    """Jinja's float, refusing a non-finite result (``'inf'``, ``'nan'``, ``'1e400'``) rather than yielding it."""
    result = JINJA_FILTERS["float"](value, default)
    if isinstance(result, float) and not math.isfinite(result):
        shown = shorten(repr(value)) if isinstance(value, str) else "the value"
        raise TemplateError(f"float: {shown} is not a finite number; JSON has no Infinity or NaN")
    return result


@pass_environment
def _sum(environment: Environment, iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
    """Sum numbers, or concatenate lists when ``start`` is a list; size-bounded and linear."""
    meter = current()
    if isinstance(iterable, Undefined):
        raise_undefined(iterable)
    values = list(iterable if attribute is None else map(attrgetter(environment, attribute), iterable))
    if isinstance(start, list | tuple):
        merged = list(start)
        size = meter.measure(start)
        for item in values:
            if not isinstance(item, list | tuple):
                raise TemplateError("sum with a list start adds lists; an item is not a list")
            size += meter.measure(item)
            meter.limit(size, "the summed list")
            merged.extend(item)
        meter.charge(size)
        return merged
    for item in values:
        if isinstance(item, Undefined):
            raise_undefined(item)
        if not isinstance(item, int | float):
            raise TemplateError("sum adds numbers (or lists, with start=[]); use join for text")
    total = sum(values, start)
    if isinstance(total, float):
        check_finite(total, "the sum")
    return total


def _batch(value: Any, linecount: Any, fill_with: Any = None) -> list[list[Any]]:
    """Jinja's batch with the batch size limited to 1..10,000."""
    if not isinstance(linecount, int) or not 1 <= linecount <= MAX_RANGE:
        raise TemplateError(f"batch size must be a whole number from 1 to {MAX_RANGE:,}")
    return list(JINJA_FILTERS["batch"](value, linecount, fill_with))


@pass_environment
def _groupby(
    environment: Environment, value: Any, attribute: Any, default: Any = None, case_sensitive: Any = False
) -> Any:
    """Jinja's groupby, yielding ``{"grouper": key, "list": items}`` objects (JSON-friendly)."""
    groups = JINJA_FILTERS["groupby"](environment, value, attribute, default, case_sensitive)
    return [{"grouper": group.grouper, "list": group.list} for group in groups]


def build_filters() -> dict[str, Callable[..., Any]]:
    """Every filter a template may use, by name."""
    filters: dict[str, Callable[..., Any]] = {name: JINJA_FILTERS[name] for name in CONSTANT_FILTERS}
    filters.update({name: guarded(JINJA_FILTERS[name], creates=False) for name in READING_FILTERS})
    filters.update({name: guarded(JINJA_FILTERS[name], creates=True) for name in CREATING_FILTERS})
    filters.update(
        batch=guarded(_batch, creates=True),
        float=guarded(_float, creates=False),
        format=_format,
        fromjson=_fromjson,
        groupby=guarded(_groupby, creates=True),
        int=_int,
        join=_join,
        json=_json,
        replace=_replace,
        round=_round,
        string=_string,
        sum=guarded(_sum, creates=True),
        tojson=_json,
        wordcount=_wordcount,
    )
    return filters


def guarded_tests() -> dict[str, Callable[..., Any]]:
    """Jinja's tests that read their arguments, charged for it (the others only look at types)."""
    return {name: guarded(JINJA_TESTS[name], creates=False) for name in READING_TESTS}
