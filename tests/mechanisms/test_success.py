"""Customer success: scanning each persona's aware prefix finds exactly the accounts a scan of
the whole market finds, in the same row order (so the top-MRR cut is the same)."""

from __future__ import annotations

import numpy as np
from sizes import size

from simulator import JourneyModel, load_config
from simulator.stages import is_paying


def test_success_candidates_equal_a_whole_market_scan() -> None:
    model = JourneyModel(
        load_config([*size(30_000, 900, 12, 1), "success.csms=1", "success.accounts_per_csm=5"])
    )
    team = model.success_team
    checked = 0
    cut = False
    for _ in range(12):
        model.step()
        pop = model.population
        whole = np.flatnonzero(
            is_paying(pop.stage)
            & (pop.health < model.params.health.at_risk_threshold)
            & (pop.mrr >= team.min_mrr)
        )
        found = team.candidates()
        assert np.array_equal(found, whole)
        checked += whole.size
        cut |= team.at_risk_last_month > team.capacity
    assert checked > 0 and team.worked_last_month > 0
    assert cut  # the top-MRR cut was exercised
