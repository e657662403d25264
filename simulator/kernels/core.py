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


@_entry
@njit(cache=True, error_model="numpy")
def update_paying_rows(index: np.ndarray, added: np.ndarray, stage: np.ndarray) -> np.ndarray:
    """The paying rows now (int64, row order) from an earlier paying index ``index`` (row
    order) and ``added``, every row that entered a paying stage from a non-paying one since
    (any order, repeats allowed): the rows of both still paying, each once. Equal to
    ``paying_rows`` over the whole prefix when no other row has started paying."""
    kept = np.empty(index.size + 1, dtype=np.int64)
    k = 0
    for i in range(index.size):  # (written every row, kept where paying, as in paying_rows)
        kept[k] = index[i]
        k += _paying(stage[index[i]])
    if added.size == 0:
        return kept[:k].copy()
    new = np.sort(added)
    out = np.empty(k + new.size, dtype=np.int64)
    o = src = 0
    prev = -1
    for j in range(new.size):  # each new row into its place among the kept ones
        r = new[j]
        if r == prev or not _paying(stage[r]):
            continue
        prev = r
        lo = src + np.searchsorted(kept[src:k], r)  # the first kept row >= r
        out[o : o + lo - src] = kept[src:lo]
        o += lo - src
        src = lo
        if src < k and kept[src] == r:  # (already in the index)
            continue
        out[o] = r
        o += 1
    out[o : o + k - src] = kept[src:k]
    o += k - src
    return out[:o].copy()


# ---------------------------------------------------------------------- sums and prices
#: numpy's pairwise sum adds blocks of at most this many values with 8 running sums.
_PAIRWISE_BLOCK = 128


@njit(cache=True, error_model="numpy")
def _block_sum(a: np.ndarray, start: int, n: int) -> float:
    """numpy's pairwise sum of a block of ``n`` <= 128 values ``a[start:start + n]``: in order
    below 8 values, else with 8 accumulators."""
    if n < 8:
        res = -0.0
        for i in range(start, start + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[start], a[start + 1], a[start + 2], a[start + 3]
    r4, r5, r6, r7 = a[start + 4], a[start + 5], a[start + 6], a[start + 7]
    i = 8
    while i < n - n % 8:
        k = start + i
        r0 += a[k]
        r1 += a[k + 1]
        r2 += a[k + 2]
        r3 += a[k + 3]
        r4 += a[k + 4]
        r5 += a[k + 5]
        r6 += a[k + 6]
        r7 += a[k + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[start + i]
        i += 1
    return res


@njit(cache=True, error_model="numpy")
def pairwise_sum(a: np.ndarray, start: int, n: int) -> float:
    """numpy's pairwise sum of ``a[start:start + n]`` (the row sums of ``ndarray.sum``): blocks
    of at most 128 values, longer runs split in two halves (the first a multiple of 8 long)
    and their sums added. (The halving walks an explicit stack: a cached recursive kernel
    crashes numba.)"""
    if n <= _PAIRWISE_BLOCK:
        return _block_sum(a, start, n)
    node_start = np.empty(64, dtype=np.int64)
    node_n = np.empty(64, dtype=np.int64)
    left = np.empty(64, dtype=np.float64)
    right_next = np.zeros(64, dtype=np.bool_)  # the node's left half is summed
    d = 0
    node_start[0], node_n[0] = start, n
    while True:
        m = node_n[d]
        if m > _PAIRWISE_BLOCK:  # descend into the left half
            half = m // 2
            half -= half % 8
            right_next[d] = False
            node_start[d + 1], node_n[d + 1] = node_start[d], half
            d += 1
            continue
        total = _block_sum(a, node_start[d], m)
        while d > 0:  # hand the sum up: a left half's parent turns to its right half
            d -= 1
            if right_next[d]:
                total = left[d] + total
                continue
            left[d] = total
            right_next[d] = True
            half = node_n[d] // 2
            half -= half % 8
            node_start[d + 1], node_n[d + 1] = node_start[d] + half, node_n[d] - half
            d += 1
            break
        else:
            return total


@njit(cache=True, error_model="numpy")
def array_sum(a: np.ndarray, n: int) -> float:
    """``a[:n].sum()`` as numpy computes it, to the last bit (0.0 when ``n`` is 0)."""
    return 0.0 + pairwise_sum(a, 0, n)


#: numpy's buffer (elements) of a sum cast to another precision: float32 values summed in float64
#: are summed pairwise in runs of this many, the runs' sums added in order.
CAST_BUFFER = 8192


@njit(cache=True, error_model="numpy")
def cast_sum(a: np.ndarray, n: int) -> float:
    """``x[:n].sum(dtype=np.float64)`` of a float32 array ``x`` as numpy computes it, to the
    last bit, from ``a`` = ``x`` as float64 (runs of ``CAST_BUFFER`` values summed pairwise,
    the runs' sums added in order; 0.0 when ``n`` is 0)."""
    total = 0.0
    for start in range(0, n, CAST_BUFFER):
        total += array_sum(a[start:], min(CAST_BUFFER, n - start))
    return total


@njit(cache=True, error_model="numpy")
def account_mrr(
    list_price: np.ndarray,
    per_seat: np.ndarray,
    annual_discount: float,
    multiplier: float,
    plan: int,
    seats: int,
    annual: bool,
) -> np.float32:
    """MRR ($/month, float32) of one account on ``plan`` with ``seats`` at today's list price:
    ``PriceBook.account_mrr`` (list price × multiplier × seats on a per-seat plan × (1 - annual
    discount) when billed annually)."""
    units = seats if per_seat[plan] else 1
    disc = 1.0 - annual_discount if annual else 1.0
    return np.float32(list_price[plan] * multiplier * units * disc)
