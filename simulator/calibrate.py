"""Calibration to observed data: customer retention (shifted-beta-geometric) and funnel rates.

The shifted-beta-geometric (sBG) model of Fader & Hardie ("How to Project Customer Retention",
Journal of Interactive Marketing 21(1), 2007, 76-90): each customer has a constant churn
probability θ per period, θ ~ Beta(α, β) across customers, so

    P(T = t) = B(α + 1, β + t - 1) / B(α, β)      (churn in period t = 1, 2, …)
    S(t)     = B(α, β + t) / B(α, β)              (still active after period t)
    r(t)     = S(t) / S(t - 1) = (β + t - 1) / (α + β + t - 1)   (retention rate of period t)

A cohort of n customers observed for T periods, with ``alive[t]`` still active after period t,
has the log-likelihood Σₜ (alive[t-1] - alive[t]) ln P(T = t) + alive[T] ln S(T): the
customers still active at the end are right-censored. Several cohorts of different ages add
their log-likelihoods, each censored at its own age.

The engine's base churn is the same law (``personas.<name>.churn``: each account draws θ from
Beta with mean = α / (α + β) and concentration = α + β; ``simulator.book``), so a fit maps to
``churn.mean`` and ``churn.concentration``. The mapping is exact when only base churn acts
(``mechanisms=all_off``); with the other mechanisms on, an account's monthly churn is its base
θ × exp(-churn_sensitivity × health), plus failed payments, annual contracts that churn only at
renewal and win-back: ``engine_match`` finds the base churn whose engine-simulated retention
has the fitted law (``write_overrides`` writes either).

Python::

    from simulator.calibrate import fit_sbg, backtest
    fit = fit_sbg([1000, 631, 468, 382, 326, 289, 262, 241])   # alive[0] = cohort size
    fit.alpha, fit.alpha_ci, fit.beta, fit.beta_ci, fit.loglik
    fit.predict(12)          # S(0), S(1), …, S(12)
    backtest([1000, 631, 468, 382, 326, 289, 262, 241, 223, 207, 194, 183, 173], 7).mape
"""

from __future__ import annotations

import functools
import json
import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

#: Columns of a cohort-retention CSV (``task=calibrate data=...``), in this order of meaning.
RETENTION_COLUMNS: tuple[str, ...] = ("persona", "cohort", "period", "active")
#: Columns of ``survival_table`` (observed against fitted survival; ``plots.plot_calibration``).
SURVIVAL_COLUMNS: tuple[str, ...] = ("persona", "period", "observed", "fitted", "cohorts")
#: Columns of a funnel CSV (``funnel=...``): counts per persona (rows of a persona are summed).
FUNNEL_COLUMNS: tuple[str, ...] = ("persona", "leads", "trials", "paid")
#: Bounds of log α and log β in the search: α, β in [4.5e-5, 1.6e5]. A fit at a bound means
#: the data cannot tell the parameter apart from 0 or infinity (e.g. no heterogeneity at all).
LOG_BOUNDS: tuple[float, float] = (-10.0, 12.0)
#: Confidence level of the reported intervals.
LEVEL = 0.95


class CalibrationDataError(ValueError):
    """Observed data that cannot be fitted. ``problems`` lists (where, message) pairs, where
    names the file, row and column."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        noun = "problem" if len(problems) == 1 else "problems"
        lines = [f"  {where}: {msg}" for where, msg in problems]
        super().__init__(f"invalid data ({len(problems)} {noun}):\n" + "\n".join(lines))


# --------------------------------------------------------------------------- the sBG law


def sbg_survival(alpha: float, beta: float, t: Any) -> np.ndarray:
    """S(t) = B(α, β + t) / B(α, β): share of a cohort still active after ``t`` periods."""
    t = np.asarray(t, dtype=np.float64)
    return np.exp(special.betaln(alpha, beta + t) - special.betaln(alpha, beta))


def sbg_churn_pmf(alpha: float, beta: float, t: Any) -> np.ndarray:
    """P(T = t) = B(α + 1, β + t - 1) / B(α, β): share of a cohort churning in period t ≥ 1."""
    t = np.asarray(t, dtype=np.float64)
    return np.exp(special.betaln(alpha + 1.0, beta + t - 1.0) - special.betaln(alpha, beta))


def sbg_retention(alpha: float, beta: float, t: Any) -> np.ndarray:
    """r(t) = (β + t - 1) / (α + β + t - 1): share of those active after t - 1 periods who are
    still active after t (rises with t: the high-churn customers leave first)."""
    t = np.asarray(t, dtype=np.float64)
    return (beta + t - 1.0) / (alpha + beta + t - 1.0)


@dataclass(frozen=True)
class Cohorts:
    """Right-censored retention data of one or several cohorts, reduced to what the
    likelihood reads: ``lost[t - 1]`` customers churned in period t (all cohorts) and
    ``censored[t - 1]`` customers still active at the end of a cohort observed for t periods."""

    alive: tuple[tuple[float, ...], ...]  # each cohort's alive[0..T]
    lost: np.ndarray
    censored: np.ndarray

    @classmethod
    def of(cls, alive: Sequence[float] | Sequence[Sequence[float]]) -> Cohorts:
        """From one cohort's ``alive`` or a list of cohorts' (checked: see ``check_alive``)."""
        cohorts = _as_cohorts(alive)
        horizon = max(len(a) - 1 for a in cohorts)
        lost = np.zeros(horizon)
        censored = np.zeros(horizon)
        for a in cohorts:
            arr = np.asarray(a, dtype=np.float64)
            lost[: len(arr) - 1] += -np.diff(arr)
            censored[len(arr) - 2] += arr[-1]
        return cls(tuple(tuple(float(x) for x in a) for a in cohorts), lost, censored)

    @property
    def horizon(self) -> int:
        """The oldest cohort's observed periods."""
        return len(self.lost)

    @property
    def customers(self) -> int:
        """Customers in all cohorts (the cohorts' sizes)."""
        return round(sum(a[0] for a in self.alive))

    def truncated(self, periods: int) -> Cohorts:
        """The same cohorts observed for at most ``periods`` periods."""
        return Cohorts.of([a[: periods + 1] for a in self.alive])

    def pooled_survival(self) -> np.ndarray:
        """Observed S(t), t = 0 … horizon: Σ alive[t] / Σ alive[0] over the cohorts observed
        for at least t periods (each cohort's share estimates S(t))."""
        out = np.ones(self.horizon + 1)
        for t in range(1, self.horizon + 1):
            obs = [a for a in self.alive if len(a) > t]
            out[t] = sum(a[t] for a in obs) / sum(a[0] for a in obs)
        return out


def check_alive(alive: Sequence[float], name: str = "alive") -> list[str]:
    """What is wrong with one cohort's ``alive`` series (empty when nothing): at least two
    values, finite, whole, not negative, the cohort size above 0, never increasing."""
    a = list(alive)
    if len(a) < 2:
        return [f"{name}: needs the cohort size and at least one period, got {a}"]
    problems = []
    for t, x in enumerate(a):
        if isinstance(x, bool) or not isinstance(x, int | float | np.integer | np.floating):
            problems.append(f"{name}[{t}]: must be a count, got {x!r}")
        elif not math.isfinite(x) or x < 0 or float(x) != round(float(x)):
            problems.append(f"{name}[{t}]: must be a whole number >= 0, got {x!r}")
    if problems:
        return problems
    if a[0] <= 0:
        problems.append(f"{name}[0]: the cohort size must be above 0, got {a[0]!r}")
    for t in range(1, len(a)):
        if a[t] > a[t - 1]:
            problems.append(
                f"{name}[{t}]: active customers cannot increase, got {a[t]!r} after {a[t - 1]!r}"
            )
    return problems


def _as_cohorts(alive: Sequence[float] | Sequence[Sequence[float]]) -> list[list[float]]:
    items = list(alive)
    nested = bool(items) and all(isinstance(a, Sequence | np.ndarray) for a in items)
    cohorts = [list(a) for a in items] if nested else [items]
    if not cohorts:
        raise ValueError("alive: no cohort given")
    problems = []
    for i, a in enumerate(cohorts):
        problems += check_alive(a, f"alive[{i}]" if nested else "alive")
    if problems:
        raise ValueError("; ".join(problems))
    return cohorts


def sbg_loglik(alpha: float, beta: float, data: Cohorts | Sequence[Any]) -> float:
    """Log-likelihood of right-censored cohorts under sBG(α, β) (Fader & Hardie 2007, eq. 8,
    summed over cohorts, each censored at its own age)."""
    c = data if isinstance(data, Cohorts) else Cohorts.of(data)
    t = np.arange(1, c.horizon + 1)
    base = special.betaln(alpha, beta)
    log_p = special.betaln(alpha + 1.0, beta + t - 1.0) - base
    log_s = special.betaln(alpha, beta + t) - base
    return float(np.dot(c.lost, log_p) + np.dot(c.censored, log_s))


# --------------------------------------------------------------------------- the fit


def _nll(theta: np.ndarray, data: Cohorts) -> float:
    """Negative log-likelihood at (log α, log β)."""
    return -sbg_loglik(math.exp(theta[0]), math.exp(theta[1]), data)


def _to_ab_from_mc(u: np.ndarray) -> np.ndarray:
    """(logit mean, log concentration) → (log α, log β)."""
    m = special.expit(u[0])
    c = math.exp(u[1])
    return np.array([math.log(max(m * c, 1e-300)), math.log(max((1.0 - m) * c, 1e-300))])


def _hessian(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """Central finite-difference Hessian of ``f`` at ``x``."""
    n = len(x)
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(i, n):
            ei, ej = np.eye(n)[i] * h, np.eye(n)[j] * h
            v = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (4 * h * h)
            out[i, j] = out[j, i] = v
    return out


def _profile_interval(
    f: Callable[[np.ndarray], float],
    x_hat: np.ndarray,
    f_min: float,
    index: int,
    step: float,
    level: float,
    bounds: tuple[float, float],
) -> tuple[float, float]:
    """Profile-likelihood interval of coordinate ``index`` of ``f``'s argument (2 coordinates):
    the values x where min over the other coordinate of 2(f - f_min) ≤ χ²₁(level). An end the
    search cannot close inside ``bounds`` is returned as the bound."""
    crit = stats.chi2.ppf(level, 1) / 2.0
    other = 1 - index
    lo_b, hi_b = bounds

    def profile(x: float) -> float:
        def g(y: float) -> float:
            z = np.empty(2)
            z[index], z[other] = x, y
            return f(z)

        y0 = x_hat[other]
        res = (
            optimize.minimize_scalar(g, bracket=(y0 - 0.5, y0 + 0.5), tol=1e-10)
            if np.isfinite(g(y0))
            else None
        )
        best = min(g(y0), res.fun if res is not None and res.success else np.inf)
        return best - f_min - crit

    ends = []
    for sign in (-1.0, 1.0):
        x0 = x_hat[index]
        s = max(step, 1e-3)
        prev = x0
        x = x0 + sign * s
        found = None
        for _ in range(60):
            if x < lo_b or x > hi_b:
                break
            if profile(x) > 0:
                found = optimize.brentq(profile, min(prev, x), max(prev, x), xtol=1e-8)
                break
            prev, s = x, s * 1.6
            x = x0 + sign * s
        ends.append(found if found is not None else (lo_b if sign < 0 else hi_b))
    return ends[0], ends[1]


@dataclass(frozen=True)
class SBGFit:
    """A shifted-beta-geometric fit by maximum likelihood.

    Attributes:
        alpha, beta: the estimates of Beta(α, β), the spread of per-period churn θ.
        alpha_ci, beta_ci: ``level`` profile-likelihood confidence intervals (``interval``):
            the values where twice the drop of the log-likelihood, maximised over the other
            parameter, reaches the χ²₁ quantile; an end at 4.5e-5 or 1.6e5 means the data
            cannot bound it.
        loglik: the maximised log-likelihood.
        cov_log: the inverse observed information (the negative Hessian of the
            log-likelihood) in (log α, log β): ``wald_ci`` reads it.
        data: the cohorts fitted.
    """

    alpha: float
    beta: float
    alpha_ci: tuple[float, float]
    beta_ci: tuple[float, float]
    loglik: float
    cov_log: np.ndarray = field(repr=False)
    data: Cohorts = field(repr=False)
    level: float = LEVEL
    converged: bool = True
    interval: str = "profile likelihood"

    @property
    def mean(self) -> float:
        """Mean per-period churn probability E[θ] = α / (α + β) (the engine's ``churn.mean``)."""
        return self.alpha / (self.alpha + self.beta)

    @property
    def concentration(self) -> float:
        """α + β (the engine's ``churn.concentration``): large = everyone churns alike."""
        return self.alpha + self.beta

    @property
    def at_bound(self) -> bool:
        """The estimate sits at a search bound (the data cannot bound α or β)."""
        lo, hi = LOG_BOUNDS
        logs = (math.log(self.alpha), math.log(self.beta))
        return any(x <= lo + 1e-6 or x >= hi - 1e-6 for x in logs)

    @functools.cached_property
    def mean_ci(self) -> tuple[float, float]:
        """Profile-likelihood interval of the mean churn α / (α + β)."""
        return self._mc_interval(0)

    @functools.cached_property
    def concentration_ci(self) -> tuple[float, float]:
        """Profile-likelihood interval of the concentration α + β."""
        return self._mc_interval(1)

    def _mc_interval(self, index: int) -> tuple[float, float]:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            return self._mc_profile(index)

    def _mc_profile(self, index: int) -> tuple[float, float]:
        u_hat = np.array([special.logit(self.mean), math.log(self.concentration)])

        def f(u: np.ndarray) -> float:
            return _nll(_to_ab_from_mc(u), self.data)

        bounds = (-30.0, 30.0) if index == 0 else (-10.0, 12.7)
        lo, hi = _profile_interval(f, u_hat, -self.loglik, index, 0.1, self.level, bounds)
        back = special.expit if index == 0 else math.exp
        return float(back(lo)), float(back(hi))

    def wald_ci(self, level: float | None = None) -> dict[str, tuple[float, float]]:
        """Wald intervals from the observed information, symmetric in log α and log β:
        exp(log α̂ ± z·se); ``alpha_ci``/``beta_ci`` (profile likelihood) are the ones reported."""
        z = stats.norm.ppf(0.5 + (level or self.level) / 2.0)
        se = np.sqrt(np.diag(self.cov_log))
        out = {}
        for name, value, s in zip(("alpha", "beta"), (self.alpha, self.beta), se, strict=True):
            out[name] = (value * math.exp(-z * s), value * math.exp(z * s))
        return out

    def predict(self, periods: int | Iterable[int]) -> np.ndarray:
        """Survival S(t) for ``periods`` (an int n: t = 0 … n; or the given periods)."""
        t = np.arange(periods + 1) if isinstance(periods, int | np.integer) else periods
        return sbg_survival(self.alpha, self.beta, np.asarray(list(np.atleast_1d(t)), float))

    def retention(self, periods: int) -> np.ndarray:
        """The implied retention curve r(t), t = 1 … ``periods``."""
        return sbg_retention(self.alpha, self.beta, np.arange(1, periods + 1))

    def expected_alive(self, size: float, periods: int) -> np.ndarray:
        """Expected active customers of a cohort of ``size`` after t = 0 … ``periods``."""
        return size * self.predict(periods)

    def as_dict(self) -> dict[str, Any]:
        """The fit's numbers, for fit.json / fit.csv."""
        return {
            "alpha": self.alpha,
            "alpha_lo": self.alpha_ci[0],
            "alpha_hi": self.alpha_ci[1],
            "beta": self.beta,
            "beta_lo": self.beta_ci[0],
            "beta_hi": self.beta_ci[1],
            "churn_mean": self.mean,
            "churn_mean_lo": self.mean_ci[0],
            "churn_mean_hi": self.mean_ci[1],
            "concentration": self.concentration,
            "concentration_lo": self.concentration_ci[0],
            "concentration_hi": self.concentration_ci[1],
            "loglik": self.loglik,
            "cohorts": len(self.data.alive),
            "customers": self.data.customers,
            "periods": self.data.horizon,
            "level": self.level,
            "interval": self.interval,
            "at_bound": self.at_bound,
        }


def fit_sbg(
    alive: Sequence[float] | Sequence[Sequence[float]] | Cohorts, level: float = LEVEL
) -> SBGFit:
    """Fit the shifted-beta-geometric model by maximum likelihood (scipy, on log α, log β).

    Args:
        alive: one cohort, ``alive[0]`` = cohort size and ``alive[t]`` = still active after
            period t; or a list of such cohorts of different ages (each right-censored at its
            last period), fitted jointly.
        level: confidence level of the intervals (profile likelihood).

    Returns:
        SBGFit: α, β, their intervals, the log-likelihood, ``predict`` and ``retention``.

    Raises:
        ValueError: a series that is not a cohort's counts (negative, increasing, empty), named
            by its index.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level: must be in (0, 1), got {level!r}")
    data = alive if isinstance(alive, Cohorts) else Cohorts.of(alive)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return _fit(data, level)


def _fit(data: Cohorts, level: float) -> SBGFit:
    lo, hi = LOG_BOUNDS

    def f(theta: np.ndarray) -> float:
        return _nll(theta, data)

    def bounded(theta: np.ndarray) -> float:
        if np.any(theta < lo) or np.any(theta > hi):
            return np.inf
        value = f(theta)
        return value if np.isfinite(value) else np.inf

    best = None
    for start in ((0.0, 0.0), (0.0, 2.0)):
        res = optimize.minimize(
            bounded,
            np.array(start),
            method="Nelder-Mead",
            options={"xatol": 1e-9, "fatol": 1e-11, "maxiter": 4000},
        )
        if best is None or res.fun < best.fun - 1e-9:
            best = res
    assert best is not None
    # Restart from the best point (Nelder-Mead can stall on a long ridge).
    polish = optimize.minimize(
        bounded, best.x, method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12}
    )
    theta = polish.x if polish.fun <= best.fun else best.x
    f_min = f(theta)
    hess = _hessian(f, theta)
    try:
        cov = np.linalg.inv(hess)
        if not np.all(np.isfinite(cov)) or np.any(np.diag(cov) <= 0):
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        cov = np.full((2, 2), np.inf)
    step = float(np.sqrt(np.diag(cov)).min()) if np.isfinite(cov).all() else 0.5
    cis = [
        tuple(math.exp(x) for x in _profile_interval(f, theta, f_min, i, step, level, LOG_BOUNDS))
        for i in (0, 1)
    ]
    return SBGFit(
        alpha=math.exp(theta[0]),
        beta=math.exp(theta[1]),
        alpha_ci=cis[0],  # type: ignore[arg-type]
        beta_ci=cis[1],  # type: ignore[arg-type]
        loglik=-f_min,
        cov_log=cov,
        data=data,
        level=level,
        converged=bool(best.success or polish.success),
    )


# --------------------------------------------------------------------------- backtest


@dataclass(frozen=True)
class Backtest:
    """A fit on the first ``periods`` periods scored on the periods after them.

    ``table``: one row per held-out (cohort, period) with the observed and predicted active
    customers (cohort size × S(t) of the fit) and the absolute percentage error;
    ``mape`` is their mean (%); ``mape_pooled`` the mean over held-out periods of the error of
    the cohorts' total (Σ observed against Σ predicted over the cohorts observed that long:
    the survival curve as a whole, less noisy than single small cohorts)."""

    fit: SBGFit
    periods: int
    table: pd.DataFrame
    mape: float
    mape_pooled: float


def backtest(
    alive: Sequence[float] | Sequence[Sequence[float]] | Cohorts, periods: int
) -> Backtest:
    """Fit on periods 0 … ``periods`` of every cohort, predict the later periods each cohort
    has, report the mean absolute percentage error of the predicted active customers.

    Raises:
        ValueError: ``periods`` leaves nothing to fit or nothing to score.
    """
    data = alive if isinstance(alive, Cohorts) else Cohorts.of(alive)
    if not 1 <= periods < data.horizon:
        raise ValueError(
            f"holdout: fit on the first K periods needs K in [1, {data.horizon - 1}] "
            f"(the data has {data.horizon} periods), got {periods}"
        )
    fit = fit_sbg(data.truncated(periods))
    rows = []
    for i, a in enumerate(data.alive):
        for t in range(periods + 1, len(a)):
            pred = a[0] * float(sbg_survival(fit.alpha, fit.beta, t))
            ape = abs(pred - a[t]) / a[t] * 100.0 if a[t] > 0 else math.nan
            rows.append({"cohort": i, "period": t, "observed": a[t], "predicted": pred, "ape": ape})
    table = pd.DataFrame(rows, columns=["cohort", "period", "observed", "predicted", "ape"])
    if table.empty:
        raise ValueError(f"holdout: no cohort is observed after period {periods}")
    pooled = table.groupby("period")[["observed", "predicted"]].sum()
    pooled = pooled[pooled["observed"] > 0]
    ape = (pooled["predicted"] - pooled["observed"]).abs() / pooled["observed"] * 100.0
    return Backtest(fit, periods, table, float(table["ape"].mean(skipna=True)), float(ape.mean()))


# --------------------------------------------------------------------------- observed data


def _where(path: Path, row: int | None, column: str | None) -> str:
    """``name: row N (line N+1), column C``: row N is the N-th data row (the header is line 1)."""
    parts = [path.name]
    if row is not None:
        parts.append(f"row {row} (line {row + 1})")
    if column is not None:
        parts.append(f"column {column}")
    return ", ".join(parts)


def _read_table(path: str | Path, columns: Sequence[str]) -> tuple[Path, pd.DataFrame]:
    """The CSV as strings, after checking it exists, parses and has ``columns``."""
    p = Path(path)
    if not p.is_file():
        raise CalibrationDataError([(str(p), "no such file")])
    try:
        table = pd.read_csv(p, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise CalibrationDataError([(p.name, f"not a readable CSV: {exc}".strip())]) from None
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in columns if c not in table.columns]
    if missing:
        got = ", ".join(table.columns) or "none"
        raise CalibrationDataError(
            [
                (_where(p, None, c), f"missing; the columns are {', '.join(columns)} (got: {got})")
                for c in missing
            ]
        )
    if table.empty:
        raise CalibrationDataError([(p.name, "no data rows")])
    return p, table


def _whole(value: str) -> int | None:
    """A whole number ≥ 0 written in a CSV cell ("12", "12.0"), else None."""
    try:
        x = float(value)
    except ValueError:
        return None
    return int(x) if math.isfinite(x) and x >= 0 and x == int(x) else None


def _check_persona(
    p: Path, row: int, value: str, personas: Sequence[str] | None
) -> tuple[str, str] | None:
    if not value:
        return (_where(p, row, "persona"), "empty; name a persona")
    if personas is not None and value not in personas:
        return (
            _where(p, row, "persona"),
            f"unknown persona {value!r}; allowed: {', '.join(personas)}",
        )
    return None


def _raise(problems: list[tuple[str, str]], limit: int = 20) -> None:
    if problems:
        shown = problems[:limit]
        if len(problems) > limit:
            shown.append(("…", f"and {len(problems) - limit} more problems"))
        raise CalibrationDataError(shown)


def read_retention(path: str | Path, personas: Sequence[str] | None = None) -> pd.DataFrame:
    """Read and check a cohort-retention CSV before any fitting.

    Columns: ``persona`` (a persona of the config), ``cohort`` (any label: the acquisition
    month), ``period`` (0, 1, 2, … periods since acquisition; 0 = the cohort's size) and
    ``active`` (customers still active after that period). Each cohort has every period from
    0 to its age; older cohorts have more periods (right-censored at their age). Other columns
    are ignored.

    Returns:
        the table with ``period`` and ``active`` as integers, sorted by persona, cohort, period.

    Raises:
        CalibrationDataError: every problem, each naming the row, column and value (an unknown
            persona, a negative or fractional count, active customers increasing over a
            cohort's periods, a missing period 0 or a gap, a duplicated row, a missing column).
    """
    p, table = _read_table(path, RETENTION_COLUMNS)
    problems: list[tuple[str, str]] = []
    for i, rec in enumerate(table[list(RETENTION_COLUMNS)].itertuples(index=False), start=1):
        persona, cohort, period, active = (str(x).strip() for x in rec)
        bad = _check_persona(p, i, persona, personas)
        if bad:
            problems.append(bad)
        if not cohort:
            problems.append((_where(p, i, "cohort"), "empty; label the cohort"))
        if _whole(period) is None:
            problems.append(
                (_where(p, i, "period"), f"must be a whole number >= 0, got {period!r}")
            )
        if _whole(active) is None:
            problems.append(
                (_where(p, i, "active"), f"must be a whole number >= 0, got {active!r}")
            )
    _raise(problems)
    out = pd.DataFrame(
        {
            "persona": table["persona"].str.strip(),
            "cohort": table["cohort"].str.strip(),
            "period": [_whole(x.strip()) for x in table["period"]],
            "active": [_whole(x.strip()) for x in table["active"]],
            "row": np.arange(1, len(table) + 1),
        }
    )
    for (persona, cohort), g in out.groupby(["persona", "cohort"], sort=False):
        g = g.sort_values(["period", "row"], kind="stable")
        dup = g[g["period"].duplicated()]
        for r, t in zip(dup["row"], dup["period"], strict=True):
            problems.append(
                (
                    _where(p, int(r), "period"),
                    f"period {t} of cohort {cohort!r} ({persona}) given twice",
                )
            )
        g = g.drop_duplicates("period")
        periods = g["period"].tolist()
        if periods[0] != 0:
            problems.append(
                (
                    _where(p, int(g["row"].iloc[0]), "period"),
                    f"cohort {cohort!r} ({persona}) has no period 0 (its size); "
                    f"first period given: {periods[0]}",
                )
            )
            continue
        for k in range(1, len(periods)):
            if periods[k] != periods[k - 1] + 1:
                problems.append(
                    (
                        _where(p, int(g["row"].iloc[k]), "period"),
                        f"cohort {cohort!r} ({persona}) jumps from period "
                        f"{periods[k - 1]} to {periods[k]}; give every period",
                    )
                )
        act = g["active"].tolist()
        if act[0] == 0:
            problems.append(
                (
                    _where(p, int(g["row"].iloc[0]), "active"),
                    f"cohort {cohort!r} ({persona}) has size 0 at period 0",
                )
            )
        for k in range(1, len(act)):
            if act[k] > act[k - 1]:
                problems.append(
                    (
                        _where(p, int(g["row"].iloc[k]), "active"),
                        f"got {act[k]}: active customers of cohort {cohort!r} "
                        f"({persona}) cannot increase ({act[k - 1]} at period "
                        f"{periods[k - 1]})",
                    )
                )
    for persona, g in out.groupby("persona", sort=False):
        if g["period"].max() < 1:
            problems.append(
                (
                    _where(p, int(g["row"].iloc[0]), "period"),
                    f"persona {persona!r} has no cohort observed beyond period 0",
                )
            )
    _raise(problems)
    out = out.drop_duplicates(["persona", "cohort", "period"])
    return out.sort_values(["persona", "cohort", "period"], kind="stable").reset_index(drop=True)


def cohorts_by_persona(table: pd.DataFrame) -> dict[str, Cohorts]:
    """Each persona's cohorts (``read_retention``'s table; cohorts of one period only, i.e.
    period 0 alone, carry no information and are left out)."""
    out = {}
    for persona, g in table.groupby("persona", sort=False):
        series = [c["active"].tolist() for _, c in g.groupby("cohort", sort=False)]
        out[str(persona)] = Cohorts.of([s for s in series if len(s) > 1])
    return out


def fit_personas(
    table: pd.DataFrame | str | Path,
    personas: Sequence[str] | None = None,
    level: float = LEVEL,
    holdout: int | None = None,
) -> dict[str, SBGFit]:
    """Fit sBG jointly over each persona's cohorts (right-censored at their ages).

    ``table``: ``read_retention``'s table or the CSV's path. ``holdout=K``: fit on periods
    0 … K only (``backtest`` scores the rest)."""
    if not isinstance(table, pd.DataFrame):
        table = read_retention(table, personas)
    fits = {}
    for persona, cohorts in cohorts_by_persona(table).items():
        data = cohorts.truncated(holdout) if holdout is not None else cohorts
        fits[persona] = fit_sbg(data, level=level)
    return fits


def fits_table(fits: Mapping[str, SBGFit]) -> pd.DataFrame:
    """One row per persona: the fit's numbers (``SBGFit.as_dict``)."""
    return pd.DataFrame([{"persona": k, **f.as_dict()} for k, f in fits.items()])


# --------------------------------------------------------------------------- funnel rates


def binomial_interval(
    successes: int, trials: int, level: float = LEVEL, method: str = "wilson"
) -> tuple[float, float]:
    """Confidence interval of a proportion: ``wilson`` (score interval) or ``jeffreys``
    (Beta(x + ½, n - x + ½) quantiles; 0 or 1 at the ends when x = 0 or n)."""
    x, n = int(successes), int(trials)
    if n <= 0 or not 0 <= x <= n:
        raise ValueError(
            f"binomial_interval: need 0 <= successes <= trials, trials > 0; got {x}/{n}"
        )
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    if method == "wilson":
        phat = x / n
        centre = (phat + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n))
        return max(0.0, centre - half), min(1.0, centre + half)
    if method == "jeffreys":
        a = (1 - level) / 2
        lo = 0.0 if x == 0 else float(stats.beta.ppf(a, x + 0.5, n - x + 0.5))
        hi = 1.0 if x == n else float(stats.beta.ppf(1 - a, x + 0.5, n - x + 0.5))
        return lo, hi
    raise ValueError(f"method: must be wilson or jeffreys, got {method!r}")


def read_funnel(path: str | Path, personas: Sequence[str] | None = None) -> pd.DataFrame:
    """Read and check a funnel CSV: ``persona, leads, trials, paid`` counts (whole, ≥ 0,
    paid ≤ trials ≤ leads in each row; several rows of a persona, e.g. one per month, are
    summed). Raises ``CalibrationDataError`` naming row, column and value."""
    p, table = _read_table(path, FUNNEL_COLUMNS)
    problems: list[tuple[str, str]] = []
    counts: list[dict[str, Any]] = []
    for i, rec in enumerate(table[list(FUNNEL_COLUMNS)].itertuples(index=False), start=1):
        persona, *raw = (str(x).strip() for x in rec)
        bad = _check_persona(p, i, persona, personas)
        if bad:
            problems.append(bad)
        vals = {}
        for col, v in zip(FUNNEL_COLUMNS[1:], raw, strict=True):
            vals[col] = _whole(v)
            if vals[col] is None:
                problems.append((_where(p, i, col), f"must be a whole number >= 0, got {v!r}"))
        for later, earlier in (("trials", "leads"), ("paid", "trials")):  # a funnel narrows
            n, before = vals[later], vals[earlier]
            if n is not None and before is not None and n > before:
                problems.append(
                    (_where(p, i, later), f"got {n}: more {later} than {earlier} ({before})")
                )
        counts.append({"persona": persona, **vals})
    _raise(problems)
    return pd.DataFrame(counts).groupby("persona", sort=False).sum().reset_index()


#: The funnel's steps: (name, successes column, trials column).
FUNNEL_STEPS: tuple[tuple[str, str, str], ...] = (
    ("lead_to_trial", "trials", "leads"),
    ("trial_to_paid", "paid", "trials"),
    ("lead_to_paid", "paid", "leads"),
)


def funnel_rates(
    counts: pd.DataFrame | str | Path, level: float = LEVEL, method: str = "wilson"
) -> pd.DataFrame:
    """Funnel conversion rates per persona and for all personas together (``total``), each
    with its binomial interval: one row per persona and step (``FUNNEL_STEPS``)."""
    if not isinstance(counts, pd.DataFrame):
        counts = read_funnel(counts)
    total = counts[list(FUNNEL_COLUMNS[1:])].sum()
    rows = []
    for persona, rec in [*((r["persona"], r) for _, r in counts.iterrows()), ("total", total)]:
        for step, num, den in FUNNEL_STEPS:
            x, n = int(rec[num]), int(rec[den])
            lo, hi = binomial_interval(x, n, level, method) if n > 0 else (math.nan, math.nan)
            rows.append(
                {
                    "persona": persona,
                    "step": step,
                    "successes": x,
                    "trials": n,
                    "rate": x / n if n else math.nan,
                    "lo": lo,
                    "hi": hi,
                    "method": method,
                }
            )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- the engine


def engine_cohorts(cfg: Any, months: int | None = None, replications: int = 1) -> pd.DataFrame:
    """Cohort retention as the engine produces it: run the scenario (a config or parameters)
    and, per persona and acquisition month c = 1 … months, count the accounts that first paid
    in month c (period 0) and those still paying without a break after period t, up to the
    horizon (younger cohorts have fewer periods: right-censored). The month-0 book is left out.
    Replication r's cohorts are labelled ``r<r>-m<c>``.

    A new customer can churn in the month it first pays (``mechanisms.decision``: churn from
    the month of the first bill), so period t ≥ 1 ends with month c + t - 1: period 1 is the
    acquisition month itself.

    Returns:
        a table with ``RETENTION_COLUMNS`` (``read_retention``'s format).
    """
    from simulator.model import JourneyModel
    from simulator.params import params_of, replace
    from simulator.stages import is_paying

    params = params_of(cfg)
    if months is not None and months != params.months:
        params = replace(params, {"months": months})
    horizon = params.months
    rows: list[dict[str, Any]] = []
    for rep in range(replications):
        model = JourneyModel(params, replication=rep)
        gap = np.full(len(model.population), np.iinfo(np.int16).max, dtype=np.int16)
        for t in range(1, horizon + 1):
            model.step()
            pop = model.population
            cm = pop.cohort_month
            seen = (cm >= 1) & (cm <= t) & (gap == np.iinfo(np.int16).max)
            gap[seen & ~is_paying(pop.stage)] = t
        for agent in model.persona_agents:
            cm = agent.pop.cohort_month.astype(np.int64)
            g = gap[agent.rows].astype(np.int64)
            for c in range(1, horizon + 1):
                members = cm == c
                n = int(members.sum())
                if n == 0:
                    continue
                left = g[members]
                for k in range(horizon - c + 2):
                    alive = n if k == 0 else int((left > c + k - 1).sum())
                    rows.append(
                        {
                            "persona": agent.persona.name,
                            "cohort": f"r{rep}-m{c:02d}",
                            "period": k,
                            "active": alive,
                        }
                    )
    return pd.DataFrame(rows, columns=list(RETENTION_COLUMNS))


#: Largest concentration the config takes (``personas.*.churn.concentration``); a fit beyond
#: it (no detectable heterogeneity) is written as null: everyone churns at exactly the mean.
CONCENTRATION_MAX = 1_000_000.0


def churn_settings(
    fits: Mapping[str, SBGFit | tuple[float, float | None]],
) -> dict[str, tuple[float, float | None]]:
    """Per persona, the engine's base churn (``churn.mean``, ``churn.concentration``) of each
    fit: mean = α / (α + β), concentration = α + β (null beyond ``CONCENTRATION_MAX``)."""
    out: dict[str, tuple[float, float | None]] = {}
    for persona, f in fits.items():
        mean, conc = (f.mean, f.concentration) if isinstance(f, SBGFit) else f
        if conc is not None and conc > CONCENTRATION_MAX:
            conc = None
        out[persona] = (float(f"{mean:.6g}"), None if conc is None else float(f"{conc:.6g}"))
    return out


def overrides(fits: Mapping[str, SBGFit | tuple[float, float | None]]) -> list[str]:
    """The fits as Hydra overrides (``load_config(overrides(fits))``)."""
    out = []
    for persona, (mean, conc) in churn_settings(fits).items():
        out.append(f"personas.{persona}.churn.mean={mean}")
        out.append(f"personas.{persona}.churn.concentration={'null' if conc is None else conc}")
    return out


def churn_covariance(fit: SBGFit) -> np.ndarray:
    """The fit's covariance of (ln mean, ln concentration), mean = α / (α + β) and
    concentration = α + β, from its covariance of (ln α, ln β) (``cov_log``, the inverse
    observed information) by the delta method: J Σ Jᵀ, J = [[β, −β], [α, β]] / (α + β)."""
    a, b = fit.alpha, fit.beta
    jac = np.array([[b, -b], [a, b]]) / (a + b)
    return jac @ np.asarray(fit.cov_log, dtype=float) @ jac.T


def uncertainty_entries(
    fits: Mapping[str, SBGFit],
    settings: Mapping[str, tuple[float, float | None]] | None = None,
    level: float = LEVEL,
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """``uncertainty`` entries (``simulator.uncertainty``) that draw each persona's base churn
    per replication from its fit's uncertainty: ``<persona>_churn_mean`` and
    ``<persona>_churn_concentration``, each log-normal with the central ``level`` interval
    center × exp(∓ z σ) (σ from ``churn_covariance``, center the value written: ``settings``,
    default the fit's own), and their correlation on the log scale from the same covariance.

    A persona whose data cannot bound α or β (a profile-likelihood interval open at a search
    bound: no measurable heterogeneity) or whose concentration is written null gets the mean's
    entry only (its concentration stays fixed): the observed information of a flat direction
    would give a falsely narrow interval.

    Returns (entries by name, persona -> what was left out and why): a persona with a
    covariance that is not finite (the estimate at a search bound) or an interval for the mean
    reaching 1 gets no entry."""
    settings = dict(settings or churn_settings(fits))
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    entries: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    for persona, fit in fits.items():
        mean, conc = settings[persona]
        cov = churn_covariance(fit)
        if fit.at_bound or not np.all(np.isfinite(cov)) or np.any(np.diag(cov) <= 0):
            skipped[persona] = "nothing drawn: the fit's covariance is not finite (at a bound)"
            continue
        sd = np.sqrt(np.diag(cov))
        rho = float(np.clip(cov[0, 1] / (sd[0] * sd[1]), -1.0, 1.0))
        m_lo, m_hi = (float(f"{mean * math.exp(s * z * sd[0]):.8g}") for s in (-1, 1))
        c_lo, c_hi = (float(f"{(conc or 0.0) * math.exp(s * z * sd[1]):.8g}") for s in (-1, 1))
        if m_hi >= 1.0:
            skipped[persona] = "nothing drawn: its interval of the mean reaches 1"
            continue
        lo, hi = (math.exp(b) for b in LOG_BOUNDS)
        ends = (*fit.alpha_ci, *fit.beta_ci)
        open_ended = any(not math.isfinite(x) or x >= 0.99 * hi or x <= 1.01 * lo for x in ends)
        joint = not (conc is None or open_ended or c_hi > CONCENTRATION_MAX)
        m_name, c_name = f"{persona}_churn_mean", f"{persona}_churn_concentration"
        entries[m_name] = {
            "key": f"personas.{persona}.churn.mean",
            "low": m_lo,
            "high": m_hi,
            "level": level,
            "bounds": None,
            "correlation": {c_name: float(f"{rho:.6g}")} if joint else {},
        }
        if not joint:
            skipped[persona] = (
                "the mean alone is drawn: the data cannot bound α or β (no measurable "
                "heterogeneity), so the concentration stays fixed"
            )
            continue
        entries[c_name] = {
            "key": f"personas.{persona}.churn.concentration",
            "low": c_lo,
            "high": c_hi,
            "level": level,
            "bounds": None,
            "correlation": {},
        }
    return entries, skipped


def write_overrides(
    fits: Mapping[str, SBGFit | tuple[float, float | None]],
    path: str | Path,
    *,
    name: str | None = None,
    note: str = "",
    uncertainty: Mapping[str, dict[str, Any]] | None = None,
) -> Path:
    """Write the fits as a scenario file the simulator runs: ``path`` is a YAML file, e.g.
    ``DIR/scenario/calibrated.yaml``, run with ``journey-sim --config-dir DIR
    scenario=calibrated`` (or ``load_config(["scenario=calibrated"], config_dir=DIR)``).

    It sets ``personas.<name>.churn.mean`` and ``.concentration`` of each fitted persona (the
    others keep their values) and names the scenario ``name`` (default: the file's stem).
    ``fits``: ``SBGFit``s (mapped as α / (α + β), α + β) or (mean, concentration) pairs, e.g.
    from ``engine_match``. ``note`` is written as a comment (where the numbers come from).
    ``uncertainty``: ``uncertainty`` entries to write too (``uncertainty_entries``), so a run
    of the file draws each replication's churn from the fits' uncertainty."""
    import yaml

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    personas = {
        k: {"churn": {"mean": m, "concentration": c}} for k, (m, c) in churn_settings(fits).items()
    }
    body: dict[str, Any] = {"scenario_name": name or p.stem, "personas": personas}
    if uncertainty:
        body["uncertainty"] = {k: dict(v) for k, v in uncertainty.items()}
    lines = ["# @package _global_"]
    lines += [f"# {line}" if line else "#" for line in note.splitlines()]
    text = "\n".join(lines) + "\n" + yaml.safe_dump(body, sort_keys=False, default_flow_style=None)
    p.write_text(text)
    return p


@dataclass(frozen=True)
class EngineMatch:
    """Base churn that makes the engine's own cohorts retain as the data do.

    ``settings``: per persona, the (churn.mean, churn.concentration) to write;
    ``table``: per persona and iteration, the base mean tried and the mean churn of an sBG fit
    of the cohorts the engine produced with it, against the data's (``target``)."""

    settings: dict[str, tuple[float, float | None]]
    table: pd.DataFrame


def engine_match(
    fits: Mapping[str, SBGFit],
    cfg: Any,
    months: int | None = None,
    iterations: int = 4,
    replications: int = 2,
) -> EngineMatch:
    """Find each persona's base churn mean whose engine-simulated cohorts have the data's
    fitted mean churn, with every mechanism of ``cfg`` acting (indirect inference).

    With mechanisms on, an account's churn is its base θ × exp(-churn_sensitivity × health)
    (onboarding that fails to activate, SLA breaches and a price above willingness to pay raise
    it; a good onboarding lowers it), plus failed payments, a card-trial's forgot-to-cancel
    churn, annual contracts that churn only at renewal and win-back: the sBG law of the
    engine's cohorts is not the base Beta. Each iteration simulates the scenario's new
    cohorts over ``months`` (default: the longest cohort's periods) with the current base
    means, fits sBG per persona and rescales each base mean by data mean / engine mean. The
    concentration is the data's (the engine's own heterogeneity adds to it: only the mean is
    matched). The last iteration's engine mean against the data's is in ``table``."""
    from simulator.params import params_of, replace

    params = params_of(cfg)
    horizon = months or max(f.data.horizon for f in fits.values())
    horizon = max(horizon, 2)
    target = churn_settings(fits)
    base = {k: m for k, (m, _) in target.items()}
    rows = []
    for it in range(iterations + 1):
        values: dict[str, Any] = {"months": horizon}
        for k, m in base.items():
            values[f"personas.{k}.churn.mean"] = m
            values[f"personas.{k}.churn.concentration"] = target[k][1]
        table = engine_cohorts(replace(params, values), replications=replications)
        sim = fit_personas(table) if len(table) else {}
        for k in base:
            got = sim[k].mean if k in sim else math.nan
            rows.append(
                {
                    "persona": k,
                    "iteration": it,
                    "base_mean": base[k],
                    "engine_mean": got,
                    "target_mean": target[k][0],
                }
            )
            if it < iterations and math.isfinite(got) and got > 0:
                base[k] = float(min(max(base[k] * target[k][0] / got, 1e-6), 1.0))
    last = pd.DataFrame(rows)
    final = last[last["iteration"] == iterations].set_index("persona")["base_mean"]
    # The settings are those of the last simulated iteration (what the table reports).
    settings = {k: (float(final[k]), target[k][1]) for k in base}
    return EngineMatch(churn_settings(settings), last)


def survival_table(fits: Mapping[str, SBGFit]) -> pd.DataFrame:
    """Per persona and period: the observed survival (pooled over the cohorts observed that
    long, ``Cohorts.pooled_survival``), the cohorts behind it and the fitted S(t)."""
    rows = []
    for persona, f in fits.items():
        observed = f.data.pooled_survival()
        fitted = f.predict(f.data.horizon)
        for t in range(f.data.horizon + 1):
            n = sum(1 for a in f.data.alive if len(a) > t)
            rows.append(
                {
                    "persona": persona,
                    "period": t,
                    "observed": observed[t],
                    "fitted": fitted[t],
                    "cohorts": n,
                }
            )
    return pd.DataFrame(rows, columns=list(SURVIVAL_COLUMNS))


# --------------------------------------------------------------------------- the task


def _num(x: float) -> str:
    lo, hi = (math.exp(b) for b in LOG_BOUNDS)
    if x <= lo * (1 + 1e-6):
        return "0"
    if x >= hi * (1 - 1e-6):
        return "inf"
    return f"{x:.3g}" if abs(x) < 1e5 else f"{x:.2e}"


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


@dataclass
class CalibrationResult:
    """What ``task=calibrate`` computed: per-persona fits, backtests, the base churn written,
    funnel rates."""

    data: Path
    fits: dict[str, SBGFit]
    settings: dict[str, tuple[float, float | None]]
    match: str
    match_table: pd.DataFrame | None = None
    backtests: dict[str, Backtest] = field(default_factory=dict)
    holdout: int | None = None
    funnel: pd.DataFrame | None = None
    note: str = ""
    remark: str = ""
    written: list[Path] = field(default_factory=list)
    #: ``uncertainty`` entries written with the override (``calibrate.uncertainty``;
    #: ``uncertainty_entries``) and, per persona, what was left out and why.
    uncertainty: dict[str, dict[str, Any]] = field(default_factory=dict)
    uncertainty_skipped: dict[str, str] = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """fit.csv: one row per persona, the fit, the base churn written, the backtest."""
        t = fits_table(self.fits)
        t["base_churn_mean"] = [self.settings[k][0] for k in t["persona"]]
        t["base_churn_concentration"] = [self.settings[k][1] for k in t["persona"]]
        t["match"] = self.match
        if self.backtests:
            t["holdout"] = self.holdout
            t["backtest_mape"] = [self.backtests[k].mape for k in t["persona"]]
        return t

    def save(self, out_dir: str | Path, plots: bool = True) -> list[Path]:
        """Write fit.csv, fit.json, survival.csv, (funnel.csv), scenario/calibrated.yaml and
        plots/calibration.png into ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        table = self.table()
        table.to_csv(out / "fit.csv", index=False)
        survival = survival_table(self.fits)
        survival.to_csv(out / "survival.csv", index=False)
        doc: dict[str, Any] = {
            "data": str(self.data),
            "model": "shifted-beta-geometric (Fader & Hardie 2007), maximum likelihood",
            "interval": f"{LEVEL:.0%} profile likelihood",
            "match": self.match,
            "fits": table.to_dict(orient="records"),
            "overrides": overrides(self.settings),
        }
        if self.match_table is not None:
            doc["engine_match"] = self.match_table.to_dict(orient="records")
        files = [out / "fit.csv", out / "fit.json", out / "survival.csv"]
        if self.funnel is not None:
            self.funnel.to_csv(out / "funnel.csv", index=False)
            doc["funnel"] = self.funnel.to_dict(orient="records")
            files.append(out / "funnel.csv")
        (out / "fit.json").write_text(json.dumps(doc, indent=2, default=float) + "\n")
        if self.uncertainty:
            doc["uncertainty"] = self.uncertainty
        files.append(
            write_overrides(
                self.settings,
                out / "scenario" / "calibrated.yaml",
                note=self.note,
                uncertainty=self.uncertainty,
            )
        )
        if plots:
            from simulator.plots import plot_calibration

            fig = plot_calibration(survival, holdout=self.holdout)
            (out / "plots").mkdir(exist_ok=True)
            fig.tight_layout()
            fig.savefig(out / "plots" / "calibration.png", dpi=110)
            files.append(out / "plots" / "calibration.png")
        self.written = files
        return files

    def format(self, out_dir: str | Path | None = None) -> str:
        """The printed report."""
        n_cohorts = sum(len(f.data.alive) for f in self.fits.values())
        lines = [
            f"calibrate: {self.data} · {len(self.fits)} personas · {n_cohorts} cohorts · "
            f"shifted-beta-geometric by maximum likelihood, {LEVEL:.0%} profile-likelihood "
            "intervals",
            "",
            f"  {'persona':<12}{'cohorts':>8}{'customers':>10}{'periods':>8}  "
            f"{'alpha (95% CI)':<25}{'beta (95% CI)':<25}{'churn/period (95% CI)':<26}"
            f"{'log-lik':>10}",
        ]
        for k, f in self.fits.items():
            a = f"{_num(f.alpha)} ({_num(f.alpha_ci[0])}-{_num(f.alpha_ci[1])})"
            b = f"{_num(f.beta)} ({_num(f.beta_ci[0])}-{_num(f.beta_ci[1])})"
            m = f"{_pct(f.mean)} ({_pct(f.mean_ci[0])}-{_pct(f.mean_ci[1])})"
            lines.append(
                f"  {k:<12}{len(f.data.alive):>8}{f.data.customers:>10,}{f.data.horizon:>8}  "
                f"{a:<25}{b:<25}{m:<26}{f.loglik:>10.1f}"
            )
        if self.backtests:
            k0 = self.holdout
            lines += [
                "",
                f"backtest: fit on periods 0-{k0}, predict the later periods of "
                "every cohort (MAPE of active customers):",
            ]
            for k, bt in self.backtests.items():
                lines.append(
                    f"  {k:<12}MAPE {bt.mape:6.2f}% over {len(bt.table)} cohort-periods, "
                    f"{bt.mape_pooled:5.2f}% on the cohorts' totals per period "
                    f"(periods {k0 + 1}-{int(bt.table['period'].max())})"
                )
        if self.funnel is not None:
            lines += ["", f"funnel ({LEVEL:.0%} Wilson intervals; reported, not written):"]
            for _, r in self.funnel.iterrows():
                lines.append(
                    f"  {r['persona']:<12}{r['step']:<15}{r['successes']:>8,}/"
                    f"{r['trials']:<8,} {_pct(r['rate']):>8} "
                    f"({_pct(r['lo'])}-{_pct(r['hi'])})"
                )
        lines += [""]
        if self.match == "engine" and self.match_table is not None:
            last = self.match_table[
                self.match_table["iteration"] == self.match_table["iteration"].max()
            ].set_index("persona")
            lines.append(
                "engine match (every mechanism of the scenario on): the base churn "
                "whose simulated cohorts churn as fitted"
            )
            lines.append(
                f"  {'persona':<12}{'fitted mean':>12}{'base mean':>11}"
                f"{'engine mean':>13}  within the fit's CI"
            )
            for k, f in self.fits.items():
                eng = float(last.loc[k, "engine_mean"])
                ok = f.mean_ci[0] <= eng <= f.mean_ci[1]
                lines.append(
                    f"  {k:<12}{_pct(f.mean):>12}{_pct(self.settings[k][0]):>11}"
                    f"{_pct(eng):>13}  {'yes' if ok else 'no'}"
                )
        else:
            lines.append(
                "base mapping: churn.mean = α/(α+β), churn.concentration = α+β "
                "(exact when only base churn acts: mechanisms=all_off)"
            )
        if self.remark:
            lines.append(f"  note: {self.remark}")
        if out_dir is not None:
            out = Path(out_dir)
            lines += ["", f"override: {out}/scenario/calibrated.yaml"]
            for k, (m, c) in self.settings.items():
                lines.append(
                    f"  personas.{k}.churn: {{mean: {m}, concentration: "
                    f"{'null' if c is None else c}}}"
                )
            if self.uncertainty or self.uncertainty_skipped:
                lines.append(
                    "  uncertainty (each replication draws its churn from the fit's covariance: "
                    "mean and concentration jointly log-normal, Wald/delta-method):"
                )
            for name, e in self.uncertainty.items():
                corr = "".join(f", correlation with {o} {r:g}" for o, r in e["correlation"].items())
                lines.append(
                    f"  uncertainty.{name}: {e['key']} {100 * e['level']:g}% interval "
                    f"[{e['low']:.6g}, {e['high']:.6g}]{corr}"
                )
            for persona, why in self.uncertainty_skipped.items():
                lines.append(f"  {persona}: {why}")
            lines.append(f"run it: journey-sim --config-dir {out} scenario=calibrated")
            names = [str(p.relative_to(out)) for p in self.written]
            lines += [f"outputs: {out}/", "  " + "  ".join(names)]
        return "\n".join(lines)


def calibrate(
    cfg: Any,
    data: str | Path,
    *,
    funnel: str | Path | None = None,
    holdout: int | None = None,
    match: str = "engine",
    iterations: int = 4,
    replications: int = 2,
    uncertainty: bool = False,
) -> CalibrationResult:
    """``task=calibrate`` in Python: read and check the CSVs (before any fitting), fit sBG
    per persona, backtest on ``holdout`` periods, map the fits to base churn (``match``:
    ``engine`` runs ``engine_match``, ``base`` maps α/(α+β), α+β directly). With
    ``uncertainty``, the override also draws each persona's churn per replication from the
    fit's uncertainty (``uncertainty_entries``, centred on the values written).

    Raises:
        CalibrationDataError: a bad CSV (row, column, value) or a holdout the data cannot
            score.
    """
    from simulator.params import params_of

    params = params_of(cfg)
    personas = [p.name for p in params.persona_list]
    table = read_retention(data, personas)
    counts = read_funnel(funnel, personas) if funnel is not None else None
    cohorts = cohorts_by_persona(table)
    if holdout is not None:
        short = {k: c.horizon for k, c in cohorts.items() if holdout >= c.horizon}
        if short:
            k, h = next(iter(short.items()))
            raise CalibrationDataError(
                [
                    (
                        "holdout",
                        f"must be below every persona's observed periods so later periods "
                        f"are left to score; {k} has {h}, got {holdout}",
                    )
                ]
            )
    if match not in ("engine", "base"):
        raise CalibrationDataError([("match", f"must be engine or base, got {match!r}")])
    cohorts = {k: cohorts[k] for k in personas if k in cohorts}  # config order
    fits = {k: fit_sbg(c) for k, c in cohorts.items()}
    backtests = {k: backtest(c, holdout) for k, c in cohorts.items()} if holdout else {}
    rates = funnel_rates(counts) if counts is not None else None
    remark = ""
    if match == "engine" and not params.mechanisms["acquisition"]:
        match = "base"
        remark = "acquisition is off: no new cohorts to simulate, the base mapping is written"
    if match == "engine":
        em = engine_match(fits, params, iterations=iterations, replications=replications)
        settings, mt = em.settings, em.table
        note = (
            f"calibrated by journey-sim task=calibrate from {Path(data).name}: base churn "
            "matched so the engine's cohorts churn as the data (sBG fits)"
        )
    else:
        settings, mt = churn_settings(fits), None
        note = (
            f"calibrated by journey-sim task=calibrate from {Path(data).name}: "
            "churn.mean = α/(α+β), concentration = α+β of sBG fits"
        )
    entries, skipped = uncertainty_entries(fits, settings) if uncertainty else ({}, {})
    return CalibrationResult(
        Path(data),
        fits,
        settings,
        match,
        mt,
        backtests,
        holdout,
        rates,
        note,
        remark,
        uncertainty=entries,
        uncertainty_skipped=skipped,
    )
