"""Every config in ``configs/`` composes and runs, and the default scenario is plausible
(DESIGN §2: monthly logo churn about 3-7% SMB, 1-3% mid-market, under 1% enterprise;
trial→paid about 15-25% without a card and 40-60% with one (issue 9, the published opt-out
range); annual discount about 15-20%)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulator import load_config, simulate
from simulator.metrics import customers_at_start
from simulator.params.run import TASKS_WITH_DIR
from simulator.results import BRIDGE_MINUS, BRIDGE_PLUS, MONTHLY_COLUMNS

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
GROUP_OPTIONS = sorted(
    (group.name, option.stem)
    for group in CONFIG_DIR.iterdir()
    if group.is_dir()
    for option in group.glob("*.yaml")
)
TINY = ["market.size=8000", "initial.customers=300", "months=3", "replications=2"]


def test_config_tree_is_found() -> None:
    groups = {g for g, _ in GROUP_OPTIONS}
    assert {"scenario", "personas", "pricing", "mechanisms", "executor", "support"} <= groups
    assert len(GROUP_OPTIONS) >= 15


@pytest.mark.parametrize(("group", "option"), GROUP_OPTIONS, ids=lambda x: str(x))
def test_every_config_option_composes_and_runs(group: str, option: str) -> None:
    # Tasks that read an earlier run name its directory (the scenario still composes and runs).
    reads_dir = group == "task" and option in TASKS_WITH_DIR
    reads_data = group == "task" and option == "calibrate"
    extra = [*(["dir=some/run"] if reads_dir else []), *(["data=x.csv"] if reads_data else [])]
    cfg = load_config([*TINY, f"{group}={option}", *extra])
    m = simulate(cfg, progress=False).monthly
    assert list(m.columns) == list(MONTHLY_COLUMNS)
    assert sorted(m["month"].unique()) == [1, 2, 3]
    assert m["replication"].nunique() == 2
    assert set(m["persona"]) == set(cfg.personas)
    numbers = m.select_dtypes("number")
    assert np.isfinite(numbers.to_numpy(dtype=float)).all()
    gap = m["mrr_start"] + m[list(BRIDGE_PLUS)].sum(axis=1) - m[list(BRIDGE_MINUS)].sum(axis=1)
    np.testing.assert_allclose(gap, m["mrr_end"], rtol=1e-9, atol=1e-6)
    if group == "scenario":
        assert (m["scenario"] == option).all()


@pytest.fixture(scope="module")
def default_run() -> pd.DataFrame:
    cfg = load_config(["months=24", "replications=3"])
    return simulate(cfg, progress=False).monthly


# Persona → (low, high) monthly logo churn, DESIGN §2.
CHURN_RANGES = {
    "solo": (0.03, 0.07),
    "smb": (0.03, 0.07),
    "midmarket": (0.01, 0.03),
    "enterprise": (0.0, 0.01),
}


def test_default_personas_and_tiers() -> None:
    cfg = load_config([])
    assert 3 <= len(cfg.personas) <= 4
    assert len(cfg.pricing.plans) == 3
    assert sum(p.share for p in cfg.personas.values()) == pytest.approx(1.0)
    assert 0.15 <= cfg.pricing.annual_discount <= 0.20


@pytest.mark.parametrize("persona", list(CHURN_RANGES))
def test_default_monthly_logo_churn_is_plausible(default_run: pd.DataFrame, persona: str) -> None:
    rows = default_run[default_run["persona"] == persona]
    churn = rows["churned_customers"].sum() / customers_at_start(rows).sum()
    low, high = CHURN_RANGES[persona]
    assert low <= churn <= high, f"{persona}: {churn:.2%} outside {low:.0%}-{high:.0%}"


def test_default_trial_conversion_is_plausible(default_run: pd.DataFrame) -> None:
    cfg = load_config([])
    checked = set()
    for name, pc in cfg.personas.items():
        if pc.decision.path != "trial":
            continue
        rows = default_run[default_run["persona"] == name]
        rate = rows["new_customers"].sum() / rows["decisions"].sum()
        low, high = (0.40, 0.60) if pc.decision.card_required else (0.15, 0.25)
        assert low <= rate <= high, f"{name}: trial→paid {rate:.1%} outside {low:.0%}-{high:.0%}"
        checked.add(pc.decision.card_required)
    assert checked == {True, False}, "the default has a card and a no-card trial"


def test_default_company_grows_and_retains(default_run: pd.DataFrame) -> None:
    last = default_run[default_run["month"] == 24].groupby("replication").sum(numeric_only=True)
    nrr = last["retained_mrr_12m"] / last["mrr_12m_ago"]
    grr = last["gross_retained_mrr_12m"] / last["mrr_12m_ago"]
    assert ((nrr > 0.85) & (nrr < 1.25)).all()
    assert ((grr > 0.75) & (grr <= 1.0)).all()
    # Growth over the second year: the cold start (only the book exists at month 0, issue 9)
    # drags customers down for the first months, and since a card-required trial no longer
    # inflates smb's conversion the default's year-1 dip is not made up by month 24.
    year1 = default_run[default_run["month"] == 12].groupby("replication").sum(numeric_only=True)
    assert (last["customers"] > year1["customers"]).all()
