"""The default scenario lands inside the published ranges it is calibrated to (issue 9): monthly
logo churn by segment, the involuntary share of small buyers' churn, company NRR and GRR, CAC
payback rising from small buyers to enterprise, annual uptake low for small buyers and
near-universal for enterprise. The ranges and their sources are in
``simulator.published_ranges.RANGES`` and the configs' comments."""

from __future__ import annotations

import pytest

from simulator.published_ranges import RANGES, default_figures, markdown


@pytest.mark.slow
def test_default_scenario_lands_inside_every_published_range() -> None:
    table = default_figures(replications=4)
    assert len(table) == len(RANGES)
    outside = table[~table["inside"]]
    assert outside.empty, "\n" + markdown(outside)
    # Payback rises from small buyers to enterprise.
    payback = table[table["figure"] == "CAC payback"].set_index("segment")["default"]
    assert max(payback["solo"], payback["smb"]) < payback["midmarket"] < payback["enterprise"]


def test_published_ranges_table_has_a_source_and_a_range_for_every_row() -> None:
    for r in RANGES:
        assert r.source and r.low < r.high and r.unit in ("%", "months")
