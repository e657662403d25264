"""Executors fan a list of independent jobs out: in this process, to a local process pool, or
to a Dask ``distributed`` cluster.

Each job is seeded by its own arguments alone (a replication by (seed, replication)), so results
are identical whatever the executor and worker count. An executor yields ``(index, result)`` as
jobs finish; the job runner (``simulator.experiments.jobs``) orders, checkpoints and counts them.
Executors are chosen in ``configs/executor/`` by ``_target_`` and built by ``make_executor``.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from typing import Any

from simulator.params.run import ExecutorSettings


class SerialExecutor:
    """Run jobs one after another in this process (progress can tick inside a job)."""

    in_process = True

    def map_unordered(
        self, fn: Callable[[Any], Any], args: Sequence[Any]
    ) -> Generator[tuple[int, Any]]:
        for i, arg in enumerate(args):
            yield i, fn(arg)

    def __repr__(self) -> str:
        return "SerialExecutor()"


def _ignore_sigint() -> None:
    """Workers leave Ctrl-C to the main process, which cancels the study and keeps finished
    jobs."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class LocalExecutor:
    """Run jobs in a pool of ``workers`` local processes started from a fork server."""

    in_process = False

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def map_unordered(
        self, fn: Callable[[Any], Any], args: Sequence[Any]
    ) -> Generator[tuple[int, Any]]:
        if self.workers <= 1:
            yield from SerialExecutor().map_unordered(fn, args)
            return
        context = multiprocessing.get_context("forkserver")
        with ProcessPoolExecutor(
            max_workers=self.workers, mp_context=context, initializer=_ignore_sigint
        ) as pool:
            futures = {pool.submit(fn, arg): i for i, arg in enumerate(args)}
            try:
                for fut in as_completed(futures):
                    yield futures[fut], fut.result()
            finally:
                for fut in futures:
                    fut.cancel()

    def __repr__(self) -> str:
        return f"LocalExecutor(workers={self.workers})"


class DaskExecutor:
    """Run jobs on a Dask ``distributed`` cluster.

    Args:
        address: an existing scheduler (``tcp://host:8786``); None starts a ``LocalCluster``
            of ``workers`` processes on the loopback interface, without a dashboard, for the
            duration of the study.
        workers: worker processes of the ``LocalCluster`` (unused with an address).
    """

    in_process = False

    def __init__(self, address: str | None, workers: int | None) -> None:
        self.address = address
        self.workers = workers

    def _cluster(self) -> Any:
        from distributed import LocalCluster

        return LocalCluster(
            n_workers=self.workers or 1,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            # the scheduler's health endpoint: loopback, any free port
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            silence_logs=logging.ERROR,
        )

    def map_unordered(
        self, fn: Callable[[Any], Any], args: Sequence[Any]
    ) -> Generator[tuple[int, Any]]:
        from distributed import Client, as_completed

        logging.getLogger("distributed").setLevel(logging.ERROR)
        cluster = self._cluster() if self.address is None else None
        client = Client(cluster if cluster is not None else self.address, set_as_default=False)
        try:
            futures = client.map(fn, list(args), pure=False)
            index = {fut.key: i for i, fut in enumerate(futures)}
            try:
                for fut in as_completed(futures, loop=client.loop):
                    yield index[fut.key], fut.result()
            finally:
                client.cancel(futures)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()

    def __repr__(self) -> str:
        where = self.address or f"LocalCluster(workers={self.workers})"
        return f"DaskExecutor({where})"


Executor = SerialExecutor | LocalExecutor | DaskExecutor


def make_executor(settings: ExecutorSettings) -> Executor:
    """The executor named by ``settings._target_`` (one of ``EXECUTOR_SETTINGS``)."""
    from hydra.utils import get_class

    cls = get_class(settings.target)
    return cls(**settings.kwargs())


class _OpenPool:
    """A local process pool kept open across calls (``kept_open``)."""

    in_process = False

    def __init__(self, pool: ProcessPoolExecutor, workers: int) -> None:
        self.pool = pool
        self.workers = workers

    def map_unordered(
        self, fn: Callable[[Any], Any], args: Sequence[Any]
    ) -> Generator[tuple[int, Any]]:
        futures = {self.pool.submit(fn, arg): i for i, arg in enumerate(args)}
        try:
            for fut in as_completed(futures):
                yield futures[fut], fut.result()
        finally:
            for fut in futures:
                fut.cancel()

    def __repr__(self) -> str:
        return f"LocalExecutor(workers={self.workers}, kept open)"


class _OpenClient:
    """A Dask client (and its ``LocalCluster``) kept open across calls (``kept_open``)."""

    in_process = False

    def __init__(self, client: Any, name: str) -> None:
        self.client = client
        self.name = name

    def map_unordered(
        self, fn: Callable[[Any], Any], args: Sequence[Any]
    ) -> Generator[tuple[int, Any]]:
        from distributed import as_completed as dask_completed

        futures = self.client.map(fn, list(args), pure=False)
        index = {fut.key: i for i, fut in enumerate(futures)}
        try:
            for fut in dask_completed(futures, loop=self.client.loop):
                yield index[fut.key], fut.result()
        finally:
            self.client.cancel(futures)

    def __repr__(self) -> str:
        return f"{self.name}, kept open"


@contextmanager
def kept_open(executor: Executor) -> Iterator[Any]:
    """The executor with its workers kept between calls of ``map_unordered``, for a study that
    maps many small batches one after another (an optimiser's trials): a local pool or a Dask
    cluster is started once, not per batch (starting one costs seconds: each worker imports the
    engine). Serial and one-worker executors are returned as they are. Results are the same."""
    if isinstance(executor, LocalExecutor) and executor.workers > 1:
        context = multiprocessing.get_context("forkserver")
        pool = ProcessPoolExecutor(
            max_workers=executor.workers, mp_context=context, initializer=_ignore_sigint
        )
        try:
            yield _OpenPool(pool, executor.workers)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    elif isinstance(executor, DaskExecutor):
        from distributed import Client

        logging.getLogger("distributed").setLevel(logging.ERROR)
        cluster = executor._cluster() if executor.address is None else None
        client = Client(cluster if cluster is not None else executor.address, set_as_default=False)
        try:
            yield _OpenClient(client, repr(executor))
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    else:
        yield executor
