"""Executors fan replications out: serially, or to a local process pool.

Every replication is seeded by (seed, replication) alone, so the tables are identical whatever
the executor and worker count.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any


def run_serial(fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
    """Run ``fn`` on each task in this process, yielding results in task order."""
    for task in tasks:
        yield fn(task)


def run_process_pool(fn: Callable[[Any], Any], tasks: Iterable[Any], workers: int) -> Iterator[Any]:
    """Run ``fn`` on each task in a local process pool, yielding results as they finish.

    Workers start from a fork server (not a fork of this possibly multi-threaded process).
    """
    tasks = list(tasks)
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(fn, t) for t in tasks]
        try:
            for fut in as_completed(futures):
                yield fut.result()
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise


def run_tasks(
    fn: Callable[[Any], Any], tasks: Iterable[Any], kind: str = "serial", workers: int = 1
) -> Iterator[Any]:
    """Dispatch to the executor named ``kind`` (``serial`` or ``local``)."""
    if kind == "serial" or workers <= 1:
        return run_serial(fn, tasks)
    if kind == "local":
        return run_process_pool(fn, tasks, workers)
    raise ValueError(f"unknown executor kind {kind!r}")
