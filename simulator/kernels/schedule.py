"""Kernels of the scheduled transitions (``simulator.calendar``): geometric waiting times from
log-uniforms, and the calendar's month lists (rows filed under their month, popped in filing
order).

The waiting times compute the same float operations as the numpy formulas of
``simulator.calendar`` (a product by 1 / log(1 - p), or a quotient by log(1 - p), then floor).
``waits`` and ``waits_each`` (``calendar.months_waiting``) take numpy's logarithms, computed
before the kernel; the filings that draw their rows' uniforms themselves
(``file_drawn_waits``, ``funnel.schedule_evaluators``) take the compiled ``log1p`` (libm's),
which differs from numpy's AVX-512 one in the last bit for about 7% of the uniforms: a wait
changes only where log(1 - u) / log(1 - p) falls within that bit of a whole month.
Month numbers and rows are integers: exact in any order.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from simulator.kernels.core import _entry, array_sum, cast_sum, row_uniform

#: ``simulator.calendar.NEVER`` (kept equal by a test; the calendar imports no kernel constant).
NEVER = 100_000
_FLOAT_MAX = float(np.finfo(np.float64).max)
_BELOW_ONE = float(np.nextafter(1.0, 0.0))


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


@njit(cache=True, error_model="numpy")
def _per_log_stay(p: float) -> float:
    """1 / log(1 - p) of 0 < p < 1 (``simulator.calendar._per_log_stay``, with the compiled
    ``log1p``): the most negative float when the reciprocal overflows."""
    log_stay = np.log1p(-p)
    if -log_stay * _FLOAT_MAX < 1.0:
        return -_FLOAT_MAX
    return 1.0 / log_stay


@njit(cache=True, error_model="numpy")
def _wait_at(log_u: float, p: float) -> int:
    """``_wait_each`` with log(1 - p) taken here (the compiled ``log1p``, p clipped to
    [0, 1))."""
    return _wait_each(log_u, p, np.log1p(-min(max(p, 0.0), _BELOW_ONE)))


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


# ---------------------------------------------------------------------- the calendar's lists
# A calendar (``simulator.calendar.Calendar``) keeps its rows in linked lists, one per month:
#
# - ``slots`` (int32, 3 × capacity): each slot's row, month and next slot (-1: the last);
# - ``buckets`` (int64, months × 3): the first slot, the last slot and the number of rows of
#   each month 0, 1, ... (-1, -1, 0 when empty);
# - ``meta`` (int64): the far list's first and last slot (rows due in a month outside the
#   buckets, in filing order), the first free slot, the slots ever used, the rows filed, the
#   free slots.
#
# A row is appended to its month's list (or to the far list) as it is filed, so a month's rows
# come out in filing order; the slots a month frees are reused. The caller makes room first
# (``available``: slots free or never used).
FAR_HEAD, FAR_TAIL, FREE_HEAD, TOP, LIVE, N_FREE = range(6)
META_SIZE = 6


@njit(cache=True, error_model="numpy")
def _append_far(slots: np.ndarray, s: int, meta: np.ndarray) -> None:
    """Slot ``s`` goes at the end of the far list."""
    slots[2, s] = -1
    last = meta[FAR_TAIL]
    if last < 0:
        meta[FAR_HEAD] = s
    else:
        slots[2, last] = s
    meta[FAR_TAIL] = s


@njit(cache=True, error_model="numpy")
def _append_bucket(slots: np.ndarray, s: int, buckets: np.ndarray, m: int) -> None:
    """Slot ``s`` goes at the end of month ``m``'s list."""
    slots[2, s] = -1
    last = buckets[m, 1]
    if last < 0:
        buckets[m, 0] = s
    else:
        slots[2, last] = s
    buckets[m, 1] = s
    buckets[m, 2] += 1


@njit(cache=True, error_model="numpy")
def _link(
    months: np.ndarray, rows: np.ndarray, slots: np.ndarray, buckets: np.ndarray, meta: np.ndarray
) -> int:
    """File each of ``rows`` under its month in ``months``, in order (those at or beyond NEVER
    are dropped). Returns the slots available after."""
    if rows.size > slots.shape[1] - meta[TOP] + meta[N_FREE]:
        raise ValueError("calendar: no room for the rows filed (Calendar._room first)")
    free, top = meta[FREE_HEAD], meta[TOP]
    far_head, far_tail = meta[FAR_HEAD], meta[FAR_TAIL]
    span = buckets.shape[0]
    n_filed = n_reused = 0
    for i in range(rows.size):
        month = months[i]
        if month >= NEVER:
            continue
        if free >= 0:
            s = free
            free = slots[2, s]
            n_reused += 1
        else:
            s = top
            top += 1
        slots[0, s] = rows[i]
        slots[1, s] = month
        if 0 <= month < span:
            _append_bucket(slots, s, buckets, month)
        else:
            slots[2, s] = -1
            if far_tail < 0:
                far_head = s
            else:
                slots[2, far_tail] = s
            far_tail = s
        n_filed += 1
    meta[FREE_HEAD], meta[TOP] = free, top
    meta[FAR_HEAD], meta[FAR_TAIL] = far_head, far_tail
    meta[LIVE] += n_filed
    meta[N_FREE] -= n_reused
    return slots.shape[1] - top + meta[N_FREE]


@_entry
@njit(cache=True, error_model="numpy")
def file_rows(
    month: int, rows: np.ndarray, slots: np.ndarray, buckets: np.ndarray, meta: np.ndarray
) -> int:
    """File ``rows`` under one ``month``, in order. Returns the slots available after."""
    return _link(np.full(rows.size, month, dtype=np.int64), rows, slots, buckets, meta)


@_entry
@njit(cache=True, error_model="numpy")
def file_months(
    months: np.ndarray, rows: np.ndarray, slots: np.ndarray, buckets: np.ndarray, meta: np.ndarray
) -> int:
    """File each of ``rows`` under its month in ``months``, in order. Returns the slots
    available after."""
    return _link(months, rows, slots, buckets, meta)


@_entry
@njit(cache=True, error_model="numpy")
def file_drawn_waits(
    key: np.uint64,
    rows: np.ndarray,
    p: float,
    first_month: int,
    last_month: int,
    slots: np.ndarray,
    buckets: np.ndarray,
    meta: np.ndarray,
) -> int:
    """File ``rows`` under ``first_month`` + their wait at one exit probability ``p`` > 0
    (``waits``) of their uniforms ``row_uniform(key, row)``, drawn here, those up to
    ``last_month`` only, in order. Returns the slots available after."""
    months = np.empty(rows.size, dtype=np.int64)
    per_log_stay = _per_log_stay(p) if p < 1.0 else 0.0
    for i in range(rows.size):
        log_u = np.log1p(-np.float64(row_uniform(key, rows[i])))
        m = first_month + (0 if p >= 1.0 else _wait(log_u, per_log_stay))
        months[i] = m if m <= last_month else NEVER
    return _link(months, rows, slots, buckets, meta)


@_entry
@njit(cache=True, error_model="numpy")
def file_drawn_waits_each(
    key: np.uint64,
    rows: np.ndarray,
    p: np.ndarray,
    first_month: int,
    last_month: int,
    slots: np.ndarray,
    buckets: np.ndarray,
    meta: np.ndarray,
) -> int:
    """``file_drawn_waits`` at an exit probability per row (``waits_each``)."""
    months = np.empty(rows.size, dtype=np.int64)
    for i in range(rows.size):
        log_u = np.log1p(-np.float64(row_uniform(key, rows[i])))
        m = first_month + _wait_at(log_u, p[i])
        months[i] = m if m <= last_month else NEVER
    return _link(months, rows, slots, buckets, meta)


@njit(cache=True, error_model="numpy")
def _free(slots: np.ndarray, first: int, last: int, n: int, meta: np.ndarray) -> None:
    """The list of ``n`` slots from ``first`` to ``last`` goes to the free slots."""
    slots[2, last] = meta[FREE_HEAD]
    meta[FREE_HEAD] = first
    meta[N_FREE] += n
    meta[LIVE] -= n


@_entry
@njit(cache=True, error_model="numpy")
def pop_month(month: int, slots: np.ndarray, buckets: np.ndarray, meta: np.ndarray) -> np.ndarray:
    """The rows of ``month`` (0 <= month < the buckets' months), in filing order (int64); their
    slots are freed."""
    n = buckets[month, 2]
    out = np.empty(n, dtype=np.int64)
    if n == 0:
        return out
    s = buckets[month, 0]
    for i in range(n):
        out[i] = slots[0, s]
        s = slots[2, s]
    _free(slots, buckets[month, 0], buckets[month, 1], n, meta)
    buckets[month, 0] = -1
    buckets[month, 1] = -1
    buckets[month, 2] = 0
    return out


@_entry
@njit(cache=True, error_model="numpy")
def pop_far(month: int, slots: np.ndarray, meta: np.ndarray) -> np.ndarray:
    """The rows of ``month`` in the far list, in filing order (int64); their slots are freed
    and the others stay in order."""
    n = 0
    s = meta[FAR_HEAD]
    while s >= 0:
        n += slots[1, s] == month
        s = slots[2, s]
    out = np.empty(n, dtype=np.int64)
    if n == 0:
        return out
    s = meta[FAR_HEAD]
    meta[FAR_HEAD] = -1
    meta[FAR_TAIL] = -1
    i = 0
    while s >= 0:
        after = slots[2, s]
        if slots[1, s] == month:
            out[i] = slots[0, s]
            i += 1
            slots[2, s] = meta[FREE_HEAD]
            meta[FREE_HEAD] = s
        else:
            _append_far(slots, s, meta)
        s = after
    meta[N_FREE] += n
    meta[LIVE] -= n
    return out


@_entry
@njit(cache=True, error_model="numpy")
def rehome_far(slots: np.ndarray, buckets: np.ndarray, meta: np.ndarray) -> None:
    """After the buckets grew: the far list's rows due in a bucket's month move to its list
    (after its rows, in filing order); the others stay in the far list, in order."""
    s = meta[FAR_HEAD]
    meta[FAR_HEAD] = -1
    meta[FAR_TAIL] = -1
    months = buckets.shape[0]
    while s >= 0:
        after = slots[2, s]
        m = slots[1, s]
        if 0 <= m < months:
            _append_bucket(slots, s, buckets, m)
        else:
            _append_far(slots, s, meta)
        s = after


# ---------------------------------------------------------------------- win-back offers
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
    return array_sum(full, n) - cast_sum(cut, n)
