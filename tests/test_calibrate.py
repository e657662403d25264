"""Calibration to observed data (``simulator.calibrate``): the shifted-beta-geometric fit
against the published fit of Fader & Hardie (2007), recovery of known parameters with
intervals at their nominal coverage, the right-censored likelihood, the backtest error, the
funnel intervals, bad CSVs, and the written override run by the simulator."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from simulator import load_config, simulate
from simulator.calibrate import (
    CalibrationDataError,
    Cohorts,
    backtest,
    binomial_interval,
    calibrate,
    engine_cohorts,
    fit_personas,
    fit_sbg,
    funnel_rates,
    read_funnel,
    read_retention,
    sbg_loglik,
    write_overrides,
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "experiments" / "calibration"

# Fader & Hardie, "How to Project Customer Retention", Journal of Interactive Marketing 21(1),
# 2007, Table 1: customers of 1,000 still active after years 0-12.
REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241, 223, 207, 194, 183, 173]
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491, 468, 445, 427, 409, 394]


def paper_loglik(alpha: float, beta: float, alive: list[int]) -> float:
    """The paper's log-likelihood written from its recursion (eq. 7):
    P(T=1) = α/(α+β), P(T=t) = (β+t-2)/(α+β+t-1) P(T=t-1); S(t) = 1 - Σ P."""
    p = alpha / (alpha + beta)
    s = 1.0 - p
    ll = (alive[0] - alive[1]) * math.log(p)
    for t in range(2, len(alive)):
        p = (beta + t - 2) / (alpha + beta + t - 1) * p
        s -= p
        ll += (alive[t - 1] - alive[t]) * math.log(p)
    return ll + alive[-1] * math.log(s)


def paper_survival(alpha: float, beta: float, periods: int) -> np.ndarray:
    """S(t), t = 0..periods, by the same recursion."""
    out, p, s = [1.0], alpha / (alpha + beta), 1.0
    for t in range(1, periods + 1):
        if t > 1:
            p = (beta + t - 2) / (alpha + beta + t - 1) * p
        s -= p
        out.append(s)
    return np.array(out)


def simulate_cohort(rng: np.random.Generator, n: int, alpha: float, beta: float, periods: int):
    """alive[0..periods] of n customers with θ ~ Beta(α, β), churn each period w.p. θ."""
    theta = rng.beta(alpha, beta, size=n)
    life = rng.geometric(theta)  # period of churn, 1, 2, ...
    return [n] + [int((life > t).sum()) for t in range(1, periods + 1)]


# --------------------------------------------------------------------------- published fit


@pytest.mark.parametrize(
    ("alive", "alpha", "beta", "loglik"),
    [(REGULAR, 0.704, 1.182, -1680.3), (HIGH_END, 0.668, 3.806, -1611.2)],
    ids=["regular", "high_end"],
)
def test_reproduces_the_published_fit_of_fader_hardie(alive, alpha, beta, loglik) -> None:
    fit = fit_sbg(alive[:8])  # the paper fits years 1-7
    assert round(fit.alpha, 3) == alpha and round(fit.beta, 3) == beta
    assert round(fit.loglik, 1) == loglik
    assert fit.loglik == pytest.approx(paper_loglik(fit.alpha, fit.beta, alive[:8]), abs=1e-8)
    assert fit.alpha_ci[0] < alpha < fit.alpha_ci[1] and fit.beta_ci[0] < beta < fit.beta_ci[1]
    # The profile interval is where the log-likelihood has dropped by χ²₁(0.95)/2.
    drop = stats.chi2.ppf(0.95, 1) / 2
    for lo_hi in fit.alpha_ci:
        others = np.exp(np.linspace(-3, 3, 6001))
        best = max(paper_loglik(lo_hi, b, alive[:8]) for b in others)
        assert fit.loglik - best == pytest.approx(drop, abs=2e-3)
    # Survival, retention and the mean/concentration of the engine's parametrisation.
    assert np.allclose(fit.predict(12), paper_survival(fit.alpha, fit.beta, 12))
    s = fit.predict(12)
    assert np.allclose(fit.retention(12), s[1:] / s[:-1])
    assert fit.mean == pytest.approx(alpha / (alpha + beta), rel=2e-3)
    assert fit.mean_ci[0] < fit.mean < fit.mean_ci[1]
    assert fit.concentration_ci[0] < fit.concentration < fit.concentration_ci[1]


def test_published_csv_fits_per_persona() -> None:
    fits = fit_personas(read_retention(EXAMPLES / "fader_hardie_2007.csv"), holdout=7)
    assert round(fits["regular"].alpha, 3) == 0.704 and round(fits["high_end"].beta, 3) == 3.806


# --------------------------------------------------------------------------- likelihood


def test_multi_cohort_likelihood_is_the_sum_of_right_censored_cohorts() -> None:
    a, b = 0.9, 2.5
    one = [500, 400, 330, 290, 260]
    # One cohort: the multi-cohort form equals the single-cohort one and the paper's.
    assert sbg_loglik(a, b, [one]) == pytest.approx(sbg_loglik(a, b, one), abs=1e-10)
    assert sbg_loglik(a, b, one) == pytest.approx(paper_loglik(a, b, one), abs=1e-9)
    # Several cohorts of different ages: each censored at its own age.
    cohorts = [one, [300, 250, 220], [200, 170]]
    total = sum(paper_loglik(a, b, c) for c in cohorts)
    assert sbg_loglik(a, b, cohorts) == pytest.approx(total, abs=1e-9)
    assert Cohorts.of(cohorts).customers == 1000
    # A joint fit of one cohort is the single-cohort fit.
    assert fit_sbg([REGULAR[:8]]).alpha == pytest.approx(fit_sbg(REGULAR[:8]).alpha, rel=1e-9)


def test_bad_alive_series_are_refused_by_index() -> None:
    with pytest.raises(ValueError, match=r"alive\[2\]: active customers cannot increase"):
        fit_sbg([100, 80, 90])
    with pytest.raises(ValueError, match=r"alive\[1\]: must be a whole number >= 0, got -3"):
        fit_sbg([100, -3])
    with pytest.raises(ValueError, match="needs the cohort size"):
        fit_sbg([100])


# --------------------------------------------------------------------------- recovery


def test_recovers_known_parameters_with_nominal_coverage() -> None:
    """100 data sets from known α, β (one cohort of 1,000 over 8 periods, and a cohort
    of 600 over 10 periods with two younger ones): 95% profile intervals cover α and β in about
    95% of fits (binomial(100, 0.95): ~89-99%), the estimates centre on the truth."""
    rng = np.random.default_rng(20261125)
    alpha, beta = 0.8, 2.0
    hits = {"alpha": 0, "beta": 0}
    means = []
    fits = 100
    for i in range(fits):
        if i % 2:
            data = simulate_cohort(rng, 1000, alpha, beta, 8)
        else:
            data = [simulate_cohort(rng, 600, alpha, beta, 10),
                    simulate_cohort(rng, 300, alpha, beta, 6),
                    simulate_cohort(rng, 300, alpha, beta, 3)]  # fmt: skip
        fit = fit_sbg(data)
        hits["alpha"] += fit.alpha_ci[0] <= alpha <= fit.alpha_ci[1]
        hits["beta"] += fit.beta_ci[0] <= beta <= fit.beta_ci[1]
        means.append(fit.mean)
    for name, h in hits.items():
        assert 0.89 <= h / fits <= 0.995, (name, h)
    assert np.mean(means) == pytest.approx(alpha / (alpha + beta), abs=0.005)


# --------------------------------------------------------------------------- backtest


def test_backtest_error_is_the_mape_of_the_held_out_periods() -> None:
    bt = backtest(REGULAR, 7)
    # The fit uses years 0-7 only: the paper's fit.
    assert round(bt.fit.alpha, 3) == 0.704 and round(bt.fit.beta, 3) == 1.182
    predicted = 1000 * paper_survival(bt.fit.alpha, bt.fit.beta, 12)[8:]
    observed = np.array(REGULAR[8:])
    assert bt.table["period"].tolist() == [8, 9, 10, 11, 12]
    assert np.allclose(bt.table["predicted"], predicted)
    assert bt.mape == pytest.approx(np.mean(np.abs(predicted - observed) / observed) * 100)
    assert bt.mape_pooled == pytest.approx(bt.mape)  # one cohort: the same
    # Several cohorts: only the periods after K of the cohorts observed that long are scored.
    two = backtest([[1000, 500, 300, 200], [1000, 500]], 2)
    assert two.table["period"].tolist() == [3]
    s3 = paper_survival(two.fit.alpha, two.fit.beta, 3)[3]
    assert two.mape == pytest.approx(abs(1000 * s3 - 200) / 200 * 100)
    with pytest.raises(ValueError, match="holdout"):
        backtest(REGULAR, 12)


# --------------------------------------------------------------------------- funnel


@pytest.mark.parametrize(("x", "n"), [(81, 263), (0, 20), (20, 20), (3, 7)])
def test_wilson_interval_inverts_the_score_test(x: int, n: int) -> None:
    z = stats.norm.ppf(0.975)
    lo, hi = binomial_interval(x, n)
    for p in (lo, hi):
        if 0 < p < 1:  # the ends solve (x/n - p)² = z² p(1-p)/n
            assert (x / n - p) ** 2 == pytest.approx(z * z * p * (1 - p) / n, abs=1e-12)
    assert lo <= x / n <= hi
    j_lo, j_hi = binomial_interval(x, n, method="jeffreys")
    if 0 < x < n:
        assert j_lo == pytest.approx(stats.beta.ppf(0.025, x + 0.5, n - x + 0.5))
        assert j_hi == pytest.approx(stats.beta.ppf(0.975, x + 0.5, n - x + 0.5))


def test_funnel_rates_from_counts(tmp_path: Path) -> None:
    path = tmp_path / "funnel.csv"
    path.write_text("persona,leads,trials,paid\nsolo,100,40,10\nsolo,100,60,20\nsmb,50,10,5\n")
    rates = funnel_rates(read_funnel(path, ["solo", "smb"]))
    solo = rates[rates["persona"] == "solo"].set_index("step")
    assert solo.loc["lead_to_trial", "rate"] == pytest.approx(0.5)
    assert solo.loc["trial_to_paid", "rate"] == pytest.approx(0.3)
    total = rates[rates["persona"] == "total"].set_index("step")
    assert total.loc["lead_to_paid", "successes"] == 35
    assert total.loc["lead_to_paid", "trials"] == 250


# --------------------------------------------------------------------------- bad CSVs

GOOD = (
    "persona,cohort,period,active\n"
    "solo,m1,0,100\nsolo,m1,1,90\nsolo,m1,2,85\nsmb,m1,0,50\nsmb,m1,1,45\n"
)


@pytest.mark.parametrize(
    ("edit", "where", "words"),
    [
        (("solo,m1,1,90", "solo,m1,1,-4"), "row 2 (line 3), column active", "got '-4'"),
        (("solo,m1,2,85", "solo,m1,2,95"), "row 3 (line 4), column active", "got 95"),
        (("smb,m1,0,50", "ghost,m1,0,50"), "row 4 (line 5), column persona", "'ghost'"),
        (("solo,m1,1,90", "solo,m1,one,90"), "row 2 (line 3), column period", "'one'"),
        (("solo,m1,0,100", "solo,m1,5,100"), "column period", "no period 0"),
        (
            ("persona,cohort,period,active", "persona,cohort,month,active"),
            "column period",
            "missing",
        ),
        (("solo,m1,2,85", "solo,m1,1,85"), "row 3 (line 4), column period", "given twice"),
    ],
)
def test_bad_retention_csv_names_row_column_and_value(tmp_path: Path, edit, where, words) -> None:
    path = tmp_path / "cohorts.csv"
    path.write_text(GOOD.replace(*edit))
    with pytest.raises(CalibrationDataError) as err:
        read_retention(path, ["solo", "smb", "midmarket", "enterprise"])
    assert len(err.value.problems) == 1, err.value.problems
    key, message = err.value.problems[0]
    assert where in key and words in message, (key, message)


def test_good_csv_reads_and_fits(tmp_path: Path) -> None:
    path = tmp_path / "cohorts.csv"
    path.write_text(GOOD)
    table = read_retention(path, ["solo", "smb"])
    assert table.groupby("persona")["period"].max().to_dict() == {"smb": 1, "solo": 2}


# --------------------------------------------------------------------------- the engine


def test_written_override_runs_in_the_simulator(tmp_path: Path) -> None:
    fits = {"solo": fit_sbg(REGULAR[:8]), "smb": (0.05, None)}
    path = write_overrides(fits, tmp_path / "scenario" / "calibrated.yaml", note="a test")
    assert path.read_text().startswith("# @package _global_\n# a test\n")
    cfg = load_config(
        ["scenario=calibrated", "months=2", "replications=1", "market.size=5000",
         "initial.customers=200"],
        config_dir=tmp_path,
    )  # fmt: skip
    assert cfg.scenario_name == "calibrated"
    assert cfg.personas.solo.churn.mean == pytest.approx(fits["solo"].mean, rel=1e-5)
    assert cfg.personas.solo.churn.concentration == pytest.approx(
        fits["solo"].concentration, rel=1e-5
    )
    assert cfg.personas.smb.churn.concentration is None
    res = simulate(cfg, progress=False)
    assert len(res.monthly) == 2 * 4


def test_base_mapping_is_exact_when_only_base_churn_acts() -> None:
    """With only acquisition on (monthly billing, health 0, no failed payments), the engine's
    new cohorts churn by the base Beta: an sBG fit of them recovers churn.mean and
    churn.concentration within its intervals. smb's card-required trial adds forgot-to-cancel
    churn: off here."""
    cfg = load_config([
        "mechanisms=all_off", "mechanisms.acquisition=true", "months=24", "seed=7",
        "personas.solo.churn.mean=0.08", "personas.solo.churn.concentration=6",
        "personas.smb.decision.forgot_to_cancel=0",
    ])  # fmt: skip
    fits = fit_personas(engine_cohorts(cfg))
    for name, f in fits.items():
        pc = cfg.personas[name].churn
        assert f.mean_ci[0] <= pc.mean <= f.mean_ci[1], (name, f.mean_ci, pc.mean)
        assert f.concentration_ci[0] <= pc.concentration <= f.concentration_ci[1], name
    # Power: the same check rejects the mean of the other personas.
    solo = fits["solo"]
    assert not solo.mean_ci[0] <= cfg.personas.smb.churn.mean <= solo.mean_ci[1]


@pytest.mark.slow
def test_engine_match_brings_the_engine_to_the_fitted_churn() -> None:
    """With every mechanism on, the engine's cohorts churn faster than the base (activation
    failures, failed payments): the engine-matched base mean is lower, and the engine's
    cohorts with it churn at the data's fitted mean (within its interval)."""
    table = pd.read_csv(EXAMPLES / "retention_example.csv", dtype={"cohort": str})
    result = calibrate(
        load_config([]), EXAMPLES / "retention_example.csv", match="engine", iterations=3
    )
    assert len(table) == 1296
    last = result.match_table[result.match_table["iteration"] == 3].set_index("persona")
    solo = result.fits["solo"]
    assert result.settings["solo"][0] < solo.mean
    assert solo.mean_ci[0] <= last.loc["solo", "engine_mean"] <= solo.mean_ci[1]
