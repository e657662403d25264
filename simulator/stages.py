"""Journey stages and other integer codes: the one source of truth for stage names.

A customer (account) is one row of the population; its ``stage`` column holds a ``Stage`` code.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

import numpy as np


class Stage(IntEnum):
    """Where an account is in the SaaS journey at the end of a month."""

    UNAWARE = 0  # in the addressable market, not yet evaluating
    CONSIDERATION = 1  # evaluating (reached by a touchpoint)
    DECISION = 2  # in a trial, a demo / sales cycle, or on the free tier
    ONBOARDING = 3  # paying, onboarding towards activation
    ACTIVE = 4  # paying
    ADVOCATE = 5  # paying promoter: refers, reviews
    CHURNED = 6  # former customer (win-back may reactivate)
    LOST = 7  # prospect who dropped out (nurture may bring back)


STAGE_NAMES: tuple[str, ...] = tuple(s.name.lower() for s in Stage)
PAYING_STAGES: tuple[Stage, ...] = (Stage.ONBOARDING, Stage.ACTIVE, Stage.ADVOCATE)
N_STAGES = len(Stage)


def is_paying(stage: np.ndarray) -> np.ndarray:
    """Which of these stage codes are paying stages (onboarding, active, advocate)."""
    return (stage >= Stage.ONBOARDING) & (stage <= Stage.ADVOCATE)


class Source(IntEnum):
    """How a prospect entered consideration (acquisition touchpoint)."""

    NONE = 0  # initial book or never acquired
    ORGANIC = 1  # Bass innovation + imitation (word of mouth)
    CHANNEL = 2  # paid / owned channel lead (content, ads, review sites, outbound)
    REFERRAL = 3  # referral programme


class DecisionPath(StrEnum):
    """How a persona's prospects decide (``personas.<name>.decision.path``)."""

    TRIAL = "trial"  # free trial (card or no card)
    DEMO = "demo"  # demo / sales conversation (sales-led)
    FREEMIUM = "freemium"  # free tier; non-buyers stay on it and can upgrade later


class DecisionRule(StrEnum):
    """How a deciding prospect picks a plan (``personas.<name>.decision.rule``; see
    ``simulator.mechanisms.decision``)."""

    LOGIT = "logit"  # multinomial logit on plan value - price sensitivity × price / WTP
    THRESHOLD = "threshold"  # buys the plan of largest surplus WTP - price per seat, if positive


NO_PLAN = -1
#: ``cohort_month`` of an account that never paid (the book's cohorts are months 0, -1, ...).
NO_COHORT = int(np.iinfo(np.int16).min)
