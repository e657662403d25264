"""Win-back (the ``reactivation`` switch): churned customers come back.

An account that churns is reactivated with the persona's monthly ``winback.rate`` in each of
the next ``winback.window_months`` months (from the month after it churned); the month, if any,
is drawn when it churns. It comes back active on its last plan, billed monthly at today's list
price.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from simulator.calendar import months_waiting
from simulator.mechanisms.base import Mechanism
from simulator.stages import Stage

if TYPE_CHECKING:
    from simulator.model import JourneyModel
    from simulator.personas import PersonaAgent

SWITCH = "reactivation"


def schedule_win_back(agent: PersonaAgent, idx: np.ndarray) -> None:
    """Accounts ``idx`` churn this month: draw the month (if any) they come back."""
    p = agent.persona
    if p.winback.rate <= 0 or idx.size == 0:
        return
    wait = 1 + months_waiting(agent.row_uniform("winback", idx), p.winback.rate)
    soon = wait <= p.winback.window_months
    agent.due["winback"].add(agent.model.month + wait[soon], idx[soon])


def win_back(model: JourneyModel) -> None:
    """Reactivate the accounts whose win-back month is now."""
    t = model.month
    for agent in model.persona_agents:
        idx = agent.due["winback"].pop(t)
        if idx.size == 0:
            continue
        monthly = np.zeros(idx.size, dtype=np.bool_)
        mrr = agent.start_paying(
            idx, agent.pop.plan[idx], monthly, Stage.ACTIVE, Stage.CHURNED, t + 1
        )
        agent.add("reactivated_customers", idx.size)
        agent.add("reactivation_mrr", mrr)
        agent.add("revenue", mrr)


MECHANISM = Mechanism(
    name="winback",
    switch=SWITCH,
    config=("personas.*.winback",),
    population=("stage", "plan", "seats", "mrr", "annual", "health"),
    streams=("winback",),
    calendars=("winback",),
    outputs=("reactivated_customers", "reactivation_mrr", "revenue"),
    on_paying_end=schedule_win_back,
)
