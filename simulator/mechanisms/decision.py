"""Decision: at the end of a trial, a demo / sales cycle or a month on the free tier, the
prospect picks a plan or no purchase (multinomial logit, ``simulator.mechanisms.pricing``).

Shared utility terms: vendor reputation and the referral bonus (when ``referrals`` is on), the
card-required trial's utility. Buyers start paying (onboarding, or active when onboarding is off)
and pick annual billing with the persona's annual probability (when ``annual_contracts`` is on).
Non-buyers are lost (nurture may bring them back), except on a freemium path where they stay on
the free tier (stage ``decision``), re-decide every month and leave with probability
``decision.free_drop``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from simulator.mechanisms import advocacy, billing, consideration, onboarding
from simulator.mechanisms.base import Mechanism
from simulator.mechanisms.pricing import annual_probability, choice_probabilities, choose
from simulator.stages import DecisionPath, Source, Stage

if TYPE_CHECKING:
    from simulator.model import JourneyModel


def decide(model: JourneyModel) -> None:
    """Decide this month's trials, sales cycles and free users, persona by persona."""
    m = model
    t = m.month
    referrals_on = m.mechanisms[advocacy.SWITCH]
    annual_on = m.mechanisms[billing.ANNUAL_CONTRACTS]
    entry = onboarding.first_paying_stage(m)
    for agent in m.persona_agents:
        pop = agent.pop
        p = agent.persona
        idx = agent.due["decision"].pop(t)
        if idx.size == 0:
            continue
        extra = np.zeros(idx.size)
        if referrals_on:
            extra += advocacy.reputation_utility(m)
            extra += np.where(
                pop.source[idx] == Source.REFERRAL, m.params.acquisition.referral_utility, 0.0
            )
        if p.decision.path == DecisionPath.TRIAL and p.decision.card_required:
            extra += p.decision.card_utility
        freemium = p.decision.path == DecisionPath.FREEMIUM
        probs = choice_probabilities(
            p,
            m.price_book,
            pop.seats[idx],
            extra,
            outside_extra=p.decision.free_value if freemium else 0.0,
        )
        choice, v = choose(probs, agent.row_uniform("decision", idx))
        buy = choice > 0
        buyers = idx[buy]
        agent.add("decisions", idx.size)
        if buyers.size:
            if annual_on:
                annual = v[buy] < annual_probability(p, m.price_book.annual_discount)
            else:
                annual = np.zeros(buyers.size, dtype=np.bool_)
            plan = (choice[buy] - 1).astype(np.int8)
            mrr = agent.start_paying(buyers, plan, annual, entry, Stage.DECISION, t)
            agent.add("new_customers", buyers.size)
            agent.add("new_mrr", mrr)
            if entry == Stage.ONBOARDING:
                onboarding.start_onboarding(agent, buyers)
            if referrals_on:
                referred = int(np.count_nonzero(pop.source[buyers] == Source.REFERRAL))
                agent.add("referral_cost", referred * m.params.acquisition.referral_reward)
        non_buyers = idx[~buy]
        if freemium:
            leaves = v[~buy] < p.decision.free_drop
            agent.due["decision"].add(t + 1, non_buyers[~leaves])
            non_buyers = non_buyers[leaves]
        agent.move(non_buyers, Stage.LOST, Stage.DECISION)
        consideration.schedule_nurture(agent, non_buyers)


MECHANISM = Mechanism(
    name="decision",
    config=(
        "personas.*.decision",
        "acquisition.referral_utility",
        "acquisition.referral_reward",
    ),
    population=("stage", "source", "seats", "plan", "annual", "mrr", "cohort_month"),
    streams=("decision",),
    calendars=("decision",),
    outputs=("decisions", "new_customers", "new_mrr", "referral_cost"),
)
