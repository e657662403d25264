"""Win-back (the ``reactivation`` switch): churned customers come back within the window, on
their last plan, billed monthly at today's list price less the win-back offer's discount.

A book whose every customer churns as soon as it can (churn mean 1: monthly customers in
month 1, annual ones at their renewal) isolates the law of the first return.

Known answers:

* an account that churned in month c first comes back in month c + k with probability
  r (1 - r)^(k - 1), k = 1..window, and never with (1 - r)^window: none in the month it
  churned, none after the window;
* reactivation MRR = Σ today's list price × seats × the persona's price multiplier × (1 -
  offer discount), with no annual discount (a price change in month 3 reaches the returners,
  grandfathering or not); each return costs ``winback.cost``;
* a returner's MRR is list × (1 - discount) at the end of the month it returns and of the next
  ``discount_months`` - 1 months, then list (a price change in between: the new list, less the
  discount while the offer runs; grandfathered: the locked list); the step up is reactivation MRR.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sizes import MARKET_MIX, NO_PIPELINE, size

from simulator import JourneyModel, load_config
from simulator.stages import Stage

P_MIN = 1e-4
PERSONAS = ("solo", "smb", "midmarket", "enterprise")
RATE, WINDOW = 0.12, 5
PRICE_MONTH, NEW_PRICES = 3, {"starter": 19.0, "pro": 59.0}
TERMS = {
    "monthly": ["mechanisms.annual_contracts=false"],
    "annual": ["mechanisms.annual_contracts=true", "initial.annual_share=1.0"],
}


def _overrides(terms: str, months: int) -> list[str]:
    return [
        *size(12_000, 6_000, months, 1),
        "seed=4321",
        MARKET_MIX,  # the book is half the market
        NO_PIPELINE,  # only the book churns and comes back
        "mechanisms=all_off",
        "mechanisms.reactivation=true",
        *TERMS[terms],
        "health.churn_sensitivity=0.0",
        *(f"personas.{k}.churn={{mean: 1.0, concentration: null}}" for k in PERSONAS),
        *(f"personas.{k}.winback={{rate: {RATE}, window_months: {WINDOW}}}" for k in PERSONAS),
        *(
            f"+events.rise_{plan}={{type: price_change, month: {PRICE_MONTH}, plan: {plan}, "
            f"price: {price}, grandfather: true}}"
            for plan, price in NEW_PRICES.items()
        ),
    ]


def _list_prices(cfg, month: int) -> np.ndarray:
    """List prices by plan rank in ``month`` (the price change applies from its month)."""
    plans = sorted(cfg.pricing.plans.items(), key=lambda kv: kv[1].rank)
    return np.array(
        [NEW_PRICES.get(n, s.price) if month >= PRICE_MONTH else s.price for n, s in plans]
    )


@pytest.mark.parametrize("terms", list(TERMS))
def test_first_return_is_geometric_within_the_window_at_todays_price(terms: str) -> None:
    months = 12 + WINDOW + 2 if terms == "annual" else 1 + WINDOW + 4
    cfg = load_config(_overrides(terms, months))
    model = JourneyModel(cfg)
    pop = model.population
    book = np.flatnonzero(pop.stage == Stage.ACTIVE)
    assert book.size == 6_000
    assert pop.annual[book].all() == (terms == "annual")
    assert all(s.per_seat for s in cfg.pricing.plans.values())
    multiplier = np.empty(pop.stage.size)
    for agent in model.persona_agents:
        multiplier[agent.rows] = agent.persona.price_multiplier
    churn_month = np.full(pop.stage.size, -1)
    first_back = np.full(pop.stage.size, -1)
    for _ in range(months):
        model.step()
        t = model.month
        now_churned = (pop.stage == Stage.CHURNED) & (pop.stage_month == t) & (churn_month < 0)
        churn_month[now_churned] = t
        back = np.flatnonzero((pop.stage == Stage.ACTIVE) & (pop.stage_month == t))
        assert (churn_month[back] >= 0).all() and (churn_month[back] < t).all()
        # Billed monthly at today's list price less the offer, whatever they paid before.
        assert not pop.annual[back].any() and not pop.price_locked[back].any()
        expect = _list_prices(cfg, t)[pop.plan[back]] * pop.seats[back] * multiplier[back]
        expect *= 1 - cfg.winback.discount
        np.testing.assert_allclose(pop.mrr[back], expect, rtol=1e-6)
        reactivated = sum(a.flows.get("reactivated_customers", 0.0) for a in model.persona_agents)
        mrr = sum(a.flows.get("reactivation_mrr", 0.0) for a in model.persona_agents)
        cost = sum(a.flows.get("winback_cost", 0.0) for a in model.persona_agents)
        assert reactivated == back.size
        assert mrr == pytest.approx(expect.sum(), rel=1e-6)  # they churn before offers end
        assert cost == pytest.approx(back.size * cfg.winback.cost)
        first = back[first_back[back] < 0]
        first_back[first] = t
    assert cfg.winback.discount > 0 and cfg.winback.cost > 0  # the default offer
    assert (churn_month[book] >= 0).all()  # every customer churned at least once
    assert (churn_month[book] <= months - WINDOW - 1).all()  # ... early enough to be followed
    wait = np.where(first_back[book] >= 0, first_back[book] - churn_month[book], 0)
    assert wait.min() >= 0 and wait.max() <= WINDOW  # not the same month, never after
    observed = np.bincount(wait, minlength=WINDOW + 1)  # 0: never came back
    k = np.arange(1, WINDOW + 1)
    law = np.concatenate([[(1 - RATE) ** WINDOW], RATE * (1 - RATE) ** (k - 1)])
    p = stats.chisquare(observed, book.size * law).pvalue
    assert p > P_MIN, f"first returns off the truncated geometric law, p={p:.2g}"
    # Power: the same check rejects a rate a quarter lower.
    r = 0.75 * RATE
    slower = np.concatenate([[(1 - r) ** WINDOW], r * (1 - r) ** (k - 1)])
    assert stats.chisquare(observed, book.size * slower).pvalue < 1e-6
    # The returners came back on a mix of plans, some of them after the price change.
    assert (first_back[book] >= PRICE_MONTH).sum() > 100


def test_no_returns_with_reactivation_off() -> None:
    overrides = [*_overrides("monthly", 8), "mechanisms.reactivation=false"]
    model = JourneyModel(load_config(overrides))
    model.run()
    assert all(r["reactivated_customers"] == 0 for r in model.records)
    assert model.stage_counts["churned"] == 6_000


DISCOUNT, OFFER_MONTHS, COST = 0.3, 3, 80.0


@pytest.mark.parametrize("grandfather", [False, True])
def test_offer_discounts_for_its_months_then_list(grandfather: bool) -> None:
    """Customers churn in month 1 and, once back, stay (base churn 0 from month 2): each
    returner's MRR at the end of month t is list(t) × (1 - discount) while t < return month +
    discount_months, then list(t); with grandfathering, those paying at the price change keep
    the list they were locked at."""
    months = 1 + WINDOW + OFFER_MONTHS + 1
    overrides = [
        *_overrides("monthly", months),
        f"winback={{discount: {DISCOUNT}, discount_months: {OFFER_MONTHS}, cost: {COST}}}",
    ]
    if not grandfather:
        overrides = [o.replace("grandfather: true", "grandfather: false") for o in overrides]
    cfg = load_config(overrides)
    model = JourneyModel(cfg)
    pop = model.population
    multiplier = np.empty(pop.stage.size)
    for agent in model.persona_agents:
        multiplier[agent.rows] = agent.persona.price_multiplier
    model.step()
    assert model.stage_counts["churned"] == 6_000
    pop.base_churn[:] = 0.0  # returners stay
    back_month = np.full(pop.stage.size, -1)
    locked_list = np.full(pop.stage.size, np.nan)  # list at the price change, if grandfathered
    seen_on, seen_after = 0, 0
    for _ in range(months - 1):
        mrr_before = pop.mrr.astype(np.float64).copy()
        model.step()
        t = model.month
        back = (pop.stage == Stage.ACTIVE) & (pop.stage_month == t) & (back_month < 0)
        back_month[back] = t
        paying = back_month > 0
        if grandfather and t == PRICE_MONTH:
            ranked = [n for n, _ in sorted(cfg.pricing.plans.items(), key=lambda kv: kv[1].rank)]
            changed = np.isin(pop.plan, [ranked.index(n) for n in NEW_PRICES])
            was = paying & (back_month < t) & changed  # grandfathered on the changed plans
            locked_list[was] = _list_prices(cfg, t - 1)[pop.plan[was]]
        price = (
            np.where(np.isnan(locked_list), _list_prices(cfg, t)[pop.plan], locked_list)
            * pop.seats
            * multiplier
        )
        on_offer = paying & (t < back_month + OFFER_MONTHS)
        expect = np.where(on_offer, price * (1 - DISCOUNT), price)
        np.testing.assert_allclose(pop.mrr[paying], expect[paying], rtol=1e-5)
        assert (pop.price_locked[paying] == ~np.isnan(locked_list[paying])).all()
        # Reactivation MRR: the returners' discounted MRR plus the step up of offers ending.
        ending = paying & (back_month + OFFER_MONTHS == t)
        flows = {k: sum(a.flows.get(k, 0.0) for a in model.persona_agents)
                 for k in ("reactivation_mrr", "winback_cost", "expansion_mrr")}  # fmt: skip
        step_up = (pop.mrr[ending] - mrr_before[ending]).sum()
        assert flows["reactivation_mrr"] == pytest.approx(pop.mrr[back].sum() + step_up, rel=1e-5)
        assert flows["winback_cost"] == pytest.approx(back.sum() * COST)
        seen_on += int(on_offer.sum())
        seen_after += int((paying & ~on_offer).sum())
    assert seen_on > 1000 and seen_after > 1000
    if grandfather:
        assert np.isfinite(locked_list).sum() > 100
