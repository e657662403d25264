"""The ``journey-sim`` command: a thin ``@hydra.main`` over the tasks of
``simulator.experiments.tasks``.

``journey-sim [overrides]`` runs one scenario (``task=run``) and writes its outputs into the
Hydra run directory; ``journey-sim task=<name>`` runs another task; ``journey-sim -m key=a,b,c``
sweeps and leaves one aggregated table in the sweep directory. Bad input stops before any
simulation with one message naming the key (exit 2).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from simulator.command_line import check_command_line, hydra_arguments
from simulator.config import CONFIG_DIR
from simulator.errors import ConfigError
from simulator.experiments.sweep import CURRENT, interrupted_sweep, run_sweep_job
from simulator.experiments.tasks import TASKS
from simulator.mechanisms.pricing import PricingWarning
from simulator.params import run_settings
from simulator.params.run import split_tree

#: Loggers quieted to warnings (Mesa logs every step; Dask logs its cluster's life).
NOISY_LOGGERS = ("MESA", "matplotlib", "distributed")


def run_task(cfg: DictConfig) -> int:
    """Run the task named by ``cfg.task`` on a composed config; its exit code."""
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    tree = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(tree, dict)
    try:
        settings = run_settings(split_tree(tree)[1])
    except ConfigError as exc:
        print(f"journey-sim: {exc}", file=sys.stderr)
        return 2
    try:
        out_dir = Path(HydraConfig.get().runtime.output_dir)
    except ValueError:
        out_dir = Path("outputs") / str(tree.get("scenario_name", "run"))
    plain = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    return TASKS[settings.task].fn(plain, settings, out_dir)


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")
def _hydra_main(cfg: DictConfig) -> None:
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode == RunMode.MULTIRUN:
        # a sweep job: recorded in <job>/job.json, skipped when already complete; a failed
        # job is named after the sweep and the others still run; Ctrl-C stops the sweep
        job_dir = Path(hydra_cfg.runtime.output_dir)
        code = run_sweep_job(cfg, run_task, job_dir, list(hydra_cfg.overrides.task))
        if code == 130:
            sys.exit(130)
        return
    code = run_task(cfg)
    if code:
        sys.exit(code)


def precheck(argv: list[str]) -> int:
    """Check a command line before Hydra starts any job (``simulator.config``): unknown keys,
    unknown options (``task=nope``), bad values, in a run or in every value of a ``-m`` sweep,
    get one message naming each key (exit 2, no traceback)."""
    problem = check_command_line(argv)
    if problem is not None:
        print(f"journey-sim: {problem}", file=sys.stderr)
        return 2
    return 0


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Pricing warnings as one plain line (``journey-sim: warning: …``), others as Python shows
    them."""
    if issubclass(category, PricingWarning):
        print(f"journey-sim: warning: {message}", file=sys.stderr)
    else:
        _python_show_warning(message, category, filename, lineno, file, line)


_python_show_warning = warnings.showwarning


#: Exit codes of a study stopped by a signal: Ctrl-C (130), SIGTERM (143).
STOPPED_CODES = (130, 143)


def _exit_stopped(code: int) -> None:
    """End a stopped study's process now that its outputs and its message are written: flush
    the logs and the standard streams, then exit without the interpreter's shutdown, which
    joins the threads the study left (a process pool's manager thread, Dask's). The cause of
    the rare hang seen there in CI, a manager thread reading a result half-sent by a worker
    that was terminated, is mended where the pool is stopped (``executors._stop_pool``); this
    exit keeps a stopped study from waiting on any other. The workers die with this process
    (``executors.die_with_parent``)."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def main() -> None:
    """Console entry point ``journey-sim``."""
    warnings.showwarning = _show_warning
    argv = sys.argv[1:]
    code = precheck(argv)
    if code:
        sys.exit(code)
    sys.argv = [sys.argv[0], *hydra_arguments(argv)]
    try:
        _hydra_main()
    except (SystemExit, KeyboardInterrupt) as exc:
        code = exc.code if isinstance(exc, SystemExit) else 130
        code = code if isinstance(code, int) else 1
        # a sweep stopped (its complete jobs aggregated), or a run stopped by a signal
        if interrupted_sweep(code) is not None or code in STOPPED_CODES:
            _exit_stopped(code)
        raise exc from None
    report = CURRENT["report"]
    if report is not None and report.incomplete:
        sys.exit(1)  # a sweep with failed jobs (named above)


if __name__ == "__main__":
    main()
