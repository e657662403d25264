"""Health: it drifts back towards neutral by exactly ``health.decay`` a month, onboarding moves
it once, and churn reads it.

Known answers:

* with nothing else moving health, health after k months = health now × decay^k (deterministic);
* a customer activated in month c (self-serve, 0 months) has health activation_bonus ·
  decay^(t - c + 1) at the end of month t (the bonus comes before the month's decay); one whose
  1-month guided onboarding fails has -activation_failure_penalty · decay^(t - c);
* churners in month 1 of a book at health H ~ binomial(n, mean · exp(-churn_sensitivity · H ·
  decay)): the month's decay comes before churn.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from known_answers import NO_CHANNELS
from sizes import MARKET_MIX, NO_PIPELINE, TWO_PERSONAS, size

from simulator import JourneyModel, load_config
from simulator.stages import Stage, is_paying

Z = 4.0
QUIET = [
    MARKET_MIX,  # the book is half the market or all of it
    "mechanisms=all_off",  # support, success, price effect, onboarding off: nothing moves health
    "health.churn_sensitivity=1.0",
]
NO_CHURN = [f"personas.{k}.churn.mean=0.0" for k in ("solo", "smb", "midmarket", "enterprise")]


@pytest.mark.parametrize("decay", [0.85, 0.5, 1.0])
def test_health_decays_by_exactly_decay_each_month(decay: float) -> None:
    cfg = load_config([*size(4_000, 2_000, 6, 1), *QUIET, *NO_CHURN, f"health.decay={decay}"])
    model = JourneyModel(cfg)
    rng = np.random.default_rng(5)
    paying = is_paying(model.population.stage)
    assert paying.sum() == 2_000
    h0 = rng.uniform(-3.0, 3.0, paying.sum()).astype(np.float32)
    model.population.health[paying] = h0
    for k in range(1, 7):
        model.step()
        np.testing.assert_allclose(
            model.population.health[paying], h0.astype(np.float64) * decay**k, rtol=1e-5, atol=0
        )
        assert (model.population.health[~paying] == 0).all()


BONUS, PENALTY, DECAY = 0.6, 1.6, 0.8
ONBOARD = [
    *TWO_PERSONAS,
    NO_PIPELINE,
    *size(20_000, 0, 8, 1),
    "mechanisms=all_off",
    "mechanisms.acquisition=true",
    "mechanisms.onboarding=true",
    "acquisition.bass.p=0.01",
    "acquisition.bass.q=0.0",
    *NO_CHANNELS,
    f"health.decay={DECAY}",
    f"health.activation_bonus={BONUS}",
    f"health.activation_failure_penalty={PENALTY}",
    "onboarding.paths.self_serve={months: 0, quality: 1.0, cost: 0}",
    "onboarding.paths.guided={months: 1, quality: 0.0, cost: 0}",
    "personas.solo.onboarding=self_serve",
    "personas.smb.onboarding=guided",
    *(
        f"personas.{k}.{key}"
        for k in ("solo", "smb")
        for key in (
            "consideration={advance: 1.0, drop: 0.0, nurture: 0.0}",
            "decision={path: trial, months: 0, card_required: false, card_start_factor: 1.0, "
            "forgot_to_cancel: 0.0, forgot_churn: 0.0, forgot_months: 0, sales_cost: 0, "
            "free_value: 0.0, free_drop: 0.0}",
            "outside_utility=-50",
            "churn.mean=0.0",
        )
    ),
]


def test_onboarding_moves_health_once_then_it_decays() -> None:
    model = JourneyModel(load_config(ONBOARD))
    for _ in range(8):
        model.step()
        t = model.month
        solo, smb = model.persona_agents
        for agent, expect in (
            (solo, lambda c, t=t: BONUS * DECAY ** (t - c + 1)),
            (smb, lambda c, t=t: -PENALTY * DECAY ** (t - c)),
        ):
            pop = agent.pop
            rows = np.flatnonzero(pop.stage[: agent.aware] == Stage.ACTIVE)
            cohort = pop.cohort_month[rows].astype(np.int64)
            np.testing.assert_allclose(pop.health[rows], expect(cohort), rtol=1e-5)
            onboarding = np.flatnonzero(pop.stage[: agent.aware] == Stage.ONBOARDING)
            assert (pop.health[onboarding] == 0).all()  # nothing yet
    assert solo.counts[Stage.ACTIVE] > 500 and smb.counts[Stage.ACTIVE] > 500


MEAN, SENSITIVITY, H, CHURN_DECAY = 0.3, 1.0, 1.0, 0.5
CHURN = [
    *size(40_000, 40_000, 1, 1),
    *QUIET,
    f"health.churn_sensitivity={SENSITIVITY}",
    f"health.decay={CHURN_DECAY}",
    *(
        f"personas.{k}.churn={{mean: {MEAN}, concentration: null}}"
        for k in ("solo", "smb", "midmarket", "enterprise")
    ),
]


@pytest.mark.parametrize("replication", [0, 1])
def test_churn_reads_health_after_the_months_decay(replication: int) -> None:
    model = JourneyModel(load_config(CHURN), replication=replication)
    assert not model.churn_is_scheduled
    n = 40_000
    # Half the book at health H, half neutral.
    model.population.health[:n:2] = H
    healthy = np.zeros(n, dtype=bool)
    healthy[::2] = True
    model.step()
    churned = model.population.stage == Stage.CHURNED
    for mask, p in (
        (healthy, MEAN * math.exp(-SENSITIVITY * H * CHURN_DECAY)),
        (~healthy, MEAN),
    ):
        k, m = np.count_nonzero(churned & mask), np.count_nonzero(mask)
        z = (k - m * p) / math.sqrt(m * p * (1 - p))
        assert abs(z) < Z, f"churn at health {H if mask is healthy else 0} off by {z:.1f} SE"
    # Power: health read before the month's decay (exp(-s·H)) is rejected.
    k, m = np.count_nonzero(churned & healthy), np.count_nonzero(healthy)
    p_wrong = MEAN * math.exp(-SENSITIVITY * H)
    assert abs(k - m * p_wrong) / math.sqrt(m * p_wrong * (1 - p_wrong)) > 2 * Z
