"""A scenario changes the future, never the past: the state at month 0 (the book, what it pays,
its plans and terms) depends only on ``initial``, and a scenario's prices reach the book by the
rules of a price change (monthly plans in month 1, annual contracts at renewal)."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest
from sizes import size

from simulator import JourneyModel, load_config, simulate
from simulator.config import CONFIG_DIR
from simulator.mechanisms.pricing import PriceBook
from simulator.population import Population

SIZE = size(20_000, 800, 3, 1)
SCENARIOS = sorted(p.stem for p in (CONFIG_DIR / "scenario").glob("*.yaml"))
#: Overrides that change the scenario's prices, discount, programmes and capacity.
LEVERS = [
    "pricing.plans.pro.price=59",
    "pricing.plans.starter.price=9",
    "pricing.annual_discount=0.30",
    "onboarding.paths.self_serve.quality=0.95",
    "support.agents=1",
    "success.csms=0",
    "acquisition.channels.paid_ads.spend=120000",
    "acquisition.channels.outbound.spend=0",
    "acquisition.referral_reward=500",
]


def _month_zero(overrides: list[str]) -> JourneyModel:
    return JourneyModel(load_config([*SIZE, *overrides]), replication=0)


def _plan_names(model: JourneyModel, plan: np.ndarray) -> np.ndarray:
    """Plan codes as plan names ("" for no plan)."""
    names = np.array([*model.params.pricing.ranked, ""])
    return names[plan.astype(np.int64)]  # (code -1, no plan, is the last name)


@pytest.fixture(scope="module")
def baseline() -> JourneyModel:
    return _month_zero([])


@pytest.mark.parametrize(
    "overrides",
    [[f"scenario={s}"] for s in SCENARIOS] + [[lever] for lever in LEVERS] + [LEVERS],
    ids=lambda o: " ".join(o),
)
def test_month_zero_state_is_the_same_whatever_the_scenario(
    baseline: JourneyModel, overrides: list[str]
) -> None:
    model = _month_zero(overrides)
    for f in fields(Population):
        mine, base = getattr(model.population, f.name), getattr(baseline.population, f.name)
        if f.name == "plan":  # plan codes follow rank: a scenario adding a plan renumbers them
            mine, base = _plan_names(model, mine), _plan_names(baseline, base)
        assert np.array_equal(mine, base), f.name
    for a, b in zip(model.persona_agents, baseline.persona_agents, strict=True):
        assert np.array_equal(a.counts, b.counts) and a.mrr_total == b.mrr_total


@pytest.mark.parametrize("overrides", [[f"scenario={s}"] for s in SCENARIOS] + [LEVERS])
def test_month_one_starts_from_the_same_mrr_and_book(overrides: list[str]) -> None:
    base = simulate(load_config(SIZE), progress=False).monthly
    other = simulate(load_config([*SIZE, *overrides]), progress=False).monthly
    first = lambda m: m[m["month"] == 1].set_index("persona")  # noqa: E731
    assert first(other)["mrr_start"].equals(first(base)["mrr_start"])


def test_a_scenario_price_reaches_monthly_accounts_in_month_one_and_annual_at_renewal() -> None:
    """Pro $39 → $59 from month 1: monthly Pro accounts pay the new price after month 1's
    billing; annual Pro accounts keep the book's price until their renewal month."""
    model = JourneyModel(
        load_config([*SIZE, "pricing.plans.pro.price=59", "mechanisms.expansion=false"])
    )
    before = {id(a): a.pop.mrr.copy() for a in model.persona_agents}
    term_end = {id(a): a.pop.term_end.copy() for a in model.persona_agents}
    book = PriceBook.current_book(model.params)
    pro = model.params.pricing.ranked.index("pro")
    model.step()
    moved = kept = 0
    for agent in model.persona_agents:
        pop, old = agent.pop, before[id(agent)]
        stayed = (pop.stage == 4) & (old > 0)  # active in both months (still paying, not new)
        on_pro = stayed & (pop.plan == pro)
        renews_later = term_end[id(agent)] > 1  # renewal month after month 1
        monthly, annual = on_pro & ~pop.annual, on_pro & pop.annual & renews_later
        mult = agent.persona.price_multiplier
        want = model.price_book.account_mrr(pop.plan[monthly], pop.seats[monthly], False, mult)
        np.testing.assert_allclose(pop.mrr[monthly], want, rtol=1e-6)
        np.testing.assert_array_equal(pop.mrr[annual], old[annual])  # not renewed yet
        was = book.account_mrr(pop.plan[annual], pop.seats[annual], True, mult)
        np.testing.assert_allclose(pop.mrr[annual], was, rtol=1e-6)
        moved, kept = moved + int(monthly.sum()), kept + int(annual.sum())
    assert moved > 50 and kept > 50


def test_annual_discount_event_reaches_new_annual_contracts() -> None:
    overrides = [*size(60_000, 0, 4, 1), "mechanisms.expansion=false"]
    event = "+events.push={type: annual_discount, month: 2, discount: 0.40}"
    model = JourneyModel(load_config([*overrides, event]))
    model.step()
    assert model.price_book.annual_discount == pytest.approx(0.17)
    model.step()
    assert model.price_book.annual_discount == pytest.approx(0.40)
    model.run(2)
    for agent in model.persona_agents:
        pop = agent.pop
        new_annual = (pop.cohort_month >= 2) & pop.annual & (pop.mrr > 0)
        mult = agent.persona.price_multiplier
        want = model.price_book.account_mrr(pop.plan[new_annual], pop.seats[new_annual], True, mult)
        np.testing.assert_allclose(pop.mrr[new_annual], want, rtol=1e-6)
