"""Parameter uncertainty: parameters drawn afresh for each replication (``uncertainty.<name>``
in the config), so a fan chart's bands show how unsure the parameters are, not only the Monte
Carlo noise of customers converting and churning with every parameter fixed.

Each entry is drawn log-normal with [``low``, ``high``] its central ``level`` interval:
ln x ~ Normal(μ, σ), μ = (ln low + ln high) / 2, σ = (ln high − ln low) / (2 z), z the standard
normal quantile of (1 + level) / 2; then clipped to ``bounds`` when given. A calibrated churn's
profile-likelihood interval (``simulator.calibrate``: ``churn_mean_lo``, ``churn_mean_hi`` of
``fit.csv``, level 0.95) fits it directly. Entries are drawn independently (a joint draw of α and
β with their correlation is not done).

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
    out: dict[str, float] = {}
    for name in sorted(params.uncertainty):
        d = params.uncertainty[name]
        z = float(norm.ppf((1.0 + d.level) / 2.0))
        mu = (np.log(d.low) + np.log(d.high)) / 2.0
        sigma = (np.log(d.high) - np.log(d.low)) / (2.0 * z)
        value = float(np.exp(mu + sigma * rng.standard_normal()))
        if d.bounds is not None:
            value = float(np.clip(value, *d.bounds))
        out[d.key] = value
    return out


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
    return "; ".join(lines)
