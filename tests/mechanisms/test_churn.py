"""Churn: whether churn months can be drawn once per paying spell follows from what each
mechanism declares, and equals the rule it replaces."""

from __future__ import annotations

import itertools

import pytest
from sizes import TINY

from simulator import JourneyModel, load_config
from simulator.mechanisms import ALL, Mechanism
from simulator.model import churn_is_scheduled
from simulator.params import params_of


@pytest.mark.parametrize(
    ("sensitivity", "annual", "involuntary"), list(itertools.product([0.0, 0.4], *[[0, 1]] * 2))
)
def test_churn_is_scheduled_follows_the_declarations(
    sensitivity: float, annual: int, involuntary: int
) -> None:
    """Scheduled exactly when health does not move churn and no renewal or failed payment
    can end a paying spell."""
    cfg = load_config(
        [
            *TINY,
            f"health.churn_sensitivity={sensitivity}",
            f"mechanisms.annual_contracts={bool(annual)}".lower(),
            f"mechanisms.involuntary_churn={bool(involuntary)}".lower(),
        ]
    )
    expected = sensitivity <= 0 and not annual and not involuntary
    assert JourneyModel(cfg).churn_is_scheduled == expected


SCHEDULED = [
    *TINY,
    "health.churn_sensitivity=0",
    "mechanisms.annual_contracts=false",
    "mechanisms.involuntary_churn=false",
]


def test_a_new_mechanism_that_moves_churn_unschedules_it() -> None:
    """A future mechanism only declares ``moves_churn``; nobody else has to remember the rule.
    Switched off, its declaration does not count."""
    params = params_of(load_config(SCHEDULED))
    assert churn_is_scheduled(params)
    usage = Mechanism(name="usage_billing", moves_churn=lambda p: True)
    assert not churn_is_scheduled(params, (*ALL, usage))
    gated = Mechanism(name="usage_billing", switch="support", moves_churn=lambda p: True)
    assert not churn_is_scheduled(params, (*ALL, gated))
    params_off = params_of(load_config([*SCHEDULED, "mechanisms.support=false"]))
    assert churn_is_scheduled(params_off, (*ALL, gated))
