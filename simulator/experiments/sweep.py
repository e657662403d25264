"""Sweeps: every job of a Hydra multirun recorded, resumable, and gathered into tidy tables.

Each job of ``journey-sim -m ...`` runs through ``run_sweep_job``, which writes
``<job>/job.json`` (``JOB_FILE``): the job's overrides, a fingerprint of its composed config and
its status (``running``, then ``complete``, ``interrupted`` or ``failed`` with the exit code).
Re-running the same sweep into the same directory (``hydra.sweep.dir=<dir>``) skips every job
whose ``job.json`` says ``complete`` for the same config, and an interrupted job resumes from
the replications it had finished (``task=run`` keeps them in ``<job>/replications/``).

``aggregate_sweep`` (after the sweep, after a Ctrl-C, and ``task=aggregate dir=...``) reads the
jobs on disk and writes into the sweep directory, from the **complete** jobs only:

- ``sweep_monthly.parquet``: every complete job's monthly rows, with ``job`` (its number) and one
  column per **swept** key (a key given several values on the command line; constant overrides
  are not columns), typed as Hydra parses the value (numbers as numbers, ``true`` as a boolean,
  names as strings); jobs in numeric order;
- ``sweep_summary.csv``: headline metrics per job and replication (same columns first);
- ``sweep_jobs.csv`` / ``sweep_jobs.parquet``: one row per job and headline metric: the number
  of replications, the median, P10 and P90 across them;
- ``sweep_status.csv``: every job folder with its status; jobs that are not complete are named
  there and in what is printed, never aggregated.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from simulator.metrics import (
    METRICS,
    FinanceSettings,
    company_totals,
    finance_settings,
    replication_metrics,
)

#: Files ``aggregate_sweep`` writes into the sweep directory.
SWEEP_MONTHLY = "sweep_monthly.parquet"
SWEEP_SUMMARY = "sweep_summary.csv"
SWEEP_JOBS = "sweep_jobs"  # .csv and .parquet
SWEEP_STATUS = "sweep_status.csv"
#: A job's record of its config and status, in its folder.
JOB_FILE = "job.json"
#: Statuses of a job folder.
STATUSES = ("complete", "interrupted", "failed", "running", "no record")
#: Columns of ``sweep_jobs`` after the job and swept-key columns.
JOB_SUMMARY_COLUMNS = ("metric", "n_replications", "median", "p10", "p90")


# ------------------------------------------------------------------------------ the job record
def job_fingerprint(cfg: DictConfig | Mapping[str, Any]) -> str:
    """A fingerprint of what a job computes: its composed config without Hydra's node, where it
    runs (executor) or whether it shows progress."""
    from simulator.experiments.jobs import fingerprint

    tree = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg
    assert isinstance(tree, dict)
    return fingerprint(
        {k: v for k, v in tree.items() if k not in ("hydra", "executor", "progress")}
    )


def read_job(job_dir: Path) -> dict[str, Any] | None:
    """The job's ``job.json`` (None if absent or unreadable)."""
    try:
        doc = json.loads((job_dir / JOB_FILE).read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _write_job(job_dir: Path, doc: dict[str, Any]) -> None:
    from simulator.experiments.jobs import atomic_write

    job_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(job_dir / JOB_FILE, lambda p: p.write_text(json.dumps(doc, indent=2)))


def run_sweep_job(
    cfg: DictConfig, run: Callable[[DictConfig], int], job_dir: Path, overrides: list[str]
) -> int:
    """Run one job of a sweep unless ``job_dir`` already holds it complete; its exit code.

    Writes ``job.json`` before (``running``) and after (``complete`` on 0, ``interrupted`` on
    130 or Ctrl-C, else ``failed``).
    """
    key = job_fingerprint(cfg)
    done = read_job(job_dir)
    if done and done.get("status") == "complete" and done.get("fingerprint") == key:
        print(f"journey-sim: job {job_dir.name} already complete in {job_dir}/; skipped")
        return 0
    doc = {"job": job_dir.name, "overrides": overrides, "fingerprint": key}
    started = datetime.now(UTC).isoformat(timespec="seconds")
    _write_job(job_dir, doc | {"status": "running", "started": started})
    try:
        code = run(cfg)
    except KeyboardInterrupt:
        code = 130
    except Exception:
        ended = datetime.now(UTC).isoformat(timespec="seconds")
        _write_job(job_dir, doc | {"status": "failed", "started": started, "ended": ended})
        raise
    status = {0: "complete", 130: "interrupted"}.get(code, "failed")
    ended = datetime.now(UTC).isoformat(timespec="seconds")
    _write_job(
        job_dir, doc | {"status": status, "exit_code": code, "started": started, "ended": ended}
    )
    return code


def job_status(job_dir: Path) -> str:
    """``complete``, ``interrupted``, ``failed``, ``running`` (started, never finished: the sweep
    was stopped, or it is still going) or ``no record`` (a folder without ``job.json``: a job
    that never started, or one written before jobs kept records; complete if its
    ``summary.json`` says all its replications ran). A folder holding partial outputs
    (``monthly.partial.parquet``: a run stopped before its end) is ``interrupted``."""
    from simulator.experiments.montecarlo import OUTPUT_NAMES

    doc = read_job(job_dir)
    partial = job_dir / OUTPUT_NAMES[True]["monthly"]
    if partial.exists() and not (job_dir / OUTPUT_NAMES[False]["monthly"]).exists():
        return "interrupted"
    if doc is not None:
        status = str(doc.get("status"))
        if status == "complete" and not (job_dir / "monthly.parquet").exists():
            return "failed"  # another task's job (no monthly table): nothing to aggregate
        return status if status in STATUSES else "failed"
    summary = job_dir / "summary.json"
    if (job_dir / "monthly.parquet").exists() and summary.exists():
        try:
            s = json.loads(summary.read_text())
        except ValueError:
            return "no record"
        reps, wanted = s.get("replications"), s.get("replications_requested", s.get("replications"))
        if not s.get("interrupted") and reps == wanted:
            return "complete"
        return "interrupted"
    return "no record"


# -------------------------------------------------------------------------------- aggregation
def _job_order(name: str) -> tuple[int, int, str]:
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


def _typed(text: str) -> tuple[str, Any] | None:
    """(key, value typed as Hydra reads it) of a ``key=value`` override (None for others)."""
    from simulator.config import parse_overrides
    from simulator.errors import ConfigError

    try:
        (o,) = parse_overrides([str(text)])
    except (ConfigError, ValueError):
        return None
    if o.is_delete() or o.is_sweep_override():
        return None
    return o.key_or_group, o.value()


def _swept_keys(sweep_dir: Path, per_job: dict[str, dict[str, Any]]) -> list[str]:
    """Keys given several values: the sweep overrides recorded in ``multirun.yaml``, else the
    keys whose value differs between jobs; in command-line order."""
    from simulator.config import parse_overrides
    from simulator.errors import ConfigError

    recorded = sweep_dir / "multirun.yaml"
    keys: list[str] = []
    if recorded.exists():
        try:
            task = OmegaConf.select(OmegaConf.load(recorded), "hydra.overrides.task") or []
            parsed = parse_overrides([str(t) for t in task])
            keys = [o.key_or_group for o in parsed if o.is_sweep_override()]
        except (ConfigError, ValueError, OSError):
            keys = []
    if not keys:
        seen: dict[str, set[str]] = {}
        for values in per_job.values():
            for k, v in values.items():
                seen.setdefault(k, set()).add(repr(v))
        keys = [k for k, vs in seen.items() if len(vs) > 1 or len(per_job) == 1]
        keys = [k for k in keys if all(k in v for v in per_job.values())]
    return [k for k in keys if not k.startswith("hydra.")]


def _overrides_of(job_dir: Path) -> dict[str, Any]:
    doc = read_job(job_dir)
    given: list[Any] | None = doc.get("overrides") if doc else None
    if given is None:
        file = job_dir / ".hydra" / "overrides.yaml"
        given = list(OmegaConf.to_container(OmegaConf.load(file))) if file.exists() else []
    out = {}
    for text in given:
        kv = _typed(str(text))
        if kv is not None:
            out[kv[0]] = kv[1]
    return out


def _column(values: list[Any]) -> pd.Series:
    """One swept key's values as a typed column (bool, int64, float64, else strings)."""
    if all(isinstance(v, bool) for v in values):
        return pd.Series(values, dtype=bool)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return pd.Series(values, dtype="int64")
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return pd.Series(values, dtype="float64")
    return pd.Series([None if v is None else str(v) for v in values], dtype=object)


@dataclass
class SweepReport:
    """What ``aggregate_sweep`` found: each job folder's status, in job order, and the swept
    keys."""

    directory: Path
    status: dict[str, str] = field(default_factory=dict)
    swept: list[str] = field(default_factory=list)
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def complete(self) -> list[str]:
        return [j for j, s in self.status.items() if s == "complete"]

    @property
    def incomplete(self) -> dict[str, str]:
        return {j: s for j, s in self.status.items() if s != "complete"}

    def __int__(self) -> int:
        return len(self.complete)

    def format(self) -> str:
        """What the command prints: jobs aggregated, and every job that is not complete."""
        lines = [
            f"journey-sim: sweep of {len(self.status)} jobs in {self.directory}/: "
            f"{len(self.complete)} complete"
            + (" (aggregated)" if self.complete else "")
            + (f"; swept: {', '.join(self.swept)}" if self.swept else "")
        ]
        for job, status in self.incomplete.items():
            shown = " ".join(f"{k}={v}" for k, v in self.overrides.get(job, {}).items())
            lines.append(f"  job {job} {status}, not aggregated: {shown}")
        return "\n".join(lines)


def aggregate_sweep(sweep_dir: str | Path) -> SweepReport:
    """Gather the complete jobs of a sweep directory into the tables of the module docstring;
    the report of every job's status (``int(report)``: the jobs aggregated). Writes
    ``sweep_status.csv`` always, the other tables when a job is complete."""
    from simulator.experiments.jobs import atomic_write

    sweep_dir = Path(sweep_dir)
    job_dirs = sorted(
        (p for p in sweep_dir.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: _job_order(p.name),
    )
    job_dirs = [p for p in job_dirs if (p / ".hydra").is_dir() or (p / JOB_FILE).exists()]
    report = SweepReport(sweep_dir)
    for job_dir in job_dirs:
        report.status[job_dir.name] = job_status(job_dir)
        report.overrides[job_dir.name] = _overrides_of(job_dir)
    report.swept = _swept_keys(sweep_dir, report.overrides)
    report.overrides = {
        j: {k: v for k, v in o.items() if k in report.swept} for j, o in report.overrides.items()
    }
    numeric = all(j.isdigit() for j in report.status)
    job_id = (lambda j: int(j)) if numeric else (lambda j: j)
    frames, per_rep, per_job = [], [], []
    for job in report.complete:
        job_dir = sweep_dir / job
        monthly = pd.read_parquet(job_dir / "monthly.parquet")
        metrics = replication_metrics(company_totals(monthly), _discount_rate(job_dir))
        frames.append(monthly.assign(job=job_id(job)))
        per_rep.append(metrics.assign(job=job_id(job)))
        for m in METRICS:
            v = metrics[m.name].to_numpy(dtype=float)
            v = v[np.isfinite(v)]
            p10, p50, p90 = np.percentile(v, [10, 50, 90]) if v.size else (np.nan,) * 3
            per_job.append(
                {"job": job_id(job), "metric": m.name, "n_replications": len(metrics)}
                | {"median": float(p50), "p10": float(p10), "p90": float(p90)}
            )
    status = pd.DataFrame(
        {
            "job": [job_id(j) for j in report.status],
            **_swept_columns(report, list(report.status)),
            "status": list(report.status.values()),
        }
    )
    atomic_write(sweep_dir / SWEEP_STATUS, lambda p: status.to_csv(p, index=False))
    if not frames:
        return report
    params = pd.DataFrame({"job": [job_id(j) for j in report.complete]})
    for key, col in _swept_columns(report, report.complete).items():
        params[key] = col.to_numpy()
        params[key] = params[key].astype(col.dtype)

    def with_params(table: pd.DataFrame) -> pd.DataFrame:
        """``table`` with the swept keys' columns after ``job``. A swept key that is a column
        of the table too (``scenario``, ``replications``...) is left to the table when the two
        agree row by row, else is named ``<key>_swept``."""
        both = params.merge(table, on="job", how="right", suffixes=("_swept", ""))
        keys = []
        for key in report.swept:
            if key in table.columns:
                if both[f"{key}_swept"].astype(str).equals(both[key].astype(str)):
                    both = both.drop(columns=f"{key}_swept")
                    continue
                key = f"{key}_swept"
            keys.append(key)
        rest = [c for c in table.columns if c != "job"]
        return both[["job", *keys, *[c for c in rest if c not in keys]]]

    monthly = with_params(pd.concat(frames, ignore_index=True))
    summary = with_params(pd.concat(per_rep, ignore_index=True))
    jobs = with_params(pd.DataFrame(per_job))
    atomic_write(sweep_dir / SWEEP_MONTHLY, lambda p: monthly.to_parquet(p, index=False))
    atomic_write(sweep_dir / SWEEP_SUMMARY, lambda p: summary.to_csv(p, index=False))
    atomic_write(sweep_dir / f"{SWEEP_JOBS}.csv", lambda p: jobs.to_csv(p, index=False))
    atomic_write(sweep_dir / f"{SWEEP_JOBS}.parquet", lambda p: jobs.to_parquet(p, index=False))
    return report


def _swept_columns(report: SweepReport, jobs: list[str]) -> dict[str, pd.Series]:
    return {
        key: _column([report.overrides.get(j, {}).get(key) for j in jobs]) for key in report.swept
    }


def _discount_rate(job_dir: Path) -> FinanceSettings:
    """The ``finance`` settings of a job (``finance.discount_rate`` and the others the metrics
    read), from its summary.json or Hydra's record."""
    summary, hydra_record = job_dir / "summary.json", job_dir / ".hydra" / "config.yaml"
    config = json.loads(summary.read_text()).get("config") if summary.exists() else None
    if config is None and hydra_record.exists():
        config = OmegaConf.to_container(OmegaConf.load(hydra_record))
    finance = OmegaConf.select(OmegaConf.create(config or {}), "finance")
    if finance is None or finance.get("discount_rate") is None:
        raise ValueError(f"{job_dir}: no finance.discount_rate in summary.json or .hydra/")
    return finance_settings(OmegaConf.to_container(finance))


# ----------------------------------------------------------------------- during a multirun
#: The sweep directory of the multirun in progress in this process (None outside one).
CURRENT: dict[str, Any] = {"dir": None, "report": None}


def interrupted_sweep(code: int = 130) -> SweepReport | None:
    """After a sweep stopped by Ctrl-C (``code`` 130) or an error: aggregate what is complete
    and print which jobs are not (call from the command's ``except``); None outside a
    sweep."""
    sweep_dir = CURRENT["dir"]
    CURRENT["dir"] = None
    if sweep_dir is None or not Path(sweep_dir).is_dir():
        return None
    report = aggregate_sweep(sweep_dir)
    print(
        f"\njourney-sim: sweep {'interrupted' if code == 130 else f'stopped (exit {code})'}. "
        f"{report.format().removeprefix('journey-sim: ')}\n"
        f"  rerun the same command with hydra.sweep.dir={sweep_dir} to finish it "
        "(complete jobs are skipped)",
        file=sys.stderr,
    )
    return report


class SweepAggregator(Callback):
    """Hydra callback: remember the sweep directory when a multirun starts; after it,
    ``aggregate_sweep`` the directory and print the report."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        CURRENT["dir"] = Path(config.hydra.sweep.dir)
        CURRENT["report"] = None

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        CURRENT["dir"] = None
        report = aggregate_sweep(sweep_dir)
        CURRENT["report"] = report
        print(report.format())
