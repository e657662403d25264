"""The mechanisms of the journey, one module each.

Each module declares what it owns in a module-level ``MECHANISM`` (``base.Mechanism``) and
defines its phase functions; ``simulator.model.STEPS`` orders the phases. Domain constants live
with their mechanism and are collected here: the mechanism switches (``MECHANISMS``, the keys of
the ``mechanisms`` config group), the support channels and the event types.
"""

from __future__ import annotations

from simulator.mechanisms import (
    accounting,
    acquisition,
    advocacy,
    billing,
    churn,
    consideration,
    decision,
    events,
    expansion,
    health,
    onboarding,
    pricing,
    success,
    support,
    touchpoints,
    winback,
)
from simulator.mechanisms.base import Mechanism, Step
from simulator.mechanisms.events import EVENT_TYPES
from simulator.mechanisms.support import SUPPORT_CHANNELS

#: Every mechanism, in set-up order (the price book first: other set-ups may read it).
ALL: tuple[Mechanism, ...] = (
    pricing.MECHANISM,
    events.MECHANISM,
    touchpoints.MECHANISM,
    acquisition.MECHANISM,
    consideration.MECHANISM,
    decision.MECHANISM,
    onboarding.MECHANISM,
    health.MECHANISM,
    support.MECHANISM,
    success.MECHANISM,
    billing.MECHANISM,
    expansion.MECHANISM,
    churn.MECHANISM,
    advocacy.MECHANISM,
    winback.MECHANISM,
    accounting.MECHANISM,
)

#: The mechanism switches (config ``mechanisms.<name>``), as the mechanisms declare them.
MECHANISMS: tuple[str, ...] = tuple(s for m in ALL for s in m.switches)

__all__ = ["ALL", "EVENT_TYPES", "MECHANISMS", "SUPPORT_CHANNELS", "Mechanism", "Step"]
