"""The month-0 state: every account's fixed traits and the book of customers at the start.

Built from ``initial`` (and the personas' traits), never from the scenario's prices or
programmes' later changes, so two scenarios with the same seed start from the same state. Today
the book is synthetic: ``initial.customers`` accounts split across personas by market share,
each on a plan drawn from the persona's tier preferences at today's prices, billed annually with
``initial.annual_share`` (or the persona's annual probability), with the annual terms' renewal
months spread over the coming term. A CSV book import and a warm start belong here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from simulator.mechanisms.billing import ANNUAL_CONTRACTS
from simulator.mechanisms.expansion import MAX_SEATS
from simulator.mechanisms.pricing import (
    PriceBook,
    annual_probability,
    choice_probabilities,
    choose,
)
from simulator.stages import Stage

if TYPE_CHECKING:
    from simulator.model import JourneyModel
    from simulator.personas import PersonaAgent


def split_by_share(total: int, shares: list[float]) -> list[int]:
    """Split ``total`` accounts by ``shares`` with the largest-remainder method (exact sum)."""
    raw = np.asarray(shares, dtype=np.float64) * total
    base = np.floor(raw).astype(np.int64)
    short = int(total - base.sum())
    order = np.argsort(-(raw - base), kind="stable")
    base[order[:short]] += 1
    return [int(x) for x in base]


def build_initial_state(model: JourneyModel) -> None:
    """Draw every account's traits and start the initial book, persona by persona."""
    params = model.params
    initial = split_by_share(params.initial.customers, [p.share for p in params.persona_list])
    for agent, n_initial in zip(model.persona_agents, initial, strict=True):
        _init_persona(model, agent, n_initial)
        agent.recount()


def _init_persona(model: JourneyModel, agent: PersonaAgent, n_initial: int) -> None:
    """Seats and base churn for every account of a persona; its first ``n_initial`` rows
    become the current book (active since month 0)."""
    p = agent.persona
    pop = agent.pop
    n = agent.size
    gen = model.streams.generator("init", 0, p.index)
    # Seats: 1 + (mean - 1) × Gamma(2, 1) / 2, rounded (mean ``personas.*.seats.mean``).
    seats = 1.0 + (p.seats.mean - 1.0) * gen.standard_gamma(2.0, size=n) / 2.0
    pop.seats[:] = np.clip(np.rint(seats), 1, MAX_SEATS).astype(np.int32)
    # Base monthly churn: Beta(mean × c, (1 - mean) × c), or exactly the mean.
    if p.churn.concentration is None or p.churn.mean in (0.0, 1.0):
        pop.base_churn[:] = p.churn.mean
    else:
        a = p.churn.mean * p.churn.concentration
        b = (1.0 - p.churn.mean) * p.churn.concentration
        pop.base_churn[:] = gen.beta(a, b, size=n)
    u_plan = gen.random(n)
    u_term = gen.random(n)
    if n_initial == 0:
        return
    book = np.arange(n_initial)
    # The book's own prices and discount, not the scenario's (it changes the future only).
    price_book = PriceBook.current_book(model.params)
    probs = choice_probabilities(p, price_book, pop.seats[book])[:, 1:]
    probs /= probs.sum(axis=1, keepdims=True)
    plan, v = choose(probs, u_plan[book])
    if model.mechanisms[ANNUAL_CONTRACTS]:
        share = model.params.initial.annual_share
        p_annual = share if share is not None else annual_probability(p, price_book.annual_discount)
        annual = v < p_annual
    else:
        annual = np.zeros(n_initial, dtype=np.bool_)
    agent.start_paying(
        book, plan.astype(np.int8), annual, Stage.ACTIVE, Stage.UNAWARE, 1, price_book
    )
    # The book is aged: annual terms renew over the coming term, not all in one month.
    term = model.params.renewal.term_months
    pop.term_end[book] = np.where(annual, 1 + np.floor(u_term[book] * term), 0)
