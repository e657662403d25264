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
    assert f"task: {', '.join(sorted(TASKS))}" in proc.stdout  # the config group


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
    """A 2×2 sweep: exactly 4 job summaries, the swept keys as typed columns (numbers as
    numbers, booleans as booleans), constant overrides not columns; the parallel launcher gives
    the same table; task=aggregate rebuilds the same tables from the jobs on disk."""
    sweep_args = [
        "-m",
        "market.size=5000",
        "initial.customers=150",
        "months=3",
        "replications=2",
        "output.plots=false",
        "pricing.plans.pro.price=39,49",
        "mechanisms.support=true,false",
        "hydra.sweep.dir=sweep",
    ]
    proc = run_cli(*sweep_args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "sweep of 4 jobs in sweep/: 4 complete (aggregated)" in proc.stdout
    table = pd.read_parquet(tmp_path / "sweep" / "sweep_monthly.parquet")
    assert list(table.columns[:3]) == ["job", "pricing.plans.pro.price", "mechanisms.support"]
    assert "market.size" not in table.columns and "months" not in table.columns
    assert table["job"].dtype == "int64" and table["pricing.plans.pro.price"].dtype == "int64"
    assert table["mechanisms.support"].dtype == "bool"
    jobs = table.drop_duplicates("job")
    assert list(jobs["job"]) == [0, 1, 2, 3]
    assert list(zip(jobs["pricing.plans.pro.price"], jobs["mechanisms.support"], strict=True)) == [
        (39, True),
        (39, False),
        (49, True),
        (49, False),
    ]
    metrics = pd.read_csv(tmp_path / "sweep" / "sweep_summary.csv")
    assert len(metrics) == 4 * 2 and "ending_arr" in metrics.columns
    per_job = pd.read_parquet(tmp_path / "sweep" / "sweep_jobs.parquet")
    arr = per_job[per_job["metric"] == "ending_arr"]
    assert len(arr) == 4 and list(arr["job"]) == [0, 1, 2, 3]
    assert {"median", "p10", "p90"} <= set(arr.columns)
    assert (arr["n_replications"] == 2).all()
    # The same sweep with its jobs in two parallel processes (hydra/launcher=pool): the same table.
    pool = run_cli(*sweep_args[:-1], "hydra/launcher=pool", "hydra.launcher.workers=2",
                   "hydra.sweep.dir=pool", cwd=tmp_path)  # fmt: skip
    assert pool.returncode == 0, pool.stderr
    assert "Launching 4 jobs locally, 2 at a time" in pool.stdout
    parallel = pd.read_parquet(tmp_path / "pool" / "sweep_monthly.parquet")
    pd.testing.assert_frame_equal(parallel, table, check_exact=True)
    # And with Hydra's joblib launcher (loky worker processes): the same table.
    joblib = run_cli(*sweep_args[:-1], "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                     "hydra.sweep.dir=joblib", cwd=tmp_path)  # fmt: skip
    assert joblib.returncode == 0, joblib.stderr
    assert "sweep of 4 jobs in joblib/: 4 complete (aggregated)" in joblib.stdout
    by_joblib = pd.read_parquet(tmp_path / "joblib" / "sweep_monthly.parquet")
    pd.testing.assert_frame_equal(by_joblib, table, check_exact=True)
    # task=aggregate rebuilds the same tables from the jobs.
    (tmp_path / "sweep" / "sweep_monthly.parquet").unlink()
    proc = run_cli("task=aggregate", "dir=sweep", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    again = pd.read_parquet(tmp_path / "sweep" / "sweep_monthly.parquet")
    pd.testing.assert_frame_equal(again, table, check_exact=True)


def test_interrupted_run_keeps_finished_replications(tmp_path: Path) -> None:
    """Ctrl-C during a run: exit 130, one line on stderr, no traceback, and every replication
    finished before the interrupt is on disk and summarised, as partial outputs.

    The run pauses after its 2nd checkpoint (a test point) and says so on stderr; the Ctrl-C is
    sent then: the test waits on the process's state, not on timing. (It used to poll for two
    checkpoint files; it got exit 0 when started with SIGINT ignored, e.g. `make test &`:
    Python then never raises KeyboardInterrupt. The runner now installs its own handler, a
    flag it reads itself: tests/test_reliability.py::test_ctrl_c_is_honoured_when_the_parent_
    ignored_it.)
    """
    import simulator

    args = ["market.size=60000", "initial.customers=1000", "months=36", "replications=400"]
    root = str(Path(simulator.__file__).resolve().parents[1])
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator", *args, "hydra.run.dir=run"],
        cwd=tmp_path,
        env={
            **os.environ,
            "CI": "true",
            "PYTHONPATH": root,
            "JOURNEY_SIM_TEST_HOOK": "checkpoint-written:2:pause",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()  # blocks until the run has written 2 checkpoints and paused
    assert "paused at checkpoint-written 2" in line, line + proc.stderr.read()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert "Traceback" not in out + err
    assert "interrupted (Ctrl-C); 2 of 400 replications kept" in err
    reps = tmp_path / "run" / "replications"
    kept = sorted(reps.glob("rep-*.parquet"))
    assert len(kept) == 2
    doc = json.loads((tmp_path / "run" / "summary.partial.json").read_text())
    assert doc["interrupted"] is True and doc["replications"] == len(kept)
    monthly = pd.read_parquet(tmp_path / "run" / "monthly.partial.parquet")
    assert monthly["replication"].nunique() == len(kept)
    assert not (tmp_path / "run" / "monthly.parquet").exists()
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


# ------------------------------------------------------------------------------ optimise
TINY_OPT = ["market.size=8000", "initial.customers=300", "months=3", "replications=3"]


def test_optimize_prints_the_optimum_and_writes_the_study(tmp_path: Path) -> None:
    proc = run_cli(
        "task=optimize",
        *TINY_OPT,
        "optimize.trials=4",
        "optimize.batch=2",
        "optimize.top=1",
        "+optimize.space.discount={key: pricing.annual_discount, low: 0.1, high: 0.3}",
        "hydra.run.dir=opt",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "optimisation of ending_arr (maximised): 4 trials x 3 replications" in proc.stdout
    assert "searched: discount = pricing.annual_discount in [0.1, 0.3]" in proc.stdout
    assert "best trial" in proc.stdout and "trials/s" in proc.stdout
    assert "fresh re-evaluation: seed 43, 3 replications" in proc.stdout
    out = tmp_path / "opt"
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 4 and {"pro_price", "discount"} <= set(trials.columns)
    doc = json.loads((out / "optimum.json").read_text())
    assert doc["objective"] == "ending_arr" and doc["best"]["trial"] in set(trials["trial"])
    assert doc["settings"]["seed"] == 42 and doc["settings"]["fresh_seed"] == 43
    assert (out / "plots" / "history.png").stat().st_size > 1000
    assert (out / "plots" / "slices.png").stat().st_size > 1000


def test_optimize_bad_settings_are_one_clear_error_each(tmp_path: Path) -> None:
    proc = run_cli(
        "task=optimize",
        *TINY_OPT,
        "optimize.objective=profit",
        "optimize.space.pro_price.low=200",
        "hydra.run.dir=opt",
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "optimize.objective: must be one of ending_arr" in proc.stderr
    assert "'profit'" in proc.stderr
    assert "optimize.space.pro_price: low (200) must be below high (149)" in proc.stderr
    proc = run_cli(
        "task=optimize",
        *TINY_OPT,
        "optimize.space.pro_price.key=pricing.plans.pro.prize",
        "hydra.run.dir=opt",
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "optimize.space.pro_price.key: pricing.plans.pro.prize: unknown key" in proc.stderr
    assert not (tmp_path / "opt" / "trials.csv").exists()


# --------------------------------------------------------------------------- calibrate

CALIBRATION = Path(__file__).resolve().parents[1] / "experiments" / "calibration"


def test_calibrate_prints_fits_backtest_and_writes_a_scenario_that_runs(tmp_path: Path) -> None:
    data = CALIBRATION / "retention_example.csv"
    funnel = CALIBRATION / "funnel_example.csv"
    proc = run_cli(
        "task=calibrate", f"data={data}", f"funnel={funnel}", "holdout=12", "match=base",
        "hydra.run.dir=cal", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "shifted-beta-geometric by maximum likelihood" in out
    for persona in ("solo", "smb", "midmarket", "enterprise"):
        assert f"personas.{persona}.churn: {{mean: " in out
    assert "backtest: fit on periods 0-12" in out and "MAPE" in out
    assert "lead_to_trial" in out
    cal = tmp_path / "cal"
    fit = pd.read_csv(cal / "fit.csv")
    assert fit["persona"].tolist() == ["solo", "smb", "midmarket", "enterprise"]
    assert (fit["alpha_lo"] < fit["alpha"]).all() and (fit["backtest_mape"] > 0).all()
    assert json.loads((cal / "fit.json").read_text())["match"] == "base"
    assert (cal / "plots" / "calibration.png").stat().st_size > 1000
    # The override is a scenario the simulator runs.
    proc = run_cli(
        "--config-dir", str(cal), "scenario=calibrated", "market.size=20000",
        "initial.customers=600", "months=3", "replications=1", "hydra.run.dir=run", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "scenario calibrated" in proc.stdout


def test_calibrate_refuses_a_bad_csv_before_fitting(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("persona,cohort,period,active\nsolo,a,0,100\nsolo,a,1,120\n")
    proc = run_cli("task=calibrate", f"data={bad}", "hydra.run.dir=cal", cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "bad.csv, row 2 (line 3), column active: got 120" in proc.stderr
    assert not (tmp_path / "cal" / "fit.csv").exists()
    proc = run_cli("task=calibrate", cwd=tmp_path)
    assert proc.returncode == 2 and "task=calibrate needs data" in proc.stderr


# ---------------------------------------------------------------------------- dashboard
def test_dashboard_bad_settings_are_one_clear_error(tmp_path: Path) -> None:
    proc = run_cli("task=dashboard", "dashboard.port=70000", "months=0", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "dashboard.port: must be in [0, 65,535], got 70000" in proc.stderr
    assert "months: must be in [1, 1200], got 0" in proc.stderr
    proc = run_cli("+dashboard={host: 127.0.0.1, port: 1}", *SMALL, cwd=tmp_path)
    assert proc.returncode == 2 and "only task=dashboard reads dashboard" in proc.stderr


# ---------------------------------------------------------------- research: sweeps, sensitivity
SWEEP_SMALL = ["market.size=5000", "initial.customers=150", "months=12", "output.plots=false"]


def test_interrupted_sweep_aggregates_complete_jobs_and_resumes_without_rerunning_them(
    tmp_path: Path,
) -> None:
    """Ctrl-C during job 1 of a sweep: exit 130, job 0 aggregated, job 1 named as interrupted;
    the same command again skips job 0 (its files untouched), finishes job 1 from its kept
    replications and runs job 2."""
    args = ["-m", *SWEEP_SMALL, "replications=2,120,3", "hydra.sweep.dir=sweep"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator", *args],
        cwd=tmp_path,
        env={**os.environ, "CI": "true"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    reps = tmp_path / "sweep" / "1" / "replications"
    deadline = time.monotonic() + 300
    while len(list(reps.glob("rep-*.parquet"))) < 2 and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert "Traceback" not in out + err
    assert "sweep interrupted" in err and "2 jobs in sweep/: 1 complete (aggregated)" in err
    assert "job 1 interrupted, not aggregated: replications=120" in err
    assert "hydra.sweep.dir=sweep" in err
    table = pd.read_parquet(tmp_path / "sweep" / "sweep_monthly.parquet")
    assert set(table["job"]) == {0} and table["replications"].dtype == "int64"
    kept = len(list(reps.glob("rep-*.parquet")))
    assert 2 <= kept < 120
    job0 = tmp_path / "sweep" / "0" / "monthly.parquet"
    stamp = job0.stat().st_mtime_ns

    again = run_cli(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "job 0 already complete" in again.stdout and "skipped" in again.stdout
    assert "job 1 already complete" not in again.stdout
    assert job0.stat().st_mtime_ns == stamp
    assert "sweep of 3 jobs in sweep/: 3 complete (aggregated)" in again.stdout
    table = pd.read_parquet(tmp_path / "sweep" / "sweep_monthly.parquet")
    assert table.groupby("job")["replication"].nunique().to_dict() == {0: 2, 1: 120, 2: 3}


def test_a_bad_job_of_a_sweep_stops_it_before_the_first_job(tmp_path: Path) -> None:
    """Each value is valid alone; two combinations make shares that do not sum to 1: both
    named, and no job runs."""
    proc = run_cli(
        "-m",
        *SWEEP_SMALL,
        "personas.solo.share=0.5,0.6",
        "personas.smb.share=0.32,0.22",
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    problems = [line for line in proc.stderr.splitlines() if line.startswith("  ")]
    assert len(problems) == 2 and all("shares must sum to 1" in p for p in problems)
    assert not (tmp_path / "sweep").exists()


SENS_SMALL = ["market.size=5000", "initial.customers=150", "months=3", "replications=1"]


def test_sensitivity_task_prints_and_writes_the_indices(tmp_path: Path) -> None:
    overrides = [
        "task=sensitivity",
        *SENS_SMALL,
        "sensitivity.n=32",
        "sensitivity.metrics=[ending_arr]",
        "~sensitivity.parameters.support_agents",
        "~sensitivity.parameters.referral_reward",
        "hydra.run.dir=sens",
    ]
    proc = run_cli(*overrides, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "sobol sensitivity · N=32 · 2 parameters · 128 evaluations" in proc.stdout
    assert "pro_price" in proc.stdout and "self_serve_quality" in proc.stdout
    out = tmp_path / "sens"
    table = pd.read_parquet(out / "sensitivity.parquet")
    assert set(table["index"]) == {"S1", "ST"} and set(table["metric"]) == {"ending_arr"}
    assert len(pd.read_parquet(out / "samples.parquet")) == 128
    doc = json.loads((out / "sensitivity.json").read_text())
    assert doc["settings"]["n"] == 32 and doc["seed"] == 42 and "git_revision" in doc
    assert (out / "plots" / "sensitivity.png").stat().st_size > 1000
    assert len(list((out / "points").glob("point-*.parquet"))) == 128
    # a rerun into the same directory loads every evaluation and prints the same table
    again = run_cli(*overrides, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    pd.testing.assert_frame_equal(pd.read_parquet(out / "sensitivity.parquet"), table)


def test_sensitivity_with_a_bad_parameter_stops_before_any_evaluation(tmp_path: Path) -> None:
    proc = run_cli(
        "task=sensitivity",
        *SENS_SMALL,
        "sensitivity.parameters.pro_price.key=pricing.plans.pro.prize",
        "sensitivity.parameters.support_agents.low=-3",
        "hydra.run.dir=sens",
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "sensitivity.parameters.pro_price.key: pricing.plans.pro.prize: unknown key" in (
        proc.stderr
    )
    assert "sensitivity.parameters.support_agents.low: must be in [0, 1,000,000], got -3" in (
        proc.stderr
    )
    assert not (tmp_path / "sens" / "points").exists()


# ------------------------------------------------------------------- the book and cohorts
def test_run_from_a_book_then_its_cohorts(tmp_path: Path) -> None:
    book = tmp_path / "book.csv"
    book.write_text(
        "persona,plan,billing,seats,signup_month,next_renewal\n"
        "solo,starter,monthly,1,-3,\n"
        "smb,pro,annual,5,-14,10\n"
        "midmarket,pro,monthly,20,0,\n"
    )
    proc = run_cli(
        f"initial.book={book}",
        "market.size=20000",
        "months=4",
        "replications=2",
        "hydra.run.dir=run",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "book book.csv: 3 customers at month 0" in proc.stdout
    assert "cohorts.parquet" in proc.stdout and "plots/cohort_retention.png" in proc.stdout
    cohorts = pd.read_parquet(tmp_path / "run" / "cohorts.parquet")
    start = cohorts[(cohorts["month"] == 0) & (cohorts["replication"] == 0)]
    assert sorted(start["cohort_month"]) == [-14, -3, 0]
    proc = run_cli("task=cohorts", "dir=run", "hydra.run.dir=coh", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "the book from month 0, logo" in proc.stdout
    assert "new customers, logo" in proc.stdout
    for name in ("cohort_retention.csv", "cohort_logo.csv", "cohort_revenue.csv"):
        assert (tmp_path / "coh" / name).stat().st_size > 0
    assert (tmp_path / "coh" / "plots" / "cohort_retention.png").stat().st_size > 1000
    proc = run_cli("task=cohorts", "dir=nowhere", cwd=tmp_path)
    assert proc.returncode == 2
    assert "cohorts: no cohorts.parquet in nowhere/" in proc.stderr


# ------------------------------------------------------------------------- finance report
def test_report_task_runs_and_writes_a_self_contained_report(tmp_path: Path) -> None:
    proc = run_cli(*SMALL, "task=report", "hydra.run.dir=rep", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "new MRR (horizon)" in proc.stdout and "LTV " in proc.stdout
    assert "report: rep/report.html  rep/report.md" in proc.stdout
    assert "skipped" not in proc.stdout  # every section, the cohort heatmaps too
    page = (tmp_path / "rep" / "report.html").read_text()
    assert "https://" not in page and "http://" not in page and "data:image/png;base64," in page
    assert (tmp_path / "rep" / "monthly.parquet").exists()
    # a saved run reported again, from its directory
    again = run_cli("task=report", f"dir={tmp_path / 'rep'}", "hydra.run.dir=again", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "again" / "report.html").exists()
    missing = run_cli("task=report", "dir=nowhere", "hydra.run.dir=x", cwd=tmp_path)
    assert missing.returncode == 2 and "report: nowhere is not a directory" in missing.stderr
    assert "Traceback" not in missing.stderr


# ---------------------------------------------------------------------------- journey map
def test_map_prints_the_journey_map_and_writes_it(tmp_path: Path) -> None:
    proc = run_cli("task=map", *SMALL, "hydra.run.dir=run", "journey_log.share=0.05", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "journey map" in out
    for persona in ("total", "solo", "smb", "midmarket", "enterprise"):
        assert f"\n{persona}\n" in out
    assert "table: run/journey_map.csv  diagram: run/plots/journey_map.png" in out
    run = tmp_path / "run"
    table = pd.read_csv(run / "journey_map.csv")
    assert len(table) == 5 * 8
    flows = pd.read_parquet(run / "flows.parquet")
    monthly = pd.read_parquet(run / "monthly.parquet")
    assert list(monthly.columns) == list(MONTHLY_COLUMNS)
    assert set(flows["replication"]) == {0, 1}
    log = pd.read_parquet(run / "journey_log.parquet")
    assert {"case:concept:name", "concept:name", "time:timestamp"} <= set(log.columns)
    assert (run / "plots" / "journey_map.png").stat().st_size > 1000
    # The printed map is the saved table: the total's consideration row.
    row = table[(table["persona"] == "total") & (table["stage"] == "consideration")].iloc[0]
    assert f"{row['entries']:,.0f}" in out.split("\ntotal\n")[1].split("\n\n")[0]


def test_map_with_a_bad_share_is_one_clear_error(tmp_path: Path) -> None:
    proc = run_cli("task=map", *SMALL, "journey_log.share=2", cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "journey_log.share" in proc.stderr and "2" in proc.stderr
    assert not (tmp_path / "outputs").exists()


# ---------------------------------------------------------------------------- touchpoints / audit
def test_audit_prints_the_ranking_and_writes_its_tables(tmp_path: Path) -> None:
    proc = run_cli(
        "task=audit",
        *SMALL,
        "audit.touchpoints=[qbrs,demo_on_request]",
        "audit.programmes=[]",
        "hydra.run.dir=aud",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "value of each touchpoint" in proc.stdout
    assert "areas to optimise" in proc.stdout
    out = tmp_path / "aud"
    ranking = pd.read_csv(out / "ranking.csv")
    assert set(ranking["touchpoint"]) == {"qbrs", "demo_on_request"}
    assert list(ranking["rank"]) == [1, 2]
    assert ranking["net_value_median"].is_monotonic_decreasing
    table = pd.read_parquet(out / "audit.parquet")
    assert set(table["analysis"]) == {"ablation", "marginal"}
    assert set(table["persona"]) == {"solo", "smb", "midmarket", "enterprise", "total"}
    assert (pd.read_csv(out / "dropoffs.csv")["drop_off"].between(0, 1)).all()
    assert (out / "plots" / "audit.png").stat().st_size > 1000


def test_audit_of_an_unknown_touchpoint_stops_before_any_run(tmp_path: Path) -> None:
    proc = run_cli(
        "task=audit", *SMALL, "audit.touchpoints=[qbr]", "hydra.run.dir=aud", cwd=tmp_path
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "audit.touchpoints: unknown touchpoint 'qbr'; touchpoints are content_webinars" in (
        proc.stderr
    )
    assert not (tmp_path / "aud" / "ranking.csv").exists()


def test_run_writes_touchpoint_activity(tmp_path: Path) -> None:
    proc = run_cli(*SMALL, "hydra.run.dir=run", "output.plots=false", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    t = pd.read_parquet(tmp_path / "run" / "touchpoints.parquet")
    assert t["touchpoint"].nunique() == 20
    assert len(t) == 2 * 6 * 4 * 20
    assert (t["cost"] >= 0).all() and (t["accounts_reached"] >= 0).all()


# ---------------------------------------------------------------------------- audit: programmes
def test_audit_ranks_the_built_in_programmes_with_the_touchpoints(tmp_path: Path) -> None:
    proc = run_cli(
        "task=audit",
        "months=4",
        "replications=2",
        "audit.touchpoints=[qbrs]",
        "audit.programmes=[customer_success,channel:paid_ads]",
        "output.plots=false",
        "hydra.run.dir=aud",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "value of each touchpoint and programme" in proc.stdout
    ranking = pd.read_csv(tmp_path / "aud" / "ranking.csv")
    kinds = dict(zip(ranking["touchpoint"], ranking["kind"], strict=True))
    assert kinds == {
        "qbrs": "touchpoint",
        "customer_success": "programme",
        "channel:paid_ads": "programme",
    }
    marginal = pd.read_csv(tmp_path / "aud" / "marginal.csv").set_index("touchpoint")
    assert marginal.loc["channel:paid_ads", "cost_median"] > 0  # +10% of the channel's spend


def test_audit_of_an_unknown_programme_stops_before_any_run(tmp_path: Path) -> None:
    proc = run_cli(
        "task=audit", *SMALL, "audit.programmes=[crm]", "hydra.run.dir=aud", cwd=tmp_path
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "audit.programmes: unknown programme 'crm'; programmes are channel:content" in (
        proc.stderr
    )
    assert not (tmp_path / "aud" / "ranking.csv").exists()
