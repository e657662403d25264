"""Parameter uncertainty: parameters drawn afresh for each replication (``uncertainty.<name>``
in the config), so a fan chart's bands show how unsure the parameters are, not only the Monte
Carlo noise of customers converting and churning with every parameter fixed.

Each entry is drawn log-normal with [``low``, ``high``] its central ``level`` interval:
ln x ~ Normal(μ, σ), μ = (ln low + ln high) / 2, σ = (ln high − ln low) / (2 z), z the standard
normal quantile of (1 + level) / 2; then clipped to ``bounds`` when given. A calibrated churn's
profile-likelihood interval (``simulator.calibrate``: ``churn_mean_lo``, ``churn_mean_hi`` of
``fit.csv``, level 0.95) fits it directly.

Entries are independent unless ``correlation`` says otherwise: ``uncertainty.<a>.correlation.<b>
= ρ`` makes ln a and ln b jointly normal with correlation ρ (each keeping its own marginal).
The standard normals z are drawn one per entry in entry-name order (as for independent
entries), then correlated as L z, L the Cholesky factor of the correlation matrix R (an
eigen-decomposition square root when R is singular, ρ = ±1); with no correlation L = I and the
draws are the independent ones, number for number. ``task=calibrate calibrate.uncertainty=true``
writes such a pair for each persona's fitted churn: mean and concentration, log-normal, their
correlation from the fit's covariance (``simulator.calibrate.uncertainty_entries``).

Draws come from their own generator, seeded by (seed, replication): the engine's random
streams are untouched, so a replication with uncertainty off is the same as before, and the
same seed draws the same parameters whatever the executor.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from simulator.params import ScenarioParams, replace

#: Salt of the parameter generator's seed (keeps it apart from every engine stream).
_SALT = 0x50_41_52_41_4D  # "PARAM"


def draws(params: ScenarioParams, replication: int) -> dict[str, float]:
    """The drawn value of each ``uncertainty`` entry's key for one replication (key -> value),
    in entry-name order."""
    if not params.uncertainty:
        return {}
    rng = np.random.default_rng([int(params.seed), int(replication), _SALT])
    names = sorted(params.uncertainty)
    normals = [rng.standard_normal() for _ in names]  # one per entry, in name order
    factor = correlation_factor(params)
    if factor is not None:
        normals = list(factor @ np.array(normals))
    out: dict[str, float] = {}
    for name, normal in zip(names, normals, strict=True):
        d = params.uncertainty[name]
        mu, sigma = log_scale(d)
        value = float(np.exp(mu + sigma * normal))
        if d.bounds is not None:
            value = float(np.clip(value, *d.bounds))
        out[d.key] = value
    return out


def log_scale(entry: object) -> tuple[float, float]:
    """(μ, σ) of ln x of an ``uncertainty`` entry: [low, high] is its central ``level``
    interval."""
    z = float(norm.ppf((1.0 + entry.level) / 2.0))  # type: ignore[attr-defined]
    low, high = np.log(entry.low), np.log(entry.high)  # type: ignore[attr-defined]
    return float((low + high) / 2.0), float((high - low) / (2.0 * z))


def correlation_matrix(params: ScenarioParams) -> np.ndarray:
    """The entries' correlations on the log scale, in entry-name order (identity: none)."""
    names = sorted(params.uncertainty)
    index = {n: i for i, n in enumerate(names)}
    matrix = np.eye(len(names))
    for name in names:
        for other, rho in params.uncertainty[name].correlation.items():
            matrix[index[name], index[other]] = matrix[index[other], index[name]] = rho
    return matrix


def correlation_factor(params: ScenarioParams) -> np.ndarray | None:
    """L with L Lᵀ = the correlation matrix (Cholesky; a symmetric square root when it is
    singular), or None when the entries are independent."""
    matrix = correlation_matrix(params)
    if np.array_equal(matrix, np.eye(len(matrix))):
        return None
    try:
        return np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:  # semi-definite (a correlation of ±1)
        values, vectors = np.linalg.eigh(matrix)
        return vectors * np.sqrt(np.clip(values, 0.0, None))


def replication_params(params: ScenarioParams, replication: int) -> ScenarioParams:
    """The parameters replication ``replication`` simulates: ``params`` itself when nothing is
    drawn, else a validated copy with its drawn values."""
    drawn = draws(params, replication)
    return replace(params, drawn) if drawn else params


def drawn_table(params: ScenarioParams, replications: list[int] | None = None) -> pd.DataFrame:
    """Every replication's drawn values: columns replication, key, value (empty when nothing
    is drawn)."""
    reps = range(params.replications) if replications is None else replications
    rows = [
        {"replication": r, "key": k, "value": v} for r in reps for k, v in draws(params, r).items()
    ]
    return pd.DataFrame(rows, columns=["replication", "key", "value"])


def describe(params: ScenarioParams) -> str:
    """One line per drawn parameter: its key, interval and level, for reports."""
    lines = []
    for name in sorted(params.uncertainty):
        d = params.uncertainty[name]
        clip = f", clipped to [{d.bounds[0]:g}, {d.bounds[1]:g}]" if d.bounds else ""
        lines.append(
            f"{d.key}: log-normal, central {100 * d.level:g}% interval "
            f"[{d.low:g}, {d.high:g}]{clip}"
        )
    pairs: dict[frozenset[str], str] = {}
    for name in sorted(params.uncertainty):
        for other, rho in sorted(params.uncertainty[name].correlation.items()):
            a, b = params.uncertainty[name].key, params.uncertainty[other].key
            pairs.setdefault(
                frozenset((name, other)),
                f"{a} and {b} jointly log-normal, correlation {rho:.3g} on the log scale",
            )
    if not pairs:
        return "; ".join(lines)
    return "; ".join(lines + list(pairs.values())) + " (other entries independent)"
