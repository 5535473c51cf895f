"""How the report writes values: numbers with thousands separators, counted nouns, lists joined."""

from __future__ import annotations

import datetime as dt
import math
import numbers
from typing import Any

__all__ = ["format_value", "is_number", "plural"]


def plural(count: int, noun: str) -> str:
    """``count`` and ``noun``, with an ``s`` unless the count is one.

    Examples:
        >>> plural(1, "post"), plural(1234, "post")
        ('1 post', '1,234 posts')
    """
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def is_number(value: Any) -> bool:
    """Whether ``value`` is a number (booleans are not)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def format_value(value: Any) -> str:
    """A value as report text: thousands separators on ints, four significant digits on floats, lists joined.

    Examples:
        >>> [format_value(v) for v in (1234567, 0.123456, 12345.6, None, ["a", "b"])]
        ['1,234,567', '0.1235', '12,346', '', 'a, b']
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, numbers.Integral):
        return f"{value:,}"
    if isinstance(value, numbers.Real):
        if not math.isfinite(value) or abs(value) < 1000:
            return f"{value:.4g}"
        return f"{value:,.0f}"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, bytes):
        return f"<{len(value):,} bytes>"
    if isinstance(value, list | tuple):
        return ", ".join(format_value(item) for item in value)
    return str(value)
