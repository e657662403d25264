"""The month's close over a persona's aware rows (``simulator.mechanisms.accounting``): one
compiled pass that sums MRR, counts health against the at-risk threshold and logs every row
whose MRR changed since the last close (the change log that 12-month retention reads)."""

from __future__ import annotations

import numpy as np
from numba import njit

from simulator.kernels.core import _entry


@_entry
@njit(cache=True, error_model="numpy")
def close_rows(
    mrr: np.ndarray, health: np.ndarray, snapshot: np.ndarray, n: int, threshold: float
) -> tuple[float, int, np.ndarray, np.ndarray]:
    """Over rows ``[0, n)``: the MRR sum ($/month, float64), the number of rows with health
    below ``threshold``, and the rows whose MRR differs from ``snapshot`` (int64, row order)
    with their ``snapshot`` value (float32, the MRR at the last close); ``snapshot`` is then
    brought up to date. Health is compared in float32, as numpy compares a float32 array with a
    Python float."""
    below_of = np.float32(threshold)
    # Four running sums and counts (independent chains the processor can overlap). MRR values
    # are float32 dollar amounts: their float64 sum is exact, so the order does not matter
    # (53 bits hold every total of a persona's float32 MRRs above $1 up to about $10^9/month).
    t0 = t1 = t2 = t3 = 0.0
    below = 0
    changed = 0
    top = n - n % 4
    for r in range(0, top, 4):
        t0 += mrr[r]
        t1 += mrr[r + 1]
        t2 += mrr[r + 2]
        t3 += mrr[r + 3]
        below += (
            (health[r] < below_of)
            + (health[r + 1] < below_of)
            + (health[r + 2] < below_of)
            + (health[r + 3] < below_of)
        )
        changed += (
            (mrr[r] != snapshot[r])
            + (mrr[r + 1] != snapshot[r + 1])
            + (mrr[r + 2] != snapshot[r + 2])
            + (mrr[r + 3] != snapshot[r + 3])
        )
    for r in range(top, n):
        t0 += mrr[r]
        below += health[r] < below_of
        changed += mrr[r] != snapshot[r]
    total = (t0 + t1) + (t2 + t3)
    rows = np.empty(changed, dtype=np.int64)
    old = np.empty(changed, dtype=np.float32)
    k = 0
    for r in range(n):
        if k == changed:
            break
        if mrr[r] != snapshot[r]:
            rows[k] = r
            old[k] = snapshot[r]
            snapshot[r] = mrr[r]
            k += 1
    return total, below, rows, old


@_entry
@njit(cache=True, error_model="numpy")
def year_ago_sums(
    mrr: np.ndarray, rows: np.ndarray, old: np.ndarray, mrr_now: float
) -> tuple[float, float, float]:
    """12-month retention sums from the change log (``accounting.MrrLog.year_ago``): ``rows``
    and ``old`` are the logged changes, oldest first; a row's MRR then is its ``old`` at its
    first entry, its ``mrr`` now if it has none. Returns (MRR then of the rows paying then,
    their MRR now, their MRR now capped at then), $/month."""
    order = np.argsort(rows, kind="mergesort")  # stable: a row's entries stay oldest first
    changed_now = 0.0
    then_paid = 0.0
    now_paid = 0.0
    gross = 0.0
    last = -1
    for i in order:
        r = rows[i]
        if r == last:
            continue
        last = r
        then = old[i]
        now = mrr[r]
        changed_now += now
        if then > 0:
            then_paid += then
            now_paid += now
        gross += min(now, then)
    unchanged = mrr_now - changed_now  # rows with no change: MRR then = now
    return unchanged + then_paid, unchanged + now_paid, unchanged + gross
