"""The persona core's bookkeeping over a few rows at a time (``simulator.personas``): the start
and the end of paying spells and the repricing of accounts, each one compiled pass instead of a
dozen array operations. Sums of MRR are float64 over float32 values (exact in any order, so
equal to numpy's)."""

from __future__ import annotations

import numpy as np
from numba import njit

from simulator.kernels.core import _entry, account_mrr


@_entry
@njit(cache=True, error_model="numpy")
def spell_totals(idx: np.ndarray, mrr: np.ndarray, seats: np.ndarray) -> tuple[float, int]:
    """MRR ($/month) and seats of rows ``idx``."""
    total = 0.0
    n_seats = 0
    for r in idx:
        total += mrr[r]
        n_seats += seats[r]
    return total, n_seats


@_entry
@njit(cache=True, error_model="numpy")
def clear_spells(
    idx: np.ndarray,
    mrr: np.ndarray,
    annual: np.ndarray,
    price_locked: np.ndarray,
    health: np.ndarray,
    early_churn_end: np.ndarray,
    term_health: np.ndarray,
    renewal_offer: np.ndarray,
) -> None:
    """Rows ``idx`` no longer pay: no MRR, no contract, neutral health (``end_paying``)."""
    for r in idx:
        mrr[r] = 0.0
        annual[r] = False
        price_locked[r] = False
        health[r] = 0.0
        early_churn_end[r] = 0
        term_health[r] = 0.0
        renewal_offer[r] = False


@_entry
@njit(cache=True, error_model="numpy")
def reprice_rows(
    idx: np.ndarray,
    new_mrr: np.ndarray,
    mrr: np.ndarray,
    health: np.ndarray,
    penalty: float,
    penalise: bool,
) -> tuple[float, float]:
    """Rows ``idx`` move to ``new_mrr`` ($/month, as float32); with ``penalise``, a rise costs
    health ``penalty`` × the relative rise (float32, as numpy). Returns the expansion and the
    contraction MRR ($/month, both >= 0)."""
    expansion = 0.0
    contraction = 0.0
    for i in range(idx.size):
        r = idx[i]
        old = np.float64(mrr[r])
        new32 = np.float32(new_mrr[i])
        delta = np.float64(new32) - old
        if delta > 0:
            expansion += delta
            if penalise and old > 0:
                health[r] = health[r] - np.float32(penalty * (delta / max(old, 1e-9)))
        elif delta < 0:
            contraction -= delta
        mrr[r] = new32
    return expansion, contraction


@_entry
@njit(cache=True, error_model="numpy")
def start_spells(
    idx: np.ndarray,
    new_plan: np.ndarray,
    new_annual: np.ndarray,
    stage_code: int,
    month: int,
    term: int,
    list_price: np.ndarray,
    per_seat: np.ndarray,
    multiplier: float,
    annual_discount: float,
    plan: np.ndarray,
    annual: np.ndarray,
    price_locked: np.ndarray,
    seats: np.ndarray,
    mrr: np.ndarray,
    term_end: np.ndarray,
    health: np.ndarray,
    term_health: np.ndarray,
    renewal_offer: np.ndarray,
    cohort_month: np.ndarray,
    no_cohort: int,
    stage: np.ndarray,
    stage_month: np.ndarray,
) -> tuple[float, int]:
    """Rows ``idx`` start paying in stage ``stage_code`` this ``month`` (``start_paying``): on
    ``new_plan`` at the list price (``PriceBook.account_mrr``: list price × ``multiplier`` ×
    seats on a per-seat plan × (1 - ``annual_discount``) where billed annually, float32), a term
    of ``term`` months where ``new_annual``, neutral health, no lock or offer; a first spell
    sets the cohort month. Returns their MRR ($/month) and seats."""
    total = 0.0
    n_seats = 0
    for i in range(idx.size):
        r = idx[i]
        j = new_plan[i]
        a = new_annual[i]
        plan[r] = j
        annual[r] = a
        price_locked[r] = False
        price = account_mrr(list_price, per_seat, annual_discount, multiplier, j, seats[r], a)
        mrr[r] = price
        term_end[r] = month + term if a else 0
        health[r] = 0.0
        term_health[r] = 0.0
        renewal_offer[r] = False
        if cohort_month[r] == no_cohort:
            cohort_month[r] = month
        stage[r] = stage_code
        stage_month[r] = month
        total += np.float64(price)
        n_seats += seats[r]
    return total, n_seats
