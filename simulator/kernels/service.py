"""Kernels of the service phases: support tickets and SLA draws, advocacy, health decay."""

from __future__ import annotations

import numpy as np
from numba import njit

from simulator.kernels.core import (
    _ACTIVE,
    _ADVOCATE,
    _entry,
    _paying,
    _rescale,
    row_uniform,
)


# ---------------------------------------------------------------------- support
@_entry
@njit(cache=True, error_model="numpy")
def raise_tickets(
    rows: np.ndarray, stage: np.ndarray, cdf: np.ndarray, key: np.uint64
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tickets of the paying accounts among ``rows`` this month: the inverse of the Poisson
    ``cdf`` (P(tickets <= k), k = 0 … kmax; beyond kmax: kmax + 1) at one draw u each.

    Returns (rows with at least one ticket, their tickets, their u rescaled within their
    ticket count's band: a fresh uniform for the SLA draw)."""
    out = np.empty(rows.size, dtype=np.int64)
    tickets = np.empty(rows.size, dtype=np.int32)
    fresh = np.empty(rows.size, dtype=np.float32)
    kmax = cdf.size - 1
    p0 = cdf[0]
    n = 0
    for i in range(rows.size):
        r = rows[i]
        u = row_uniform(key, r)
        if not (_paying(stage[r]) & (u >= p0)):
            continue
        k = 1
        while k <= kmax and cdf[k] <= u:
            k += 1
        lower = np.float64(cdf[k - 1])
        upper = np.float64(cdf[k]) if k <= kmax else 1.0
        out[n] = r
        tickets[n] = k
        fresh[n] = _rescale(u, lower, upper - lower)
        n += 1
    return out[:n].copy(), tickets[:n].copy(), fresh[:n].copy()


@_entry
@njit(cache=True, error_model="numpy")
def serve_tickets(
    rows: np.ndarray,
    tickets: np.ndarray,
    fresh: np.ndarray,
    health: np.ndarray,
    p_breach: float,
    breach_penalty: float,
    resolved_bonus: float,
) -> tuple[int, int]:
    """Accounts ``rows`` with tickets breach the SLA (``fresh`` < ``p_breach``: health -
    penalty) or are served in time (health + bonus). Returns (tickets breached, accounts
    breached)."""
    penalty = np.float32(breach_penalty)
    bonus = np.float32(resolved_bonus)
    breached = accounts = 0
    for i in range(rows.size):
        r = rows[i]
        if fresh[i] < p_breach:
            health[r] -= penalty
            breached += tickets[i]
            accounts += 1
        else:
            health[r] += bonus
    return breached, accounts


# ---------------------------------------------------------------------- advocacy
@_entry
@njit(cache=True, error_model="numpy")
def advocacy_moves(
    rows: np.ndarray,
    stage: np.ndarray,
    health: np.ndarray,
    cohort_month: np.ndarray,
    month: int,
    threshold: float,
    min_tenure: int,
    rate: float,
    key: np.uint64,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Among ``rows``: advocates whose health fell below ``threshold`` (they revert), and
    healthy active accounts (health at or above it) with at least ``min_tenure`` months since
    they first paid that become promoters with probability ``rate`` (one draw each).

    Returns (reverting rows, new advocate rows, healthy active accounts)."""
    revert = np.empty(rows.size, dtype=np.int64)
    new = np.empty(rows.size, dtype=np.int64)
    n_revert = n_new = healthy = 0
    for i in range(rows.size):  # (branch-free but the draw: stages and health are mixed)
        r = rows[i]
        s = stage[r]
        ok = health[r] >= threshold
        revert[n_revert] = r
        n_revert += (s == _ADVOCATE) & ~ok
        well = (s == _ACTIVE) & ok
        healthy += well
        # Only the healthy tenured active accounts draw (a row's draw is its own: skipping the
        # others changes no draw).
        if well & (month - np.int64(cohort_month[r]) >= min_tenure):
            new[n_new] = r
            n_new += row_uniform(key, r) < rate
    return revert[:n_revert].copy(), new[:n_new].copy(), healthy


# ---------------------------------------------------------------------- health
@_entry
@njit(cache=True, error_model="numpy")
def decay_health(rows: np.ndarray, health: np.ndarray, decay: float) -> None:
    """Health of accounts ``rows`` × ``decay`` (float32)."""
    factor = np.float32(decay)
    for i in range(rows.size):
        health[rows[i]] *= factor
