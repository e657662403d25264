"""Pricing: the tier logit, the inverse-CDF choice, the annual probability; a price rise means
fewer new customers paying more each."""

from __future__ import annotations

import math

import numpy as np
import pytest
from mech_runs import totals
from sizes import TINY

from simulator import JourneyModel, load_config
from simulator.mechanisms.pricing import (
    PriceBook,
    annual_probability,
    choice_probabilities,
    choose,
)
from simulator.params import params_of


def _persona(name: str = "smb"):
    params = params_of(load_config([]))
    return params, params.personas[name]


def test_choice_probabilities_are_the_logit() -> None:
    params, p = _persona("smb")
    book = PriceBook(params.pricing)
    seats = np.array([1, 6, 40])
    probs = choice_probabilities(p, book, seats, extra_utility=0.3)
    assert probs.shape == (3, 1 + len(params.pricing.plans))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    for i, s in enumerate(seats):
        utils = [p.outside_utility]
        for name in params.pricing.ranked:  # plans in rank order
            plan = params.pricing.plans[name]
            per_seat = plan.price * p.price_multiplier / (1 if plan.per_seat else s)
            utils.append(
                p.plan_value[name] - p.price_sensitivity * per_seat / p.willingness_to_pay + 0.3
            )
        w = np.exp(np.array(utils))
        np.testing.assert_allclose(probs[i], w / w.sum(), rtol=1e-12)
    # A dearer persona buys less.
    dear = p.model_copy(update={"price_multiplier": 1.5})
    cheap = choice_probabilities(p, book, seats)
    assert (choice_probabilities(dear, book, seats)[:, 0] > cheap[:, 0]).all()


def test_choose_follows_the_probabilities() -> None:
    rng = np.random.default_rng(3)
    n = 200_000
    probs = np.tile([0.5, 0.2, 0.25, 0.05], (n, 1))
    idx, fresh = choose(probs, rng.random(n))
    counts = np.bincount(idx, minlength=4)
    se = np.sqrt(n * probs[0] * (1 - probs[0]))
    assert (np.abs(counts - n * probs[0]) < 5 * se).all()
    # The rescaled uniform is again uniform on [0, 1) and independent of the choice.
    assert fresh.min() >= 0.0 and fresh.max() < 1.0
    for k in range(4):
        part = fresh[idx == k]
        assert abs(part.mean() - 0.5) < 5 * math.sqrt(1 / 12 / part.size)
    # Boundaries: u just below a cumulative step stays in the lower option.
    idx2, _ = choose(np.array([[0.5, 0.5], [0.5, 0.5]]), np.array([0.4999, 0.5]))
    assert idx2.tolist() == [0, 1]


def test_annual_probability_is_logistic() -> None:
    _, p = _persona("smb")
    z = p.annual.logit + p.annual.discount_sensitivity * 0.2
    assert annual_probability(p, 0.2) == pytest.approx(1 / (1 + math.exp(-z)))
    assert annual_probability(p, 0.3) > annual_probability(p, 0.1)


def test_price_rise_means_fewer_new_customers_and_more_mrr_per_account() -> None:
    base = totals([], months=18)
    dear = totals(["pricing.plans.pro.price=99"], months=18)
    late_new = lambda m: m.loc[m["month"] >= 7, "new_customers"].sum()  # noqa: E731
    assert late_new(dear) < late_new(base)
    new_mrr_per_account = lambda m: m["new_mrr"].sum() / m["new_customers"].sum()  # noqa: E731
    assert new_mrr_per_account(dear) > new_mrr_per_account(base)


@pytest.mark.parametrize("on", [True, False])
def test_price_effect_switch_sets_the_health_penalties(on: bool) -> None:
    """``price_effect`` has no flow of its own: off, prices never move health."""
    model = JourneyModel(load_config([*TINY, f"mechanisms.price_effect={str(on).lower()}"]))
    h = model.params.health
    assert h.price_increase_penalty > 0 and h.price_gap_penalty > 0
    if on:
        assert model.price_increase_penalty == h.price_increase_penalty
        assert model.price_gap_penalty == h.price_gap_penalty
    else:
        assert model.price_increase_penalty is None and model.price_gap_penalty == 0.0
