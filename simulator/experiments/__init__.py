"""The experiment layer: every study runs through one job runner.

- ``settings``: ``RunSettings`` (task, executor, progress, output), apart from the scenario;
- ``executors``: serial, a local process pool, or a Dask ``distributed`` cluster;
- ``jobs``: the job runner (checkpoints, progress, Ctrl-C keeps finished jobs, resume);
- ``montecarlo``: ``simulate`` and ``SimulationResult``;
- ``tasks``: the tasks of ``journey-sim task=<name>``; ``replay`` and ``sweep`` behind them.
"""

from simulator.experiments.montecarlo import SimulationResult, load_checkpoint, simulate
from simulator.params.run import RUN_KEYS, RunSettings

__all__ = ["RUN_KEYS", "RunSettings", "SimulationResult", "load_checkpoint", "simulate"]
