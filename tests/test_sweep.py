"""Sweep aggregation (``simulator.experiments.sweep``) on job folders made here: typed columns
of swept keys only, numeric job order, per-job summaries, and jobs that are not complete named
and left out. The command-line sweeps (``-m``) are in ``tests/test_cli.py``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from simulator import load_config, simulate
from simulator.experiments.sweep import (
    JOB_FILE,
    SWEEP_MONTHLY,
    SWEEP_STATUS,
    SWEEP_SUMMARY,
    aggregate_sweep,
    job_status,
)
from simulator.metrics import METRICS

TINY = ["market.size=3000", "initial.customers=100", "months=3", "replications=2"]


@pytest.fixture(scope="module")
def one_job(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("job") / "0"
    simulate(load_config(TINY), progress=False).save(out, plots=False)
    return out


def _job(sweep: Path, name: str, source: Path, overrides: list[str], status: str) -> None:
    job = sweep / name
    shutil.copytree(source, job)
    (job / ".hydra").mkdir()
    OmegaConf.save(OmegaConf.create(overrides), job / ".hydra" / "overrides.yaml")
    doc = {"job": name, "overrides": overrides, "fingerprint": "x", "status": status}
    (job / JOB_FILE).write_text(json.dumps(doc))


def _multirun(sweep: Path, task: list[str]) -> None:
    OmegaConf.save(
        OmegaConf.create({"hydra": {"overrides": {"task": task}}}), sweep / "multirun.yaml"
    )


def test_twelve_jobs_typed_columns_numeric_order_and_only_complete_ones(
    one_job: Path, tmp_path: Path
) -> None:
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    _multirun(sweep, ["months=3", "health.decay=0.5,0.85,0.9", "renewal.term_months=6,12",
                      "output.csv=true,false", "scenario=baseline"])  # fmt: skip
    values = [(d, t, c) for d in (0.5, 0.85, 0.9) for t in (6, 12) for c in ("true", "false")]
    for i, (d, t, c) in enumerate(values):
        status = {7: "interrupted", 10: "failed", 11: "running"}.get(i, "complete")
        overrides = ["months=3", f"health.decay={d}", f"renewal.term_months={t}", f"output.csv={c}"]
        _job(sweep, str(i), one_job, [*overrides, "scenario=baseline"], status)
    report = aggregate_sweep(sweep)
    assert report.swept == ["health.decay", "renewal.term_months", "output.csv"]
    assert report.incomplete == {"7": "interrupted", "10": "failed", "11": "running"}
    monthly = pd.read_parquet(sweep / SWEEP_MONTHLY)
    # jobs in numeric order (10 after 9, not after 1), the incomplete ones left out
    assert list(dict.fromkeys(monthly["job"])) == [0, 1, 2, 3, 4, 5, 6, 8, 9]
    assert monthly["job"].dtype == "int64"
    assert monthly["health.decay"].dtype == "float64"
    assert monthly["renewal.term_months"].dtype == "int64"
    assert monthly["output.csv"].dtype == "bool"
    assert "months" not in monthly.columns[:5] and "scenario" in monthly.columns  # the table's own
    assert list(monthly.columns[:4]) == ["job", "health.decay", "renewal.term_months", "output.csv"]
    first = monthly[monthly["job"] == 9].iloc[0]
    assert (first["health.decay"], first["renewal.term_months"], first["output.csv"]) == (
        0.9,
        6,
        False,
    )
    summary = pd.read_csv(sweep / SWEEP_SUMMARY)
    assert len(summary) == 9 * 2
    jobs = pd.read_parquet(sweep / "sweep_jobs.parquet")
    assert len(jobs) == 9 * len(METRICS)
    arr = jobs[jobs["metric"] == "ending_arr"]
    assert (arr["p10"] <= arr["median"]).all() and (arr["median"] <= arr["p90"]).all()
    assert (arr["n_replications"] == 2).all()
    status = pd.read_csv(sweep / SWEEP_STATUS)
    assert list(status["job"]) == list(range(12))
    assert status.set_index("job").loc[7, "status"] == "interrupted"
    text = report.format()
    assert "12 jobs" in text and "9 complete" in text
    assert "job 7 interrupted, not aggregated: health.decay=0.85 renewal.term_months=12" in text
    assert "job 10 failed" in text and "job 11 running" in text


def test_status_without_a_job_record_reads_the_summary(one_job: Path, tmp_path: Path) -> None:
    job = tmp_path / "3"
    shutil.copytree(one_job, job)
    assert job_status(job) == "complete"
    doc = json.loads((job / "summary.json").read_text())
    (job / "summary.json").write_text(json.dumps(doc | {"interrupted": True, "replications": 1}))
    assert job_status(job) == "interrupted"
    (job / "monthly.parquet").unlink()
    assert job_status(job) == "no record"


def test_every_combination_of_a_sweep_is_checked_before_it_starts() -> None:
    from simulator.command_line import check_command_line

    small = ["market.size=20000", "initial.customers=600", "months=3"]
    shares = ["personas.solo.share=0.5,0.6", "personas.smb.share=0.32,0.22"]
    error = check_command_line(["-m", *small, *shares])
    assert error is not None
    assert [k for k, _ in error.problems] == ["personas.*.share", "personas.*.share"]
    assert {m.split(" (")[0] for _, m in error.problems} == {
        "shares must sum to 1, got 0.9",
        "shares must sum to 1, got 1.1",
    }
    # with a config group swept too: each scenario composed once, every combination checked
    error = check_command_line(["-m", *small, "scenario=baseline,support_cut", *shares])
    assert error is not None and len(error.problems) == 2
    assert (
        check_command_line(["-m", *small[:2], "scenario=baseline,support_cut", "months=3,4"])
        is None
    )
