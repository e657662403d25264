"""``price_response``: metrics at horizon over a grid of one parameter, paired across the grid.

Each grid point is the baseline with one key changed (``replace``: a plan's price, the annual
discount, a trial length...) and runs the baseline's replications with its seed, so replication
``r`` shares its random numbers at every point (common random numbers): the curve of a metric
moves only by the parameter's effect, not by noise, and the paired change between neighbouring
points is measured far more precisely than either point alone.

``ResponseResult.table`` has one row per grid value, persona (``total`` for the company) and
metric: the median and P10 / P90 across replications, and the median paired change from the
first grid point (``change_p50``, with ``change_p10`` / ``change_p90``). The metrics are those
of ``simulator.experiments.compare`` (headline metrics, conversion, new and expansion MRR, gross
profit).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from simulator.errors import ConfigError
from simulator.experiments.compare import replication_table
from simulator.experiments.executors import Executor, make_executor
from simulator.experiments.jobs import atomic_write
from simulator.experiments.montecarlo import simulate
from simulator.formatting import format_value
from simulator.params import ScenarioParams, read_config, replace

#: Columns of ``ResponseResult.table``.
TABLE_COLUMNS: tuple[str, ...] = (
    "grid_value",
    "persona",
    "metric",
    "median",
    "p10",
    "p90",
    "change_p10",
    "change_p50",
    "change_p90",
)
#: Metrics of the response chart (``ResponseResult.plot``), one panel each.
CURVE_METRICS: tuple[str, ...] = ("conversion", "monthly_logo_churn", "ending_arr", "gross_profit")


@dataclass
class ResponseResult:
    """The outputs of ``price_response``.

    Attributes:
        key: the dotted config key varied.
        values: the grid, in the order given.
        per_replication: one row per grid value, persona, replication and metric (``value``).
        table: one row per grid value, persona and metric (module docstring).
    """

    key: str
    values: list[Any]
    per_replication: pd.DataFrame
    table: pd.DataFrame

    def plot(self, persona: str = "total", metrics: Sequence[str] = CURVE_METRICS) -> Any:
        """The curves (``simulator.plots.plot_response``)."""
        from simulator.plots import plot_response

        return plot_response(self.table, self.key, persona, metrics)

    def format(self, persona: str = "total") -> str:
        """The printed curve of ``persona``: per grid value, the medians of conversion, logo
        churn, ending ARR and gross profit, and the paired change of ending ARR from the first
        value (P10 / P50 / P90 across replications)."""
        t = self.table[self.table["persona"] == persona].set_index(["grid_value", "metric"])
        n = int(self.per_replication["replication"].nunique())
        lines = [
            f"{self.key}: response ({persona}, {n} replications, paired with "
            f"{self.key} = {self.values[0]})",
            f"  {'value':>10}{'conversion':>12}{'logo churn':>12}{'ending ARR':>13}"
            f"{'gross profit':>14}   ending ARR change P10 / P50 / P90",
        ]
        for v in self.values:

            def med(metric: str, kind: str, v: Any = v) -> str:
                return format_value(float(t.loc[(v, metric), "median"]), kind)

            arr = t.loc[(v, "ending_arr")]
            change = " / ".join(
                format_value(float(arr[c]), "money")
                for c in ("change_p10", "change_p50", "change_p90")
            )
            lines.append(
                f"  {v!s:>10}{med('conversion', 'pct'):>12}{med('monthly_logo_churn', 'pct'):>12}"
                f"{med('ending_arr', 'money'):>13}{med('gross_profit', 'money'):>14}   {change}"
            )
        return "\n".join(lines)

    def save(self, directory: str | Path) -> Path:
        """Write ``response.csv`` (``table``) and ``response_replications.parquet``, each
        atomically (a complete file or none)."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write(out / "response.csv", lambda p: self.table.to_csv(p, index=False))
        per_rep = out / "response_replications.parquet"
        atomic_write(per_rep, lambda p: self.per_replication.to_parquet(p, index=False))
        return out


def price_response(
    base: DictConfig | ScenarioParams,
    key: str,
    values: Sequence[Any],
    *,
    executor: Executor | None = None,
    progress: bool | None = False,
) -> ResponseResult:
    """Run the baseline at every value of ``key`` (common random numbers across the grid).

    Args:
        base: the baseline (``load_config(...)`` or validated parameters).
        key: a dotted config key, e.g. ``pricing.plans.pro.price``.
        values: the grid (two or more values).
        executor: where replications run (default: the config's ``executor``; serial for
            parameters).
        progress: show a progress bar per grid value.

    Raises:
        ConfigError: a bad key or value (named), before any simulation.
    """
    if isinstance(base, DictConfig):
        params, settings, _ = read_config(base)
        executor = executor or make_executor(settings.executor)
    else:
        params = base
    grid = list(values)
    if len(grid) < 2:
        raise ConfigError([(key, f"a response needs two or more values, got {grid}")])
    points = [replace(params, {key: v}) for v in grid]  # every value checked first
    parts = []
    for v, p in zip(grid, points, strict=True):
        result = simulate(p, executor=executor, progress=progress)
        parts.append(replication_table(result).assign(grid_value=v))
    per_rep = pd.concat(parts, ignore_index=True)
    return ResponseResult(key, grid, per_rep, _table(per_rep, grid[0]))


def _table(per_rep: pd.DataFrame, first: Any) -> pd.DataFrame:
    """Median, P10 / P90 per grid value and the paired change from the first value."""
    start = per_rep[per_rep["grid_value"] == first][["persona", "replication", "metric", "value"]]
    both = per_rep.merge(
        start.rename(columns={"value": "first"}), on=["persona", "replication", "metric"]
    )
    both["change"] = both["value"] - both["first"]
    rows = []
    for (v, persona, metric), g in both.groupby(["grid_value", "persona", "metric"], sort=False):
        x = g["value"].to_numpy(dtype=float)
        d = g["change"].to_numpy(dtype=float)
        ok, okd = np.isfinite(x), np.isfinite(d)
        q = np.percentile(x[ok], [10, 50, 90]) if ok.any() else [np.nan] * 3
        c = np.percentile(d[okd], [10, 50, 90]) if okd.any() else [np.nan] * 3
        rows.append(
            {
                "grid_value": v,
                "persona": persona,
                "metric": metric,
                "median": q[1],
                "p10": q[0],
                "p90": q[2],
                "change_p10": c[0],
                "change_p50": c[1],
                "change_p90": c[2],
            }
        )
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
