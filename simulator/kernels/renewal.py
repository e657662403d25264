"""Kernels of billing's per-account work beyond the monthly pass (``revenue.billing_draws``):
annual renewals at term end and monthly plans repriced when list prices change
(``simulator.mechanisms.billing``, module docstring 1 and 2).

They mirror float for float the numpy code of other modules, reading the price book's arrays:
``core.account_mrr`` is ``PriceBook.account_mrr`` of one account, ``accounts._resize_row``
(direction -1) is ``expansion.resize`` with ``expansion.tier_targets`` of one account. The
exponentials and powers of the renewal law (in ``churn.churn_probability``,
``expansion.contraction_probability``, 1 - (1 - p)^term) stay in numpy in the mechanism, between
the renewal kernels (``renewal_quotes``, exp, ``renewal_stays``, power, ``renew_contracts``):
numpy's exp and power (SIMD) and the C library's differ in the last bit for some arguments.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from simulator.kernels.accounts import _resize_row
from simulator.kernels.core import (
    _ALMOST_ONE,
    _entry,
    _paying,
    _rescale,
    account_mrr,
    row_uniform,
)


# ---------------------------------------------------------------------- prices
@njit(cache=True, error_model="numpy")
def _renewal_base(
    mrr: float,
    locked: bool,
    offered: bool,
    list_mrr: float,
    at_risk_discount: float,
) -> float:
    """Undiscounted MRR ($/month) a renewing account moves to (billing module docstring, 2): its
    annual list MRR ``list_mrr``, or, grandfathered (``locked``), ``mrr`` without last term's
    renewal discount (``offered``; a free term, discount 1, leaves no price to return to)."""
    if at_risk_discount < 1.0:
        own = mrr / (1.0 - at_risk_discount) if offered else mrr
    else:
        own = mrr
        locked = locked and not offered
    return own if locked else list_mrr


# ---------------------------------------------------------------------- renewals
@_entry
@njit(cache=True, error_model="numpy")
def renewal_quotes(
    due: np.ndarray,
    term_end: np.ndarray,
    term_health: np.ndarray,
    mrr: np.ndarray,
    plan: np.ndarray,
    seats: np.ndarray,
    price_locked: np.ndarray,
    renewal_offer: np.ndarray,
    base_churn: np.ndarray,
    list_price: np.ndarray,
    per_seat: np.ndarray,
    multiplier: float,
    annual_discount: float,
    month: int,
    term: int,
    at_risk_threshold: float,
    at_risk_discount: float,
    penalise: bool,
    increase_penalty: float,
    sensitivity: float,
    gap_penalty: float,
    willingness_to_pay: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What each annual contract ``due`` at term end is quoted (billing module docstring, 2).

    Returns:
        term health: the mean monthly health over the term (months counted from month 1 for
            a term begun before month 0);
        at risk: term health below ``at_risk_threshold``;
        post-renewal MRR, $/month (float64);
        base churn (float64);
        exponents, shape (2, accounts): x of the monthly churn probability base × exp(x)
            (``churn.churn_probability`` at the decision health, term health less
            ``increase_penalty`` × the rise over the MRR paid where ``penalise``, and the post
            MRR), and -term health / 2 of the contraction probability
            (``expansion.contraction_probability``).
    """
    n = due.size
    h_term = np.empty(n, dtype=np.float64)
    at_risk = np.empty(n, dtype=np.bool_)
    post = np.empty(n, dtype=np.float64)
    base = np.empty(n, dtype=np.float64)
    exponents = np.empty((2, n), dtype=np.float64)
    for i in range(n):
        r = due[i]
        months = max(month - max(np.int64(term_end[r]) - term, 0), 1)
        h = np.float64(term_health[r]) / months
        risk = h < at_risk_threshold
        paid = np.float64(mrr[r])
        list_mrr = account_mrr(
            list_price, per_seat, annual_discount, multiplier, plan[r], seats[r], True
        )
        p = _renewal_base(
            paid, price_locked[r], renewal_offer[r], np.float64(list_mrr), at_risk_discount
        )
        if risk:
            p = p * (1.0 - at_risk_discount)
        h_decision = h
        if penalise:
            rise = max(p / max(paid, 1e-9) - 1.0, 0.0) if paid > 0 else 0.0
            h_decision = h - increase_penalty * rise
        x = 0.0
        if sensitivity > 0.0:
            if gap_penalty > 0.0:
                gap = max(p / max(seats[r], 1) / willingness_to_pay - 1.0, 0.0)
                h_decision = h_decision - gap_penalty * gap
            x = -sensitivity * h_decision
        h_term[i] = h
        at_risk[i] = risk
        post[i] = p
        base[i] = base_churn[r]
        exponents[0, i] = x
        exponents[1, i] = -h / 2.0
    return h_term, at_risk, post, base, exponents


@_entry
@njit(cache=True, error_model="numpy")
def renewal_stays(base: np.ndarray, grow: np.ndarray, contraction_rate: float) -> np.ndarray:
    """The monthly chances an annual contract due stays (does not churn, does not contract),
    from the exponentials ``grow`` of ``renewal_quotes``'s exponents: 1 - p with p = ``base`` ×
    grow[0] clipped to [0, 1] (``churn.churn_probability``), and 1 - c with c =
    ``contraction_rate`` × grow[1] capped at 0.5 (``expansion.contraction_probability``); NaN
    (0 × inf) stays NaN, as in numpy. Shape (2, accounts)."""
    n = base.size
    stays = np.empty((2, n), dtype=np.float64)
    for i in range(n):
        p = base[i] * grow[0, i]
        if p < 0.0:
            p = 0.0
        if p > 1.0:
            p = 1.0
        c = contraction_rate * grow[1, i]
        if c > 0.5:
            c = 0.5
        stays[0, i] = 1.0 - p
        stays[1, i] = 1.0 - c
    return stays


@njit(cache=True, error_model="numpy")
def _rescale_or_zero(u: float, lo: float, width: float) -> np.float32:
    """``simulator.streams.rescale`` of one uniform, NaN (an undefined interval) to 0."""
    v = (u - lo) / width
    if v != v:
        return np.float32(0.0)
    if v < 0.0:
        v = 0.0
    elif v > _ALMOST_ONE:
        v = _ALMOST_ONE
    return np.float32(v)


@_entry
@njit(cache=True, error_model="numpy")
def renew_contracts(
    due: np.ndarray,
    u: np.ndarray,
    p_churn: np.ndarray,
    at_risk: np.ndarray,
    p_contract: np.ndarray,
    p_involuntary: float,
    contract: bool,
    plan: np.ndarray,
    seats: np.ndarray,
    mrr: np.ndarray,
    annual: np.ndarray,
    price_locked: np.ndarray,
    renewal_offer: np.ndarray,
    offer_end: np.ndarray,
    term_end: np.ndarray,
    term_health: np.ndarray,
    list_price: np.ndarray,
    per_seat: np.ndarray,
    multiplier: float,
    annual_discount: float,
    at_risk_discount: float,
    downgrade_share: float,
    seats_growth: float,
    month: int,
    term: int,
    key: np.uint64,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, int, int, int]:
    """Annual contracts ``due`` at term end (draw ``u`` each, from ``billing_draws``) churn
    with ``p_churn``, else fail the renewal charge with ``p_involuntary`` (``u`` rescaled
    within [p_churn, 1)), else renew; with ``contract`` a renewing one contracts
    (``_contract``) where its draw ``row_uniform(key, row)`` is below ``p_contract``. A renewal
    starts a new term (term end, term health 0, the renewal offer where ``at_risk``); its MRR
    is not written (``PersonaAgent.reprice`` moves it).

    Returns (churned rows, rows failing the renewal charge, renewed rows, their new MRR in
    $/month (float64), renewal offers, downgrades, seat cuts, seat change of the cuts)."""
    n = due.size
    churned = np.empty(n, dtype=np.int64)
    failed = np.empty(n, dtype=np.int64)
    renewed = np.empty(n, dtype=np.int64)
    new_mrr = np.empty(n, dtype=np.float64)
    n_churned = n_failed = n_renewed = 0
    offers = downgrades = seat_cuts = seat_change = 0
    p_fail = np.float32(p_involuntary)  # (numpy compares a float32 uniform in float32)
    for i in range(n):
        r = due[i]
        p = p_churn[i]
        if u[i] < p:
            churned[n_churned] = r
            n_churned += 1
            continue
        if _rescale_or_zero(u[i], p, 1.0 - p) < p_fail:
            failed[n_failed] = r
            n_failed += 1
            continue
        m = np.float64(mrr[r])
        if contract:
            v = row_uniform(key, r)
            if v < p_contract[i]:
                # A downgrade where the rescaled draw < downgrade_share, else a seat cut.
                tier_drawn = _rescale(v, 0.0, p_contract[i]) < np.float32(downgrade_share)
                m, downgraded, seats_cut = _resize_row(
                    r,
                    tier_drawn,
                    -1,
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
                if downgraded:
                    downgrades += 1
                else:
                    seat_cuts += 1
                    seat_change += seats_cut
        list_mrr = account_mrr(
            list_price, per_seat, annual_discount, multiplier, plan[r], seats[r], True
        )
        base = _renewal_base(
            m, price_locked[r], renewal_offer[r], np.float64(list_mrr), at_risk_discount
        )
        if at_risk[i]:
            base = base * (1.0 - at_risk_discount)
            offers += 1
        renewed[n_renewed] = r
        new_mrr[n_renewed] = base
        n_renewed += 1
        renewal_offer[r] = at_risk[i]
        term_end[r] = month + term
        term_health[r] = 0.0
    return (
        churned[:n_churned].copy(),
        failed[:n_failed].copy(),
        renewed[:n_renewed].copy(),
        new_mrr[:n_renewed].copy(),
        offers,
        downgrades,
        seat_cuts,
        seat_change,
    )


# ---------------------------------------------------------------------- price changes
@_entry
@njit(cache=True, error_model="numpy")
def monthly_reprices(
    rows: np.ndarray,
    stage: np.ndarray,
    annual: np.ndarray,
    price_locked: np.ndarray,
    plan: np.ndarray,
    seats: np.ndarray,
    mrr: np.ndarray,
    offer_end: np.ndarray,
    month: int,
    list_price: np.ndarray,
    per_seat: np.ndarray,
    multiplier: float,
    offer_discount: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Monthly-billed paying accounts among ``rows`` not grandfathered whose MRR moves to
    today's list price (× 1 - ``offer_discount`` while a win-back offer runs: its end month
    ``offer_end`` not past) by more than $0.001/month.

    Returns (those rows, their new MRR in $/month, float32)."""
    out = np.empty(rows.size, dtype=np.int64)
    target = np.empty(rows.size, dtype=np.float32)
    n = 0
    for i in range(rows.size):
        r = rows[i]
        if not _paying(stage[r]) or annual[r] or price_locked[r]:
            continue
        list_mrr = account_mrr(list_price, per_seat, 0.0, multiplier, plan[r], seats[r], False)
        factor = 1.0 - offer_discount if offer_end[r] >= month else 1.0
        new = np.float32(list_mrr * factor)
        if abs(new - mrr[r]) > np.float32(1e-3):
            out[n] = r
            target[n] = new
            n += 1
    return out[:n].copy(), target[:n].copy()
