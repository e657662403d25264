"""Value types of the config schema: bounds live in the types, and every message names the
allowed range and the value given. ``Section`` is the base of every block of settings.

A leaf module (it imports no other part of the package), so each mechanism can declare its own
config section with these types.

``Number(lo, hi)`` is a finite number in [lo, hi]; ``Whole(lo, hi)`` a whole number; ``Prob`` a
probability; ``Money`` an amount in $ (no price, cost or spend is infinite or absurd);
``Switch`` true or false; ``OneOf(...)`` one of a few names. A value of the wrong kind, out of
range, NaN or infinite is refused with ``must be in [lo, hi], got value``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict
from pydantic_core import PydanticCustomError

#: The largest amount of money a setting may hold ($ or $/month): a billion. Larger values are
#: typos (or ``inf``) that would overflow the engine's float32 MRR.
MONEY_MAX = 1e9


def format_bound(x: float) -> str:
    """A range bound as a person writes it: 1200, 1,000,000, 0.5, inf."""
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if float(x).is_integer():
        return f"{int(x):,}" if abs(x) >= 10_000 else str(int(x))
    return f"{x:g}"


def _range_text(lo: float, hi: float, lo_open: bool) -> str:
    return f"{'(' if lo_open else '['}{format_bound(lo)}, {format_bound(hi)}]"


def _number_checker(lo: float, hi: float, lo_open: bool, whole: bool) -> Any:
    allowed = _range_text(lo, hi, lo_open)
    kind = "a whole number" if whole else "a number"

    def check(value: Any) -> float | int:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PydanticCustomError(
                "number_type", "must be {kind} in {allowed}, got {value}",
                {"kind": kind, "allowed": allowed, "value": repr(value)},
            )  # fmt: skip
        if whole and not (math.isfinite(value) and float(value).is_integer()):
            raise PydanticCustomError(
                "whole_number", "must be a whole number in {allowed}, got {value}",
                {"allowed": allowed, "value": repr(value)},
            )  # fmt: skip
        below = value <= lo if lo_open else value < lo
        if math.isnan(value) or math.isinf(value) or below or value > hi:
            raise PydanticCustomError(
                "range", "must be in {allowed}, got {value}",
                {"allowed": allowed, "value": repr(value)},
            )  # fmt: skip
        return int(value) if whole else float(value)

    return check


@dataclass(frozen=True)
class Range:
    """The allowed range of a ``Number`` or ``Whole``, kept in its type's metadata so that
    tools (the dashboard's sliders) can read it: ``simulator.params.ranges.range_of``."""

    lo: float
    hi: float
    lo_open: bool = False
    whole: bool = False


def Number(lo: float, hi: float, *, lo_open: bool = False) -> Any:
    """A finite number in [lo, hi] ((lo, hi] with ``lo_open``)."""
    check = BeforeValidator(_number_checker(lo, hi, lo_open, whole=False))
    return Annotated[float, check, Range(lo, hi, lo_open)]


def Whole(lo: int, hi: int) -> Any:
    """A whole number in [lo, hi] (3.0 is accepted as 3)."""
    check = BeforeValidator(_number_checker(lo, hi, False, whole=True))
    return Annotated[int, check, Range(lo, hi, whole=True)]


def _switch(value: Any) -> bool:
    if not isinstance(value, bool):
        raise PydanticCustomError(
            "switch", "must be true or false, got {value}", {"value": repr(value)}
        )
    return value


def OneOf(*names: str) -> Any:
    """One of a few fixed names (a choice the engine knows)."""
    allowed = ", ".join(names)

    def check(value: Any) -> str:
        if value not in names:
            raise PydanticCustomError(
                "one_of", "must be one of {allowed}; got {value}",
                {"allowed": allowed, "value": repr(value)},
            )  # fmt: skip
        return str(value)

    return Annotated[str, BeforeValidator(check)]


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise PydanticCustomError("name", "must be a name, got {value}", {"value": repr(value)})
    return value


Prob = Number(0.0, 1.0)
Money = Number(0.0, MONEY_MAX)
Switch = Annotated[bool, BeforeValidator(_switch)]
Name = Annotated[str, BeforeValidator(_name)]


class Section(BaseModel):
    """A block of settings: unknown keys are refused, values never change after validation."""

    model_config = ConfigDict(extra="forbid", frozen=True)
