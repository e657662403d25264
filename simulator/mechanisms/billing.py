"""Billing and renewal: price changes reach the book, annual contracts renew, payments fail.

1. A list-price change this month reaches monthly customers now (unless grandfathered; a
   won-back account keeps its offer's discount, ``simulator.mechanisms.winback``; a monthly
   account on a usage plan moves by the ratio of the new list price to the old, keeping its
   usage). Promotions that end this month step up to list, and monthly accounts on usage
   plans grow their usage (``simulator.mechanisms.pricing``: ``promo_step_ups``,
   ``usage_growth``).
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
     ``renewal.offer_save_rate``) for at-risk accounts; touchpoints' ``renewal`` lift scales the
    probability of renewing, 1 - churn (``simulator.mechanisms.touchpoints``);
   - with ``expansion`` on, a renewing account contracts with probability 1 - (1 - c)^term,
     c = the persona's monthly contraction law at h (``simulator.mechanisms.expansion``):
     a downgrade (``contraction.downgrade_share``) or a seat cut;
   - the renewal moves to the post-renewal price of its (possibly smaller) contract; the rise
     costs no health afterwards (the decision weighed it); the term's health starts again.
3. With ``involuntary_churn`` on, monthly charges fail at ``payment_failure_rate``; dunning
   recovers a share (``dunning_recovery``); the rest churn involuntarily (annual accounts: the
   renewal charge).
4. Cash billed (``revenue``, $): monthly plans each month, annual plans the whole term up front;
   recognised revenue (``recognised_revenue``, $): every paying account's MRR for the month.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from simulator import kernels
from simulator.kernels.renewal import (
    monthly_reprices,
    renew_contracts,
    renewal_quotes,
    renewal_stays,
)
from simulator.mechanisms import pricing, touchpoints
from simulator.mechanisms.base import Mechanism
from simulator.mechanisms.expansion import SWITCH as EXPANSION

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
    pricing_moves = bool(model.promos) or model.price_book.has_usage
    if not (model.repricing_due or annual_on or p_invol > 0 or pricing_moves):
        # Nothing to bill but monthly plans: cash billed is this month's MRR.
        for agent in model.persona_agents:
            agent.add("revenue", agent.mrr_total)
            agent.add("recognised_revenue", agent.mrr_total)
        return
    # The churn law's exponential may overflow to inf (``renewal_terms``): one error state for
    # the month rather than one per persona.
    with np.errstate(over="ignore"):
        for agent in model.persona_agents:
            _bill(agent, annual_on, p_invol)
    if model.repricing_due:
        model.price_book.billed_price = model.price_book.list_price.copy()


def _bill(agent: PersonaAgent, annual_on: bool, p_invol: float) -> None:
    m = agent.model
    par = m.params
    t = m.month
    term = par.renewal.term_months
    book = m.price_book
    pop = agent.pop
    rows = agent.paying_rows()

    if m.repricing_due:
        # Monthly plans not grandfathered move to today's list price (a win-back offer's
        # discount kept), row by row.
        moved, target = monthly_reprices(
            rows,
            pop.stage,
            pop.annual,
            pop.price_locked,
            pop.plan,
            pop.seats,
            pop.mrr,
            pop.offer_end,
            t,
            book.list_price,
            book.per_seat,
            agent.persona.price_multiplier,
            par.winback.discount,
        )
        if moved.size and book.has_usage:
            target = pricing.usage_reprice(agent, moved, target)
        if moved.size:
            agent.reprice(moved, target)

    if m.promos:
        pricing.promo_step_ups(agent)
    if book.has_usage:
        pricing.usage_growth(agent, rows)

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
        ends, n_voluntary = _renew(agent, due, u, p_invol, fails) if due.size else (fails, 0)
        agent.end_paying(ends, "churned_involuntary", n_voluntary)

    # Recognised: every paying account's MRR for this month, whatever its billing term.
    agent.add("recognised_revenue", agent.mrr_total)
    if not annual_on:
        agent.add("revenue", agent.mrr_total)
        return
    # Cash billed: MRR of monthly accounts, a whole term of MRR for annual terms starting now.
    agent.add("revenue", kernels.billed_cash(rows, pop.annual, pop.term_end, pop.mrr, t, term))


@dataclass(frozen=True)
class RenewalTerms:
    """What annual contracts at term end face (module docstring, 2), one entry per account.

    Attributes:
        term_health: mean monthly health over the term.
        at_risk: term health below ``health.at_risk_threshold`` (offered the renewal discount).
        post_mrr: MRR after renewal at the current plan and seats, $/month.
        p_churn: probability the contract is not renewed (voluntary churn).
        p_contract: probability a renewing contract contracts (read with ``expansion`` on).
    """

    term_health: np.ndarray
    at_risk: np.ndarray
    post_mrr: np.ndarray
    p_churn: np.ndarray
    p_contract: np.ndarray


def renewal_terms(agent: PersonaAgent, due: np.ndarray) -> RenewalTerms:
    """The renewal decision of annual contracts ``due`` (rows of ``agent``) this month: term
    health, risk, post-renewal MRR and the exponents of the churn and contraction laws row by
    row (``renewal_quotes``); their exponentials and powers in numpy."""
    m = agent.model
    par = m.params
    pop = agent.pop
    book = m.price_book
    p = agent.persona
    term = par.renewal.term_months
    penalty = m.price_increase_penalty
    h_term, at_risk, post, base, exponents = renewal_quotes(
        due,
        pop.term_end,
        pop.term_health,
        pop.mrr,
        pop.plan,
        pop.seats,
        pop.price_locked,
        pop.renewal_offer,
        pop.base_churn,
        book.list_price,
        book.per_seat,
        p.price_multiplier,
        book.annual_discount,
        m.month,
        term,
        par.health.at_risk_threshold,
        par.renewal.at_risk_discount,
        penalty is not None,
        0.0 if penalty is None else penalty,
        par.health.churn_sensitivity,
        m.price_gap_penalty,
        p.willingness_to_pay,
    )
    # Overflow to inf (callers ignore it: ``np.errstate(over="ignore")``): churn p is clipped to
    # 1, contraction c capped at 0.5.
    np.exp(exponents, out=exponents)
    # Stays (1 - p, 1 - c) of one month, then of the term; the complements are the law's.
    stays = renewal_stays(base, exponents, p.contraction.rate) ** term
    laws = np.subtract(1.0, stays, out=stays)
    p_churn, p_contract = laws[0], laws[1]
    p_churn[at_risk] *= 1.0 - par.renewal.offer_save_rate
    f = touchpoints.factor(agent, "renewal")  # touchpoints lift the renewal probability
    if f != 1.0:
        p_churn = 1.0 - np.clip((1.0 - p_churn) * f, 0.0, 1.0)
    return RenewalTerms(h_term, at_risk, post, p_churn, p_contract)


def _renew(
    agent: PersonaAgent, due: np.ndarray, u: np.ndarray, p_invol: float, fails: np.ndarray
) -> tuple[np.ndarray, int]:
    """Annual contracts ``due`` at term end renew, contract or churn (module docstring, 2):
    the decisions, contractions and new terms row by row (``renew_contracts``); the new MRR
    through the persona's ``reprice``. Returns the accounts that churn this month, for one
    ``end_paying``: those not renewing (voluntary, first), those whose renewal charge fails
    and the monthly ``fails`` (involuntary); and how many churn voluntarily."""
    m = agent.model
    par = m.params
    pop = agent.pop
    p = agent.persona
    book = m.price_book
    term = par.renewal.term_months
    terms = renewal_terms(agent, due)
    contract = m.mechanisms[EXPANSION]
    churned, failed, renew, new_mrr, offers, downgrades, seat_cuts, seat_change = renew_contracts(
        due,
        u,
        terms.p_churn,
        terms.at_risk,
        terms.p_contract,
        p_invol,
        contract,
        pop.plan,
        pop.seats,
        pop.mrr,
        pop.annual,
        pop.price_locked,
        pop.renewal_offer,
        pop.offer_end,
        pop.term_end,
        pop.term_health,
        book.list_price,
        book.per_seat,
        p.price_multiplier,
        book.annual_discount,
        par.renewal.at_risk_discount,
        p.contraction.downgrade_share,
        p.expansion.seats_growth,
        m.month,
        term,
        agent.row_key("billing", 0),
    )
    agent.add("renewals_due", due.size)
    if contract and renew.size:
        agent.paying_seats += seat_change
        agent.add("downgrades", downgrades)
        agent.add("seat_contractions", seat_cuts)
    agent.reprice(renew, new_mrr, penalise=False)
    agent.add("renewals", renew.size)
    agent.add("renewal_offers", offers)
    return np.concatenate((churned, failed, fails)), churned.size


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
        "recognised_revenue",
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
