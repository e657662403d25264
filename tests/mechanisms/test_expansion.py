"""Expansion and contraction: seats never pass ``MAX_SEATS`` (int32 stays safe) and the seat
counter follows every seat change."""

from __future__ import annotations

import numpy as np
from sizes import size

from simulator import JourneyModel, load_config
from simulator.mechanisms.expansion import MAX_SEATS
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
