"""Expansion (upgrade a tier or add seats) and contraction (downgrade or drop seats).

Monthly probabilities per active or advocate account: ``expansion.rate`` × exp(health / 2) and
``contraction.rate`` × exp(-health / 2), each capped at 0.5, from one uniform. An expanding
account upgrades with probability ``expansion.upgrade_share`` (if a higher tier exists), else
adds round(seats × ``expansion.seats_growth``) seats (at least 1, at most ``MAX_SEATS`` in all);
a contracting one mirrors it (``contraction.downgrade_share``; at least 1 seat is kept). A tier
change goes to the nearest plan by rank whose price for the account (today's list price at its
seats and billing) is above (upgrade) or below (downgrade) what it pays now, so an upgrade never
lowers MRR and a downgrade never raises it; with no such plan the account changes seats instead.
Annual accounts expand mid-term (billed pro rata for the rest of the term, never negative) and
contract only at renewal (``simulator.mechanisms.billing``, with the same law over the term).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from simulator import kernels
from simulator.mechanisms.base import Mechanism
from simulator.mechanisms.health import moves_churn

if TYPE_CHECKING:
    from simulator.model import JourneyModel
    from simulator.params import Persona
    from simulator.personas import PersonaAgent

SWITCH = "expansion"

#: Most seats one account can have (keeps seats far inside int32).
MAX_SEATS = 1_000_000


def contraction_probability(persona: Persona, health: np.ndarray) -> np.ndarray:
    """Monthly contraction probability at ``health``: rate × exp(-health / 2), at most 0.5."""
    with np.errstate(over="ignore"):  # very poor health: exp overflows to inf, capped at 0.5
        return np.minimum(persona.contraction.rate * np.exp(-health / 2.0), 0.5)


def tier_targets(agent: PersonaAgent, rows: np.ndarray, direction: int) -> np.ndarray:
    """The plan a tier change of accounts ``rows`` goes to: the nearest plan by rank in
    ``direction`` whose MRR for the account (list price at its seats and billing) is above (+1)
    or below (-1) the MRR it pays now; -1 where there is none."""
    pop = agent.pop
    book = agent.model.price_book
    n = book.n_plans
    plan = pop.plan[rows].astype(np.int64)
    if rows.size == 0 or n < 2:
        return np.full(rows.size, -1, dtype=np.int64)
    seats, annual, paid = pop.seats[rows], pop.annual[rows], pop.mrr[rows]
    mult = agent.persona.price_multiplier
    ranks = np.arange(n)
    # Every plan's MRR for every account (rows × plans).
    price = book.account_mrr(ranks[None, :], seats[:, None], annual[:, None], mult)
    ok = price > paid[:, None] if direction > 0 else price < paid[:, None]
    if direction > 0:
        ok &= ranks[None, :] > plan[:, None]
        first = ok.argmax(axis=1)
    else:
        ok &= ranks[None, :] < plan[:, None]
        first = n - 1 - ok[:, ::-1].argmax(axis=1)
    return np.where(ok.any(axis=1), first, -1)


def resize(
    agent: PersonaAgent, rows: np.ndarray, v: np.ndarray, direction: int, tier_share: float
) -> tuple[np.ndarray, int, int]:
    """Accounts ``rows`` change size by one step in ``direction`` (+1 expand, -1 contract): a
    tier change where ``v`` < ``tier_share`` and a plan exists that way (``tier_targets``),
    else a seat change.

    Returns (their new MRR in $/month, float64, not yet applied; tier changes; seat changes).
    """
    if rows.size == 0:
        return np.zeros(0), 0, 0
    pop = agent.pop
    new_mrr = pop.mrr[rows].astype(np.float64)
    # (Each part is skipped when it has no accounts: a plan is sought only for those drawn a
    # tier change, row by row, so the others need none.)
    tier = v < tier_share
    if tier.any():
        target = tier_targets(agent, rows, direction)
        tier &= target >= 0
    moved = rows[tier]
    if moved.size:
        pop.plan[moved] = target[tier]
        pop.price_locked[moved] = False
        pop.renewal_offer[moved] = False
        pop.offer_end[moved] = 0  # a tier change ends a win-back offer: the new tier is at list
        new_mrr[tier] = agent.model.price_book.account_mrr(
            pop.plan[moved], pop.seats[moved], pop.annual[moved], agent.persona.price_multiplier
        )
    resized = rows[~tier]
    if resized.size:
        seats_old = pop.seats[resized].copy()
        growth = agent.persona.expansion.seats_growth
        step = np.maximum(1, np.rint(seats_old * growth)).astype(np.int32)
        if direction > 0:
            seats_new = np.minimum(seats_old.astype(np.int64) + step, MAX_SEATS).astype(np.int32)
        else:
            seats_new = np.maximum(1, seats_old - step)
        pop.seats[resized] = seats_new
        agent.paying_seats += int((seats_new.astype(np.int64) - seats_old).sum(dtype=np.int64))
        per_seat = agent.model.price_book.per_seat[pop.plan[resized]]
        scaled = pop.mrr[resized] * (pop.seats[resized] / np.maximum(seats_old, 1))
        new_mrr[~tier] = np.where(per_seat, scaled, pop.mrr[resized])
    return new_mrr, moved.size, resized.size


def expand_and_contract(model: JourneyModel) -> None:
    """Expand and contract every persona's active and advocate accounts this month (the draws
    and probabilities row by row: ``kernels.expansion_draws``)."""
    t = model.month
    for agent in model.persona_agents:
        p = agent.persona
        pop = agent.pop
        rows = agent.paying_rows()
        if rows.size == 0:
            continue
        grow, grow_v, shrink, shrink_v = kernels.expansion_draws(
            rows,
            pop.stage,
            pop.annual,
            pop.health,
            p.expansion.rate,
            p.contraction.rate,
            agent.row_key("expansion"),
        )

        if grow.size:
            old = pop.mrr[grow].astype(np.float64)
            new_mrr, upgrades, seat_expansions = resize(
                agent, grow, grow_v, +1, p.expansion.upgrade_share
            )
            agent.reprice(grow, new_mrr)
            # The MRR as stored (float32): an annual account's change is never below 0.
            delta = pop.mrr[grow].astype(np.float64) - old
            remaining = np.where(pop.annual[grow], np.maximum(pop.term_end[grow] - t, 0), 0)
            agent.add("revenue", float((delta * remaining).sum()))
            agent.add("upgrades", upgrades)
            agent.add("seat_expansions", seat_expansions)

        if shrink.size:
            new_mrr, downgrades, seat_cuts = resize(
                agent, shrink, shrink_v, -1, p.contraction.downgrade_share
            )
            agent.reprice(shrink, new_mrr)
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
        "renewal_offer",
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
