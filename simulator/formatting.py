"""Display formatting of numbers (CLI summary, reports). What a number means lives in
``simulator.metrics`` and ``simulator.results``; this module only says how it is shown."""

from __future__ import annotations

import math

#: Format kinds a metric can declare.
FORMATS: tuple[str, ...] = ("money", "pct", "count", "ratio")


def format_value(value: float, kind: str) -> str:
    """Human format of ``value`` for a format kind (see ``FORMATS``); ``n/a`` when not finite.

    money: ``$1.23M`` (k, M, B above a thousand; ``-$1.23M`` below zero); pct: a fraction
    shown as ``12.3%``; count: ``12,345``; ratio: ``1.23``.
    """
    if kind not in FORMATS:
        raise ValueError(f"unknown format kind {kind!r}; expected one of {FORMATS}")
    if not math.isfinite(value):
        return "n/a"
    if kind == "money":  # the sign before the $: -$267.38k
        sign = "-" if value < 0 and round(abs(value)) != 0 else ""
        for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
            if abs(value) >= scale:
                return f"{sign}${abs(value) / scale:,.2f}{unit}"
        return f"{sign}${abs(value):,.0f}"
    if kind == "pct":  # (a value that rounds to zero is 0.0%, never -0.0%)
        return f"{round(100 * value, 1) + 0.0:.1f}%"
    if kind == "count":
        return f"{value:,.0f}"
    return f"{value:,.2f}"
