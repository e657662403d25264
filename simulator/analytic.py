"""Analytic known answers of the pricing studio: a lognormal willingness to pay.

An account buys at price p ($ per seat per month) when its willingness to pay W exceeds p
(the decision's ``threshold`` rule, ``simulator.mechanisms.decision``). With W lognormal,
median m and σ the standard deviation of ln W (``personas.<p>.willingness_to_pay`` and
``personas.<p>.willingness_to_pay_spread``), write z(p) = (ln p - ln m) / σ. Then:

- take-rate (survival of W):       S(p) = P(W > p) = 1 - Φ(z) = Φ(-z)
- density of W:                    f(p) = φ(z) / (p σ)
- revenue per decision (per seat): R(p) = p S(p)
- first-order condition:           R'(p) = S(p) - p f(p) = Φ(-z) - φ(z) / σ = 0,
  i.e. the standard normal's hazard (inverse Mills ratio) λ(z) = φ(z) / Φ(-z) equals σ.
  λ rises from 0 (z → -∞) to ∞ (λ(z) > z), so the root z* is unique, R' > 0 below it and
  R' < 0 above: p* = m exp(σ z*) is the one revenue-maximising price, and
  R(p*) = p* φ(z*) / σ. As σ → 0, p* → m (everyone pays m; σ = 0 here gives p* = m);
  p* < m when σ is small enough (λ(0) = √(2/π) ≈ 0.798: p* < m iff σ < 0.798).

``optimal_price`` solves λ(z) = σ in logs (``scipy.special.log_ndtr``) with Brent's method;
``revenue_plateau`` gives the prices whose revenue is within a share of the best (how flat
the optimum is: the tolerance an optimiser's price can be held to).

``known_answer_overrides`` is the run in which the simulated take-rate is S(p): one persona,
one plan on offer (the others priced out), the threshold rule, every account deciding once,
nothing else making a payer.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, special

#: The known-answer persona and its willingness to pay: median $79 per seat per month (the
#: default Pro price), σ 0.5 of ln WTP.
KNOWN_ANSWER_PERSONA = "solo"
KNOWN_ANSWER_MEDIAN = 79.0
KNOWN_ANSWER_SIGMA = 0.5
#: Price per seat of the plans priced out of the known answer (S < 1e-20 at σ <= 0.5).
PRICED_OUT = {"pro": 10_000.0, "enterprise": 20_000.0}
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def _check(median: float, sigma: float) -> None:
    if not (median > 0 and math.isfinite(median)):
        raise ValueError(f"median willingness to pay must be a positive number, got {median!r}")
    if not (sigma >= 0 and math.isfinite(sigma)):
        raise ValueError(f"sigma must be a number >= 0, got {sigma!r}")


def take_rate(price: float | np.ndarray, median: float, sigma: float) -> float | np.ndarray:
    """S(p) = P(W > p) = 1 - Φ((ln p - ln median) / σ): the share of deciding accounts that
    buy at ``price`` ($ per seat per month) when W is lognormal (median, σ of ln W). σ = 0:
    1 below the median, 0 at or above it (an account buys when its surplus is positive)."""
    _check(median, sigma)
    p = np.asarray(price, dtype=np.float64)
    if np.any(p < 0) or np.any(np.isnan(p)):
        raise ValueError(f"prices must be >= 0, got {price!r}")
    if sigma == 0:
        out = (p < median).astype(np.float64)
    else:
        with np.errstate(divide="ignore"):
            z = (np.log(p) - math.log(median)) / sigma
        out = special.ndtr(-z)
    return float(out) if out.ndim == 0 else out


def revenue_per_decision(
    price: float | np.ndarray, median: float, sigma: float
) -> float | np.ndarray:
    """R(p) = p S(p): expected revenue ($ per seat per month) per deciding account at
    ``price`` (one seat each: $ per account per month)."""
    return np.asarray(price, dtype=np.float64) * take_rate(price, median, sigma)


def _log_hazard_gap(z: float, log_sigma: float) -> float:
    """ln λ(z) - ln σ, λ(z) = φ(z) / Φ(-z) (increasing in z)."""
    return -0.5 * z * z - _LOG_SQRT_2PI - float(special.log_ndtr(-z)) - log_sigma


def optimal_z(sigma: float) -> float:
    """z* of the revenue-maximising price: the root of λ(z) = σ (``-inf`` when σ = 0)."""
    _check(1.0, sigma)
    if sigma == 0:
        return -math.inf
    log_sigma = math.log(sigma)
    # λ(z) > z, so the gap is positive at z = σ; λ(-40) < e^-799 <= σ for any σ this engine
    # takes (the spread is at most 5, and a σ below e^-799 is not a float).
    z = optimize.brentq(_log_hazard_gap, -40.0, sigma + 1.0, args=(log_sigma,), xtol=1e-14)
    return float(z)


def optimal_price(median: float, sigma: float) -> float:
    """p* = median × exp(σ z*), the price ($ per seat per month) that maximises p S(p)."""
    _check(median, sigma)
    if sigma == 0:
        return float(median)
    return float(median * math.exp(sigma * optimal_z(sigma)))


def optimal_revenue(median: float, sigma: float) -> float:
    """R(p*) = p* S(p*), the largest expected revenue per decision ($ per seat per month)."""
    return float(revenue_per_decision(optimal_price(median, sigma), median, sigma))


def revenue_plateau(median: float, sigma: float, loss: float = 0.01) -> tuple[float, float]:
    """The prices (low, high) between which R(p) >= (1 - ``loss``) R(p*): an optimiser that
    maximises noisy revenue can be held to this interval, not to p* itself (the revenue curve
    is flat at its top)."""
    _check(median, sigma)
    if not 0 < loss < 1:
        raise ValueError(f"loss must be in (0, 1), got {loss!r}")
    p_star = optimal_price(median, sigma)
    if sigma == 0:
        return (1.0 - loss) * median, float(median)
    target = (1.0 - loss) * optimal_revenue(median, sigma)

    def gap(p: float) -> float:
        return float(revenue_per_decision(p, median, sigma)) - target

    high = p_star * 2.0
    while gap(high) > 0:
        high *= 2.0
    lo = optimize.brentq(gap, 1e-12 * p_star, p_star, xtol=1e-12, rtol=1e-14)
    hi = optimize.brentq(gap, p_star, high, xtol=1e-12, rtol=1e-14)
    return float(lo), float(hi)


def logit_take_rate(
    price: float,
    median: float,
    sigma: float,
    plan_value: float,
    outside_utility: float,
    price_sensitivity: float,
    nodes: int = 96,
) -> float:
    """The ``logit`` rule's take-rate with one plan on offer and a lognormal WTP (a mixed
    logit): E_W[1 / (1 + exp(outside_utility - plan_value + price_sensitivity × p / W))], W
    lognormal (median, σ), by Gauss-Hermite quadrature over ln W (``nodes`` points)."""
    _check(median, sigma)
    x, w = np.polynomial.hermite_e.hermegauss(nodes)  # ∫ g(x) e^{-x²/2} dx ≈ Σ w g(x)
    wtp = median * np.exp(sigma * x)
    buy = special.expit(plan_value - outside_utility - price_sensitivity * price / wtp)
    return float(np.dot(w, buy) / math.sqrt(2.0 * math.pi))


def known_answer_overrides(
    price: float,
    median: float = KNOWN_ANSWER_MEDIAN,
    sigma: float = KNOWN_ANSWER_SIGMA,
    persona: str = KNOWN_ANSWER_PERSONA,
    personas: tuple[str, ...] = ("solo", "smb", "midmarket", "enterprise"),
    rule: str = "threshold",
) -> list[str]:
    """Hydra overrides of a run whose take-rate (``new_customers`` / ``decisions``) is
    ``take_rate(price, median, sigma)`` and whose new MRR per decision is
    ``revenue_per_decision``:

    - one persona (``persona``; the others of ``personas`` removed, the market and the book's
      mix all its own), one seat per account, WTP lognormal (median, σ), the threshold rule;
    - one plan on offer: ``starter`` at ``price`` per seat, ``pro`` and ``enterprise`` priced
      out (``PRICED_OUT``; the threshold rule buys the cheapest plan an account can afford);
    - each account decides once, the month it is reached, and nothing else makes a payer: no
      card trial (no forgetting to cancel), no freemium, no nurture (nobody decides twice);
    - every mechanism off but acquisition (no annual billing, referrals, reputation or
      churn effects); acquisition by Bass innovation alone (p = 0.02, q = 0: the prospects
      reached do not depend on how many bought) and no channel spend, so every price sees the
      same prospects (common random numbers) and take-rate never rises with price;
    - no churn, no book and no pipeline at month 0.

    ``personas`` are the config's persona names (the default config's). ``rule="logit"``
    keeps the same run under the logit (take-rate ``logit_take_rate`` with the persona's
    plan value, outside utility and price sensitivity). Size, horizon, seed and replications
    are left to the caller (e.g. ``market.size=40000``,
    ``months=6``, ``replications=1``).
    """
    p = persona
    out = [
        *(f"~personas.{k}" for k in personas if k != p),
        f"personas.{p}.share=1.0",
        *(f"~initial.mix.{k}" for k in personas if k != p),
        f"initial.mix.{p}=1.0",
        "initial.customers=0",
        "initial.pipeline=false",
        "mechanisms=all_off",
        "mechanisms.acquisition=true",
        "acquisition.bass.p=0.02",
        "acquisition.bass.q=0.0",
        *(
            f"initial.channel_spend.{c}=0"
            for c in ("content", "paid_ads", "review_sites", "outbound")
        ),
        f"pricing.plans.starter.price={price}",
        *(f"pricing.plans.{plan}.price={v:g}" for plan, v in PRICED_OUT.items()),
        f"personas.{p}.willingness_to_pay={median}",
        f"personas.{p}.willingness_to_pay_spread={sigma}",
        f"personas.{p}.decision.rule={rule}",
        f"personas.{p}.decision.path=trial",
        f"personas.{p}.decision.months=0",
        f"personas.{p}.decision.card_required=false",
        f"personas.{p}.consideration={{advance: 1.0, drop: 0.0, nurture: 0.0}}",
        f"personas.{p}.seats.mean=1",
        f"personas.{p}.price_multiplier=1.0",
        f"personas.{p}.churn={{mean: 0.0, concentration: null}}",
    ]
    return out
