"""``simulate``: Monte Carlo replications of one scenario, and the result object."""

from __future__ import annotations

import functools
import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from simulator.config import params_of
from simulator.executors import run_tasks
from simulator.metrics import summarize
from simulator.model import JourneyModel
from simulator.params import ScenarioParams
from simulator.results import MONTHLY_COLUMNS

REPLICATION_DIR = "replications"


def run_replication(
    task: tuple[ScenarioParams, int], on_month: Callable[[], object] | None = None
) -> pd.DataFrame:
    """Simulate one replication of a scenario; the monthly table of that replication.

    ``on_month`` is called after every simulated month (progress reporting in this process).
    """
    params, replication = task
    model = JourneyModel(params, replication=replication)
    model.run(on_month=on_month)
    return records_to_frame(model.records)


def records_to_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Monthly records → tidy DataFrame with the columns of ``results.MONTHLY_COLUMNS``."""
    frame = pd.DataFrame.from_records(records, columns=list(MONTHLY_COLUMNS))
    for col in frame.columns:
        if col.startswith("n_") or col in ("month", "replication", "customers"):
            frame[col] = frame[col].astype("int64")
    return frame


def _progress_enabled(setting: str) -> bool:
    if setting == "true":
        return True
    if setting == "false":
        return False
    return sys.stderr.isatty() and not os.environ.get("CI")


def _atomic_write(path: Path, write: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def simulate(
    cfg: DictConfig | ScenarioParams,
    *,
    checkpoint_dir: str | Path | None = None,
    progress: bool | None = None,
) -> SimulationResult:
    """Run every replication of a scenario and collect the monthly table.

    Args:
        cfg: a config from ``load_config`` (validated here before any work) or parameters.
        checkpoint_dir: if given, each finished replication is written at once to
            ``<dir>/replications/rep-NNNN.parquet``, so an interrupted run loses nothing
            already simulated.
        progress: show a progress bar (default: the config's ``progress`` setting: on a
            terminal, quiet in CI and when output is not a TTY).

    Returns:
        SimulationResult with the tidy monthly table.
    """
    params = params_of(cfg)
    show = _progress_enabled(params.progress) if progress is None else progress
    tasks = [(params, r) for r in range(params.replications)]
    ckpt = Path(checkpoint_dir) / REPLICATION_DIR if checkpoint_dir is not None else None
    if ckpt is not None:
        ckpt.mkdir(parents=True, exist_ok=True)
    frames: list[pd.DataFrame] = []
    # Progress in simulated months: month by month when replications run in this process,
    # a replication's months at once when they come back from a worker.
    bar = tqdm(
        total=params.replications * params.months,
        desc=f"{params.scenario_name}: {params.replications} replications",
        unit="month",
        disable=not show,
        leave=False,
    )
    month_by_month = show and (params.executor_kind == "serial" or params.executor_workers <= 1)
    fn = (
        functools.partial(run_replication, on_month=lambda: bar.update(1))
        if month_by_month
        else run_replication
    )
    try:
        for frame in run_tasks(fn, tasks, params.executor_kind, params.executor_workers):
            frames.append(frame)
            if ckpt is not None:
                rep = int(frame["replication"].iloc[0]) if len(frame) else len(frames) - 1
                _atomic_write(ckpt / f"rep-{rep:04d}.parquet", lambda p, f=frame: f.to_parquet(p))
            if not month_by_month:
                bar.update(params.months)
    finally:
        bar.close()
    monthly = pd.concat(frames, ignore_index=True) if frames else records_to_frame([])
    monthly = monthly.sort_values(["replication", "month", "persona"], kind="stable")
    order = {p.name: i for i, p in enumerate(params.personas)}
    monthly = monthly.sort_values(
        ["replication", "month", "persona"],
        key=lambda s: s.map(order) if s.name == "persona" else s,
        kind="stable",
    ).reset_index(drop=True)
    config = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else None
    return SimulationResult(monthly=monthly, params=params, config=config)


def git_revision(short: bool = False) -> str | None:
    """The project's git revision (``-dirty`` when tracked files are modified); None outside
    a git checkout."""
    root = Path(__file__).resolve().parents[1]
    try:
        rev = subprocess.run(
            ["git", "-C", str(root), "rev-parse", *(["--short"] if short else []), "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev + ("-dirty" if dirty else "")


def package_versions() -> dict[str, str]:
    """Versions of the packages that shape results."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("journey-sim", "mesa", "numpy", "scipy", "pandas", "hydra-core", "omegaconf"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


@dataclass
class SimulationResult:
    """The outputs of ``simulate``.

    Attributes:
        monthly: tidy table, one row per scenario/replication/month/persona; columns in
            ``simulator.results``.
        params: the validated scenario parameters.
        config: the resolved config (plain dict), when run from a config.
    """

    monthly: pd.DataFrame
    params: ScenarioParams
    config: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, dict[str, float]]:
        """Headline metrics (median, p10, p90 across replications); see ``simulator.metrics``."""
        return summarize(self.monthly, self.params.discount_rate)

    def save(
        self, directory: str | Path, *, csv: bool | None = None, plots: bool | None = None
    ) -> Path:
        """Write ``monthly.parquet`` (and ``monthly.csv``), ``summary.json`` with config, seed,
        package versions and git revision, and the standard plots under ``plots/``."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        _atomic_write(out / "monthly.parquet", lambda p: self.monthly.to_parquet(p, index=False))
        if self.params.output_csv if csv is None else csv:
            _atomic_write(out / "monthly.csv", lambda p: self.monthly.to_csv(p, index=False))
        replications = int(self.monthly["replication"].nunique()) if len(self.monthly) else 0
        doc = {
            "scenario": self.params.scenario_name,
            "seed": self.params.seed,
            "months": self.params.months,
            "replications": replications,
            "replications_requested": self.params.replications,
            "summary": self.summary() if len(self.monthly) else {},
            "config": self.config,
            "versions": package_versions(),
            "git_revision": git_revision(),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": " ".join(sys.argv),
            **self.meta,
        }
        _atomic_write(
            out / "summary.json",
            lambda p: p.write_text(json.dumps(doc, indent=2, default=_json_default)),
        )
        if (self.params.output_plots if plots is None else plots) and len(self.monthly):
            from simulator.plots import save_standard_plots

            save_standard_plots(self.monthly, out / "plots")
        return out


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def load_checkpoint(directory: str | Path) -> pd.DataFrame:
    """The monthly table of every replication already written under ``directory``."""
    parts = sorted((Path(directory) / REPLICATION_DIR).glob("rep-*.parquet"))
    if not parts:
        return records_to_frame([])
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
