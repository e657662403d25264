"""``sensitivity``: global sensitivity of headline metrics to named parameters (SALib).

A study names its input factors (a dotted scenario key each, with a range and a scale), a
method and the output metrics (names of ``simulator.metrics.METRICS``):

- ``method="sobol"``: Saltelli's scheme on a scrambled Sobol' sequence
  (``SALib.sample.sobol``, N × (D + 2) model evaluations, N × (2D + 2) with second order) and
  ``SALib.analyze.sobol``: first-order ``S1`` and total-order ``ST`` indices (and ``S2``) with
  bootstrap confidence intervals. ``S1`` is the share of the metric's variance a factor explains
  alone, ``ST`` with all its interactions; ``ST - S1`` large means interactions.
- ``method="morris"``: Morris elementary effects on a ``levels``-level grid (``SALib.sample.
  morris``, N trajectories × (D + 1) evaluations) and ``SALib.analyze.morris``: ``mu_star``
  (mean |effect|: importance), ``sigma`` (spread of the effects: interactions or
  non-linearity) and ``mu`` (signed mean), with bootstrap intervals for ``mu_star`` and
  ``sigma``. A cheap screening before a Sobol study.

**Model evaluations.** Each sample point is the base scenario with the factors set by
``replace`` (validated, no Hydra): a factor with ``scale: log`` is sampled uniformly in its
logarithm; a key that takes whole numbers (support agents, trial days...) gets the sampled value
rounded to the nearest whole number. Every point runs replications ``0 .. R-1`` with the base's
seed (**common random numbers**: the same random streams at every point, so the differences
between points are the factors' effects, not sampling noise; with R = 1 the metric is a
deterministic function of the factors). A point's value of a metric is its mean over the R
replications. Points fan out through an executor (serial, local process pool, Dask) as
independent jobs; they are seeded by their own arguments, so the indices are identical whatever
the executor and worker count. The sampler's scrambling and the bootstrap of the intervals use
``seed`` (default: the base's seed).

``model=`` replaces the simulation by any function of the factor values (a mapping ``{name:
value}`` → a mapping ``{metric: value}``), run through the same sampling, executor and analysis
code: how the tests check the wiring against the Ishigami function's published indices.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from simulator.errors import ConfigError
from simulator.experiments.executors import Executor, SerialExecutor, make_executor
from simulator.experiments.jobs import CheckpointStore, atomic_write, fingerprint, run_jobs
from simulator.experiments.montecarlo import assemble, run_replication
from simulator.metrics import METRIC_BY_NAME, company_totals, replication_metrics
from simulator.params import ScenarioParams, read_config, replace
from simulator.params.sensitivity import SensitivitySettings
from simulator.params.validate import problems_of

#: Columns of ``SensitivityResult.table`` (one row per metric, parameter and index).
TABLE_COLUMNS: tuple[str, ...] = (
    "method",
    "metric",
    "parameter",
    "key",
    "index",
    "value",
    "conf",
    "ci_low",
    "ci_high",
)
#: Indices each method reports, in order.
INDICES: dict[str, tuple[str, ...]] = {
    "sobol": ("S1", "ST", "S2"),
    "morris": ("mu_star", "sigma", "mu"),
}
#: Sub-directory of a study's output directory with one checkpoint file per model evaluation.
POINTS_DIR = "points"

Model = Callable[[dict[str, float]], Mapping[str, float]]


# ------------------------------------------------------------------------- settings and checks
def settings_of(
    problem: Mapping[str, Any],
    *,
    method: str,
    metric: str | Sequence[str],
    n: int,
    seed: int | None = None,
    replications: int | None = None,
    **options: Any,
) -> SensitivitySettings:
    """Validated settings from the Python API's arguments.

    ``problem``: name → ``{"key": dotted key, "low": .., "high": .., "scale": "linear"|"log"}``;
    without ``key`` the name is the key; ``(low, high)`` or ``(low, high, scale)`` is short for
    the mapping.

    Raises:
        ConfigError: every problem, named ``sensitivity.<key>`` as in the config.
    """
    parameters: dict[str, Any] = {}
    for name, spec in problem.items():
        if isinstance(spec, Sequence) and not isinstance(spec, str) and len(spec) in (2, 3):
            spec = dict(zip(("low", "high", "scale"), spec, strict=False))
        parameters[name] = {"key": name, **spec} if isinstance(spec, Mapping) else spec
    metrics = [metric] if isinstance(metric, str) else list(metric)
    tree = {"method": method, "n": n, "metrics": metrics, "parameters": parameters}
    tree |= {"seed": seed, "replications": replications, **options}
    found = problems_of(SensitivitySettings, tree)
    if found:
        raise ConfigError([(f"sensitivity.{k}", m) for k, m in found])
    return SensitivitySettings.model_validate(tree)


def _value_at(params: ScenarioParams, key: str) -> Any:
    node: Any = params.model_dump()
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


_MISSING = object()


def check_problem(params: ScenarioParams, settings: SensitivitySettings) -> list[tuple[str, str]]:
    """Problems of the factors against the scenario (empty when every key is a number of the
    scenario and both ends of its range are values the key accepts)."""
    problems = []
    for name, p in settings.parameters.items():
        where = f"sensitivity.parameters.{name}"
        current = _value_at(params, p.key)
        if current is _MISSING:
            try:
                replace(params, {p.key: p.low})
            except ConfigError as exc:
                problems += [(f"{where}.key", f"{p.key}: {m}") for _, m in exc.problems]
            continue
        if isinstance(current, bool) or not isinstance(current, int | float):
            kind = "a switch" if isinstance(current, bool) else f"not a number ({current!r})"
            problems.append((f"{where}.key", f"{p.key} is {kind}; a factor must be a number"))
            continue
        if p.key in ("seed", "replications"):
            problems.append((f"{where}.key", f"{p.key} is how the study runs, not a factor"))
            continue
        if isinstance(current, int) and math.floor(p.high) < math.ceil(p.low):
            problems.append(
                (f"{where}.high", f"{p.key} takes whole numbers; no whole number in range")
            )
            continue
        for end in ("low", "high"):
            value = _whole(getattr(p, end)) if isinstance(current, int) else getattr(p, end)
            try:
                replace(params, {p.key: value})
            except ConfigError as exc:
                problems += [(f"{where}.{end}", f"{m} (as {k})") for k, m in exc.problems]
    return problems


def _whole(x: float) -> int:
    return math.floor(x + 0.5)


# -------------------------------------------------------------------------- sampling, analysis
def salib_problem(settings: SensitivitySettings) -> dict[str, Any]:
    """The SALib problem: names and bounds (log bounds for ``scale: log``)."""
    bounds = []
    for p in settings.parameters.values():
        lo, hi = (math.log(p.low), math.log(p.high)) if p.scale == "log" else (p.low, p.high)
        bounds.append([lo, hi])
    return {"num_vars": len(bounds), "names": list(settings.parameters), "bounds": bounds}


def sample(settings: SensitivitySettings, seed: int) -> np.ndarray:
    """The sample matrix in SALib's space (one row per model evaluation)."""
    problem = salib_problem(settings)
    if settings.method == "sobol":
        from SALib.sample import sobol

        return sobol.sample(problem, settings.n, calc_second_order=settings.second_order, seed=seed)
    from SALib.sample import morris

    return morris.sample(problem, settings.n, num_levels=settings.levels, seed=seed)


def factor_values(
    settings: SensitivitySettings, x: np.ndarray, whole: Mapping[str, bool] | None = None
) -> np.ndarray:
    """Sample rows → the factors' values (exp of log-scale columns; whole keys rounded)."""
    out = np.array(x, dtype=float, copy=True)
    for j, (name, p) in enumerate(settings.parameters.items()):
        if p.scale == "log":
            out[:, j] = np.exp(out[:, j])
        if whole and whole.get(name):
            out[:, j] = np.floor(out[:, j] + 0.5)
    return out


def analyze(
    settings: SensitivitySettings, x: np.ndarray, y: np.ndarray, seed: int, metric: str
) -> pd.DataFrame:
    """Indices of one output ``y`` (one value per row of ``x``): the tidy table's rows."""
    problem = salib_problem(settings)
    names = problem["names"]
    keys = [p.key for p in settings.parameters.values()]
    rows: list[dict[str, Any]] = []

    def add(index: str, parameter: str, key: str, value: float, conf: float) -> None:
        rows.append(
            {
                "method": settings.method,
                "metric": metric,
                "parameter": parameter,
                "key": key,
                "index": index,
                "value": float(value),
                "conf": float(conf),
                "ci_low": float(value - conf),
                "ci_high": float(value + conf),
            }
        )

    y = np.asarray(y, dtype=float)
    if not np.all(np.isfinite(y)) or np.ptp(y) == 0:
        # not defined: a metric undefined at some point, or one that does not vary at all
        for idx in INDICES[settings.method][:2]:
            for name, key in zip(names, keys, strict=True):
                add(idx, name, key, math.nan, math.nan)
        return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    import warnings

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if settings.method == "sobol":
            from SALib.analyze import sobol

            si = sobol.analyze(
                problem,
                y,
                calc_second_order=settings.second_order,
                num_resamples=settings.resamples,
                conf_level=settings.conf_level,
                seed=seed,
            )
            for idx in ("S1", "ST"):
                for j, (name, key) in enumerate(zip(names, keys, strict=True)):
                    add(idx, name, key, si[idx][j], si[f"{idx}_conf"][j])
            if settings.second_order:
                for a in range(len(names)):
                    for b in range(a + 1, len(names)):
                        pair, pair_keys = f"{names[a]} × {names[b]}", f"{keys[a]} × {keys[b]}"
                        add("S2", pair, pair_keys, si["S2"][a, b], si["S2_conf"][a, b])
        else:
            from SALib.analyze import morris

            si = morris.analyze(
                problem,
                x,
                y,
                num_resamples=settings.resamples,
                conf_level=settings.conf_level,
                num_levels=settings.levels,
                seed=seed,
            )
            sigma_conf = _sigma_conf(settings, x, y, seed)
            for j, (name, key) in enumerate(zip(names, keys, strict=True)):
                add("mu_star", name, key, si["mu_star"][j], si["mu_star_conf"][j])
            for j, (name, key) in enumerate(zip(names, keys, strict=True)):
                add("sigma", name, key, si["sigma"][j], sigma_conf[j])
            for j, (name, key) in enumerate(zip(names, keys, strict=True)):
                add("mu", name, key, si["mu"][j], math.nan)
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def elementary_effects(settings: SensitivitySettings, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Morris elementary effects, one row per trajectory, one column per factor: the change of
    ``y`` over the step of the factor that moves, the step in units of the factor's range (as
    SALib's ``mu``/``mu_star``/``sigma``)."""
    d = len(settings.parameters)
    bounds = np.array(salib_problem(settings)["bounds"])
    span = bounds[:, 1] - bounds[:, 0]
    trajectories = x.reshape(-1, d + 1, d)
    values = y.reshape(-1, d + 1)
    out = np.full((trajectories.shape[0], d), np.nan)
    for t, (xt, yt) in enumerate(zip(trajectories, values, strict=True)):
        steps = np.diff(xt, axis=0) / span  # one factor moves per step
        for s in range(d):
            j = int(np.argmax(np.abs(steps[s])))
            out[t, j] = (yt[s + 1] - yt[s]) / steps[s, j]
    return out


def _sigma_conf(
    settings: SensitivitySettings, x: np.ndarray, y: np.ndarray, seed: int
) -> np.ndarray:
    """Bootstrap half-width of ``sigma`` at ``conf_level`` (resampling trajectories, as SALib
    does for ``mu_star``)."""
    from scipy.stats import norm

    ee = elementary_effects(settings, x, y)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, ee.shape[0], size=(settings.resamples, ee.shape[0]))
    boot = np.stack([ee[p].std(axis=0, ddof=1) for p in picks])
    return norm.ppf(0.5 + settings.conf_level / 2) * boot.std(axis=0, ddof=1)


# ------------------------------------------------------------------------------- evaluations
def evaluate_point(task: tuple[Any, ...], on_tick: Callable[[], object] | None = None) -> Any:
    """One model evaluation (a job of the executor): ``("sim", params, replications)`` → the
    headline metrics of each replication (one row each); ``("model", fn, values)`` →
    ``fn(values)`` as a one-row table."""
    if task[0] == "model":
        _, fn, values = task
        return pd.DataFrame([dict(fn(values))])
    _, params, replications = task
    frames = [run_replication((params, r), on_tick) for r in range(replications)]
    monthly = assemble(frames, params)
    return replication_metrics(company_totals(monthly), params.finance)


@dataclass
class SensitivityResult:
    """The outputs of ``sensitivity``.

    Attributes:
        settings: the validated study settings.
        table: one row per metric, parameter and index (``TABLE_COLUMNS``): the index, its
            bootstrap half-width ``conf`` at ``settings.conf_level`` and the interval.
        samples: one row per model evaluation: the factors' values (as the model got them)
            and each metric (mean over the point's replications).
        seed: the sampler's and bootstrap's seed; ``replications``: per point.
        meta: provenance (scenario, seed, config) written by ``save``.
    """

    settings: SensitivitySettings
    table: pd.DataFrame
    samples: pd.DataFrame
    seed: int
    replications: int
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def evaluations(self) -> int:
        return len(self.samples)

    def format(self) -> str:
        """The printed table: per metric, each parameter's indices with their intervals."""
        s = self.settings
        pct = round(s.conf_level * 100)
        lines = [
            f"{s.method} sensitivity · N={s.n} · {len(s.parameters)} parameters · "
            f"{self.evaluations} evaluations × {self.replications} replication"
            f"{'s' if self.replications != 1 else ''} (common random numbers) · seed {self.seed}"
        ]
        first, second = INDICES[s.method][:2]
        w = max(12, *(len(p) for p in s.parameters)) + 2
        for metric in s.metrics:
            t = self.table[self.table["metric"] == metric]
            label = METRIC_BY_NAME[metric].label if metric in METRIC_BY_NAME else metric
            lines += ["", f"  {label} ({metric}); {pct}% intervals"]
            lines.append(f"  {'parameter':<{w}}{first:>10}  {'interval':<20}{second:>10}  interval")
            for name in s.parameters:
                a = t[(t["parameter"] == name) & (t["index"] == first)].iloc[0]
                b = t[(t["parameter"] == name) & (t["index"] == second)].iloc[0]
                lines.append(
                    f"  {name:<{w}}{_n(a.value):>10}  {_ci(a):<20}{_n(b.value):>10}  {_ci(b)}"
                )
        return "\n".join(lines)

    def plot(self, metrics: Sequence[str] | None = None) -> Any:
        """Bar chart of the indices with their intervals (``simulator.plots.plot_sensitivity``)."""
        from simulator.plots import plot_sensitivity

        return plot_sensitivity(self.table, metrics)

    def save(self, directory: str | Path, *, plots: bool = True) -> Path:
        """Write ``sensitivity.csv`` and ``sensitivity.parquet`` (``table``),
        ``samples.parquet``, ``sensitivity.json`` (settings, seed, config, package versions,
        git revision) and ``plots/sensitivity.png`` into ``directory``."""
        import json
        import sys
        from datetime import UTC, datetime

        from simulator.experiments.provenance import git_revision, json_default, package_versions

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write(out / "sensitivity.csv", lambda p: self.table.to_csv(p, index=False))
        atomic_write(out / "sensitivity.parquet", lambda p: self.table.to_parquet(p, index=False))
        atomic_write(out / "samples.parquet", lambda p: self.samples.to_parquet(p, index=False))
        doc = {
            "settings": self.settings.model_dump(mode="json"),
            "sampler_seed": self.seed,
            "replications_per_point": self.replications,
            "evaluations": self.evaluations,
            **self.meta,
            "versions": {**package_versions(), "SALib": _version("SALib")},
            "git_revision": git_revision(),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": " ".join(sys.argv),
        }
        atomic_write(
            out / "sensitivity.json",
            lambda p: p.write_text(json.dumps(doc, indent=2, default=json_default)),
        )
        if plots:
            import matplotlib.pyplot as plt

            fig = self.plot()
            (out / "plots").mkdir(exist_ok=True)
            fig.savefig(out / "plots" / "sensitivity.png", dpi=110)
            plt.close(fig)
        return out


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def _n(x: float) -> str:
    if not np.isfinite(x):
        return "n/a"
    if abs(x) >= 1e6:
        return f"{x / 1e6:,.2f}M"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.3f}" if abs(x) < 10 else f"{x:,.1f}"


def _ci(row: Any) -> str:
    if not np.isfinite(row.conf):
        return ""
    return f"[{_n(row.ci_low)}, {_n(row.ci_high)}]"


# ---------------------------------------------------------------------------------- the study
def run_study(
    params: ScenarioParams | None,
    settings: SensitivitySettings,
    *,
    executor: Executor | None = None,
    model: Model | None = None,
    progress: bool = False,
    checkpoint_dir: str | Path | None = None,
    meta: Mapping[str, Any] | None = None,
) -> SensitivityResult:
    """Sample, evaluate every point through ``executor``, analyse (see the module docstring).

    ``settings`` must be valid and, without ``model``, checked against ``params``
    (``check_problem``); ``sensitivity`` does both. ``checkpoint_dir``: each evaluation is
    written to ``<dir>/points/point-NNNN.parquet`` as it finishes, and a rerun of the same
    study loads them instead of evaluating again.

    Raises:
        simulator.experiments.jobs.Interrupted: on Ctrl-C, with the finished evaluations.
    """
    if params is None and model is None:
        raise ValueError("sensitivity needs a scenario (base) or a model")
    seed = settings.seed if settings.seed is not None else (params.seed if params else 0)
    reps = settings.replications or (params.replications if params else 1)
    names = list(settings.parameters)
    whole: dict[str, bool] = {}
    if params is not None:
        whole = {
            n: isinstance(_value_at(params, p.key), int) for n, p in settings.parameters.items()
        }
    x = sample(settings, seed)
    values = factor_values(settings, x, whole)
    tasks: list[tuple[Any, ...]] = []
    for row in values:
        point = {n: (int(v) if whole.get(n) else float(v)) for n, v in zip(names, row, strict=True)}
        if model is not None:
            tasks.append(("model", model, point))
        else:
            assert params is not None
            changes = {settings.parameters[n].key: v for n, v in point.items()}
            tasks.append(("sim", replace(params, changes), reps))
    store = None
    if checkpoint_dir is not None:
        key = fingerprint(
            {
                "settings": settings.model_dump(mode="json"),
                "params": params.model_dump(mode="json") if params is not None else None,
                "model": getattr(model, "__qualname__", None),
                "seed": seed,
                "replications": reps,
            }
        )
        store = CheckpointStore(Path(checkpoint_dir) / POINTS_DIR, key, prefix="point")
    months = params.months if params is not None and model is None else 1
    frames = run_jobs(
        evaluate_point,
        tasks,
        executor=executor or SerialExecutor(),
        store=store,
        progress=progress,
        units=months * (reps if model is None else 1),
        desc=f"sensitivity ({settings.method}): {len(tasks)} evaluations",
        unit="month" if model is None else "evaluation",
    )
    samples = pd.DataFrame(values, columns=names)
    for metric in settings.metrics:
        samples[metric] = [_mean(f, metric) for f in frames]
    table = pd.concat(
        [analyze(settings, x, samples[m].to_numpy(), seed, m) for m in settings.metrics],
        ignore_index=True,
    )
    samples.insert(0, "point", np.arange(len(samples)))
    return SensitivityResult(settings, table, samples, seed, reps, dict(meta or {}))


def _mean(frame: pd.DataFrame, metric: str) -> float:
    if metric not in frame.columns:
        raise KeyError(f"the model returned no {metric!r} (it returned {list(frame.columns)})")
    v = frame[metric].to_numpy(dtype=float)
    return float(v.mean()) if v.size and np.all(np.isfinite(v)) else math.nan


def sensitivity(
    base: DictConfig | ScenarioParams | None,
    problem: Mapping[str, Any],
    *,
    method: str = "sobol",
    metric: str | Sequence[str] = "ending_arr",
    n: int = 64,
    executor: Executor | None = None,
    seed: int | None = None,
    replications: int | None = None,
    model: Model | None = None,
    progress: bool = False,
    checkpoint_dir: str | Path | None = None,
    **options: Any,
) -> SensitivityResult:
    """Global sensitivity of ``metric`` to the factors of ``problem`` (Sobol or Morris).

    Args:
        base: the scenario every sample point varies (``load_config(...)`` or parameters);
            None only with ``model``.
        problem: name → ``{"key": dotted scenario key, "low": .., "high": .., "scale":
            "linear" | "log"}`` (without ``key`` the name is the key; ``(low, high)`` is
            short for a linear range): ``{"pricing.plans.pro.price": (59, 119)}``.
        method: ``"sobol"`` (S1, ST; N a power of 2) or ``"morris"`` (mu*, sigma).
        metric: one name or several of ``simulator.metrics.METRICS``.
        n: Sobol base sample size (N × (D + 2) evaluations) or Morris trajectories
            (N × (D + 1)).
        executor: where evaluations run (default: the config's executor; serial for
            parameters).
        seed: the sampler's and the bootstrap's seed (default: the base's seed); the model's
            random streams use the base's seed at every point (common random numbers).
        replications: per point (default: the base's ``replications``).
        model: evaluate this function of the factor values instead of simulating.
        progress: show a progress bar.
        checkpoint_dir: keep each evaluation on disk and resume from them.
        **options: ``second_order``, ``levels`` (Morris), ``conf_level``, ``resamples``.

    Raises:
        ConfigError: a bad setting, unknown key or out-of-range value, named, before any
            evaluation.
    """
    settings = settings_of(
        problem,
        method=method,
        metric=metric,
        n=n,
        seed=seed,
        replications=replications,
        **options,
    )
    params, meta = None, {}
    if isinstance(base, DictConfig):
        params, run, config = read_config(base)
        executor = executor or make_executor(run.executor)
        meta = {"scenario": params.scenario_name, "seed": params.seed, "config": config}
    elif base is not None:
        params = base
        meta = {"scenario": params.scenario_name, "seed": params.seed}
    if params is not None and model is None:
        found = check_problem(params, settings)
        if found:
            raise ConfigError(found)
    return run_study(
        params,
        settings,
        executor=executor,
        model=model,
        progress=progress,
        checkpoint_dir=checkpoint_dir,
        meta=meta,
    )
