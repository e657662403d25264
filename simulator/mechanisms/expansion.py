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

from simulator.kernels import accounts
from simulator.mechanisms import touchpoints
from simulator.mechanisms.base import Mechanism
from simulator.mechanisms.health import moves_churn

if TYPE_CHECKING:
    from simulator.model import JourneyModel
    from simulator.params import Persona
    from simulator.personas import PersonaAgent

SWITCH = "expansion"

#: Most seats one account can have (keeps seats far inside int32).
MAX_SEATS = accounts.MAX_SEATS


def contraction_probability(persona: Persona, health: np.ndarray) -> np.ndarray:
    """Monthly contraction probability at ``health``: rate × exp(-health / 2), at most 0.5."""
    with np.errstate(over="ignore"):  # very poor health: exp overflows to inf, capped at 0.5
        return np.minimum(persona.contraction.rate * np.exp(-health / 2.0), 0.5)


def tier_targets(agent: PersonaAgent, rows: np.ndarray, direction: int) -> np.ndarray:
    """The plan a tier change of accounts ``rows`` goes to: the nearest plan by rank in
    ``direction`` whose MRR for the account (list price at its seats and billing) is above (+1)
    or below (-1) the MRR it pays now; -1 where there is none (row by row:
    ``accounts.tier_target``)."""
    pop = agent.pop
    book = agent.model.price_book
    return accounts.tier_targets(
        rows,
        direction,
        pop.plan,
        pop.seats,
        pop.annual,
        pop.mrr,
        book.list_price,
        book.per_seat,
        book.annual_discount,
        agent.persona.price_multiplier,
    )


def resize(
    agent: PersonaAgent, rows: np.ndarray, v: np.ndarray, direction: int, tier_share: float
) -> tuple[np.ndarray, int, int]:
    """Accounts ``rows`` change size by one step in ``direction`` (+1 expand, -1 contract): a
    tier change where ``v`` < ``tier_share`` and a plan exists that way (``tier_targets``),
    else a seat change (row by row: ``accounts.resize_accounts``).

    Returns (their new MRR in $/month, float64, not yet applied; tier changes; seat changes).
    """
    if rows.size == 0:
        return np.zeros(0), 0, 0
    pop = agent.pop
    book = agent.model.price_book
    new_mrr, tiers, seats_change = accounts.resize_accounts(
        rows,
        v < tier_share,
        direction,
        agent.persona.expansion.seats_growth,
        pop.plan,
        pop.seats,
        pop.annual,
        pop.mrr,
        pop.price_locked,
        pop.renewal_offer,
        pop.offer_end,
        book.list_price,
        book.per_seat,
        book.annual_discount,
        agent.persona.price_multiplier,
    )
    agent.paying_seats += seats_change
    return new_mrr, tiers, rows.size - tiers


def expand_and_contract(model: JourneyModel) -> None:
    """Expand and contract every persona's active and advocate accounts this month: the draws,
    ``resize`` and ``PersonaAgent.reprice`` row by row in one pass per persona
    (``accounts.expand_and_contract``); an annual account's change of MRR over the rest of its
    term is billed now (``revenue``) and recognised from this month (``recognised_revenue``:
    monthly accounts were billed and recognised at their old MRR this month)."""
    t = model.month
    book = model.price_book
    penalty = model.price_increase_penalty or 0.0  # (a penalty of 0 moves no health either)
    for agent in model.persona_agents:
        rows = agent.paying_rows()
        if rows.size == 0:
            continue
        p = agent.persona
        pop = agent.pop
        # Touchpoints lift the expansion probability (the kernel's cap of 0.5 stays).
        f = touchpoints.factor(agent, "expansion")
        expansion_rate = touchpoints.lifted(p.expansion.rate, f)
        grown, shrunk, recognised = accounts.expand_and_contract(
            rows,
            pop.stage,
            pop.health,
            pop.plan,
            pop.seats,
            pop.annual,
            pop.mrr,
            pop.price_locked,
            pop.renewal_offer,
            pop.offer_end,
            pop.term_end,
            book.list_price,
            book.per_seat,
            book.annual_discount,
            p.price_multiplier,
            (expansion_rate, p.expansion.upgrade_share, p.expansion.seats_growth),
            (p.contraction.rate, p.contraction.downgrade_share),
            t,
            penalty,
            agent.row_key("expansion"),
        )
        n, *tally, revenue = grown
        if n:
            upgrades, seat_expansions = _record(agent, *tally)
            agent.add("revenue", revenue)
            agent.add("recognised_revenue", recognised)  # (annual accounts' change of MRR)
            agent.add("upgrades", upgrades)
            agent.add("seat_expansions", seat_expansions)
        n, *tally, _ = shrunk  # (only monthly accounts contract: no revenue)
        if n:
            downgrades, seat_cuts = _record(agent, *tally)
            agent.add("downgrades", downgrades)
            agent.add("seat_contractions", seat_cuts)


def _record(
    agent: PersonaAgent,
    rises: float,
    cuts: float,
    change: float,
    tiers: int,
    seat_moves: int,
    seats: int,
) -> tuple[int, int]:
    """Record accounts resized and repriced by a kernel as ``resize`` and
    ``PersonaAgent.reprice`` do: expansion and contraction MRR ($/month), the persona's MRR and
    paying seats. Returns (tier changes, seat changes)."""
    agent.add("expansion_mrr", rises)
    agent.add("contraction_mrr", cuts)
    agent.mrr_total += change
    agent.paying_seats += seats
    return tiers, seat_moves


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
        "recognised_revenue",
        "upgrades",
        "seat_expansions",
        "downgrades",
        "seat_contractions",
    ),
    moves_churn=moves_churn,
)
