"""The dashboard's Solara app: ``solara run simulator.app`` serves ``Page``.

``journey-sim task=dashboard`` (``simulator.experiments.tasks``) writes the composed, validated
scenario to a JSON file and names it in ``JOURNEY_SIM_DASHBOARD``; without it the app serves the
default scenario (``configs/``). The page itself is ``simulator.dashboard.page``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from simulator.dashboard import SCENARIO_ENV, page
from simulator.params import ScenarioParams, params_of, scenario_params


def scenario() -> ScenarioParams:
    """The scenario to serve: the file named by ``JOURNEY_SIM_DASHBOARD``, else the default."""
    path = os.environ.get(SCENARIO_ENV)
    if path:
        return scenario_params(json.loads(Path(path).read_text()))
    from simulator.config import load_config

    return params_of(load_config([]))


Page = page(scenario())
