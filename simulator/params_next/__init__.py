"""Typed parameters: the config schema (field names are the config keys), its rules, and
``replace`` for validated variants without Hydra."""

from simulator.params_next.persona import Persona
from simulator.params_next.schema import ScenarioParams
from simulator.params_next.validate import replace, scenario_params

__all__ = ["Persona", "ScenarioParams", "replace", "scenario_params"]
