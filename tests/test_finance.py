"""Finance metrics against a hand-computed book; the engine's recognised and deferred revenue and
won-back retention; quantiles and charts against numpy; the finance report.

The hand book: five customers, one persona each of two personas, a quiet year (months 1-12:
A $100, B $200, C $50, D $80 on monthly plans, nothing moves) so the trailing 12-month cohort
exists, then three months of events:

- month 13: D churns (−$80); E signs an annual contract at $100 MRR, billed $1,200 up front;
- month 14: A upgrades $100 → $150; B downgrades $200 → $120; C churns (−$50);
- month 15: D is won back at $80 (reactivation).

Costs: acquisition $3,000 and referral rewards $300 for E (month 13), onboarding $200; COGS 10%
and support 5% of recognised revenue each month (gross margin 85%).
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sizes import size

from simulator import JourneyModel, load_config, report, simulate
from simulator.experiments.montecarlo import SimulationResult
from simulator.metrics import (
    FinanceSettings,
    discounted_ltv,
    metric_bands,
    monthly_metrics,
    persona_summary,
    summarize,
)
from simulator.params import params_of
from simulator.plots import bridge_net_median, fan_quantiles, plot_arr_fan, plot_mrr_bridge
from simulator.report import SECTIONS
from simulator.results import MONTHLY_COLUMNS

# ------------------------------------------------------------------------- the hand book
#: MRR of each account at the end of each month (0 = not paying), months 1..15.
QUIET = {"A": 100.0, "B": 200.0, "C": 50.0, "D": 80.0, "E": 0.0}
EVENTS = {
    13: {"A": 100.0, "B": 200.0, "C": 50.0, "D": 0.0, "E": 100.0},
    14: {"A": 150.0, "B": 120.0, "C": 0.0, "D": 0.0, "E": 100.0},
    15: {"A": 150.0, "B": 120.0, "C": 0.0, "D": 80.0, "E": 100.0},
}
PERSONA = {"A": "small", "B": "small", "C": "small", "D": "small", "E": "big"}


def _mrr(month: int) -> dict[str, float]:
    return EVENTS.get(month, QUIET) if month >= 1 else QUIET


def _row(month: int, persona: str) -> dict:
    """One persona's row of the hand table, every number from the account list above."""
    accounts = [a for a, p in PERSONA.items() if p == persona]
    before, now = _mrr(month - 1), _mrr(month)
    year_ago = _mrr(month - 12) if month >= 13 else None
    row = dict.fromkeys(MONTHLY_COLUMNS, 0)
    flows = dict.fromkeys(
        ["new_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr", "reactivation_mrr"], 0.0
    )
    counts = {"new": 0, "churned": 0, "reactivated": 0}
    for a in accounts:
        b, n = before[a], now[a]
        if b == 0 and n > 0:
            ever = any(_mrr(m)[a] > 0 for m in range(0, month - 1))
            kind = "reactivated" if ever else "new"
            counts[kind] += 1
            flows["reactivation_mrr" if ever else "new_mrr"] += n
        elif b > 0 and n == 0:
            counts["churned"] += 1
            flows["churned_mrr"] += b
        elif n > b:
            flows["expansion_mrr"] += n - b
        elif n < b:
            flows["contraction_mrr"] += b - n
    paying = [a for a in accounts if now[a] > 0]
    recognised = sum(now[a] for a in paying)
    # cash: monthly accounts pay their month; E's annual term is billed in full when it starts
    cash = sum(now[a] for a in paying if a != "E") + (
        1200.0 if (persona == "big" and month == 13) else 0.0
    )
    deferred = 100.0 * (12 - (month - 12)) if (persona == "big" and month >= 13) else 0.0
    row.update(
        scenario="hand",
        replication=0,
        month=month,
        persona=persona,
        n_active=len(paying),
        customers=len(paying),
        new_customers=counts["new"],
        churned_customers=counts["churned"],
        reactivated_customers=counts["reactivated"],
        mrr_start=sum(before[a] for a in accounts),
        mrr_end=sum(now[a] for a in accounts),
        arr=12 * sum(now[a] for a in accounts),
        revenue=cash,
        recognised_revenue=recognised,
        deferred_revenue=deferred,
        cogs=0.10 * recognised,
        support_cost=0.05 * recognised,
        acquisition_cost=3000.0 if (persona == "big" and month == 13) else 0.0,
        referral_cost=300.0 if (persona == "big" and month == 13) else 0.0,
        onboarding_cost=200.0 if (persona == "big" and month == 13) else 0.0,
        **flows,
    )
    if year_ago is not None:
        cohort = [a for a in accounts if year_ago[a] > 0]
        left = {a for a in cohort if any(_mrr(m)[a] == 0 for m in range(month - 11, month + 1))}
        won = [a for a in cohort if a in left and now[a] > 0]
        row.update(
            mrr_12m_ago=sum(year_ago[a] for a in cohort),
            retained_mrr_12m=sum(now[a] for a in cohort),
            gross_retained_mrr_12m=sum(min(now[a], year_ago[a]) for a in cohort),
            won_back_mrr_12m=sum(now[a] for a in won),
            gross_won_back_mrr_12m=sum(min(now[a], year_ago[a]) for a in won),
        )
    return row


def hand_table() -> pd.DataFrame:
    rows = [_row(m, p) for m in range(1, 16) for p in ("small", "big")]
    return pd.DataFrame(rows, columns=list(MONTHLY_COLUMNS))


FIN = FinanceSettings(discount_rate=0.0, steady_from_month=13)


def test_the_hand_table_is_the_book_described() -> None:
    t = hand_table()
    tot = t.groupby("month")[["mrr_start", "mrr_end", "revenue", "recognised_revenue"]].sum()
    assert tot.loc[12, "mrr_end"] == 430 and tot.loc[13, "mrr_end"] == 450
    assert tot.loc[14, "mrr_end"] == 370 and tot.loc[15, "mrr_end"] == 450
    bridge = (
        t["mrr_start"] + t["new_mrr"] + t["expansion_mrr"] + t["reactivation_mrr"]
        - t["contraction_mrr"] - t["churned_mrr"]
    )  # fmt: skip
    np.testing.assert_allclose(bridge, t["mrr_end"])
    assert tot.loc[13, "revenue"] == 350 + 1200 and tot.loc[13, "recognised_revenue"] == 450
    # deferred revenue = Σ (billed − recognised), from an opening balance of 0
    cum = (t["revenue"] - t["recognised_revenue"]).groupby(t["month"]).sum().cumsum()
    np.testing.assert_allclose(cum, t.groupby("month")["deferred_revenue"].sum())


def test_every_headline_metric_against_the_hand_book() -> None:
    s = {k: v["median"] for k, v in summarize(hand_table(), FIN).items()}
    assert s["ending_arr"] == 12 * 450 and s["ending_mrr"] == 450 and s["ending_customers"] == 4
    assert s["new_customers"] == 1 and s["new_mrr"] == 100
    starts = 12 * 4 + 4 + 4 + 3  # customers at the start of months 1..15
    assert s["monthly_logo_churn"] == pytest.approx(2 / starts)
    mrr_starts = 12 * 430 + 430 + 450 + 370
    assert s["monthly_gross_mrr_churn"] == pytest.approx((80 + 50 + 80) / mrr_starts)
    assert s["monthly_net_mrr_churn"] == pytest.approx((80 + 50 + 80 - 50) / mrr_starts)
    # the cohort paying at month 3 (A, B, C, D: $430); now A 150, B 120, D 80 won back
    assert s["nrr_12m"] == pytest.approx((150 + 120) / 430)
    assert s["grr_12m"] == pytest.approx((100 + 120) / 430)
    assert s["arpa"] == pytest.approx(450 / 4) and s["arpa_new"] == pytest.approx(100)
    assert s["recognised_revenue"] == pytest.approx(12 * 430 + 450 + 370 + 450)
    assert s["revenue"] == pytest.approx(12 * 430 + 1550 + 270 + 350)
    assert s["deferred_revenue"] == pytest.approx(900)
    assert s["revenue"] - s["recognised_revenue"] == pytest.approx(s["deferred_revenue"])
    assert s["gross_margin"] == pytest.approx(0.85)
    assert s["cac"] == pytest.approx(3300) and s["onboarding_cost_per_new"] == pytest.approx(200)
    assert s["payback_months"] == pytest.approx(3300 / (100 * 0.85))
    # LTV over months 13-15 only: churn 2 / (4 + 4 + 3), ARPA (450 + 370 + 450) / (4 + 3 + 4)
    ltv = (1270 / 11) * 0.85 / (2 / 11)
    assert s["ltv"] == pytest.approx(ltv) and s["ltv_to_cac"] == pytest.approx(ltv / 3300)
    churn, arpa = [1 / 4, 1 / 4, 0.0], [450 / 4, 370 / 3, 450 / 4]
    by_hand = arpa[0] + arpa[1] * 0.75 + arpa[2] * 0.75 * 0.75 + arpa[2] * 0.5625 / (1 / 6)
    assert s["ltv_discounted"] == pytest.approx(0.85 * by_hand)
    assert discounted_ltv(np.array(churn), np.array(arpa), 0.85, 0.0) == pytest.approx(
        0.85 * by_hand
    )
    assert s["quick_ratio"] == pytest.approx((100 + 50) / (50 + 80 + 80))


def test_reactivation_counts_in_retention_only_when_asked() -> None:
    fin = FinanceSettings(0.0, 13, retention_includes_reactivation=True)
    s = {k: v["median"] for k, v in summarize(hand_table(), fin).items()}
    assert s["nrr_12m"] == pytest.approx((150 + 120 + 80) / 430)
    assert s["grr_12m"] == pytest.approx((100 + 120 + 80) / 430)
    mrr_starts = 12 * 430 + 430 + 450 + 370
    assert s["monthly_net_mrr_churn"] == pytest.approx((210 - 50 - 80) / mrr_starts)
    # the steady-state window moves LTV, nothing else of the horizon
    all_months = summarize(hand_table(), FinanceSettings(0.0, 1))
    assert all_months["ltv"]["median"] == pytest.approx((430 * 12 + 1270) / 59 * 0.85 / (2 / 59))
    assert all_months["cac"] == summarize(hand_table(), FIN)["cac"]


def test_monthly_metrics_of_the_hand_book() -> None:
    m = monthly_metrics(hand_table())
    tot = m[m["persona"] == "total"].set_index("month")
    assert tot.loc[14, "logo_churn"] == pytest.approx(1 / 4)
    assert tot.loc[15, "logo_churn"] == 0.0
    assert tot.loc[14, "gross_mrr_churn"] == pytest.approx(130 / 450)
    assert tot.loc[14, "net_mrr_churn"] == pytest.approx(80 / 450)
    assert tot.loc[14, "net_new_mrr"] == -80 and tot.loc[15, "net_new_mrr"] == 80
    assert tot.loc[13, "nrr_12m"] == pytest.approx(350 / 430)
    assert tot.loc[14, "grr_12m"] == pytest.approx(220 / 430)
    assert tot.loc[15, "nrr_12m"] == pytest.approx(270 / 430)
    assert np.isnan(tot.loc[12, "nrr_12m"])  # no 12-month cohort before month 13
    assert tot.loc[13, "cac"] == 3300 and np.isnan(tot.loc[14, "cac"])
    assert tot.loc[13, "payback_months"] == pytest.approx(3300 / 85)
    assert tot.loc[13, "quick_ratio"] == pytest.approx(100 / 80)
    assert tot.loc[15, "logo_churn_12m"] == pytest.approx(2 / (4 * 9 + 4 + 4 + 3))
    assert list(tot["deferred_revenue"].loc[13:15]) == [1100, 1000, 900]
    assert tot.loc[13, "revenue"] == 1550 and tot.loc[13, "recognised_revenue"] == 450
    big = m[m["persona"] == "big"].set_index("month")
    small = m[m["persona"] == "small"].set_index("month")
    assert big.loc[13, "cac"] == 3300 and np.isnan(small.loc[13, "cac"])
    np.testing.assert_allclose(big["mrr"] + small["mrr"], tot["mrr"])
    assert (m["grr_12m"].dropna() <= 1.0).all()
    per = persona_summary(hand_table(), FIN).set_index(["persona", "metric"])
    assert per.loc[("big", "deferred_revenue"), "median"] == 900
    assert per.loc[("small", "new_customers"), "median"] == 0
    assert per.loc[("small", "grr_12m"), "median"] == pytest.approx(220 / 430)


# ---------------------------------------------------------------------- simulated runs
@pytest.fixture(scope="module")
def run5() -> SimulationResult:
    """A small run of five replications (14 months: a 12-month cohort exists)."""
    return simulate(load_config(size(20_000, 600, 14, 5)), progress=False)


def test_quantiles_and_fan_chart_match_numpy(run5: SimulationResult) -> None:
    monthly = run5.monthly
    m = monthly_metrics(monthly)
    bands = metric_bands(m)
    for persona, metric, month in (
        ("total", "arr", 14),
        ("smb", "logo_churn", 7),
        ("total", "nrr_12m", 14),
    ):
        values = m[(m.persona == persona) & (m.month == month)][metric].to_numpy(float)
        row = bands[(bands.persona == persona) & (bands.metric == metric) & (bands.month == month)]
        np.testing.assert_allclose(
            row[["p10", "p50", "p90"]].to_numpy()[0], np.nanpercentile(values, [10, 50, 90])
        )
    tot = monthly.groupby(["replication", "month"])[["mrr_end", "mrr_start"]].sum().reset_index()
    q = fan_quantiles(monthly, "arr")
    month0 = 12 * tot[tot.month == 1]["mrr_start"].to_numpy()
    np.testing.assert_allclose(q.loc[0].to_numpy(), np.percentile(month0, [10, 25, 50, 75, 90]))
    end = 12 * tot[tot.month == 9]["mrr_end"].to_numpy()
    np.testing.assert_allclose(q.loc[9].to_numpy(), np.percentile(end, [10, 25, 50, 75, 90]))
    fig = plot_arr_fan(monthly)
    ax = fig.axes[0]
    median = next(line for line in ax.get_lines() if line.get_label() == "median")
    assert median.get_xdata()[0] == 0  # anchored at month 0
    np.testing.assert_allclose(median.get_ydata(), q[0.5].to_numpy())
    ax.figure.canvas.draw()
    ticks = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert all(re.fullmatch(r"\$[\d.]+[kMB]?", t) for t in ticks), ticks
    assert any(t.endswith("M") for t in ticks)


def test_bridge_net_line_is_the_median_of_the_net_movement(run5: SimulationResult) -> None:
    monthly = run5.monthly
    tot = monthly.groupby(["replication", "month"])[["mrr_end", "mrr_start"]].sum().reset_index()
    net = (tot["mrr_end"] - tot["mrr_start"]).groupby(tot["month"])
    expected = net.median().to_numpy()
    fig = plot_mrr_bridge(monthly)
    line = next(x for x in fig.axes[0].get_lines() if "net" in str(x.get_label()))
    np.testing.assert_allclose(line.get_ydata(), expected)
    np.testing.assert_allclose(bridge_net_median(monthly).to_numpy(), expected)
    old = tot.groupby("month")["mrr_end"].median() - tot.groupby("month")["mrr_start"].median()
    assert not np.allclose(old.to_numpy(), expected)  # the two readings differ on this run


def test_grr_never_above_one_and_reactivation_only_adds(run5: SimulationResult) -> None:
    without = monthly_metrics(run5.monthly)
    with_ = monthly_metrics(run5.monthly, include_reactivation=True)
    assert (without["grr_12m"].dropna() <= 1.0 + 1e-12).all()
    assert (with_["grr_12m"].dropna() <= 1.0 + 1e-12).all()
    assert (with_["nrr_12m"].dropna() >= without["nrr_12m"].dropna() - 1e-12).all()
    assert without["nrr_12m"].notna().sum() > 0


def test_recognised_revenue_equals_cash_when_everyone_pays_monthly() -> None:
    res = simulate(
        load_config([*size(8_000, 300, 4, 1), "mechanisms.annual_contracts=false"]),
        progress=False,
    )
    np.testing.assert_array_equal(res.monthly["recognised_revenue"], res.monthly["revenue"])
    assert (res.monthly["deferred_revenue"] == 0).all()


def test_deferred_revenue_is_the_opening_balance_plus_billed_less_recognised() -> None:
    """With annual terms billed up front: deferred at the end of each month = deferred at
    month 0 (annual accounts' MRR × months of term left) + Σ (billed − recognised)."""
    params = params_of(load_config([*size(20_000, 600, 15, 1), "scenario=annual_push"]))
    model = JourneyModel(params, 0)
    opening = sum(
        float(np.sum(a.pop.mrr.astype(np.float64) * (a.pop.annual & (a.pop.mrr > 0))
                     * (a.pop.term_end.astype(np.int64) - 1)))
        for a in model.persona_agents
    )  # fmt: skip
    for _ in range(params.months):
        model.step()
    t = (
        pd.DataFrame(model.records)
        .groupby("month")[["revenue", "recognised_revenue", "deferred_revenue"]]
        .sum()
    )
    assert opening > 0 and (t["revenue"] != t["recognised_revenue"]).any()
    np.testing.assert_allclose(
        opening + (t["revenue"] - t["recognised_revenue"]).cumsum(),
        t["deferred_revenue"],
        rtol=1e-9,
    )


# --------------------------------------------------------------------------------- report
def test_report_is_self_contained_and_names_its_sections(
    run5: SimulationResult, tmp_path: Path
) -> None:
    written = report(run5, tmp_path)
    page = written.html.read_text()
    assert written.html.name == "report.html" and not written.partial
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "http://" not in page and "https://" not in page
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) >= 4
    assert all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in images)
    md = written.markdown.read_text()
    for title in SECTIONS:
        assert f"<h2>{title}</h2>" in page and f"## {title}" in md
    assert "Monte Carlo sampling only" in page
    assert not written.skipped  # every section drawn, the cohort heatmaps from the run's table
    assert "PARTIAL" not in page
    for name in re.findall(r"\]\((report_files/[^)]+)\)", md):
        assert (tmp_path / name).stat().st_size > 1000
    assert not list(tmp_path.glob("*.tmp"))


def test_report_of_a_partial_run_is_labelled(run5: SimulationResult, tmp_path: Path) -> None:
    two = run5.monthly[run5.monthly["replication"] < 2]
    stopped = SimulationResult(two, run5.params, run5.config, meta={"interrupted": True})
    stopped.save(tmp_path, plots=False)
    assert not (tmp_path / "monthly.parquet").exists()
    written = report(tmp_path)
    assert written.partial and written.html.name == "report.partial.html"
    page = written.html.read_text()
    assert "PARTIAL RUN" in page and "2 of 5 replications" in page
    assert not (tmp_path / "report.html").exists()


def test_report_with_a_cohort_table_draws_the_heatmap(
    run5: SimulationResult, tmp_path: Path
) -> None:
    assert run5.cohorts is not None and len(run5.cohorts)  # every run records its cohorts
    written = report(run5, tmp_path)
    assert "Cohort retention" not in written.skipped
    assert 'alt="Cohort retention heatmap"' in written.html.read_text()
    bare = SimulationResult(run5.monthly, run5.params, run5.config)  # a table alone
    assert "Cohort retention" in report(bare, tmp_path / "bare").skipped


# ------------------------------------------------------------------ parameter uncertainty
UNSURE = (
    "+uncertainty.solo_churn={key: personas.solo.churn.mean, low: 0.03, high: 0.09, "
    "level: 0.95, bounds: [0.001, 0.5]}"
)


def test_parameter_draws_are_log_normal_on_the_interval_and_reproducible() -> None:
    from scipy.stats import norm

    from simulator.uncertainty import drawn_table, draws, replication_params

    fixed = params_of(load_config(size(8_000, 300, 3, 2)))
    assert draws(fixed, 0) == {} and replication_params(fixed, 0) is fixed
    params = params_of(load_config([*size(8_000, 300, 3, 4000), UNSURE]))
    table = drawn_table(params)
    assert table.equals(drawn_table(params))  # the same seed draws the same values
    x = np.log(table["value"].to_numpy())
    mu, sigma = np.log(np.sqrt(0.03 * 0.09)), np.log(3.0) / (2 * norm.ppf(0.975))
    assert abs(x.mean() - mu) < 4 * sigma / np.sqrt(x.size)
    assert x.std() == pytest.approx(sigma, rel=0.05)
    inside = ((table["value"] >= 0.03) & (table["value"] <= 0.09)).mean()
    assert inside == pytest.approx(0.95, abs=0.015)
    one = replication_params(params, 7)
    assert one.personas["solo"].churn.mean == pytest.approx(table["value"].iloc[7])
    assert one.personas["smb"] == params.personas["smb"]


def test_bands_with_parameter_uncertainty_are_wider_and_the_report_says_so(
    tmp_path: Path,
) -> None:
    base = size(20_000, 600, 6, 6)
    fixed = simulate(load_config(base), progress=False)
    unsure = simulate(load_config([*base, UNSURE]), progress=False)

    def spread(res: SimulationResult) -> float:
        last = res.monthly[(res.monthly.month == 6) & (res.monthly.persona == "solo")]
        n = last.groupby("replication")["customers"].sum()
        return float(n.std() / n.mean())

    assert spread(unsure) > 2 * spread(fixed)
    page = report(unsure, tmp_path).html.read_text()
    assert "Parameter uncertainty and Monte Carlo sampling" in page
    assert "personas.solo.churn.mean: log-normal, central 95% interval [0.03, 0.09]" in page
    assert "Monte Carlo sampling only" not in page


def test_a_bad_drawn_parameter_is_named_before_any_work() -> None:
    from simulator.errors import ConfigError
    from simulator.params import read_config

    bad = "+uncertainty.x={key: personas.solo.churn.mean, low: 0.3, high: 1.9, level: 0.95, "
    bad += "bounds: null}"
    typo = "+uncertainty.y={key: personas.solo.churn.meen, low: 0.1, high: 0.2, level: 0.9, "
    typo += "bounds: null}"
    with pytest.raises(ConfigError) as err:
        read_config(load_config([*size(8_000, 300, 3, 2), bad, typo], validate=False))
    text = str(err.value)
    assert "uncertainty.x.high: personas.solo.churn.mean = 1.9" in text and "[0, 1]" in text
    assert "uncertainty.y.key: 'personas.solo.churn.meen' is not a numeric setting" in text
