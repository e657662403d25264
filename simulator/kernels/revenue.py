"""Kernels of the revenue phases: monthly churn, expansion and contraction, billing."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from simulator.kernels.core import (
    _ACTIVE,
    _ADVOCATE,
    _clip01,
    _entry,
    _paying,
    _rescale,
    row_uniform,
)


# ---------------------------------------------------------------------- churn
@njit(cache=True, error_model="numpy")
def churn_exponent(
    health: float,
    mrr: float,
    seats: int,
    sensitivity: float,
    gap_penalty: float,
    willingness_to_pay: float,
) -> float:
    """x such that an account's monthly churn probability is base × exp(x), clipped to [0, 1]:
    x = -sensitivity × (health - gap penalty × max(MRR per seat / willingness to pay - 1, 0))
    (``simulator.mechanisms.churn.churn_probability``)."""
    if sensitivity <= 0.0:
        return 0.0
    h = np.float64(health)
    if gap_penalty > 0.0:
        per_seat = np.float64(mrr) / max(seats, 1)
        h -= gap_penalty * max(per_seat / willingness_to_pay - 1.0, 0.0)
    return -sensitivity * h


@njit(cache=True, error_model="numpy")
def churn_probability(
    base: float,
    health: float,
    mrr: float,
    seats: int,
    sensitivity: float,
    gap_penalty: float,
    willingness_to_pay: float,
) -> float:
    """One account's monthly churn probability (``simulator.mechanisms.churn``)."""
    x = churn_exponent(health, mrr, seats, sensitivity, gap_penalty, willingness_to_pay)
    return _clip01(np.float64(base) * math.exp(x))


#: Below this exponent exp(x) <= 1 + x + x² (true up to x ≈ 1.79): a cheap upper bound.
_BOUND_X = 1.5


@_entry
@njit(cache=True, error_model="numpy")
def monthly_churn(
    rows: np.ndarray,
    stage: np.ndarray,
    annual: np.ndarray,
    base_churn: np.ndarray,
    health: np.ndarray,
    mrr: np.ndarray,
    seats: np.ndarray,
    early_churn_end: np.ndarray,
    month: int,
    sensitivity: float,
    gap_penalty: float,
    willingness_to_pay: float,
    forgot_churn: float,
    factor: float,
    key: np.uint64,
) -> np.ndarray:
    """Monthly-billed paying accounts among ``rows`` that churn this month: one draw each
    against p = ``churn_probability`` (its base × ``factor``, the touchpoints' churn factor),
    or 1 - (1 - p)(1 - ``forgot_churn``) for a forgot-to-cancel account in its early window."""
    out = np.empty(rows.size, dtype=np.int64)
    k = 0
    for i in range(rows.size):
        r = rows[i]
        u = row_uniform(key, r)
        early = (forgot_churn > 0.0) & (early_churn_end[r] > month)
        base = np.float64(base_churn[r]) * factor  # (x × 1.0 is x exactly)
        x = churn_exponent(
            health[r], mrr[r], seats[r], sensitivity, gap_penalty, willingness_to_pay
        )
        # Most accounts stay: exp only where a cheap upper bound of p (valid below _BOUND_X;
        # 1 - (1 - p)(1 - q) is at most p + q; the margin covers exp's rounding) is above the
        # draw. The conditions are combined without branches (mixed rows are unpredictable).
        bound = base * (1.0 + x + x * x) * (1.0 + 1e-9) + early * forgot_churn
        maybe = _paying(stage[r]) & ~annual[r] & ((x >= _BOUND_X) | (u < bound))
        if not maybe:
            continue
        p = _clip01(base * math.exp(x))
        if early:
            p = 1.0 - (1.0 - p) * (1.0 - forgot_churn)
        if u < p:
            out[k] = r
            k += 1
    return out[:k].copy()


# ---------------------------------------------------------------------- expansion
@_entry
@njit(cache=True, error_model="numpy")
def expansion_draws(
    rows: np.ndarray,
    stage: np.ndarray,
    annual: np.ndarray,
    health: np.ndarray,
    expansion_rate: float,
    contraction_rate: float,
    key: np.uint64,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Active and advocate accounts among ``rows`` that expand or contract this month, from one
    draw u each: expand when u < e = min(rate × exp(health / 2), 0.5), else contract when
    u < e + c, c = min(contraction rate × exp(-health / 2), 0.5) (0 for annual accounts).

    Returns (expanding rows, their u rescaled within [0, e), contracting rows, their u
    rescaled within [e, e + c)): the rescaled uniforms choose tier or seats."""
    grow = np.empty(rows.size, dtype=np.int64)
    grow_v = np.empty(rows.size, dtype=np.float32)
    shrink = np.empty(rows.size, dtype=np.int64)
    shrink_v = np.empty(rows.size, dtype=np.float32)
    n_grow = n_shrink = 0
    for i in range(rows.size):
        r = rows[i]
        s = stage[r]
        u = row_uniform(key, r)
        half = 0.5 * np.float64(health[r])
        c_rate = contraction_rate * ~annual[r]
        # Most accounts do neither: exp only where a cheap upper bound of e + c is above u
        # (conditions combined without branches, as in ``monthly_churn``).
        bound = expansion_rate * (1.0 + half + half * half)
        bound += c_rate * (1.0 - half + half * half)
        near = (half <= -_BOUND_X) | (half >= _BOUND_X) | (u < bound * (1.0 + 1e-9))
        if not (((s == _ACTIVE) | (s == _ADVOCATE)) & near):
            continue
        grows = math.exp(half)
        e = min(expansion_rate * grows, 0.5) if expansion_rate > 0.0 else 0.0
        c = min(c_rate / grows, 0.5) if c_rate > 0.0 else 0.0
        if u < e:
            grow[n_grow] = r
            grow_v[n_grow] = _rescale(u, 0.0, e)
            n_grow += 1
        elif u < e + c:
            shrink[n_shrink] = r
            shrink_v[n_shrink] = _rescale(u, e, c)
            n_shrink += 1
    return (
        grow[:n_grow].copy(),
        grow_v[:n_grow].copy(),
        shrink[:n_shrink].copy(),
        shrink_v[:n_shrink].copy(),
    )


# ---------------------------------------------------------------------- billing
@_entry
@njit(cache=True, error_model="numpy")
def billing_draws(
    rows: np.ndarray,
    stage: np.ndarray,
    annual: np.ndarray,
    term_end: np.ndarray,
    term_health: np.ndarray,
    health: np.ndarray,
    month: int,
    term: int,
    annual_on: bool,
    p_involuntary: float,
    key: np.uint64,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One pass over the paying accounts among ``rows``. With ``annual_on``, an annual account
    adds this month's health to ``term_health`` (not in the month its term starts) and is due
    to renew at term end; a monthly-billed one fails payment with ``p_involuntary``.

    Returns (rows due to renew, their draw u, rows whose payment fails)."""
    due = np.empty(rows.size, dtype=np.int64)
    due_u = np.empty(rows.size, dtype=np.float32)
    fails = np.empty(rows.size, dtype=np.int64)
    n_due = n_fails = 0
    zero = np.float32(0.0)
    for i in range(rows.size):  # (branch-free: annual and monthly rows are mixed)
        r = rows[i]
        u = row_uniform(key, r)
        paying = _paying(stage[r])
        on_term = paying & annual[r] & annual_on
        end = term_end[r]
        if annual_on:
            term_health[r] += health[r] if on_term & (end < month + term) else zero
        due[n_due] = r
        due_u[n_due] = u
        n_due += on_term & (end <= month)
        fails[n_fails] = r
        n_fails += paying & ~annual[r] & (u < p_involuntary)
    return due[:n_due].copy(), due_u[:n_due].copy(), fails[:n_fails].copy()


@_entry
@njit(cache=True, error_model="numpy")
def billed_cash(
    rows: np.ndarray,
    annual: np.ndarray,
    term_end: np.ndarray,
    mrr: np.ndarray,
    month: int,
    term: int,
) -> float:
    """Cash billed this month by accounts ``rows`` ($): a monthly account's MRR, a whole term
    of MRR for an annual term starting now (rows no longer paying have MRR 0)."""
    total = 0.0
    start = month + term
    for i in range(rows.size):
        r = rows[i]
        a = annual[r]
        total += (~a + a * (term_end[r] == start) * term) * np.float64(mrr[r])
    return total
