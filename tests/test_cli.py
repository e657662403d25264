"""End to end: the journey-sim command as a new user runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from conftest import run_cli

from simulator.experiments.tasks import TASKS
from simulator.results import MONTHLY_COLUMNS

SMALL = ["market.size=20000", "initial.customers=600", "months=6", "replications=2"]


def test_run_prints_summary_and_writes_outputs(tmp_path: Path) -> None:
    proc = run_cli(*SMALL, "hydra.run.dir=run", "output.csv=true", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for label in ("ending ARR", "paying customers", "monthly logo churn", "NRR", "LTV:CAC"):
        assert label in out
    assert "outputs: run/" in out
    assert "Step 1 at time" not in out + proc.stderr  # Mesa's per-step logging is silenced
    run = tmp_path / "run"
    monthly = pd.read_parquet(run / "monthly.parquet")
    assert list(monthly.columns) == list(MONTHLY_COLUMNS)
    assert len(monthly) == 2 * 6 * 4
    assert (run / "monthly.csv").exists()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["seed"] == 42
    assert summary["replications"] == 2
    assert summary["config"]["market"]["size"] == 20000
    assert "mesa" in summary["versions"] and "numpy" in summary["versions"]
    assert "git_revision" in summary
    for name in ("customers_by_stage", "mrr_bridge", "churn", "mrr_fan"):
        assert (run / "plots" / f"{name}.png").stat().st_size > 1000
    # Each replication was checkpointed as it finished.
    assert len(list((run / "replications").glob("rep-*.parquet"))) == 2


def test_help_lists_groups_and_examples(tmp_path: Path) -> None:
    proc = run_cli("--help", cwd=tmp_path)
    assert proc.returncode == 0
    assert "journey-sim" in proc.stdout
    assert "scenario" in proc.stdout and "price_increase" in proc.stdout
    assert "-m" in proc.stdout


def test_help_lists_every_task(tmp_path: Path) -> None:
    proc = run_cli("--help", cwd=tmp_path)
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    for task in TASKS.values():
        assert any(line.split() == [task.name, *task.help.split()] for line in lines), task.name
    assert "task: aggregate, compare, replay, run, sensitivity" in proc.stdout  # the config group


def test_unknown_task_is_one_clear_error(tmp_path: Path) -> None:
    proc = run_cli("task=nope", cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    problems = [line for line in proc.stderr.splitlines() if line.startswith("  ")]
    assert len(problems) == 1
    assert problems[0].strip().startswith("task:") and "nope" in problems[0]
    assert all(name in problems[0] for name in TASKS)
    assert not (tmp_path / "outputs").exists()


def test_replay_reproduces_a_saved_run_and_detects_a_changed_table(tmp_path: Path) -> None:
    proc = run_cli(*SMALL, "hydra.run.dir=run", "output.plots=false", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("task=replay", "dir=run", "executor=local", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "replay: identical to run/monthly.parquet (48 rows)" in proc.stdout
    table = tmp_path / "run" / "monthly.parquet"
    monthly = pd.read_parquet(table)
    monthly.loc[17, "new_mrr"] += 1.0
    monthly.to_parquet(table, index=False)
    proc = run_cli("task=replay", "dir=run", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "replay: differs from run/monthly.parquet: column new_mrr, row 17" in proc.stdout
    proc = run_cli("task=replay", "dir=nowhere", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "nowhere/summary.json not found" in proc.stderr


def test_rerun_into_a_run_directory_resumes(tmp_path: Path) -> None:
    first = run_cli(*SMALL, "hydra.run.dir=run", "output.plots=false", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    want = pd.read_parquet(tmp_path / "run" / "monthly.parquet")
    more = [*SMALL[:-1], "replications=3"]
    again = run_cli(*more, "hydra.run.dir=run", "output.plots=false", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    got = pd.read_parquet(tmp_path / "run" / "monthly.parquet")
    pd.testing.assert_frame_equal(got[got["replication"] < 2], want, check_exact=True)
    assert got["replication"].nunique() == 3
    other = run_cli(*SMALL[:2], "months=5", "replications=2", "hydra.run.dir=run", cwd=tmp_path)
    assert other.returncode == 2 and "Traceback" not in other.stderr
    assert "different configuration" in other.stderr


def test_multirun_leaves_one_aggregated_table(tmp_path: Path) -> None:
    proc = run_cli(
        "-m",
        "market.size=5000",
        "initial.customers=150",
        "months=3",
        "replications=1",
        "output.plots=false",
        "pricing.plans.pro.price=39,49",
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    table = pd.read_parquet(tmp_path / "sweep" / "sweep_monthly.parquet")
    assert set(table["pricing.plans.pro.price"]) == {"39", "49"}
    assert table["job"].nunique() == 2
    metrics = pd.read_csv(tmp_path / "sweep" / "sweep_summary.csv")
    assert len(metrics) == 2 and "ending_arr" in metrics.columns
    # task=aggregate rebuilds the same tables from the jobs.
    (tmp_path / "sweep" / "sweep_monthly.parquet").unlink()
    proc = run_cli("task=aggregate", "dir=sweep", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    again = pd.read_parquet(tmp_path / "sweep" / "sweep_monthly.parquet")
    pd.testing.assert_frame_equal(again, table, check_exact=True)


def test_interrupted_run_keeps_finished_replications(tmp_path: Path) -> None:
    """Ctrl-C during a run: exit 130, one line on stderr, no traceback, and every replication
    finished before the interrupt is on disk and summarised."""
    args = ["market.size=60000", "initial.customers=1000", "months=36", "replications=400"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator", *args, "hydra.run.dir=run"],
        cwd=tmp_path,
        env={**os.environ, "CI": "true"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    reps = tmp_path / "run" / "replications"
    deadline = time.monotonic() + 300
    while len(list(reps.glob("rep-*.parquet"))) < 2 and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert "Traceback" not in out + err
    assert "interrupted;" in err and "of 400 replications kept" in err
    kept = sorted(reps.glob("rep-*.parquet"))
    assert 2 <= len(kept) < 400
    doc = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert doc["interrupted"] is True and doc["replications"] == len(kept)
    monthly = pd.read_parquet(tmp_path / "run" / "monthly.parquet")
    assert monthly["replication"].nunique() == len(kept)
    assert not list((tmp_path / "run").rglob("*.tmp"))


def test_event_after_the_horizon_is_noted(tmp_path: Path) -> None:
    proc = run_cli(*SMALL, "scenario=price_increase", "hydra.run.dir=run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "events.pro_price_rise is in month 7, after the horizon (6 months)" in proc.stderr


def test_compare_prints_paired_differences_and_writes_them(tmp_path: Path) -> None:
    proc = run_cli(
        "task=compare",
        "scenarios=[baseline,price_increase]",
        *SMALL,
        "hydra.run.dir=cmp",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "paired differences vs baseline (total, 2 replications)" in proc.stdout
    assert "price_increase" in proc.stdout and "ending_arr" in proc.stdout
    out = tmp_path / "cmp"
    table = pd.read_parquet(out / "comparison.parquet")
    assert set(table["variant"]) == {"price_increase"}
    assert "total" in set(table["persona"])
    assert (out / "paired.parquet").is_file() and (out / "comparison.csv").is_file()
    assert (out / "plots" / "comparison.png").stat().st_size > 1000


def test_compare_with_an_unknown_scenario_is_one_clear_error(tmp_path: Path) -> None:
    proc = run_cli(
        "task=compare", "scenarios=[baseline,nope]", *SMALL, "hydra.run.dir=cmp", cwd=tmp_path
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "nope" in proc.stderr
    assert not (tmp_path / "cmp" / "comparison.csv").exists()


def test_compare_needs_two_scenarios(tmp_path: Path) -> None:
    proc = run_cli("task=compare", "scenarios=[baseline]", *SMALL, cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "two or more" in proc.stderr
