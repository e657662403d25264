"""The month's close of a persona (``simulator.mechanisms.accounting``): one compiled pass over
the rows that have ever paid (the only rows whose MRR, MRR a year ago or health can be other
than 0) that counts health against the at-risk threshold, logs every row whose MRR changed
since the last close, sums 12-month retention against the MRR of a year ago (and the part of it
from accounts that left and were won back in between), and the deferred revenue of annual
terms. The rows that have ever paid are kept up to date from the rows that start paying
(``union_rows``), so a close costs in proportion to the customers, not to the aware prefix."""

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
    rows: np.ndarray,
    n: int,
    threshold: float,
    retention: bool,
    month: int,
) -> tuple[int, np.ndarray, np.ndarray, float, float, float, float, float, float]:
    """Over ``rows`` (ascending; every row whose MRR, ``snapshot`` or ``year_ago`` is not 0 must
    be among them, so the sums are those over every row, added in row order), or over rows
    ``[0, n)`` when ``rows`` is empty and ``n`` > 0 (a pass in order: cheaper than an index
    over most rows): the number of them with health below ``threshold`` (compared in
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
    since = month - 11  # closes after the one 12 months ago
    indexed = rows.size > 0 or n == 0
    if indexed:
        n = rows.size
    changed_rows = np.empty(n, dtype=np.int64)  # (pages touched only as far as written)
    changed_mrr = np.empty(n, dtype=np.float32)
    below = 0
    changed = 0
    then_paid = 0.0
    now_paid = 0.0
    gross = 0.0
    won_now = 0.0
    won_gross = 0.0
    deferred = 0.0
    # The same body twice: a pass in order, or over the index (one loop choosing its row by a
    # branch, or by arithmetic, was a fifth slower on a pass in order over 1M rows).
    if not indexed:
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
    else:
        for i in range(n):
            r = rows[i]
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
    out = changed_rows[:changed].copy()
    new = changed_mrr[:changed].copy()
    return below, out, new, then_paid, now_paid, gross, won_now, won_gross, deferred


@_entry
@njit(cache=True, error_model="numpy")
def union_rows(known: np.ndarray, rows: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """The rows of ``known`` (ascending) and of ``rows`` (any order, repeats allowed),
    ascending, each once (int64), with ``seen`` marking the rows of ``known`` (brought up to
    date): one pass over ``rows``, and when some are new, their places in ``known`` by binary
    search and the runs between them copied. ``known`` itself when ``rows`` adds none."""
    n_new = 0
    for i in range(rows.size):
        n_new += not seen[rows[i]]
    if n_new == 0:
        return known
    new = np.empty(n_new, dtype=np.int64)
    j = 0
    for i in range(rows.size):
        r = rows[i]
        if not seen[r]:
            new[j] = r
            j += 1
            seen[r] = True
    new = np.sort(new[:j])  # (a row repeated in ``rows`` is new once)
    n_new = j
    out = np.empty(known.size + n_new, dtype=np.int64)
    o = src = 0
    for j in range(n_new):
        r = new[j]
        lo = src + np.searchsorted(known[src:], r)  # the first known row above r
        out[o : o + lo - src] = known[src:lo]
        o += lo - src
        src = lo
        out[o] = r
        o += 1
    out[o:] = known[src:]
    return out


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
