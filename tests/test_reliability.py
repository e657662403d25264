"""Trustworthy under interruption and crashes: Ctrl-C and SIGTERM at controlled points (inside a
checkpoint write, while saving), SIGKILL and resume, killed and failing workers, stale and
partial outputs. Every interrupt lands where a test point (``JOURNEY_SIM_TEST_HOOK``,
``simulator.experiments.jobs.test_point``) puts it: the tests wait on the process's state (its
exit, a line it prints), never on timing. Each stopped run is run again with the same command
and must end with the table of an undisturbed run."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import simulator
from simulator.experiments.executors import LocalExecutor, SerialExecutor
from simulator.experiments.jobs import CheckpointMismatch, CheckpointStore, Interrupted, run_jobs
from simulator.experiments.montecarlo import is_partial
from simulator.experiments.replay import replay_run
from simulator.experiments.sweep import SWEEP_MONTHLY, aggregate_sweep

#: A run small enough to start many times: 4 replications of 4 months.
RUN = ["market.size=8000", "initial.customers=300", "months=4", "replications=4"]


def journey_sim(
    *args: str, cwd: Path, hook: str | None = None, popen: bool = False, **kwargs: Any
) -> subprocess.CompletedProcess[str] | subprocess.Popen[str]:
    """``journey-sim`` as a user runs it, with test points ``hook`` (markers in ``cwd``)."""
    # The child imports the package this test imported (PYTHONPATH=. is relative to cwd).
    root = str(Path(simulator.__file__).resolve().parents[1])
    path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "CI": "true", "PYTHONPATH": path}
    env.pop("JOURNEY_SIM_TEST_HOOK", None)
    if hook:
        env |= {"JOURNEY_SIM_TEST_HOOK": hook, "JOURNEY_SIM_TEST_HOOK_DIR": str(cwd)}
    cmd = [sys.executable, "-m", "simulator", *args]
    if popen:
        return subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            **kwargs,
        )
    return subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, **kwargs
    )


@cache
def undisturbed(*extra: str) -> pd.DataFrame:
    """The table of a run nobody touched (computed once per set of overrides)."""
    from simulator import load_config, simulate

    return simulate(load_config([*RUN, *extra]), progress=False).monthly


def reps_on_disk(run: Path) -> list[str]:
    return sorted(p.name for p in (run / "replications").glob("rep-*.parquet"))


def assert_resumes_to_the_undisturbed_table(tmp_path: Path, *extra: str) -> None:
    """The same command again: exit 0, the undisturbed table, no partial or temporary file."""
    again = journey_sim(*RUN, *extra, "hydra.run.dir=run", "output.plots=false", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    run = tmp_path / "run"
    got = pd.read_parquet(run / "monthly.parquet")
    # the table of an undisturbed run in this process, serially: every executor gives it
    same = [e for e in extra if not e.startswith("executor")]
    pd.testing.assert_frame_equal(got, undisturbed(*same), check_exact=True)
    assert not is_partial(run)
    assert not list(run.rglob("*.tmp")) and not list(run.glob("*.partial*"))


@pytest.mark.parametrize(
    ("executor", "hook", "code", "kept"),
    [
        # Ctrl-C arrives while the 2nd checkpoint is half written (.tmp, before its rename).
        ([], "checkpoint-write:2:sigint", 130, 2),
        (["executor=local"], "checkpoint-write:2:sigint", 130, 2),
        # SIGTERM (a scheduler, `kill`) right after the first checkpoint.
        ([], "checkpoint-written:1:sigterm", 143, 1),
        pytest.param(
            ["executor=local"], "checkpoint-written:1:sigterm", 143, 1, marks=pytest.mark.slow
        ),
        pytest.param(
            ["executor=dask", "executor.workers=2"],
            "checkpoint-write:2:sigint",
            130,
            2,
            marks=pytest.mark.slow,
        ),
        pytest.param(
            ["executor=dask", "executor.workers=2"],
            "checkpoint-written:1:sigterm",
            143,
            1,
            marks=pytest.mark.slow,
        ),
    ],
    ids=[
        "sigint-in-write-serial",
        "sigint-in-write-local",
        "sigterm-serial",
        "sigterm-local",
        "sigint-in-write-dask",
        "sigterm-dask",
    ],
)
def test_a_signal_keeps_whole_checkpoints_and_a_rerun_resumes(
    tmp_path: Path, executor: list[str], hook: str, code: int, kept: int
) -> None:
    proc = journey_sim(*RUN, *executor, "hydra.run.dir=run", cwd=tmp_path, hook=hook)
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr  # one line says what was kept
    name = "Ctrl-C" if code == 130 else "SIGTERM"
    assert f"interrupted ({name}); {kept} of 4 replications kept" in lines[0]
    run = tmp_path / "run"
    # The checkpoint being written when the signal came was finished, not lost.
    assert reps_on_disk(run) == [f"rep-{i:04d}.parquet" for i in range(kept)] or (
        executor and len(reps_on_disk(run)) == kept
    )
    assert not list(run.rglob("*.tmp"))
    # Partial results carry partial names; nothing looks like a complete run.
    assert not (run / "monthly.parquet").exists() and not (run / "summary.json").exists()
    partial = pd.read_parquet(run / "monthly.partial.parquet")
    assert partial["replication"].nunique() == kept
    doc = json.loads((run / "summary.partial.json").read_text())
    assert doc["partial"] is True and doc["interrupted"] is True and doc["replications"] == kept
    assert sorted(p.name for p in (run / "plots.partial").glob("*.png"))
    assert is_partial(run)
    assert_resumes_to_the_undisturbed_table(tmp_path, *executor)


def test_ctrl_c_is_honoured_when_the_parent_ignored_it(tmp_path: Path) -> None:
    """The cause of the old flaky CLI test: a process started with SIGINT ignored (a shell's
    background job `make test &`, nohup scripts, some CI runners) inherits SIG_IGN, so Python
    never turns Ctrl-C into KeyboardInterrupt: the Ctrl-C was swallowed and the run went on to
    the end (exit 0). The job runner now installs its own handler: exit 130, work kept."""
    proc = journey_sim(
        *RUN,
        "hydra.run.dir=run",
        "output.plots=false",
        cwd=tmp_path,
        hook="checkpoint-written:1:sigint",
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    assert proc.returncode == 130, proc.stderr
    assert "interrupted (Ctrl-C); 1 of 4 replications kept" in proc.stderr


def test_sigkill_inside_a_checkpoint_write_then_resume(tmp_path: Path) -> None:
    """SIGKILL cannot be caught: the half-written checkpoint stays a .tmp, never a rep file;
    the rerun removes it, loads the whole ones and computes the rest."""
    proc = journey_sim(*RUN, "hydra.run.dir=run", cwd=tmp_path, hook="checkpoint-write:3:sigkill")
    assert proc.returncode == -signal.SIGKILL
    run = tmp_path / "run"
    assert reps_on_disk(run) == ["rep-0000.parquet", "rep-0001.parquet"]
    assert [p.name for p in (run / "replications").glob("*.tmp")] == ["rep-0002.parquet.tmp"]
    assert_resumes_to_the_undisturbed_table(tmp_path)


def group_members(pgid: int) -> list[str]:
    """The live processes of process group ``pgid`` (zombies are dead), as "pid command"."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # gone while we looked
            continue
        fields = text.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            cmd = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:100]
            found.append(f"{stat.parent.name} {cmd}")
    return found


def wait_until_group_gone(pgid: int, seconds: float = 60.0) -> list[str]:
    """Poll the group's processes until none is left (or ``seconds`` passed: what is left)."""
    deadline = time.monotonic() + seconds
    while (left := group_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process groups read in /proc")
@pytest.mark.parametrize(
    "executor",
    [
        ["executor=local"],
        pytest.param(["executor=dask", "executor.workers=2"], marks=pytest.mark.slow),
    ],
    ids=["local", "dask"],
)
def test_sigkill_leaves_no_process_behind_and_a_rerun_resumes(
    tmp_path: Path, executor: list[str]
) -> None:
    """SIGKILL of the main process after its first checkpoint: the fork server, the pool's
    workers and the resource tracker (Dask: the worker processes) must not outlive it, holding
    the pipes of whoever started the run (a caller reading its output would wait for ever:
    ``subprocess.run`` here would time out). The same command then resumes."""
    proc = journey_sim(
        *RUN,
        *executor,
        "hydra.run.dir=run",
        "output.plots=false",
        cwd=tmp_path,
        hook="checkpoint-written:1:sigkill",
        start_new_session=True,  # its own process group: every process it starts is in it
        popen=True,
    )
    try:
        _, err = proc.communicate(timeout=300)  # end of file: nobody holds the pipes
        assert proc.returncode == -signal.SIGKILL, err
        left = wait_until_group_gone(proc.pid)
        assert not left, f"processes outlived the SIGKILLed run: {left}"
    finally:
        for line in group_members(proc.pid):  # never leave them to the next test
            os.kill(int(line.split()[0]), signal.SIGKILL)
    assert len(reps_on_disk(tmp_path / "run")) >= 1
    assert_resumes_to_the_undisturbed_table(tmp_path, *executor)


@pytest.mark.parametrize(
    "executor",
    [
        ["executor=local"],
        pytest.param(["executor=dask", "executor.workers=2"], marks=pytest.mark.slow),
    ],
)
def test_a_killed_worker_is_replaced_and_its_replication_rerun(
    tmp_path: Path, executor: list[str]
) -> None:
    """The worker running replication 1 dies (SIGKILL) once: the pool is rebuilt (Dask: the
    nanny restarts the worker and the scheduler reruns the task), the replication runs again,
    the table is the undisturbed one."""
    proc = journey_sim(
        *RUN,
        *executor,
        "hydra.run.dir=run",
        "output.plots=false",
        cwd=tmp_path,
        hook="replication:1:sigkill:once",
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / ".hook-replication-1-sigkill").exists()  # the worker did die
    got = pd.read_parquet(tmp_path / "run" / "monthly.parquet")
    pd.testing.assert_frame_equal(got, undisturbed(), check_exact=True)
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "executor",
    [
        "executor=serial",
        "executor=local",
        pytest.param("executor=dask", marks=pytest.mark.slow),
    ],
)
def test_a_replication_that_always_fails_is_named_with_its_seed(
    tmp_path: Path, executor: str
) -> None:
    workers = ["executor.workers=2"] if executor == "executor=dask" else []
    proc = journey_sim(
        *RUN,
        executor,
        *workers,
        "hydra.run.dir=run",
        "output.plots=false",
        cwd=tmp_path,
        hook="replication:2:fail",
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "BrokenProcessPool" not in proc.stderr
    attempts = "once" if executor == "executor=serial" else "3 times"
    assert (
        f"replication 2 (seed 42): failed {attempts} (RuntimeError: test point replication 2: "
        "fail)" in proc.stderr
    )
    assert "1 replication(s) failed; 3 of 4 replications kept" in proc.stderr
    partial = pd.read_parquet(tmp_path / "run" / "monthly.partial.parquet")
    assert sorted(partial["replication"].unique()) == [0, 1, 3]
    # Fixed (no test point): the rerun computes replication 2 alone and completes.
    assert_resumes_to_the_undisturbed_table(tmp_path, executor, *workers)


@pytest.mark.parametrize(
    ("executor", "error"),
    [
        (["executor=local"], "failed 3 times (RuntimeError: its worker process died"),
        # Dask's scheduler gave it to 1 + allowed-failures (3) workers, and each died; then
        # it ran alone (the replication queued behind it may have been ended too) on 4 more
        pytest.param(
            ["executor=dask", "executor.workers=2"],
            "failed 8 times (KilledWorker: Attempted to run task",
            marks=pytest.mark.slow,
        ),
    ],
    ids=["local", "dask"],
)
def test_a_worker_that_always_dies_is_reported_and_the_others_finish(
    tmp_path: Path, executor: list[str], error: str
) -> None:
    proc = journey_sim(
        *RUN,
        *executor,
        "hydra.run.dir=run",
        "output.plots=false",
        cwd=tmp_path,
        hook="replication:3:sigkill",
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert f"replication 3 (seed 42): {error}" in proc.stderr, proc.stderr
    assert "1 replication(s) failed; 3 of 4 replications kept" in proc.stderr
    partial = pd.read_parquet(tmp_path / "run" / "monthly.partial.parquet")
    assert sorted(partial["replication"].unique()) == [0, 1, 2]


def test_ctrl_c_twice_while_saving_plots_is_not_a_traceback(tmp_path: Path) -> None:
    """Ctrl-C during a run, and again while the partial plots are saved (the run pauses there
    until the signal comes): one exit 130, the plots written whole, no traceback."""
    proc = journey_sim(
        *RUN,
        "hydra.run.dir=run",
        cwd=tmp_path,
        hook="checkpoint-written:2:sigint,save:plots.partial:pause",
        popen=True,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()  # blocks until the run is paused while saving
    assert "paused at save plots.partial" in line, line + proc.stderr.read()
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 130, err
    assert "Traceback" not in out + err
    assert "2 of 4 replications kept" in err
    pngs = sorted((tmp_path / "run" / "plots.partial").glob("*.png"))
    assert len(pngs) >= 4 and all(p.stat().st_size > 1000 for p in pngs)
    assert not list((tmp_path / "run").rglob("*.tmp*"))


def test_ctrl_c_while_saving_a_complete_run_keeps_it_complete(tmp_path: Path) -> None:
    proc = journey_sim(
        *RUN, "hydra.run.dir=run", cwd=tmp_path, hook="save:plots:sigint", popen=False
    )
    assert proc.returncode == 130, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "Ctrl-C while saving; all 4 replications were finished and saved" in proc.stderr
    run = tmp_path / "run"
    pd.testing.assert_frame_equal(
        pd.read_parquet(run / "monthly.parquet"), undisturbed(), check_exact=True
    )
    assert len(list((run / "plots").glob("*.png"))) >= 4 and not is_partial(run)


def test_stale_checkpoints_of_another_config_are_named_not_merged(tmp_path: Path) -> None:
    first = journey_sim(*RUN, "hydra.run.dir=run", cwd=tmp_path, hook="checkpoint-written:2:sigint")
    assert first.returncode == 130, first.stderr
    before = {p.name: p.read_bytes() for p in (tmp_path / "run" / "replications").iterdir()}
    other = journey_sim(*RUN, "scenario=price_increase", "hydra.run.dir=run", cwd=tmp_path)
    assert other.returncode == 2 and "Traceback" not in other.stderr
    assert "cannot resume" in other.stderr and "different configuration" in other.stderr
    assert "2 rep files (rep-0000.parquet, rep-0001.parquet)" in other.stderr
    assert "scenario baseline" in other.stderr and "not merged" in other.stderr
    after = {p.name: p.read_bytes() for p in (tmp_path / "run" / "replications").iterdir()}
    assert after == before  # untouched


# ---------------------------------------------------------------------- in this process
def _frame(task: int) -> pd.DataFrame:
    return pd.DataFrame({"job": [task]})


def test_run_jobs_stops_between_jobs_on_a_signal_and_keeps_the_finished(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, "k")

    def job(task: int) -> pd.DataFrame:
        if task == 2:
            os.kill(os.getpid(), signal.SIGINT)  # a Ctrl-C while job 2 runs
        return _frame(task)

    with pytest.raises(Interrupted) as stopped:
        run_jobs(job, list(range(6)), executor=SerialExecutor(), store=store)
    # Job 2 finished (the flag is read between jobs) and was checkpointed; nothing after it.
    assert sorted(stopped.value.results) == [0, 1, 2] and stopped.value.signum == signal.SIGINT
    assert sorted(p.name for p in tmp_path.glob("rep-*")) == [
        "rep-0000.parquet",
        "rep-0001.parquet",
        "rep-0002.parquet",
    ]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    done = run_jobs(_frame, list(range(6)), executor=SerialExecutor(), store=store)
    assert [int(f["job"].iloc[0]) for f in done] == list(range(6))


def test_checkpoints_of_another_study_are_refused_by_name(tmp_path: Path) -> None:
    run_jobs(_frame, [0, 1], executor=SerialExecutor(), store=CheckpointStore(tmp_path, "a"))
    with pytest.raises(CheckpointMismatch, match=r"2 rep files \(rep-0000.parquet, rep-0001"):
        run_jobs(_frame, [0, 1], executor=SerialExecutor(), store=CheckpointStore(tmp_path, "b"))


def test_local_pool_gives_results_of_every_job_in_any_order() -> None:
    got = run_jobs(_frame, list(range(7)), executor=LocalExecutor(2))
    assert [int(f["job"].iloc[0]) for f in got] == list(range(7))


def _dies(arg: tuple[int, str, int]) -> pd.DataFrame:
    """Job ``task``: its worker is SIGKILLed the first ``deaths`` times it runs (markers in
    ``folder``, shared by the workers), then it finishes."""
    task, folder, deaths = arg
    for n in range(deaths):
        try:
            os.close(os.open(Path(folder) / f"died-{task}-{n}", os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            continue
        os.kill(os.getpid(), signal.SIGKILL)
    return _frame(task)


def test_a_kept_open_pool_replaces_a_killed_worker_and_reruns_its_job(tmp_path: Path) -> None:
    """``kept_open`` (the optimiser's batches) retries like the plain local executor (one
    implementation, ``_map_on_pools``; a job that always kills its worker is reported as in
    test_a_worker_that_always_dies_is_reported_and_the_others_finish): job 2's worker dies
    once, the pool is replaced, job 2 runs again; the next batch runs on the same pool."""
    from simulator.experiments.executors import kept_open

    with kept_open(LocalExecutor(2)) as ex:
        first = [(i, str(tmp_path), 1 if i == 2 else 0) for i in range(5)]
        got = run_jobs(_dies, first, executor=ex)
        assert [int(f["job"].iloc[0]) for f in got] == list(range(5))
        assert (tmp_path / "died-2-0").exists()  # the worker did die
        pool = ex.pools.pool
        second = run_jobs(_dies, [(i, str(tmp_path), 0) for i in range(3)], executor=ex)
        assert [int(f["job"].iloc[0]) for f in second] == [0, 1, 2]
        assert ex.pools.pool is pool is not None  # kept open between batches


def _fails_on_three(task: int) -> pd.DataFrame:
    if task == 3:
        raise ValueError("job 3 always fails")
    return _frame(task)


def test_a_kept_open_dask_client_retries_and_reports_a_failing_job() -> None:
    """``kept_open`` on Dask (the optimiser's and sensitivity's batches) shares the plain Dask
    executor's loop (``_map_on_client``): a job that raises is retried, then reported with its
    error as a failed job (``JobsFailed``), not raised out of the client; the other jobs finish
    and the client stays open for the next batch."""
    from simulator.experiments.executors import DaskExecutor, kept_open
    from simulator.experiments.jobs import JobsFailed

    with kept_open(DaskExecutor(None, 2)) as ex:
        with pytest.raises(JobsFailed) as failed:
            run_jobs(_fails_on_three, list(range(5)), executor=ex)
        assert "job 3 always fails" in "\n".join(failed.value.failures)
        assert "failed 3 times" in "\n".join(failed.value.failures)
        assert sorted(failed.value.results) == [0, 1, 2, 4]
        again = run_jobs(_frame, [0, 1], executor=ex)
        assert sorted(int(f["job"].iloc[0]) for f in again) == [0, 1]


def test_a_pool_stopped_while_a_result_is_half_sent_leaves_no_thread_behind() -> None:
    """The cause of the rare hang after "interrupted (Ctrl-C)": a worker terminated while it was
    sending a result left the pool's manager thread reading the rest of the message for ever,
    and the interpreter's exit joins that thread. Here the half-sent message is written by hand
    (a header announcing 1,000 bytes, then 10); ``_stop_pool`` must leave the thread ended."""
    import struct
    from concurrent.futures import ProcessPoolExecutor

    from simulator.experiments.executors import _stop_pool

    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("forkserver"))
    assert pool.submit(_frame, 1).result()["job"].iloc[0] == 1  # the manager thread runs
    manager = pool._executor_manager_thread
    assert manager is not None and manager.is_alive()
    os.write(pool._result_queue._writer.fileno(), struct.pack("!i", 1_000) + b"x" * 10)
    _stop_pool(pool)
    manager.join(timeout=120)  # (returns at once when fixed; for ever on the old pool stop)
    assert not manager.is_alive()


def _kills_its_worker_if_first(task: int) -> pd.DataFrame:
    if task == 0:
        os.kill(os.getpid(), signal.SIGKILL)
    return _frame(task)


@pytest.mark.slow
def test_a_dask_job_queued_behind_a_killer_is_not_reported_with_it() -> None:
    """One Dask worker holds both jobs; job 0 runs first and kills it, each time. Dask counts
    the death against job 1 too (queued on the same worker) and, allowed no failure here, ends
    both with ``KilledWorker`` after one worker. Each then runs alone: job 1 finishes, and job
    0, which kills one more worker alone, is the one reported (2 workers in all). (Two deaths,
    not Dask's default eight: one CI run hung here, its only worker not back after the
    nanny's restarts.)"""
    import dask

    from simulator.experiments.executors import DaskExecutor
    from simulator.experiments.jobs import JobsFailed

    no_retry = {"distributed.scheduler.allowed-failures": 0}
    with dask.config.set(no_retry), pytest.raises(JobsFailed) as failed:
        run_jobs(_kills_its_worker_if_first, [0, 1], executor=DaskExecutor(None, 1))
    assert [int(f["job"].iloc[0]) for f in failed.value.results.values()] == [1]
    (failure,) = failed.value.failures
    assert "failed 2 times (KilledWorker" in failure, failure


@pytest.mark.slow
def test_a_dask_study_left_without_workers_reports_its_jobs_instead_of_waiting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Job 0 kills its worker, and its nanny fails to start another (what a CI run once hung
    on, for ever: "Failed to restart worker after its process exited"). After the cluster has
    had no worker for ``NO_WORKER_SECONDS`` (1 s here), every job not finished is reported
    failed, saying why, and the study ends (``JobsFailed``)."""
    from simulator.experiments import executors
    from simulator.experiments.jobs import JobsFailed

    started = executors.DaskExecutor._cluster

    def cluster_whose_nannies_cannot_restart(self: Any) -> Any:
        cluster = started(self)
        for nanny in cluster.workers.values():

            async def cannot_start_a_worker() -> None:
                raise RuntimeError("no worker started (test)")

            nanny.instantiate = cannot_start_a_worker
        return cluster

    monkeypatch.setattr(executors, "NO_WORKER_SECONDS", 1.0)
    monkeypatch.setattr(executors.DaskExecutor, "_cluster", cluster_whose_nannies_cannot_restart)
    with pytest.raises(JobsFailed) as failed:
        run_jobs(_kills_its_worker_if_first, [0, 1], executor=executors.DaskExecutor(None, 1))
    assert 0 not in failed.value.results
    assert len(failed.value.failures) == 2 - len(failed.value.results)
    for failure in failed.value.failures:
        assert "no Dask worker was left to run it for 1 s" in failure, failure


def test_a_dask_worker_prints_nothing_once_it_is_closing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker plugin of a local cluster gives the worker process a ``sys.stderr`` that
    passes text through while the worker runs and drops it once the worker is closing: a
    clean-clone CI run once failed on the traceback ``multiprocessing`` printed for a worker
    whose close could not reach its nanny as the cluster shut down (the run itself had
    reported everything). Installed once, however many times the plugin is set up."""
    import io
    from types import SimpleNamespace

    from distributed.core import Status

    from simulator.experiments.dask_quiet import QuietWorkerLogs, StderrUntilClosing

    terminal = io.StringIO()
    monkeypatch.setattr(sys, "stderr", terminal)
    worker = SimpleNamespace(status=Status.running)
    QuietWorkerLogs().setup(worker)
    QuietWorkerLogs().setup(worker)  # (plugins are set up again on re-registration)
    assert isinstance(sys.stderr, StderrUntilClosing) and sys.stderr.stream is terminal
    print("a warning while the worker runs", file=sys.stderr)
    for status in (Status.closing, Status.closing_gracefully, Status.closed, Status.failed):
        worker.status = status
        print("Traceback (most recent call last): ...", file=sys.stderr)
    sys.stderr.flush()
    assert terminal.getvalue() == "a warning while the worker runs\n"
    assert sys.stderr.encoding == terminal.encoding  # the rest is the stream's


class _BrokenAfterOne:
    """A pool whose worker dies with the first job: that job's future fails with
    BrokenProcessPool and the next submit is refused with it (the race CI hit once: the pool
    broke between the wait and the next submit)."""

    def __init__(self) -> None:
        self.submitted = 0

    def submit(self, fn: Any, arg: Any) -> Any:
        from concurrent.futures import Future
        from concurrent.futures.process import BrokenProcessPool

        self.submitted += 1
        if self.submitted > 1:
            raise BrokenProcessPool("A child process terminated abruptly")
        future: Future[Any] = Future()
        future.set_exception(BrokenProcessPool("A child process terminated abruptly"))
        return future


class _FlakyPools:
    """``executors._Pools`` whose first pool breaks (``_BrokenAfterOne``), the next ones threads."""

    workers = 2

    def __init__(self, first: Any) -> None:
        self.made: list[Any] = []
        self.first = first
        self.pool: Any = None

    def get(self) -> Any:
        from concurrent.futures import ThreadPoolExecutor

        if self.pool is None:
            self.pool = self.first if not self.made else ThreadPoolExecutor(self.workers)
            self.made.append(self.pool)
        return self.pool

    def discard(self) -> None:
        if self.pool is not None and hasattr(self.pool, "shutdown"):
            self.pool.shutdown(wait=True)
        self.pool = None


@pytest.mark.parametrize("first", ["breaks after one job", "refuses at once"])
def test_a_pool_that_breaks_before_a_submit_loses_no_job(first: str) -> None:
    """A pool that broke before ``submit`` (its worker died since the last wait) refuses the
    job: the job stays to do, the pool is replaced, every job runs once."""
    from simulator.experiments.executors import _map_on_pools

    pool = _BrokenAfterOne()
    if first == "refuses at once":
        pool.submitted = 1  # nothing running when it refuses
    pools = _FlakyPools(pool)
    got = dict(_map_on_pools(pools, _frame, list(range(5))))  # type: ignore[arg-type]
    assert sorted(got) == [0, 1, 2, 3, 4]
    assert all(int(got[i]["job"].iloc[0]) == i for i in got)
    assert len(pools.made) == 2  # the broken pool was replaced once


# ---------------------------------------------------------------------- partial outputs
def test_consumers_refuse_or_label_partial_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from simulator import load_config, simulate

    sweep = tmp_path / "sweep"
    cfg = load_config([*RUN[:2], "months=3", "replications=2"])
    whole = simulate(cfg, progress=False)
    whole.save(sweep / "0", plots=False)
    whole.meta.update(interrupted=True)
    whole.save(sweep / "1", plots=False)
    assert not is_partial(sweep / "0") and is_partial(sweep / "1")
    assert sorted(p.name for p in (sweep / "1").iterdir()) == [
        "channels.partial.parquet",
        "cohorts.partial.parquet",
        "monthly.partial.parquet",
        "summary.partial.json",
        "touchpoints.partial.parquet",
    ]
    for job in ("0", "1"):  # what Hydra leaves in every job folder of a sweep
        (sweep / job / ".hydra").mkdir()
    report = aggregate_sweep(sweep)
    assert int(report) == 1 and report.status == {"0": "complete", "1": "interrupted"}
    assert "job 1 interrupted, not aggregated" in report.format()
    assert set(pd.read_parquet(sweep / SWEEP_MONTHLY)["job"]) == {0}
    # replay labels it (and still checks it reproduces).
    assert replay_run(sweep / "1") == 0
    out = capsys.readouterr().out
    assert "is a partial run (2 of 2 replications" in out and "identical to" in out
    # Completing the run removes the partial files.
    whole.meta.clear()
    whole.save(sweep / "1", plots=False)
    assert not is_partial(sweep / "1")
    assert not list((sweep / "1").glob("*.partial*"))
