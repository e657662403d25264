"""``optimize``: the price (or prices, annual discount, trial length...) that maximises an
objective under constraints, found by an Optuna search, and re-evaluated on fresh seeds.

**The search.** Each trial is the base scenario with the searched keys changed by ``replace``
(no Hydra compose per trial) and runs the base's replications with the base's seed, so every
trial draws the same random numbers wherever the scenarios agree (common random numbers): two
trials differ by the effect of their settings, not by noise, and the sampler is not chased by
lucky draws. A trial's objective and constraint metrics are the **mean over its replications**
of the company's per-replication metric (``simulator.experiments.compare.replication_table``).
Trials are asked ``batch`` at a time; the batch's replications fan out through the executor
(serial, a local pool or Dask, kept open for the whole study) and the trials are told in order.
The batch size does not depend on the executor, so a seeded sampler (``sampler_seed``) gives
the same study whatever the executor and worker count. If the base's own values lie in the
space, they are the first trial (the history then starts from the baseline). The TPE sampler
is multivariate, with a constant liar for the trials of a batch, and starts from
``min(10, max(2, trials // 4))`` random trials.

**Objectives** (``simulator.params.optimize.OBJECTIVES``, maximised): ``ending_arr`` (ARR at
the horizon), ``discounted_gross_profit`` (gross profit over the horizon discounted at
``finance.discount_rate``: ``simulator.metrics``), ``ltv_to_cac``.

**Constraints** are ``max_<metric>: bound`` (the mean of the metric ≤ bound, e.g.
``max_monthly_logo_churn: 0.05``) or ``min_<metric>: bound`` (≥, e.g. ``min_ending_customers:
3000``), over the metrics of ``simulator.metrics.METRICS``. They are handed to Optuna as
constraint values (≤ 0 is feasible: ``metric − bound`` for a ceiling, ``bound − metric`` for a
floor): the TPE sampler's ``constraints_func`` steers the search towards feasible settings (the
random sampler ignores them). A trial is **feasible** when every constraint holds; the optimum
is the best *feasible* trial. When no trial is feasible there is no optimum (``best`` is None,
the printed result and the exit status say so) rather than a silent best. A trial whose
settings the schema refuses (e.g. a cross-section rule) or whose objective is undefined in a
replication is marked failed, with the reason, and is never the optimum.

**The optimum's uncertainty.** The search's means are computed on the search's own seeds, and
the best of many trials is biased upwards on them (winner's curse). The best feasible trial and
the next ``top - 1`` distinct ones are therefore re-run with **fresh replications** (another
seed: ``fresh_seed``, default the base seed + 1; ``fresh_replications``, default the search's),
together with the baseline on the same fresh seeds, and compared to it with
``simulator.experiments.compare``'s machinery (``paired_comparison``): per candidate, the
objective's median and P10/P90 on the fresh replications, the P10/P50/P90 of its paired
difference from the baseline and the verdict (``higher``, ``lower``, ``no detectable
difference at n replications``).

**Testing.** The evaluator is injectable: ``evaluate(points, personas) -> tables`` gets the
trials' validated parameters (each with its seed and replications) and returns one table per
point in ``replication_table``'s form (persona, replication, metric, value; the company's rows
``total`` suffice unless ``personas``); the default runs the simulator
(``simulation_evaluator``: one job per replication, its metrics computed where it ran).
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from simulator.errors import ConfigError
from simulator.experiments.compare import ComparisonResult, paired_comparison, replication_table
from simulator.experiments.executors import Executor, SerialExecutor, kept_open, make_executor
from simulator.experiments.jobs import atomic_write, progress_enabled, run_jobs
from simulator.experiments.montecarlo import SimulationResult, run_replication
from simulator.experiments.provenance import git_revision, json_default, package_versions
from simulator.params import ScenarioParams, read_config, replace
from simulator.params.optimize import Dimension, OptimizeSettings, dimension_spec
from simulator.params.validate import problems_of

#: Evaluates points (validated parameters, each with its seed and replications): one table per
#: point in ``replication_table``'s long form (persona, replication, metric, value); with the
#: second argument false the company's rows (``total``) suffice (the search), with true every
#: persona's too (the re-evaluation's comparison).
Evaluator = Callable[[Sequence[ScenarioParams], bool], list[pd.DataFrame]]

#: The company's rows of the metric tables.
TOTAL = "total"
#: The baseline's name in the re-evaluation.
BASELINE = "baseline"
#: Columns every trials table starts with; then one per searched setting (by its name) and one
#: per constrained metric (its mean over the replications).
TRIAL_COLUMNS: tuple[str, ...] = (
    "trial",
    "batch",
    "state",
    "objective",
    "objective_sd",
    "feasible",
    "best_so_far",
    "error",
)
#: Columns of ``OptimizationResult.optimum`` after the searched settings.
OPTIMUM_COLUMNS: tuple[str, ...] = (
    "candidate",
    "trial",
    "search_objective",
    "fresh_median",
    "fresh_p10",
    "fresh_p90",
    "diff_p10",
    "diff_p50",
    "diff_p90",
    "diff_mean",
    "ci90_low",
    "ci90_high",
    "verdict",
    "fresh_feasible",
)

#: Columns of the printed re-evaluation, after the settings.
_PRINTED_STATS = ("fresh_median", "fresh_p10", "fresh_p90", "diff_p10", "diff_p50", "diff_p90")


# ------------------------------------------------------------------------------ evaluation
def replication_metrics_job(
    task: tuple[ScenarioParams, int, bool], on_tick: Callable[[], object] | None = None
) -> pd.DataFrame:
    """One replication of one point: its metrics for the company and, if asked, per persona
    (the long table of ``replication_table``), computed where the replication ran."""
    params, replication, personas = task
    frame = run_replication((params, replication), on_tick)
    return replication_table(SimulationResult(frame, params), personas=personas)


def simulation_evaluator(executor: Executor | None = None) -> Evaluator:
    """The evaluator that runs the simulator: every replication of every point is one job of
    the executor (default serial)."""
    executor = executor or SerialExecutor()

    def evaluate(points: Sequence[ScenarioParams], personas: bool) -> list[pd.DataFrame]:
        jobs = [(p, r, personas) for p in points for r in range(p.replications)]
        tables = run_jobs(replication_metrics_job, jobs, executor=executor)
        out, start = [], 0
        for p in points:
            out.append(pd.concat(tables[start : start + p.replications], ignore_index=True))
            start += p.replications
        return out

    return evaluate


# ---------------------------------------------------------------------------------- result
@dataclass
class OptimizationResult:
    """The outputs of ``optimize``.

    Attributes:
        objective: the metric maximised.
        space: the searched settings by name (key, range, step, log scale).
        constraints: the active constraints (``max_<metric>`` / ``min_<metric>``: bound).
        trials: the study's history, one row per trial (``TRIAL_COLUMNS``, then the searched
            settings by name and the constrained metrics).
        best: the best feasible trial (``trial``, ``params`` by name, ``keys`` by dotted key,
            ``objective``), or None when no trial is feasible.
        optimum: the fresh re-evaluation, one row per candidate (the baseline first, then the
            best feasible trials): the settings, then ``OPTIMUM_COLUMNS``; empty without a
            feasible trial.
        reevaluation: the fresh re-evaluation as a comparison against the baseline (every
            metric, per persona), or None.
        settings: seeds, replications, sampler, batch, trials: what reproduces the study.
        timings: seconds of the search and re-evaluation, trials per second of the search.
        study: the Optuna study (``optuna.visualization`` reads it).
    """

    objective: str
    space: dict[str, Dimension]
    constraints: dict[str, float]
    trials: pd.DataFrame
    best: dict[str, Any] | None
    optimum: pd.DataFrame
    reevaluation: ComparisonResult | None
    settings: dict[str, Any]
    timings: dict[str, float]
    study: Any = field(repr=False, default=None)

    @property
    def feasible(self) -> bool:
        """Whether some trial met every constraint (there is an optimum)."""
        return self.best is not None

    def format(self) -> str:
        """The short printed result: the study, the optimum and its fresh re-evaluation."""
        s, t = self.settings, self.trials
        ok = t[t["state"] == "complete"]
        lines = [
            f"optimisation of {self.objective} (maximised): {len(t)} trials x "
            f"{s['replications']} replications, seed {s['seed']} for every trial (common "
            f"random numbers); {s['sampler']} sampler, seed {s['sampler_seed']}",
        ]
        for name, d in self.space.items():
            extra = (f", step {d.step:g}" if d.step else "") + (", log scale" if d.log else "")
            label = name if name == d.key else f"{name} = {d.key}"
            lines.append(f"  searched: {label} in [{d.low:g}, {d.high:g}]{extra}")
        for name, bound in self.constraints.items():
            sign = "<=" if name.startswith("max_") else ">="
            lines.append(f"  constraint: {name[4:]} {sign} {_num(bound)}")
        lines.append(
            f"  feasible trials: {int(ok['feasible'].sum())} of {len(t)}"
            + (f" ({len(t) - len(ok)} failed)" if len(ok) < len(t) else "")
            + f"; {self.timings['trials_per_second']:.2f} trials/s "
            f"({self.timings['search_seconds']:.1f} s, {s['executor']})"
        )
        if self.best is None:
            lines += ["", "no feasible trial: no setting met every constraint"]
            closest = _closest(t, self.constraints)
            if closest is not None:
                lines.append(f"  closest: trial {closest}")
            return "\n".join(lines)
        b = self.best
        settings = ", ".join(f"{k} = {_num(v)}" for k, v in b["params"].items())
        lines += [
            "",
            f"best trial {b['trial']}: {settings} -> {self.objective} {_num(b['objective'])} "
            "(mean of the search replications)",
        ]
        if len(self.optimum):
            lines.append(
                f"fresh re-evaluation: seed {s['fresh_seed']}, {s['fresh_replications']} "
                "replications, paired against the baseline on the same seeds"
            )
            names = list(self.space)
            w = max(12, *(len(str(c)) for c in self.optimum["candidate"])) + 2
            widths = {n: max(10, len(n)) + 2 for n in names}
            head = f"  {'candidate':<{w}}" + "".join(f"{n:>{widths[n]}}" for n in names)
            head += f"{'median':>12}{'P10':>12}{'P90':>12}{'diff P10':>12}{'diff P50':>12}"
            lines.append(head + f"{'diff P90':>12}  verdict")
            for row in self.optimum.to_dict("records"):
                line = f"  {row['candidate']:<{w}}" + "".join(
                    f"{_num(row[n]):>{widths[n]}}" for n in names
                )
                line += "".join(f"{_num(row[c]):>12}" for c in _PRINTED_STATS)
                verdict = row["verdict"] if isinstance(row["verdict"], str) else ""
                if self.constraints and not row["fresh_feasible"]:
                    verdict += " (breaks a constraint on the fresh seeds)"
                lines.append(line + f"  {verdict}")
        return "\n".join(lines)

    def plot_history(self, ax: Any = None) -> Any:
        """Objective of each trial and the best feasible so far
        (``simulator.plots.plot_optimization_history``)."""
        from simulator.plots import plot_optimization_history

        return plot_optimization_history(self.trials, self.objective, ax=ax)

    def plot_slices(self) -> Any:
        """Objective against each searched setting (``simulator.plots.plot_slices``)."""
        from simulator.plots import plot_slices

        return plot_slices(self.trials, list(self.space), self.objective)

    def save(self, directory: str | Path, *, plots: bool = True) -> Path:
        """Write ``trials.csv`` / ``trials.parquet`` (the history), ``optimum.json`` (the
        study's settings, the best trial, its fresh re-evaluation, timings, provenance),
        ``optimum.csv``, ``reevaluation.csv`` (every metric of the candidates vs the baseline)
        and ``plots/history.png``, ``plots/slices.png``."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write(out / "trials.csv", lambda p: self.trials.to_csv(p, index=False))
        atomic_write(out / "trials.parquet", lambda p: self.trials.to_parquet(p, index=False))
        atomic_write(out / "optimum.csv", lambda p: self.optimum.to_csv(p, index=False))
        if self.reevaluation is not None:
            table = self.reevaluation.table
            atomic_write(out / "reevaluation.csv", lambda p: table.to_csv(p, index=False))
        doc = {
            "objective": self.objective,
            "direction": "maximize",
            "space": {k: d.model_dump() for k, d in self.space.items()},
            "constraints": self.constraints,
            "feasible": self.feasible,
            "best": self.best,
            "optimum": self.optimum.to_dict("records"),
            "settings": self.settings,
            "timings": self.timings,
            "versions": package_versions(),
            "git_revision": git_revision(),
        }
        text = json.dumps(_json_safe(doc), indent=2, default=json_default)
        atomic_write(out / "optimum.json", lambda p: p.write_text(text))
        if plots:
            import matplotlib.pyplot as plt

            (out / "plots").mkdir(exist_ok=True)
            for name, fig in (("history", self.plot_history()), ("slices", self.plot_slices())):
                fig.savefig(out / "plots" / f"{name}.png", dpi=110, bbox_inches="tight")
                plt.close(fig)
        return out


# ------------------------------------------------------------------------------------- API
def optimize(
    base: DictConfig | ScenarioParams,
    space: Mapping[str, Any],
    *,
    objective: str = "ending_arr",
    constraints: Mapping[str, float | None] | None = None,
    trials: int = 24,
    replications: int | None = None,
    batch: int = 4,
    sampler: str = "tpe",
    sampler_seed: int = 0,
    fresh_replications: int | None = None,
    fresh_seed: int | None = None,
    top: int = 3,
    executor: Executor | None = None,
    progress: bool | None = False,
    evaluate: Evaluator | None = None,
) -> OptimizationResult:
    """Search the settings in ``space`` that maximise ``objective`` under ``constraints``
    (module docstring), then re-evaluate the best on fresh seeds against the baseline.

    Args:
        base: the baseline (``load_config(...)`` or validated parameters); its seed and
            replications are every trial's.
        space: name -> a searched setting: ``(low, high)`` or ``{"low", "high", "step",
            "log"}`` keyed by the dotted config key (``"pricing.plans.pro.price": (59, 159)``),
            or ``{"key": dotted key, "low", "high", ...}`` under a name of your choice.
            Whole-number keys (trial months) are searched over whole numbers.
        objective: one of ``OBJECTIVES`` (maximised).
        constraints: ``{"max_monthly_logo_churn": 0.05, "min_ending_customers": 3000}``;
            a None bound is off.
        trials: trials of the search (the baseline's point first when it is in the space).
        replications: replications per trial (default: the base's).
        batch: trials asked at once and evaluated together (their replications in parallel).
        sampler: ``tpe`` (constraint-aware) or ``random``.
        sampler_seed: seed of the sampler: the same call gives the same trials.
        fresh_replications: replications of the re-evaluation (default: the search's).
        fresh_seed: seed of the re-evaluation (default: the base seed + 1); must differ from
            the base seed.
        top: best feasible trials re-evaluated (distinct settings), beside the baseline.
        executor: where replications run (default: the config's ``executor``; serial for
            parameters); a pool or cluster is kept open for the whole study.
        progress: a progress bar in trials.
        evaluate: an evaluator in place of the simulator (tests; module docstring).

    Raises:
        ConfigError: every bad setting (unknown key, bad range, unknown objective or
            constraint), named, before any trial runs.
    """
    if isinstance(base, DictConfig):
        params, run, _ = read_config(base)
        executor = executor or make_executor(run.executor)
    else:
        params = base
    spec = {
        "objective": objective,
        "space": dict(space),
        "constraints": dict(constraints or {}),
        "trials": trials,
        "batch": batch,
        "sampler": sampler,
        "sampler_seed": sampler_seed,
        "fresh_replications": fresh_replications,
        "fresh_seed": fresh_seed,
        "top": top,
    }
    problems = problems_of(OptimizeSettings, spec)
    if replications is not None:
        try:
            params = replace(params, {"replications": replications})
        except ConfigError as exc:
            problems += exc.problems
    if problems:  # with the scenario's problems of the dimensions that are sound on their own
        sound = {}
        for name, dim in dict(space).items():
            if isinstance(name, str) and not problems_of(Dimension, dimension_spec(name, dim)):
                sound[name] = Dimension.model_validate(dimension_spec(name, dim))
        raise ConfigError(problems + check_space(params, sound))
    return run_study(
        params,
        OptimizeSettings.model_validate(spec),
        executor=executor,
        progress=progress,
        evaluate=evaluate,
    )


def run_study(
    params: ScenarioParams,
    settings: OptimizeSettings,
    *,
    executor: Executor | None = None,
    progress: bool | None = False,
    evaluate: Evaluator | None = None,
    prefix: str = "",
) -> OptimizationResult:
    """``optimize`` on validated settings (``task=optimize`` calls it with ``prefix=
    "optimize."``, the prefix of the keys its errors name)."""
    problems = check_space(params, settings.space, prefix)
    fresh_seed = params.seed + 1 if settings.fresh_seed is None else settings.fresh_seed
    if fresh_seed == params.seed:
        problems.append(
            (f"{prefix}fresh_seed", f"{fresh_seed} is the search's seed: the re-evaluation "
             "needs fresh replications (another seed)")
        )  # fmt: skip
    if problems:
        raise ConfigError(problems)
    executor = executor or SerialExecutor()
    show = progress_enabled("auto") if progress is None else progress
    meta = {
        "seed": params.seed,
        "replications": params.replications,
        "months": params.months,
        "trials": settings.trials,
        "batch": settings.batch,
        "sampler": settings.sampler,
        "sampler_seed": settings.sampler_seed,
        "fresh_seed": fresh_seed,
        "fresh_replications": settings.fresh_replications or params.replications,
        "top": settings.top,
        "executor": repr(executor),
    }
    with kept_open(executor) as ex:
        evaluator = evaluate or simulation_evaluator(ex)
        start = time.perf_counter()
        study, trials = _search(params, settings, evaluator, show)
        search_seconds = time.perf_counter() - start
        best = _best(params, trials, settings)
        start = time.perf_counter()
        optimum, comparison = _reevaluate(params, settings, trials, best, meta, evaluator)
        reeval_seconds = time.perf_counter() - start
    timings = {
        "search_seconds": search_seconds,
        "trials_per_second": len(trials) / search_seconds if search_seconds > 0 else math.inf,
        "reevaluation_seconds": reeval_seconds,
    }
    return OptimizationResult(
        objective=settings.objective,
        space=dict(settings.space),
        constraints=settings.active_constraints(),
        trials=trials,
        best=best,
        optimum=optimum,
        reevaluation=comparison,
        settings=meta,
        timings=timings,
        study=study,
    )


# ------------------------------------------------------------------------------ the checks
def _lookup(params: ScenarioParams, key: str) -> tuple[bool, Any]:
    node: Any = params.model_dump()
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _is_whole_key(params: ScenarioParams, key: str) -> bool:
    value = _lookup(params, key)[1]
    return isinstance(value, int) and not isinstance(value, bool)


def check_space(
    params: ScenarioParams, space: Mapping[str, Dimension], prefix: str = ""
) -> list[tuple[str, str]]:
    """Problems of a search space against the scenario (empty when it is sound): each key must
    be a number of the scenario, whole-number keys need whole bounds and steps, a step must
    divide the range, and both bounds must be values the schema accepts."""
    problems: list[tuple[str, str]] = []
    for name, d in space.items():
        where = f"{prefix}space.{name}"
        found, value = _lookup(params, d.key)
        if not found:
            try:
                replace(params, {d.key: d.low})
            except ConfigError as exc:
                problems += [(f"{where}.key", f"{k}: {m}") for k, m in exc.problems]
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            shown = "a group of settings" if isinstance(value, dict) else repr(value)
            problems.append((f"{where}.key", f"{d.key} is not a number (it is {shown})"))
            continue
        if isinstance(value, int):
            for attr in ("low", "high", "step"):
                v = getattr(d, attr)
                if v is not None and not float(v).is_integer():
                    problems.append(
                        (f"{where}.{attr}", f"{d.key} is a whole number; got {attr} {v:g}")
                    )
        if d.step is not None:
            k = (d.high - d.low) / d.step
            if abs(k - round(k)) > 1e-9 * max(1.0, abs(k)):
                problems.append(
                    (f"{where}.step", f"step {d.step:g} does not divide [{d.low:g}, {d.high:g}]")
                )
        for attr in ("low", "high"):
            v = getattr(d, attr)
            try:
                replace(params, {d.key: int(v) if isinstance(value, int) else v})
            except (ConfigError, ValueError) as exc:
                messages = exc.problems if isinstance(exc, ConfigError) else [(d.key, str(exc))]
                problems += [(f"{where}.{attr}", f"{k} = {v:g}: {m}") for k, m in messages]
    return problems


# ------------------------------------------------------------------------------ the search
def _sampler(settings: OptimizeSettings) -> Any:
    import optuna

    if settings.sampler == "random":
        return optuna.samplers.RandomSampler(seed=settings.sampler_seed)
    by_func = settings.active_constraints() and not _has_set_constraint()
    return optuna.samplers.TPESampler(
        seed=settings.sampler_seed,
        n_startup_trials=min(10, max(2, settings.trials // 4)),
        multivariate=True,
        constant_liar=True,  # trials asked in one batch spread out
        constraints_func=(lambda t: t.user_attrs["constraints"]) if by_func else None,
    )


def _has_set_constraint() -> bool:
    """Whether Optuna takes constraint values on the trial (5.0+; 4.x: ``constraints_func``)."""
    from optuna.trial import Trial

    return hasattr(Trial, "set_constraint")


def _suggest(trial: Any, name: str, d: Dimension, whole: bool) -> float | int:
    if whole:
        step = int(d.step) if d.step else 1
        return trial.suggest_int(name, int(d.low), int(d.high), step=step, log=d.log)
    return trial.suggest_float(name, d.low, d.high, step=d.step, log=d.log)


def _baseline_point(params: ScenarioParams, space: Mapping[str, Dimension]) -> dict | None:
    """The base's own values, if they lie in the space (on its step grid)."""
    point = {}
    for name, d in space.items():
        value = _lookup(params, d.key)[1]
        if not d.low <= value <= d.high:
            return None
        if d.step is not None:
            k = (value - d.low) / d.step
            if abs(k - round(k)) > 1e-9:
                return None
        point[name] = value
    return point


def _search(
    params: ScenarioParams, settings: OptimizeSettings, evaluate: Evaluator, progress: bool
) -> tuple[Any, pd.DataFrame]:
    import optuna
    from tqdm.auto import tqdm

    space = settings.space
    whole = {name: _is_whole_key(params, d.key) for name, d in space.items()}
    constraints = settings.active_constraints()
    set_constraint = bool(constraints) and _has_set_constraint()
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows: list[dict[str, Any]] = []
    bar = tqdm(total=settings.trials, desc="optimize", unit="trial", disable=not progress)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study = optuna.create_study(direction="maximize", sampler=_sampler(settings))
            start = _baseline_point(params, space)
            if start is not None:
                study.enqueue_trial(start)
            batch_no = 0
            while len(rows) < settings.trials:
                n = min(settings.batch, settings.trials - len(rows))
                asked = [study.ask() for _ in range(n)]
                values = [{k: _suggest(t, k, d, whole[k]) for k, d in space.items()} for t in asked]
                points: list[ScenarioParams | None] = []
                errors: list[str] = []
                for v in values:
                    try:
                        points.append(replace(params, {space[k].key: x for k, x in v.items()}))
                        errors.append("")
                    except ConfigError as exc:
                        points.append(None)
                        errors.append("; ".join(f"{k}: {m}" for k, m in exc.problems))
                tables = iter(evaluate([p for p in points if p is not None], False))
                for trial, v, p, error in zip(asked, values, points, errors, strict=True):
                    table = next(tables) if p is not None else None
                    row = _trial_row(trial.number, batch_no, v, table, settings, error)
                    violations = _violations(row, constraints)
                    trial.set_user_attr("constraints", violations)
                    if set_constraint:
                        for name, value in zip(constraints, violations, strict=True):
                            trial.set_constraint(name, value)
                    if row["state"] == "complete":
                        study.tell(trial, row["objective"])
                    else:
                        study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    row["feasible"] = row["state"] == "complete" and all(c <= 0 for c in violations)
                    rows.append(row)
                batch_no += 1
                bar.update(n)
    finally:
        bar.close()
        optuna.logging.set_verbosity(verbosity)
    return study, _history(rows, space, constraints)


def _trial_row(
    number: int,
    batch: int,
    values: Mapping[str, float],
    table: pd.DataFrame | None,
    settings: OptimizeSettings,
    error: str,
) -> dict[str, Any]:
    row: dict[str, Any] = {"trial": number, "batch": batch, **values}
    if table is None:
        return row | {"state": "failed", "objective": np.nan, "objective_sd": np.nan,
                      "error": error}  # fmt: skip
    total = table[table["persona"] == TOTAL]
    for metric in {name[4:] for name in settings.active_constraints()}:
        x = total.loc[total["metric"] == metric, "value"].to_numpy(dtype=float)
        row[metric] = float(np.mean(x)) if x.size and np.all(np.isfinite(x)) else np.nan
    x = total.loc[total["metric"] == settings.objective, "value"].to_numpy(dtype=float)
    if x.size == 0 or not np.all(np.isfinite(x)):
        undefined = int(np.sum(~np.isfinite(x))) if x.size else 0
        return row | {
            "state": "failed",
            "objective": np.nan,
            "objective_sd": np.nan,
            "error": f"{settings.objective} undefined in {undefined} of {x.size} replications",
        }
    return row | {
        "state": "complete",
        "objective": float(np.mean(x)),
        "objective_sd": float(np.std(x, ddof=1)) if x.size > 1 else 0.0,
        "error": "",
    }


def _violations(row: Mapping[str, Any], constraints: Mapping[str, float]) -> list[float]:
    """Optuna's constraint values (≤ 0 feasible): metric − bound for ``max_``, bound − metric
    for ``min_``; an undefined metric violates its constraint."""
    out = []
    for name, bound in constraints.items():
        value = row.get(name[4:], np.nan)
        if not np.isfinite(value):
            out.append(math.inf)
        else:
            out.append(value - bound if name.startswith("max_") else bound - value)
    return out


def _history(
    rows: list[dict[str, Any]], space: Mapping[str, Dimension], constraints: Mapping[str, float]
) -> pd.DataFrame:
    metrics = list(dict.fromkeys(name[4:] for name in constraints))
    columns = [*TRIAL_COLUMNS, *space, *[m for m in metrics if m not in space]]
    table = pd.DataFrame(rows).reindex(columns=columns)
    table = table.sort_values("trial", kind="stable").reset_index(drop=True)
    table["feasible"] = table["feasible"].astype(bool)
    table["best_so_far"] = table["objective"].where(table["feasible"]).cummax().ffill()
    return table


def _best(
    params: ScenarioParams, trials: pd.DataFrame, settings: OptimizeSettings
) -> dict[str, Any] | None:
    ok = trials[trials["feasible"]]
    if ok.empty:
        return None
    row = ok.loc[ok["objective"].idxmax()]  # the first (lowest trial number) of ties
    values = {name: _value(params, d, row[name]) for name, d in settings.space.items()}
    return {
        "trial": int(row["trial"]),
        "params": values,
        "keys": {d.key: values[name] for name, d in settings.space.items()},
        "objective": float(row["objective"]),
    }


def _closest(trials: pd.DataFrame, constraints: Mapping[str, float]) -> str | None:
    """The completed trial nearest to feasibility, with the constraints it breaks."""
    ok = trials[trials["state"] == "complete"]
    if ok.empty or not constraints:
        return None
    total = {i: sum(max(0.0, v) for v in _violations(r, constraints)) for i, r in ok.iterrows()}
    i = min(total, key=total.get)
    row = ok.loc[i]
    broken = []
    for name, bound in constraints.items():
        value = row[name[4:]]
        bad = value > bound if name.startswith("max_") else value < bound
        if bad or not np.isfinite(value):
            sign = ">" if name.startswith("max_") else "<"
            broken.append(f"{name[4:]} {_num(value)} {sign} {_num(bound)}")
    return f"{int(row['trial'])} ({'; '.join(broken)})"


# ------------------------------------------------------------------------- re-evaluation
def _reevaluate(
    params: ScenarioParams,
    settings: OptimizeSettings,
    trials: pd.DataFrame,
    best: dict[str, Any] | None,
    meta: Mapping[str, Any],
    evaluate: Evaluator,
) -> tuple[pd.DataFrame, ComparisonResult | None]:
    """The baseline and the best feasible trials on fresh seeds, paired (module docstring)."""
    names = list(settings.space)
    if best is None:
        return pd.DataFrame(columns=[*names, *OPTIMUM_COLUMNS]), None
    ok = trials[trials["feasible"]].sort_values(["objective", "trial"], ascending=[False, True])
    ok = ok.drop_duplicates(subset=names)
    start = _baseline_point(params, settings.space)
    if start is not None:  # the baseline's own point is the baseline (unless it is the best)
        same = np.all([np.isclose(ok[n].astype(float), float(start[n])) for n in names], axis=0)
        ok = ok[~same | (ok["trial"] == best["trial"])]
    chosen = ok.head(settings.top)
    fresh = {"seed": meta["fresh_seed"], "replications": meta["fresh_replications"]}
    candidates = {BASELINE: (None, replace(params, fresh))}
    for row in chosen.to_dict("records"):
        changes = {settings.space[n].key: _value(params, settings.space[n], row[n]) for n in names}
        candidates[f"trial_{int(row['trial'])}"] = (row, replace(params, {**changes, **fresh}))
    tables = evaluate([p for _, p in candidates.values()], True)
    per_rep = dict(zip(candidates, tables, strict=True))
    comparison = paired_comparison(per_rep, BASELINE)
    t = comparison.table
    rows = []
    for name, (trial_row, point) in candidates.items():
        total = per_rep[name][per_rep[name]["persona"] == TOTAL]
        x = total.loc[total["metric"] == settings.objective, "value"].to_numpy(dtype=float)
        x = x[np.isfinite(x)]
        q = np.percentile(x, [10, 50, 90]) if x.size else [np.nan] * 3
        means = {
            m[4:]: float(np.mean(total.loc[total["metric"] == m[4:], "value"]))
            for m in settings.active_constraints()
        }
        row: dict[str, Any] = {n: _lookup(point, settings.space[n].key)[1] for n in names}
        if trial_row is None:
            row |= {"candidate": name, "trial": np.nan}
            row["search_objective"] = _baseline_search(trials, point, settings)
        else:
            is_best = int(trial_row["trial"]) == best["trial"]
            row |= {"candidate": name + (" (best)" if is_best else "")}
            row |= {"trial": int(trial_row["trial"]), "search_objective": trial_row["objective"]}
        row |= {"fresh_median": q[1], "fresh_p10": q[0], "fresh_p90": q[2]}
        row["fresh_feasible"] = all(
            c <= 0 for c in _violations(means, settings.active_constraints())
        )
        if name == BASELINE:
            row["verdict"] = "the baseline"
        else:
            d = t[(t["variant"] == name) & (t["persona"] == TOTAL)]
            d = d[d["metric"] == settings.objective].iloc[0]
            for c in ("diff_p10", "diff_p50", "diff_p90", "diff_mean", "ci90_low", "ci90_high"):
                row[c] = d[c]
            row["verdict"] = d["verdict"]
        rows.append(row)
    return pd.DataFrame(rows).reindex(columns=[*names, *OPTIMUM_COLUMNS]), comparison


def _baseline_search(
    trials: pd.DataFrame, point: ScenarioParams, settings: OptimizeSettings
) -> float:
    """The search's objective at the baseline's point, if a trial ran it."""
    mask = trials["state"] == "complete"
    for name, d in settings.space.items():
        mask &= np.isclose(trials[name].astype(float), float(_lookup(point, d.key)[1]))
    hit = trials[mask]
    return float(hit["objective"].iloc[0]) if len(hit) else np.nan


# ----------------------------------------------------------------------------------- util
def _value(params: ScenarioParams, d: Dimension, x: Any) -> int | float:
    """A table cell of a searched setting as the key's own kind of number."""
    return int(x) if _is_whole_key(params, d.key) else float(x)


def _json_safe(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_json_safe(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _num(x: Any) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    x = float(x)
    if abs(x) >= 1e6:
        return f"{x / 1e6:,.2f}M"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if x.is_integer():
        return f"{x:.0f}"
    if abs(x) >= 1:
        return f"{x:,.2f}"
    return f"{x:.4f}"
