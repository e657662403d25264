"""The scenario's parameters: a pydantic schema whose field names are the config keys.

``configs/`` is the only source of values: no field has a default here. Bounds live in the
types (``simulator.bounds``); rules that tie one section to another (shares sum to 1,
names that must exist elsewhere) are in ``simulator.params.rules``. Units: months, accounts,
$ and $/month; rates are monthly probabilities.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import Field, StringConstraints, field_validator

from simulator.bounds import MONEY_MAX, Money, Name, Number, Prob, Section, Switch, Whole
from simulator.mechanisms.events import Event
from simulator.mechanisms.touchpoints import Touchpoint
from simulator.params.persona import Persona


class Market(Section):
    size: Whole(1, 200_000_000)  # addressable accounts (finite market)


class Initial(Section):
    """The state at month 0, which no scenario changes: the current book and what it pays."""

    customers: Whole(0, 200_000_000)  # paying accounts at month 0 (the current book)
    mix: dict[str, Prob]  # the book's persona mix, keyed by persona name (sums to 1)
    age_months: Whole(1, 1200)  # months the company has sold: the book's longest tenure
    pipeline: Switch  # prospects and recent churners in flight at month 0 (false: the book alone)
    annual_share: Prob | None  # share of the book on annual terms; null: each persona's choice
    prices: dict[str, Money]  # list price each plan's book pays, $ per month (per seat if per_seat)
    annual_discount: Prob  # the annual discount the book's annual contracts have
    channel_spend: dict[str, Money]  # $ a month each channel had: the month-0 pipeline's leads
    # the company's own book: a CSV of its paying customers (simulator/book_csv.py); null: the
    # synthetic book of ``customers`` and ``mix``
    book: Annotated[str, StringConstraints(min_length=1)] | None
    # calendar month of month 0 (YYYY-MM): dates in the book are counted from it
    book_month: Annotated[str, StringConstraints(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")] | None


class Plan(Section):
    price: Money  # list price, $ per month, per seat when ``per_seat`` else per account
    per_seat: Switch
    # upgrades go to the next rank that costs the account more; a rank order that disagrees
    # with the price order is allowed, with a warning (``pricing.rank_warnings``)
    rank: Whole(0, 1000)


class Usage(Section):
    """A usage-based plan (``pricing.usage.<plan>``): its ``price`` is $ per unit of usage.

    An account uses ``start_units`` units a month per seat (per account when the plan is not
    per seat) when it starts on the plan; a monthly-billed account's usage, and so its MRR,
    grows by ``growth`` a month (compounded) in its first ``growth_months`` months as a
    customer. Annual contracts commit to the starting usage for the term.
    """

    start_units: Number(0, MONEY_MAX, lo_open=True)  # units a month per seat (or account)
    growth: Number(0, 1)  # monthly growth of usage, share (0.03 = +3% a month)
    growth_months: Whole(0, 1200)  # months of tenure over which usage grows


class Billing(Section):
    payment_failure_rate: Prob  # share of monthly charges that fail
    dunning_recovery: Prob  # share of failed charges recovered


class Cogs(Section):
    """Cost of goods sold shared by every persona (hosting is per persona: personas.*.cogs)."""

    payment_fee: Prob  # share of cash billed


class Pricing(Section):
    plans: dict[str, Plan]
    usage: dict[str, Usage]  # usage-based plans, keyed by plan name ({}: none)
    annual_discount: Prob  # discount for annual billing, share of the monthly list price
    billing: Billing
    cogs: Cogs

    @property
    def ranked(self) -> tuple[str, ...]:
        """Plan names in rank order (the engine's plan index)."""
        return tuple(sorted(self.plans, key=lambda n: (self.plans[n].rank, n)))


class OnboardingPath(Section):
    months: Whole(0, 120)  # duration before the activation outcome is known
    quality: Prob  # probability the account reaches activation
    cost: Money  # $ per onboarded account


class Onboarding(Section):
    paths: dict[str, OnboardingPath]


class SupportChannel(Section):
    handle_minutes: Number(0, 10_000, lo_open=True)
    sla_hours: Number(0, 10_000)  # first-response target


class Support(Section):
    agents: Whole(0, 1_000_000)
    cost_per_agent: Money  # $ per agent per month
    hours_per_month: Number(0, 744, lo_open=True)  # open hours a month (tickets arrive in these)
    shrinkage: Prob  # share of an agent's hours not spent on tickets (breaks, training, absence)
    knowledge_base_deflection: Prob
    channels: dict[str, SupportChannel]


class Success(Section):
    csms: Whole(0, 1_000_000)
    accounts_per_csm: Whole(0, 100_000)  # at-risk accounts one CSM works per month
    cost_per_csm: Money  # $ per CSM per month
    min_mrr: Money  # accounts below this MRR ($/month) are not worked
    health_boost: Number(0, 100)


class Bass(Section):
    p: Prob  # innovation: monthly probability an unaware account starts evaluating
    q: Number(0, 10)  # imitation: word of mouth per adopter share


class Channel(Section):
    """Leads a month = S × (1 - exp(-spend / (S × cost_per_lead))), S = ``saturation_leads``:
    spend / cost_per_lead for small spend, never more than S (null S: spend / cost_per_lead)."""

    spend: Money  # $ per month
    cost_per_lead: Number(0, MONEY_MAX, lo_open=True)  # $ per lead at small spend (the first leads)
    saturation_leads: Number(0, MONEY_MAX, lo_open=True) | None  # most leads a month; null: linear


class Acquisition(Section):
    bass: Bass
    advocate_weight: Number(0, 1000)
    referral_reward: Money  # $ per referred prospect who becomes a customer
    # Referrals per advocate × (1 + referral_reward / referral_reference_reward)^elasticity
    referral_reference_reward: Number(0, MONEY_MAX, lo_open=True)  # $
    referral_reward_elasticity: Number(0, 10)
    referral_utility: Number(-20, 20)
    referral_advance_multiplier: Number(0, 100)
    channels: dict[str, Channel]


class Health(Section):
    """Health score (0 neutral); monthly churn = base × exp(-churn_sensitivity × health)."""

    decay: Prob
    churn_sensitivity: Number(0, 100)
    activation_bonus: Number(0, 100)
    activation_failure_penalty: Number(0, 100)
    sla_breach_penalty: Number(0, 100)
    support_resolved_bonus: Number(0, 100)
    price_gap_penalty: Number(0, 100)
    price_increase_penalty: Number(0, 100)
    at_risk_threshold: Number(-100, 100)
    promoter_threshold: Number(-100, 100)


class Renewal(Section):
    term_months: Whole(1, 120)
    at_risk_discount: Prob
    offer_save_rate: Prob


class Advocacy(Section):
    min_tenure_months: Whole(0, 1200)
    review_rate: Number(0, 100)  # positive reviews per advocate per month
    healthy_review_rate: Number(0, 100)  # positive reviews per other healthy active account
    negative_review_rate: Number(0, 100)  # reviews per unhappy churner
    reputation_prior_reviews: Number(0, MONEY_MAX, lo_open=True)
    reputation_prior_rating: Prob
    reputation_weight: Number(0, 100)


class Winback(Section):
    """The win-back offer: won-back accounts pay list × (1 - discount) for ``discount_months``
    months, then list; each win-back costs ``cost``."""

    discount: Number(0, 0.95)  # share off the list price during the offer
    discount_months: Whole(0, 1200)  # months the discount lasts (0: no discount)
    cost: Money  # $ per won-back account (outreach, sales and success time)


class Finance(Section):
    discount_rate: Number(0, 10)  # annual rate for the discounted LTV and discounted gross profit
    steady_from_month: Whole(1, 1200)  # first month of LTV's steady-state window
    retention_includes_reactivation: Switch  # NRR/GRR/net MRR churn count won-back accounts


class Drawn(Section):
    """A parameter drawn afresh for each replication (``uncertainty.<name>``): log-normal with
    [``low``, ``high``] its central ``level`` interval (e.g. a calibrated churn's confidence
    interval), clipped to ``bounds`` when given (``simulator.uncertainty``); ``correlation``:
    its correlation with other entries on the log scale (jointly log-normal; {}: independent)."""

    key: Name  # dotted config key of a number (e.g. personas.solo.churn.mean)
    low: Number(0, 1e12, lo_open=True)
    high: Number(0, 1e12, lo_open=True)
    level: Number(0, 1, lo_open=True)  # confidence level of [low, high] (e.g. 0.95)
    bounds: tuple[float, float] | None  # clip draws into [a, b] (a key with a bounded domain)
    # other entry's name -> correlation of the two log values, in [-1, 1] (given on one side or
    # on both, equal); the matrix of every entry's correlations must be positive semi-definite
    correlation: dict[str, Number(-1, 1)] = Field(default_factory=dict)


class JourneyLog(Section):
    """The event log of a sampled share of accounts (``simulator.journey``)."""

    share: Prob  # share of accounts whose stage changes and contacts are logged (0: no log)
    start: date  # the date of month 0: month m's events are stamped start + m months

    @field_validator("start", mode="before")
    @classmethod
    def _a_date(cls, value: object) -> object:
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            raise ValueError(f"must be a date YYYY-MM-DD, got {value!r}") from None


# ---------------------------------------------------------------------------- the scenario
class ScenarioParams(Section):
    """Every parameter that shapes the simulated numbers, validated."""

    scenario_name: Name
    seed: Whole(0, 2**63 - 1)
    months: Whole(1, 1200)
    replications: Whole(1, 100_000)
    market: Market
    initial: Initial
    personas: dict[str, Persona]
    pricing: Pricing
    onboarding: Onboarding
    support: Support
    success: Success
    acquisition: Acquisition
    mechanisms: dict[str, Switch]
    health: Health
    renewal: Renewal
    advocacy: Advocacy
    winback: Winback
    events: dict[str, Event]
    finance: Finance
    uncertainty: dict[str, Drawn]  # parameters drawn per replication ({}: all fixed)
    journey_log: JourneyLog
    # touchpoints by name (simulator.mechanisms.touchpoints); {}: none (configs saved before them)
    touchpoints: dict[str, Touchpoint] = Field(default_factory=dict)

    @property
    def persona_list(self) -> tuple[Persona, ...]:
        """The personas in config order (persona ``index`` order)."""
        return tuple(self.personas.values())
