"""Formatting with bounded results: ``%``-formats, ``str.format`` fields and ``replace``, sized before they run."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from studio_shared.templates.errors import TemplateError
from studio_shared.templates.limits import MAX_FORMAT_WIDTH
from studio_shared.templates.meter import Meter, current

_DIGITS = re.compile(r"\d+")


def spec_allowance(spec: str) -> int:
    """Room a format spec may add; refuses widths/precisions above the limit."""
    biggest = 0
    for digits in _DIGITS.findall(spec):
        if len(digits) > 6 or int(digits) > MAX_FORMAT_WIDTH:
            raise TemplateError(
                f"format width or precision {digits[:12]} is too large; the limit is {MAX_FORMAT_WIDTH:,}"
            )
        biggest = max(biggest, int(digits))
    return biggest + 32


def percent_specs(fmt: str) -> tuple[int, int]:
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
        room += spec_allowance(fmt[start:i])
        count += 1
        i = fmt.find("%", i + 1)
    return count, room


def percent_format(meter: Meter, fmt: str, args: object) -> str:
    """``fmt % args`` after bounding the result size."""
    count, room = percent_specs(fmt)
    if isinstance(args, tuple):
        inserted = sum(meter.measure(arg) for arg in args)
    elif isinstance(args, Mapping):
        biggest = max((meter.measure(item) for item in args.values()), default=0)
        inserted = count * biggest + meter.measure(args)
    else:
        inserted = meter.measure(args)
    meter.limit(len(fmt) + room + inserted, "the %-formatted text")
    text: str = fmt % args
    meter.limit(len(text), "the %-formatted text")
    meter.charge(len(text))
    return text


def replace_size(text: str, old: object, new: object, count: object) -> int:
    """Size of ``text.replace(old, new, count)``, computed without building it."""
    if not isinstance(old, str) or not isinstance(new, str):
        return len(text)
    hits = len(text) + 1 if old == "" else text.count(old)
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * (len(new) - len(old))


class FormatGuard:
    """Bounds one ``str.format``/``format_map`` method: JSON data only, bounded widths, a bounded result."""

    __slots__ = ("produced",)

    def __init__(self) -> None:
        self.produced = 0  # text built so far by this method, over all its calls

    def inserted(self, value: Any) -> None:
        meter = current()
        meter.limit(meter.measure(value), "a value inserted by format()")

    def formatting(self, value: Any, format_spec: str) -> None:
        meter = current()
        room = spec_allowance(format_spec)
        meter.limit(self.produced + room + meter.measure(value), "the text built by format()")

    def formatted(self, text: str) -> None:
        meter = current()
        self.produced += len(text)
        meter.limit(self.produced, "the text built by format()")
        meter.charge(len(text))
