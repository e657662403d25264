"""Kernels of the steps on paying accounts: expansion and contraction (resize and reprice, one
pass per persona and month; the resize of annual renewals), and customer success's at-risk list.

They apply the rules of the Python code they replace operation for operation, in the same
precision (float32 columns compared in float32, as numpy compares them with a Python float) and
the same order, so every result is the same to the last bit: a price is
``PriceBook.account_mrr``, a new MRR goes in as ``PersonaAgent.reprice`` puts it, and a total is
numpy's pairwise sum (``pairwise_sum``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from simulator.kernels.core import _entry, _paying
from simulator.kernels.revenue import expansion_draws

#: The compiled draws of expansion and contraction (called from the kernel below).
_expansion_draws = expansion_draws.kernel  # type: ignore[attr-defined]

#: Most seats one account can have (keeps seats far inside int32):
#: ``simulator.mechanisms.expansion.MAX_SEATS``.
MAX_SEATS = 1_000_000

#: numpy's pairwise sum adds blocks of at most this many values with 8 running sums.
_PAIRWISE_BLOCK = 128


# ---------------------------------------------------------------------- totals
@njit(cache=True, error_model="numpy")
def _block_sum(a: np.ndarray, lo: int, n: int) -> float:
    """numpy's sum of a block ``a[lo:lo + n]`` (n <= ``_PAIRWISE_BLOCK``): 8 running sums."""
    if n < 8:
        total = -0.0
        for i in range(lo, lo + n):
            total += a[i]
        return total
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = lo + 8
    whole = lo + n - n % 8
    while i < whole:
        r0 += a[i]
        r1 += a[i + 1]
        r2 += a[i + 2]
        r3 += a[i + 3]
        r4 += a[i + 4]
        r5 += a[i + 5]
        r6 += a[i + 6]
        r7 += a[i + 7]
        i += 8
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < lo + n:
        total += a[i]
        i += 1
    return total


@njit(cache=True, error_model="numpy")
def pairwise_sum(a: np.ndarray, n: int) -> float:
    """The float64 sum of ``a[:n]`` as numpy's ``a[:n].sum()`` computes it, equal to it bit for
    bit: blocks of at most 128 values (``_block_sum``), a longer run split in two at a multiple
    of 8 near its middle and the two halves' sums added. (numpy recurses; here a stack of
    pending runs does, as numba crashes loading a cached recursive function.)"""
    # A run is (start, length, halves summed?): its halves' sums wait on ``sums``.
    start = np.empty(192, dtype=np.int64)
    length = np.empty(192, dtype=np.int64)
    halves_done = np.empty(192, dtype=np.bool_)
    sums = np.empty(96, dtype=np.float64)
    start[0], length[0], halves_done[0] = 0, n, False
    runs = 1
    done = 0
    while runs:
        runs -= 1
        lo, m = start[runs], length[runs]
        if m <= _PAIRWISE_BLOCK:
            sums[done] = _block_sum(a, lo, m)
            done += 1
        elif halves_done[runs]:
            done -= 1
            sums[done - 1] += sums[done]
        else:
            half = m // 2
            half -= half % 8
            halves_done[runs] = True  # (back on the stack, below its two halves)
            start[runs + 1], length[runs + 1], halves_done[runs + 1] = lo + half, m - half, False
            start[runs + 2], length[runs + 2], halves_done[runs + 2] = lo, half, False
            runs += 3
    return 0.0 + sums[0]


# ---------------------------------------------------------------------- prices
@njit(cache=True, error_model="numpy")
def account_mrr(
    list_price: np.ndarray,
    per_seat: np.ndarray,
    annual_discount: float,
    multiplier: float,
    plan: int,
    seats: int,
    annual: bool,
) -> np.float32:
    """MRR ($/month, float32) of one account on ``plan`` with ``seats`` at today's list price
    (``PriceBook.account_mrr``)."""
    units = seats if per_seat[plan] else 1
    disc = 1.0 - annual_discount if annual else 1.0
    return np.float32(list_price[plan] * multiplier * units * disc)


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
        pairwise_sum(rises, n_rises),
        -pairwise_sum(cuts, n_cuts),
        pairwise_sum(delta, n),
        tiers,
        n - tiers,
        seats_change,
        pairwise_sum(billed, n),
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
]:
    """One persona's expansion and contraction this month: the draws of ``expansion_draws``,
    then the expanding accounts resize and reprice (``_resize_and_reprice``), then the
    contracting ones. ``expansion`` is (rate, upgrade share, seats growth), ``contraction``
    (rate, downgrade share).

    Returns, for the expanding then the contracting accounts: (accounts, expansion MRR,
    contraction MRR, change of MRR, tier changes, seat changes, change of seats, revenue)."""
    rate, upgrade_share, seats_growth = expansion
    contraction_rate, downgrade_share = contraction
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
    return (grow.size, *grown), (shrink.size, *shrunk)


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
