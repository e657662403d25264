"""Decision: at the end of a trial, a demo / sales cycle or a month on the free tier, the
prospect picks a plan or no purchase, by the persona's ``decision.rule``:

- ``logit`` (the default): multinomial logit (``simulator.mechanisms.pricing``), utility of
  plan j = plan_value[j] - price_sensitivity × price per seat[j] × price_multiplier / WTP
  + reputation + referral bonus, against ``outside_utility`` (+ ``free_value`` on the free
  tier), with the logit's taste noise.
- ``threshold``: no taste noise and no utility terms: the account buys the plan of largest
  surplus WTP - price per seat[j] × price_multiplier (the cheapest per seat when every plan is
  worth WTP to it; the lowest rank on a tie) if that surplus is positive, else nothing.
  Plan values, the outside and free-tier utilities, price sensitivity, reputation and the
  referral bonus do not enter. With the others priced out (or one plan's surplus the largest
  for everyone), the take-rate at price p is P(WTP > p) = 1 - Φ((ln p - ln median) / σ) for a
  lognormal WTP (``personas.<p>.willingness_to_pay_spread`` = σ; ``simulator.analytic``).

WTP is the persona's ``willingness_to_pay``, or each account's own draw when the spread is
positive (``pricing.account_willingness_to_pay``: fixed per account, common to every scenario
of a seed, no memory).

What else acts at the decision:

- Shared utility terms (logit only): vendor reputation and the referral bonus (when
  ``referrals`` is on), and touchpoints' utility terms.
- Touchpoints' ``trial_to_paid`` lift scales the probability of buying a plan
  (``simulator.mechanisms.touchpoints``).
- Buyers start paying (onboarding, or active when onboarding is off) and pick annual billing
  with the persona's annual probability (when ``annual_contracts`` is on): the term changes
  what a buyer pays, not whether it buys (both rules compare monthly list prices).
- A card-required trial is an opt-out default: a non-buyer is billed anyway with probability
  ``decision.forgot_to_cancel`` (it forgot to cancel), monthly, on the plan it would have
  picked (the logit's plan shares; under the threshold rule its plan of largest surplus), and
  carries extra early churn (``simulator.mechanisms.churn``); so trial→paid = P(buy) + (1 -
  P(buy)) × forgot_to_cancel.
- Other non-buyers are lost (nurture may bring them back to decide again), except on a
  freemium path where they stay on the free tier (stage ``decision``), re-decide every month
  and leave with probability ``decision.free_drop``.

The take-rate of a persona is its ``new_customers`` / ``decisions`` (``decisions`` counts every
account's decision, a free user's every month). It equals P(the rule buys) when each account
decides once and nothing else makes a payer: no card trial forgetting, no freemium, no
nurture; ``simulator.analytic.KNOWN_ANSWER_OVERRIDES`` sets such a run up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from simulator import attribution
from simulator.kernels import funnel
from simulator.mechanisms import (
    advocacy,
    billing,
    consideration,
    onboarding,
    pricing,
    touchpoints,
)
from simulator.mechanisms.base import Mechanism
from simulator.stages import DecisionPath, DecisionRule, Stage

if TYPE_CHECKING:
    from simulator.model import JourneyModel

#: ``funnel.decide_accounts``'s ``forgot_plan`` under the logit: none (drawn from the shares).
_NO_PLANS = np.empty(0, dtype=np.int8)


def decide(model: JourneyModel) -> None:
    """Decide this month's trials, sales cycles and free users, persona by persona (account by
    account: ``funnel.decision_utilities``, the exponential, then ``funnel.decide_accounts``)."""
    m = model
    t = m.month
    referrals_on = m.mechanisms[advocacy.SWITCH]
    annual_on = m.mechanisms[billing.ANNUAL_CONTRACTS]
    entry = onboarding.first_paying_stage(m)
    book = m.price_book
    acq = m.params.acquisition
    reputation = advocacy.reputation_utility(m) if referrals_on else 0.0
    referral_utility = acq.referral_utility if referrals_on else 0.0
    for agent in m.persona_agents:
        idx = agent.due["decision"].pop(t)
        if idx.size == 0:
            continue
        pop = agent.pop
        p = agent.persona
        d = p.decision
        freemium = d.path == DecisionPath.FREEMIUM
        wtp = pricing.account_willingness_to_pay(m.streams, p, idx)
        if d.rule == DecisionRule.THRESHOLD:
            util, forgot_plan = funnel.threshold_weights(
                idx, pop.seats, book.decision_price, book.per_seat, p.price_multiplier, wtp
            )
        else:
            extra = m.touchpoint_utility[p.name]  # touchpoints' utility terms (0.0: none)
            util = funnel.decision_utilities(
                idx,
                pop.seats,
                pop.source,
                reputation + extra if extra else reputation,
                referral_utility,
                p.outside_utility + (d.free_value if freemium else 0.0),
                book.decision_price,  # (a usage plan's expected bill: ``pricing.PriceBook``)
                book.per_seat,
                book.plan_values(p),
                p.price_multiplier,
                p.price_sensitivity,
                wtp,
            )
            np.exp(util, out=util)  # numpy's exp: the compiled one differs in the last bit
            forgot_plan = _NO_PLANS
        touchpoints.lift_buy_probability(util, touchpoints.factor(agent, "trial_to_paid"))
        forgets = d.path == DecisionPath.TRIAL and d.card_required and d.forgot_to_cancel > 0
        buyers, plan, annual, n_forgot, n_referred, stay, lost = funnel.decide_accounts(
            util,
            idx,
            pop.source,
            agent.row_key("decision", draw=0),
            book.annual_share(p) if annual_on else 0.0,
            d.forgot_to_cancel if forgets else 0.0,
            t + d.forgot_months,
            pop.early_churn_end,
            freemium,
            d.free_drop,
            forgot_plan,
        )
        agent.add("decisions", idx.size)
        if buyers.size:
            mrr = agent.start_paying(buyers, plan, annual, entry, Stage.DECISION, t)
            agent.add("new_customers", buyers.size)
            agent.add("forgot_to_cancel", n_forgot)
            agent.add("new_mrr", mrr)
            attribution.count(agent, "new_customers", buyers)
            attribution.count(agent, "new_mrr", buyers, pop.mrr[buyers].astype(np.float64))
            if entry == Stage.ONBOARDING:
                onboarding.start_onboarding(agent, buyers)
            if referrals_on:
                agent.add("referral_cost", n_referred * acq.referral_reward)
                cost = n_referred * acq.referral_reward
                attribution.add(agent, "referral_cost", attribution.REFERRAL, cost)
        if freemium:
            agent.due["decision"].add(t + 1, stay)
        agent.move(lost, Stage.LOST, Stage.DECISION)
        consideration.schedule_nurture(agent, lost)


MECHANISM = Mechanism(
    name="decision",
    config=(
        "personas.*.decision",
        "acquisition.referral_utility",
        "acquisition.referral_reward",
    ),
    population=(
        "stage",
        "source",
        "seats",
        "plan",
        "annual",
        "mrr",
        "cohort_month",
        "early_churn_end",
    ),
    streams=("decision", pricing.WTP_STREAM),
    calendars=("decision",),
    outputs=("decisions", "new_customers", "forgot_to_cancel", "new_mrr", "referral_cost"),
)
