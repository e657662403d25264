"""Consideration: prospects evaluate, then advance to a decision or drop out (lost); nurture
brings lost prospects back.

Each month in consideration an account comes to a decision with probability
``consideration.advance`` (× the referral multiplier for referred prospects, when ``referrals``
is on) or drops out with ``consideration.drop``: it stays K ~ geometric(advance + drop) months,
drawn when it starts evaluating, then advances with probability advance / (advance + drop).
When the trial requires a card, a prospect who would start it starts with probability
``decision.card_start_factor`` and otherwise walks away (lost): trial starts are the starts
without a card × ``card_start_factor``, at the same time. A lost prospect comes back after a
geometric number of months with monthly probability ``consideration.nurture``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from simulator import attribution
from simulator.kernels import funnel
from simulator.mechanisms import advocacy, touchpoints
from simulator.mechanisms.base import Mechanism
from simulator.stages import DecisionPath, Stage

if TYPE_CHECKING:
    from simulator.model import JourneyModel
    from simulator.personas import PersonaAgent


def schedule_consideration(
    agent: PersonaAgent, idx: np.ndarray, first_month: int | None = None
) -> None:
    """Accounts ``idx`` start evaluating this month: draw when they leave and how. They can
    leave from ``first_month`` on (default: this month; the warm start's evaluators at month 0
    from month 1: the wait is geometric, so the remaining wait of one still evaluating is too).
    """
    if idx.size == 0:
        return
    m = agent.model
    c = agent.persona.consideration
    d = agent.persona.decision
    advance, drop = touched_rates(agent, c.advance, c.drop)
    boosted = advance  # the referred prospects' advance probability, when it is higher
    if m.mechanisms[advocacy.SWITCH]:
        boosted = min(advance * m.params.acquisition.referral_advance_multiplier, 1.0 - drop)
    # A trial that requires a card: the prospects who will not give one are lost.
    card = d.card_start_factor if d.path == DecisionPath.TRIAL and d.card_required else 1.0
    card = touchpoints.lifted(card, touchpoints.factor(agent, "trial_start"))
    advance_due, drop_due = agent.due["advance"], agent.due["drop"]
    filed = funnel.schedule_evaluators(
        idx,
        agent.pop.source,
        agent.row_key("consideration", draw=0),
        advance,
        boosted,
        drop,
        card,
        m.month if first_month is None else first_month,
        advance_due.lists(idx.size),
        drop_due.lists(idx.size),
    )
    advance_due.filed(filed[0])
    drop_due.filed(filed[1])


def touched_rates(agent: PersonaAgent, advance: float, drop: float) -> tuple[float, float]:
    """The monthly advance and drop probabilities with the persona's touchpoints
    (``simulator.mechanisms.touchpoints``), scaled down together when they would sum above 1;
    the configured ones themselves when no touchpoint differs from its baseline."""
    a = touchpoints.lifted(advance, touchpoints.factor(agent, "advance"))
    b = touchpoints.lifted(drop, touchpoints.factor(agent, "drop"))
    if (a, b) == (advance, drop) or a + b <= 1.0:
        return a, b
    return a / (a + b), b / (a + b)


def schedule_nurture(agent: PersonaAgent, idx: np.ndarray) -> None:
    """Accounts ``idx`` were lost this month: nurture brings each back after a geometric
    number of months (at the earliest next month)."""
    nurture = agent.persona.consideration.nurture
    if nurture <= 0 or idx.size == 0:
        return
    key = agent.row_key("consideration", draw=2)
    agent.due["nurture"].add_drawn_waiting(agent.model.month + 1, key, nurture, idx)


def consider(model: JourneyModel) -> None:
    """Nurtured prospects come back; evaluators whose time is up advance to a decision (a
    trial, demo or free tier of ``decision.months``) or are lost."""
    t = model.month
    for agent in model.persona_agents:
        p = agent.persona
        back = agent.due["nurture"].pop(t)
        if back.size:
            agent.move(back, Stage.CONSIDERATION, Stage.LOST)
            schedule_consideration(agent, back)
            agent.add("nurtured", back.size)
        to_decision = agent.due["advance"].pop(t)
        to_lost = agent.due["drop"].pop(t)
        agent.move(to_decision, Stage.DECISION, Stage.CONSIDERATION)
        agent.due["decision"].add(t + p.decision.months, to_decision)
        agent.move(to_lost, Stage.LOST, Stage.CONSIDERATION)
        schedule_nurture(agent, to_lost)
        agent.add("decisions_started", to_decision.size)
        agent.add("prospects_lost", to_lost.size)
        sales = p.decision.sales_cost  # a demo / sales cycle, or a sales-assisted trial
        attribution.count(agent, "decisions_started", to_decision, cost=("sales_cost", sales))
        if sales:
            agent.add("acquisition_cost", to_decision.size * sales)


MECHANISM = Mechanism(
    name="consideration",
    config=(
        "personas.*.consideration",
        "personas.*.decision.months",
        "personas.*.decision.card_start_factor",
        "personas.*.decision.sales_cost",
        "acquisition.referral_advance_multiplier",
    ),
    population=("stage", "source"),
    streams=("consideration",),
    calendars=("nurture", "advance", "drop"),
    outputs=("nurtured", "decisions_started", "prospects_lost", "acquisition_cost"),
)
