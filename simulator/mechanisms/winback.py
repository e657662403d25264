"""Win-back (the ``reactivation`` switch): churned customers come back, with an offer.

An account that churns is reactivated with the persona's monthly ``winback.rate`` in each of
the next ``winback.window_months`` months (from the month after it churned); the month, if any,
is drawn when it churns. It comes back active on its last plan, billed monthly.

The offer (config section ``winback``): a won-back account pays today's list price ×
(1 - ``discount``) for ``discount_months`` months (its MRR at the end of the month it returns and
of the next ``discount_months`` - 1 months), then today's list price: the step up is booked as
reactivation MRR (the rest of the MRR won back) and, announced with the offer, costs no health. A
price change during the offer keeps the discount; a tier change ends it (the new tier is billed at
list). Each win-back costs ``cost`` $ (``winback_cost``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from simulator.kernels import funnel, schedule
from simulator.mechanisms.base import Mechanism
from simulator.stages import Stage

if TYPE_CHECKING:
    from simulator.model import JourneyModel
    from simulator.personas import PersonaAgent

SWITCH = "reactivation"


def schedule_win_back(agent: PersonaAgent, idx: np.ndarray) -> None:
    """Accounts ``idx`` churn this month: their offer (if any) ends with the spell; draw the
    month (if any) they come back."""
    agent.pop.offer_end[idx] = 0
    p = agent.persona
    if p.winback.rate <= 0 or idx.size == 0:
        return
    t = agent.model.month
    key = agent.row_key("winback", draw=0)
    last = t + p.winback.window_months
    agent.due["winback"].add_drawn_waiting(t + 1, key, p.winback.rate, idx, last)


def offer_factor(agent: PersonaAgent, rows: np.ndarray) -> np.ndarray:
    """Price factor of accounts ``rows`` this month: 1 - discount where an offer runs (up to
    the win-back step of its last month, which ends it), else 1 (billing reprices with it)."""
    offer = agent.model.params.winback
    running = agent.pop.offer_end[rows] >= agent.model.month
    return np.where(running, 1.0 - offer.discount, 1.0)


def _end_offers(agent: PersonaAgent, t: int) -> None:
    """Offers ending this month: the accounts still on them move to today's list price."""
    idx = agent.due["winback_offer"].pop(t)
    if idx.size == 0:
        return
    pop = agent.pop
    book = agent.model.price_book
    # Those still in the spell the offer was made in; grandfathered during the offer: the price
    # it was locked at, without the discount.
    idx, new = funnel.end_offers(
        idx,
        pop.offer_end,
        t,
        pop.plan,
        pop.seats,
        pop.annual,
        pop.price_locked,
        pop.mrr,
        book.list_price,
        book.per_seat,
        agent.persona.price_multiplier,
        book.annual_discount,
        np.float32(1.0 - agent.model.params.winback.discount),
    )
    if idx.size == 0:
        return
    # The rest of the MRR won back (announced with the offer: no price-rise health penalty).
    delta = float(new.sum(dtype=np.float64) - pop.mrr[idx].sum(dtype=np.float64))
    pop.mrr[idx] = new
    agent.mrr_total += delta
    agent.add("reactivation_mrr", delta)


def win_back(model: JourneyModel) -> None:
    """End this month's offers; reactivate the accounts whose win-back month is now."""
    t = model.month
    offer = model.params.winback
    discounted = offer.discount > 0 and offer.discount_months > 0
    for agent in model.persona_agents:
        _end_offers(agent, t)
        idx = agent.due["winback"].pop(t)
        if idx.size == 0:
            continue
        monthly = np.zeros(idx.size, dtype=np.bool_)
        pop = agent.pop
        mrr = agent.start_paying(idx, pop.plan[idx], monthly, Stage.ACTIVE, Stage.CHURNED, t + 1)
        if discounted:
            end = t + offer.discount_months
            cut = schedule.start_offers(idx, pop.mrr, pop.offer_end, 1.0 - offer.discount, end)
            agent.mrr_total -= cut
            mrr -= cut
            agent.due["winback_offer"].add(end, idx)
        agent.add("reactivated_customers", idx.size)
        agent.add("reactivation_mrr", mrr)
        agent.add("revenue", mrr)
        agent.add("recognised_revenue", mrr)
        agent.add("winback_cost", idx.size * offer.cost)


MECHANISM = Mechanism(
    name="winback",
    switch=SWITCH,
    config=("personas.*.winback", "winback.*"),
    population=("stage", "plan", "seats", "mrr", "annual", "health", "price_locked", "offer_end"),
    streams=("winback",),
    calendars=("winback", "winback_offer"),
    outputs=(
        "reactivated_customers",
        "reactivation_mrr",
        "revenue",
        "recognised_revenue",
        "winback_cost",
    ),
    on_paying_end=schedule_win_back,
)
