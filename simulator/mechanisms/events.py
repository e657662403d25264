"""Scheduled events: changes the scenario makes at a given month (price changes, the annual
discount, promotions, a persona's decision path, support and success capacity, marketing
campaigns, a channel's spend, the knowledge base's deflection, onboarding programme quality,
touchpoints switched on or off or their reach).

Events apply at the start of their month, before any account moves, in (month, name) order.
Each event type is defined here once: its config section (``events.<name>``, keyed by ``type``)
and its handler, which changes the state another mechanism reads: the price book (pricing,
billing), the desk's agents and deflection (support), the team's CSMs (success), channel spend
(acquisition), a path's quality (onboarding), a touchpoint's reach (touchpoints). Adding an
event type is one model and one handler below.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from simulator.bounds import Money, Name, Number, OneOf, Prob, Section, Switch, Whole
from simulator.calendar import Calendar
from simulator.mechanisms import touchpoints
from simulator.mechanisms.base import Mechanism
from simulator.mechanisms.pricing import PriceBook, Promo
from simulator.stages import DecisionPath

if TYPE_CHECKING:
    from simulator.model import JourneyModel


# ---------------------------------------------------------------------------- config sections
class PriceChange(Section):
    """A plan's list price changes (``grandfather``: today's payers keep their price)."""

    type: Literal["price_change"]
    month: Whole(1, 100_000)
    plan: Name
    price: Money  # new list price, $ per month (per seat when the plan is per seat)
    grandfather: Switch


class SupportCapacity(Section):
    """The support desk's agents change."""

    type: Literal["support_capacity"]
    month: Whole(1, 100_000)
    agents: Whole(0, 1_000_000)


class SuccessCapacity(Section):
    """The customer-success team's CSMs change."""

    type: Literal["success_capacity"]
    month: Whole(1, 100_000)
    csms: Whole(0, 1_000_000)


class Campaign(Section):
    """Extra spend on an acquisition channel for some months."""

    type: Literal["campaign"]
    month: Whole(1, 100_000)
    months: Whole(1, 100_000)
    channel: Name
    spend: Money  # extra $ per month


class ChannelSpend(Section):
    """An acquisition channel's monthly spend changes from ``month`` on (0 switches the
    channel off; a later event switches it on again); ``campaign`` events still add theirs."""

    type: Literal["channel_spend"]
    month: Whole(1, 100_000)
    channel: Name
    spend: Money  # the channel's new base spend, $ per month


class KnowledgeBase(Section):
    """The knowledge base's deflection share changes from ``month`` on (0 switches it off):
    the share of would-be tickets it answers (``support.knowledge_base_deflection``)."""

    type: Literal["knowledge_base"]
    month: Whole(1, 100_000)
    deflection: Prob


class AnnualDiscount(Section):
    """The discount for annual billing changes: annual contracts signed from ``month`` on get
    it, and existing annual contracts at their renewal (term end); monthly plans are not
    affected."""

    type: Literal["annual_discount"]
    month: Whole(1, 100_000)
    discount: Prob


class PromoEvent(Section):
    """A promotion: new customers who start paying monthly in months ``month`` … ``month`` +
    ``months`` - 1 pay list × (1 - ``discount``) for ``discount_months`` months, then list
    (``simulator.mechanisms.pricing``, module docstring: the step-up and its churn effect)."""

    type: Literal["promo"]
    month: Whole(1, 100_000)
    months: Whole(1, 100_000)  # months the promo is offered to new customers
    discount: Number(0, 0.95)  # share off the list price during the promo
    discount_months: Whole(1, 1200)  # months each promo customer pays the promo price


class DecisionChange(Section):
    """A persona's decision stage changes from ``month`` on (e.g. a freemium launch, a trial
    that starts asking for a card): the decision path (``personas.<name>.decision.path``),
    its months, whether a trial requires a card, and the free tier's value and monthly drop;
    null keeps the persona's own value.
    Prospects already in a trial or sales cycle decide at its end by the new rules (after a
    freemium launch, those who do not buy stay on the free tier); prospects entering the
    decision from ``month`` on follow the new path and length."""

    type: Literal["decision_change"]
    month: Whole(1, 100_000)
    persona: Name
    decision_path: OneOf(*DecisionPath) | None
    decision_months: Whole(0, 24) | None  # trial / sales cycle length; freemium: between decisions
    card_required: Switch | None
    free_value: Number(-20, 20) | None  # freemium: utility of staying on the free tier
    free_drop: Prob | None  # freemium: monthly probability a free user leaves


class TouchpointChange(Section):
    """A touchpoint is switched on or off (``enabled``), or its reach by persona changes
    (``reach``, merged into the touchpoint's own), from ``month`` on; null keeps what it was
    (``simulator.mechanisms.touchpoints``)."""

    type: Literal["touchpoint"]
    month: Whole(1, 100_000)
    touchpoint: Name
    enabled: Switch | None
    reach: dict[str, Prob] | None  # share of the stage's accounts reached a month, by persona


class OnboardingQuality(Section):
    """An onboarding path's activation probability changes."""

    type: Literal["onboarding_quality"]
    month: Whole(1, 100_000)
    path: Name
    quality: Prob


#: One scheduled event (``events.<name>``), told apart by its ``type``.
Event = Annotated[
    PriceChange
    | AnnualDiscount
    | SupportCapacity
    | SuccessCapacity
    | Campaign
    | ChannelSpend
    | KnowledgeBase
    | OnboardingQuality
    | PromoEvent
    | DecisionChange
    | TouchpointChange,
    Field(discriminator="type"),
]


# ---------------------------------------------------------------------------- state and handlers
def setup(model: JourneyModel) -> None:
    """The scenario's events in order; no campaigns running and no repricing due before the
    first month."""
    model.event_schedule = scheduled(model)
    #: Campaigns: (first month, months, channel, extra spend $/month).
    model.campaigns = []
    #: Channels whose base spend a ``channel_spend`` event changed: channel -> $/month.
    model.channel_base = {}
    #: A list-price change this month: billing reprices the book.
    model.repricing_due = False
    #: The scenario's list prices differ from the book's own (``initial.prices``): they reach
    #: the book in month 1 by the rules of a price change (monthly plans now, annual contracts
    #: at renewal, never grandfathered ones).
    model.scenario_reprices_book = model.price_book.differs_from(
        PriceBook.current_book(model.params)
    )


def channel_spend(model: JourneyModel, channel: str) -> float:
    """This month's spend on a channel ($), campaigns included: its base spend (the config's,
    or the last ``channel_spend`` event's) plus the campaigns running."""
    spend = model.channel_base.get(channel, model.params.acquisition.channels[channel].spend)
    for start, months, c, extra in model.campaigns:
        if c == channel and start <= model.month < start + months:
            spend += extra
    return spend


def _price_change(model: JourneyModel, event: PriceChange) -> None:
    plan = model.params.pricing.ranked.index(event.plan)
    model.price_book.set_price(plan, event.price)
    if event.grandfather:
        for agent in model.persona_agents:
            pop = agent.pop
            on_plan = agent.paying_mask() & (pop.plan[: agent.aware] == plan)
            pop.price_locked[: agent.aware][on_plan] = True
    model.repricing_due = True


def _annual_discount(model: JourneyModel, event: AnnualDiscount) -> None:
    model.price_book.annual_discount = event.discount


def _promo(model: JourneyModel, event: PromoEvent) -> None:
    calendars = [Calendar() for _ in model.persona_agents]
    name = next(k for k, v in model.params.events.items() if v is event)
    model.promos.append(
        Promo(name, event.month, event.months, event.discount, event.discount_months, calendars)
    )


def _decision_change(model: JourneyModel, event: DecisionChange) -> None:
    changes = {
        "path": event.decision_path,
        "months": event.decision_months,
        "card_required": event.card_required,
        "free_value": event.free_value,
        "free_drop": event.free_drop,
    }
    for agent in model.persona_agents:
        if agent.persona.name != event.persona:
            continue
        p = agent.persona
        decision = p.decision.model_copy(update={k: v for k, v in changes.items() if v is not None})
        agent.persona = p.model_copy(update={"decision": decision})


def _support_capacity(model: JourneyModel, event: SupportCapacity) -> None:
    model.support_desk.agents_on_desk = event.agents


def _success_capacity(model: JourneyModel, event: SuccessCapacity) -> None:
    model.success_team.csms = event.csms


def _campaign(model: JourneyModel, event: Campaign) -> None:
    model.campaigns.append((model.month, event.months, event.channel, event.spend))


def _channel_spend(model: JourneyModel, event: ChannelSpend) -> None:
    model.channel_base[event.channel] = event.spend


def _knowledge_base(model: JourneyModel, event: KnowledgeBase) -> None:
    model.support_desk.deflection = event.deflection


def base_spend_schedule(params: Any) -> dict[tuple[int, str], float]:
    """(month, channel) -> the channel's base spend that month ($), as ``channel_spend`` has it
    without campaigns: the config's, or the last ``channel_spend`` event's up to that month."""
    changes = [e for e in scheduled_events(params) if e.type == "channel_spend"]
    out = {}
    for c, ch in params.acquisition.channels.items():
        spend = float(ch.spend)
        mine = [e for e in changes if e.channel == c]
        for month in range(1, params.months + 1):
            for e in mine:
                if e.month == month:
                    spend = float(e.spend)
            out[(month, c)] = spend
    return out


def deflection_schedule(params: Any) -> dict[int, float]:
    """month -> the knowledge base's deflection share that month (``knowledge_base`` events
    applied in order)."""
    changes = [e for e in scheduled_events(params) if e.type == "knowledge_base"]
    share = float(params.support.knowledge_base_deflection)
    out = {}
    for month in range(1, params.months + 1):
        for e in changes:
            if e.month == month:
                share = float(e.deflection)
        out[month] = share
    return out


def _touchpoint(model: JourneyModel, event: TouchpointChange) -> None:
    tp = model.params.touchpoints[event.touchpoint]
    model.touchpoint_state[event.touchpoint] = touchpoints.apply_change(
        tp, model.touchpoint_state, event
    )
    touchpoints.refresh(model)


def _onboarding_quality(model: JourneyModel, event: OnboardingQuality) -> None:
    model.onboarding_quality[event.path] = event.quality


HANDLERS: dict[str, Callable[[JourneyModel, Any], None]] = {
    "price_change": _price_change,
    "annual_discount": _annual_discount,
    "support_capacity": _support_capacity,
    "success_capacity": _success_capacity,
    "campaign": _campaign,
    "channel_spend": _channel_spend,
    "knowledge_base": _knowledge_base,
    "onboarding_quality": _onboarding_quality,
    "promo": _promo,
    "decision_change": _decision_change,
    "touchpoint": _touchpoint,
}

#: The event types (``events.<name>.type``).
EVENT_TYPES: tuple[str, ...] = tuple(HANDLERS)


def scheduled(model: JourneyModel) -> list[Any]:
    """The scenario's events in the order they apply: by month, then by name."""
    return scheduled_events(model.params)


def scheduled_events(params: Any) -> list[Any]:
    """``params.events`` in the order they apply: by month, then by name."""
    items = sorted(params.events.items(), key=lambda kv: (kv[1].month, kv[0]))
    return [event for _, event in items]


def apply_events(model: JourneyModel) -> None:
    """Apply the events scheduled for this month, in (month, name) order."""
    model.repricing_due = model.month == 1 and model.scenario_reprices_book
    for event in model.event_schedule:
        if event.month == model.month:
            HANDLERS[event.type](model, event)
    if model.promos:  # the decision weighs a running promotion (``PriceBook.promo_factor``)
        running = [p for p in model.promos if p.running(model.month)]
        model.price_book.promo_factor = (
            1.0 - running[0].discount * min(running[0].discount_months, 12) / 12 if running else 1.0
        )


MECHANISM = Mechanism(
    name="events",
    config=("events.*",),
    population=("price_locked",),
    setup=setup,
)
