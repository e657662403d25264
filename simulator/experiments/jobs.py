"""The job runner under every task: executor, checkpoints, progress, cancellation, resume.

A study is a list of independent jobs (a Monte Carlo replication, a sweep point, a scenario of
a comparison). ``run_jobs`` hands them to an executor, writes each result to its checkpoint as
soon as it arrives, counts progress in the study's own unit (simulated months), and on Ctrl-C or
SIGTERM stops between jobs (between months of a job running in this process) while keeping every
finished job (``Interrupted``). Rerun with the same checkpoint directory and fingerprint, it loads
the finished jobs instead of running them again.

**Cancellation is a flag.** Inside ``cancellation()`` (``run_jobs`` opens one; the CLI opens one
around a whole task, saving included) SIGINT and SIGTERM only record the signal; the runner
honours it at the points it chooses: after a checkpoint is written, between months, while it
waits for workers. A signal therefore never lands inside a write, and it is never swallowed:
the handler is installed even when the process inherited SIGINT ignored (a background job of a
shell without job control, ``nohup``, some CI runners), where Python itself never raises
``KeyboardInterrupt`` (the cause of the old exit 0 after Ctrl-C). A second Ctrl-C says the run
is stopping, a third quits at once.

**Test points.** ``JOURNEY_SIM_TEST_HOOK`` (see ``test_point``) makes the runner signal itself,
pause or fail at a named point, so the tests of interrupts and crashes wait on the process's
state, never on timing.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from simulator.experiments.executors import Cancelled, Executor, JobError

#: File in a checkpoint directory that records what its jobs were computed from.
FINGERPRINT_FILE = "fingerprint.json"

#: Signals that cancel a study (Ctrl-C, and what schedulers and ``kill`` send).
CANCEL_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)

#: Environment variable naming test points (``test_point``); unset in normal use.
TEST_HOOK_ENV = "JOURNEY_SIM_TEST_HOOK"
#: Folder for the markers of ``once`` test points (shared by worker processes).
TEST_HOOK_DIR_ENV = "JOURNEY_SIM_TEST_HOOK_DIR"


def exit_code(signum: int) -> int:
    """The shell's exit code of a process stopped by ``signum``: 130 Ctrl-C, 143 SIGTERM."""
    return 128 + int(signum)


def signal_name(signum: int) -> str:
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped a study; ``results`` holds every job finished before it, by
    index; ``signum`` the signal (``exit_code`` gives the process's exit code)."""

    def __init__(self, results: dict[int, Any], total: int, signum: int = signal.SIGINT) -> None:
        super().__init__(f"interrupted; {len(results)} of {total} jobs finished")
        self.results = results
        self.total = total
        self.signum = int(signum)


class JobsFailed(RuntimeError):
    """Some jobs failed on every attempt; ``results`` holds the jobs that finished, by index,
    ``failures`` one line per failed job (what it was, e.g. its seed, and the error)."""

    def __init__(self, results: dict[int, Any], total: int, failures: list[str]) -> None:
        super().__init__(f"{len(failures)} of {total} jobs failed: " + "; ".join(failures))
        self.results = results
        self.total = total
        self.failures = failures


class CheckpointMismatch(ValueError):
    """A checkpoint directory holds jobs of a different study."""


class Cancellation:
    """The flag SIGINT and SIGTERM set while a ``cancellation()`` block runs."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.count = 0

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def check(self) -> None:
        """Raise ``Cancelled`` if a signal asked the study to stop."""
        if self.signum is not None:
            raise Cancelled(signal_name(self.signum))

    def _handle(self, signum: int, frame: object) -> None:
        self.count += 1
        if self.signum is None:
            self.signum = signum
            return
        if self.count == 2:
            print(
                f"\njourney-sim: {signal_name(signum)} again: stopping after the current write "
                "(once more quits at once, without saving)",
                file=sys.stderr,
                flush=True,
            )
            return
        os._exit(exit_code(self.signum))


_active: Cancellation | None = None


@contextmanager
def cancellation() -> Iterator[Cancellation]:
    """A block in which SIGINT and SIGTERM set a flag instead of raising or killing.

    Nested blocks share the outer block's flag. Outside the main thread the flag is never set
    (signals go to the main thread).
    """
    global _active
    if _active is not None:
        yield _active
        return
    token = Cancellation()
    if threading.current_thread() is not threading.main_thread():
        yield token
        return
    previous = {s: signal.signal(s, token._handle) for s in CANCEL_SIGNALS}
    _active = token
    try:
        yield token
    finally:
        _active = None
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextmanager
def sigint_held(reraise: bool = True) -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block ends, so a file is never left half written.

    A signal that arrives inside the block is delivered when it ends: to the enclosing
    handler (a ``cancellation()`` flag, an enclosing hold), or as ``KeyboardInterrupt`` for
    Ctrl-C (``reraise``; else dropped) and as the signal itself for SIGTERM. Outside the main
    thread this is a plain block.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = {
        s: signal.signal(s, lambda signum, frame: pending.append(signum)) for s in CANCEL_SIGNALS
    }
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    for signum in dict.fromkeys(pending):
        before = previous[signal.Signals(signum)]
        if before is signal.default_int_handler:
            if reraise:
                raise KeyboardInterrupt
        elif callable(before):  # an enclosing hold or cancellation: pass the signal on to it
            before(signum, None)
        elif before == signal.SIG_DFL and reraise:
            signal.raise_signal(signum)


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Write ``path`` through a temporary file and an atomic rename, with Ctrl-C held: a
    reader (or a later run) sees the old file or the whole new one, never a part."""
    tmp = path.with_name(path.name + ".tmp")
    with sigint_held():
        write(tmp)
        test_point("atomic-write", path.name)
        os.replace(tmp, path)


# ---------------------------------------------------------------------- test points
@dataclass(frozen=True)
class _Hook:
    point: str
    at: str
    action: str
    once: bool


def _hooks() -> list[_Hook]:
    text = os.environ.get(TEST_HOOK_ENV, "")
    hooks = []
    for spec in filter(None, (s.strip() for s in text.split(","))):
        parts = spec.split(":")
        if len(parts) not in (3, 4) or (len(parts) == 4 and parts[3] != "once"):
            raise ValueError(f"{TEST_HOOK_ENV}: {spec!r} is not point:at:action[:once]")
        hooks.append(_Hook(parts[0], parts[1], parts[2], len(parts) == 4))
    return hooks


def _first_time(hook: _Hook) -> bool:
    """For a ``once`` hook: True the first time any process reaches it (a marker file)."""
    folder = Path(os.environ.get(TEST_HOOK_DIR_ENV, "."))
    marker = folder / f".hook-{hook.point}-{hook.at}-{hook.action}"
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def test_point(point: str, at: object) -> None:
    """A named point of the runner where a test can act (``$JOURNEY_SIM_TEST_HOOK``).

    The variable holds ``point:at:action[:once]`` items, comma-separated. Points:
    ``replication:<r>`` (a replication starts, in the process that runs it),
    ``checkpoint-write:<n>`` (inside the write of the n-th checkpoint of this run, between the
    temporary file and its rename), ``checkpoint-written:<n>`` (after it), ``save:<file>`` (the
    outputs are being saved, before ``file``), ``atomic-write:<file name>``. Actions:
    ``sigint``, ``sigterm``, ``sigkill`` (this process signals itself), ``pause`` (say
    ``journey-sim test point: paused at <point> <at>`` on stderr and wait for a signal),
    ``fail`` (raise ``RuntimeError``). ``once``: only the first process to get there acts
    (markers in ``$JOURNEY_SIM_TEST_HOOK_DIR``).
    """
    if TEST_HOOK_ENV not in os.environ:
        return
    for hook in _hooks():
        if hook.point != point or hook.at != str(at):
            continue
        if hook.once and not _first_time(hook):
            continue
        if hook.action in ("sigint", "sigterm", "sigkill"):
            os.kill(os.getpid(), getattr(signal, hook.action.upper()))
        elif hook.action == "pause":
            print(f"journey-sim test point: paused at {point} {at}", file=sys.stderr, flush=True)
            token = _active
            while token is None or not token.requested:
                time.sleep(0.01)  # a signal handler runs and sets the flag
        elif hook.action == "fail":
            raise RuntimeError(f"test point {point} {at}: fail")
        else:
            raise ValueError(f"{TEST_HOOK_ENV}: unknown action {hook.action!r}")


def fingerprint(doc: object) -> str:
    """A short stable hash of a JSON-able description of a study's inputs."""
    text = json.dumps(doc, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class TableSet(dict):
    """Several tables of one job, by name (``dict[str, DataFrame]``), the first the main one.

    A ``CheckpointStore`` with ``tables`` writes the others first, as ``<name>-NNNN.parquet``
    beside it, and the main one last under the job's own name (``<prefix>-NNNN.parquet``), so a
    job whose main file is there is whole.
    """


class CheckpointStore:
    """Finished jobs as ``<directory>/<prefix>-NNNN.parquet``, with the fingerprint of the study
    they belong to in ``fingerprint.json``.

    Args:
        directory: where the checkpoints go (created).
        key: the study's fingerprint; files of another fingerprint are never loaded.
        prefix: file name prefix of the jobs (``rep``).
        about: what the study is, for people (``fingerprint.json`` and messages).
        tables: when given, each job is a ``TableSet`` of these tables, the first the main one
            (``<prefix>-NNNN.parquet``), the others beside it (``<name>-NNNN.parquet``); a job
            missing one of them is run again.
    """

    def __init__(
        self,
        directory: str | Path,
        key: str,
        prefix: str = "rep",
        about: dict[str, Any] | None = None,
        tables: tuple[str, ...] = (),
    ) -> None:
        self.directory = Path(directory)
        self.key = key
        self.prefix = prefix
        self.about = dict(about or {})
        self.tables = tables
        self.written = 0

    def path(self, index: int) -> Path:
        return self.directory / f"{self.prefix}-{index:04d}.parquet"

    def _stale(self, parts: list[Path], why: str) -> CheckpointMismatch:
        names = [p.name for p in parts]
        shown = ", ".join(names) if len(names) <= 4 else f"{names[0]} … {names[-1]}"
        return CheckpointMismatch(
            f"{self.directory} holds {len(names)} {self.prefix} file"
            f"{'s' if len(names) != 1 else ''} ({shown}) {why}; they are not merged into this "
            "run: use a new directory, or delete them"
        )

    def open(self) -> dict[int, Path]:
        """Create the directory or check it belongs to this study; the finished jobs in it.

        Temporary files left by a killed run (``*.tmp``) are removed: a checkpoint is either
        whole under its own name or absent.

        Raises:
            CheckpointMismatch: the directory holds jobs of a different study (or of unknown
                origin), named in the message.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        for tmp in self.directory.glob("*.tmp"):
            tmp.unlink(missing_ok=True)
        marker = self.directory / FINGERPRINT_FILE
        parts = sorted(self.directory.glob(f"{self.prefix}-*.parquet"))
        if marker.exists():
            doc = json.loads(marker.read_text())
            found = doc.get("fingerprint")
            if found != self.key:
                what = ", ".join(f"{k} {v}" for k, v in doc.get("about", {}).items())
                raise self._stale(
                    parts or [marker],
                    f"of a different configuration ({what + '; ' if what else ''}"
                    f"fingerprint {found}, this run {self.key})",
                )
        elif parts:
            raise self._stale(parts, "without a record of their configuration")
        else:
            doc = {"fingerprint": self.key, "about": self.about}
            atomic_write(marker, lambda p: p.write_text(json.dumps(doc, default=str)))
        return {int(p.stem.rsplit("-", 1)[1]): p for p in parts}

    def other(self, name: str, index: int) -> Path:
        """Where job ``index``'s table ``name`` (not the main one) is checkpointed."""
        return self.directory / f"{name}-{index:04d}.parquet"

    def read(self, index: int, path: Path) -> pd.DataFrame | TableSet | None:
        """A finished job's table (or ``TableSet``); None when one of its tables is missing."""
        if not self.tables:
            return pd.read_parquet(path)
        out = TableSet({self.tables[0]: pd.read_parquet(path)})
        for name in self.tables[1:]:
            other = self.other(name, index)
            if not other.exists():
                return None
            out[name] = pd.read_parquet(other)
        return out

    def write(self, index: int, frame: pd.DataFrame | TableSet) -> None:
        """Write job ``index``'s table atomically (a signal waits for the rename); a
        ``TableSet``'s other tables first, its main table last."""
        self.written += 1
        n = self.written
        if isinstance(frame, TableSet):
            main, *others = self.tables
            for name in others:
                table = frame[name]
                atomic_write(self.other(name, index), lambda p, t=table: t.to_parquet(p))
            frame = frame[main]

        def write(path: Path) -> None:
            frame.to_parquet(path)
            test_point("checkpoint-write", n)

        atomic_write(self.path(index), write)
        test_point("checkpoint-written", n)


def progress_enabled(setting: bool | str) -> bool:
    """``progress`` setting → show a bar? ``auto``: on a terminal, quiet in CI."""
    if isinstance(setting, bool):
        return setting
    return sys.stderr.isatty() and not os.environ.get("CI")


def _takes_tick(fn: Callable[..., Any]) -> bool:
    try:
        return "on_tick" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


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
    describe: Callable[[Any], str] | None = None,
) -> list[pd.DataFrame]:
    """Run ``fn(arg)`` for every argument; the results in argument order.

    Args:
        fn: a module-level function (it may be pickled to a worker); when it runs in this
            process and takes ``on_tick``, it is called with one, to be called after each unit
            (a simulated month): it counts progress and stops the job if the study is
            cancelled.
        args: one argument per job.
        executor: where jobs run (``simulator.experiments.executors``); a worker that dies
            or a job that raises is retried (``executors.ATTEMPTS`` attempts).
        store: checkpoints; finished jobs found there are loaded, not run again.
        keys: each job's checkpoint number (default: its index in ``args``).
        progress: show a progress bar of ``units`` per job.
        describe: a job's argument → what it is, for messages (default: ``job <index>``).

    Raises:
        Interrupted: on SIGINT or SIGTERM, with every job finished so far (those loaded
            included), by index; raised after the current checkpoint write, never in it.
        JobsFailed: jobs failed on every attempt (the others ran to the end), with the
            finished ones.
    """
    keys = list(range(len(args))) if keys is None else list(keys)
    describe = describe or (lambda arg: "a job")
    with cancellation() as cancel:
        results: dict[int, pd.DataFrame] = {}
        if store is not None:
            found = store.open()
            for index, key in enumerate(keys):
                if key in found:
                    done = store.read(key, found[key])
                    if done is not None:
                        results[index] = done
        pending = [i for i in range(len(args)) if i not in results]
        failures: list[str] = []
        errors: list[BaseException] = []
        bar = tqdm(
            total=len(args) * units,
            initial=len(results) * units,
            desc=desc,
            unit=unit,
            disable=not progress,
            leave=False,
        )
        ticks_inside = executor.in_process and _takes_tick(fn)

        def tick() -> None:
            bar.update(1)
            cancel.check()

        call = functools.partial(fn, on_tick=tick) if ticks_inside else fn
        try:
            cancel.check()
            todo = [args[i] for i in pending]
            if "cancel" in inspect.signature(executor.map_unordered).parameters:
                jobs = executor.map_unordered(call, todo, cancel=cancel)
            else:  # an executor of the older protocol (tests' spies)
                jobs = executor.map_unordered(call, todo)
            try:
                for j, outcome in jobs:
                    index = pending[j]
                    if isinstance(outcome, JobError):
                        failures.append(f"{describe(args[index])}: {outcome}")
                        errors.append(outcome.error)
                        continue
                    if store is not None:
                        store.write(keys[index], outcome)
                    results[index] = outcome
                    if not ticks_inside:
                        bar.update(units)
                    cancel.check()
            finally:
                jobs.close()  # cancel queued jobs, stop workers
        except Cancelled:
            assert cancel.signum is not None
            raise Interrupted(results, len(args), cancel.signum) from None
        except KeyboardInterrupt:  # raised by code of the caller's (no signal reaches here)
            raise Interrupted(results, len(args), cancel.signum or signal.SIGINT) from None
        finally:
            bar.close()
        if failures:
            raise JobsFailed(results, len(args), failures) from errors[0]
        return [results[i] for i in range(len(args))]
