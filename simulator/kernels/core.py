"""The kernels' common parts: the per-row draw (the counter-based hash of
``simulator.streams``), the month's paying index, and the wrapper of kernels called from Python."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
from numba import njit

from simulator.stages import Stage

#: The ``draw`` number (``RandomStreams.row_key``) of the monthly per-row draws of the kernels'
#: streams (support, billing, expansion, churn, advocacy); draw 0 of the same streams is kept
#: for the draws of listed rows made elsewhere (churn scheduling, renewal contraction).
MONTHLY_DRAW = 1

_ONBOARDING = int(Stage.ONBOARDING)
_ACTIVE = int(Stage.ACTIVE)
_ADVOCATE = int(Stage.ADVOCATE)

# SplitMix64 (``simulator.streams``): the same constants, as uint64 for the compiled code.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S16, _S27, _S30, _S31, _S40 = (np.uint64(k) for k in (16, 27, 30, 31, 40))
_LOW24 = np.uint64((1 << 24) - 1)
_FLOAT24 = np.float32(2.0**-24)
_ALMOST_ONE = float(np.nextafter(np.float32(1.0), np.float32(0.0)))


def _entry(kernel: Any) -> Callable[..., Any]:
    """A kernel called from Python. numba calls back into Python to box a kernel's result, so a
    Ctrl-C that arrives then surfaces as a ``SystemError`` chained to the
    ``KeyboardInterrupt``: raise the interrupt itself (the run stops as it would in Python).
    The compiled function is ``.kernel`` (kernels call each other directly)."""

    @functools.wraps(kernel)
    def call(*args: Any) -> Any:
        try:
            return kernel(*args)
        except SystemError as exc:
            cause: BaseException | None = exc
            while cause is not None and not isinstance(cause, KeyboardInterrupt):
                cause = cause.__cause__ or cause.__context__
            if cause is None:
                raise
            raise KeyboardInterrupt from None

    call.kernel = kernel  # type: ignore[attr-defined]
    return call


# ---------------------------------------------------------------------- draws
@njit(cache=True, error_model="numpy")
def _hash(key: np.uint64, row: int) -> np.uint64:
    x = np.uint64(row) * _GOLDEN + key
    x ^= x >> _S30
    x *= _MIX1
    x ^= x >> _S27
    x *= _MIX2
    x ^= x >> _S31
    return x


@njit(cache=True, error_model="numpy")
def row_uniform(key: np.uint64, row: int) -> np.float32:
    """The float32 uniform on [0, 1) of ``row`` under ``key``: ``RandomStreams.row_uniform``."""
    return np.float32((_hash(key, row) >> _S40) & _LOW24) * _FLOAT24


@_entry
@njit(cache=True, error_model="numpy")
def row_uniforms(key: np.uint64, rows: np.ndarray) -> np.ndarray:
    """``row_uniform`` of each entry of ``rows`` (float32)."""
    out = np.empty(rows.size, dtype=np.float32)
    for i in range(rows.size):
        out[i] = row_uniform(key, rows[i])
    return out


@njit(cache=True, error_model="numpy")
def _rescale(u: float, lo: float, width: float) -> np.float32:
    """``simulator.streams.rescale`` of one uniform (width > 0)."""
    v = (u - lo) / width
    if v < 0.0:
        v = 0.0
    elif v > _ALMOST_ONE:
        v = _ALMOST_ONE
    return np.float32(v)


@njit(cache=True, error_model="numpy")
def _clip01(p: float) -> float:
    """p clipped to [0, 1]; NaN (0 × inf) counts as 0: the account never moves."""
    if p > 1.0:
        return 1.0
    if p > 0.0:
        return p
    return 0.0


@njit(cache=True, error_model="numpy")
def _paying(stage: int) -> bool:
    return _ONBOARDING <= stage <= _ADVOCATE


# ---------------------------------------------------------------------- the paying index
@_entry
@njit(cache=True, error_model="numpy")
def paying_rows(stage: np.ndarray, n: int) -> np.ndarray:
    """Rows among the first ``n`` whose stage is a paying one, in row order (int64)."""
    count = 0
    for r in range(n):
        count += _paying(stage[r])
    out = np.empty(count + 1, dtype=np.int64)
    k = 0
    for r in range(n):  # (written every row, kept where paying: no branch to mispredict)
        out[k] = r
        k += _paying(stage[r])
    return out[:count]
