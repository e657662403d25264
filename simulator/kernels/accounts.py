"""Kernels of the steps on paying accounts: expansion and contraction (resize and reprice, one
pass per persona and month; the resize of annual renewals), and customer success's at-risk list.

They apply the rules of the Python code they replace operation for operation, in the same
precision (float32 columns compared in float32, as numpy compares them with a Python float) and
the same order, so every result is the same to the last bit: a price is
``PriceBook.account_mrr``, a new MRR goes in as ``PersonaAgent.reprice`` puts it, and a total is
numpy's pairwise sum (``core.array_sum``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from simulator.kernels.core import _entry, _paying, account_mrr, array_sum, cast_sum
from simulator.kernels.revenue import expansion_draws

#: The compiled draws of expansion and contraction (called from the kernel below).
_expansion_draws = expansion_draws.kernel  # type: ignore[attr-defined]

#: Most seats one account can have (keeps seats far inside int32):
#: ``simulator.mechanisms.expansion.MAX_SEATS``.
MAX_SEATS = 1_000_000


# ---------------------------------------------------------------------- prices
@njit(cache=True, error_model="numpy")
def tier_target(
    list_price: np.ndarray,
    per_seat: np.ndarray,
    annual_discount: float,
    multiplier: float,
    plan: int,
    seats: int,
    annual: bool,
    paid: np.float32,
    direction: int,
) -> int:
    """The plan a tier change in ``direction`` goes to: the nearest plan by rank that way whose
    MRR for the account is above (+1) or below (-1) ``paid``; -1 when there is none
    (``simulator.mechanisms.expansion.tier_targets``)."""
    n = list_price.size
    if n < 2:
        return -1
    if direction > 0:
        for j in range(plan + 1, n):
            if (
                account_mrr(list_price, per_seat, annual_discount, multiplier, j, seats, annual)
                > paid
            ):
                return j
    else:
        for j in range(plan - 1, -1, -1):
            if (
                account_mrr(list_price, per_seat, annual_discount, multiplier, j, seats, annual)
                < paid
            ):
                return j
    return -1


@_entry
@njit(cache=True, error_model="numpy")
def tier_targets(
    rows: np.ndarray,
    direction: int,
    plan: np.ndarray,
    seats: np.ndarray,
    annual: np.ndarray,
    mrr: np.ndarray,
    list_price: np.ndarray,
    per_seat: np.ndarray,
    annual_discount: float,
    multiplier: float,
) -> np.ndarray:
    """``tier_target`` of each account ``rows`` at the MRR it pays (int64; -1: none)."""
    out = np.empty(rows.size, dtype=np.int64)
    for i in range(rows.size):
        r = rows[i]
        out[i] = tier_target(
            list_price,
            per_seat,
            annual_discount,
            multiplier,
            plan[r],
            seats[r],
            annual[r],
            mrr[r],
            direction,
        )
    return out


# ---------------------------------------------------------------------- resize
@njit(cache=True, error_model="numpy")
def _resize_row(
    r: int,
    tier_drawn: bool,
    direction: int,
    seats_growth: float,
    plan: np.ndarray,
    seats: np.ndarray,
    annual: np.ndarray,
    mrr: np.ndarray,
    price_locked: np.ndarray,
    renewal_offer: np.ndarray,
    offer_end: np.ndarray,
    list_price: np.ndarray,
    per_seat: np.ndarray,
    annual_discount: float,
    multiplier: float,
) -> tuple[float, bool, int]:
    """One account's resize (``simulator.mechanisms.expansion.resize``). Returns (its new MRR,
    $/month, not yet applied; whether it changed tier; its change of seats)."""
    if tier_drawn:
        target = tier_target(
            list_price,
            per_seat,
            annual_discount,
            multiplier,
            plan[r],
            seats[r],
            annual[r],
            mrr[r],
            direction,
        )
        if target >= 0:
            plan[r] = target
            price_locked[r] = False
            renewal_offer[r] = False
            offer_end[r] = 0  # a tier change ends a win-back offer: the new tier is at list
            price = account_mrr(
                list_price, per_seat, annual_discount, multiplier, target, seats[r], annual[r]
            )
            return np.float64(price), True, 0
    old = np.int64(seats[r])
    step = np.int64(np.int32(max(1.0, np.rint(old * seats_growth))))
    new = min(old + step, MAX_SEATS) if direction > 0 else max(1, old - step)
    seats[r] = new
    paid = np.float64(mrr[r])
    new_mrr = paid * (new / max(old, 1)) if per_seat[plan[r]] else paid
    return new_mrr, False, new - old


@_entry
@njit(cache=True, error_model="numpy")
def resize_accounts(
    rows: np.ndarray,
    tier_drawn: np.ndarray,
    direction: int,
    seats_growth: float,
    plan: np.ndarray,
    seats: np.ndarray,
    annual: np.ndarray,
    mrr: np.ndarray,
    price_locked: np.ndarray,
    renewal_offer: np.ndarray,
    offer_end: np.ndarray,
    list_price: np.ndarray,
    per_seat: np.ndarray,
    annual_discount: float,
    multiplier: float,
) -> tuple[np.ndarray, int, int]:
    """Accounts ``rows`` change size by one step in ``direction`` (+1 expand, -1 contract): a
    tier change where ``tier_drawn`` and a plan exists that way, else a seat change
    (``simulator.mechanisms.expansion.resize``).

    Returns (their new MRR in $/month, float64, not yet applied; tier changes; the change of
    their seats)."""
    new_mrr = np.empty(rows.size, dtype=np.float64)
    tiers = seats_change = 0
    for i in range(rows.size):
        new_mrr[i], tier, change = _resize_row(
            rows[i],
            tier_drawn[i],
            direction,
            seats_growth,
            plan,
            seats,
            annual,
            mrr,
            price_locked,
            renewal_offer,
            offer_end,
            list_price,
            per_seat,
            annual_discount,
            multiplier,
        )
        tiers += tier
        seats_change += change
    return new_mrr, tiers, seats_change


@njit(cache=True, error_model="numpy")
def _resize_and_reprice(
    rows: np.ndarray,
    v: np.ndarray,
    tier_share: float,
    direction: int,
    seats_growth: float,
    month: int,
    price_increase_penalty: float,
    health: np.ndarray,
    plan: np.ndarray,
    seats: np.ndarray,
    annual: np.ndarray,
    mrr: np.ndarray,
    price_locked: np.ndarray,
    renewal_offer: np.ndarray,
    offer_end: np.ndarray,
    term_end: np.ndarray,
    list_price: np.ndarray,
    per_seat: np.ndarray,
    annual_discount: float,
    multiplier: float,
) -> tuple[float, float, float, int, int, int, float]:
    """Resize accounts ``rows`` (a tier change where ``v`` < ``tier_share``), then move each
    to its new MRR as ``PersonaAgent.reprice`` does: MRR stored as float32; a rise costs health
    × ``price_increase_penalty`` × rise / old MRR (0: no price effect).

    Returns (expansion MRR, contraction MRR, change of MRR, $/month; tier changes, seat
    changes, change of seats; revenue, $: each annual account's change of MRR × the months
    left in its term)."""
    n = rows.size
    delta = np.empty(n, dtype=np.float64)
    rises = np.empty(n, dtype=np.float64)
    cuts = np.empty(n, dtype=np.float64)
    billed = np.empty(n, dtype=np.float64)
    n_rises = n_cuts = tiers = seats_change = 0
    share = np.float32(tier_share)  # (float32 uniforms against a Python float: in float32)
    for i in range(n):
        r = rows[i]
        new_mrr, tier, change = _resize_row(
            r,
            v[i] < share,
            direction,
            seats_growth,
            plan,
            seats,
            annual,
            mrr,
            price_locked,
            renewal_offer,
            offer_end,
            list_price,
            per_seat,
            annual_discount,
            multiplier,
        )
        tiers += tier
        seats_change += change
        old = np.float64(mrr[r])
        new32 = np.float32(new_mrr)
        d = np.float64(new32) - old
        delta[i] = d
        if d > 0.0:
            rises[n_rises] = d
            n_rises += 1
        elif d < 0.0:
            cuts[n_cuts] = d
            n_cuts += 1
        if price_increase_penalty > 0.0:
            rise = max(d, 0.0) / max(old, 1e-9) if old > 0.0 else 0.0
            health[r] -= np.float32(price_increase_penalty * rise)
        mrr[r] = new32
        remaining = max(term_end[r] - month, 0) if annual[r] else 0
        billed[i] = d * remaining
    return (
        array_sum(rises, n_rises),
        -array_sum(cuts, n_cuts),
        array_sum(delta, n),
        tiers,
        n - tiers,
        seats_change,
        array_sum(billed, n),
    )


@_entry
@njit(cache=True, error_model="numpy")
def expand_and_contract(
    rows: np.ndarray,
    stage: np.ndarray,
    health: np.ndarray,
    plan: np.ndarray,
    seats: np.ndarray,
    annual: np.ndarray,
    mrr: np.ndarray,
    price_locked: np.ndarray,
    renewal_offer: np.ndarray,
    offer_end: np.ndarray,
    term_end: np.ndarray,
    list_price: np.ndarray,
    per_seat: np.ndarray,
    annual_discount: float,
    multiplier: float,
    expansion: tuple[float, float, float],
    contraction: tuple[float, float],
    month: int,
    price_increase_penalty: float,
    key: np.uint64,
) -> tuple[
    tuple[int, float, float, float, int, int, int, float],
    tuple[int, float, float, float, int, int, int, float],
    float,
]:
    """One persona's expansion and contraction this month: the draws of ``expansion_draws``,
    then the expanding accounts resize and reprice (``_resize_and_reprice``), then the
    contracting ones. ``expansion`` is (rate, upgrade share, seats growth), ``contraction``
    (rate, downgrade share).

    Returns, for the expanding then the contracting accounts: (accounts, expansion MRR,
    contraction MRR, change of MRR, tier changes, seat changes, change of seats, revenue); and
    the change of the annual accounts' MRR when some expanded (numpy's float64 sums of their
    float32 MRR after less before; 0.0 otherwise)."""
    rate, upgrade_share, seats_growth = expansion
    contraction_rate, downgrade_share = contraction
    before = _annual_mrr(rows, annual, mrr)
    grow, grow_v, shrink, shrink_v = _expansion_draws(
        rows, stage, annual, health, rate, contraction_rate, key
    )
    grown = _resize_and_reprice(
        grow,
        grow_v,
        upgrade_share,
        1,
        seats_growth,
        month,
        price_increase_penalty,
        health,
        plan,
        seats,
        annual,
        mrr,
        price_locked,
        renewal_offer,
        offer_end,
        term_end,
        list_price,
        per_seat,
        annual_discount,
        multiplier,
    )
    shrunk = _resize_and_reprice(
        shrink,
        shrink_v,
        downgrade_share,
        -1,
        seats_growth,
        month,
        price_increase_penalty,
        health,
        plan,
        seats,
        annual,
        mrr,
        price_locked,
        renewal_offer,
        offer_end,
        term_end,
        list_price,
        per_seat,
        annual_discount,
        multiplier,
    )
    recognised = 0.0  # annual accounts' change of MRR: recognised from this month
    if grow.size and before.size:
        recognised = cast_sum(_annual_mrr(rows, annual, mrr), before.size) - cast_sum(
            before, before.size
        )
    return (grow.size, *grown), (shrink.size, *shrunk), recognised


@njit(cache=True, error_model="numpy")
def _annual_mrr(rows: np.ndarray, annual: np.ndarray, mrr: np.ndarray) -> np.ndarray:
    """The MRR (as float64) of the annual accounts among ``rows``, in order."""
    out = np.empty(rows.size + 1, dtype=np.float64)
    k = 0
    for i in range(rows.size):  # (written always, kept where annual: no branch to mispredict)
        r = rows[i]
        out[k] = mrr[r]
        k += annual[r]
    return out[:k]


# ---------------------------------------------------------------------- customer success
@_entry
@njit(cache=True, error_model="numpy")
def at_risk_rows(
    rows: np.ndarray,
    stage: np.ndarray,
    health: np.ndarray,
    mrr: np.ndarray,
    threshold: float,
    min_mrr: float,
    offset: int,
) -> np.ndarray:
    """Paying accounts among ``rows`` with health below ``threshold`` and MRR at least
    ``min_mrr`` ($/month), in the order of ``rows``, each + ``offset`` (global rows)."""
    below = np.float32(threshold)  # (float32 columns against a Python float: in float32)
    floor = np.float32(min_mrr)
    out = np.empty(rows.size, dtype=np.int64)
    n = 0
    for i in range(rows.size):
        r = rows[i]
        if _paying(stage[r]) and health[r] < below and mrr[r] >= floor:
            out[n] = r + offset
            n += 1
    return out[:n].copy()
