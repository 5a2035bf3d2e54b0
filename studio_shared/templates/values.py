"""What a template yields is JSON data: results converted within a size budget, text built from values the way
output is (``None`` as "", dict/list as compact JSON), and no number JSON cannot hold (Infinity, NaN, or an
integer beyond ~4,300 digits)."""

from __future__ import annotations

import json
import math
from typing import Any

from jinja2.runtime import Undefined

from studio_shared.db.jsondata import describe
from studio_shared.templates._jinja_internals import raise_undefined
from studio_shared.templates.errors import TemplateError, not_data
from studio_shared.templates.limits import MAX_DEPTH, MAX_INT_BITS, MAX_INT_DIGITS, MAX_INT_TEXT
from studio_shared.templates.meter import Meter


def check_finite(value: float, what: str) -> None:
    """Refuse Infinity and NaN: JSON has neither, so no template may yield one."""
    if not math.isfinite(value):
        raise TemplateError(
            f"{what} is {describe(value)}; JSON has no Infinity or NaN: check the numbers it is computed from"
        )


def non_finite_text(value: object) -> bool:
    """True for text such as "inf", "-Infinity", "nan" or "1e400": a number Python reads as non-finite."""
    if not isinstance(value, str) or len(value) > MAX_INT_TEXT:
        return False
    try:
        return not math.isfinite(float(value))
    except ValueError:
        return False


def check_int(value: int) -> None:
    """Refuse integers beyond ~4,300 digits."""
    if value.bit_length() > MAX_INT_BITS:
        raise TemplateError(f"the number is too large (over {MAX_INT_DIGITS:,} digits)")


class Converter:
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
                check_int(key)
            if isinstance(key, float):
                check_finite(key, "an object key")
            return json.dumps(key)
        if isinstance(key, Undefined):
            raise_undefined(key)
        raise TemplateError(f"object keys must be text, not {type(key).__name__}")

    def convert(self, value: object, depth: int = 0) -> Any:
        """Plain JSON data for ``value``: tuples and ranges become lists, Markup becomes str."""
        cls = type(value)
        if cls is str:
            self._add(len(value))  # type: ignore[arg-type]
            return value
        if cls is float:
            check_finite(value, "the result")  # type: ignore[arg-type]
            self._add(5)
            return value
        if value is None or cls is bool:
            self._add(5)
            return value
        if cls is int:
            self._add(value.bit_length() // 3 + 1)  # type: ignore[attr-defined]
            return value
        if isinstance(value, dict | list | tuple | range):
            if depth >= MAX_DEPTH:
                raise TemplateError(f"the result is nested more than {MAX_DEPTH} levels deep")
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
            check_finite(value, "the result")
            return float(value)
        if isinstance(value, Undefined):
            raise_undefined(value)
        raise not_data(value)


def to_json(value: object, meter: Meter) -> str:
    """Compact JSON text of ``value`` within the output limit."""
    data = Converter(meter.max_output, meter.max_output).convert(value)
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    meter.limit(len(text), "the JSON text")
    return text


def to_text(value: object, meter: Meter) -> str:
    """Text for insertion into a string: str as is, None → "", dict/list → compact JSON, numbers via str()."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        check_finite(value, "a number in the text")
        return str(value)
    if isinstance(value, int):
        check_int(value)
        return str(value)
    if isinstance(value, dict | list | tuple | range):
        return to_json(value, meter)
    if isinstance(value, Undefined):
        raise_undefined(value)
    raise not_data(value)
