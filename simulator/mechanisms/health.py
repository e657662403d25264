"""Health: one score per paying account, 0 = neutral, that the other mechanisms move.

Onboarding (activation or failure), support (SLA breaches, resolved tickets), customer success
(worked accounts) and prices (``price_effect``) move it; each month it drifts back towards
neutral (health × ``health.decay``). Churn reads it: the monthly churn probability is
base × exp(-``health.churn_sensitivity`` × health) (``simulator.mechanisms.churn``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from simulator import kernels
from simulator.mechanisms.base import Mechanism

if TYPE_CHECKING:
    from simulator.model import JourneyModel
    from simulator.params import ScenarioParams


def moves_churn(params: ScenarioParams) -> bool:
    """Health moves churn when churn is sensitive to it; then every mechanism that moves
    health moves churn too."""
    return params.health.churn_sensitivity > 0


def decay_health(model: JourneyModel) -> None:
    """Health drifts back towards neutral: health × decay each month."""
    decay = model.params.health.decay
    if decay >= 1.0:
        return
    for agent in model.persona_agents:
        # Only paying accounts have non-zero health (this builds the month's paying index).
        kernels.decay_health(agent.paying_rows(), agent.pop.health, decay)


MECHANISM = Mechanism(
    name="health",
    config=("health.decay", "health.churn_sensitivity"),
    population=("health",),
    moves_churn=moves_churn,
)
