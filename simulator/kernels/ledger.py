"""The month's close over a persona's aware rows (``simulator.mechanisms.accounting``): one
compiled pass that counts health against the at-risk threshold, logs every row whose MRR
changed since the last close, sums 12-month retention against the MRR of a year ago (and the
part of it from accounts that left and were won back in between), and the deferred revenue of
annual terms."""

from __future__ import annotations

import numpy as np
from numba import njit

from simulator.kernels.core import _entry, _paying


@_entry
@njit(cache=True, error_model="numpy")
def close_rows(
    mrr: np.ndarray,
    health: np.ndarray,
    snapshot: np.ndarray,
    year_ago: np.ndarray,
    left: np.ndarray,
    annual: np.ndarray,
    term_end: np.ndarray,
    n: int,
    threshold: float,
    retention: bool,
    month: int,
) -> tuple[int, np.ndarray, np.ndarray, float, float, float, float, float, float]:
    """Over rows ``[0, n)``: the number of rows with health below ``threshold`` (compared in
    float32, as numpy compares a float32 array with a Python float); the rows whose MRR differs
    from ``snapshot`` (int64, row order) with their MRR now (float32), ``snapshot`` then brought
    up to date; with ``retention``, 12-month retention against ``year_ago`` (each row's MRR at
    the close 12 months ago): the MRR then of the rows paying then, their MRR now, and their
    MRR now capped at then ($/month; 0.0 without ``retention``), and the same two sums over the
    rows paying then whose MRR was 0 at a close since (``left``: each row's last month closed
    with MRR 0, brought up to date here): won back after leaving. Also the deferred revenue
    at the end of ``month`` ($): an annual account billed its term up front has MRR × the
    months of its term after this one (``term_end`` - ``month`` - 1) still to recognise."""
    below_of = np.float32(threshold)
    below = 0
    changed = 0
    then_paid = 0.0
    now_paid = 0.0
    gross = 0.0
    won_now = 0.0
    won_gross = 0.0
    deferred = 0.0
    since = month - 11  # closes after the one 12 months ago
    changed_rows = np.empty(n, dtype=np.int64)  # (pages touched only as far as written)
    changed_mrr = np.empty(n, dtype=np.float32)
    for r in range(n):
        now = mrr[r]
        below += health[r] < below_of
        if annual[r] and now > 0:
            deferred += np.float64(now) * (term_end[r] - month - 1)
        if retention:
            then = year_ago[r]
            if then > 0:
                then_paid += then
                now_paid += now
                gross += min(now, then)
                if now > 0 and left[r] >= since:
                    won_now += now
                    won_gross += min(now, then)
        if now != snapshot[r]:
            changed_rows[changed] = r
            changed_mrr[changed] = now
            changed += 1
            snapshot[r] = now
            if now == 0:
                left[r] = month
    rows = changed_rows[:changed].copy()
    new = changed_mrr[:changed].copy()
    return below, rows, new, then_paid, now_paid, gross, won_now, won_gross, deferred


@_entry
@njit(cache=True, error_model="numpy")
def roll_forward(year_ago: np.ndarray, rows: np.ndarray, new: np.ndarray) -> None:
    """Apply one month's logged changes (rows, their MRR at that close) to ``year_ago``."""
    for i in range(rows.size):
        year_ago[rows[i]] = new[i]


@_entry
@njit(cache=True, error_model="numpy")
def cohort_sums(
    rows: np.ndarray, stage: np.ndarray, cohort_month: np.ndarray, mrr: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paying accounts and their MRR by cohort month over ``rows`` (a paying index, which may
    still hold rows that stopped paying: they are skipped): the cohort months present
    (ascending, int64), the accounts of each (int64) and their MRR summed in row order as
    float64 ($/month; the sums ``np.bincount`` with float64 weights gives)."""
    n = 0
    low = 0
    high = 0
    for i in range(rows.size):
        r = rows[i]
        if _paying(stage[r]):
            c = np.int64(cohort_month[r])
            if n == 0 or c < low:
                low = c
            if n == 0 or c > high:
                high = c
            n += 1
    if n == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64)
    accounts = np.zeros(high - low + 1, dtype=np.int64)
    total = np.zeros(high - low + 1, dtype=np.float64)
    for i in range(rows.size):
        r = rows[i]
        if _paying(stage[r]):
            k = np.int64(cohort_month[r]) - low
            accounts[k] += 1
            total[k] += np.float64(mrr[r])
    present = 0
    for k in range(accounts.size):
        present += accounts[k] > 0
    months = np.empty(present, dtype=np.int64)
    counts = np.empty(present, dtype=np.int64)
    sums = np.empty(present, dtype=np.float64)
    j = 0
    for k in range(accounts.size):
        if accounts[k] > 0:
            months[j] = k + low
            counts[j] = accounts[k]
            sums[j] = total[k]
            j += 1
    return months, counts, sums
