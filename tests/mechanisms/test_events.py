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


# ------------------------------------------------------------ a channel or the knowledge base off
def _monthly(overrides: list[str]):
    from simulator import simulate

    return simulate(load_config([*TINY, "replications=2", *overrides]), progress=False).monthly


def test_a_channel_switched_off_from_month_one_is_the_channel_off_for_the_run() -> None:
    """``channel_spend`` with spend 0 from month 1 is ``acquisition.channels.<c>.spend=0`` (the
    scenario's spend applies from month 1): the same tables, draw for draw."""
    import pandas as pd

    off = _monthly(["acquisition.channels.paid_ads.spend=0"])
    event = _monthly(["+events.off={type: channel_spend, month: 1, channel: paid_ads, spend: 0}"])
    pd.testing.assert_frame_equal(off, event)


def test_a_channel_spend_event_changes_the_spend_from_its_month_and_back() -> None:
    """Off from month 3, on again at 2,500 $/month from month 5, a campaign on top in month 5:
    the spend ``channel_spend`` reads in each month, and the activity table's cost of the
    channel (its spend that month × each persona's share) adds up to it."""
    from simulator.programmes import channel_spend_schedule

    events = [
        "+events.a={type: channel_spend, month: 3, channel: paid_ads, spend: 0}",
        "+events.b={type: channel_spend, month: 5, channel: paid_ads, spend: 2500}",
        "+events.c={type: campaign, month: 5, months: 1, channel: paid_ads, spend: 100}",
    ]
    model = JourneyModel(load_config([*TINY, "months=6", *events]))
    base = model.params.acquisition.channels["paid_ads"].spend
    seen = []
    for _ in range(6):
        model.step()
        seen.append(channel_spend(model, "paid_ads"))
    assert seen == [base, base, 0.0, 0.0, 2600.0, 2500.0]
    schedule = channel_spend_schedule(model.params)
    assert [schedule[(m, "paid_ads")] for m in range(1, 7)] == seen


def test_the_knowledge_base_switched_off_from_month_one_is_the_deflection_off() -> None:
    """``knowledge_base`` with deflection 0 from month 1 is
    ``support.knowledge_base_deflection=0`` for the run: the same tables; and a later event
    changes the desk's deflection in its month."""
    import pandas as pd

    off = _monthly(["support.knowledge_base_deflection=0"])
    event = _monthly(["+events.kb={type: knowledge_base, month: 1, deflection: 0}"])
    pd.testing.assert_frame_equal(off, event)
    model = JourneyModel(
        load_config([*TINY, "+events.kb={type: knowledge_base, month: 2, deflection: 0.5}"])
    )
    before = model.support_desk.deflection
    model.step()
    assert model.support_desk.deflection == before != 0.5
    model.step()
    assert model.support_desk.deflection == 0.5


def test_an_unknown_channel_in_a_channel_spend_event_is_one_error() -> None:
    import pytest

    from simulator.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        load_config([*TINY, "+events.x={type: channel_spend, month: 2, channel: radio, spend: 5}"])
    assert "events.x.channel" in str(err.value) and "radio" in str(err.value)
