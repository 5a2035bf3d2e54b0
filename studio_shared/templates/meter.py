"""The size and work meter of one ``render()``: every value a template builds is measured before it is allocated,
and every value it reads or builds is charged against a work budget.

Sizes are approximate JSON characters, shared references counted every time they appear, memoised per container
so that measuring is paid once. The meter of the render in progress lives in a context variable: filters, tests and
the environment's guards reach it through ``current()``.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, KeysView, ValuesView
from contextvars import ContextVar
from typing import Any

from jinja2.runtime import Undefined

from studio_shared.templates._jinja_internals import raise_undefined
from studio_shared.templates.errors import TemplateError, count_text, not_data
from studio_shared.templates.limits import MAX_DEPTH, WORK_FACTOR


class Exceeded(Exception):
    """A size walk passed its cap (internal to the meter)."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


class Meter:
    """Per-render() limits and accounting: work done, output produced, memoised sizes of containers."""

    __slots__ = ("max_output", "memo", "output", "work", "work_limit")

    def __init__(self, max_output: int) -> None:
        self.max_output = max_output
        self.work_limit = max_output * WORK_FACTOR
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
            raise TemplateError(
                f"{what} would be about {count_text(size)} characters; the limit is {self.max_output:,}"
            )

    def measure(self, value: object) -> int:
        """Approximate JSON size of a value about to be used or created; refused over the output limit."""
        try:
            return self._size(value, self.max_output, 0)
        except Exceeded as exc:
            self.limit(exc.size, "a value built by the template")
            raise  # pragma: no cover - limit() raised

    def read(self, value: object) -> None:
        """Account for an operation that reads ``value`` (its JSON size; dict membership tests are O(1))."""
        if isinstance(value, str):
            self.charge(len(value))
            return
        try:
            size = self._size(value, self.work_limit - self.work, 0)
        except Exceeded as exc:
            size = exc.size
        self.charge(size)

    def _size(self, value: object, cap: int, depth: int) -> int:
        """JSON size of JSON data, shared references counted each time; Exceeded beyond ``cap``."""
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
                if depth >= MAX_DEPTH:
                    raise TemplateError(f"the data is nested more than {MAX_DEPTH} levels deep")
                self.charge(len(value))  # walking costs too, once per container and render
                size = 2
                if isinstance(value, dict):
                    for key, item in value.items():
                        size += self._size(key, cap, depth + 1) + self._size(item, cap, depth + 1) + 2
                        if size > cap:
                            raise Exceeded(size)
                else:
                    for item in value:
                        size += self._size(item, cap, depth + 1) + 1
                        if size > cap:
                            raise Exceeded(size)
                self.memo[id(value)] = (value, size)
        elif isinstance(value, str):
            size = len(value)
        elif isinstance(value, bool | int | float):
            size = 24
        elif isinstance(value, range):
            size = 2 + len(value) * (max(abs(value.start), abs(value.stop)).bit_length() // 3 + 2)
        elif isinstance(value, Undefined):
            raise_undefined(value)
        else:
            raise not_data(value)
        if size > cap:
            raise Exceeded(size)
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


METER: ContextVar[Meter | None] = ContextVar("studio_template_meter", default=None)


def current() -> Meter:
    """The meter of the render() in progress."""
    meter = METER.get()
    if meter is None:
        raise TemplateError("templates can only be evaluated through Templates.render()")
    return meter
