"""Billing and renewal: price changes reach the book, annual contracts renew, payments fail.

1. A list-price change this month reaches monthly customers now (unless grandfathered; a
   won-back account keeps its offer's discount, ``simulator.mechanisms.winback``).
2. With ``annual_contracts`` on, each paying annual account adds its health to ``term_health``
   every month of its term (not the month it signs), and at term end renews or churns:

   - term health h = the term's mean monthly health (a term begun before month 0 counts from
     month 1); the account is at risk when h < ``health.at_risk_threshold``;
   - post-renewal MRR = base × (1 - ``renewal.at_risk_discount`` if at risk), where base is
     today's list price at its plan and seats, or, grandfathered, the price it pays without
     last term's renewal discount (a discount lasts one term);
   - decision health = h - ``health.price_increase_penalty`` × max(post / paid - 1, 0) (the
     rise over the MRR it paid this term; with ``price_effect`` on);
   - monthly p = base churn × exp(-``health.churn_sensitivity`` × (decision health -
     ``health.price_gap_penalty`` × max(post per seat / willingness to pay - 1, 0))), clipped
     to [0, 1] (``simulator.mechanisms.churn``); renewal churn = 1 - (1 - p)^term, × (1 -
     ``renewal.offer_save_rate``) for at-risk accounts;
   - with ``expansion`` on, a renewing account contracts with probability 1 - (1 - c)^term,
     c = the persona's monthly contraction law at h (``simulator.mechanisms.expansion``):
     a downgrade (``contraction.downgrade_share``) or a seat cut;
   - the renewal moves to the post-renewal price of its (possibly smaller) contract; the rise
     costs no health afterwards (the decision weighed it); the term's health starts again.
3. With ``involuntary_churn`` on, monthly charges fail at ``payment_failure_rate``; dunning
   recovers a share (``dunning_recovery``); the rest churn involuntarily (annual accounts: the
   renewal charge).
4. Cash billed (``revenue``, $): monthly plans each month, annual plans the whole term up front.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from simulator import kernels
from simulator.mechanisms import winback
from simulator.mechanisms.base import Mechanism
from simulator.mechanisms.churn import churn_probability
from simulator.mechanisms.expansion import SWITCH as EXPANSION
from simulator.mechanisms.expansion import contraction_probability, resize
from simulator.stages import is_paying
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
    pop = agent.pop
    rows = agent.paying_rows()

    if m.repricing_due:
        paying = rows[is_paying(pop.stage[rows])]
        monthly = paying[~pop.annual[paying]]
        cand = monthly[~pop.price_locked[monthly]]
        target = book.account_mrr(pop.plan[cand], pop.seats[cand], pop.annual[cand], mult)
        target = (target * winback.offer_factor(agent, cand)).astype(np.float32)
        changed = np.abs(target - pop.mrr[cand]) > 1e-3
        if changed.any():
            agent.reprice(cand[changed], target[changed])

    if annual_on or p_invol > 0:
        # Term health accrues, renewals come due, monthly charges fail: one pass.
        due, u, fails = kernels.billing_draws(
            rows,
            pop.stage,
            pop.annual,
            pop.term_end,
            pop.term_health,
            pop.health,
            t,
            term,
            annual_on,
            p_invol,
            agent.row_key("billing"),
        )
        if due.size:
            _renew(agent, due, u, p_invol)
        agent.end_paying(fails, "churned_involuntary")

    if not annual_on:
        agent.add("revenue", agent.mrr_total)
        return
    # Cash billed: MRR of monthly accounts, a whole term of MRR for annual terms starting now.
    agent.add("revenue", kernels.billed_cash(rows, pop.annual, pop.term_end, pop.mrr, t, term))


def _renewal_base(agent: PersonaAgent, rows: np.ndarray, mrr: np.ndarray) -> np.ndarray:
    """Undiscounted MRR ($/month) renewing accounts ``rows`` move to: today's annual list price
    at their plan and seats, or, grandfathered, ``mrr`` (what they pay) without last term's
    renewal discount (a free term, discount 1, leaves no price to return to: list)."""
    pop = agent.pop
    m = agent.model
    d = m.params.renewal.at_risk_discount
    mult = agent.persona.price_multiplier
    list_mrr = m.price_book.account_mrr(pop.plan[rows], pop.seats[rows], True, mult)
    locked = pop.price_locked[rows]
    offered = pop.renewal_offer[rows]
    if d < 1.0:
        own = np.where(offered, mrr / (1.0 - d), mrr)
    else:
        own, locked = mrr, locked & ~offered
    return np.where(locked, own, list_mrr.astype(np.float64))


@dataclass(frozen=True)
class RenewalTerms:
    """What annual contracts at term end face (module docstring, 2), one entry per account.

    Attributes:
        term_health: mean monthly health over the term.
        at_risk: term health below ``health.at_risk_threshold`` (offered the renewal discount).
        post_mrr: MRR after renewal at the current plan and seats, $/month.
        p_churn: probability the contract is not renewed (voluntary churn).
    """

    term_health: np.ndarray
    at_risk: np.ndarray
    post_mrr: np.ndarray
    p_churn: np.ndarray


def renewal_terms(agent: PersonaAgent, due: np.ndarray) -> RenewalTerms:
    """The renewal decision of annual contracts ``due`` (rows of ``agent``) this month."""
    m = agent.model
    par = m.params
    pop = agent.pop
    term = par.renewal.term_months
    months = np.maximum(m.month - np.maximum(pop.term_end[due].astype(np.int64) - term, 0), 1)
    h_term = pop.term_health[due].astype(np.float64) / months
    at_risk = h_term < par.health.at_risk_threshold
    paid = pop.mrr[due].astype(np.float64)
    post = _renewal_base(agent, due, paid)
    post = np.where(at_risk, post * (1.0 - par.renewal.at_risk_discount), post)
    h_decision = h_term
    if m.price_increase_penalty is not None:
        rise = np.where(paid > 0, np.maximum(post / np.maximum(paid, 1e-9) - 1.0, 0.0), 0.0)
        h_decision = h_term - m.price_increase_penalty * rise
    p_month = churn_probability(agent, due, health=h_decision, mrr=post)
    p_churn = 1.0 - (1.0 - p_month) ** term
    p_churn = np.where(at_risk, p_churn * (1.0 - par.renewal.offer_save_rate), p_churn)
    return RenewalTerms(h_term, at_risk, post, p_churn)


def _renew(agent: PersonaAgent, due: np.ndarray, u: np.ndarray, p_invol: float) -> None:
    """Annual contracts ``due`` at term end renew, contract or churn (module docstring, 2)."""
    m = agent.model
    par = m.params
    pop = agent.pop
    t = m.month
    term = par.renewal.term_months
    terms = renewal_terms(agent, due)
    p_churn = terms.p_churn
    churn = u < p_churn
    invol = ~churn & (rescale(u, p_churn, 1.0 - p_churn) < p_invol)
    agent.add("renewals_due", due.size)
    agent.end_paying(due[churn], "churned_voluntary")
    agent.end_paying(due[invol], "churned_involuntary")
    keep = ~churn & ~invol
    renew = due[keep]
    offered = terms.at_risk[keep]
    mrr = pop.mrr[renew].astype(np.float64)
    if m.mechanisms[EXPANSION] and renew.size:
        p = agent.persona
        c = contraction_probability(p, terms.term_health[keep])
        p_contract = 1.0 - (1.0 - c) ** term
        v = agent.row_uniform("billing", renew)
        shrink = v < p_contract
        tier_u = rescale(v[shrink], 0.0, p_contract[shrink])
        mrr[shrink], downgrades, seat_cuts = resize(
            agent, renew[shrink], tier_u, -1, p.contraction.downgrade_share
        )
        agent.add("downgrades", downgrades)
        agent.add("seat_contractions", seat_cuts)
    new_mrr = _renewal_base(agent, renew, mrr)
    new_mrr = np.where(offered, new_mrr * (1.0 - par.renewal.at_risk_discount), new_mrr)
    agent.reprice(renew, new_mrr, penalise=False)
    pop.renewal_offer[renew] = offered
    pop.term_end[renew] = t + term
    pop.term_health[renew] = 0.0
    agent.add("renewals", renew.size)
    agent.add("renewal_offers", np.count_nonzero(offered))


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
        "health.churn_sensitivity",
        "health.price_gap_penalty",
        "health.price_increase_penalty",
        "personas.*.contraction",
    ),
    population=(
        "annual",
        "term_end",
        "price_locked",
        "plan",
        "seats",
        "mrr",
        "health",
        "term_health",
        "renewal_offer",
        "offer_end",
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
        "downgrades",
        "seat_contractions",
    ),
    moves_churn=moves_churn,
)
