"""Typed parameters: the config schema (field names are the config keys), its cross-section
rules, the run settings apart from the scenario, and ``replace`` for validated variants without
Hydra.

- ``schema`` / ``persona``: ``ScenarioParams``, every parameter that shapes simulated numbers;
- ``run``: ``RunSettings`` (task, executor, progress, output), how a study runs;
- ``types``: bounded value types; ``rules``: rules across sections;
- ``validate``: ``read_config`` (both parts, one pass), ``params_of``, ``replace``.
"""

from simulator.params.persona import Persona
from simulator.params.run import RUN_KEYS, RunSettings
from simulator.params.schema import ScenarioParams
from simulator.params.validate import (
    params_of,
    read_config,
    replace,
    run_settings,
    scenario_params,
)

__all__ = [
    "RUN_KEYS",
    "Persona",
    "RunSettings",
    "ScenarioParams",
    "params_of",
    "read_config",
    "replace",
    "run_settings",
    "scenario_params",
]
