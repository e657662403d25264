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
    return audit(load_config([*small(months=6), ZERO]), touchpoints=["zero", "qbrs"], programmes=[])


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


# ---------------------------------------------------------------------------- built-in programmes
#: The default market (its unaware accounts keep coming, so channels act), 6 months.
PROGRAMMES = ["months=6", "replications=3"]


def test_the_built_in_programmes_and_their_switches() -> None:
    from simulator.params import params_of
    from simulator.programmes import programmes

    params = params_of(load_config(PROGRAMMES))
    progs = programmes(params)
    assert list(progs) == [
        "channel:content",
        "channel:paid_ads",
        "channel:review_sites",
        "channel:outbound",
        "onboarding:guided",
        "onboarding:white_glove",
        "customer_success",
        "knowledge_base",
    ]
    assert progs["channel:paid_ads"].off == {"acquisition.channels.paid_ads.spend": 0.0}
    assert progs["channel:paid_ads"].more == {"acquisition.channels.paid_ads.spend": 66_000.0}
    assert progs["onboarding:white_glove"].off == {"personas.enterprise.onboarding": "self_serve"}
    assert progs["onboarding:white_glove"].more is None
    # +10% capacity at the same cost per account worked: 30 → 33 accounts, $9,000 → $9,900
    assert progs["customer_success"].more == {
        "success.accounts_per_csm": 33,
        "success.cost_per_csm": pytest.approx(9_900.0),
    }
    assert progs["knowledge_base"].more == {"support.knowledge_base_deflection": 0.33}


@pytest.fixture(scope="module")
def programme_audit() -> AuditResult:
    cfg = load_config([*PROGRAMMES, "acquisition.channels.review_sites.spend=0"])
    return audit(
        cfg,
        touchpoints=[],
        programmes=["channel:review_sites", "channel:outbound", "customer_success"],
    )


def test_a_channel_with_zero_spend_is_worth_exactly_nothing(programme_audit: AuditResult) -> None:
    rows = programme_audit.per_replication.query("touchpoint == 'channel:review_sites'")
    assert set(rows["analysis"]) == {"ablation", "marginal"} and (rows["kind"] == "programme").all()
    for m in ("incremental_customers", "incremental_arr", "incremental_gross_profit", "cost"):
        assert (rows[m] == 0.0).all(), m
    assert rows["roi"].isna().all() and rows["return_per_dollar"].isna().all()


def test_a_programme_ablation_is_the_paired_compare_of_its_override(
    programme_audit: AuditResult,
) -> None:
    """The audit's ablation of the outbound channel = a hand-written paired compare of
    ``acquisition.channels.outbound.spend=0`` (common random numbers), its cost the change of
    the acquisition cost column plus every touchpoint's cost."""
    from simulator import compare

    cfg = load_config([*PROGRAMMES, "acquisition.channels.review_sites.spend=0"])
    cmp = compare(cfg, {"off": {"acquisition.channels.outbound.spend": 0.0}})
    paired = cmp.paired.pivot_table(
        index=["persona", "replication"], columns="metric", values="difference"
    )
    base, off = cmp.results["baseline"], cmp.results["off"]

    def spend(res, persona):
        m = res.monthly if persona == "total" else res.monthly.query("persona == @persona")
        t = res.touchpoints if persona == "total" else res.touchpoints.query("persona == @persona")
        return (
            m.groupby("replication")["acquisition_cost"].sum()
            + t.groupby("replication")["cost"].sum()
        )

    rows = programme_audit.per_replication.query(
        "touchpoint == 'channel:outbound' and analysis == 'ablation'"
    ).set_index(["persona", "replication"])
    assert len(rows) == 5 * 3
    for persona in ("enterprise", "midmarket", "total"):
        got = rows.loc[persona].sort_index()
        want = paired.loc[persona].sort_index()
        np.testing.assert_array_equal(got["incremental_customers"], -want["ending_customers"])
        np.testing.assert_array_equal(got["incremental_arr"], -want["ending_arr"])
        np.testing.assert_array_equal(got["incremental_gross_profit"], -want["gross_profit"])
        cost = (spend(base, persona) - spend(off, persona)).sort_index()
        np.testing.assert_allclose(got["cost"], cost, rtol=1e-12)
    total = rows.loc["total"]
    # the outbound spend ($50,000 a month over 6 months) is most of it; fewer deals, less sales
    assert (total["cost"] > 6 * 50_000).all()
    assert (total["incremental_customers"] > 0).all()
    t = programme_audit.table.query("persona == 'total' and analysis == 'ablation'")
    assert set(t["kind"]) == {"programme"}
    assert "channel:outbound" in programme_audit.format()


def test_programme_activity_costs_are_the_config_and_the_monthly_columns() -> None:
    from simulator.mechanisms.touchpoints import activity

    cfg = load_config(
        [
            *PROGRAMMES,
            "+events.push={type: campaign, month: 3, months: 2, channel: paid_ads, spend: 40000}",
        ]
    )
    res = simulate(cfg, progress=False)
    act = activity(res.monthly, res.params, programmes=True)
    assert set(act["kind"]) == {"touchpoint", "programme"}
    prog = act[act["kind"] == "programme"]
    by = prog.groupby(["touchpoint", "replication"])["cost"].sum()
    # channel spend: $60,000 a month (+$40,000 in months 3 and 4), split between personas
    np.testing.assert_allclose(by.loc["channel:paid_ads"], 6 * 60_000 + 2 * 40_000)
    np.testing.assert_allclose(by.loc["channel:outbound"], 6 * 50_000)
    m = res.monthly
    np.testing.assert_allclose(
        by.loc["customer_success"], m.groupby("replication")["success_cost"].sum()
    )
    white = m[m["persona"] == "enterprise"].groupby("replication")["onboarding_cost"].sum()
    np.testing.assert_allclose(by.loc["onboarding:white_glove"], white)
    assert (prog.loc[prog["touchpoint"] == "knowledge_base", "cost"] == 0).all()
    assert (prog["accounts_reached"].fillna(0) >= 0).all()
    plain = activity(res.monthly, res.params)
    assert "kind" not in plain and len(plain) == (act["kind"] == "touchpoint").sum()


def test_bad_programme_settings_name_the_key() -> None:
    cfg = load_config(TINY)
    with pytest.raises(ConfigError, match=r"audit\.programmes: unknown programme 'nope'"):
        audit(cfg, programmes=["nope"])
    with pytest.raises(ConfigError, match=r"audit.spend_step: must be in \(0, 1\], got 0"):
        audit(cfg, spend_step=0)
    with pytest.raises(ConfigError, match="no touchpoint or programme to audit"):
        audit(cfg, touchpoints=[], programmes=[])
    with pytest.raises(ConfigError) as err:
        load_config(["task=audit", "audit.spend_step=2"])
    assert err.value.problems[0][0] == "audit.spend_step"
