"""Advocacy and reputation (the ``referrals`` switch): who becomes a promoter, how many do,
and the reviews they (and unhappy churners) write.

Known answers:

* with ``advocacy.rate`` = 1 the advocates are exactly the active accounts with health ≥
  ``promoter_threshold`` and tenure ≥ ``min_tenure_months`` (deterministic); advocates whose
  health falls below the threshold revert to active;
* with rate r, new advocates in a month ~ binomial(eligible active accounts, r);
* positive reviews in a month ~ Poisson(advocates × review_rate + other healthy active
  accounts × healthy_review_rate), negative ones ~ Poisson(unhappy churners ×
  negative_review_rate), from the prior; the reputation utility is weight × (positive share -
  prior rating);
* with ``referrals`` off nothing moves: no advocates, the reviews stay at the prior;
* the default run (published targets, ``configs/config.yaml``): advocates are 8-20% of paying
  customers from month 13 on, and the rating is stationary: its mean at months 12 and 36 within
  0.02 of the prior.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from sizes import MARKET_MIX, size

from simulator import JourneyModel, load_config
from simulator.stages import Stage

Z = 4.0
PERSONAS = ("solo", "smb", "midmarket", "enterprise")
THRESHOLD, MIN_TENURE = 0.3, 3
BASE = [
    MARKET_MIX,  # the book is half the market
    "mechanisms=all_off",
    "mechanisms.referrals=true",
    "health.decay=1.0",  # nothing moves health: the test sets it
    "health.churn_sensitivity=0.0",
    f"health.promoter_threshold={THRESHOLD}",
    f"advocacy.min_tenure_months={MIN_TENURE}",
]


def _rates(rate: float) -> list[str]:
    return [f"personas.{k}.advocacy.rate={rate}" for k in PERSONAS]


def _no_churn() -> list[str]:
    return [f"personas.{k}.churn.mean=0.0" for k in PERSONAS]


def _set_book(model: JourneyModel, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Give the book random health around the threshold and random first-paying months."""
    rng = np.random.default_rng(seed)
    pop = model.population
    book = np.flatnonzero(pop.stage == Stage.ACTIVE)
    pop.health[book] = rng.choice(np.array([0.0, 0.29, THRESHOLD, 0.8], np.float32), book.size)
    pop.cohort_month[book] = rng.integers(0, 5, book.size)
    return book, pop.cohort_month[book].astype(np.int64)


def test_promoters_are_exactly_the_healthy_tenured_active_accounts() -> None:
    cfg = load_config([*size(6_000, 3_000, 8, 1), *BASE, *_rates(1.0), *_no_churn()])
    model = JourneyModel(cfg)
    book, cohort = _set_book(model, 11)
    pop = model.population
    healthy = pop.health[book] >= np.float32(THRESHOLD)
    for _ in range(7):  # first-paying months 0..4: all tenured by month 7
        model.step()
        t = model.month
        expect = healthy & (t - cohort >= MIN_TENURE)
        np.testing.assert_array_equal(pop.stage[book] == Stage.ADVOCATE, expect)
        assert (pop.stage[book][~expect] == Stage.ACTIVE).all()
    assert 0 < expect.sum() < book.size
    # Health of some advocates falls below the threshold: they revert next month (and stay).
    adv = book[pop.stage[book] == Stage.ADVOCATE]
    fall = adv[::2]
    pop.health[fall] = np.float32(0.1)
    before = model.stage_counts["advocate"]
    model.step()
    assert (pop.stage[fall] == Stage.ACTIVE).all()
    assert (pop.stage[adv[1::2]] == Stage.ADVOCATE).all()
    assert model.stage_counts["advocate"] == before - fall.size
    assert sum(a.flows.get("new_advocates", 0.0) for a in model.persona_agents) == 0


RATE = 0.15


@pytest.mark.parametrize("replication", [0, 1])
def test_new_advocates_are_binomial_in_the_eligible(replication: int) -> None:
    model = JourneyModel(
        load_config([*size(20_000, 10_000, 8, 1), *BASE, *_rates(RATE), *_no_churn()]),
        replication=replication,
    )
    book, cohort = _set_book(model, 12 + replication)
    pop = model.population
    obs = exp = 0.0
    for _ in range(8):
        t = model.month + 1
        eligible = np.count_nonzero(
            (pop.stage[book] == Stage.ACTIVE)
            & (pop.health[book] >= np.float32(THRESHOLD))
            & (t - cohort >= MIN_TENURE)
        )
        model.step()
        new = sum(a.flows.get("new_advocates", 0.0) for a in model.persona_agents)
        assert abs(new - eligible * RATE) <= 5 * math.sqrt(eligible * RATE * (1 - RATE)) + 1e-9
        obs += new
        exp += eligible * RATE
    z = (obs - exp) / math.sqrt(exp * (1 - RATE))
    assert abs(z) < Z, f"new advocates off binomial(eligible, rate) by {z:.1f} SE"
    assert exp > 1000


REVIEW, HEALTHY, NEGATIVE, CHURN = 0.3, 0.2, 0.5, 0.1


@pytest.mark.parametrize("replication", [0, 1, 2])
def test_reviews_are_poisson_in_advocates_and_unhappy_churners(replication: int) -> None:
    cfg = load_config(
        [
            *size(20_000, 20_000, 6, 1),
            *BASE,
            *_rates(0.5),
            "advocacy.min_tenure_months=0",
            f"advocacy.review_rate={REVIEW}",
            f"advocacy.healthy_review_rate={HEALTHY}",
            f"advocacy.negative_review_rate={NEGATIVE}",
            *(f"personas.{k}.churn={{mean: {CHURN}, concentration: null}}" for k in PERSONAS),
        ]
    )
    model = JourneyModel(cfg, replication=replication)
    adv = cfg.advocacy
    assert model.reviews_positive == pytest.approx(
        adv.reputation_prior_reviews * adv.reputation_prior_rating
    )
    assert model.reviews_total == adv.reputation_prior_reviews
    assert model.reputation_utility == pytest.approx(0.0)
    pop = model.population
    unhappy = np.zeros(pop.stage.size, dtype=bool)
    unhappy[1::2] = True  # below the at-risk threshold: they write bad reviews when they churn
    pop.health[unhappy] = -1.0
    pop.health[~unhappy] = 1.0
    pos = neg = lam_pos = lam_neg = lam_advocates_only = 0.0
    for _ in range(cfg.months):
        p0, n0 = model.reviews_positive, model.reviews_total - model.reviews_positive
        model.step()
        churned_now = (pop.stage == Stage.CHURNED) & (pop.stage_month == model.month)
        pos += model.reviews_positive - p0
        neg += model.reviews_total - model.reviews_positive - n0
        # Healthy active accounts after the advocacy step (nothing moves them afterwards here).
        healthy = np.count_nonzero((pop.stage == Stage.ACTIVE) & (pop.health >= THRESHOLD))
        lam_pos += model.stage_counts["advocate"] * REVIEW + healthy * HEALTHY
        lam_advocates_only += model.stage_counts["advocate"] * REVIEW
        lam_neg += np.count_nonzero(churned_now & unhappy) * NEGATIVE
        rating = model.reviews_positive / model.reviews_total
        assert model.reputation_utility == pytest.approx(
            adv.reputation_weight * (rating - adv.reputation_prior_rating)
        )
    for name, k, lam in (("positive", pos, lam_pos), ("negative", neg, lam_neg)):
        z = (k - lam) / math.sqrt(lam)
        assert abs(z) < Z, f"{name} reviews off Poisson by {z:.1f} SE"
    assert lam_pos > 5_000 and lam_neg > 1_000
    # Power: positive reviews from advocates only (none from other healthy accounts) is rejected.
    assert abs(pos - lam_advocates_only) / math.sqrt(lam_advocates_only) > Z
    # Power: every churner (not only the unhappy ones) writing negative reviews is rejected.
    all_churners = sum(r["churned_customers"] for r in model.records if r["month"] >= 1) * NEGATIVE
    assert abs(neg - all_churners) / math.sqrt(all_churners) > Z


def test_with_referrals_off_nothing_moves() -> None:
    on = [*size(6_000, 3_000, 6, 1), *BASE, *_rates(1.0), "advocacy.min_tenure_months=0"]
    model = JourneyModel(load_config([*on, "mechanisms.referrals=false"]))
    model.population.health[model.population.stage == Stage.ACTIVE] = 1.0
    prior = (model.reviews_positive, model.reviews_total)
    model.run(6)
    assert model.stage_counts["advocate"] == 0
    assert (model.reviews_positive, model.reviews_total) == prior
    assert model.reputation_utility == 0.0
    assert all(r["new_advocates"] == 0 and r["referrals"] == 0 for r in model.records)
    # The same run with the switch on has promoters at once (the set-up does move them).
    model_on = JourneyModel(load_config(on))
    model_on.population.health[model_on.population.stage == Stage.ACTIVE] = 1.0
    model_on.step()
    assert model_on.stage_counts["advocate"] > 0


DEFAULT_REPS = 6


def _default_runs() -> list[tuple[list[float], list[dict]]]:
    """The default scenario (36 months, full size): each replication's rating after every month
    and its records."""
    cfg = load_config([])
    runs = []
    for rep in range(DEFAULT_REPS):
        model = JourneyModel(cfg, replication=rep)
        ratings = []
        for _ in range(cfg.months):
            model.step()
            ratings.append(model.reviews_positive / model.reviews_total)
        runs.append((ratings, model.records))
    return runs


def test_default_run_has_plausible_promoters_and_a_stationary_rating() -> None:
    cfg = load_config([])
    assert cfg.months == 36 and cfg.market.size >= 100_000
    prior = cfg.advocacy.reputation_prior_rating
    runs = _default_runs()
    ratings = np.array([r for r, _ in runs])
    for month in (12, 24, 36):
        mean = ratings[:, month - 1].mean()
        assert abs(mean - prior) < 0.02, f"rating at month {month}: {mean:.3f} vs prior {prior}"
    # No trend: the drift from month 12 to 36 is within sampling error of 0.
    drift = ratings[:, 35] - ratings[:, 11]
    assert abs(drift.mean()) < max(0.015, 3 * drift.std(ddof=1) / math.sqrt(drift.size))
    for _, records in runs:
        late = [r for r in records if r["month"] >= 13]
        share = sum(r["n_advocate"] for r in late) / sum(r["customers"] for r in late)
        assert 0.08 < share < 0.20, f"advocates {share:.1%} of paying customers"
        # The reward is paid for referred customers: referrals buy, and the cost is booked.
        assert sum(r["referral_cost"] for r in records) > 0
