"""The touchpoint audit (``simulator.audit``): a zero-effect touchpoint is worth exactly
nothing and costs exactly its cost; tables, ranking, drop-offs and the chart."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from sizes import TINY, small

from simulator import AuditResult, audit, load_config, simulate
from simulator.errors import ConfigError
from simulator.experiments.audit import dropoffs
from simulator.plots import plot_audit

ZERO = (
    "+touchpoints.zero={stage: active, enabled: true, reach: {solo: 0.4, smb: 0.4}, "
    "baseline_reach: {solo: 0.4, smb: 0.4}, cost: {fixed_per_month: 500, per_account: 3}, "
    "lift: {churn: 0.0}, utility: 0.0, by_persona: {}}"
)


@pytest.fixture(scope="module")
def result() -> AuditResult:
    return audit(load_config([*small(months=6), ZERO]), touchpoints=["zero", "qbrs"])


def test_a_zero_effect_touchpoint_is_worth_nothing_and_costs_its_cost(result: AuditResult) -> None:
    rows = result.per_replication.query("touchpoint == 'zero' and analysis == 'ablation'")
    for m in ("incremental_customers", "incremental_arr", "incremental_gross_profit"):
        assert (rows[m] == 0.0).all(), m
    # its cost: $500 a month over 6 months + $3 per account reached (0.4 of paying solo + smb)
    total = rows[rows["persona"] == "total"]
    monthly = simulate(load_config([*small(months=6), ZERO]), progress=False).monthly
    paying = monthly[monthly["persona"].isin(["solo", "smb"])]
    reached = 0.4 * (paying["n_active"] + paying["n_advocate"])
    expected = 6 * 500 + 3 * reached.groupby(paying["replication"]).sum()
    np.testing.assert_allclose(total.sort_values("replication")["cost"], expected.to_numpy())
    np.testing.assert_allclose(total["net_value"], -total["cost"])
    np.testing.assert_allclose(total["roi"], -1.0)


def test_tables_ranking_and_dropoffs(result: AuditResult) -> None:
    r = result.ranking
    assert list(r["rank"]) == [1, 2]
    assert r["net_value_median"].is_monotonic_decreasing
    qbrs = result.table.query(
        "analysis == 'ablation' and touchpoint == 'qbrs' and persona == 'total'"
    ).set_index("measure")
    assert qbrs.loc["cost", "median"] > 0
    assert qbrs.loc["incremental_arr", "p10"] <= qbrs.loc["incremental_arr", "median"]
    assert qbrs.loc["incremental_arr", "median"] <= qbrs.loc["incremental_arr", "p90"]
    text = result.format()
    assert "value of each touchpoint" in text and "zero" in text and "qbrs" in text
    d = result.dropoffs
    assert set(d["transition"]) == {
        "consideration → decision",
        "decision → paying",
        "onboarding → activation",
        "annual renewal",
        "paying → churned",
    }
    assert d["lost"].is_monotonic_decreasing


def test_dropoffs_are_the_monthly_flows() -> None:
    monthly = pd.DataFrame(
        {
            "persona": ["a", "a"],
            "replication": [0, 0],
            "month": [1, 2],
            "decisions_started": [10, 20],
            "prospects_lost": [30, 40],
            "decisions": [20, 20],
            "new_customers": [5, 3],
            "activations": [4, 2],
            "activation_failures": [1, 1],
            "renewals_due": [0, 10],
            "renewals": [0, 9],
            "churned_customers": [2, 3],
            "reactivated_customers": [0, 0],
            "customers": [103, 103],
        }
    )
    d = dropoffs(monthly).query("persona == 'a'").set_index("transition")
    assert d.loc["consideration → decision", "drop_off"] == pytest.approx(70 / 100)
    assert d.loc["decision → paying", "lost"] == 32
    assert d.loc["onboarding → activation", "drop_off"] == pytest.approx(2 / 8)
    assert d.loc["annual renewal", "lost"] == 1
    # customers at the start: 103 - 5 + 2 = 100; entered 100 + 8 new, 5 churned
    assert d.loc["paying → churned", "drop_off"] == pytest.approx(5 / 108)


def test_plot_audit_returns_the_figure_and_accepts_an_axis(result: AuditResult) -> None:
    fig = plot_audit(result.ranking)
    assert len(fig.axes[0].patches) >= 2
    fig2, ax = plt.subplots()
    assert plot_audit(result.ranking, ax=ax) is fig2
    plt.close("all")


def test_bad_audit_settings_name_the_key() -> None:
    cfg = load_config(TINY)
    with pytest.raises(ConfigError, match=r"audit\.touchpoints: unknown touchpoint 'nope'"):
        audit(cfg, touchpoints=["nope"])
    with pytest.raises(ConfigError, match=r"audit.reach_step: must be in \(0, 1\], got 0"):
        audit(cfg, reach_step=0)
    with pytest.raises(ConfigError) as err:
        load_config(["task=audit", "audit.reach_step=2"])
    assert err.value.problems[0][0] == "audit.reach_step"
