"""``simulate``: Monte Carlo replications of one scenario, and the result object."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from simulator.attribution import channel_frame
from simulator.cohorts import cohort_frame
from simulator.experiments.executors import Executor, SerialExecutor, make_executor
from simulator.experiments.jobs import (
    CheckpointStore,
    TableSet,
    atomic_write,
    fingerprint,
    progress_enabled,
    run_jobs,
    test_point,
)
from simulator.experiments.provenance import git_revision, json_default, package_versions
from simulator.mechanisms.pricing import warn_rank_disagreements
from simulator.metrics import summarize
from simulator.model import JourneyModel
from simulator.params import ScenarioParams, read_config
from simulator.params.run import OutputSettings
from simulator.results import CHANNELS, COHORTS, MONTHLY, MONTHLY_COLUMNS

#: Checkpoints of a run: ``<run dir>/replications/rep-NNNN.parquet``.
REPLICATION_DIR = "replications"

#: Environment variable that turns the engine's debug mode on (``1``/``true``): the invariants
#: of ``simulator.invariants`` are checked after every simulated month.
DEBUG_ENV = "JOURNEY_SIM_DEBUG"

#: Output files of a complete run, and of a partial one (interrupted, or with replications that
#: failed): partial results never carry a complete run's names.
OUTPUT_NAMES: dict[bool, dict[str, str]] = {
    False: {
        "monthly": "monthly.parquet",
        "csv": "monthly.csv",
        "summary": "summary.json",
        "plots": "plots",
        "cohorts": "cohorts.parquet",
        "flows": "flows.parquet",
        "stays": "stays.parquet",
        "journey_log": "journey_log.parquet",
        "journey_log_csv": "journey_log.csv",
        "journey_map": "journey_map.csv",
        "touchpoints": "touchpoints.parquet",
        "channels": "channels.parquet",
    },
    True: {
        "monthly": "monthly.partial.parquet",
        "csv": "monthly.partial.csv",
        "summary": "summary.partial.json",
        "plots": "plots.partial",
        "cohorts": "cohorts.partial.parquet",
        "touchpoints": "touchpoints.partial.parquet",
        "channels": "channels.partial.parquet",
    },
}

#: The tables of one replication (``run_replication_tables``), the monthly table first: the
#: stage flows, the completed stays and the sampled event log of ``simulator.journey``, and the
#: paying accounts by cohort of ``simulator.cohorts``, the counts by acquisition source of
#: ``simulator.attribution``.
REPLICATION_TABLES: tuple[str, ...] = (
    "monthly",
    "flows",
    "stays",
    "journey_log",
    "cohorts",
    "channels",
)


def is_partial(run_dir: str | Path) -> bool:
    """Whether a run directory's last run stopped before its end: it holds partial outputs
    (``monthly.partial.parquet``), or a summary saying so (runs saved before the names)."""
    run_dir = Path(run_dir)
    if (run_dir / OUTPUT_NAMES[True]["monthly"]).exists():
        return True
    summary = run_dir / OUTPUT_NAMES[False]["summary"]
    if summary.exists():
        try:
            doc = json.loads(summary.read_text())
        except ValueError:
            return True  # unreadable: not a finished run's summary
        return bool(doc.get("interrupted") or doc.get("partial"))
    return False


def debug_enabled() -> bool:
    """Debug mode from ``$JOURNEY_SIM_DEBUG``."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def study_key(params: ScenarioParams) -> str:
    """Fingerprint of what a replication's table depends on: every scenario parameter but the
    number of replications (a run can be extended) and the run settings."""
    doc = params.model_dump(mode="json", exclude={"replications"})
    if params.initial.book is not None:  # the book's content, not only its path
        from simulator.book_csv import book_digest

        doc["initial"]["book_sha256"] = book_digest(params.initial.book)
    return fingerprint(doc)


def run_replication(
    task: tuple[ScenarioParams, int] | tuple[ScenarioParams, int, bool],
    on_tick: Callable[[], object] | None = None,
) -> pd.DataFrame:
    """Simulate one replication of a scenario; the monthly table of that replication.

    ``task`` is (params, replication) or (params, replication, debug). ``on_tick`` is called
    after every simulated month (progress and cancellation in this process). In debug mode
    the invariants of ``simulator.invariants`` are checked after every month.

    Raises:
        simulator.invariants.InvariantError: debug mode, an invariant broken (month and persona
            named).
    """
    return records_to_frame(_run_model(task, on_tick).records)


def run_replication_tables(
    task: tuple[ScenarioParams, int] | tuple[ScenarioParams, int, bool],
    on_tick: Callable[[], object] | None = None,
) -> TableSet:
    """Simulate one replication (as ``run_replication``); its tables ``REPLICATION_TABLES``:
    the monthly table, the stage flows, the stays and the event log (``simulator.journey``),
    the cohorts (``simulator.cohorts``)."""
    from simulator.journey import flows_frame, log_frame, stays_frame

    model = _run_model(task, on_tick)
    return TableSet(
        monthly=records_to_frame(model.records),
        flows=flows_frame(model),
        stays=stays_frame(model),
        journey_log=log_frame(model),
        cohorts=cohort_frame(model),
        channels=channel_frame(model),
    )


def _run_model(
    task: tuple[ScenarioParams, int] | tuple[ScenarioParams, int, bool],
    on_tick: Callable[[], object] | None = None,
) -> JourneyModel:
    params, replication, *rest = task
    debug = bool(rest and rest[0])
    test_point("replication", replication)
    if params.uncertainty:  # parameters drawn for this replication (simulator.uncertainty)
        from simulator.uncertainty import replication_params

        params = replication_params(params, replication)
    model = JourneyModel(params, replication=replication)
    if not debug:
        model.run(on_month=on_tick)
        return model
    from simulator.invariants import InvariantError, check

    sizes = {a.persona.name: a.rows.stop - a.rows.start for a in model.persona_agents}
    last: list[pd.DataFrame] = []

    def month_checked() -> None:
        month = records_to_frame(model.records[-len(sizes) :])
        try:
            check(month, sizes, last[0] if last else None)
        except InvariantError as exc:
            raise InvariantError(
                f"debug: {params.scenario_name}, replication {replication} (seed {params.seed}),"
                f" month {model.month}: {exc}"
            ) from None
        last[:] = [month]
        if on_tick is not None:
            on_tick()

    model.run(on_month=month_checked)
    return model


def records_to_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Monthly records → tidy DataFrame with the columns of ``results.MONTHLY``, each of its
    declared dtype (whatever the mechanisms switched on)."""
    if not records:
        frame = pd.DataFrame.from_records(records, columns=list(MONTHLY_COLUMNS))
        return frame.astype({c: t for c, t in MONTHLY.dtypes.items() if t == "int64"})
    # Column by column (one array each, of its declared dtype): the records are dicts of
    # plain Python numbers and strings.
    columns: dict[str, Any] = {}
    for name, dtype in MONTHLY.dtypes.items():
        values = [r[name] for r in records]
        columns[name] = values if dtype == "str" else np.array(values, dtype=dtype)
    return pd.DataFrame(columns)


def assemble(frames: Iterable[pd.DataFrame], params: ScenarioParams) -> pd.DataFrame:
    """One tidy table from replication tables, ordered by replication, month and persona
    (personas in config order)."""
    frames = list(frames)
    monthly = pd.concat(frames, ignore_index=True) if frames else records_to_frame([])
    return _sorted(monthly, params, ["replication", "month", "persona"])


def _sorted(frame: pd.DataFrame, params: ScenarioParams, by: list[str]) -> pd.DataFrame:
    """``frame`` sorted by the columns ``by`` (integers, and ``persona`` in config order), stable,
    with a fresh index: what ``frame.sort_values(by, kind="stable")`` gives with the personas
    ranked. The columns are ranked into one integer key, sorted by one stable argsort, and not
    at all when the frame is in order already (the replications' tables are each in order:
    joined in replication order they need no sort). A key that would not fit in int64, or a
    persona not in the config, takes pandas' sort."""
    n = len(frame)
    key = np.zeros(n, dtype=np.int64)
    span = 1
    for name in by:
        col = frame[name]
        if name == "persona":
            codes, names = pd.factorize(col)
            rank = {p: i for i, p in enumerate(params.personas)}
            if any(p not in rank for p in names) or (n and int(codes.min()) < 0):
                return _sorted_by_pandas(frame, params, by)  # (an unknown or missing persona)
            part = np.array([rank[p] for p in names], dtype=np.int64)[codes]
            low, width = 0, len(rank)
        else:
            part = col.to_numpy(dtype=np.int64)
            low = int(part.min()) if n else 0
            width = (int(part.max()) - low + 1) if n else 1
        span *= max(width, 1)
        if span >= 2**62:
            return _sorted_by_pandas(frame, params, by)
        key *= max(width, 1)
        key += part - low
    if n < 2 or bool(np.all(key[1:] >= key[:-1])):
        return frame.reset_index(drop=True)
    return frame.take(np.argsort(key, kind="stable")).reset_index(drop=True)


def _sorted_by_pandas(frame: pd.DataFrame, params: ScenarioParams, by: list[str]) -> pd.DataFrame:
    order = {name: i for i, name in enumerate(params.personas)}
    return frame.sort_values(
        by, key=lambda s: s.map(order) if s.name == "persona" else s, kind="stable"
    ).reset_index(drop=True)


def result_of(
    parts: Iterable[TableSet | pd.DataFrame],
    params: ScenarioParams,
    config: dict[str, Any] | None = None,
    **kwargs: Any,
) -> SimulationResult:
    """One ``SimulationResult`` from replications' tables (``run_replication_tables``), each
    table merged in replication order; plain monthly tables give a result without flows."""
    from simulator.journey import FLOWS, JOURNEY_LOG, STAYS

    parts = list(parts)
    sets = [p for p in parts if isinstance(p, TableSet)]
    monthly = assemble([p["monthly"] if isinstance(p, TableSet) else p for p in parts], params)
    if not sets or len(sets) != len(parts):
        return SimulationResult(monthly, params, config, **kwargs)
    tables = {}
    for name, table, by in (
        ("flows", FLOWS, ["replication", "month", "persona"]),
        ("stays", STAYS, ["replication", "persona"]),
        ("journey_log", JOURNEY_LOG, ["replication", "month", "account"]),
        ("cohorts", COHORTS, ["replication", "month", "persona", "cohort_month"]),
        ("channels", CHANNELS, ["replication", "month", "persona"]),
    ):
        frame = pd.concat([p[name] for p in sets], ignore_index=True)
        tables[name] = _sorted(frame.astype(table.dtypes), params, by)
    return SimulationResult(monthly, params, config, **kwargs, **tables)


def simulate(
    cfg: DictConfig | ScenarioParams,
    *,
    checkpoint_dir: str | Path | None = None,
    progress: bool | None = None,
    executor: Executor | None = None,
    replications: Iterable[int] | None = None,
    debug: bool | None = None,
) -> SimulationResult:
    """Run every replication of a scenario and collect the monthly table.

    Args:
        cfg: a config from ``load_config`` (validated here before any work) or parameters.
        checkpoint_dir: if given, each finished replication is written at once to
            ``<dir>/replications/rep-NNNN.parquet``, so an interrupted run loses nothing
            already simulated; replications already there for the same scenario are loaded,
            not simulated again (resume).
        progress: show a progress bar in simulated months (default: the config's
            ``progress``: on a terminal, quiet in CI and when output is not a TTY).
        executor: where replications run (default: the config's ``executor``; serial for
            parameters).
        replications: which replications to run (default: all of ``replications``).
        debug: check the invariants of ``simulator.invariants`` after every simulated month
            (default: ``$JOURNEY_SIM_DEBUG``); the table is the same.

    Returns:
        SimulationResult with the tidy monthly table.

    Raises:
        simulator.experiments.jobs.Interrupted: on Ctrl-C or SIGTERM, with the finished
            replications (stopped between months, never inside a checkpoint write).
        simulator.experiments.jobs.JobsFailed: replications failed on every attempt (their
            seeds and errors in the message), with the finished ones.
        simulator.experiments.jobs.CheckpointMismatch: ``checkpoint_dir`` holds another
            scenario's replications (named in the message; never merged).
    """
    if isinstance(cfg, DictConfig):
        params, settings, config = read_config(cfg)
        executor = executor or make_executor(settings.executor)
        show = progress_enabled(settings.progress) if progress is None else progress
        output: OutputSettings | None = settings.output
    else:
        params, config, output = cfg, None, None
        executor = executor or SerialExecutor()
        show = progress_enabled("auto") if progress is None else progress
    warn_rank_disagreements(params)  # plan ranks that disagree with prices: once, before
    reps = list(range(params.replications) if replications is None else replications)
    debug = debug_enabled() if debug is None else debug
    store = None
    if checkpoint_dir is not None:
        about = {"scenario": params.scenario_name, "seed": params.seed, "months": params.months}
        store = CheckpointStore(
            Path(checkpoint_dir) / REPLICATION_DIR,
            study_key(params),
            about=about,
            tables=REPLICATION_TABLES,
        )
    frames = run_jobs(
        run_replication_tables,
        [(params, r, True) if debug else (params, r) for r in reps],
        executor=executor,
        store=store,
        keys=reps,
        progress=show,
        units=params.months,
        desc=f"{params.scenario_name}: {len(reps)} replications",
        unit="month",
        describe=lambda task: f"replication {task[1]} (seed {task[0].seed})",
    )
    return result_of(frames, params, config, output=output)


@dataclass
class SimulationResult:
    """The outputs of ``simulate``.

    Attributes:
        monthly: tidy table, one row per scenario/replication/month/persona; columns in
            ``simulator.results``.
        params: the validated scenario parameters.
        config: the resolved config (plain dict), when run from a config.
        output: what ``save`` writes besides the table (the config's ``output``).
        meta: extra entries of ``summary.json`` (e.g. ``interrupted``).
        cohorts: paying accounts and MRR by persona and cohort month, month 0 onward
            (``simulator.results.COHORTS``; ``simulator.cohorts`` reads it), or None.
        flows: stage flows, one row per replication, month, persona and transition
            (``simulator.journey.FLOWS``); None for a result built from monthly tables alone.
        stays: completed stays in each stage by months in stage (``simulator.journey.STAYS``).
        journey_log: the event log of the sampled accounts (``journey_log.share``; empty when
            0; ``simulator.journey.JOURNEY_LOG``).
        channels: prospects, decisions, new customers and their cost by acquisition source,
            per replication, month and persona (``simulator.results.CHANNELS``;
            ``simulator.attribution``), or None.
    """

    monthly: pd.DataFrame
    params: ScenarioParams
    config: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    output: OutputSettings | None = None
    cohorts: pd.DataFrame | None = None
    flows: pd.DataFrame | None = None
    stays: pd.DataFrame | None = None
    journey_log: pd.DataFrame | None = None
    channels: pd.DataFrame | None = None

    def summary(self) -> dict[str, dict[str, float]]:
        """Headline metrics (median, p10, p90 across replications); see ``simulator.metrics``."""
        return summarize(self.monthly, self.params.finance)

    def journey_map(self) -> pd.DataFrame:
        """The journey map (``simulator.journey.journey_map``): per persona and in total, each
        stage's stock, entries, exits, conversion, drop-off and median months in stage."""
        from simulator.journey import journey_map

        return journey_map(self)

    def _save_journey(self, out: Path, names: dict[str, str], csv: bool) -> None:
        """``flows.parquet``, ``stays.parquet``, ``journey_map.csv`` and, when accounts were
        sampled, ``journey_log.parquet`` (and ``.csv``)."""
        if self.flows is None or self.stays is None:
            return
        flows, stays = self.flows, self.stays
        atomic_write(out / names["flows"], lambda p: flows.to_parquet(p, index=False))
        atomic_write(out / names["stays"], lambda p: stays.to_parquet(p, index=False))
        if len(self.monthly):
            table = self.journey_map()
            atomic_write(out / names["journey_map"], lambda p: table.to_csv(p, index=False))
        log = self.journey_log
        if log is not None and len(log):
            atomic_write(out / names["journey_log"], lambda p: log.to_parquet(p, index=False))
            if csv:
                atomic_write(out / names["journey_log_csv"], lambda p: log.to_csv(p, index=False))
        else:  # no accounts sampled: no log (nor one a former run left here)
            for name in ("journey_log", "journey_log_csv"):
                (out / names[name]).unlink(missing_ok=True)

    @property
    def touchpoints(self) -> pd.DataFrame:
        """Touchpoint activity and cost: one row per scenario, replication, month, persona and
        touchpoint (expected accounts reached, $ cost; ``simulator.mechanisms.touchpoints``)."""
        from simulator.mechanisms.touchpoints import activity

        return activity(self.monthly, self.params)

    @property
    def partial(self) -> bool:
        """Whether this result lacks replications it was asked for (interrupted, failed)."""
        return bool(self.meta.get("interrupted") or self.meta.get("partial"))

    def save(
        self, directory: str | Path, *, csv: bool | None = None, plots: bool | None = None
    ) -> Path:
        """Write ``monthly.parquet`` (and ``monthly.csv``), ``summary.json`` with config, seed,
        package versions and git revision, and the standard plots under ``plots/``; with stage
        flows (a complete result), ``flows.parquet``, ``stays.parquet``, ``journey_map.csv`` (and
        ``plots/journey_map.png``) and, with ``journey_log.share`` > 0, ``journey_log.parquet``
        (and ``journey_log.csv`` with ``csv``); ``cohorts.parquet`` (paying accounts by cohort) and
        ``touchpoints.parquet`` (touchpoint activity and cost, when the scenario has touchpoints).

        A partial result (``meta`` says ``interrupted`` or ``partial``) is written as
        ``monthly.partial.parquet``, ``summary.partial.json`` and ``plots.partial/``, so it is
        never taken for a complete run; a complete result removes the partial files a stopped
        run left. Every file is written atomically (a temporary file and a rename).

        ``csv`` and ``plots`` default to the config's ``output`` (no CSV, plots, without one).
        """
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        names = OUTPUT_NAMES[self.partial]
        csv = (self.output.csv if self.output else False) if csv is None else csv
        plots = (self.output.plots if self.output else True) if plots is None else plots
        test_point("save", names["monthly"])
        atomic_write(out / names["monthly"], lambda p: self.monthly.to_parquet(p, index=False))
        if csv:
            atomic_write(out / names["csv"], lambda p: self.monthly.to_csv(p, index=False))
        if self.cohorts is not None:
            cohorts = self.cohorts
            atomic_write(out / names["cohorts"], lambda p: cohorts.to_parquet(p, index=False))
        if self.params.touchpoints:
            table = self.touchpoints
            atomic_write(out / names["touchpoints"], lambda p: table.to_parquet(p, index=False))
        if self.channels is not None:
            by_source = self.channels
            atomic_write(out / names["channels"], lambda p: by_source.to_parquet(p, index=False))
        replications = int(self.monthly["replication"].nunique()) if len(self.monthly) else 0
        doc = {
            "scenario": self.params.scenario_name,
            "seed": self.params.seed,
            "months": self.params.months,
            "replications": replications,
            "replications_requested": self.params.replications,
            "partial": self.partial,
            "summary": self.summary() if len(self.monthly) else {},
            "config": self.config,
            "versions": package_versions(),
            "git_revision": git_revision(),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": " ".join(sys.argv),
            **self.meta,
        }
        atomic_write(
            out / names["summary"],
            lambda p: p.write_text(json.dumps(doc, indent=2, default=json_default)),
        )
        if not self.partial:  # the replications' checkpoints keep a partial run's flows
            self._save_journey(out, names, csv)
        if plots and len(self.monthly):
            test_point("save", names["plots"])
            journey = None if self.partial else self
            save_plots_atomically(self.monthly, out / names["plots"], journey)
            if self.cohorts is not None and len(self.cohorts):
                save_cohort_plot(self.cohorts, out / names["plots"] / "cohort_retention.png")
        if not self.partial:
            for name in OUTPUT_NAMES[True].values():
                stale = out / name
                if stale.is_dir():
                    shutil.rmtree(stale, ignore_errors=True)
                else:
                    stale.unlink(missing_ok=True)
        return out


def save_plots_atomically(
    monthly: pd.DataFrame, directory: Path, result: SimulationResult | None = None
) -> list[Path]:
    """The standard plots (``simulator.plots.save_standard_plots``; with a ``result`` that has
    stage flows, its journey map too) drawn into a hidden folder beside ``directory``, then each
    moved into place with an atomic rename."""
    from simulator.plots import save_standard_plots

    staging = directory.with_name(f".{directory.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        drawn = save_standard_plots(monthly, staging)
        if result is not None and result.flows is not None and len(monthly):
            import matplotlib.pyplot as plt

            from simulator.plots import plot_journey_map

            fig = plot_journey_map(result.journey_map())
            drawn.append(staging / "journey_map.png")
            fig.savefig(drawn[-1], dpi=110, bbox_inches="tight")
            plt.close(fig)
        directory.mkdir(parents=True, exist_ok=True)
        placed = []
        for path in drawn:
            os.replace(path, directory / path.name)
            placed.append(directory / path.name)
        return placed
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def save_cohort_plot(cohorts: pd.DataFrame, path: Path) -> Path:
    """The logo and revenue retention heatmaps (``plots.plot_cohort_heatmap``) side by side,
    written atomically to ``path``."""
    import matplotlib.pyplot as plt

    from simulator.plots import plot_cohort_heatmap

    fig, axes = plt.subplots(1, 2, figsize=(16, 7))
    try:
        plot_cohort_heatmap(cohorts, "logo", ax=axes[0])
        plot_cohort_heatmap(cohorts, "revenue", ax=axes[1])
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda p: fig.savefig(p, dpi=90, format="png"))
    finally:
        plt.close(fig)
    return path


def load_checkpoint(directory: str | Path) -> pd.DataFrame:
    """The monthly table of every replication already written under ``directory``."""
    parts = sorted((Path(directory) / REPLICATION_DIR).glob("rep-*.parquet"))
    if not parts:
        return records_to_frame([])
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
