"""Decision: at the end of a trial, a demo / sales cycle or a month on the free tier, the
prospect picks a plan or no purchase (multinomial logit, ``simulator.mechanisms.pricing``).

Shared utility terms: vendor reputation and the referral bonus (when ``referrals`` is on).
Buyers start paying (onboarding, or active when onboarding is off) and pick annual billing with
the persona's annual probability (when ``annual_contracts`` is on). A card-required trial is an
opt-out default: a non-buyer is billed anyway with probability ``decision.forgot_to_cancel``
(it forgot to cancel), monthly, on the plan it would have picked (the logit's plan shares), and
carries extra early churn (``simulator.mechanisms.churn``); so trial→paid = P(buy) + (1 -
P(buy)) × forgot_to_cancel. Other non-buyers are lost (nurture may bring them back), except on a
freemium path where they stay on the free tier (stage ``decision``), re-decide every month and
leave with probability ``decision.free_drop``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from simulator.mechanisms import advocacy, billing, consideration, onboarding
from simulator.mechanisms.base import Mechanism
from simulator.mechanisms.pricing import annual_probability, choice_probabilities, choose
from simulator.stages import DecisionPath, Source, Stage
from simulator.streams import rescale

if TYPE_CHECKING:
    from simulator.model import JourneyModel
    from simulator.personas import PersonaAgent


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
        annual = np.zeros(idx.size, dtype=np.bool_)
        if annual_on:
            annual[buy] = v[buy] < annual_probability(p, m.price_book.annual_discount)
        forgot = _forgot_to_cancel(agent, idx, probs, choice, v)
        pays = buy | forgot
        buyers = idx[pays]
        agent.add("decisions", idx.size)
        if buyers.size:
            plan = (choice[pays] - 1).astype(np.int8)
            mrr = agent.start_paying(buyers, plan, annual[pays], entry, Stage.DECISION, t)
            agent.add("new_customers", buyers.size)
            agent.add("forgot_to_cancel", np.count_nonzero(forgot))
            agent.add("new_mrr", mrr)
            if entry == Stage.ONBOARDING:
                onboarding.start_onboarding(agent, buyers)
            if referrals_on:
                referred = int(np.count_nonzero(pop.source[buyers] == Source.REFERRAL))
                agent.add("referral_cost", referred * m.params.acquisition.referral_reward)
        non_buyers = idx[~pays]
        if freemium:
            leaves = v[~pays] < p.decision.free_drop
            agent.due["decision"].add(t + 1, non_buyers[~leaves])
            non_buyers = non_buyers[leaves]
        agent.move(non_buyers, Stage.LOST, Stage.DECISION)
        consideration.schedule_nurture(agent, non_buyers)


def _forgot_to_cancel(
    agent: PersonaAgent, idx: np.ndarray, probs: np.ndarray, choice: np.ndarray, v: np.ndarray
) -> np.ndarray:
    """Card-required trial: which non-buyers ``idx[~(choice > 0)]`` are billed anyway (their
    rescaled uniform ``v`` below ``forgot_to_cancel``). Their plan is drawn from the logit's plan
    shares with the uniform rescaled again and written into ``choice``; their extra early churn
    lasts until month ``now + forgot_months`` (``Population.early_churn_end``)."""
    d = agent.persona.decision
    forgot = np.zeros(idx.size, dtype=np.bool_)
    if not (d.path == DecisionPath.TRIAL and d.card_required and d.forgot_to_cancel > 0):
        return forgot
    forgot = (choice == 0) & (v < d.forgot_to_cancel)
    if forgot.any():
        plans = probs[forgot, 1:]
        plans = plans / np.maximum(plans.sum(axis=1, keepdims=True), 1e-300)
        plan, _ = choose(plans, rescale(v[forgot], 0.0, d.forgot_to_cancel))
        choice[forgot] = plan + 1
        agent.pop.early_churn_end[idx[forgot]] = agent.model.month + d.forgot_months
    return forgot


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
    streams=("decision",),
    calendars=("decision",),
    outputs=("decisions", "new_customers", "forgot_to_cancel", "new_mrr", "referral_cost"),
)
