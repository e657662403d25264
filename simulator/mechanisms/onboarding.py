"""Onboarding: new customers follow their persona's path (self-serve, guided, white-glove) for
``onboarding.paths.<path>.months``, at ``cost`` $ per account; at the end each activates with
probability ``quality`` (health + ``health.activation_bonus``) or fails (health -
``health.activation_failure_penalty``), and becomes active either way. Touchpoints'
``activation`` lift scales ``quality`` (``simulator.mechanisms.touchpoints``).

With ``onboarding`` off, new customers start active at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from simulator.kernels import funnel
from simulator.mechanisms import touchpoints
from simulator.mechanisms.base import Mechanism
from simulator.mechanisms.health import moves_churn
from simulator.stages import Stage

if TYPE_CHECKING:
    from simulator.model import JourneyModel
    from simulator.personas import PersonaAgent

SWITCH = "onboarding"


def setup(model: JourneyModel) -> None:
    """The paths, and each path's activation probability now (events change it)."""
    model.onboarding_paths = model.params.onboarding.paths
    model.onboarding_quality = {n: p.quality for n, p in model.onboarding_paths.items()}


def first_paying_stage(model: JourneyModel) -> Stage:
    """Where a new customer starts: onboarding, or active when onboarding is off."""
    return Stage.ONBOARDING if model.mechanisms[SWITCH] else Stage.ACTIVE


def start_onboarding(agent: PersonaAgent, idx: np.ndarray) -> None:
    """New customers ``idx`` start their path this month: file its end, pay its cost."""
    m = agent.model
    path = m.onboarding_paths[agent.persona.onboarding]
    agent.due["onboarding"].add(m.month + path.months, idx)
    agent.add("onboarding_cost", idx.size * path.cost)


def onboard(model: JourneyModel) -> None:
    """Accounts whose path ends this month (and still pay) activate or fail."""
    h = model.params.health
    bonus, penalty = h.activation_bonus, h.activation_failure_penalty
    for agent in model.persona_agents:
        idx = agent.due["onboarding"].pop(model.month)
        if idx.size == 0:
            continue
        quality = model.onboarding_quality[agent.persona.onboarding]
        quality = touchpoints.lifted(quality, touchpoints.factor(agent, "activation"))
        # Not those that churned meanwhile; health ± in float32.
        idx, activated = funnel.activate(
            idx,
            agent.pop.stage,
            agent.pop.health,
            agent.row_key("onboarding", draw=0),
            np.float32(quality),
            np.float32(bonus),
            np.float32(penalty),
        )
        if idx.size == 0:
            continue
        agent.move(idx, Stage.ACTIVE, Stage.ONBOARDING)
        agent.add("activations", activated)
        agent.add("activation_failures", idx.size - activated)


MECHANISM = Mechanism(
    name="onboarding",
    switch=SWITCH,
    config=(
        "onboarding.paths.*",
        "personas.*.onboarding",
        "health.activation_bonus",
        "health.activation_failure_penalty",
    ),
    population=("stage", "health"),
    streams=("onboarding",),
    calendars=("onboarding",),
    outputs=("onboarding_cost", "activations", "activation_failures"),
    moves_churn=moves_churn,
    setup=setup,
)
