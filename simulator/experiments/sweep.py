"""Sweep aggregation: every job of a Hydra multirun gathered into one tidy table."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from simulator.experiments.montecarlo import is_partial
from simulator.metrics import company_totals, replication_metrics

#: Files ``aggregate_sweep`` writes into the sweep directory.
SWEEP_MONTHLY = "sweep_monthly.parquet"
SWEEP_SUMMARY = "sweep_summary.csv"


def aggregate_sweep(sweep_dir: str | Path) -> int:
    """Gather every job's monthly table of a sweep directory; the number of jobs gathered.

    Writes ``sweep_monthly.parquet`` (every job's rows, with ``job`` and one column per swept
    key) and ``sweep_summary.csv`` (headline metrics per job and replication) into the sweep
    directory; writes nothing when no job has a table.
    """
    sweep_dir = Path(sweep_dir)
    frames, metrics, partial = [], [], []
    for job_dir in sorted(p for p in sweep_dir.iterdir() if p.is_dir()):
        table = job_dir / "monthly.parquet"
        if is_partial(job_dir):  # a stopped job: its outputs are partial, never aggregated
            partial.append(job_dir.name)
            continue
        if not table.exists():
            continue
        monthly = pd.read_parquet(table)
        overrides_file = job_dir / ".hydra" / "overrides.yaml"
        overrides = OmegaConf.load(overrides_file) if overrides_file.exists() else []
        swept = dict(str(o).split("=", 1) for o in overrides if "=" in str(o))
        per_rep = replication_metrics(company_totals(monthly), _discount_rate(job_dir))
        for frame in (monthly, per_rep):
            frame.insert(0, "job", job_dir.name)
            for key, value in swept.items():
                frame[key] = value
        frames.append(monthly)
        metrics.append(per_rep)
    if partial:
        print(
            f"journey-sim: not aggregated, partial (stopped before their end): "
            f"{', '.join(partial)}; rerun them to complete them",
            file=sys.stderr,
        )
    if frames:
        pd.concat(frames, ignore_index=True).to_parquet(sweep_dir / SWEEP_MONTHLY)
        pd.concat(metrics, ignore_index=True).to_csv(sweep_dir / SWEEP_SUMMARY, index=False)
    return len(frames)


def _discount_rate(job_dir: Path) -> float:
    """``finance.discount_rate`` of a job, from its summary.json or Hydra's record."""
    summary, hydra_record = job_dir / "summary.json", job_dir / ".hydra" / "config.yaml"
    config = json.loads(summary.read_text()).get("config") if summary.exists() else None
    if config is None and hydra_record.exists():
        config = OmegaConf.to_container(OmegaConf.load(hydra_record))
    rate = OmegaConf.select(OmegaConf.create(config or {}), "finance.discount_rate")
    if rate is None:
        raise ValueError(f"{job_dir}: no finance.discount_rate in summary.json or .hydra/")
    return float(rate)


class SweepAggregator(Callback):
    """Hydra callback: after a multirun, ``aggregate_sweep`` the sweep directory."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        jobs = aggregate_sweep(sweep_dir)
        if jobs:
            print(f"journey-sim: sweep of {jobs} jobs aggregated in {sweep_dir}/")
