"""The job runner under every task: executor, checkpoints, progress, cancellation, resume.

A study is a list of independent jobs (a Monte Carlo replication, a sweep point, a scenario of
a comparison). ``run_jobs`` hands them to an executor, writes each result to its checkpoint as
soon as it arrives, counts progress in the study's own unit (simulated months), and on Ctrl-C
stops at once while keeping every finished job (``Interrupted``). Rerun with the same
checkpoint directory and fingerprint, it loads the finished jobs instead of running them again.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from simulator.experiments.executors import Executor

#: File in a checkpoint directory that records what its jobs were computed from.
FINGERPRINT_FILE = "fingerprint.json"


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped a study; ``results`` holds every job finished before it, by index."""

    def __init__(self, results: dict[int, Any], total: int) -> None:
        super().__init__(f"interrupted; {len(results)} of {total} jobs finished")
        self.results = results
        self.total = total


class CheckpointMismatch(ValueError):
    """A checkpoint directory holds jobs of a different study."""


@contextmanager
def sigint_held(reraise: bool = True) -> Iterator[None]:
    """Hold Ctrl-C until the block ends, so a file is never left half written.

    A Ctrl-C that arrives inside the block is raised as ``KeyboardInterrupt`` when it ends
    (``reraise``) or dropped. Outside the main thread this is a plain block.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if not pending:
        return
    if previous is signal.default_int_handler:
        if reraise:
            raise KeyboardInterrupt
    elif callable(previous):  # an enclosing hold: pass the Ctrl-C on to it
        previous(signal.SIGINT, None)


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Write ``path`` through a temporary file and an atomic rename, with Ctrl-C held."""
    tmp = path.with_name(path.name + ".tmp")
    with sigint_held():
        write(tmp)
        os.replace(tmp, path)


def fingerprint(doc: object) -> str:
    """A short stable hash of a JSON-able description of a study's inputs."""
    text = json.dumps(doc, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class CheckpointStore:
    """Finished jobs as ``<directory>/<prefix>-NNNN.parquet``, with the fingerprint of the study
    they belong to in ``fingerprint.json``."""

    def __init__(self, directory: str | Path, key: str, prefix: str = "rep") -> None:
        self.directory = Path(directory)
        self.key = key
        self.prefix = prefix

    def path(self, index: int) -> Path:
        return self.directory / f"{self.prefix}-{index:04d}.parquet"

    def open(self) -> dict[int, Path]:
        """Create the directory or check it belongs to this study; the finished jobs in it.

        Raises:
            CheckpointMismatch: the directory holds jobs of a different study (or of unknown
                origin).
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        marker = self.directory / FINGERPRINT_FILE
        parts = sorted(self.directory.glob(f"{self.prefix}-*.parquet"))
        if marker.exists():
            found = json.loads(marker.read_text()).get("fingerprint")
            if found != self.key:
                raise CheckpointMismatch(
                    f"{self.directory} holds results of a different configuration "
                    f"(fingerprint {found}, this run {self.key}); use a new directory"
                )
        elif parts:
            raise CheckpointMismatch(
                f"{self.directory} holds results without a record of their configuration; "
                "use a new directory"
            )
        else:
            atomic_write(marker, lambda p: p.write_text(json.dumps({"fingerprint": self.key})))
        return {int(p.stem.rsplit("-", 1)[1]): p for p in parts}

    def write(self, index: int, frame: pd.DataFrame) -> None:
        atomic_write(self.path(index), lambda p: frame.to_parquet(p))


def progress_enabled(setting: bool | str) -> bool:
    """``progress`` setting → show a bar? ``auto``: on a terminal, quiet in CI."""
    if isinstance(setting, bool):
        return setting
    return sys.stderr.isatty() and not os.environ.get("CI")


def run_jobs(
    fn: Callable[..., pd.DataFrame],
    args: Sequence[Any],
    *,
    executor: Executor,
    store: CheckpointStore | None = None,
    keys: Sequence[int] | None = None,
    progress: bool = False,
    units: int = 1,
    desc: str = "",
    unit: str = "job",
) -> list[pd.DataFrame]:
    """Run ``fn(arg)`` for every argument; the results in argument order.

    Args:
        fn: a module-level function (it may be pickled to a worker); when it runs in this
            process and progress is shown it is called with ``on_tick`` too, to count units
            as they are done.
        args: one argument per job.
        executor: where jobs run (``simulator.experiments.executors``).
        store: checkpoints; finished jobs found there are loaded, not run again.
        keys: each job's checkpoint number (default: its index in ``args``).
        progress: show a progress bar of ``units`` per job.

    Raises:
        Interrupted: on Ctrl-C, with every job finished so far (those loaded included), by
            index.
    """
    keys = list(range(len(args))) if keys is None else list(keys)
    results: dict[int, pd.DataFrame] = {}
    if store is not None:
        found = store.open()
        for index, key in enumerate(keys):
            if key in found:
                results[index] = pd.read_parquet(found[key])
    pending = [i for i in range(len(args)) if i not in results]
    bar = tqdm(
        total=len(args) * units,
        initial=len(results) * units,
        desc=desc,
        unit=unit,
        disable=not progress,
        leave=False,
    )
    ticks_inside = progress and executor.in_process
    call = functools.partial(fn, on_tick=lambda: bar.update(1)) if ticks_inside else fn
    jobs = executor.map_unordered(call, [args[i] for i in pending])
    try:
        for j, frame in jobs:
            index = pending[j]
            with sigint_held():
                if store is not None:
                    store.write(keys[index], frame)
                results[index] = frame
            if not ticks_inside:
                bar.update(units)
    except KeyboardInterrupt:
        with sigint_held(reraise=False):
            jobs.close()  # cancel queued jobs, stop workers
        raise Interrupted(results, len(args)) from None
    finally:
        bar.close()
    return [results[i] for i in range(len(args))]
