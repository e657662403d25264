"""Tasks of ``journey-sim task=<name>``: one plain function each, returning the exit code.

Every task takes the composed config, its validated run settings and the Hydra output
directory; ``TASKS`` is the registry that the CLI dispatches on and ``--help`` lists.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from simulator.config import load_config
from simulator.errors import ConfigError
from simulator.experiments.compare import compare
from simulator.experiments.executors import make_executor
from simulator.experiments.jobs import (
    CheckpointMismatch,
    Interrupted,
    JobsFailed,
    atomic_write,
    cancellation,
    exit_code,
    progress_enabled,
    signal_name,
)
from simulator.experiments.montecarlo import (
    OUTPUT_NAMES,
    SimulationResult,
    assemble,
    result_of,
    simulate,
)
from simulator.experiments.replay import replay_run
from simulator.experiments.response import price_response
from simulator.experiments.sweep import aggregate_sweep
from simulator.formatting import format_value
from simulator.metrics import HEADLINE
from simulator.params import ScenarioParams, read_config
from simulator.params.run import RunSettings

#: Metrics the CLI prints after a run.
CLI_METRICS: tuple[str, ...] = (
    "ending_arr",
    "ending_customers",
    "new_mrr",
    "monthly_logo_churn",
    "nrr_12m",
    "grr_12m",
    "ltv",
    "ltv_to_cac",
    "payback_months",
    "sla_breach_rate",
)


def _fail(message: str, code: int = 2) -> int:
    print(f"journey-sim: {message}", file=sys.stderr)
    return code


def _book_line(result: SimulationResult) -> list[str]:
    """With ``initial.book``: where the book came from and what it holds at month 0."""
    book = result.params.initial.book
    cohorts = result.cohorts
    if book is None or cohorts is None or cohorts.empty:
        return []
    start = cohorts[
        (cohorts["month"] == 0) & (cohorts["replication"] == cohorts["replication"].min())
    ]
    accounts, mrr = int(start["accounts"].sum()), float(start["mrr"].sum())
    return [
        f"book {Path(book).name}: {accounts:,} customers at month 0, "
        f"MRR {format_value(mrr, 'money')} (ARR {format_value(12 * mrr, 'money')})"
    ]


def format_summary(result: SimulationResult, out_dir: Path | None) -> str:
    """The short, readable summary printed after a run."""
    from simulator import __version__

    p = result.params
    reps = int(result.monthly["replication"].nunique())
    lines = [
        f"journey-sim {__version__} · scenario {p.scenario_name} · {p.months} months · "
        f"{reps} replication{'s' if reps != 1 else ''} · seed {p.seed} · "
        f"market {p.market.size:,} accounts",
        *_book_line(result),
        "",
        f"  {'metric':<28}{'median':>12}    P10 – P90",
    ]
    summary = result.summary()
    for key in CLI_METRICS:
        label, kind = HEADLINE[key]
        s = summary[key]
        band = f"{format_value(s['p10'], kind)} – {format_value(s['p90'], kind)}"
        lines.append(f"  {label:<28}{format_value(s['median'], kind):>12}    {band}")
    if out_dir is not None:
        shown = os.path.relpath(out_dir) if out_dir.is_absolute() else str(out_dir)
        shown = shown if not shown.startswith("..") else str(out_dir)
        lines += ["", f"outputs: {shown}/"]
        files = ["monthly.parquet", "summary.json"]
        for table in ("cohorts.parquet", "channels.parquet", "touchpoints.parquet"):
            if (out_dir / table).exists():
                files.append(table)
        if (out_dir / "monthly.csv").exists():
            files.append("monthly.csv")
        journey = ("flows", "stays", "journey_map", "journey_log", "journey_log_csv")
        files += [n for k in journey if (out_dir / (n := OUTPUT_NAMES[False][k])).exists()]
        plots = sorted((out_dir / "plots").glob("*.png"))
        files += [f"plots/{x.name}" for x in plots]
        lines.append("  " + "  ".join(files))
    return "\n".join(lines)


def run(cfg: DictConfig, settings: RunSettings, out_dir: Path) -> int:
    """``task=run``: simulate the scenario into ``out_dir`` (resuming the replications already
    there), save the outputs and print the summary.

    Ctrl-C (exit 130) or SIGTERM (143) stop the run between months; the finished replications
    are kept and saved as partial outputs (``monthly.partial.parquet``...), one line says how
    many; running the same command again resumes. Replications that fail on every attempt are
    named with their seeds (exit 1), the others saved as partial outputs.
    """
    try:
        params, _, config = read_config(cfg)
    except ConfigError as exc:
        return _fail(str(exc))
    for name, event in params.events.items():
        if event.month > params.months:
            _fail(
                f"note: events.{name} is in month {event.month}, after the horizon "
                f"({params.months} months): it does not happen in this run"
            )
    with cancellation() as cancel:
        try:
            result = simulate(cfg, checkpoint_dir=out_dir)
        except CheckpointMismatch as exc:
            return _fail(f"cannot resume: {exc}")
        except (Interrupted, JobsFailed) as exc:
            done = _save_partial(exc.results.values(), params, config, settings, out_dir, exc)
            kept = f"{done} of {params.replications} replications kept"
            where = f"in {out_dir}/{OUTPUT_NAMES[True]['monthly']}" if done else "in none"
            if isinstance(exc, JobsFailed):
                for line in exc.failures:
                    _fail(line)
                return _fail(f"{len(exc.failures)} replication(s) failed; {kept} {where}", 1)
            print(
                f"\njourney-sim: interrupted ({signal_name(exc.signum)}); {kept} {where}; "
                "run the same command again to resume",
                file=sys.stderr,
            )
            return exit_code(exc.signum)
        result.save(out_dir)
        print(format_summary(result, out_dir))
        if cancel.requested:  # arrived while saving: the outputs are complete all the same
            assert cancel.signum is not None
            print(
                f"journey-sim: {signal_name(cancel.signum)} while saving; all "
                f"{params.replications} replications were finished and saved",
                file=sys.stderr,
            )
            return exit_code(cancel.signum)
    return 0


def _save_partial(
    frames: Iterable[pd.DataFrame],
    params: ScenarioParams,
    config: dict | None,
    settings: RunSettings,
    out_dir: Path,
    why: Interrupted | JobsFailed,
) -> int:
    """Save the replications a stopped run finished as partial outputs; how many."""
    kept = [f for f in frames if _replication_of(f) < params.replications]
    partial = assemble([f["monthly"] if isinstance(f, dict) else f for f in kept], params)
    done = int(partial["replication"].nunique()) if len(partial) else 0
    if done:
        meta: dict[str, object] = {"partial": True}
        if isinstance(why, Interrupted):
            meta |= {"interrupted": True, "signal": signal_name(why.signum)}
        else:
            meta |= {"failures": why.failures}
        result_of(kept, params, config, meta=meta, output=settings.output).save(out_dir)
    return done


def _replication_of(frame: pd.DataFrame | dict) -> int:
    """The replication of one replication's table(s) (-1 when empty)."""
    monthly = frame["monthly"] if isinstance(frame, dict) else frame
    return int(monthly["replication"].iloc[0]) if len(monthly) else -1


def replay(cfg: DictConfig, settings: RunSettings, out_dir: Path) -> int:
    """``task=replay dir=<run dir>``: reproduce a saved run and compare (0 identical, 1 not)."""
    assert settings.dir is not None
    return replay_run(
        settings.dir,
        executor=make_executor(settings.executor),
        progress=progress_enabled(settings.progress),
    )


def aggregate(cfg: DictConfig, settings: RunSettings, out_dir: Path) -> int:
    """``task=aggregate dir=<sweep dir>``: gather a sweep's complete jobs into its tables again
    (``simulator.experiments.sweep``); exit 1 when some jobs are not complete (named)."""
    sweep_dir = Path(str(settings.dir))
    if not sweep_dir.is_dir():
        return _fail(f"aggregate: {sweep_dir} is not a directory")
    report = aggregate_sweep(sweep_dir)
    if not report.complete:
        print(report.format(), file=sys.stderr)
        return _fail(f"aggregate: no complete job with a monthly.parquet in {sweep_dir}/")
    print(report.format())
    return 1 if report.incomplete else 0


def _not_written(exc: ConfigError | Interrupted | JobsFailed, what: str, why: str) -> int:
    """The exit code of a study stopped before it wrote ``what``, with its one-line message:
    a configuration error (2), Ctrl-C or SIGTERM (130 / 143; ``why`` says why nothing of it is
    kept), or jobs that failed on every attempt (each named, then 1)."""
    if isinstance(exc, ConfigError):
        return _fail(str(exc))
    if isinstance(exc, Interrupted):
        print(
            f"\njourney-sim: interrupted ({signal_name(exc.signum)}); no {what} written ({why})",
            file=sys.stderr,
        )
        return exit_code(exc.signum)
    for line in exc.failures:
        _fail(line)
    return _fail(f"no {what} written", 1)


def compare_scenarios(cfg: DictConfig, settings: RunSettings, out_dir: Path) -> int:
    """``task=compare scenarios=[baseline,variant,...]``: every scenario composed with this
    command line's other overrides (all checked before any run), run with common random
    numbers, paired against the first; the table printed and saved into ``out_dir``
    (``comparison.csv``/``.parquet``, ``paired.parquet``, ``plots/comparison.png``)."""
    names = list(settings.scenarios or [])
    try:
        overrides = list(HydraConfig.get().overrides.task)
    except ValueError:  # called outside the command (no Hydra run)
        overrides = []
    given = [o for o in overrides if not o.startswith(("task=", "scenarios=", "scenario="))]
    configs, problems = {}, []
    for name in names:
        try:
            configs[name] = load_config([*given, f"scenario={name}"])
        except ConfigError as exc:
            problems += [(f"scenarios: {name}: {k}", m) for k, m in exc.problems]
    if problems:
        return _fail(str(ConfigError(problems)))
    base, *variants = names
    with cancellation() as cancel:
        try:
            result = compare(
                configs[base],
                {name: configs[name] for name in variants},
                baseline=base,
                progress=progress_enabled(settings.progress),
            )
        except (ConfigError, Interrupted, JobsFailed) as exc:
            why = "a comparison of part of the replications would not be paired"
            return _not_written(exc, "comparison", why)
        result.save(out_dir)
        if settings.output.plots:
            from simulator.plots import plot_comparison

            fig = plot_comparison(result.table)
            (out_dir / "plots").mkdir(parents=True, exist_ok=True)
            fig.tight_layout()
            atomic_write(
                out_dir / "plots" / "comparison.png",
                lambda p: fig.savefig(p, dpi=110, format="png"),
            )
        print(result.format())
        print(
            f"\noutputs: {out_dir}/\n  comparison.csv  comparison.parquet  paired.parquet", end=""
        )
        print("  plots/comparison.png" if settings.output.plots else "")
        if cancel.requested:
            assert cancel.signum is not None
            print(
                f"journey-sim: {signal_name(cancel.signum)} while saving; the comparison was saved",
                file=sys.stderr,
            )
            return exit_code(cancel.signum)
    return 0


def optimize_price(cfg: DictConfig, settings: RunSettings, out_dir: Path) -> int:
    """``task=optimize``: search ``optimize.space`` for the settings that maximise
    ``optimize.objective`` under ``optimize.constraints`` (every setting checked before any
    trial), re-evaluate the best on fresh seeds against the baseline, print the result and save
    it into ``out_dir`` (``trials.csv``/``.parquet``, ``optimum.json``, ``optimum.csv``,
    ``reevaluation.csv``, ``plots/``). Exit 1 when no trial meets the constraints."""
    from simulator.experiments.optimize import run_study

    try:
        params, _, _ = read_config(cfg)
        assert settings.optimize is not None
        result = run_study(
            params,
            settings.optimize,
            executor=make_executor(settings.executor),
            progress=progress_enabled(settings.progress),
            prefix="optimize.",
        )
    except ConfigError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        print("\njourney-sim: interrupted; no optimisation written", file=sys.stderr)
        return 130
    result.save(out_dir, plots=settings.output.plots)
    print(result.format())
    files = ["trials.csv", "trials.parquet", "optimum.json", "optimum.csv"]
    files += ["reevaluation.csv"] if result.reevaluation is not None else []
    files += ["plots/history.png", "plots/slices.png"] if settings.output.plots else []
    shown = os.path.relpath(out_dir) if out_dir.is_absolute() else str(out_dir)
    shown = shown if not shown.startswith("..") else str(out_dir)
    print(f"\noutputs: {shown}/\n  " + "  ".join(files))
    return 0 if result.feasible else 1


def calibrate_data(cfg: DictConfig, settings: RunSettings, out_dir: Path) -> int:
    """``task=calibrate data=<csv> [funnel=<csv>] [holdout=K] [match=engine|base]``: check
    the CSVs (row, column, value; exit 2), fit sBG per persona, print the fits and write
    fit.csv/json, survival.csv, scenario/calibrated.yaml and plots/calibration.png into
    ``out_dir`` (``simulator.calibrate``)."""
    from simulator.calibrate import CalibrationDataError, calibrate

    try:
        params, _, _ = read_config(cfg)
    except ConfigError as exc:
        return _fail(str(exc))
    assert settings.data is not None
    try:
        result = calibrate(
            params,
            settings.data,
            funnel=settings.funnel,
            holdout=settings.holdout,
            match=settings.match or "engine",
            uncertainty=bool(settings.calibrate and settings.calibrate.uncertainty),
        )
    except CalibrationDataError as exc:
        return _fail(str(exc))
    result.save(out_dir, plots=settings.output.plots)
    print(result.format(out_dir))
    return 0


def dashboard(cfg: DictConfig, settings: RunSettings, out_dir: Path) -> int:
    """``task=dashboard``: serve the interactive dashboard (``simulator.dashboard``: Mesa's
    SolaraViz with the levers as sliders) for the composed scenario on
    ``http://<dashboard.host>:<dashboard.port>/`` until Ctrl-C."""
    try:
        params, _, _ = read_config(cfg)
    except ConfigError as exc:
        return _fail(str(exc))
    from simulator.dashboard import serve

    assert settings.dashboard is not None
    return serve(params, settings.dashboard.host, settings.dashboard.port, out_dir)


def sensitivity_study(cfg: DictConfig, settings: RunSettings, out_dir: Path) -> int:
    """``task=sensitivity``: Sobol or Morris indices of the metrics named in ``sensitivity`` to
    its parameters (``simulator.sensitivity``); every setting and factor range is checked
    before any evaluation. Evaluations are kept in ``out_dir/points/`` as they finish (a rerun
    into the same directory resumes); the table is printed and saved with a chart."""
    from simulator.experiments.jobs import Interrupted
    from simulator.experiments.sensitivity import POINTS_DIR, check_problem, run_study

    study = settings.sensitivity
    assert study is not None
    try:
        params, _, config = read_config(cfg)
    except ConfigError as exc:
        return _fail(str(exc))
    problems = check_problem(params, study)
    if problems:
        return _fail(str(ConfigError(problems)))
    meta = {"scenario": params.scenario_name, "seed": params.seed, "config": config}
    try:
        result = run_study(
            params,
            study,
            executor=make_executor(settings.executor),
            progress=progress_enabled(settings.progress),
            checkpoint_dir=out_dir,
            meta=meta,
        )
    except CheckpointMismatch as exc:
        return _fail(f"cannot resume: {exc}")
    except Interrupted as exc:
        print(
            f"\njourney-sim: interrupted; {len(exc.results)} of {exc.total} evaluations kept in "
            f"{out_dir / POINTS_DIR}/ (rerun with hydra.run.dir={out_dir} to resume)",
            file=sys.stderr,
        )
        return 130
    result.save(out_dir, plots=settings.output.plots)
    print(result.format())
    files = "sensitivity.csv  sensitivity.parquet  samples.parquet  sensitivity.json"
    print(f"\noutputs: {out_dir}/\n  {files}", end="")
    print("  plots/sensitivity.png" if settings.output.plots else "")
    return 0


def response_curve(cfg: DictConfig, settings: RunSettings, out_dir: Path) -> int:
    """``task=response``: the scenario at every value of ``response.key`` (every value checked
    before any run), common random numbers across the grid; the curve printed and saved into
    ``out_dir`` (``response.csv``, ``response_replications.parquet``, ``plots/response.png``)."""
    assert settings.response is not None
    key, values = settings.response.key, list(settings.response.values)
    with cancellation():
        try:
            curve = price_response(
                cfg,
                key,
                values,
                executor=make_executor(settings.executor),
                progress=progress_enabled(settings.progress),
            )
        except (ConfigError, Interrupted, JobsFailed) as exc:
            return _not_written(exc, "curve", "part of a grid is not a curve")
        curve.save(out_dir)
        files = ["response.csv", "response_replications.parquet"]
        if settings.output.plots:
            fig = curve.plot()
            (out_dir / "plots").mkdir(parents=True, exist_ok=True)
            atomic_write(
                out_dir / "plots" / "response.png",
                lambda p: fig.savefig(p, dpi=110, format="png"),
            )
            files.append("plots/response.png")
        print(curve.format())
        print(f"\noutputs: {out_dir}/\n  " + "  ".join(files))
    return 0


#: Ages (months) the cohorts task prints retention at.
COHORT_AGES: tuple[int, ...] = (1, 3, 6, 12, 24, 36)


def cohorts_of_run(cfg: DictConfig, settings: RunSettings, out_dir: Path) -> int:
    """``task=cohorts dir=<run dir>``: the cohort retention of a saved run (its
    ``cohorts.parquet``): prints the logo and revenue retention of new customers by months
    since acquisition and of the book by months since month 0, pooled over cohorts and
    replications; writes ``cohort_retention.csv`` (tidy, ``simulator.cohorts.cohort_table``),
    ``cohort_logo.csv`` and ``cohort_revenue.csv`` (the matrices) and
    ``plots/cohort_retention.png`` into ``out_dir``."""
    from simulator.cohorts import cohort_matrix, cohort_table, pooled_retention
    from simulator.experiments.montecarlo import save_cohort_plot

    run_dir = Path(str(settings.dir))
    path = run_dir / OUTPUT_NAMES[False]["cohorts"]
    if not path.is_file():
        partial = run_dir / OUTPUT_NAMES[True]["cohorts"]
        if not partial.is_file():
            return _fail(
                f"cohorts: no {path.name} in {run_dir}/ (runs write it since cohorts were added;"
                " run the scenario again into a new directory)"
            )
        path = partial
    cohorts = pd.read_parquet(path)
    if cohorts.empty:
        return _fail(f"cohorts: {path} has no rows (no paying account in the run)")
    reps = int(cohorts["replication"].nunique())
    months = int(cohorts["month"].max())
    pooled = pooled_retention(cohorts)
    table = cohort_table(cohorts)
    n_new = int(table.loc[table["cohort_month"] >= 1, "cohort_month"].nunique())
    n_book = int(table.loc[table["cohort_month"] <= 0, "cohort_month"].nunique())
    lines = [
        f"cohorts of {path}: {n_book} cohorts of the book, {n_new} new; {months} months, "
        f"{reps} replication{'s' if reps != 1 else ''}",
        "",
        f"  {'retention after (months)':<34}" + "".join(f"{a:>8}" for a in COHORT_AGES),
    ]
    labels = {
        ("new", "share"): "new customers, logo",
        ("new", "revenue_share"): "new customers, revenue",
        ("book", "share"): "the book from month 0, logo",
        ("book", "revenue_share"): "the book from month 0, revenue",
    }
    for (group, column), label in labels.items():
        rows = pooled[pooled["group"] == group].set_index("months")
        if rows.empty:
            continue
        cells = [
            format_value(float(rows.at[a, column]), "pct") if a in rows.index else "–"
            for a in COHORT_AGES
        ]
        lines.append(f"  {label:<34}" + "".join(f"{c:>8}" for c in cells))
    lines += [
        "",
        "  new customers: Σ accounts (MRR) of the cohorts old enough / Σ at the end of their",
        "  first month; pooled over cohorts and replications",
    ]
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(out_dir / "cohort_retention.csv", lambda p: table.to_csv(p, index=False))
    for kind in ("logo", "revenue"):
        matrix = cohort_matrix(cohorts, kind)  # type: ignore[arg-type]
        atomic_write(out_dir / f"cohort_{kind}.csv", lambda p, m=matrix: m.to_csv(p))
    files = ["cohort_retention.csv", "cohort_logo.csv", "cohort_revenue.csv"]
    if settings.output.plots:
        save_cohort_plot(cohorts, out_dir / "plots" / "cohort_retention.png")
        files.append("plots/cohort_retention.png")
    shown = os.path.relpath(out_dir) if out_dir.is_absolute() else str(out_dir)
    shown = shown if not shown.startswith("..") else str(out_dir)
    lines += ["", f"outputs: {shown}/", "  " + "  ".join(files)]
    print("\n".join(lines))
    return 0


def finance_report(cfg: DictConfig, settings: RunSettings, out_dir: Path) -> int:
    """``task=report``: run the scenario into ``out_dir`` as ``task=run`` does (or, with
    ``dir=<run dir>``, read a saved run), then write its finance report into ``out_dir``
    (``simulator.report``: ``report.html`` self-contained, ``report.md``). A run stopped by
    Ctrl-C keeps its replications as ``task=run`` does and writes no report; a saved run's
    partial outputs are reported labelled PARTIAL (``report.partial.html``)."""
    from simulator.report import ReportError, report

    if settings.dir is None:
        code = run(cfg, settings, out_dir)
        if code != 0:
            print("journey-sim: no report written (the run did not finish)", file=sys.stderr)
            return code
        source: Path = out_dir
    else:
        source = Path(settings.dir)
    try:
        written = report(source, out_dir)
    except (ReportError, ConfigError) as exc:
        return _fail(f"report: {exc}")
    where = os.path.relpath(out_dir) if out_dir.is_absolute() else str(out_dir)
    where = where if not where.startswith("..") else str(out_dir)
    label = " (PARTIAL run: labelled so on every page)" if written.partial else ""
    print(f"\nreport{label}: {where}/{written.html.name}  {where}/{written.markdown.name}")
    print("  sections: " + " · ".join(written.sections))
    for section, why in written.skipped.items():
        print(f"  skipped: {section}: {why}")
    if written.channels is not None:  # CAC by acquisition source (simulator.cac)
        from simulator.cac import format_channel_table

        print("\n" + format_channel_table(written.channels))
    return 0


def journey_map_task(cfg: DictConfig, settings: RunSettings, out_dir: Path) -> int:
    """``task=map``: run the scenario as ``task=run`` does (outputs, resume, interrupts), then
    print its journey map (``simulator.journey``), in total and per persona, from the saved
    ``journey_map.csv``; the diagram is ``plots/journey_map.png``."""
    from simulator.journey import format_map

    code = run(cfg, settings, out_dir)
    table_file = out_dir / OUTPUT_NAMES[False]["journey_map"]
    if code != 0 or not table_file.exists():
        return code
    table = pd.read_csv(table_file, keep_default_na=False, na_values=[""])
    table["next_stage"] = table["next_stage"].fillna("")
    personas = list(dict.fromkeys(table["persona"]))
    print("\njourney map (accounts: mean per replication; conversion and drop-off: share of the")
    print("accounts in the stage during the run, [P10, P90] across replications; median months")
    print("in stage of completed stays)")
    for who in ["total", *(p for p in personas if p != "total")]:
        print(f"\n{who}")
        print(format_map(table, who))
    shown = os.path.relpath(out_dir) if out_dir.is_absolute() else str(out_dir)
    shown = shown if not shown.startswith("..") else str(out_dir)
    print(f"\ntable: {shown}/{table_file.name}  diagram: {shown}/plots/journey_map.png")
    return code


def audit_touchpoints(cfg: DictConfig, settings: RunSettings, out_dir: Path) -> int:
    """``task=audit``: every touchpoint's and built-in programme's paired ablation and marginal
    reach or spend (common random numbers), and the stage transitions that lose the most accounts
    (``simulator.experiments.audit``); the touchpoints named in ``audit`` are checked before
    any simulation. The audit is printed and saved into ``out_dir`` (``audit.csv``/``.parquet``,
    ``per_replication.parquet``, ``ranking.csv``, ``marginal.csv``, ``dropoffs.csv``,
    ``plots/audit.png``)."""
    from simulator.experiments.audit import audit, check_audit

    study = settings.audit
    assert study is not None
    try:
        params, _, _ = read_config(cfg)
        check_audit(params, study.touchpoints, study.programmes)
    except ConfigError as exc:
        return _fail(str(exc))
    try:
        result = audit(
            params,
            touchpoints=study.touchpoints,
            programmes=study.programmes,
            reach_step=study.reach_step,
            spend_step=study.spend_step,
            drop_offs=study.drop_offs,
            executor=make_executor(settings.executor),
            progress=progress_enabled(settings.progress),
        )
    except (Interrupted, KeyboardInterrupt):
        print(
            "\njourney-sim: interrupted; no audit written (it needs every variant)", file=sys.stderr
        )
        return 130
    except JobsFailed as exc:
        for line in exc.failures:
            _fail(line)
        return _fail("no audit written", 1)
    result.save(out_dir, plots=settings.output.plots)
    print(result.format())
    files = "audit.csv  audit.parquet  per_replication.parquet  ranking.csv  marginal.csv"
    files += "  dropoffs.csv" + ("  plots/audit.png" if settings.output.plots else "")
    shown = os.path.relpath(out_dir) if out_dir.is_absolute() else str(out_dir)
    shown = shown if not shown.startswith("..") else str(out_dir)
    print(f"\noutputs: {shown}/\n  {files}")
    return 0


@dataclass(frozen=True)
class Task:
    """A task of ``journey-sim task=<name>``: its function and the line ``--help`` shows."""

    name: str
    fn: Callable[[DictConfig, RunSettings, Path], int]
    help: str


TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task("run", run, "run the scenario's Monte Carlo replications (default)"),
        Task("replay", replay, "reproduce a saved run from its summary.json: dir=<run dir>"),
        Task("aggregate", aggregate, "gather a sweep's jobs into one table: dir=<sweep dir>"),
        Task(
            "compare",
            compare_scenarios,
            "paired comparison of scenarios: scenarios=[baseline,variant,...]",
        ),
        Task(
            "optimize",
            optimize_price,
            "search prices (any keys) maximising an objective under constraints: optimize.*",
        ),
        Task(
            "calibrate",
            calibrate_data,
            "fit retention (sBG) per persona to observed cohorts: data=<csv>",
        ),
        Task(
            "map",
            journey_map_task,
            "the journey map: stage stocks, flows, conversion, drop-off, months in stage",
        ),
        Task("dashboard", dashboard, "interactive dashboard in the browser (dashboard.port=8765)"),
        Task(
            "sensitivity",
            sensitivity_study,
            "global sensitivity (Sobol, Morris) of metrics to parameter ranges",
        ),
        Task(
            "response",
            response_curve,
            "a price-response curve: response.key over response.values, paired",
        ),
        Task("cohorts", cohorts_of_run, "cohort retention of a saved run: dir=<run dir>"),
        Task(
            "report",
            finance_report,
            "finance report (HTML, markdown): ARR fan, MRR bridge, churn, unit economics",
        ),
        Task(
            "audit",
            audit_touchpoints,
            "value, cost and ROI of every touchpoint (paired ablations); drop-offs: audit.*",
        ),
    )
}
