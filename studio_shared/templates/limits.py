"""The sandbox's numeric limits: what one template may build, nest, format or count."""

from __future__ import annotations

import math

MAX_RANGE = 10_000  # numbers a range() may produce; also the largest batch
MAX_INT_BITS = 14_300  # ≈ 4,300 decimal digits, Python's default int <-> str conversion limit
MAX_INT_DIGITS = int(MAX_INT_BITS * math.log10(2))
MAX_INT_TEXT = 4_400  # longest text the int filter converts
MAX_FORMAT_WIDTH = 1_000  # widths/precisions in str.format specs and %-formats
MAX_ROUND_PRECISION = 100
MAX_DEPTH = 100  # nesting of data and configs
WORK_FACTOR = 10  # all values created by one render() <= this * max_output_chars
