"""Kernels of the scheduled transitions (``simulator.calendar``): geometric waiting times from
log-uniforms, and the filing of rows under their months (a stable counting sort of the rows due
inside the calendar's window, the later ones kept in order for its two pools).

The waiting times compute the same float operations as the numpy formulas of
``simulator.calendar`` (a product by 1 / log(1 - p), or a quotient by log(1 - p), then floor):
the logarithms stay numpy's (``np.log1p`` before the kernel), the compiled ``log1p`` differs
from it in the last bit. Month numbers and rows are integers: exact in any order.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from simulator.kernels.core import _entry, array_sum

#: ``simulator.calendar.NEVER`` (kept equal by a test; the calendar imports no kernel constant).
NEVER = 100_000


# ---------------------------------------------------------------------- waiting times
@njit(cache=True, error_model="numpy")
def _wait(log_u: float, per_log_stay: float) -> int:
    """floor(log(1 - u) / log(1 - p)) with 1 / log(1 - p) given (0 < p < 1), at most NEVER."""
    return int(min(np.floor(log_u * per_log_stay), NEVER))


@njit(cache=True, error_model="numpy")
def _wait_each(log_u: float, p: float, log_stay: float) -> int:
    """floor(log(1 - u) / log(1 - p)): 0 where p >= 1, NEVER where p <= 0, where it is not
    finite (p NaN) or at or beyond NEVER."""
    if p >= 1.0:
        return 0
    if p <= 0.0:
        return NEVER
    k = np.floor(log_u / log_stay)
    if np.isfinite(k) and k < NEVER:
        return int(k)
    return NEVER


@_entry
@njit(cache=True, error_model="numpy")
def waits(log_u: np.ndarray, per_log_stay: float) -> np.ndarray:
    """Months waiting (``simulator.calendar.months_waiting``) at one exit probability p,
    0 < p < 1: floor(``log_u`` × ``per_log_stay``) capped at NEVER, with ``log_u`` = log(1 - u)
    and ``per_log_stay`` = 1 / log(1 - p)."""
    out = np.empty(log_u.size, dtype=np.int64)
    for i in range(log_u.size):
        out[i] = _wait(log_u[i], per_log_stay)
    return out


@_entry
@njit(cache=True, error_model="numpy")
def waits_each(log_u: np.ndarray, p: np.ndarray, log_stay: np.ndarray) -> np.ndarray:
    """Months waiting at a probability ``p`` per account: floor(``log_u`` / ``log_stay``) with
    ``log_stay`` = log(1 - clip(p, 0, 1)); 0 where p >= 1, NEVER where p <= 0 or the wait is not
    finite or at or beyond NEVER."""
    out = np.empty(log_u.size, dtype=np.int64)
    for i in range(log_u.size):
        out[i] = _wait_each(log_u[i], p[i], log_stay[i])
    return out


# ---------------------------------------------------------------------- filing
@njit(cache=True, error_model="numpy")
def _file(
    months: np.ndarray, rows: np.ndarray, edge: int, horizon: int
) -> tuple[np.ndarray, np.ndarray, int, np.ndarray, int]:
    """Rows ``rows`` due in ``months``: those before ``edge`` grouped by month (a stable
    counting sort), then those from ``edge`` to before ``horizon`` in their order, then those
    from ``horizon`` (or ``edge`` if later) to before NEVER in their order (the others are
    dropped). Returns (the rows so ordered; the months of the later ones; the first month due
    before ``edge``; the offsets of months first, first + 1, ... in the rows, one more than the
    months, empty when no row is due before ``edge``; how many are due before ``horizon``)."""
    n = rows.size
    # Each row's place (0 before the edge, 1 before the horizon, 2 later, 3 never), counted
    # without branches: months are in no order, a branch per row would be mispredicted.
    place = np.empty(n, dtype=np.uint8)
    n_near = n_soon = n_far = 0
    first = NEVER
    last = -NEVER
    for i in range(n):
        m = months[i]
        past_edge = m >= edge
        c = past_edge * (1 + (m >= horizon) + (m >= NEVER))
        place[i] = c
        n_near += c == 0
        n_soon += c == 1
        n_far += c == 2
        first = min(first, m if not past_edge else first)
        last = max(last, m if not past_edge else last)
    total = n_near + n_soon + n_far
    out = np.empty(total + 1, dtype=rows.dtype)  # (+1: where the never rows go, dropped)
    sorted_months = np.empty(total + 1, dtype=np.int64)
    at_near, at_soon, at_far = 0, n_near, n_near + n_soon
    for i in range(n):
        c = place[i]
        k = (c == 0) * at_near + (c == 1) * at_soon + (c == 2) * at_far + (c == 3) * total
        out[k] = rows[i]
        sorted_months[k] = months[i]
        at_near += c == 0
        at_soon += c == 1
        at_far += c == 2
    out = out[:total]
    later = sorted_months[n_near:total]
    if n_near == 0:
        return out, later, 0, np.zeros(0, dtype=np.int64), n_soon
    # The rows before the edge (first in ``out``), grouped by month in their order.
    starts = np.zeros(last - first + 2, dtype=np.int64)
    for i in range(n_near):
        starts[sorted_months[i] - first + 1] += 1
    for j in range(1, starts.size):
        starts[j] += starts[j - 1]
    at = starts[:-1].copy()
    near_rows = out[:n_near].copy()
    for i in range(n_near):
        j = sorted_months[i] - first
        out[at[j]] = near_rows[i]
        at[j] += 1
    return out, later, first, starts, n_soon


@_entry
@njit(cache=True, error_model="numpy")
def file_months(
    months: np.ndarray, rows: np.ndarray, edge: int, horizon: int
) -> tuple[np.ndarray, np.ndarray, int, np.ndarray, int]:
    """Rows ``rows`` filed under ``months`` in a calendar whose buckets end at ``edge`` and
    whose first pool at ``horizon``: see ``_file``."""
    return _file(months, rows, edge, horizon)


@_entry
@njit(cache=True, error_model="numpy")
def file_waits(
    log_u: np.ndarray,
    per_log_stay: float,
    first_month: int,
    last_month: int,
    rows: np.ndarray,
    edge: int,
    horizon: int,
) -> tuple[np.ndarray, np.ndarray, int, np.ndarray, int]:
    """Rows ``rows`` filed under ``first_month`` + their wait at one exit probability
    (``waits``), those up to ``last_month`` only: see ``_file``."""
    months = np.empty(rows.size, dtype=np.int64)
    for i in range(rows.size):
        m = first_month + _wait(log_u[i], per_log_stay)
        months[i] = m if m <= last_month else NEVER
    return _file(months, rows, edge, horizon)


@_entry
@njit(cache=True, error_model="numpy")
def file_waits_each(
    log_u: np.ndarray,
    p: np.ndarray,
    log_stay: np.ndarray,
    first_month: int,
    last_month: int,
    rows: np.ndarray,
    edge: int,
    horizon: int,
) -> tuple[np.ndarray, np.ndarray, int, np.ndarray, int]:
    """Rows ``rows`` filed under ``first_month`` + their wait at a probability per account
    (``waits_each``), those up to ``last_month`` only: see ``_file``."""
    months = np.empty(rows.size, dtype=np.int64)
    for i in range(rows.size):
        m = first_month + _wait_each(log_u[i], p[i], log_stay[i])
        months[i] = m if m <= last_month else NEVER
    return _file(months, rows, edge, horizon)


# ---------------------------------------------------------------------- win-back offers
#: numpy's buffer (elements) of a sum cast to another precision: float32 values summed in float64
#: are summed pairwise in runs of this many, the runs' sums added in order.
_CAST_BUFFER = 8192


@_entry
@njit(cache=True, error_model="numpy")
def start_offers(
    rows: np.ndarray, mrr: np.ndarray, offer_end: np.ndarray, factor: float, end_month: int
) -> float:
    """Won-back accounts ``rows`` start their offer: MRR × ``factor`` (1 - discount; in float64,
    stored in float32) until ``end_month`` (``offer_end``). Returns the MRR cut ($/month): the
    list MRRs' float64 sum less the discounted ones' sum in float64, both as numpy sums them
    (``full.sum()``, ``mrr[rows].sum(dtype=np.float64)``)."""
    n = rows.size
    full = np.empty(n, dtype=np.float64)
    cut = np.empty(n, dtype=np.float64)
    for i in range(n):
        r = rows[i]
        full[i] = np.float64(mrr[r])
        mrr[r] = np.float32(full[i] * factor)
        offer_end[r] = end_month
        cut[i] = np.float64(mrr[r])
    cut_sum = 0.0
    for start in range(0, n, _CAST_BUFFER):
        cut_sum += array_sum(cut[start:], min(_CAST_BUFFER, n - start))
    return array_sum(full, n) - cut_sum
