"""Voluntary churn of monthly-billed paying accounts (annual ones churn at renewal: billing).

An account's monthly churn probability is its base churn (drawn at set-up from
Beta(mean, concentration), ``simulator.book``) × exp(-``health.churn_sensitivity`` × (health -
price gap penalty)), clipped to [0, 1]. An account billed after a card-required trial it forgot
to cancel (``simulator.mechanisms.decision``) also cancels with probability
``decision.forgot_churn`` in each of its first ``decision.forgot_months`` paying months (the
month of its first bill included): 1 - (1 - p)(1 - forgot_churn) in those months. When no
mechanism can change the probability during a paying spell (``JourneyModel.churn_is_scheduled``,
derived from every mechanism's ``moves_churn``), the month the spell ends is drawn once when it
starts (a geometric waiting time, with the early months' higher probability when there are any:
``simulator.calendar``); otherwise each monthly-billed paying account draws every month.
Touchpoints' ``churn`` lift multiplies the base churn (``simulator.mechanisms.touchpoints``; a
lift that differs from its baseline makes churn drawn monthly).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from simulator import kernels
from simulator.calendar import months_waiting_after_early
from simulator.mechanisms import touchpoints
from simulator.mechanisms.base import Mechanism
from simulator.stages import DecisionPath, is_paying

if TYPE_CHECKING:
    from simulator.model import JourneyModel
    from simulator.personas import PersonaAgent


def churn_probability(
    agent: PersonaAgent,
    idx: np.ndarray,
    health: np.ndarray | None = None,
    mrr: np.ndarray | None = None,
) -> np.ndarray:
    """Monthly voluntary churn probability of accounts ``idx`` (rows of ``agent``).

    base × exp(-churn_sensitivity × (health - price gap penalty × gap)), clipped to [0, 1], with
    gap = max(MRR per seat / willingness to pay - 1, 0). ``health`` and ``mrr`` default to the
    accounts' own; an annual renewal passes the term's health and the post-renewal MRR. With
    every mechanism off health stays 0 and this is the base probability exactly.
    """
    m = agent.model
    sensitivity = m.params.health.churn_sensitivity
    pop = agent.pop
    p = pop.base_churn[idx].astype(np.float64)
    if sensitivity <= 0:
        return _clip01(p)
    h = (pop.health[idx] if health is None else health).astype(np.float64)
    if m.price_gap_penalty > 0:
        seats = np.maximum(pop.seats[idx], 1)
        per_seat = (pop.mrr[idx] if mrr is None else mrr) / seats
        gap = np.maximum(per_seat / agent.persona.willingness_to_pay - 1.0, 0.0)
        h = h - m.price_gap_penalty * gap
    with np.errstate(over="ignore"):  # a huge penalty: exp overflows to inf, clipped to 1
        p = p * np.exp(-sensitivity * h)
    return _clip01(p)


def _clip01(p: np.ndarray) -> np.ndarray:
    """``np.clip(p, 0, 1)`` in place (NaN stays NaN), without ``np.clip``'s overhead."""
    return np.minimum(np.maximum(p, 0.0, out=p), 1.0, out=p)


def forgot_churn(agent: PersonaAgent) -> float:
    """Extra monthly churn of the persona's forgot-to-cancel accounts in their early months
    (0 unless its trial requires a card and some are billed)."""
    d = agent.persona.decision
    if not (d.path == DecisionPath.TRIAL and d.card_required and d.forgot_to_cancel > 0):
        return 0.0
    return d.forgot_churn if d.forgot_months > 0 else 0.0


def with_early_churn(agent: PersonaAgent, idx: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Monthly churn probability ``p`` of accounts ``idx`` this month with the forgot-to-cancel
    accounts' extra early churn: 1 - (1 - p)(1 - forgot_churn) inside their window."""
    q = forgot_churn(agent)
    if q <= 0:
        return p
    early = agent.pop.early_churn_end[idx] > agent.model.month
    return np.where(early, 1.0 - (1.0 - p) * (1.0 - q), p)


def schedule_churn(agent: PersonaAgent, idx: np.ndarray, first_month: int) -> None:
    """A paying spell of ``idx`` starts: draw the month it ends when churn is scheduled
    (``first_month`` is the first month churn can happen)."""
    if not agent.model.churn_is_scheduled or idx.size == 0:
        return
    p = churn_probability(agent, idx)
    q = forgot_churn(agent)
    if q > 0:
        u = agent.row_uniform("churn", idx)
        n_early = np.maximum(agent.pop.early_churn_end[idx].astype(np.int64) - first_month, 0)
        wait = months_waiting_after_early(u, p, 1.0 - (1.0 - p) * (1.0 - q), n_early)
        agent.due["churn"].add(first_month + wait, idx)
    else:
        agent.due["churn"].add_drawn_waiting(first_month, agent.row_key("churn", 0), p, idx)


def churn(model: JourneyModel) -> None:
    """Scheduled churn: the accounts whose drawn churn month is now (and still pay). Otherwise
    one draw per monthly-billed paying account against its probability this month
    (``kernels.monthly_churn``: ``churn_probability`` and ``with_early_churn`` row by row)."""
    t = model.month
    for agent in model.persona_agents:
        pop = agent.pop
        if model.churn_is_scheduled:
            idx = agent.due["churn"].pop(t)
            agent.end_paying(idx[is_paying(pop.stage[idx])], "churned_voluntary")
            continue
        rows = agent.paying_rows()
        if rows.size == 0:
            continue
        churned = kernels.monthly_churn(
            rows,
            pop.stage,
            pop.annual,
            pop.base_churn,
            pop.health,
            pop.mrr,
            pop.seats,
            pop.early_churn_end,
            t,
            model.params.health.churn_sensitivity,
            model.price_gap_penalty,
            agent.persona.willingness_to_pay,
            forgot_churn(agent),
            touchpoints.factor(agent, "churn"),
            agent.row_key("churn"),
        )
        agent.end_paying(churned, "churned_voluntary")


MECHANISM = Mechanism(
    name="churn",
    config=(
        "personas.*.churn",
        "personas.*.decision.forgot_churn",
        "personas.*.decision.forgot_months",
        "health.churn_sensitivity",
        "health.price_gap_penalty",
    ),
    population=("base_churn", "health", "mrr", "seats", "annual", "stage", "early_churn_end"),
    streams=("churn",),
    calendars=("churn",),
    outputs=("churned_customers", "churned_voluntary", "churned_mrr"),
    on_paying_start=schedule_churn,
)
