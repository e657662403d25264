"""A Dask worker plugin that keeps a local cluster's worker processes quiet (imported only
when a study runs on Dask, since it needs ``distributed``)."""

from __future__ import annotations

import logging
import sys
from typing import Any

from distributed.core import Status
from distributed.diagnostics.plugin import WorkerPlugin

QUIET_LOGGERS = ("distributed", "asyncio", "tornado")

#: A worker in these states is shutting down: what it prints then is not the study's.
CLOSING = frozenset({Status.closing, Status.closing_gracefully, Status.closed, Status.failed})


class QuietWorkerLogs(WorkerPlugin):
    """Set the worker process's ``distributed`` loggers (and those of its event loop,
    ``asyncio`` and ``tornado``) to pass only CRITICAL records, and its ``sys.stderr`` to one
    that says nothing once the worker is closing (``StderrUntilClosing``)."""

    name = "journey-sim-quiet-logs"

    def setup(self, worker: Any) -> None:
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
        if not isinstance(sys.stderr, StderrUntilClosing):
            sys.stderr = StderrUntilClosing(sys.stderr, worker)


class StderrUntilClosing:
    """A worker process's ``sys.stderr``: what is written goes to ``stream`` while ``worker``
    runs and nowhere once it is closing. A worker closed while its cluster shuts down can fail
    to tell its nanny (``RuntimeError: ConnectionPool is closed``, raised out of the worker's
    ``close``); ``multiprocessing`` then prints that traceback as the process ends, into the
    terminal of the study, which has already reported every job (a clean-clone CI run failed
    on it once: the CLI must print no traceback). Job errors reach the study as exceptions
    either way."""

    def __init__(self, stream: Any, worker: Any) -> None:
        self.stream = stream
        self.worker = worker

    def write(self, text: str) -> int:
        if self.worker.status in CLOSING:
            return len(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:  # fileno, isatty, encoding, ...
        return getattr(self.stream, name)
