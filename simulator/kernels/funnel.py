"""Kernels of the funnel: the plan choice (multinomial logit and inverse-CDF choice of
``simulator.mechanisms.pricing``; the threshold rule's choice), the decision of a month's
trials, demos and free users, the draws of accounts that start evaluating, the sources of new
prospects, the activations at the end of onboarding and the end of win-back offers.

Each kernel computes the same float operations, in the same precision and order, as the numpy
formulas it replaces (the row sums are numpy's pairwise sums). The logit's exponential stays
numpy's (``np.exp`` between ``logit_utilities`` / ``decision_utilities`` and the kernels that
use the probabilities): the compiled ``exp`` differs from it in the last bit.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from simulator.kernels.core import (
    _LOW24,
    _ONBOARDING,
    _S16,
    _entry,
    _hash,
    account_mrr,
    pairwise_sum,
    row_uniform,
)
from simulator.kernels.schedule import NEVER, _link, _per_log_stay, _wait, _wait_at
from simulator.stages import Source

_ORGANIC = np.int8(Source.ORGANIC)
_CHANNEL = np.int8(Source.CHANNEL)
_REFERRAL = int(Source.REFERRAL)
_FLOAT24 = np.float32(2.0**-24)
#: ``simulator.mechanisms.pricing``'s largest rescaled uniform (float64, below 1).
_BELOW_ONE = float(np.nextafter(1.0, 0.0))
#: ``simulator.streams.rescale``'s largest uniform (float32, below 1).
_ALMOST_ONE32 = float(np.nextafter(np.float32(1.0), np.float32(0.0)))


# ---------------------------------------------------------------------- sums and draws
@njit(cache=True, error_model="numpy")
def _second_uniform(key: np.uint64, row: int) -> np.float32:
    """The second uniform of ``RandomStreams.row_uniform_pair`` (other bits of the same hash)."""
    return np.float32((_hash(key, row) >> _S16) & _LOW24) * _FLOAT24


# ---------------------------------------------------------------------- the plan choice
@njit(cache=True, error_model="numpy")
def _plan_utilities(
    util: np.ndarray,
    seats: int,
    extra: float,
    outside: float,
    list_price: np.ndarray,
    per_seat: np.ndarray,
    plan_values: np.ndarray,
    multiplier: float,
    sensitivity: float,
    willingness_to_pay: float,
) -> None:
    """One account's logit utilities into ``util`` (1 + plans), less their largest: column 0
    the outside option, 1 + j plan j: plan_value[j] - sensitivity × price per seat /
    willingness to pay + extra (the price per seat of a per-account plan: price / seats)."""
    util[0] = outside
    top = outside
    for j in range(list_price.size):
        price = list_price[j] if per_seat[j] else list_price[j] / max(seats, 1)
        u = plan_values[j] - sensitivity * (price * multiplier) / willingness_to_pay + extra
        util[1 + j] = u
        top = max(top, u)
    for j in range(util.size):
        util[j] -= top


@_entry
@njit(cache=True, error_model="numpy")
def logit_utilities(
    seats: np.ndarray,
    extra: np.ndarray,
    outside: float,
    list_price: np.ndarray,
    per_seat: np.ndarray,
    plan_values: np.ndarray,
    multiplier: float,
    sensitivity: float,
    willingness_to_pay: float,
) -> np.ndarray:
    """Logit utilities of accounts with ``seats``, each row less its largest, shape
    (accounts, 1 + plans); ``extra`` is added to every plan (one per account, or one for all)."""
    util = np.empty((seats.size, 1 + list_price.size), dtype=np.float64)
    for i in range(seats.size):
        e = extra[i] if extra.size == seats.size else extra[0]
        _plan_utilities(
            util[i],
            seats[i],
            e,
            outside,
            list_price,
            per_seat,
            plan_values,
            multiplier,
            sensitivity,
            willingness_to_pay,
        )
    return util


@_entry
@njit(cache=True, error_model="numpy")
def decision_utilities(
    rows: np.ndarray,
    seats: np.ndarray,
    source: np.ndarray,
    shared_extra: float,
    referral_extra: float,
    outside: float,
    list_price: np.ndarray,
    per_seat: np.ndarray,
    plan_values: np.ndarray,
    multiplier: float,
    sensitivity: float,
    willingness_to_pay: np.ndarray,
) -> np.ndarray:
    """``logit_utilities`` of the deciding accounts ``rows``: extra = ``shared_extra`` (vendor
    reputation) + ``referral_extra`` for referred prospects; ``willingness_to_pay`` one per
    deciding account, or one for all."""
    util = np.empty((rows.size, 1 + list_price.size), dtype=np.float64)
    for i in range(rows.size):
        r = rows[i]
        e = 0.0 + shared_extra
        e += referral_extra if source[r] == _REFERRAL else 0.0
        w = willingness_to_pay[i] if willingness_to_pay.size == rows.size else willingness_to_pay[0]
        _plan_utilities(
            util[i],
            seats[r],
            e,
            outside,
            list_price,
            per_seat,
            plan_values,
            multiplier,
            sensitivity,
            w,
        )
    return util


@_entry
@njit(cache=True, error_model="numpy")
def threshold_weights(
    rows: np.ndarray,
    seats: np.ndarray,
    list_price: np.ndarray,
    per_seat: np.ndarray,
    multiplier: float,
    willingness_to_pay: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The threshold rule's choice of the deciding accounts ``rows`` as 0/1 weights, shape
    (accounts, 1 + plans) (column 0 no purchase, 1 + j plan j): each account's best plan is
    the one of largest surplus = willingness to pay - price per seat × ``multiplier`` (the
    first, i.e. the lowest rank, on a tie; the price per seat of a per-account plan is price /
    seats), bought when that surplus is positive. ``willingness_to_pay``: one per deciding
    account, or one for all.

    Returns (the weights, each account's best plan, int8: the plan a non-buyer is billed on
    when it forgets to cancel a card trial)."""
    n = rows.size
    weights = np.zeros((n, 1 + list_price.size), dtype=np.float64)
    best = np.zeros(n, dtype=np.int8)
    for i in range(n):
        r = rows[i]
        w = willingness_to_pay[i] if willingness_to_pay.size == n else willingness_to_pay[0]
        top = -np.inf
        k = 0
        for j in range(list_price.size):
            price = list_price[j] if per_seat[j] else list_price[j] / max(seats[r], 1)
            surplus = w - price * multiplier
            if surplus > top:
                top = surplus
                k = j
        best[i] = k
        weights[i, 1 + k if top > 0.0 else 0] = 1.0
    return weights, best


@njit(cache=True, error_model="numpy")
def _normalise(p: np.ndarray) -> None:
    """``p /= p.sum()`` (numpy's pairwise sum)."""
    total = pairwise_sum(p, 0, p.size)
    for j in range(p.size):
        p[j] /= total


@_entry
@njit(cache=True, error_model="numpy")
def normalise_rows(weights: np.ndarray) -> None:
    """Each row of ``weights`` divided by its sum, in place."""
    for i in range(weights.shape[0]):
        _normalise(weights[i])


@njit(cache=True, error_model="numpy")
def _choose(p: np.ndarray, u: float, cdf: np.ndarray) -> tuple[int, float]:
    """Inverse-CDF choice of one account (``pricing.choose``): the option whose cumulative
    probability band holds ``u`` (the last band closed at 1), and ``u`` rescaled within it
    (float64, in [0, 1)). ``cdf`` is scratch space of ``p.size``."""
    n = p.size
    c = 0.0
    k = 0
    for j in range(n):
        c = p[j] if j == 0 else c + p[j]
        if j == n - 1:
            c = 1.0
        cdf[j] = c
        k += u >= c
    k = min(k, n - 1)
    lo = cdf[k - 1] if k > 0 else 0.0
    v = (u - lo) / max(p[k], 1e-300)
    return k, min(max(v, 0.0), _BELOW_ONE)


@_entry
@njit(cache=True, error_model="numpy")
def choose_rows(probabilities: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``_choose`` of each row of ``probabilities`` with its uniform ``u``: (choice index,
    rescaled uniform) per account."""
    n = probabilities.shape[0]
    idx = np.empty(n, dtype=np.int64)
    rescaled = np.empty(n, dtype=np.float64)
    cdf = np.empty(probabilities.shape[1], dtype=np.float64)
    for i in range(n):
        idx[i], rescaled[i] = _choose(probabilities[i], np.float64(u[i]), cdf)
    return idx, rescaled


# ---------------------------------------------------------------------- decision
@_entry
@njit(cache=True, error_model="numpy")
def decide_accounts(
    weights: np.ndarray,
    rows: np.ndarray,
    source: np.ndarray,
    key: np.uint64,
    annual_probability: float,
    forgot_to_cancel: float,
    forgot_end: int,
    early_churn_end: np.ndarray,
    freemium: bool,
    free_drop: float,
    forgot_plan: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int, np.ndarray, np.ndarray]:
    """The decision of accounts ``rows`` (``simulator.mechanisms.decision``), from their logit
    ``weights`` (exp of ``decision_utilities``; normalised here into the choice
    probabilities; or the threshold rule's 0/1 weights) and one uniform each (``key``). A
    buyer picks annual billing when its rescaled uniform v < ``annual_probability``; a
    non-buyer with v < ``forgot_to_cancel`` is billed anyway (on ``forgot_plan[i]`` when that
    has one plan per account, else on a plan drawn from the plan shares with v rescaled within
    [0, forgot_to_cancel); its ``early_churn_end`` set to ``forgot_end``); on a ``freemium``
    path a non-payer stays on the free tier unless v < ``free_drop``, else it is lost.

    Returns (paying rows, their plans, their annual flags, how many forgot to cancel, how many
    were referred, rows staying on the free tier, lost rows), rows in the order of ``rows``."""
    n, options = weights.shape
    payers = np.empty(n, dtype=np.int64)
    plans = np.empty(n, dtype=np.int8)
    annual = np.empty(n, dtype=np.bool_)
    stay = np.empty(n, dtype=np.int64)
    lost = np.empty(n, dtype=np.int64)
    cdf = np.empty(options, dtype=np.float64)
    shares = np.empty(options - 1, dtype=np.float64)
    n_pay = n_stay = n_lost = n_forgot = n_referred = 0
    for i in range(n):
        r = rows[i]
        p = weights[i]
        _normalise(p)
        choice, v = _choose(p, np.float64(row_uniform(key, r)), cdf)
        if choice > 0:
            annual[n_pay] = v < annual_probability
        elif v < forgot_to_cancel:
            if forgot_plan.size == n:
                choice = forgot_plan[i] + 1
            else:
                total = max(pairwise_sum(p, 1, options - 1), 1e-300)
                for j in range(options - 1):
                    shares[j] = p[1 + j] / total
                w = min(max((v - 0.0) / forgot_to_cancel, 0.0), _ALMOST_ONE32)
                plan, _ = _choose(shares, np.float64(np.float32(w)), cdf)
                choice = plan + 1
            annual[n_pay] = False
            early_churn_end[r] = forgot_end
            n_forgot += 1
        else:
            if freemium and not (v < free_drop):
                stay[n_stay] = r
                n_stay += 1
            else:
                lost[n_lost] = r
                n_lost += 1
            continue
        payers[n_pay] = r
        plans[n_pay] = choice - 1
        n_referred += source[r] == _REFERRAL
        n_pay += 1
    return (
        payers[:n_pay].copy(),
        plans[:n_pay].copy(),
        annual[:n_pay].copy(),
        n_forgot,
        n_referred,
        stay[:n_stay].copy(),
        lost[:n_lost].copy(),
    )


# ---------------------------------------------------------------------- consideration
@njit(cache=True, error_model="numpy")
def sort_evaluators(
    rows: np.ndarray,
    source: np.ndarray,
    key: np.uint64,
    advance: float,
    boosted: float,
    drop: float,
    start_factor: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, bool]:
    """Accounts ``rows`` start evaluating: each leaves with monthly probability a + ``drop``
    (a = ``boosted`` for referred prospects when some are and it exceeds ``advance``, else
    ``advance``) and, when it leaves, advances with probability a / (a + drop) ×
    ``start_factor`` (its second uniform of the pair under ``key``; 0 where nobody leaves).

    Returns (the rows, advancing ones first, each part in the order of ``rows``; their first
    uniforms, for the waiting time; their exit probabilities; how many advance; whether the
    exit probability is per account, i.e. some referred prospects are boosted)."""
    n = rows.size
    per_account = False
    if boosted > advance:
        for i in range(n):
            if source[rows[i]] == _REFERRAL:
                per_account = True
                break
    out = np.empty(n, dtype=np.int64)
    u = np.empty(n, dtype=np.float32)
    leave = np.empty(n, dtype=np.float64)
    goes = np.empty(n, dtype=np.bool_)
    n_adv = 0
    for i in range(n):
        r = rows[i]
        a = boosted if per_account and source[r] == _REFERRAL else advance
        exit_p = a + drop
        share = a / exit_p if exit_p > 0 else 0.0
        share = share * start_factor
        goes[i] = np.float64(_second_uniform(key, r)) < share
        n_adv += goes[i]
    first, second = 0, n_adv
    for i in range(n):
        r = rows[i]
        k = first if goes[i] else second
        a = boosted if per_account and source[r] == _REFERRAL else advance
        out[k] = r
        u[k] = row_uniform(key, r)
        leave[k] = a + drop
        if goes[i]:
            first += 1
        else:
            second += 1
    return out, u, leave, n_adv, per_account


@_entry
@njit(cache=True, error_model="numpy")
def schedule_evaluators(
    rows: np.ndarray,
    source: np.ndarray,
    key: np.uint64,
    advance: float,
    boosted: float,
    drop: float,
    start_factor: float,
    first_month: int,
    advance_lists: tuple[np.ndarray, np.ndarray, np.ndarray],
    drop_lists: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> tuple[int, int]:
    """Accounts ``rows`` start evaluating (``sort_evaluators``): each is filed under
    ``first_month`` + its geometric wait at its exit probability (``calendar.months_waiting``
    of its first uniform), in the calendar of the way it leaves: ``advance_lists`` or
    ``drop_lists`` (``Calendar.lists``, with room for every row). Returns the slots available
    in each calendar after (``Calendar.filed``)."""
    out, u, leave, n_adv, per_account = sort_evaluators(
        rows, source, key, advance, boosted, drop, start_factor
    )
    n = out.size
    months = np.empty(n, dtype=np.int64)
    p = advance + drop
    if per_account:
        for i in range(n):
            months[i] = first_month + _wait_at(np.log1p(-np.float64(u[i])), leave[i])
    elif p >= 1.0:
        months[:] = first_month
    elif p <= 0.0:
        months[:] = NEVER
    else:
        per_log_stay = _per_log_stay(p)
        for i in range(n):
            months[i] = first_month + _wait(np.log1p(-np.float64(u[i])), per_log_stay)
    a_slots, a_buckets, a_meta = advance_lists
    d_slots, d_buckets, d_meta = drop_lists
    return (
        _link(months[:n_adv], out[:n_adv], a_slots, a_buckets, a_meta),
        _link(months[n_adv:], out[n_adv:], d_slots, d_buckets, d_meta),
    )


# ---------------------------------------------------------------------- acquisition
@_entry
@njit(cache=True, error_model="numpy")
def assign_sources(
    first: int,
    n: int,
    source: np.ndarray,
    key: np.uint64,
    hazard: np.float32,
    bass: np.float32,
    bass_channel: np.float32,
) -> int:
    """Sources of the new prospects, rows ``first`` … ``first + n - 1``: with v = uniform ×
    ``hazard`` (float32), organic below ``bass``, channel below ``bass_channel`` (Bass + channel
    parts), referral above. Returns the referrals."""
    referrals = 0
    for r in range(first, first + n):
        v = row_uniform(key, r) * hazard
        if v < bass:
            source[r] = _ORGANIC
        elif v < bass_channel:
            source[r] = _CHANNEL
        else:
            source[r] = _REFERRAL
            referrals += 1
    return referrals


# ---------------------------------------------------------------------- onboarding
@_entry
@njit(cache=True, error_model="numpy")
def activate(
    rows: np.ndarray,
    stage: np.ndarray,
    health: np.ndarray,
    key: np.uint64,
    quality: np.float32,
    bonus: np.float32,
    penalty: np.float32,
) -> tuple[np.ndarray, int]:
    """Accounts ``rows`` still onboarding end their path: each activates when its uniform is
    below ``quality`` (health + ``bonus``) or fails (health - ``penalty``), float32.

    Returns (the rows still onboarding, in order; how many activated)."""
    out = np.empty(rows.size, dtype=np.int64)
    n = activated = 0
    for i in range(rows.size):
        r = rows[i]
        if stage[r] != _ONBOARDING:
            continue
        out[n] = r
        n += 1
        if row_uniform(key, r) < quality:
            health[r] += bonus
            activated += 1
        else:
            health[r] += -penalty
    return out[:n].copy(), activated


# ---------------------------------------------------------------------- win-back
@_entry
@njit(cache=True, error_model="numpy")
def end_offers(
    rows: np.ndarray,
    offer_end: np.ndarray,
    month: int,
    plan: np.ndarray,
    seats: np.ndarray,
    annual: np.ndarray,
    price_locked: np.ndarray,
    mrr: np.ndarray,
    list_price: np.ndarray,
    per_seat: np.ndarray,
    multiplier: float,
    annual_discount: float,
    kept: np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """Win-back offers of ``rows`` filed to end in ``month``: those still running (their
    ``offer_end`` is ``month``: the same spell) end (``offer_end`` 0) and move to today's list
    price, or when grandfathered to the price locked under the offer (MRR / ``kept``, the
    offer's 1 - discount, float32).

    Returns (the rows whose offer ends, their new MRR); ``mrr`` is left for the caller."""
    out = np.empty(rows.size, dtype=np.int64)
    new = np.empty(rows.size, dtype=np.float32)
    n = 0
    for i in range(rows.size):
        r = rows[i]
        if offer_end[r] != month:
            continue
        offer_end[r] = 0
        out[n] = r
        if price_locked[r]:
            new[n] = mrr[r] / kept
        else:
            new[n] = account_mrr(
                list_price, per_seat, annual_discount, multiplier, plan[r], seats[r], annual[r]
            )
        n += 1
    return out[:n].copy(), new[:n].copy()
