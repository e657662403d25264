"""The month's close over a persona's accounts (``simulator.mechanisms.accounting``): one
compiled pass that counts health against the at-risk threshold, logs every row whose MRR
changed since the last close, and sums 12-month retention against the MRR of a year ago.

The pass visits only the rows that can matter: the paying rows and the rows whose MRR was
non-zero at one of the last 12 closes (``tracked``). Every other row of the aware prefix has
MRR 0 now, at the last close and a year ago (a row not paying has MRR 0), and health 0 (see
``PersonaAgent.end_paying``), so it adds nothing to the sums, logs no change and counts below
the threshold exactly when 0 does. The rows are visited in row order, as a pass over the
whole prefix would: the change log and the sums are the same to the last bit."""

from __future__ import annotations

import numpy as np
from numba import njit

from simulator.kernels.core import _entry

#: Closes a row stays tracked after the last one at which its MRR was non-zero: 12-month
#: retention compares each close with the close 12 before it.
YEAR = 12


@_entry
@njit(cache=True, error_model="numpy")
def close_rows(
    mrr: np.ndarray,
    health: np.ndarray,
    snapshot: np.ndarray,
    year_ago: np.ndarray,
    paying: np.ndarray,
    tracked: np.ndarray,
    last_paid: np.ndarray,
    close: int,
    n: int,
    threshold: float,
    retention: bool,
) -> tuple[int, np.ndarray, np.ndarray, float, float, float, np.ndarray, np.ndarray]:
    """Close number ``close`` over the aware rows ``[0, n)``, visiting the union of ``paying``
    (a superset of the paying rows, row order) and ``tracked`` (row order; ``last_paid``: the
    close at which each last had a non-zero MRR): the number of rows with health below
    ``threshold`` (compared in float32, as numpy compares a float32 array with a Python float;
    the rows not visited count as health 0); the rows whose MRR differs from ``snapshot``
    (int64, row order) with their MRR now (float32), ``snapshot`` then brought up to date; with
    ``retention``, 12-month retention against ``year_ago`` (each row's MRR at the close 12
    months ago): the MRR then of the rows paying then, their MRR now, and their MRR now capped
    at then ($/month; 0.0 without ``retention``); the rows to track at the next close (MRR
    non-zero at one of the last ``YEAR`` closes) and their ``last_paid``."""
    below_of = np.float32(threshold)
    size = paying.size + tracked.size
    rows = np.empty(size, dtype=np.int64)
    new = np.empty(size, dtype=np.float32)
    keep = np.empty(size, dtype=np.int64)
    keep_last = np.empty(size, dtype=np.int32)
    below = visited = changed = kept = 0
    then_paid = 0.0
    now_paid = 0.0
    gross = 0.0
    i = j = 0
    prev = -1
    while i < paying.size or j < tracked.size:
        if j == tracked.size or (i < paying.size and paying[i] < tracked[j]):
            r = paying[i]
            last = -YEAR - 1
            i += 1
        else:
            r = tracked[j]
            last = last_paid[j]
            j += 1
            if i < paying.size and paying[i] == r:
                i += 1
        if r == prev:  # (a repeated row of ``paying``)
            continue
        prev = r
        visited += 1
        now = mrr[r]
        below += health[r] < below_of
        if now != snapshot[r]:
            rows[changed] = r
            new[changed] = now
            snapshot[r] = now
            changed += 1
        if retention:
            then = year_ago[r]
            if then > 0:
                then_paid += then
                now_paid += now
                gross += min(now, then)
        if now != 0:
            last = close
        if last > close - YEAR:
            keep[kept] = r
            keep_last[kept] = last
            kept += 1
    below += (n - visited) * (np.float32(0.0) < below_of)
    return (
        below,
        rows[:changed].copy(),
        new[:changed].copy(),
        then_paid,
        now_paid,
        gross,
        keep[:kept].copy(),
        keep_last[:kept].copy(),
    )


@_entry
@njit(cache=True, error_model="numpy")
def roll_forward(year_ago: np.ndarray, rows: np.ndarray, new: np.ndarray) -> None:
    """Apply one month's logged changes (rows, their MRR at that close) to ``year_ago``."""
    for i in range(rows.size):
        year_ago[rows[i]] = new[i]
