"""Billing and renewal: price changes reach the book, annual contracts renew, payments fail.

1. A list-price change this month reaches monthly customers now (unless grandfathered; a
   won-back account keeps its offer's discount, ``simulator.mechanisms.winback``).
2. With ``annual_contracts`` on, annual contracts at term end renew or churn: renewal churn =
   1 - (1 - monthly)^term; at-risk accounts (health below ``health.at_risk_threshold``) get a
   renewal discount (``renewal.at_risk_discount``) that saves a share
   (``renewal.offer_save_rate``) of would-be churners; renewals move to today's list price
   (unless grandfathered).
3. With ``involuntary_churn`` on, monthly charges fail at ``payment_failure_rate``; dunning
   recovers a share (``dunning_recovery``); the rest churn involuntarily.
4. Cash billed (``revenue``, $): monthly plans each month, annual plans the whole term up front.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from simulator.mechanisms import winback
from simulator.mechanisms.base import Mechanism
from simulator.mechanisms.churn import churn_probability
from simulator.streams import rescale

if TYPE_CHECKING:
    from simulator.model import JourneyModel
    from simulator.params import ScenarioParams
    from simulator.personas import PersonaAgent

ANNUAL_CONTRACTS = "annual_contracts"
INVOLUNTARY_CHURN = "involuntary_churn"


def moves_churn(params: ScenarioParams) -> bool:
    """Renewals and failed payments end paying spells."""
    return params.mechanisms[ANNUAL_CONTRACTS] or params.mechanisms[INVOLUNTARY_CHURN]


def bill_and_renew(model: JourneyModel) -> None:
    """Bill every persona's accounts this month (see the module docstring)."""
    par = model.params
    annual_on = model.mechanisms[ANNUAL_CONTRACTS]
    p_invol = (
        par.pricing.billing.payment_failure_rate * (1.0 - par.pricing.billing.dunning_recovery)
        if model.mechanisms[INVOLUNTARY_CHURN]
        else 0.0
    )
    for agent in model.persona_agents:
        if not (model.repricing_due or annual_on or p_invol > 0):
            # Nothing to bill but monthly plans: cash billed is this month's MRR.
            agent.add("revenue", agent.mrr_total)
            continue
        _bill(agent, annual_on, p_invol)


def _bill(agent: PersonaAgent, annual_on: bool, p_invol: float) -> None:
    m = agent.model
    par = m.params
    t = m.month
    term = par.renewal.term_months
    book = m.price_book
    mult = agent.persona.price_multiplier
    pop = agent.pop.view(slice(0, agent.aware))
    u = agent.uniform("billing") if annual_on or p_invol > 0 else None
    paying = agent.paying_mask()
    monthly = np.flatnonzero(paying & ~pop.annual)

    if m.repricing_due and monthly.size:
        cand = monthly[~pop.price_locked[monthly]]
        target = book.account_mrr(pop.plan[cand], pop.seats[cand], pop.annual[cand], mult)
        target = (target * winback.offer_factor(agent, cand)).astype(np.float32)
        changed = np.abs(target - pop.mrr[cand]) > 1e-3
        if changed.any():
            agent.reprice(cand[changed], target[changed])

    if annual_on:
        due = np.flatnonzero(paying & pop.annual & (pop.term_end <= t))
        if due.size:
            p_month = churn_probability(agent, due)
            p_churn = 1.0 - (1.0 - p_month) ** term
            at_risk = pop.health[due] < par.health.at_risk_threshold
            p_churn = np.where(at_risk, p_churn * (1.0 - par.renewal.offer_save_rate), p_churn)
            ud = u[due]  # type: ignore[index]
            churn = ud < p_churn
            invol = ~churn & (rescale(ud, p_churn, 1.0 - p_churn) < p_invol)
            agent.add("renewals_due", due.size)
            agent.end_paying(due[churn], "churned_voluntary")
            agent.end_paying(due[invol], "churned_involuntary")
            keep = ~churn & ~invol
            renew = due[keep]
            list_mrr = book.account_mrr(pop.plan[renew], pop.seats[renew], True, mult)
            new_mrr = np.where(pop.price_locked[renew], pop.mrr[renew], list_mrr)
            offered = at_risk[keep]
            new_mrr = np.where(offered, new_mrr * (1.0 - par.renewal.at_risk_discount), new_mrr)
            agent.reprice(renew, new_mrr)
            pop.term_end[renew] = t + term
            agent.add("renewals", renew.size)
            agent.add("renewal_offers", np.count_nonzero(offered))

    if p_invol > 0 and monthly.size:
        fails = monthly[u[monthly] < p_invol]  # type: ignore[index]
        agent.end_paying(fails, "churned_involuntary")

    if not annual_on:
        agent.add("revenue", agent.mrr_total)
        return
    # Cash billed: MRR of monthly accounts, a whole term of MRR for annual terms starting now
    # (non-paying rows have MRR 0, so the weights need no paying mask).
    weight = np.where(pop.annual, np.where(pop.term_end == t + term, float(term), 0.0), 1.0)
    # (no np.dot: BLAS would spread this over threads; the engine stays on one core)
    agent.add("revenue", float((pop.mrr * weight).sum()))


MECHANISM = Mechanism(
    name="billing",
    options=(ANNUAL_CONTRACTS, INVOLUNTARY_CHURN),
    config=(
        "renewal.term_months",
        "renewal.at_risk_discount",
        "renewal.offer_save_rate",
        "pricing.billing.payment_failure_rate",
        "pricing.billing.dunning_recovery",
        "health.at_risk_threshold",
    ),
    population=(
        "annual",
        "term_end",
        "price_locked",
        "offer_end",
        "plan",
        "seats",
        "mrr",
        "health",
    ),
    streams=("billing",),
    outputs=(
        "revenue",
        "renewals_due",
        "renewals",
        "renewal_offers",
        "churned_voluntary",
        "churned_involuntary",
        "expansion_mrr",
        "contraction_mrr",
    ),
    moves_churn=moves_churn,
)
