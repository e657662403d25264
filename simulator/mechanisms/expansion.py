"""Expansion (upgrade a tier or add seats) and contraction (downgrade or drop seats).

Monthly probabilities per active or advocate account: ``expansion.rate`` × exp(health / 2) and
``contraction.rate`` × exp(-health / 2), each capped at 0.5, from one uniform. An expanding
account upgrades with probability ``expansion.upgrade_share`` (if a higher tier exists), else
adds round(seats × ``expansion.seats_growth``) seats (at least 1, at most ``MAX_SEATS`` in all);
a contracting one mirrors it (``contraction.downgrade_share``; at least 1 seat is kept). Annual
accounts expand mid-term (billed pro rata for the rest of the term) and contract only at
renewal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from simulator.mechanisms.base import Mechanism
from simulator.mechanisms.health import moves_churn
from simulator.stages import Stage
from simulator.streams import rescale

if TYPE_CHECKING:
    from simulator.model import JourneyModel
    from simulator.personas import PersonaAgent

SWITCH = "expansion"

#: Most seats one account can have (keeps seats far inside int32).
MAX_SEATS = 1_000_000


def _resize(
    agent: PersonaAgent, rows: np.ndarray, v: np.ndarray, direction: int, tier_share: float
) -> tuple[np.ndarray, int, int]:
    """Accounts ``rows`` change size by one step in ``direction`` (+1 expand, -1 contract): a
    tier change where ``v`` < ``tier_share`` and a tier exists that way, else a seat change.

    Returns (their new MRR in $/month, float64, not yet applied; tier changes; seat changes).
    """
    pop = agent.pop
    book = agent.model.price_book
    mult = agent.persona.price_multiplier
    can_move = pop.plan[rows] < book.n_plans - 1 if direction > 0 else pop.plan[rows] > 0
    tier = (v < tier_share) & can_move
    moved = rows[tier]
    pop.plan[moved] += direction
    pop.price_locked[moved] = False
    pop.offer_end[moved] = 0  # a tier change ends a win-back offer: the new tier is at list
    resized = rows[~tier]
    seats_old = pop.seats[resized].copy()
    step = np.maximum(1, np.rint(seats_old * agent.persona.expansion.seats_growth)).astype(np.int32)
    if direction > 0:
        seats_new = np.minimum(seats_old.astype(np.int64) + step, MAX_SEATS).astype(np.int32)
    else:
        seats_new = np.maximum(1, seats_old - step)
    pop.seats[resized] = seats_new
    agent.paying_seats += int((seats_new.astype(np.int64) - seats_old).sum(dtype=np.int64))
    new_mrr = pop.mrr[rows].astype(np.float64)
    new_mrr[tier] = book.account_mrr(pop.plan[moved], pop.seats[moved], pop.annual[moved], mult)
    per_seat = book.per_seat[pop.plan[resized]]
    scaled = pop.mrr[resized] * (pop.seats[resized] / np.maximum(seats_old, 1))
    new_mrr[~tier] = np.where(per_seat, scaled, pop.mrr[resized])
    return new_mrr, moved.size, resized.size


def expand_and_contract(model: JourneyModel) -> None:
    """Expand and contract every persona's active and advocate accounts this month."""
    t = model.month
    for agent in model.persona_agents:
        p = agent.persona
        pop = agent.pop
        st = pop.stage[: agent.aware]
        idx = np.flatnonzero((st == Stage.ACTIVE) | (st == Stage.ADVOCATE))
        if idx.size == 0:
            continue
        u = agent.uniform("expansion")[idx]
        health = pop.health[idx].astype(np.float64)
        e = np.minimum(p.expansion.rate * np.exp(health / 2.0), 0.5)
        c = np.minimum(p.contraction.rate * np.exp(-health / 2.0), 0.5)
        c = np.where(pop.annual[idx], 0.0, c)

        grow = u < e
        if grow.any():
            rows = idx[grow]
            old = pop.mrr[rows].astype(np.float64)
            v = rescale(u[grow], 0.0, e[grow])
            new_mrr, upgrades, seat_expansions = _resize(
                agent, rows, v, +1, p.expansion.upgrade_share
            )
            agent.reprice(rows, new_mrr)
            delta = new_mrr - old
            remaining = np.where(pop.annual[rows], np.maximum(pop.term_end[rows] - t, 0), 0)
            agent.add("revenue", float((delta * remaining).sum()))
            agent.add("upgrades", upgrades)
            agent.add("seat_expansions", seat_expansions)

        shrink = (u >= e) & (u < e + c)
        if shrink.any():
            rows = idx[shrink]
            v = rescale(u[shrink], e[shrink], c[shrink])
            new_mrr, downgrades, seat_cuts = _resize(
                agent, rows, v, -1, p.contraction.downgrade_share
            )
            agent.reprice(rows, new_mrr)
            agent.add("downgrades", downgrades)
            agent.add("seat_contractions", seat_cuts)


MECHANISM = Mechanism(
    name="expansion",
    switch=SWITCH,
    config=("personas.*.expansion", "personas.*.contraction"),
    population=(
        "plan",
        "seats",
        "price_locked",
        "offer_end",
        "mrr",
        "health",
        "annual",
        "term_end",
    ),
    streams=("expansion",),
    outputs=(
        "expansion_mrr",
        "contraction_mrr",
        "revenue",
        "upgrades",
        "seat_expansions",
        "downgrades",
        "seat_contractions",
    ),
    moves_churn=moves_churn,
)
