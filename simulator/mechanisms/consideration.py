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

from simulator.calendar import months_waiting
from simulator.mechanisms import advocacy
from simulator.mechanisms.base import Mechanism
from simulator.stages import DecisionPath, Source, Stage

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
    m = agent.model
    p = agent.persona
    advance: float | np.ndarray = p.consideration.advance
    if m.mechanisms[advocacy.SWITCH]:
        referred = agent.pop.source[idx] == Source.REFERRAL
        boosted = min(
            advance * m.params.acquisition.referral_advance_multiplier, 1.0 - p.consideration.drop
        )
        if referred.any() and boosted > advance:
            advance = np.where(referred, boosted, advance)
    leave = advance + p.consideration.drop
    u, v = m.streams.row_uniform_pair("consideration", m.month, agent.index, idx)
    month = (m.month if first_month is None else first_month) + months_waiting(u, leave)
    # Share of leavers who advance; 0 where nobody leaves (advance = drop = 0: they stay).
    leave_arr = np.asarray(leave, dtype=np.float64)
    share = np.divide(
        advance, leave_arr, out=np.zeros(leave_arr.shape), where=leave_arr > 0, dtype=np.float64
    )
    if p.decision.path == DecisionPath.TRIAL and p.decision.card_required:
        share = share * p.decision.card_start_factor  # the rest will not give a card: lost
    advances = v < share
    agent.due["advance"].add(month[advances], idx[advances])
    agent.due["drop"].add(month[~advances], idx[~advances])


def schedule_nurture(agent: PersonaAgent, idx: np.ndarray) -> None:
    """Accounts ``idx`` were lost this month: nurture brings each back after a geometric
    number of months (at the earliest next month)."""
    nurture = agent.persona.consideration.nurture
    if nurture <= 0 or idx.size == 0:
        return
    wait = months_waiting(agent.row_uniform("consideration", idx, draw=2), nurture)
    agent.due["nurture"].add(agent.model.month + 1 + wait, idx)


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
        if p.decision.sales_cost:  # a demo / sales cycle, or a sales-assisted trial
            agent.add("acquisition_cost", to_decision.size * p.decision.sales_cost)


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
