"""``compare``: a baseline and its variants, paired replication by replication.

Every scenario of a comparison runs the baseline's replications with the baseline's seed, so
replication ``r`` of each scenario draws the same random numbers wherever the scenarios agree
(common random numbers: ``simulator.streams``). The effect of a variant is then measured on the
**paired difference** ``variant_r - baseline_r`` of each metric, which removes the noise the two
runs share: an effect far smaller than either run's P10-P90 band is still detected.

For each variant, persona (and ``total``, the company) and metric, ``ComparisonResult.table``
holds:

- the baseline's and the variant's median across replications;
- P10 / P50 / P90 of the paired differences (their spread across replications);
- the mean paired difference and its 90% confidence interval, mean +- 1.645 sd / sqrt(n);
- a verdict: ``higher`` or ``lower`` when the interval excludes zero, ``no difference`` when
  every paired difference is exactly zero, else ``no detectable difference at n replications``;
- ``replications_needed``: replications for a two-sided 90% interval to detect, with 80% power,
  a difference of ``effect`` x |baseline median| (default 1%): ceil(((1.645 + 0.842) sd /
  delta)^2).

The metrics are the headline metrics of ``simulator.metrics`` (``METRICS``) computed per
replication and per persona, with four more a pricing decision reads: ``conversion`` (new
customers / decisions), ``new_mrr`` and ``expansion_mrr`` over the horizon ($/month added), and
``gross_profit`` (revenue billed - COGS - support cost over the horizon, $).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from simulator.config import parse_overrides
from simulator.errors import ConfigError
from simulator.experiments.executors import Executor, make_executor
from simulator.experiments.montecarlo import SimulationResult, simulate
from simulator.metrics import METRICS, company_totals, replication_metrics
from simulator.params import ScenarioParams, read_config, replace

#: The name of the baseline in a comparison's tables.
BASELINE = "baseline"
#: Metrics a comparison reports beyond ``simulator.metrics.METRICS``.
EXTRA_METRICS: tuple[str, ...] = ("conversion", "new_mrr", "expansion_mrr", "gross_profit")
#: The metrics of the printed table, in order.
PRINTED: tuple[str, ...] = (
    "ending_arr",
    "ending_customers",
    "new_customers",
    "conversion",
    "monthly_logo_churn",
    "new_mrr",
    "expansion_mrr",
    "nrr_12m",
    "revenue",
    "gross_profit",
    "ltv",
    "payback_months",
)
#: Columns of ``ComparisonResult.table``.
TABLE_COLUMNS: tuple[str, ...] = (
    "variant",
    "persona",
    "metric",
    "replications",
    "baseline_median",
    "variant_median",
    "diff_p10",
    "diff_p50",
    "diff_p90",
    "diff_mean",
    "diff_sd",
    "ci90_low",
    "ci90_high",
    "verdict",
    "replications_needed",
)
_Z90 = 1.6448536269514722  # two-sided 90% interval
_Z_POWER = 0.8416212335729143  # 80% power

Variant = Sequence[str] | Mapping[str, Any] | DictConfig | ScenarioParams


@dataclass
class ComparisonResult:
    """The outputs of ``compare``.

    Attributes:
        baseline: the baseline's name (``BASELINE``).
        results: each scenario's ``SimulationResult`` (the baseline first), by name.
        paired: one row per variant, persona (``total`` for the company), replication and
            metric: the baseline's value, the variant's and their difference.
        table: one row per variant, persona and metric (module docstring).
    """

    baseline: str
    results: dict[str, SimulationResult]
    paired: pd.DataFrame
    table: pd.DataFrame

    def format(self, persona: str = "total", metrics: Sequence[str] = PRINTED) -> str:
        """The printed comparison of ``persona`` (default: the company)."""
        t = self.table[(self.table["persona"] == persona) & self.table["metric"].isin(metrics)]
        n = int(t["replications"].max()) if len(t) else 0
        lines = [f"paired differences vs {self.baseline} ({persona}, {n} replications)"]
        w = max([12, *(len(v) for v in t["variant"])]) + 2
        head = f"  {'variant':<{w}}{'metric':<20}{'baseline':>12}{'P10':>12}{'P50':>12}{'P90':>12}"
        lines.append(head + "  verdict")
        for row in t.sort_values(["variant", "metric"], key=_metric_order).itertuples():
            lines.append(
                f"  {row.variant:<{w}}{row.metric:<20}{_num(row.baseline_median):>12}"
                f"{_num(row.diff_p10):>12}{_num(row.diff_p50):>12}{_num(row.diff_p90):>12}"
                f"  {row.verdict}"
            )
        return "\n".join(lines)

    def save(self, directory: str | Path) -> Path:
        """Write ``comparison.csv`` and ``comparison.parquet`` (``table``) and
        ``paired.parquet`` into ``directory`` (each atomically: a temporary file, a rename)."""
        from simulator.experiments.jobs import atomic_write

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write(out / "comparison.csv", lambda p: self.table.to_csv(p, index=False))
        atomic_write(out / "comparison.parquet", lambda p: self.table.to_parquet(p, index=False))
        atomic_write(out / "paired.parquet", lambda p: self.paired.to_parquet(p, index=False))
        return out


def compare(
    base: DictConfig | ScenarioParams,
    variants: Mapping[str, Variant],
    *,
    baseline: str = BASELINE,
    executor: Executor | None = None,
    progress: bool | None = False,
    effect: float = 0.01,
) -> ComparisonResult:
    """Run a baseline and its variants with common random numbers; their paired differences.

    Args:
        base: the baseline (``load_config(...)`` or validated parameters); its seed and
            replications are every scenario's.
        variants: name -> a variant: a list of ``key=value`` overrides of scenario keys
            (``["pricing.plans.pro.price=109"]``), a mapping of dotted keys to values (as
            ``replace`` takes), or a config / parameters of its own (with the baseline's seed
            and replications). A config group such as ``scenario=price_increase`` is composed
            with ``load_config`` and passed as a config.
        baseline: the baseline's name in the tables (default ``BASELINE``).
        executor: where replications run (default: the config's ``executor``; serial for
            parameters).
        progress: show a progress bar per scenario.
        effect: the relative effect ``replications_needed`` is computed for (0.01 = 1% of
            the baseline's median).

    Raises:
        ConfigError: a bad variant (unknown key, bad value, other seed or replications), named,
            before any simulation.
    """
    if isinstance(base, DictConfig):
        params, settings, _ = read_config(base)
        executor = executor or make_executor(settings.executor)
    else:
        params = base
    scenarios = {baseline: params}
    for name, spec in variants.items():
        if name == baseline:
            raise ConfigError([(name, f"'{baseline}' names the baseline; name the variant apart")])
        scenarios[name] = _variant(params, name, spec)
    results = {
        name: simulate(p, executor=executor, progress=progress) for name, p in scenarios.items()
    }
    per_rep = {name: replication_table(r) for name, r in results.items()}
    paired = _paired(per_rep, baseline)
    return ComparisonResult(baseline, results, paired, _summary(paired, effect))


def paired_comparison(
    per_replication: Mapping[str, pd.DataFrame], baseline: str = BASELINE, effect: float = 0.01
) -> ComparisonResult:
    """The comparison of scenarios already run: ``compare``'s paired differences, verdicts and
    replications needed, from each scenario's ``replication_table`` (by name, the baseline
    among them; every scenario run with the same seed and replications). What callers that run
    scenarios their own way (the optimiser's re-evaluation) report; ``results`` is empty."""
    if baseline not in per_replication:
        raise ValueError(f"the baseline {baseline!r} is not among {list(per_replication)}")
    paired = _paired(dict(per_replication), baseline)
    return ComparisonResult(baseline, {}, paired, _summary(paired, effect))


def _variant(params: ScenarioParams, name: str, spec: Variant) -> ScenarioParams:
    """The variant's parameters (module docstring), checked to pair with the baseline."""
    if isinstance(spec, DictConfig):
        spec = read_config(spec)[0]
    if isinstance(spec, ScenarioParams):
        for key in ("seed", "replications"):
            if getattr(spec, key) != getattr(params, key):
                raise ConfigError(
                    [
                        (
                            f"{name}.{key}",
                            f"{getattr(spec, key)} differs from the baseline's "
                            f"{getattr(params, key)}: the replications would not be paired",
                        )
                    ]
                )
        return spec
    if isinstance(spec, Mapping):
        changes = dict(spec)
    else:
        changes = {}
        for override in parse_overrides(list(spec)):
            if override.is_add() or override.is_delete() or override.package is not None:
                raise ConfigError([(override.input_line, "a variant sets existing keys only")])
            changes[override.key_or_group] = override.value()
    for key in ("seed", "replications"):
        if key in changes:
            raise ConfigError([(f"{name}.{key}", "a variant keeps the baseline's (paired)")])
    try:
        return replace(params, changes)
    except ConfigError as exc:
        hint = "; a config group (scenario=...) is composed with load_config([...]) and passed"
        raise ConfigError(
            [(f"{name}: {k}", m + (hint if "." not in k else "")) for k, m in exc.problems]
        ) from None


def replication_table(result: SimulationResult, personas: bool = True) -> pd.DataFrame:
    """Metrics per replication, for the company (``total``) and each persona (long form:
    replication, persona, metric, value); ``personas=False``: the company alone."""
    monthly = result.monthly
    rate = result.params.finance
    parts = [
        _with_extras(
            replication_metrics(company_totals(monthly), rate), company_totals(monthly)
        ).assign(persona="total")
    ]
    for persona, rows in monthly.groupby("persona", sort=False) if personas else ():
        parts.append(_with_extras(replication_metrics(rows, rate), rows).assign(persona=persona))
    wide = pd.concat(parts, ignore_index=True).drop(columns="scenario")
    return wide.melt(id_vars=["persona", "replication"], var_name="metric", value_name="value")


def _with_extras(metrics: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """``metrics`` (one row per replication) with ``EXTRA_METRICS`` from ``table``."""
    sums = table.groupby("replication")[
        [
            "new_customers",
            "decisions",
            "new_mrr",
            "expansion_mrr",
            "revenue",
            "cogs",
            "support_cost",
        ]
    ].sum()
    extra = pd.DataFrame(
        {
            "replication": sums.index,
            "conversion": np.divide(
                sums["new_customers"].to_numpy(dtype=float),
                sums["decisions"].to_numpy(dtype=float),
                out=np.zeros(len(sums)),
                where=sums["decisions"].to_numpy() > 0,
            ),
            "new_mrr": sums["new_mrr"].to_numpy(),
            "expansion_mrr": sums["expansion_mrr"].to_numpy(),
            "gross_profit": (sums["revenue"] - sums["cogs"] - sums["support_cost"]).to_numpy(),
        }
    )
    # (an extra the headline metrics already hold, e.g. new_mrr, is theirs: same definition)
    extra = extra.drop(columns=[c for c in metrics.columns if c != "replication" and c in extra])
    return metrics.merge(extra, on="replication", how="left")


def _paired(per_rep: dict[str, pd.DataFrame], baseline: str) -> pd.DataFrame:
    """Each variant's value beside the baseline's, same replication, persona and metric."""
    base = per_rep[baseline].rename(columns={"value": "baseline"})
    out = []
    for name, table in per_rep.items():
        if name == baseline:
            continue
        both = base.merge(table, on=["persona", "replication", "metric"], how="inner")
        both["difference"] = both["value"] - both["baseline"]
        out.append(both.assign(variant=name))
    cols = ["variant", "persona", "replication", "metric", "baseline", "value", "difference"]
    return pd.concat(out, ignore_index=True)[cols] if out else pd.DataFrame(columns=cols)


def _summary(paired: pd.DataFrame, effect: float) -> pd.DataFrame:
    """The comparison table (module docstring) from the paired differences."""
    rows = []
    for (variant, persona, metric), g in paired.groupby(
        ["variant", "persona", "metric"], sort=False
    ):
        ok = np.isfinite(g["difference"].to_numpy(dtype=float))
        d = g["difference"].to_numpy(dtype=float)[ok]
        base = g["baseline"].to_numpy(dtype=float)[ok]
        value = g["value"].to_numpy(dtype=float)[ok]
        n = d.size
        row: dict[str, Any] = {"variant": variant, "persona": persona, "metric": metric}
        row["replications"] = n
        if n == 0:
            rows.append(row | {"verdict": "not defined (no finite values)"})
            continue
        mean = float(d.mean())
        sd = float(d.std(ddof=1)) if n > 1 else 0.0
        half = _Z90 * sd / math.sqrt(n)
        p10, p50, p90 = np.percentile(d, [10, 50, 90])
        base_median = float(np.median(base))
        delta = abs(effect * base_median)
        row |= {
            "baseline_median": base_median,
            "variant_median": float(np.median(value)),
            "diff_p10": float(p10),
            "diff_p50": float(p50),
            "diff_p90": float(p90),
            "diff_mean": mean,
            "diff_sd": sd,
            "ci90_low": mean - half,
            "ci90_high": mean + half,
            "verdict": _verdict(d, mean - half, mean + half, n),
            "replications_needed": (
                math.ceil(((_Z90 + _Z_POWER) * sd / delta) ** 2) if delta > 0 else np.nan
            ),
        }
        rows.append(row)
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def _verdict(d: np.ndarray, low: float, high: float, n: int) -> str:
    if not np.any(d):
        return "no difference"
    if low > 0:
        return "higher"
    if high < 0:
        return "lower"
    return f"no detectable difference at {n} replications"


def _metric_order(s: pd.Series) -> pd.Series:
    order: dict[str, int] = {}
    for name in [*PRINTED, *(m.name for m in METRICS)]:
        order.setdefault(name, len(order))
    return s.map(order) if s.name == "metric" else s


def _num(x: float) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    if abs(x) >= 1e6:
        return f"{x / 1e6:,.2f}M"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 1:
        return f"{x:,.2f}"
    return f"{x:.4f}"
