"""Scheduled events: changes the scenario makes at a given month (price changes, support and
success capacity, marketing campaigns, onboarding programme quality).

Events apply at the start of their month, before any account moves. The event types are
defined here (the config validator reads ``EVENT_TYPES``); each type's handler changes the
state another mechanism reads: the price book (pricing, billing), the desk's agents (support),
the team's CSMs (success), channel spend (acquisition), a path's quality (onboarding).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from simulator.mechanisms.base import Mechanism

if TYPE_CHECKING:
    from simulator.model import JourneyModel

EVENT_TYPES: tuple[str, ...] = (
    "price_change",
    "support_capacity",
    "success_capacity",
    "campaign",
    "onboarding_quality",
)


def setup(model: JourneyModel) -> None:
    """No campaigns running and no repricing due before the first month."""
    #: Campaigns: (first month, months, channel, extra spend $/month).
    model.campaigns = []
    #: A list-price change this month: billing reprices the book.
    model.repricing_due = False


def channel_spend(model: JourneyModel, channel: str) -> float:
    """This month's spend on a channel ($), campaigns included."""
    spend = model.params.channels[channel][0]
    for start, months, c, extra in model.campaigns:
        if c == channel and start <= model.month < start + months:
            spend += extra
    return spend


def _price_change(model: JourneyModel, v: dict[str, Any]) -> None:
    """A plan's list price changes; with ``grandfather``, today's payers keep their price."""
    plan = model.params.plan_names.index(v["plan"])
    model.price_book.list_price[plan] = v["price"]
    if v["grandfather"]:
        for agent in model.persona_agents:
            pop = agent.pop
            on_plan = agent.paying_mask() & (pop.plan[: agent.aware] == plan)
            pop.price_locked[: agent.aware][on_plan] = True
    model.repricing_due = True


def _support_capacity(model: JourneyModel, v: dict[str, Any]) -> None:
    model.support_desk.agents_on_desk = int(v["agents"])


def _success_capacity(model: JourneyModel, v: dict[str, Any]) -> None:
    model.success_team.csms = int(v["csms"])


def _campaign(model: JourneyModel, v: dict[str, Any]) -> None:
    model.campaigns.append((model.month, int(v["months"]), v["channel"], v["spend"]))


def _onboarding_quality(model: JourneyModel, v: dict[str, Any]) -> None:
    model.onboarding_quality[v["path"]] = v["quality"]


HANDLERS: dict[str, Callable[[JourneyModel, dict[str, Any]], None]] = {
    "price_change": _price_change,
    "support_capacity": _support_capacity,
    "success_capacity": _success_capacity,
    "campaign": _campaign,
    "onboarding_quality": _onboarding_quality,
}


def apply_events(model: JourneyModel) -> None:
    """Apply the events scheduled for this month, in (month, name) order."""
    model.repricing_due = False
    for event in model.params.events:
        if event.month == model.month:
            HANDLERS[event.type](model, event.values)


MECHANISM = Mechanism(
    name="events",
    config=("events.*",),
    population=("price_locked",),
    setup=setup,
)
