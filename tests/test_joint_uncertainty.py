"""Correlated parameter uncertainty (``uncertainty.<name>.correlation``) and calibrate's
uncertainty entries (``calibrate.uncertainty=true``, ``calibrate.uncertainty_entries``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli
from scipy.stats import norm
from sizes import size

from simulator import load_config
from simulator.calibrate import (
    churn_covariance,
    fit_sbg,
    sbg_survival,
    uncertainty_entries,
    write_overrides,
)
from simulator.errors import ConfigError
from simulator.params import params_of, read_config
from simulator.uncertainty import describe, draws

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "experiments" / "calibration" / "retention_example.csv"


def _entry(name: str, key: str, low: float, high: float, corr: str = "{}") -> str:
    return (
        f"+uncertainty.{name}={{key: {key}, low: {low}, high: {high}, level: 0.95, "
        f"bounds: null, correlation: {corr}}}"
    )


def _log_draws(params, replications: int) -> dict[str, np.ndarray]:
    rows = [draws(params, r) for r in range(replications)]
    return {k: np.log([row[k] for row in rows]) for k in rows[0]}


def test_correlated_entries_have_the_given_marginals_and_correlation() -> None:
    rho, n = -0.8, 4000
    params = params_of(
        load_config(
            [
                *size(8_000, 300, 3, 2),
                _entry("a", "personas.solo.churn.mean", 0.04, 0.09, f"{{b: {rho}}}"),
                _entry("b", "personas.solo.churn.concentration", 5.0, 20.0),
            ]
        )
    )
    x = _log_draws(params, n)
    a, b = x["personas.solo.churn.mean"], x["personas.solo.churn.concentration"]
    z = norm.ppf(0.975)
    for v, (lo, hi) in ((a, (0.04, 0.09)), (b, (5.0, 20.0))):
        mu, sigma = np.log(np.sqrt(lo * hi)), np.log(hi / lo) / (2 * z)
        assert abs(v.mean() - mu) < 4 * sigma / np.sqrt(n)
        assert v.std() == pytest.approx(sigma, rel=0.05)
    # the sample correlation's standard error is about (1 - ρ²) / √n
    assert np.corrcoef(a, b)[0, 1] == pytest.approx(rho, abs=4 * (1 - rho**2) / np.sqrt(n))
    assert "jointly log-normal, correlation -0.8" in describe(params)


def test_independent_entries_draw_exactly_as_before() -> None:
    params = params_of(
        load_config(
            [
                *size(8_000, 300, 3, 2),
                _entry("a", "personas.solo.churn.mean", 0.04, 0.09),
                _entry("b", "personas.smb.churn.mean", 0.03, 0.06),
            ]
        )
    )
    z = norm.ppf(0.975)
    for r in range(5):
        rng = np.random.default_rng([42, r, 0x50_41_52_41_4D])  # uncertainty's own generator
        expected = {}
        for key, lo, hi in (
            ("personas.solo.churn.mean", 0.04, 0.09),
            ("personas.smb.churn.mean", 0.03, 0.06),
        ):
            mu, sigma = np.log(np.sqrt(lo * hi)), np.log(hi / lo) / (2 * z)
            expected[key] = float(np.exp(mu + sigma * rng.standard_normal()))
        got = draws(params, r)
        assert got == pytest.approx(expected, rel=1e-12)
    assert "jointly" not in describe(params)


@pytest.mark.parametrize(
    ("corr_a", "corr_b", "key", "words"),
    [
        ("{c: 0.5}", "{}", "uncertainty.a.correlation.c", "'c' is not an uncertainty entry"),
        ("{a: 0.5}", "{}", "uncertainty.a.correlation.a", "with itself is 1"),
        ("{b: 0.5}", "{a: 0.3}", "uncertainty.b.correlation.a", "disagrees"),
        ("{b: 1.5}", "{}", "uncertainty.a.correlation.b", "[-1, 1], got 1.5"),
    ],
)
def test_bad_correlations_are_named(corr_a: str, corr_b: str, key: str, words: str) -> None:
    overrides = [
        *size(8_000, 300, 3, 2),
        _entry("a", "personas.solo.churn.mean", 0.04, 0.09, corr_a),
        _entry("b", "personas.smb.churn.mean", 0.03, 0.06, corr_b),
    ]
    with pytest.raises(ConfigError) as err:
        read_config(load_config(overrides, validate=False))
    problems = dict(err.value.problems)
    assert key in problems, problems
    assert words in problems[key]


def test_correlations_that_are_not_a_correlation_matrix_are_refused() -> None:
    overrides = [
        *size(8_000, 300, 3, 2),
        _entry("a", "personas.solo.churn.mean", 0.04, 0.09, "{b: 0.9, c: 0.9}"),
        _entry("b", "personas.smb.churn.mean", 0.03, 0.06, "{c: -0.9}"),
        _entry("c", "personas.midmarket.churn.mean", 0.01, 0.02),
    ]
    with pytest.raises(ConfigError) as err:
        read_config(load_config(overrides, validate=False))
    problems = dict(err.value.problems)
    assert "not positive semi-definite" in problems["uncertainty"]


def _simulated_cohorts(alpha: float, beta: float, size_: int, periods: int, seed: int) -> list:
    """Cohorts whose customers churn with θ ~ Beta(α, β) per period (sBG)."""
    rng = np.random.default_rng(seed)
    theta = rng.beta(alpha, beta, size_)
    life = rng.geometric(theta)  # periods survived + 1
    return [int((life > t).sum()) for t in range(periods + 1)]


def test_calibrated_entries_draw_with_the_fits_covariance(tmp_path: Path) -> None:
    fit = fit_sbg([_simulated_cohorts(0.8, 6.0, 3000, 18, seed) for seed in (1, 2, 3)])
    assert sbg_survival(fit.alpha, fit.beta, 1) < 1
    entries, skipped = uncertainty_entries({"solo": fit})
    assert skipped == {} and set(entries) == {"solo_churn_mean", "solo_churn_concentration"}
    path = write_overrides({"solo": fit}, tmp_path / "scenario" / "cal.yaml", uncertainty=entries)
    params = params_of(load_config(["scenario=cal", *size(8_000, 300, 3, 2)], config_dir=tmp_path))
    assert path.exists() and params.personas["solo"].churn.mean == pytest.approx(fit.mean, 1e-5)
    x = _log_draws(params, 4000)
    sample = np.cov(
        np.vstack([x["personas.solo.churn.mean"], x["personas.solo.churn.concentration"]])
    )
    expected = churn_covariance(fit)
    np.testing.assert_allclose(np.sqrt(np.diag(sample)), np.sqrt(np.diag(expected)), rtol=0.06)
    rho = expected[0, 1] / np.sqrt(expected[0, 0] * expected[1, 1])
    got = sample[0, 1] / np.sqrt(sample[0, 0] * sample[1, 1])
    assert got == pytest.approx(rho, abs=4 * (1 - rho**2) / np.sqrt(4000) + 0.01)
    # centred on the fit: the medians are the fitted mean and concentration
    assert np.exp(np.median(x["personas.solo.churn.mean"])) == pytest.approx(fit.mean, rel=0.02)


def test_churn_covariance_is_the_delta_method_of_alpha_and_beta() -> None:
    fit = fit_sbg([_simulated_cohorts(0.8, 6.0, 3000, 18, 4)])
    rng = np.random.default_rng(0)
    ab = np.exp(rng.multivariate_normal(np.log([fit.alpha, fit.beta]), fit.cov_log, 200_000))
    m, c = np.log(ab[:, 0] / ab.sum(axis=1)), np.log(ab.sum(axis=1))
    np.testing.assert_allclose(np.cov(np.vstack([m, c])), churn_covariance(fit), rtol=0.08)


def test_calibrate_then_run_from_the_command_line(tmp_path: Path) -> None:
    proc = run_cli(
        "task=calibrate",
        f"data={EXAMPLE}",
        "match=base",
        "calibrate.uncertainty=true",
        "output.plots=false",
        "hydra.run.dir=cal",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "uncertainty.solo_churn_mean: personas.solo.churn.mean 95% interval" in proc.stdout
    assert "correlation with solo_churn_concentration" in proc.stdout
    text = (tmp_path / "cal" / "scenario" / "calibrated.yaml").read_text()
    assert "uncertainty:" in text and "solo_churn_concentration" in text
    run = run_cli(
        "--config-dir",
        str(tmp_path / "cal"),
        "scenario=calibrated",
        "market.size=20000",
        "initial.customers=600",
        "months=3",
        "replications=3",
        "output.plots=false",
        "hydra.run.dir=run",
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    drawn = summary["config"]["uncertainty"]
    assert drawn["solo_churn_mean"]["correlation"] == {
        "solo_churn_concentration": pytest.approx(-0.822538)
    }
    # without the switch nothing is written
    plain = run_cli(
        "task=calibrate", f"data={EXAMPLE}", "match=base", "output.plots=false",
        "hydra.run.dir=plain", cwd=tmp_path,
    )  # fmt: skip
    assert plain.returncode == 0, plain.stderr
    assert "uncertainty" not in (tmp_path / "plain" / "scenario" / "calibrated.yaml").read_text()


def test_a_bad_calibrate_switch_is_named() -> None:
    overrides = ["task=calibrate", "data=x.csv", "calibrate.uncertainty=maybe"]
    with pytest.raises(ConfigError) as err:
        read_config(load_config(overrides, validate=False))
    assert dict(err.value.problems) == {
        "calibrate.uncertainty": "must be true or false, got 'maybe'"
    }
