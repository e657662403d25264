"""Compiled kernels of the per-account monthly work (numba), with counter-based draws inside.

The phases that act on most paying accounts every month (health, support, billing, expansion,
churn, advocacy) each keep their mechanism module (docstring, config, ``MECHANISM``) and call
one kernel here for the loop over accounts; the few accounts that then move (churn, resize,
renew, promote) go back through the persona core in Python (``PersonaAgent.end_paying``,
``reprice``, ``move``), so counters, hooks and step order are unchanged.

- **One index per persona and month.** The kernels walk ``PersonaAgent.paying_rows()``: the
  rows paying when it is first asked for in a month. Accounts only start paying in decision and
  win-back (which drop it), so later in the month it can only hold rows that have since stopped
  paying; every kernel checks the row's stage.
- **Draws.** A kernel draws ``row_uniform(key, row)`` for the rows it needs, with the key of
  ``RandomStreams.row_key(stream, month, persona, MONTHLY_DRAW)`` and the row number within the
  persona: the same counter-based hash as ``RandomStreams.row_uniform`` (SplitMix64 of key and
  row, 24 bits), so a row's draw never depends on which other rows are drawn, and two scenarios
  with the same seed share every draw (common random numbers).
- **Cache.** Kernels are compiled on first use and cached on disk (``cache=True``). The cache
  goes to ``$NUMBA_CACHE_DIR`` when set, else ``$XDG_CACHE_HOME/journey-sim/numba`` (default
  ``~/.cache/journey-sim/numba``), never inside the installed package.
"""

from __future__ import annotations

import functools
import math
import os
import sys
import tempfile
from collections.abc import Callable
from typing import Any


def _cache_dir() -> str:
    """A user cache folder for compiled kernels (created), or a temporary one when the user's
    cannot be written."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = os.path.join(base, "journey-sim", "numba")
    try:
        os.makedirs(path, exist_ok=True)
        if os.access(path, os.W_OK):
            return path
    except OSError:
        pass
    user = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    return os.path.join(tempfile.gettempdir(), f"journey-sim-numba-{user}")


if not os.environ.get("NUMBA_CACHE_DIR"):
    os.environ["NUMBA_CACHE_DIR"] = _cache_dir()
    if "numba" in sys.modules:  # imported before us: make it read the cache folder again
        sys.modules["numba"].core.config.reload_config()

import numpy as np  # noqa: E402
from numba import njit  # noqa: E402

from simulator.stages import Stage  # noqa: E402

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
    key: np.uint64,
) -> np.ndarray:
    """Monthly-billed paying accounts among ``rows`` that churn this month: one draw each
    against p = ``churn_probability``, or 1 - (1 - p)(1 - ``forgot_churn``) for a
    forgot-to-cancel account in its early window."""
    out = np.empty(rows.size, dtype=np.int64)
    k = 0
    for i in range(rows.size):
        r = rows[i]
        u = row_uniform(key, r)
        early = (forgot_churn > 0.0) & (early_churn_end[r] > month)
        base = np.float64(base_churn[r])
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
    for i in range(rows.size):  # (branch-free: stages and health are mixed)
        r = rows[i]
        s = stage[r]
        ok = health[r] >= threshold
        revert[n_revert] = r
        n_revert += (s == _ADVOCATE) & ~ok
        well = (s == _ACTIVE) & ok
        healthy += well
        new[n_new] = r
        tenured = month - np.int64(cohort_month[r]) >= min_tenure
        n_new += well & tenured & (row_uniform(key, r) < rate)
    return revert[:n_revert].copy(), new[:n_new].copy(), healthy


# ---------------------------------------------------------------------- health
@_entry
@njit(cache=True, error_model="numpy")
def decay_health(rows: np.ndarray, health: np.ndarray, decay: float) -> None:
    """Health of accounts ``rows`` × ``decay`` (float32)."""
    factor = np.float32(decay)
    for i in range(rows.size):
        health[rows[i]] *= factor
