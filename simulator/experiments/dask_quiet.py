"""A Dask worker plugin that keeps a local cluster's worker processes quiet (imported only
when a study runs on Dask, since it needs ``distributed``)."""

from __future__ import annotations

import logging
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

QUIET_LOGGERS = ("distributed", "asyncio", "tornado")


class QuietWorkerLogs(WorkerPlugin):
    """Set the worker process's ``distributed`` loggers (and those of its event loop,
    ``asyncio`` and ``tornado``) to pass only CRITICAL records."""

    name = "journey-sim-quiet-logs"

    def setup(self, worker: Any) -> None:
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
