"""Expansion and contraction: seats never pass ``MAX_SEATS`` (int32 stays safe) and the seat
counter follows every seat change; a tier change always moves the price its way (known
answers); plans' rank must agree with their price (validated)."""

from __future__ import annotations

import numpy as np
import pytest
from sizes import TINY, size

from simulator import ConfigError, JourneyModel, load_config
from simulator.mechanisms.expansion import MAX_SEATS, tier_targets
from simulator.mechanisms.pricing import rank_warnings
from simulator.params import params_of
from simulator.stages import is_paying


def test_seats_are_capped_and_counted() -> None:
    """Every expansion adds 10× the seats (the largest growth allowed), half the months, for
    two years, and nobody churns: without the cap seats would pass 2³¹; with it they stop at
    ``MAX_SEATS``."""
    grow = [
        "mechanisms=all_off",
        "mechanisms.expansion=true",
        "personas.smb.expansion={rate: 0.9, upgrade_share: 0.0, seats_growth: 10}",
        "personas.smb.contraction.rate=0.0",
        "personas.smb.churn.mean=0.0",
    ]
    model = JourneyModel(load_config([*size(4000, 400, 24, 1), *grow]))
    smb = next(a for a in model.persona_agents if a.persona.name == "smb")
    for _ in range(24):
        model.step()
        paying = is_paying(smb.pop.stage)
        assert smb.paying_seats == int(smb.pop.seats[paying].sum(dtype=np.int64))
    seats = model.population.seats
    assert seats.max() == MAX_SEATS
    assert (seats >= 1).all()
    assert sum(r["seat_expansions"] for r in model.records if r["persona"] == "smb") > 0


def test_a_tier_change_goes_to_the_nearest_plan_that_moves_the_price_that_way() -> None:
    """Known answers after a price change made Pro cheaper than Starter (events may break the
    rank order mid-run): an upgrade skips to the next plan by rank that costs the account more
    than it pays, a downgrade to the nearest that costs less; none: -1 (a seat change)."""
    model = JourneyModel(load_config(TINY))
    agent = next(a for a in model.persona_agents if a.persona.name == "smb")
    assert agent.persona.price_multiplier == 1.0
    book = model.price_book
    book.list_price[:] = [15.0, 10.0, 79.0]  # starter, pro, enterprise (per seat)
    rows = np.arange(5)
    pop = agent.pop
    pop.plan[rows] = [0, 1, 2, 2, 0]
    pop.seats[rows] = 2
    pop.annual[rows] = False
    # starter at list; pro at list; enterprise at list; enterprise grandfathered at $5/seat;
    # starter grandfathered at $90/seat (dearer than enterprise today).
    pop.mrr[rows] = [30.0, 20.0, 158.0, 10.0, 180.0]
    assert tier_targets(agent, rows, +1).tolist() == [2, 2, -1, -1, -1]
    assert tier_targets(agent, rows, -1).tolist() == [-1, -1, 1, -1, -1]


def test_plans_whose_rank_disagrees_with_their_price_run_with_one_warning_line() -> None:
    """No longer refused (``pricing.rank_warnings``): the upgrade rule skips a plan that
    would not cost the account more, so the run is well defined; one warning line names the
    plans and prices. A price with a problem of its own is still refused."""
    lines = rank_warnings(params_of(load_config(["pricing.plans.pro.price=199"])))
    assert len(lines) == 1 and "\n" not in lines[0]
    assert (
        "enterprise (rank 2) costs $158.00 a month, not more than pro (rank 1) at $199.00"
        in (lines[0])
    )
    with pytest.raises(ConfigError) as info:
        load_config(["pricing.plans.pro.price=-1"])
    assert [k for k, _ in info.value.problems] == ["pricing.plans.pro.price"]
