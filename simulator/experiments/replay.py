"""``task=replay``: rebuild a saved run from its ``summary.json`` and check that it reproduces
the saved monthly table exactly."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from simulator.errors import ConfigError
from simulator.experiments.executors import Executor
from simulator.experiments.montecarlo import OUTPUT_NAMES, simulate
from simulator.experiments.provenance import git_revision
from simulator.params import scenario_params
from simulator.params.run import split_tree


class ReplayError(ValueError):
    """A directory cannot be replayed (no summary.json, no table, no stored config)."""


def replay(
    run_dir: str | Path, *, executor: Executor | None = None, progress: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Re-simulate a saved run: (saved table, replayed table, saved summary).

    The scenario is rebuilt from the resolved config stored in ``summary.json`` (its run
    settings are not used); the replications are those present in ``monthly.parquet``. A
    directory holding only a stopped run's partial outputs (``monthly.partial.parquet``,
    ``summary.partial.json``) is replayed from those; the summary returned says ``partial``.
    """
    summary_file, table_file = run_files(run_dir)
    for need in (summary_file, table_file):
        if not need.exists():
            raise ReplayError(f"{need} not found: dir must be a run directory of journey-sim")
    doc = json.loads(summary_file.read_text())
    if not isinstance(doc.get("config"), dict):
        raise ReplayError(f"{summary_file} stores no config (saved from parameters, not a config)")
    saved = pd.read_parquet(table_file)
    scenario, _ = split_tree(doc["config"])
    params = scenario_params(scenario)
    reps = sorted(int(r) for r in saved["replication"].unique())
    replayed = simulate(params, executor=executor, progress=progress, replications=reps).monthly
    return saved, replayed, doc


def run_files(run_dir: str | Path) -> tuple[Path, Path]:
    """(summary, table) of a run directory: the complete run's, else a partial run's."""
    run_dir = Path(run_dir)
    names = OUTPUT_NAMES[False]
    if not (run_dir / names["monthly"]).exists():
        partial = OUTPUT_NAMES[True]
        if (run_dir / partial["monthly"]).exists():
            names = partial
    return run_dir / names["summary"], run_dir / names["monthly"]


def first_difference(saved: pd.DataFrame, replayed: pd.DataFrame) -> str | None:
    """Where two monthly tables first differ (column by column), or None if identical."""
    if list(saved.columns) != list(replayed.columns):
        return f"columns: saved {list(saved.columns)}, replayed {list(replayed.columns)}"
    if len(saved) != len(replayed):
        return f"rows: saved {len(saved)}, replayed {len(replayed)}"
    for col in saved.columns:
        a, b = saved[col], replayed[col]
        if a.dtype != b.dtype:
            return f"column {col}: dtype saved {a.dtype}, replayed {b.dtype}"
        same = np.asarray(a.to_numpy() == b.to_numpy()) | (a.isna() & b.isna()).to_numpy()
        if not same.all():
            row = int(np.argmax(~same))
            where = ", ".join(
                f"{k} {saved[k].iat[row]}"
                for k in ("replication", "month", "persona")
                if k in saved.columns
            )
            return (
                f"column {col}, row {row} ({where}): saved {a.iat[row]!r}, replayed {b.iat[row]!r}"
            )
    return None


def replay_run(
    run_dir: str | Path, *, executor: Executor | None = None, progress: bool = False
) -> int:
    """Replay ``run_dir`` and say whether its table is reproduced; the exit code (0 identical,
    1 different, 2 not replayable)."""
    table = run_files(run_dir)[1]
    try:
        saved, replayed, doc = replay(run_dir, executor=executor, progress=progress)
    except (ReplayError, ConfigError) as exc:
        print(f"journey-sim: replay: {exc}", file=sys.stderr)
        return 2
    if doc.get("partial") or doc.get("interrupted"):
        print(
            f"replay: note: {table} is a partial run ({doc.get('replications')} of "
            f"{doc.get('replications_requested')} replications: it was stopped before its end)"
        )
    now = git_revision()
    if doc.get("git_revision") and now and doc["git_revision"] != now:
        print(f"replay: note: saved at git revision {doc['git_revision']}, replayed at {now}")
    diff = first_difference(saved, replayed)
    if diff is None:
        print(f"replay: identical to {table} ({len(saved)} rows)")
        return 0
    print(f"replay: differs from {table}: {diff}")
    return 1
