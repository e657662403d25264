"""The run machinery: executors, the job runner (checkpoints, progress, Ctrl-C, resume), run
settings and saved outputs."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import Any, get_args

import pandas as pd
import pytest
from omegaconf import OmegaConf

from simulator import ConfigError, load_config, simulate
from simulator.config import CONFIG_DIR
from simulator.experiments.executors import (
    DaskExecutor,
    LocalExecutor,
    SerialExecutor,
    make_executor,
)
from simulator.experiments.jobs import CheckpointMismatch, Interrupted, atomic_write
from simulator.experiments.montecarlo import load_checkpoint, run_replication
from simulator.experiments.tasks import TASKS
from simulator.params import read_config, run_settings
from simulator.params.run import RUN_KEYS, TASKS_WITH_DIR, RunSettings, TaskName, split_tree
from simulator.results import MONTHLY_COLUMNS

SMALL = ["market.size=30000", "initial.customers=900", "months=12", "replications=3"]


def _cfg(*overrides: str) -> Any:
    return load_config([*SMALL, *overrides], validate=False)


def _table(*overrides: str) -> pd.DataFrame:
    return simulate(_cfg(*overrides), progress=False).monthly


class SpyExecutor(SerialExecutor):
    """Serial, recording which replications it was given; Ctrl-C after ``stop_after`` jobs."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.ran: list[int] = []
        self.stop_after = stop_after

    def map_unordered(
        self, fn: Callable[[Any], Any], args: Sequence[Any]
    ) -> Generator[tuple[int, Any]]:
        for i, arg in enumerate(args):
            if self.stop_after is not None and len(self.ran) == self.stop_after:
                raise KeyboardInterrupt
            self.ran.append(arg[1])
            yield i, fn(arg)


def test_every_executor_gives_the_identical_table() -> None:
    serial = _table("executor=serial", "months=6")
    for executor in ("executor=local", "executor=dask"):
        other = _table(executor, "executor.workers=2", "months=6")
        pd.testing.assert_frame_equal(serial, other, check_exact=True)


def test_executors_are_built_from_their_target() -> None:
    built = {
        name: make_executor(read_config(_cfg(f"executor={name}"))[1].executor)
        for name in ("serial", "local", "dask")
    }
    assert isinstance(built["serial"], SerialExecutor)
    assert isinstance(built["local"], LocalExecutor) and built["local"].workers == 2
    assert isinstance(built["dask"], DaskExecutor) and built["dask"].address is None


def test_dask_executor_uses_an_existing_scheduler() -> None:
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        cfg = _cfg("replications=2", "months=3", "executor=dask")
        got = simulate(cfg, executor=DaskExecutor(cluster.scheduler_address, None)).monthly
    want = _table("replications=2", "months=3")
    pd.testing.assert_frame_equal(got, want, check_exact=True)


def _distributed_log_level() -> int:
    import logging

    return logging.getLogger("distributed.worker").getEffectiveLevel()


def test_a_local_dask_cluster_keeps_its_workers_quiet() -> None:
    """A stopped study's workers may fail a heartbeat against the closed scheduler; what they
    log must not reach the user (CI once printed such a traceback after the one-line report)."""
    import logging

    from simulator.experiments.executors import _dask_client

    with _dask_client(DaskExecutor(None, 2)) as client:
        levels = client.run(_distributed_log_level)
    assert len(levels) == 2
    assert set(levels.values()) == {logging.CRITICAL}


def test_checkpoint_writes_every_replication(tmp_path: Path) -> None:
    res = simulate(_cfg("months=4"), checkpoint_dir=tmp_path, progress=False)
    parts = sorted((tmp_path / "replications").glob("rep-*.parquet"))
    assert [p.name for p in parts] == ["rep-0000.parquet", "rep-0001.parquet", "rep-0002.parquet"]
    assert not list(tmp_path.rglob("*.tmp"))
    back = load_checkpoint(tmp_path).sort_values(["replication", "month", "persona"])
    want = res.monthly.sort_values(["replication", "month", "persona"])
    pd.testing.assert_frame_equal(
        back.reset_index(drop=True), want.reset_index(drop=True), check_exact=True
    )


def test_empty_checkpoint_reads_as_empty_table(tmp_path: Path) -> None:
    empty = load_checkpoint(tmp_path)
    assert len(empty) == 0 and list(empty.columns) == list(MONTHLY_COLUMNS)


def test_resume_skips_finished_replications_and_equals_an_uninterrupted_run(
    tmp_path: Path,
) -> None:
    cfg = _cfg("months=6")
    first = SpyExecutor(stop_after=1)
    with pytest.raises(Interrupted) as stopped:
        simulate(cfg, checkpoint_dir=tmp_path, executor=first, progress=False)
    assert list(stopped.value.results) == [0] and first.ran == [0]
    assert len(load_checkpoint(tmp_path)["replication"].unique()) == 1
    second = SpyExecutor()
    resumed = simulate(cfg, checkpoint_dir=tmp_path, executor=second, progress=False)
    assert second.ran == [1, 2]  # replication 0 was loaded, not simulated again
    pd.testing.assert_frame_equal(resumed.monthly, _table("months=6"), check_exact=True)
    # More replications later: only the new ones run.
    third = SpyExecutor()
    more = simulate(_cfg("months=6", "replications=4"), checkpoint_dir=tmp_path, executor=third)
    assert third.ran == [3]
    pd.testing.assert_frame_equal(
        more.monthly, _table("months=6", "replications=4"), check_exact=True
    )


def test_resume_refuses_a_directory_of_another_configuration(tmp_path: Path) -> None:
    simulate(_cfg("months=3", "replications=1"), checkpoint_dir=tmp_path, progress=False)
    with pytest.raises(CheckpointMismatch, match="different configuration"):
        simulate(_cfg("months=4", "replications=1"), checkpoint_dir=tmp_path, progress=False)
    # Run settings are not part of what a replication depends on.
    simulate(
        _cfg("months=3", "replications=1", "executor=local", "progress=false"),
        checkpoint_dir=tmp_path,
    )


def test_ctrl_c_during_a_checkpoint_write_waits_for_the_write(tmp_path: Path) -> None:
    target = tmp_path / "table.parquet"
    frame = pd.DataFrame({"x": range(1000)})

    def write(path: Path) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # arrives mid-write
        frame.to_parquet(path)

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, write)
    pd.testing.assert_frame_equal(pd.read_parquet(target), frame)
    assert not list(tmp_path.glob("*.tmp"))
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_save_writes_table_summary_and_plots(tmp_path: Path) -> None:
    res = simulate(_cfg("months=13", "replications=2"), progress=False)
    out = res.save(tmp_path / "run", csv=True)
    back = pd.read_parquet(out / "monthly.parquet")
    pd.testing.assert_frame_equal(back, res.monthly, check_exact=True)
    assert list(pd.read_csv(out / "monthly.csv").columns) == list(MONTHLY_COLUMNS)
    doc = json.loads((out / "summary.json").read_text())
    assert doc["seed"] == 42 and doc["months"] == 13 and doc["replications"] == 2
    assert doc["config"]["market"]["size"] == 30000
    assert {"python", "mesa", "numpy", "pandas", "hydra-core"} <= set(doc["versions"])
    assert "git_revision" in doc
    assert doc["summary"]["ending_arr"]["median"] == pytest.approx(
        res.summary()["ending_arr"]["median"]
    )
    pngs = sorted(p.name for p in (out / "plots").glob("*.png"))
    assert {"customers_by_stage.png", "mrr_bridge.png", "churn.png"} <= set(pngs)
    assert all((out / "plots" / p).stat().st_size > 5_000 for p in pngs)
    assert not list(out.rglob("*.tmp"))


def test_progress_counts_months_and_stays_quiet_when_off(capsys: pytest.CaptureFixture) -> None:
    params, _, _ = read_config(_cfg("months=4", "replications=2"))
    ticks: list[int] = []
    frame = run_replication((params, 0), on_tick=lambda: ticks.append(1))
    assert len(ticks) == 4 and sorted(frame["month"].unique()) == [1, 2, 3, 4]
    simulate(params, progress=False)
    assert capsys.readouterr().err == ""
    simulate(params, progress=True)
    err = capsys.readouterr().err
    assert "baseline: 2 replications" in err and "/8" in err


def test_run_settings_are_the_run_keys_of_the_config() -> None:
    tree = OmegaConf.to_container(load_config([], validate=False), resolve=True)
    assert isinstance(tree, dict)
    scenario, run = split_tree(tree)
    assert set(run) == {
        "task",
        "dir",
        "executor",
        "progress",
        "output",
        "scenarios",
        "sensitivity",
        "optimize",
        "audit",
    } | {
        "data",
        "funnel",
        "holdout",
        "match",  # task=calibrate
        "calibrate",  # task=calibrate: calibrate.uncertainty
    }
    # settings of one task only, set by its task config (configs/task/dashboard.yaml, ...)
    assert set(RUN_KEYS) - set(run) == {"dashboard", "response"}
    assert not set(scenario) & set(RUN_KEYS)
    settings = run_settings(run)
    assert settings.task == "run" and settings.dir is None
    assert isinstance(settings, RunSettings)


def test_every_task_has_a_config_and_a_function() -> None:
    files = sorted(p.stem for p in (CONFIG_DIR / "task").glob("*.yaml"))
    assert files == sorted(TASKS) == sorted(get_args(TaskName))
    for name in TASKS:
        cfg = load_config(
            [
                f"task={name}",
                *(["dir=x"] if name in TASKS_WITH_DIR else []),
                *(["data=x.csv"] if name == "calibrate" else []),
            ],
            validate=False,
        )
        assert read_config(cfg)[1].task == name


@pytest.mark.parametrize(
    ("overrides", "key", "words"),
    [
        (["executor=local", "executor.workers=0"], "executor.workers", "[1, 4096], got 0"),
        (["+executor.address=x"], "executor", "address is not a setting of SerialExecutor"),
        (["executor._target_=os.system"], "executor._target_", "LocalExecutor"),
        (["task=replay"], "dir", "task=replay needs dir"),
        (["dir=somewhere"], "dir", "only task=replay or aggregate or cohorts or report reads dir"),
        (["progress=maybe"], "progress", "maybe"),
    ],
)
def test_bad_run_settings_name_the_key(overrides: list[str], key: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        read_config(load_config(overrides, validate=False))
    assert [k for k, _ in err.value.problems] == [key]
    assert words in err.value.problems[0][1]


# ------------------------------------------------------------ a script without a __main__ guard
_STUDY = (
    "from simulator import load_config, simulate\n"
    "res = simulate(load_config(['market.size=2000', 'initial.customers=100', 'months=2',\n"
    "    'replications=2', 'executor=local', 'executor.workers=2', 'output.plots=false']),\n"
    "    progress=False)\n"
    "print('rows', len(res.monthly))\n"
)


def test_a_script_without_a_main_guard_gets_one_error_before_any_worker_starts(
    tmp_path: Path,
) -> None:
    """The local pool's workers import ``__main__`` again: a script calling ``simulate`` at its
    top level is refused with one error naming the executor and the fix (no multiprocessing
    bootstrap tracebacks, no failed jobs); the same study under the guard runs."""
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    bare = tmp_path / "bare.py"
    bare.write_text(_STUDY)
    out = subprocess.run(
        [sys.executable, str(bare)], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode != 0
    assert 'put the study under `if __name__ == "__main__":`' in out.stderr
    assert "bootstrapping phase" not in out.stderr and "jobs failed" not in out.stderr
    guarded = tmp_path / "guarded.py"
    body = "".join("    " + line + "\n" for line in _STUDY.splitlines())
    guarded.write_text('if __name__ == "__main__":\n' + body)
    out = subprocess.run(
        [sys.executable, str(guarded)], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert "rows" in out.stdout


def test_replication_tables_are_joined_in_the_order_a_stable_sort_gives() -> None:
    """``result_of`` orders each table by replication, month and persona (config order), as a
    stable sort does: joined in order it does not sort at all, shuffled it sorts by one integer
    key, and a persona the config does not know, a missing one or a key too wide for int64
    takes pandas' sort. Each way equals ``sort_values`` with ranked personas."""
    import numpy as np

    from simulator.experiments.montecarlo import _sorted, _sorted_by_pandas
    from simulator.params import params_of

    params = params_of(load_config())
    personas = list(params.personas)
    rng = np.random.default_rng(3)
    n = 5_000
    frame = pd.DataFrame(
        {
            "replication": rng.integers(0, 7, n),
            "month": rng.integers(0, 13, n),
            "persona": pd.array(rng.choice(personas, n), dtype="str"),
            "value": np.arange(n),  # ties keep their order: a stable sort
        }
    )
    by = ["replication", "month", "persona"]
    want = _sorted_by_pandas(frame, params, by)
    assert not want["value"].is_monotonic_increasing  # it did reorder
    pd.testing.assert_frame_equal(_sorted(frame, params, by), want)
    pd.testing.assert_frame_equal(_sorted(want, params, by), want)  # in order: unchanged
    odd = frame.assign(persona=frame["persona"].where(frame["value"] % 97 > 0, "nobody"))
    pd.testing.assert_frame_equal(_sorted(odd, params, by), _sorted_by_pandas(odd, params, by))
    missing = frame.assign(persona=frame["persona"].where(frame["value"] % 89 > 0, None))
    assert missing["persona"].isna().sum() > 0
    pd.testing.assert_frame_equal(
        _sorted(missing, params, by), _sorted_by_pandas(missing, params, by)
    )
    wide = frame.assign(month=frame["month"] * 2**58)
    pd.testing.assert_frame_equal(_sorted(wide, params, by), _sorted_by_pandas(wide, params, by))
