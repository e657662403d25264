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
import os
import signal
import sys
import threading
from collections import Counter, deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, suppress
from typing import Any, Protocol

from simulator.params.run import ExecutorSettings

#: Attempts of a job on a worker before it is reported as failed (a worker that dies, or an
#: error in the job).
ATTEMPTS = 3

#: Seconds between two looks at the cancellation flag while waiting for workers.
POLL_SECONDS = 0.1

#: Seconds a job of a ``LocalCluster`` started here may wait while the cluster has no worker at
#: all (a worker that died and whose nanny did not bring it back) before it is reported as
#: failed (``JobError``) instead of waited on for ever: Dask's
#: ``distributed.scheduler.no-workers-timeout``, unless that is set in the Dask config (its
#: default, null, reads the same as unset: a user who wants jobs to wait for ever sets a time
#: longer than any run, such as ``1000d``). A
#: remote scheduler (``executor.address``) keeps its own setting (an adaptive cluster scaled to
#: zero may take minutes to start a worker).
NO_WORKER_SECONDS = 60.0


class CancelFlag(Protocol):
    """What an executor reads of ``jobs.Cancellation``."""

    @property
    def requested(self) -> bool: ...

    def check(self) -> None: ...


class Cancelled(Exception):
    """Raised inside a job or an executor when its study is cancelled (a signal's flag)."""


class JobError:
    """Outcome of a job that failed on every attempt: the last error and how many attempts."""

    def __init__(self, error: BaseException, attempts: int) -> None:
        self.error = error
        self.attempts = attempts

    def __str__(self) -> str:
        kind = type(self.error).__name__
        text = str(self.error).strip().splitlines()
        detail = f"{kind}: {text[0]}" if text else kind
        times = "once" if self.attempts == 1 else f"{self.attempts} times"
        return f"failed {times} ({detail})"


class SerialExecutor:
    """Run jobs one after another in this process (progress can tick inside a job).

    A job that raises is not retried (it would raise again: same code, same draws); its error
    is reported (``JobError``) and the next job runs.
    """

    in_process = True

    def map_unordered(
        self, fn: Callable[[Any], Any], args: Sequence[Any], cancel: CancelFlag | None = None
    ) -> Generator[tuple[int, Any]]:
        for i, arg in enumerate(args):
            if cancel is not None:
                cancel.check()
            try:
                result = fn(arg)
            except Cancelled:
                raise
            except Exception as exc:
                yield i, JobError(exc, 1)
                continue
            yield i, result

    def __repr__(self) -> str:
        return "SerialExecutor()"


#: ``prctl`` option: the signal a process gets when its parent dies (Linux).
PR_SET_PDEATHSIG = 1


def die_with_parent() -> bool:
    """Ask Linux to SIGKILL this process when its parent dies (``prctl(PR_SET_PDEATHSIG)``).

    A no-op (False) off Linux or where ``prctl`` cannot be called. Python keeps working on
    whatever it runs; only an orphan is ended, so a SIGKILLed study leaves no process behind.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _release_forkserver() -> None:
    """Close this worker's copy of the fork server's "alive" pipe.

    Python (3.12) gives every process the fork server starts the write end of the pipe on
    which the fork server waits for end of file to exit. After a SIGKILL of the main process,
    the workers' copies kept the fork server alive, the fork server kept the workers alive
    (they wait for jobs on queues whose write ends they hold themselves), and all of them,
    with the resource tracker, lingered as orphans holding the study's stdout and stderr.
    Without that copy the fork server exits when the main process dies, and the workers (whose
    parent it is) follow it through ``die_with_parent``; the resource tracker sees end of file
    on its pipe once they are gone and exits too.
    """
    try:
        from multiprocessing import forkserver
    except ImportError:  # pragma: no cover - Windows
        return
    server = forkserver._forkserver
    fd = getattr(server, "_forkserver_alive_fd", None)
    if fd is None:
        return
    with suppress(OSError):
        os.close(fd)
    server._forkserver_alive_fd = None  # a pool started here would start its own fork server


def _worker_init() -> None:
    """Workers leave Ctrl-C to the main process, which cancels the study and keeps finished
    jobs (a terminal sends Ctrl-C to the whole process group), and never outlive it: each
    dies with its parent, the fork server, which exits when the main process dies (the
    order matters: the fork server cannot exit before this worker's copy of its pipe is
    closed, so it is alive when the death signal is asked for)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if die_with_parent():
        _release_forkserver()


#: The old name of ``_worker_init``.
_ignore_sigint = _worker_init


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """Shut a pool down at once: queued jobs cancelled, running workers terminated (their jobs
    are abandoned: cancelled, or re-run on a new pool).

    A worker terminated while it was sending a result (a result bigger than the pipe's buffer,
    read by a manager thread that a loaded machine had not yet scheduled) leaves the pool's
    manager thread reading the rest of that message for ever: only the workers write to the
    result pipe, but this process holds a copy of its write end too, so no end of file comes,
    and the interpreter's shutdown, which joins that thread, hung (CI: "interrupted (Ctrl-C)"
    printed, then no exit). Closing this process's copy once the workers are gone ends that
    read (the thread sees a broken pool and exits); it is never written to here."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    results = getattr(pool, "_result_queue", None)
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)
    writer = getattr(results, "_writer", None)
    if writer is not None:
        with suppress(OSError):
            writer.close()


def check_main_guard(executor: str) -> None:
    """Refuse to start worker processes from a script that would run again in each of them.

    The local pool's fork server and a Dask ``LocalCluster`` start workers that import the
    ``__main__`` script again (as ``__mp_main__``): a script that calls ``simulate`` at its top
    level, without an ``if __name__ == "__main__":`` guard, would start its study again in every
    worker, each of which dies at start ("bootstrapping phase" tracebacks on stderr, then every
    job failed). One clear error instead, before any process starts. A script is the
    ``__main__`` module with a file that never mentions ``__main__``; ``python -c``, a notebook,
    ``python -m`` and the ``journey-sim`` command are never refused."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if not path or getattr(main, "__spec__", None) is not None:
        return
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return
    if "__main__" in text:
        return
    from simulator.errors import ConfigError

    raise ConfigError(
        [
            (
                "executor",
                f"{executor} starts worker processes that import your script {path} again; "
                'put the study under `if __name__ == "__main__":` (or use executor=serial)',
            )
        ]
    )


class _Pools:
    """A fork-server process pool of ``workers`` workers, started when first needed and
    replaced when a worker dies (``discard``)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pool: ProcessPoolExecutor | None = None

    def get(self) -> ProcessPoolExecutor:
        if self.pool is None:
            check_main_guard("executor=local")
            context = multiprocessing.get_context("forkserver")
            self.pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=context, initializer=_worker_init
            )
        return self.pool

    def discard(self) -> None:
        """Stop the pool (its running jobs abandoned); the next ``get`` starts a new one."""
        if self.pool is not None:
            pool, self.pool = self.pool, None
            _stop_pool(pool)


def _map_on_pools(
    pools: _Pools,
    fn: Callable[[Any], Any],
    args: Sequence[Any],
    cancel: CancelFlag | None = None,
) -> Generator[tuple[int, Any]]:
    """Run ``fn`` over ``args`` on ``pools``' pool, yielding ``(index, result)`` as jobs finish.

    A worker that dies (killed, out of memory) breaks the pool: the pool is replaced and the
    jobs it was running are run again, each alone first, so a job that kills its worker every
    time is found and reported (``JobError``) after ``ATTEMPTS`` attempts while the others
    finish. An error raised by a job is retried the same way. If the map ends early (cancelled,
    or its consumer stops), the pool is stopped with the jobs still running on it.
    """
    todo: deque[int] = deque(range(len(args)))
    tries: Counter[int] = Counter()
    suspects: set[int] = set()  # jobs running when a worker died: re-run alone
    running: dict[Future[Any], int] = {}
    try:
        while todo or running:
            try:
                _submit(pools.get(), fn, args, todo, running, suspects, pools.workers)
            except BrokenProcessPool:
                # A worker died since the last wait: the pool refuses new jobs. The jobs it
                # was running end with BrokenProcessPool below; with none, a new pool now.
                if not running:
                    pools.discard()
                    continue
            done, _ = wait(running, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
            broken = False
            for fut in done:
                i = running.pop(fut)
                try:
                    result = fut.result()
                except BrokenProcessPool:
                    broken = True
                    running[fut] = i  # counted with the others below
                    continue
                except Exception as exc:  # the job raised: retry, then report
                    tries[i] += 1
                    if tries[i] >= ATTEMPTS:
                        yield i, JobError(exc, tries[i])
                    else:
                        todo.append(i)
                    continue
                suspects.discard(i)
                yield i, result
            if cancel is not None:
                cancel.check()
            if broken:
                lost = sorted(running.values())
                running.clear()
                pools.discard()  # a new pool for the rest
                for i in lost:
                    tries[i] += 1
                for i in reversed(lost):
                    if tries[i] >= ATTEMPTS:
                        error = RuntimeError("its worker process died (killed?)")
                        yield i, JobError(error, tries[i])
                    else:
                        suspects.add(i)
                        todo.appendleft(i)
    finally:
        if running:
            pools.discard()


def _submit(
    pool: ProcessPoolExecutor,
    fn: Callable[[Any], Any],
    args: Sequence[Any],
    todo: deque[int],
    running: dict[Future[Any], int],
    suspects: set[int],
    workers: int,
) -> None:
    """Keep one job per worker in flight; a suspect (running when a worker died) runs alone,
    so a second death tells which job it was."""
    while todo and len(running) < workers:
        if any(i in suspects for i in running.values()):
            return
        if todo[0] in suspects and running:
            return
        i = todo[0]
        future = pool.submit(fn, args[i])  # BrokenProcessPool: ``i`` stays to do
        todo.popleft()
        running[future] = i
        if i in suspects:
            return


class LocalExecutor:
    """Run jobs in a pool of ``workers`` local processes started from a fork server.

    A worker that dies (killed, out of memory) breaks the pool: the pool is rebuilt and the
    jobs it was running are run again, each alone first, so a job that kills its worker every
    time is found and reported (``JobError``) after ``ATTEMPTS`` attempts while the others
    finish. An error raised by a job is retried the same way (``_map_on_pools``).
    """

    in_process = False

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def map_unordered(
        self, fn: Callable[[Any], Any], args: Sequence[Any], cancel: CancelFlag | None = None
    ) -> Generator[tuple[int, Any]]:
        if self.workers <= 1:
            yield from SerialExecutor().map_unordered(fn, args, cancel)
            return
        pools = _Pools(self.workers)
        try:
            yield from _map_on_pools(pools, fn, args, cancel)
        finally:
            pools.discard()

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
        import dask
        from distributed import LocalCluster

        key = "distributed.scheduler.no-workers-timeout"
        no_worker = dask.config.get(key, None) or f"{NO_WORKER_SECONDS}s"
        with dask.config.set({key: no_worker}):  # read by the scheduler, started here
            return LocalCluster(
                n_workers=self.workers or 1,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                # the scheduler's health endpoint: loopback, any free port
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                silence_logs=logging.CRITICAL,
            )

    def map_unordered(
        self, fn: Callable[[Any], Any], args: Sequence[Any], cancel: CancelFlag | None = None
    ) -> Generator[tuple[int, Any]]:
        with _dask_client(self) as client:
            yield from _map_on_client(client, fn, args, cancel)

    def __repr__(self) -> str:
        where = self.address or f"LocalCluster(workers={self.workers})"
        return f"DaskExecutor({where})"


Executor = SerialExecutor | LocalExecutor | DaskExecutor


def _map_on_client(
    client: Any, fn: Callable[[Any], Any], args: Sequence[Any], cancel: CancelFlag | None = None
) -> Generator[tuple[int, Any]]:
    """(index, result) of ``fn`` over ``args`` on a Dask client, as they finish.

    Dask re-runs the job of a worker that dies on another worker by itself, up to its
    ``allowed-failures``, then ends it with ``KilledWorker``. Dask counts a death against every
    job the worker held, including one queued behind the job that killed it, so a
    ``KilledWorker`` names a suspect, not a culprit: a suspect runs again alone (nothing else of
    this map in flight), and only a second ``KilledWorker`` then reports it as a ``JobError``
    with the workers it was given in all. A job that raises is retried here, up to
    ``ATTEMPTS``, then reported as a ``JobError`` (never raised). A job the scheduler ends
    because the cluster had no worker left for its ``no-workers-timeout`` (``NoWorkerError``;
    ``NO_WORKER_SECONDS`` on a ``LocalCluster`` started here) is reported at once: a retry would
    wait as long again for a worker that is not coming. ``cancel`` is checked between
    completions; the jobs still running are cancelled on the way out."""
    tries: Counter[int] = Counter()
    finished = threading.Event()
    running: dict[Any, int] = {}
    suspects: deque[int] = deque()  # KilledWorker among others: waiting to run alone
    alone: set[int] = set()  # suspects that have run, or are running, alone

    def submit(i: int) -> None:
        fut = client.submit(fn, args[i], pure=False)
        running[fut] = i
        fut.add_done_callback(lambda _: finished.set())

    for i in range(len(args)):
        submit(i)
    try:
        while running or suspects:
            if suspects and not running:
                i = suspects.popleft()
                alone.add(i)
                submit(i)
            finished.wait(POLL_SECONDS)
            finished.clear()
            for fut in [f for f in running if f.done()]:
                i = running.pop(fut)
                if fut.status == "finished":
                    yield i, fut.result()
                    continue
                if fut.status == "cancelled":
                    continue
                error = fut.exception()
                if type(error).__name__ in ("NoWorkerError", "NoValidWorkerError"):
                    yield i, JobError(_no_worker(error), tries[i] + 1)
                    continue
                if type(error).__name__ == "KilledWorker":
                    tries[i] += _dask_attempts()
                    if i in alone:  # it killed every worker it ran on alone: the culprit
                        yield i, JobError(error, tries[i])
                    else:
                        suspects.append(i)
                    continue
                tries[i] += 1
                if tries[i] >= ATTEMPTS:
                    yield i, JobError(error, tries[i])
                else:
                    submit(i)
            if cancel is not None:
                cancel.check()
    finally:
        client.cancel(list(running))


def _no_worker(error: BaseException) -> RuntimeError:
    """Dask's error for a job that found no worker (its arguments: the task's key and the
    timeout in seconds) as one sentence."""
    timeout = error.args[-1] if error.args else None
    waited = f" for {timeout:g} s" if isinstance(timeout, int | float) else ""
    return RuntimeError(
        f"no Dask worker was left to run it{waited} (a worker died and was not replaced; "
        "distributed.scheduler.no-workers-timeout)"
    )


def _dask_attempts() -> int:
    """How many workers Dask runs a task on before it gives up (``KilledWorker``)."""
    import dask

    return int(dask.config.get("distributed.scheduler.allowed-failures", 3)) + 1


@contextmanager
def _dask_client(executor: DaskExecutor) -> Iterator[Any]:
    """A client of ``executor``'s cluster: its scheduler, or a ``LocalCluster`` started here
    and closed on the way out. A local cluster's workers log only CRITICAL records
    (``QuietWorkerLogs``): a study stopped by Ctrl-C closes the scheduler while workers still
    beat, and a worker's failed heartbeat would print a traceback after the runner's one-line
    report. This process's ``distributed`` loggers are quiet the same way; a job that fails
    still reaches the runner as its exception."""
    from distributed import Client

    from simulator.experiments.dask_quiet import QuietWorkerLogs

    logging.getLogger("distributed").setLevel(logging.CRITICAL)
    if executor.address is None:
        check_main_guard("executor=dask (a LocalCluster)")
    cluster = executor._cluster() if executor.address is None else None
    client = Client(cluster if cluster is not None else executor.address, set_as_default=False)
    try:
        if cluster is not None:
            client.register_plugin(QuietWorkerLogs())
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def make_executor(settings: ExecutorSettings) -> Executor:
    """The executor named by ``settings._target_`` (one of ``EXECUTOR_SETTINGS``)."""
    from hydra.utils import get_class

    cls = get_class(settings.target)
    return cls(**settings.kwargs())


class _OpenPool:
    """A local process pool kept open across calls (``kept_open``), with the plain
    ``LocalExecutor``'s retries: a pool broken by a dead worker is replaced."""

    in_process = False

    def __init__(self, pools: _Pools) -> None:
        self.pools = pools
        self.workers = pools.workers

    def map_unordered(
        self, fn: Callable[[Any], Any], args: Sequence[Any], cancel: CancelFlag | None = None
    ) -> Generator[tuple[int, Any]]:
        return _map_on_pools(self.pools, fn, args, cancel)

    def __repr__(self) -> str:
        return f"LocalExecutor(workers={self.workers}, kept open)"


class _OpenClient:
    """A Dask client (and its ``LocalCluster``) kept open across calls (``kept_open``)."""

    in_process = False

    def __init__(self, client: Any, name: str) -> None:
        self.client = client
        self.name = name

    def map_unordered(
        self, fn: Callable[[Any], Any], args: Sequence[Any], cancel: CancelFlag | None = None
    ) -> Generator[tuple[int, Any]]:
        """As ``DaskExecutor.map_unordered`` (retries, ``JobError``, cancellation), on the
        client kept open."""
        yield from _map_on_client(self.client, fn, args, cancel)

    def __repr__(self) -> str:
        return f"{self.name}, kept open"


@contextmanager
def kept_open(executor: Executor) -> Iterator[Any]:
    """The executor with its workers kept between calls of ``map_unordered``, for a study that
    maps many small batches one after another (an optimiser's trials): a local pool or a Dask
    cluster is started once, not per batch (starting one costs seconds: each worker imports the
    engine). Serial and one-worker executors are returned as they are. Results are the same."""
    if isinstance(executor, LocalExecutor) and executor.workers > 1:
        pools = _Pools(executor.workers)
        try:
            yield _OpenPool(pools)
        finally:
            pools.discard()
    elif isinstance(executor, DaskExecutor):
        with _dask_client(executor) as client:
            yield _OpenClient(client, repr(executor))
    else:
        yield executor
