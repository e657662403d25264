"""Cohort retention (``simulator.cohorts``): the engine's cohort table against known answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from known_answers import Z, campaign_cohort
from sizes import size

from simulator import cohort_matrix, cohort_table, load_config, simulate
from simulator.experiments.montecarlo import load_checkpoint
from simulator.results import COHORTS

PERSONAS = ("solo", "smb", "midmarket", "enterprise")


def _churn(p: float) -> list[str]:
    """Every persona churns with exactly ``p`` a month (no heterogeneity), and no card-trial
    forgetter has extra early churn."""
    return [f"personas.{k}.churn={{mean: {p}, concentration: null}}" for k in PERSONAS] + [
        f"personas.{k}.decision.forgot_churn=0.0" for k in PERSONAS
    ]


def _bigger_campaign(months: int, seed: int, book: int = 0) -> list[str]:
    """``campaign_cohort`` four times over: 20,000 prospects in month 1, a market of 160,000."""
    out = campaign_cohort(months, seed)
    out[out.index("market.size=40000")] = "market.size=160000"
    out[out.index("initial.customers=0")] = f"initial.customers={book}"
    burst = next(i for i, o in enumerate(out) if o.startswith("+events.burst"))
    out[burst] = out[burst].replace("spend: 150000", "spend: 600000")
    return out


def test_without_churn_every_cohort_keeps_every_account_and_its_mrr() -> None:
    # A book (cohorts −35 … 0) and new cohorts from a month-1 campaign; nothing churns.
    overrides = [*campaign_cohort(8, seed=3), *_churn(0.0)]
    overrides[overrides.index("initial.customers=0")] = "initial.customers=2000"
    result = simulate(load_config(overrides), progress=False)
    table = cohort_table(result)
    assert (table["cohort_month"] <= 0).any() and (table["cohort_month"] >= 1).any()
    for kind in ("logo", "revenue"):
        matrix = cohort_matrix(result, kind)
        values = matrix.to_numpy()
        assert np.all(values[~np.isnan(values)] == 1.0), kind
    # The cohort table adds up to the monthly table's paying customers and MRR.
    monthly = result.monthly.groupby("month")[["customers", "mrr_end"]].sum()
    by_month = result.cohorts.groupby("month")[["accounts", "mrr"]].sum()
    assert (by_month.loc[1:, "accounts"] == monthly["customers"]).all()
    np.testing.assert_allclose(by_month.loc[1:, "mrr"], monthly["mrr_end"], rtol=1e-9)


def test_logo_retention_under_constant_churn_is_one_minus_p_to_the_t() -> None:
    # Every mechanism off: the book churns with exactly p a month; its cohorts (by signup
    # month) each keep (1 − p)^month of their month-0 accounts, whatever their age.
    p = 0.06
    months = 12
    result = simulate(
        load_config(
            [*size(60_000, 20_000, months, 2), "mechanisms=all_off", *_churn(p), "seed=11"]
        ),
        progress=False,
    )
    table = cohort_table(result)
    table = table[table["month"] >= 1]
    reps = 2
    n = table["accounts"] * reps  # accounts of the cohort at month 0, all replications
    q = (1 - p) ** table["month"]
    z = (table["share"] - q) / np.sqrt(q * (1 - q) / n)
    assert np.abs(z).max() < Z, table.loc[np.abs(z).idxmax()]
    # Pooled over cohorts, month by month: exact binomial bounds, with power against the
    # off-by-one month convention (1 − p)^(t + 1).
    pooled = table.groupby("month").apply(
        lambda g: pd.Series(
            {"n": (g["accounts"] * reps).sum(), "k": (g["accounts_retained"] * reps).sum()}
        ),
        include_groups=False,
    )
    t = pooled.index.to_numpy()
    share = pooled["k"] / pooled["n"]
    for wrong, expect_ok in ((0, True), (1, False)):
        q = (1 - p) ** (t + wrong)
        z = (share - q) / np.sqrt(q * (1 - q) / pooled["n"])
        assert (np.abs(z).max() < Z) == expect_ok, (wrong, z)


def test_new_cohorts_retain_one_minus_p_to_the_months_since() -> None:
    # New customers of a month-1 campaign, base churn p alone: a cohort keeps (1 − p)^t of
    # the accounts it had at the end of its first month, t months later.
    p = 0.15
    result = simulate(load_config([*_bigger_campaign(10, seed=5), *_churn(p)]), progress=False)
    table = cohort_table(result)
    table = table[(table["cohort_month"] >= 1) & (table["months_since"] >= 1)]
    assert table["cohort_month"].nunique() >= 5
    grouped = table.groupby("months_since")[["accounts", "accounts_retained"]].sum()
    t = grouped.index.to_numpy()
    share = grouped["accounts_retained"] / grouped["accounts"]
    for wrong, expect_ok in ((0, True), (1, False)):
        q = (1 - p) ** (t + wrong)
        z = (share - q) / np.sqrt(q * (1 - q) / grouped["accounts"])
        assert (np.abs(z).max() < Z) == expect_ok, (wrong, z)


def test_cohorts_are_saved_checkpointed_and_merged_like_the_monthly_table(
    tmp_path: Path,
) -> None:
    cfg = load_config([*size(20_000, 600, 4, 2), "progress=false"])
    whole = simulate(cfg, checkpoint_dir=tmp_path)
    assert list(whole.cohorts.columns) == list(COHORTS.names)
    assert sorted(whole.cohorts["replication"].unique()) == [0, 1]
    assert sorted(whole.cohorts["month"].unique()) == [0, 1, 2, 3, 4]
    # The monthly table is exactly what it was (no attrs, the same columns).
    assert not whole.monthly.attrs
    assert not load_checkpoint(tmp_path).attrs
    # Resumed from its checkpoints (nothing simulated again) it has the same cohort table.
    resumed = simulate(cfg, checkpoint_dir=tmp_path)
    pd.testing.assert_frame_equal(resumed.cohorts, whole.cohorts)
    # One replication alone gives that replication's rows.
    one = simulate(cfg, replications=[1])
    pd.testing.assert_frame_equal(
        one.cohorts,
        whole.cohorts[whole.cohorts["replication"] == 1].reset_index(drop=True),
    )
    whole.save(tmp_path / "out", plots=False)
    saved = pd.read_parquet(tmp_path / "out" / "cohorts.parquet")
    pd.testing.assert_frame_equal(saved, whole.cohorts, check_dtype=False)


def test_cohort_matrix_checks_its_arguments() -> None:
    frame = pd.DataFrame(
        {
            "scenario": "s",
            "replication": 0,
            "month": [0, 1, 2, 1, 2],
            "persona": "solo",
            "cohort_month": [0, 0, 0, 1, 1],
            "accounts": [10, 8, 5, 4, 2],
            "mrr": [100.0, 90.0, 60.0, 40.0, 44.0],
        }
    )
    table = cohort_table(frame)
    assert table[["cohort_month", "months_since"]].values.tolist() == [
        [0, 0],
        [0, 1],
        [0, 2],
        [1, 0],
        [1, 1],
    ]
    assert table["share"].tolist() == [1.0, 0.8, 0.5, 1.0, 0.5]
    assert table["revenue_share"].tolist() == pytest.approx([1.0, 0.9, 0.6, 1.0, 1.1])
    with pytest.raises(ValueError, match="kind must be one of logo, revenue"):
        cohort_matrix(frame, "dollars")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="persona 'wizard' is not in the cohort table"):
        cohort_table(frame, persona="wizard")
