"""A persona (segment) of the config: ``personas.<name>`` in ``configs/personas/``.

Field names are the config keys. Rates are monthly probabilities; money is $ per month; prices
and willingness to pay are $ per seat per month.
"""

from __future__ import annotations

from pydantic import PrivateAttr, model_validator
from pydantic_core import PydanticCustomError

from simulator.bounds import MONEY_MAX, Money, Name, Number, OneOf, Prob, Section, Switch, Whole
from simulator.stages import DecisionPath, DecisionRule


class Seats(Section):
    mean: Number(1, 10_000)  # seats an account buys, on average (1 + Gamma spread)


class Consideration(Section):
    """Monthly probabilities while evaluating (``advance`` + ``drop`` <= 1)."""

    advance: Prob  # evaluating → decision
    drop: Prob  # evaluating → lost
    nurture: Prob  # lost → evaluating again

    @model_validator(mode="after")
    def _leave_at_most_once(self) -> Consideration:
        if self.advance + self.drop > 1 + 1e-12:
            raise PydanticCustomError(
                "sum", "advance + drop must be <= 1, got {total}",
                {"total": f"{self.advance + self.drop:g}"},
            )  # fmt: skip
        return self


class Decision(Section):
    """The decision stage: trial, demo / sales cycle or free tier.

    A card-required (opt-out) trial: ``card_start_factor`` of the evaluators who would start a
    trial start it; at its end those who do not choose a plan are billed anyway with
    probability ``forgot_to_cancel`` (monthly, on the plan they would pick), and cancel with an
    extra monthly probability ``forgot_churn`` in their first ``forgot_months`` paying months.
    """

    path: OneOf(*DecisionPath)
    rule: OneOf(*DecisionRule)  # logit (taste noise) or threshold (buys when WTP > price)
    months: Whole(0, 24)  # length of the trial / sales cycle; freemium: months between decisions
    card_required: Switch  # trial asks for a card up front (an opt-out trial)
    card_start_factor: Prob  # share of would-be trial starters who start when asked for a card
    forgot_to_cancel: Prob  # card trial: share of non-buyers billed anyway (did not cancel in time)
    forgot_churn: Prob  # card trial: extra monthly churn of those accounts in their first months
    forgot_months: Whole(0, 24)  # card trial: months the extra churn lasts (from the first bill)
    sales_cost: Money  # $ per prospect entering a decision (demo / sales cycle, assisted trial)
    free_value: Number(-20, 20)  # freemium: utility of staying on the free tier
    free_drop: Prob  # freemium: monthly probability a free user leaves


class Churn(Section):
    """Base monthly churn ~ Beta(mean, α + β = concentration); null: exactly the mean."""

    mean: Prob
    concentration: Number(0, 1_000_000, lo_open=True) | None


class PersonaSupport(Section):
    tickets_per_month: Number(0, 1000)  # per paying account, before knowledge-base deflection
    channel_mix: dict[str, Prob]  # share of tickets per support channel (sums to 1)


class Expansion(Section):
    rate: Prob  # monthly probability of an expansion at neutral health
    upgrade_share: Prob  # share of expansions that are tier upgrades (the rest add seats)
    seats_growth: Number(0, 10)  # seats added per seat expansion, relative to seats held


class Contraction(Section):
    rate: Prob  # monthly probability of a contraction at neutral health
    downgrade_share: Prob  # share of contractions that are tier downgrades (the rest cut seats)


class Annual(Section):
    """P(annual billing) = logistic(logit + discount_sensitivity × annual discount)."""

    logit: Number(-50, 50)
    discount_sensitivity: Number(0, 1000)


class PersonaAdvocacy(Section):
    rate: Prob  # monthly probability a healthy tenured customer becomes a promoter


class Referrals(Section):
    per_advocate: Number(0, 100)  # referred prospects per advocate per month


class PersonaCogs(Section):
    """Hosting and delivery cost of the persona's accounts (cost of goods sold, with the
    payment fee of ``pricing.cogs``)."""

    per_account: Money  # $ per paying account per month
    per_seat: Money  # $ per paying seat per month


class Winback(Section):
    rate: Prob  # monthly probability a churned account comes back, within the window
    window_months: Whole(0, 1200)


class Persona(Section):
    """One persona (segment) and its behaviour."""

    share: Prob  # share of the market (the book's persona mix is ``initial.mix``)
    seats: Seats
    willingness_to_pay: Number(0, MONEY_MAX, lo_open=True)  # $ per seat per month (median)
    # σ of ln(WTP) across accounts: each account's WTP is lognormal around the median above
    # (0: every account has exactly willingness_to_pay)
    willingness_to_pay_spread: Number(0, 5)
    price_sensitivity: Number(0, 100)  # utility per unit of price / willingness to pay
    price_multiplier: Number(0, 10)  # this persona's price relative to list
    plan_value: dict[str, Number(-50, 50)]  # utility of each plan, keyed by plan name
    outside_utility: Number(-50, 50)  # utility of not buying
    channels: dict[str, Number(0, 1_000_000)]  # weight in each acquisition channel's leads
    consideration: Consideration
    decision: Decision
    onboarding: Name  # an onboarding path (``onboarding.paths``)
    churn: Churn
    support: PersonaSupport
    expansion: Expansion
    contraction: Contraction
    annual: Annual
    advocacy: PersonaAdvocacy
    referrals: Referrals
    winback: Winback
    cogs: PersonaCogs

    _name: str = PrivateAttr(default="")
    _index: int = PrivateAttr(default=-1)

    @property
    def name(self) -> str:
        """The persona's key under ``personas``."""
        return self._name

    @property
    def index(self) -> int:
        """Position of the persona in config order (its slice of the population)."""
        return self._index

    @model_validator(mode="after")
    def _expand_or_contract_at_most_once(self) -> Persona:
        if self.expansion.rate + self.contraction.rate > 1 + 1e-12:
            raise PydanticCustomError(
                "sum", "expansion.rate + contraction.rate must be <= 1, got {total}",
                {"total": f"{self.expansion.rate + self.contraction.rate:g}"},
            )  # fmt: skip
        return self
