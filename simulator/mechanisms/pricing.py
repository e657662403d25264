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

Plans are priced three ways ($ per month):

- **per seat** (``per_seat: true``): MRR = price × seats;
- **per account** (``per_seat: false``): MRR = price, whatever the seats;
- **usage-based** (a plan named in ``pricing.usage``): the price is $ per unit of usage. An
  account uses u0 = ``start_units`` units a month per seat (per account when the plan is not
  per seat) when it starts on the plan, so it starts at MRR = price × u0 × seats; billed
  monthly, its usage grows by g = ``growth`` a month in its months 1 … ``growth_months`` as a
  customer (tenure counted from its first paying month, ``cohort_month``), so at tenure k its
  MRR is price × u0 × seats × (1 + g)^min(k, growth_months) (``usage_growth``, in billing);
  seats added or cut scale it (usage per seat is kept), a tier change starts the new plan at
  its starting usage. Annual contracts commit to the starting usage for the term (their usage
  does not grow). The price book holds a usage plan's price per seat at the starting usage
  (price × u0) in ``list_price``, so every MRR rule reads it as a per-seat (or per-account)
  price; the purchase decision weighs the **expected** bill, ``decision_price`` = price × u0
  × the mean usage multiple of the first 12 months, mean over k = 0 … 11 of (1 +
  g)^min(k, growth_months) (``expected_usage_multiple``).

Promotions (``events.<name>: {type: promo, ...}``, ``simulator.mechanisms.events``): new
customers who start paying monthly while a promo runs pay list × (1 - ``discount``) for
``discount_months`` months (their MRR at the end of the month they buy and the next
``discount_months`` - 1 months), then list (``promo_started`` here, ``promo_step_ups`` in
billing). While it runs, the decision weighs the mean bill of the first 12 months: every plan's
price × (1 - discount × min(discount_months, 12) / 12) (``PriceBook.promo_factor``). The
promo price is locked through price changes during the promo (``price_locked``, ``offer_end``
= the step-up month); at the step-up the account moves to today's list price (a
usage plan: its promo price / (1 - discount), usage kept), booked as expansion MRR, and with
``price_effect`` on the rise costs health like any price rise (``health.price_increase_penalty``
× the relative rise 1 / (1 - discount) - 1): the promo cohort's churn rises at the step-up. A
tier change ends the promo (the new tier is at list); annual contracts get no promo (they have
the annual discount). A price change during the promo, grandfathered or not, reaches the
account at its step-up.

Plan ranks and prices (``rank_warnings``): an upgrade goes to the nearest higher-ranked plan
that costs the account more than it pays (``simulator.mechanisms.expansion``), so a rank order
that disagrees with the price order still runs (the misplaced plan is skipped by upgrades that
would lower the bill). That is why it is a warning, not an error: a user may mean it (a tier
priced below its rank for a launch) or not (a typo), and a price event can make ranks disagree
mid-run whatever the config says. It is printed once before a run (``simulate``), one line per
disagreement naming the plans and their prices.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import ndtri

from simulator.calendar import Calendar
from simulator.kernels import funnel, schedule
from simulator.kernels.core import row_uniforms
from simulator.mechanisms.base import Mechanism
from simulator.stages import is_paying

if TYPE_CHECKING:
    from simulator.model import JourneyModel
    from simulator.params import Persona, ScenarioParams
    from simulator.params.schema import Pricing
    from simulator.personas import PersonaAgent
    from simulator.streams import RandomStreams

PRICE_EFFECT = "price_effect"
#: The random stream of each account's own willingness to pay (drawn under month 0's key).
WTP_STREAM = "willingness_to_pay"
#: Half a step of the 24-bit uniforms: u + this is the middle of u's step, inside (0, 1).
_HALF_STEP = 2.0**-25

#: Months over which the decision averages a usage plan's bill (``expected_usage_multiple``).
DECISION_MONTHS = 12


class PricingWarning(UserWarning):
    """A pricing set-up that runs but is probably not meant: plan ranks that disagree with
    their prices (``rank_warnings``)."""


def expected_usage_multiple(growth: float, growth_months: int) -> float:
    """Mean usage over an account's first ``DECISION_MONTHS`` months relative to its starting
    usage: mean over k = 0 … 11 of (1 + growth)^min(k, growth_months) (numpy's power)."""
    k = np.minimum(np.arange(DECISION_MONTHS), growth_months)
    return float(np.mean(np.power(1.0 + growth, k)))


class PriceBook:
    """Current list prices ($/month, per seat or per account) of the plans, in rank order.

    Attributes:
        list_price: $ a month per seat (per account where not ``per_seat``); a usage plan's at
            its starting usage (price per unit × ``start_units``).
        decision_price: what the purchase decision weighs: ``list_price``, a usage plan's
            times its expected usage multiple (``expected_usage_multiple``).
        usage: whether each plan is usage-based; ``usage_units``, ``usage_growth``,
            ``usage_months``: its ``start_units``, ``growth`` and ``growth_months`` (1, 0, 0
            for the other plans).
        billed_price: the ``list_price`` monthly usage accounts were last repriced at (billing
            scales their MRR by list / billed at a price change, keeping their usage).
    """

    def __init__(self, pricing: Pricing):
        plans = [pricing.plans[name] for name in pricing.ranked]
        self.names: tuple[str, ...] = pricing.ranked
        usage = [pricing.usage.get(name) for name in pricing.ranked]
        self.usage = np.array([u is not None for u in usage], dtype=np.bool_)
        self.usage_units = np.array([1.0 if u is None else u.start_units for u in usage])
        self.usage_growth = np.array([0.0 if u is None else u.growth for u in usage])
        self.usage_months = np.array([0 if u is None else u.growth_months for u in usage])
        self._expected = np.array(
            [expected_usage_multiple(u.growth, u.growth_months) if u else 1.0 for u in usage]
        )
        self.has_usage = bool(self.usage.any())
        self.list_price = np.array([p.price for p in plans], dtype=np.float64)
        if self.has_usage:
            self.list_price = self.list_price * self.usage_units
        self.per_seat = np.array([p.per_seat for p in plans], dtype=np.bool_)
        self.annual_discount = float(pricing.annual_discount)
        self.n_plans = len(plans)
        self.billed_price = self.list_price.copy()
        #: 1 - discount × min(discount months, 12) / 12 while a promotion runs, else 1: the
        #: share of list a new customer pays over its first 12 months (set by the events step).
        self.promo_factor = 1.0
        # Per persona (by identity: the persona is kept with its entry and checked): plan values,
        # and annual shares at the discount they were computed for.
        self._plan_values: dict[int, tuple[Persona, np.ndarray]] = {}
        self._annual_shares: dict[tuple[int, float], tuple[Persona, float]] = {}

    @classmethod
    def current_book(cls, params: ScenarioParams) -> PriceBook:
        """The prices the existing book pays at month 0: ``initial.prices`` and
        ``initial.annual_discount``, whatever the scenario's own prices (a scenario changes the
        future, never the past).

        A plan the book's prices do not name (launched by the scenario) costs +inf here: the
        book holds none of it."""
        book = cls(params.pricing)
        prices = params.initial.prices
        book.list_price = np.array([prices.get(n, np.inf) for n in book.names], dtype=np.float64)
        if book.has_usage:
            book.list_price = book.list_price * book.usage_units
        book.billed_price = book.list_price.copy()
        book.annual_discount = float(params.initial.annual_discount)
        return book

    def set_price(self, plan: int, price: float) -> None:
        """Plan ``plan``'s list price becomes ``price`` ($ a month per seat or account; a usage
        plan's $ per unit)."""
        self.list_price[plan] = price * self.usage_units[plan] if self.usage[plan] else price

    @property
    def decision_price(self) -> np.ndarray:
        """Prices the purchase decision weighs: the mean bill of the first 12 months at today's
        prices (``list_price``; a usage plan's times its expected usage multiple; × the running
        promotion's ``promo_factor``)."""
        price = self.list_price * self._expected if self.has_usage else self.list_price
        return price * self.promo_factor if self.promo_factor != 1.0 else price

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
        book.decision_price,
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
    key = streams.row_key_u64(WTP_STREAM, 0, persona.index)
    u = row_uniforms(key, rows).astype(np.float64)  # (``streams.row_uniform``)
    u += _HALF_STEP
    return median * np.exp(sigma * ndtri(u))  # numpy's exp (not the compiled one)


def annual_probability(persona: Persona, annual_discount: float) -> float:
    """Probability a new customer picks annual billing at this discount (logistic)."""
    z = persona.annual.logit + persona.annual.discount_sensitivity * annual_discount
    return float(1.0 / (1.0 + np.exp(-z)))


# ---------------------------------------------------------------------------- usage plans
def usage_growth(agent: PersonaAgent, rows: np.ndarray) -> None:
    """Monthly-billed accounts among ``rows`` (paying rows) on a usage plan, in their months 1
    … ``growth_months`` as customers (tenure = this month - ``cohort_month``), use ``growth``
    more this month: their MRR × (1 + growth), booked as expansion MRR (usage growth, no
    price-rise health penalty)."""
    book = agent.model.price_book
    pop = agent.pop
    t = agent.model.month
    plan = pop.plan[rows].astype(np.int64)
    on_usage = book.usage[np.maximum(plan, 0)] & (plan >= 0) & ~pop.annual[rows]
    on_usage &= is_paying(pop.stage[rows])
    if not on_usage.any():
        return
    rows, plan = rows[on_usage], plan[on_usage]
    tenure = t - pop.cohort_month[rows].astype(np.int64)
    grows = (tenure >= 1) & (tenure <= book.usage_months[plan]) & (book.usage_growth[plan] > 0)
    rows, plan = rows[grows], plan[grows]
    if rows.size:
        new = pop.mrr[rows].astype(np.float64) * (1.0 + book.usage_growth[plan])
        agent.reprice(rows, new, penalise=False)


def usage_reprice(agent: PersonaAgent, moved: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Targets of a list-price change for accounts ``moved`` (``billing.monthly_reprices``):
    on a usage plan, MRR × today's list / the list last billed (usage kept; a win-back
    offer's discount kept); other plans' targets as given. Returns the targets (float32)."""
    book = agent.model.price_book
    plan = agent.pop.plan[moved].astype(np.int64)
    on_usage = book.usage[plan]
    if not on_usage.any():
        return target
    ratio = book.list_price[plan] / book.billed_price[plan]
    scaled = (agent.pop.mrr[moved].astype(np.float64) * ratio).astype(np.float32)
    return np.where(on_usage & np.isfinite(ratio), scaled, target)


# ---------------------------------------------------------------------------- promotions
@dataclass
class Promo:
    """A promotion running from month ``start`` for ``months`` months: new monthly customers
    pay list × (1 - ``discount``) for ``discount_months`` months (module docstring).

    Attributes:
        due: one calendar per persona (index order) of the step-up month of its promo accounts.
    """

    name: str
    start: int
    months: int
    discount: float
    discount_months: int
    due: list[Calendar] = field(default_factory=list)

    def running(self, month: int) -> bool:
        """Whether new customers of ``month`` get the promo."""
        return self.start <= month < self.start + self.months


def promo_started(agent: PersonaAgent, idx: np.ndarray, first_churn_month: int) -> float:
    """Paying-start hook: accounts ``idx`` start paying; the new monthly customers among them
    (first spell this month) get the promo running, if any: MRR × (1 - discount) until the
    step-up (``offer_end``), the price locked. Returns the MRR cut ($/month), already taken
    off the persona's MRR (``PersonaAgent.start_paying`` takes it off the MRR it returns)."""
    m = agent.model
    t = m.month
    running = [p for p in m.promos if p.running(t)]
    if not running or idx.size == 0:
        return 0.0
    promo = running[0]  # (promos may not overlap: ``rules``)
    pop = agent.pop
    new = idx[(pop.cohort_month[idx] == t) & ~pop.annual[idx]].astype(np.int64)
    if new.size == 0 or promo.discount == 0 or promo.discount_months == 0:
        return 0.0
    end = t + promo.discount_months
    cut = schedule.start_offers(new, pop.mrr, pop.offer_end, 1.0 - promo.discount, end)
    pop.price_locked[new] = True
    promo.due[agent.index].add(end, new)
    agent.mrr_total -= cut
    return cut


def promo_step_ups(agent: PersonaAgent) -> None:
    """Promo accounts whose promo ends this month (still in the spell and on the promo: the
    step-up month in ``offer_end``, price locked) move to today's list price (a usage plan: the
    promo price / (1 - discount)); the rise is expansion MRR and, with ``price_effect`` on,
    costs health (``PersonaAgent.reprice``)."""
    m = agent.model
    t = m.month
    pop = agent.pop
    book = m.price_book
    for promo in m.promos:
        idx = promo.due[agent.index].pop(t)
        if idx.size == 0:
            continue
        still = is_paying(pop.stage[idx]) & (pop.offer_end[idx] == t) & pop.price_locked[idx]
        idx = idx[still & ~pop.annual[idx]]
        if idx.size == 0:
            continue
        plan = pop.plan[idx].astype(np.int64)
        multiplier = agent.persona.price_multiplier
        listed = book.account_mrr(plan, pop.seats[idx], pop.annual[idx], multiplier)
        own = pop.mrr[idx].astype(np.float64) / (1.0 - promo.discount)
        target = np.where(book.usage[plan], own, listed.astype(np.float64))
        pop.price_locked[idx] = False
        pop.offer_end[idx] = 0
        agent.reprice(idx, target)


# ---------------------------------------------------------------------------- rank warnings
def rank_warnings(params: ScenarioParams) -> list[str]:
    """One line per pair of plans whose rank order disagrees with their price order: at the
    scenario's prices, and after each ``price_change`` event that makes a new pair disagree.
    Prices compared are those of a one-seat account ($ a month: a per-seat price, a
    per-account price, a usage plan's price at its starting usage)."""
    book = PriceBook(params.pricing)
    names = book.names
    ranks = {n: params.pricing.plans[n].rank for n in names}

    def disagreements() -> list[tuple[str, str]]:
        return [
            (low, high)
            for (i, low), (j, high) in pairwise(enumerate(names))
            if book.list_price[j] <= book.list_price[i]
        ]

    def line(low: str, high: str, when: str) -> str:
        i, j = names.index(low), names.index(high)
        listed = ", ".join(f"{n} ${p:,.2f}" for n, p in zip(names, book.list_price, strict=True))
        return (
            f"pricing.plans{when}: {high} (rank {ranks[high]}) costs ${book.list_price[j]:,.2f} "
            f"a month, not more than {low} (rank {ranks[low]}) at ${book.list_price[i]:,.2f}: "
            f"upgrades from {low} skip {high} when it does not cost the account more "
            f"(one-seat prices in rank order: {listed})"
        )

    seen = set(disagreements())
    out = [line(low, high, "") for low, high in sorted(seen, key=lambda p: names.index(p[0]))]
    events = sorted(params.events.items(), key=lambda kv: (kv[1].month, kv[0]))
    for name, event in events:
        if event.type != "price_change":
            continue
        book.set_price(names.index(event.plan), event.price)
        for pair in disagreements():
            if pair not in seen:
                seen.add(pair)
                out.append(line(*pair, f" from month {event.month} (events.{name})"))
    return out


def warn_rank_disagreements(params: ScenarioParams) -> None:
    """``rank_warnings`` as ``PricingWarning`` warnings (each shown once by Python's default
    filter; the CLI prints them as ``journey-sim: warning: …``)."""
    for message in rank_warnings(params):
        warnings.warn(message, PricingWarning, stacklevel=3)


def setup(model: JourneyModel) -> None:
    """Today's price book; the price effect's health penalties (None / 0 when it is off); no
    promotion yet (``events.promo`` adds them)."""
    params = model.params
    model.price_book = PriceBook(params.pricing)
    on = model.mechanisms[PRICE_EFFECT]
    model.price_increase_penalty = params.health.price_increase_penalty if on else None
    model.price_gap_penalty = params.health.price_gap_penalty if on else 0.0
    model.promos = []


def moves_churn(params: ScenarioParams) -> bool:
    """The price gap moves churn through health when health moves churn."""
    return params.mechanisms[PRICE_EFFECT] and params.health.churn_sensitivity > 0


MECHANISM = Mechanism(
    name="pricing",
    options=(PRICE_EFFECT,),
    config=(
        "pricing.plans.*",
        "pricing.usage.*",
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
    population=(
        "plan",
        "seats",
        "annual",
        "mrr",
        "health",
        "cohort_month",
        "price_locked",
        "offer_end",
    ),
    outputs=("expansion_mrr", "contraction_mrr"),
    moves_churn=moves_churn,
    setup=setup,
    on_paying_start=promo_started,
)
