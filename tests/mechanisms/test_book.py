"""The month-0 state: an exact split of the market and the book, and a start that does not
depend on what the scenario changes later."""

from __future__ import annotations

import dataclasses

import numpy as np
from sizes import size

from simulator import JourneyModel, load_config
from simulator.book import split_by_share
from simulator.population import Population


def test_split_by_share_is_exact() -> None:
    assert split_by_share(10, [0.5, 0.5]) == [5, 5]
    assert split_by_share(19997, [0.5, 0.32, 0.14, 0.04]) == [9998, 6399, 2800, 800]
    for total in (0, 1, 7, 1001, 999_983):
        parts = split_by_share(total, [0.5, 0.32, 0.14, 0.04])
        assert sum(parts) == total
        shares = [0.5, 0.32, 0.14, 0.04]
        assert all(abs(x - s * total) < 1 for x, s in zip(parts, shares, strict=True))


def test_scenarios_share_the_month_zero_state() -> None:
    """A price rise in month 7 leaves the initial book (plans, seats, MRR, terms, base churn)
    and the calendars' first draws identical."""
    base = JourneyModel(load_config([*size(20_000, 800, 12, 1), "scenario=baseline"]))
    rise = JourneyModel(load_config([*size(20_000, 800, 12, 1), "scenario=price_increase"]))
    for f in dataclasses.fields(Population):
        assert np.array_equal(getattr(base.population, f.name), getattr(rise.population, f.name))
    for a, b in zip(base.persona_agents, rise.persona_agents, strict=True):
        assert a.aware == b.aware and a.mrr_total == b.mrr_total
        assert np.array_equal(a.counts, b.counts)
    assert base.mrr > 0
