"""Scheduled events: each type changes what it names, in its month and not before."""

from __future__ import annotations

from sizes import TINY

from simulator import JourneyModel, load_config
from simulator.mechanisms.events import channel_spend

EVENTS = [
    "+events.hire={type: support_capacity, month: 2, agents: 2}",
    "+events.csm={type: success_capacity, month: 2, csms: 1}",
    "+events.ads={type: campaign, month: 2, months: 1, channel: paid_ads, spend: 40000}",
    "+events.onb={type: onboarding_quality, month: 2, path: self_serve, quality: 0.9}",
    "+events.cut={type: price_change, month: 2, plan: starter, price: 12, grandfather: true}",
]


def test_events_apply_in_their_month() -> None:
    model = JourneyModel(load_config([*TINY, *EVENTS]))
    base_ads = model.params.acquisition.channels["paid_ads"].spend
    starter = model.params.pricing.ranked.index("starter")
    model.step()
    assert model.support_desk.agents_on_desk != 2 and model.success_team.csms != 1
    assert channel_spend(model, "paid_ads") == base_ads
    assert model.onboarding_quality["self_serve"] != 0.9
    locked_before = int(model.population.price_locked.sum())
    model.step()
    assert model.support_desk.agents_on_desk == 2 and model.success_team.csms == 1
    assert channel_spend(model, "paid_ads") == base_ads + 40000
    assert model.onboarding_quality["self_serve"] == 0.9
    assert model.price_book.list_price[starter] == 12
    pop = model.population
    assert int(pop.price_locked.sum()) > locked_before
    assert (pop.plan[pop.price_locked] == starter).all()
    model.step()
    assert channel_spend(model, "paid_ads") == base_ads  # a one-month campaign
