"""Accounting: cost of goods sold per persona and the gross margin it gives.

Known answers:

* COGS of a persona in a month = its ``cogs.per_account`` × paying accounts + ``cogs.per_seat``
  × paying seats + ``pricing.cogs.payment_fee`` × cash billed, in every row;
* the default run lands each persona's gross margin, (revenue - COGS - support cost) / revenue
  over 36 months, in the band SaaS companies report (65-88%; the company in 74-86%; sources in
  ``configs/personas/default.yaml``).
"""

from __future__ import annotations

import pandas as pd

from simulator import load_config, simulate

BAND = (0.65, 0.88)
COMPANY_BAND = (0.74, 0.86)


def test_cogs_and_gross_margin_of_the_default_run() -> None:
    cfg = load_config(["replications=2"])
    assert cfg.months == 36
    monthly = simulate(cfg, progress=False).monthly
    fee = cfg.pricing.cogs.payment_fee
    for name, rows in monthly.groupby("persona"):
        c = cfg.personas[name].cogs
        expect = (
            c.per_account * rows["customers"] + c.per_seat * rows["seats"] + fee * rows["revenue"]
        )
        pd.testing.assert_series_equal(rows["cogs"], expect, check_names=False, rtol=1e-9)
    by = monthly.groupby(["replication", "persona"])[["revenue", "cogs", "support_cost"]].sum()
    margin = (by["revenue"] - by["cogs"] - by["support_cost"]) / by["revenue"]
    for (rep, name), m in margin.items():
        assert BAND[0] < m < BAND[1], f"replication {rep}, {name}: gross margin {m:.1%}"
    company = by.groupby("replication").sum()
    total = (company["revenue"] - company["cogs"] - company["support_cost"]) / company["revenue"]
    assert ((total > COMPANY_BAND[0]) & (total < COMPANY_BAND[1])).all(), total
