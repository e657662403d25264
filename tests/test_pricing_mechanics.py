"""Pricing mechanics with known answers (``simulator.mechanisms.pricing``, ``billing``,
``events``):

* raising a tier's price never raises that tier's conversion in expectation: the choice model
  for every persona and seat count, and paired simulations (common random numbers);
* a price rise: grandfathered customers keep their price; the others see it at their next
  bill (monthly) or at their term end (annual), never before;
* the annual-discount event: new annual contracts get it at once, existing ones at renewal;
* per-seat and per-account plans bill price × seats and price;
* a usage-based plan: starting MRR price × units × seats, then × (1 + growth) a month over
  the growth months, annual contracts flat; a price change scales usage accounts by the ratio;
  the decision weighs the first year's mean bill;
* a promotion: promo months billed at the discount, the step-up to list after them, annual
  and later buyers at list, the decision weighing the first year's mean bill; the promo
  cohort churns more at the step-up than without the promo;
* a fourth tier (absent from the book) gets buyers and upgrades from the rank below;
* a freemium launch and a card-required trial by event;
* plan ranks that disagree with prices: one warning line, once, also after a price event;
* bad pricing input refused by key; every shipped pricing scenario runs.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from sizes import TINY, size

from simulator import ConfigError, JourneyModel, load_config, simulate
from simulator.mechanisms.pricing import (
    PriceBook,
    PricingWarning,
    choice_probabilities,
    expected_usage_multiple,
    rank_warnings,
)
from simulator.params import params_of
from simulator.stages import Stage, is_paying

ROOT = Path(__file__).resolve().parents[1]
#: A small market in which each mechanism acts (30,000 accounts, 900 customers).
SMALL = size(30_000, 900, 18, 1)
#: Nothing but the price moves an account's MRR: no tier or seat changes, no win-back offers.
STILL = ["mechanisms.expansion=false", "mechanisms.reactivation=false"]
PRICING_SCENARIOS = ("card_trial", "freemium_launch", "four_tiers", "usage_pricing", "launch_promo")


def _model(overrides: list[str], replication: int = 0) -> JourneyModel:
    return JourneyModel(load_config([*SMALL, *overrides]), replication=replication)


def _paying(model: JourneyModel) -> np.ndarray:
    return is_paying(model.population.stage)


def _multiplier(model: JourneyModel) -> np.ndarray:
    """Each row's persona price multiplier."""
    out = np.empty(len(model.population))
    for agent in model.persona_agents:
        out[agent.rows] = agent.persona.price_multiplier
    return out


def _list_mrr(model: JourneyModel, price: float, rows: np.ndarray, factor: float = 1.0):
    """float32 MRR of per-seat ``rows`` at ``price`` × ``factor`` (as ``account_mrr``)."""
    pop = model.population
    return (price * _multiplier(model)[rows] * pop.seats[rows] * factor).astype(np.float32)


# ---------------------------------------------------------------------------- conversion
def test_a_dearer_tier_is_chosen_less_by_every_persona_at_every_seat_count() -> None:
    """The choice model itself: P(pro) falls at each step of the Pro price, for every persona
    and 1 … 200 seats (multinomial logit: its own price enters only its own utility)."""
    params = params_of(load_config([]))
    pro = params.pricing.ranked.index("pro")
    seats = np.arange(1, 201)
    for persona in params.persona_list:
        shares = []
        for price in (59.0, 79.0, 99.0, 129.0, 199.0):
            book = PriceBook(params.pricing)
            book.list_price[pro] = price
            shares.append(choice_probabilities(persona, book, seats)[:, 1 + pro])
        assert np.all(np.diff(np.array(shares), axis=0) < 0), persona.name


def _pro_conversion(price: float, replication: int) -> float:
    """Share of the decisions made in months 1-12 that bought Pro (the first plan of a new
    customer, read in the month it buys), Pro at ``price`` from month 1."""
    model = _model([*STILL, f"pricing.plans.pro.price={price}", "months=12"], replication)
    pro = model.params.pricing.ranked.index("pro")
    pop = model.population
    bought = decisions = 0
    for t in range(1, 13):
        model.step()
        bought += int(np.sum((pop.cohort_month == t) & (pop.plan == pro)))
        decisions += sum(int(a.flows.get("decisions", 0)) for a in model.persona_agents)
    return bought / decisions


@pytest.mark.slow
def test_raising_a_tier_price_never_raises_its_conversion_paired() -> None:
    """Paired by replication (common random numbers): Pro at 79, 99, 129 → Pro's conversion
    falls at each step in each of 2 replications."""
    for rep in range(2):
        conv = [_pro_conversion(p, rep) for p in (79, 99, 129)]
        assert conv[0] > conv[1] > conv[2], (rep, conv)


# ---------------------------------------------------------------------------- price changes
def _track_price_rise(grandfather: bool) -> None:
    """Pro 79 → 99 in month 4 (6-month annual terms): follow every Pro account paying at the
    end of month 3 until every annual term has renewed."""
    event = f"{{type: price_change, month: 4, plan: pro, price: 99, grandfather: {grandfather}}}"
    model = _model([*STILL, f"+events.rise={event}", "renewal.term_months=6"])
    pop = model.population
    pro = model.params.pricing.ranked.index("pro")
    disc = model.params.pricing.annual_discount
    offer = model.params.renewal.at_risk_discount
    for _ in range(3):
        model.step()
    rows = np.flatnonzero(_paying(model) & (pop.plan == pro))
    annual = pop.annual[rows].copy()
    old = pop.mrr[rows].copy()
    old_offer = pop.renewal_offer[rows].copy()
    term_end = pop.term_end[rows].copy()
    assert annual.sum() > 20 and (~annual).sum() > 20
    new_monthly = _list_mrr(model, 99, rows)
    for t in range(4, 11):
        model.step()
        alive = _paying(model)[rows] & (pop.plan[rows] == pro)
        mrr = pop.mrr[rows]
        monthly = alive & ~annual
        if grandfather:
            np.testing.assert_array_equal(mrr[monthly], old[monthly])
        else:  # the next bill: month 4
            np.testing.assert_array_equal(mrr[monthly], new_monthly[monthly])
        waiting = alive & annual & (term_end > t)  # mid-term: the price it signed
        np.testing.assert_array_equal(mrr[waiting], old[waiting])
        renewed = alive & annual & (term_end == t)
        if not renewed.any():
            continue
        at_risk = np.where(pop.renewal_offer[rows][renewed], 1 - offer, 1.0)
        if grandfather:  # its own price, last term's renewal discount removed
            own = old[renewed].astype(np.float64) / np.where(old_offer[renewed], 1 - offer, 1.0)
            expected = own * at_risk
        else:
            expected = 99 * _multiplier(model)[rows][renewed] * pop.seats[rows][renewed]
            expected = expected * (1 - disc) * at_risk
        np.testing.assert_allclose(mrr[renewed], expected, rtol=2e-6)


def test_non_grandfathered_customers_see_a_rise_at_their_next_bill_or_term_end() -> None:
    _track_price_rise(grandfather=False)


def test_grandfathered_customers_keep_their_price() -> None:
    _track_price_rise(grandfather=True)


def test_an_annual_discount_event_reaches_new_contracts_now_and_the_book_at_renewal() -> None:
    """17% → 30% in month 4 (6-month terms): annual contracts signed from month 4 pay list ×
    0.70; those signed before keep 0.83 until their term ends, then renew at 0.70 (× the
    renewal offer if at risk); monthly plans do not move."""
    event = "+events.d={type: annual_discount, month: 4, discount: 0.30}"
    model = _model([*STILL, event, "renewal.term_months=6"])
    pop = model.population
    offer = model.params.renewal.at_risk_discount
    prices = model.price_book.list_price.copy()
    for _ in range(3):
        model.step()
    book_rows = np.flatnonzero(_paying(model) & pop.annual)
    old = pop.mrr[book_rows].copy()
    term_end = pop.term_end[book_rows].copy()
    monthly_rows = np.flatnonzero(_paying(model) & ~pop.annual)
    monthly_old = pop.mrr[monthly_rows].copy()
    for t in range(4, 11):
        model.step()
        alive = _paying(model)[book_rows]
        waiting = alive & (term_end > t)
        np.testing.assert_array_equal(pop.mrr[book_rows][waiting], old[waiting])
        renewed = alive & (term_end == t)
        r = book_rows[renewed]
        factor = 0.70 * np.where(pop.renewal_offer[r], 1 - offer, 1.0)
        expected = prices[pop.plan[r]] * _multiplier(model)[r] * pop.seats[r] * factor
        np.testing.assert_allclose(pop.mrr[r], expected, rtol=2e-6)
        new = np.flatnonzero(_paying(model) & pop.annual & (pop.cohort_month == t))
        listed = prices[pop.plan[new]] * _multiplier(model)[new] * pop.seats[new]
        np.testing.assert_allclose(pop.mrr[new], listed * 0.70, rtol=2e-6)
        still_monthly = _paying(model)[monthly_rows]
        np.testing.assert_array_equal(
            pop.mrr[monthly_rows][still_monthly], monthly_old[still_monthly]
        )


# ---------------------------------------------------------------------------- plan kinds
def test_per_seat_and_per_account_plans_bill_price_times_seats_and_price() -> None:
    """Enterprise per account at $2,000: its new customers pay 2,000 × the persona multiplier
    whatever their seats; Pro (per seat) pays 79 × seats (× 0.83 on annual terms)."""
    model = _model([*STILL, "pricing.plans.enterprise.per_seat=false",
                    "pricing.plans.enterprise.price=2000", "months=6"])  # fmt: skip
    pop = model.population
    names = model.params.pricing.ranked
    model.run()
    new = _paying(model) & (pop.cohort_month >= 1)
    ent = np.flatnonzero(new & (pop.plan == names.index("enterprise")))
    pro = np.flatnonzero(new & (pop.plan == names.index("pro")))
    assert ent.size > 5 and pro.size > 5 and pop.seats[ent].max() > 1
    annual = np.where(pop.annual, 0.83, 1.0)
    np.testing.assert_allclose(
        pop.mrr[ent], 2000 * _multiplier(model)[ent] * annual[ent], rtol=1e-6
    )
    expected = 79 * _multiplier(model)[pro] * pop.seats[pro] * annual[pro]
    np.testing.assert_allclose(pop.mrr[pro], expected, rtol=1e-6)


def test_a_usage_plan_bills_its_usage_and_the_usage_grows() -> None:
    """usage_pricing: Flex at $0.40 a unit, 100 units a seat to start, +4% a month over the
    first 12 months. A monthly Flex account bought in month 2 pays 0.40 × 100 × seats in
    month 2 and × 1.04 each month after, up to month 14, then flat; an annual one stays at its
    starting usage less the annual discount. Flex's price goes to $0.50 in month 8: monthly
    accounts move by 0.50 / 0.40, their usage kept."""
    event = (
        "+events.flex_up={type: price_change, month: 8, plan: flex, price: 0.5, grandfather: false}"
    )
    model = _model(["scenario=usage_pricing", *STILL, event])
    pop = model.population
    flex = model.params.pricing.ranked.index("flex")
    book = model.price_book
    expected_multiple = np.mean(1.04 ** np.minimum(np.arange(12), 12))
    assert expected_usage_multiple(0.04, 12) == pytest.approx(expected_multiple, rel=1e-12)
    assert book.decision_price[flex] == pytest.approx(40.0 * expected_multiple, rel=1e-12)
    assert book.list_price[flex] == pytest.approx(40.0)
    model.step()
    model.step()
    rows = np.flatnonzero(_paying(model) & (pop.plan == flex) & (pop.cohort_month == 2))
    monthly, annual = rows[~pop.annual[rows]], rows[pop.annual[rows]]
    assert monthly.size > 3 and annual.size > 0
    start = (40.0 * _multiplier(model)[rows] * pop.seats[rows]).astype(np.float32)
    np.testing.assert_allclose(pop.mrr[monthly], start[~pop.annual[rows]], rtol=1e-6)
    annual_start = pop.mrr[annual].copy()
    annual_end = pop.term_end[annual].copy()
    np.testing.assert_allclose(
        annual_start, start[pop.annual[rows]] * (1 - model.params.pricing.annual_discount),
        rtol=1e-6,
    )  # fmt: skip
    previous = pop.mrr[monthly].astype(np.float64)
    for t in range(3, 19):
        model.step()
        alive = _paying(model)[monthly]
        ratio = pop.mrr[monthly][alive] / previous[alive]
        growth = 1.04 if t - 2 <= 12 else 1.0
        price = 0.5 / 0.4 if t == 8 else 1.0
        np.testing.assert_allclose(ratio, growth * price, rtol=1e-6)
        previous = pop.mrr[monthly].astype(np.float64)
        alive_annual = _paying(model)[annual] & (annual_end > t)  # (then renews at list)
        np.testing.assert_array_equal(pop.mrr[annual][alive_annual], annual_start[alive_annual])
    assert alive.sum() > 0


def test_the_book_holds_no_plan_that_initial_prices_do_not_name() -> None:
    """A plan the scenario adds (four_tiers: Business) is new: no account of the month-0 book
    is on it, and the book pays what it paid (month 1 starts from the same MRR)."""
    base = JourneyModel(load_config(TINY))
    four = JourneyModel(load_config([*TINY, "scenario=four_tiers"]))
    business = four.params.pricing.ranked.index("business")
    assert not np.any(_paying(four) & (four.population.plan == business))
    assert four.mrr == pytest.approx(base.mrr, rel=1e-9)


def test_a_fourth_tier_gets_buyers_and_upgrades_from_the_rank_below() -> None:
    model = _model(["scenario=four_tiers", "months=12"])
    pop = model.population
    names = model.params.pricing.ranked
    assert names == ("starter", "pro", "business", "enterprise")
    pro, business = names.index("pro"), names.index("business")
    upgraded = 0
    for _ in range(12):
        was_pro = _paying(model) & (pop.plan == pro)
        model.step()
        upgraded += int(np.sum(was_pro & _paying(model) & (pop.plan == business)))
    buyers = _paying(model) & (pop.plan == business) & (pop.cohort_month >= 1)
    assert buyers.sum() > 20
    assert upgraded > 0


# ---------------------------------------------------------------------------- promotions
PROMO = "+events.p={type: promo, month: 2, months: 6, discount: 0.5, discount_months: 3}"


def test_a_promo_bills_the_discount_then_steps_up_to_list() -> None:
    """Half price for 3 months for monthly buyers of months 2-7: billed at half the list price
    at the end of the month they buy and the next 2, at list from the 4th; annual buyers and
    buyers of month 8 at list. While the promo runs the decision weighs 87.5% of list."""
    model = _model([*STILL, PROMO, "months=12"])
    pop = model.population
    prices = model.price_book.list_price
    cohorts: dict[int, np.ndarray] = {}
    for t in range(1, 13):
        model.step()
        # The decision weighs the first year's mean bill: 1 - 0.5 × 3 / 12 of list.
        assert model.price_book.promo_factor == (0.875 if 2 <= t <= 7 else 1.0)
        np.testing.assert_allclose(
            model.price_book.decision_price, prices * (0.875 if 2 <= t <= 7 else 1.0)
        )
        new = np.flatnonzero(_paying(model) & (pop.cohort_month == t))
        cohorts[t] = new
        for c, rows in cohorts.items():
            rows = rows[_paying(model)[rows] & ~pop.annual[rows]]
            listed = prices[pop.plan[rows]] * _multiplier(model)[rows] * pop.seats[rows]
            on_promo = 2 <= c <= 7 and t < c + 3
            np.testing.assert_allclose(
                pop.mrr[rows], listed * (0.5 if on_promo else 1.0), rtol=2e-6, err_msg=f"{c},{t}"
            )
            assert np.all(pop.price_locked[rows] == on_promo)
        annual = new[pop.annual[new]]
        listed = prices[pop.plan[annual]] * _multiplier(model)[annual] * pop.seats[annual]
        np.testing.assert_allclose(pop.mrr[annual], listed * 0.83, rtol=2e-6)
    assert sum(int((~pop.annual[cohorts[c]]).sum()) for c in range(2, 8)) > 50


def _step_up_churn(promo: bool) -> tuple[int, int]:
    """(accounts churning in the month their promo would step up, accounts paying before it)
    of the monthly buyers of months 2-7, over 2 replications."""
    churned = at_risk = 0
    for rep in range(2):
        model = _model([*([PROMO] if promo else []), "months=11"], replication=rep)
        pop = model.population
        for t in range(1, 12):
            due = np.flatnonzero(
                _paying(model) & ~pop.annual & (pop.cohort_month == t - 3)
                & (pop.cohort_month >= 2) & (pop.cohort_month <= 7)
            )  # fmt: skip
            model.step()
            at_risk += due.size
            churned += int(np.sum(pop.stage[due] == Stage.CHURNED))
    return churned, at_risk


@pytest.mark.slow
def test_a_promo_cohort_churns_more_at_the_step_up() -> None:
    """The step-up doubles the price (a rise of 1 / (1 - 0.5) - 1 = 100%): with the default
    price-increase penalty (2.0) health falls by 2 and churn that month is e^2 ≈ 7 times
    base; the same cohort months without the promo churn at their usual rate."""
    with_promo, n_promo = _step_up_churn(True)
    without, n_base = _step_up_churn(False)
    assert n_promo > 100 and n_base > 100
    rate_promo, rate_base = with_promo / n_promo, without / n_base
    assert rate_promo > 2 * rate_base, (rate_promo, rate_base)


# ---------------------------------------------------------------------------- decision path
def test_a_freemium_launch_keeps_non_buyers_on_the_free_tier_from_its_month() -> None:
    model = _model(["scenario=freemium_launch", "months=9"])
    solo = model.persona_agents[0]
    assert solo.persona.name == "solo"
    for t in range(1, 10):
        model.step()
        free = int(solo.counts[Stage.DECISION])
        if t < 7:
            assert solo.persona.decision.path == "trial"
        else:
            assert solo.persona.decision.path == "freemium"
    assert free > 100  # free users accumulate on the free tier


def test_a_card_required_trial_by_event_bills_forgetful_non_buyers() -> None:
    model = _model(["scenario=card_trial", "months=9"])
    forgot = {t: 0.0 for t in range(1, 10)}
    for t in range(1, 10):
        model.step()
        forgot[t] = sum(a.flows.get("forgot_to_cancel", 0.0) for a in model.persona_agents[:1])
    assert sum(forgot[t] for t in range(1, 7)) == 0
    assert sum(forgot[t] for t in range(7, 10)) > 0


# ---------------------------------------------------------------------------- warnings, input
def test_rank_disagreements_warn_once_with_plans_and_prices() -> None:
    assert rank_warnings(params_of(load_config([]))) == []
    bad = load_config([*TINY, "months=1", "replications=1", "pricing.plans.pro.price=199"])
    with pytest.warns(PricingWarning) as caught:
        simulate(bad, progress=False)
    assert len(caught) == 1
    assert str(caught[0].message).startswith(
        "pricing.plans: enterprise (rank 2) costs $158.00 a month, not more than pro (rank 1) "
        "at $199.00"
    )
    # A price event that makes ranks disagree later warns too, naming the month and event.
    cut = "{type: price_change, month: 5, plan: enterprise, price: 70, grandfather: false}"
    later = params_of(load_config([f"+events.cut={cut}"]))
    (line,) = rank_warnings(later)
    assert line.startswith("pricing.plans from month 5 (events.cut): enterprise (rank 2) costs $70")


def test_the_command_line_prints_the_rank_warning_as_one_line(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "simulator", *size(8_000, 300, 1, 1),
         "pricing.plans.pro.price=199", "hydra.run.dir=" + str(tmp_path / "run")],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = [x for x in out.stderr.splitlines() if "warning" in x]
    assert len(lines) == 1 and lines[0].startswith("journey-sim: warning: pricing.plans: ")


@pytest.mark.parametrize(
    ("override", "key", "text"),
    [
        ("+pricing.usage.gold={start_units: 1, growth: 0, growth_months: 0}",
         "pricing.usage.gold", "unknown plan"),
        ("+pricing.usage.pro={start_units: 0, growth: 0, growth_months: 0}",
         "pricing.usage.pro.start_units", "must be in"),
        ("+events.d={type: decision_change, month: 3, persona: nobody, decision_path: freemium,"
         " decision_months: null, card_required: null, free_value: null, free_drop: null}",
         "events.d.persona", "must be one of"),
        ("+events.p={type: promo, month: 2, months: 1, discount: 0.99, discount_months: 2}",
         "events.p.discount", "must be in"),
        ("+initial.prices.gold=10", "initial.prices.gold", "unknown plan"),
    ],
)  # fmt: skip
def test_bad_pricing_input_is_refused_by_key(override: str, key: str, text: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config([override])
    problems = dict(info.value.problems)
    assert key in problems and text in problems[key], info.value.problems


def test_overlapping_promotions_are_refused() -> None:
    with pytest.raises(ConfigError) as info:
        load_config([PROMO, "+events.q={type: promo, month: 5, months: 2, discount: 0.2,"
                     " discount_months: 1}"])  # fmt: skip
    assert [k for k, _ in info.value.problems] == ["events.q"]


@pytest.mark.parametrize("scenario", PRICING_SCENARIOS)
def test_every_pricing_scenario_composes_and_runs(scenario: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", PricingWarning)  # shipped scenarios agree with ranks
        res = simulate(load_config([*TINY, f"scenario={scenario}", "months=9"]), progress=False)
    m = res.monthly
    bridge = (
        m["mrr_start"] + m["new_mrr"] + m["expansion_mrr"] + m["reactivation_mrr"]
        - m["contraction_mrr"] - m["churned_mrr"]
    )  # fmt: skip
    np.testing.assert_allclose(m["mrr_end"], bridge, rtol=1e-9, atol=1e-6)
    assert m["new_customers"].sum() > 0
