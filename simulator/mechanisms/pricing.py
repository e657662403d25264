"""Prices and the purchase decision.

The price book holds current list prices (changed by scheduled price-change events). The tier
choice (``personas.<p>.decision.rule``) is by default a multinomial logit over the plans plus an
outside option (no purchase):
utility of plan j = plan_value[j] - price_sensitivity × price_per_seat[j] / willingness_to_pay
+ shared terms (reputation, referral), against ``outside_utility``; or the threshold rule
(``simulator.mechanisms.decision``): the plan of largest surplus willingness_to_pay -
price_per_seat[j], bought when that is positive.

Willingness to pay ($ per seat per month) is ``personas.<p>.willingness_to_pay`` for every
account, or, with ``personas.<p>.willingness_to_pay_spread`` σ > 0, each account's own:
lognormal, median ``willingness_to_pay``, σ of its log (``account_willingness_to_pay``), drawn
from the account's row under the ``willingness_to_pay`` stream's month-0 key, so it is the same
every time the account decides, the same in every scenario of a seed (common random numbers),
and costs no memory (no column). It moves the decision only: the price effect's gap penalty
(health, churn, renewal) and the month-0 book and pipeline use the persona's median.

A list-price change (``simulator.mechanisms.events``) reaches the book through billing. With the
``price_effect`` switch on, prices move health: a price rise costs health in proportion to the
rise (``health.price_increase_penalty``), and a price per seat above the persona's willingness
to pay raises churn (``health.price_gap_penalty``, ``simulator.mechanisms.churn``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.special import ndtri

from simulator.kernels import funnel
from simulator.mechanisms.base import Mechanism

if TYPE_CHECKING:
    from simulator.model import JourneyModel
    from simulator.params import Persona, ScenarioParams
    from simulator.params.schema import Pricing
    from simulator.streams import RandomStreams

PRICE_EFFECT = "price_effect"
#: The random stream of each account's own willingness to pay (drawn under month 0's key).
WTP_STREAM = "willingness_to_pay"
#: Half a step of the 24-bit uniforms: u + this is the middle of u's step, inside (0, 1).
_HALF_STEP = 2.0**-25


class PriceBook:
    """Current list prices ($/month, per seat or per account) of the plans, in rank order."""

    def __init__(self, pricing: Pricing):
        plans = [pricing.plans[name] for name in pricing.ranked]
        self.names: tuple[str, ...] = pricing.ranked
        self.list_price = np.array([p.price for p in plans], dtype=np.float64)
        self.per_seat = np.array([p.per_seat for p in plans], dtype=np.bool_)
        self.annual_discount = float(pricing.annual_discount)
        self.n_plans = len(plans)
        # Per persona (by identity: the persona is kept with its entry and checked): plan values,
        # and annual shares at the discount they were computed for.
        self._plan_values: dict[int, tuple[Persona, np.ndarray]] = {}
        self._annual_shares: dict[tuple[int, float], tuple[Persona, float]] = {}

    @classmethod
    def current_book(cls, params: ScenarioParams) -> PriceBook:
        """The prices the existing book pays at month 0: ``initial.prices`` and
        ``initial.annual_discount``, whatever the scenario's own prices (a scenario changes the
        future, never the past)."""
        book = cls(params.pricing)
        book.list_price = np.array([params.initial.prices[n] for n in book.names], dtype=np.float64)
        book.annual_discount = float(params.initial.annual_discount)
        return book

    def differs_from(self, other: PriceBook) -> bool:
        """Whether any list price differs (the annual discount reaches accounts at renewal)."""
        return bool(np.any(self.list_price != other.list_price))

    def plan_values(self, persona: Persona) -> np.ndarray:
        """The persona's utility of each plan (``plan_value``), in rank order (read-only;
        built once per persona: it does not change with prices)."""
        entry = self._plan_values.get(id(persona))
        if entry is None or entry[0] is not persona:
            values = np.array([persona.plan_value[name] for name in self.names], dtype=np.float64)
            values.flags.writeable = False
            entry = self._plan_values[id(persona)] = (persona, values)
        return entry[1]

    def annual_share(self, persona: Persona) -> float:
        """``annual_probability`` of the persona at today's annual discount (computed once per
        discount)."""
        key = (id(persona), self.annual_discount)
        entry = self._annual_shares.get(key)
        if entry is None or entry[0] is not persona:
            entry = (persona, annual_probability(persona, self.annual_discount))
            self._annual_shares[key] = entry
        return entry[1]

    def account_mrr(
        self, plan: np.ndarray, seats: np.ndarray, annual: np.ndarray, multiplier: float
    ) -> np.ndarray:
        """MRR ($/month) of accounts on ``plan`` with ``seats`` at today's list price."""
        units = np.where(self.per_seat[plan], seats, 1)
        price = self.list_price[plan] * multiplier
        disc = np.where(annual, 1.0 - self.annual_discount, 1.0)
        return (price * units * disc).astype(np.float32)

    def price_per_seat(self, plan: np.ndarray, seats: np.ndarray, multiplier: float) -> np.ndarray:
        """List price per seat ($/seat/month) each account faces on ``plan``."""
        per_seat = self.list_price[plan] * multiplier
        return np.where(self.per_seat[plan], per_seat, per_seat / np.maximum(seats, 1))


def choice_probabilities(
    persona: Persona,
    book: PriceBook,
    seats: np.ndarray,
    extra_utility: np.ndarray | float = 0.0,
    outside_extra: float = 0.0,
) -> np.ndarray:
    """Multinomial-logit choice probabilities, shape (n accounts, 1 + n plans).

    Column 0 is the outside option (no purchase); column 1 + j is plan j.

    Args:
        persona: the deciding persona.
        book: current list prices.
        seats: seats of each deciding account.
        extra_utility: utility added to every plan (reputation, referral), scalar or per
            account.
        outside_extra: utility added to the outside option (e.g. the free tier's value).
    """
    seats = np.asarray(seats)
    util = funnel.logit_utilities(
        seats,
        np.asarray(extra_utility, dtype=np.float64).reshape(-1),
        persona.outside_utility + outside_extra,
        book.list_price,
        book.per_seat,
        book.plan_values(persona),
        persona.price_multiplier,
        persona.price_sensitivity,
        persona.willingness_to_pay,
    )
    np.exp(util, out=util)  # numpy's exp: the compiled one differs in the last bit
    funnel.normalise_rows(util)
    return util


def choose(probabilities: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse-CDF choice from per-account probabilities with one uniform each: the option
    whose band of the cumulative probabilities holds u (the last band closed at 1).

    Returns:
        (choice index per account, the uniform rescaled within the chosen option's interval),
        the second being a fresh uniform for a follow-up choice (e.g. annual billing).
    """
    return funnel.choose_rows(probabilities, u)


def account_willingness_to_pay(
    streams: RandomStreams, persona: Persona, rows: np.ndarray
) -> np.ndarray:
    """Willingness to pay ($ per seat per month) of the persona's accounts ``rows`` (rows
    within the persona): one value for all, shape (1,), when the spread is 0 (no draw); else
    one per row, lognormal: median × exp(σ × Φ⁻¹(u)), u the row's uniform of the
    ``willingness_to_pay`` stream under month 0's key (the middle of its 2⁻²⁴ step, so
    Φ⁻¹(u) is finite), σ = ``willingness_to_pay_spread``."""
    median = float(persona.willingness_to_pay)
    sigma = float(persona.willingness_to_pay_spread)
    if sigma == 0.0:
        return np.array([median])
    u = streams.row_uniform(WTP_STREAM, 0, persona.index, rows).astype(np.float64)
    u += _HALF_STEP
    return median * np.exp(sigma * ndtri(u))  # numpy's exp (not the compiled one)


def annual_probability(persona: Persona, annual_discount: float) -> float:
    """Probability a new customer picks annual billing at this discount (logistic)."""
    z = persona.annual.logit + persona.annual.discount_sensitivity * annual_discount
    return float(1.0 / (1.0 + np.exp(-z)))


def setup(model: JourneyModel) -> None:
    """Today's price book; the price effect's health penalties (None / 0 when it is off)."""
    params = model.params
    model.price_book = PriceBook(params.pricing)
    on = model.mechanisms[PRICE_EFFECT]
    model.price_increase_penalty = params.health.price_increase_penalty if on else None
    model.price_gap_penalty = params.health.price_gap_penalty if on else 0.0


def moves_churn(params: ScenarioParams) -> bool:
    """The price gap moves churn through health when health moves churn."""
    return params.mechanisms[PRICE_EFFECT] and params.health.churn_sensitivity > 0


MECHANISM = Mechanism(
    name="pricing",
    options=(PRICE_EFFECT,),
    config=(
        "pricing.plans.*",
        "pricing.annual_discount",
        "personas.*.plan_value",
        "personas.*.price_sensitivity",
        "personas.*.willingness_to_pay",
        "personas.*.willingness_to_pay_spread",
        "personas.*.price_multiplier",
        "personas.*.outside_utility",
        "personas.*.annual",
        "health.price_increase_penalty",
        "health.price_gap_penalty",
    ),
    population=("plan", "seats", "annual", "mrr", "health"),
    moves_churn=moves_churn,
    setup=setup,
)
