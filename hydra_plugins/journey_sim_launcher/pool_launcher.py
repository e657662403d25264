"""A Hydra launcher that runs the jobs of a sweep in parallel local processes.

``journey-sim -m hydra/launcher=pool hydra.launcher.workers=2 key=a,b,c`` runs up to
``workers`` jobs at a time, each exactly as Hydra's basic launcher runs it (``run_job``: its own
folder, ``.hydra/`` record, logging, callbacks), in a process forked from the command (so
nothing of Hydra's state needs pickling; only each job's return travels back). Jobs are seeded
by their own config, so a sweep's tables are identical whatever the launcher and worker count.

Ctrl-C reaches every running job (each keeps its finished replications and records itself as
interrupted); the launcher waits for them, then stops the sweep (exit 130). Hydra's joblib
launcher (``hydra-joblib-launcher``) does the same job where it is installed; this one has no
dependency beyond Hydra.
"""

# No "from __future__ import annotations": Hydra loads plugin modules outside sys.modules, where
# dataclasses cannot resolve string annotations.

import logging
import multiprocessing
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import (
    JobReturn,
    JobStatus,
    configure_log,
    filter_overrides,
    run_job,
    setup_globals,
)
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict

from hydra_plugins.journey_sim_launcher._state import STATE

log = logging.getLogger(__name__)


@dataclass
class PoolLauncherConf:
    _target_: str = "hydra_plugins.journey_sim_launcher.pool_launcher.PoolLauncher"
    workers: int = 2  # jobs run at a time (each in its own process)


ConfigStore.instance().store(
    group="hydra/launcher", name="pool", node=PoolLauncherConf, provider="journey-sim"
)

#: What a forked job process needs, set by the launcher just before it forks.
_STATE: dict[str, Any] = STATE


def _idle_ignores_sigint() -> None:
    """Pool workers ignore Ctrl-C between jobs; a running job takes it (``_execute``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _execute(job: tuple[int, list[str]]) -> tuple[int, dict[str, Any] | None, int | None]:
    """Run one job in a forked process: (index, what its JobReturn says, the exit code it asked
    for). The JobReturn itself stays here (its Hydra config holds classes of this re-executed
    module, which do not pickle); the launcher rebuilds one from the job's status."""
    idx, overrides = job
    if _STATE["stop"].is_set():  # the sweep was stopped before this job started
        return idx, None, 130
    hydra_context: HydraContext = _STATE["hydra_context"]
    setup_globals()
    Singleton.set_state(_STATE["singletons"])
    sweep_config = hydra_context.config_loader.load_sweep_config(_STATE["config"], overrides)
    with open_dict(sweep_config):
        sweep_config.hydra.job.id = f"{idx}"
        sweep_config.hydra.job.num = idx
    HydraConfig.instance().set_config(sweep_config)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        ret = run_job(
            hydra_context=hydra_context,
            task_function=_STATE["task_function"],
            config=sweep_config,
            job_dir_key="hydra.sweep.dir",
            job_subdir_key="hydra.sweep.subdir",
        )
    except SystemExit as exc:  # the task asked to stop the sweep (Ctrl-C: 130)
        return idx, None, exc.code if isinstance(exc.code, int) else 1
    except KeyboardInterrupt:
        return idx, None, 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    failed = ret.status == JobStatus.FAILED
    return (
        idx,
        {
            "overrides": list(overrides),
            "status": ret.status,
            "error": f"job {idx} failed: {ret._return_value!r}" if failed else None,
            "working_dir": ret.working_dir,
            "task_name": ret.task_name,
        },
        None,
    )


def _job_return(done: dict[str, Any]) -> JobReturn:
    ret = JobReturn(
        overrides=done["overrides"],
        working_dir=done["working_dir"],
        task_name=done["task_name"],
        status=done["status"],
    )
    ret._return_value = RuntimeError(done["error"]) if done["error"] else None
    return ret


def _warm_kernels(config: DictConfig) -> None:
    """Run one tiny replication of the sweep's base scenario in this process, so the compiled
    kernels are loaded once here and every forked job inherits them (instead of each job
    loading them again from the disk cache). Skipped when the base does not validate alone."""
    try:
        from omegaconf import OmegaConf

        from simulator.experiments.montecarlo import run_replication
        from simulator.params import read_config, replace

        base = OmegaConf.masked_copy(config, [k for k in config if k != "hydra"])
        params = read_config(base)[0]
        small = {"market.size": 3000, "initial.customers": 100, "months": min(params.months, 14)}
        run_replication((replace(params, small), 0))
    except Exception:  # a job reports its own problems; warming is only a speed-up
        log.debug("kernels not warmed before the jobs", exc_info=True)


class PoolLauncher(Launcher):
    def __init__(self, workers: int = 2) -> None:
        if int(workers) < 1:
            raise ValueError(f"hydra.launcher.workers must be at least 1, got {workers}")
        self.workers = int(workers)
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        assert self.config is not None and self.hydra_context is not None
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        workers = min(self.workers, len(job_overrides)) or 1
        log.info(f"Launching {len(job_overrides)} jobs locally, {workers} at a time")
        for i, overrides in enumerate(job_overrides):
            log.info(f"\t#{initial_job_idx + i} : {' '.join(filter_overrides(overrides))}")
        _warm_kernels(self.config)
        _STATE.update(
            hydra_context=self.hydra_context,
            task_function=self.task_function,
            config=self.config,
            singletons=Singleton.get_state(),
        )
        context = multiprocessing.get_context("fork")
        _STATE["stop"] = context.Event()
        jobs = [(initial_job_idx + i, list(o)) for i, o in enumerate(job_overrides)]
        results: dict[int, JobReturn] = {}
        stop: int | None = None
        pool = context.Pool(workers, initializer=_idle_ignores_sigint)
        try:
            for idx, ret, code in pool.imap_unordered(_execute, jobs):
                if ret is not None:
                    results[idx] = _job_return(ret)
                if code is not None and stop is None:
                    stop = code  # a job was interrupted (or asked to stop): start no other
                    _STATE["stop"].set()
        except KeyboardInterrupt:
            # Ctrl-C at a terminal reaches every job of the process group: running jobs keep
            # their finished replications and record themselves interrupted; none starts
            stop = 130
            _STATE["stop"].set()
        finally:
            pool.close()
            pool.join()
            configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        if stop is not None:
            raise SystemExit(stop)
        return [results[idx] for idx, _ in jobs]
