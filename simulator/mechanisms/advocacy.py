"""Advocacy: promoters, referrals and the vendor's reputation (the ``referrals`` switch).

- Healthy tenured customers become promoters (stage ``advocate``): an active account with health
  at or above ``health.promoter_threshold`` and at least ``advocacy.min_tenure_months`` since it
  first paid becomes one with monthly probability ``personas.*.advocacy.rate``; advocates whose
  health falls below the threshold revert to active.
- Reputation: reviews arrive each month, positive ones Poisson(advocates × ``review_rate`` +
  other healthy active accounts (health at or above the promoter threshold) ×
  ``healthy_review_rate``), negative ones Poisson(unhappy churners × ``negative_review_rate``),
  starting from a prior (``reputation_prior_reviews`` at ``reputation_prior_rating``). The
  rating is the positive share of all reviews; it is stationary when the month's reviews are
  positive in the prior's proportion. The decision utility of reputation is
  ``reputation_weight`` × (rating - prior rating).
- Referrals (acquisition, consideration and decision read the switch): advocates refer
  prospects (a rate that rises with the referral reward, ``simulator.mechanisms.acquisition``),
  referred prospects advance faster, get a utility bonus and earn the reward when they buy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from simulator import kernels
from simulator.mechanisms.base import Mechanism
from simulator.stages import Stage

if TYPE_CHECKING:
    from simulator.model import JourneyModel
    from simulator.personas import PersonaAgent

SWITCH = "referrals"


def setup(model: JourneyModel) -> None:
    """Reviews start from the prior; no unhappy churners yet."""
    adv = model.params.advocacy
    model.reviews_positive = adv.reputation_prior_reviews * adv.reputation_prior_rating
    model.reviews_total = adv.reputation_prior_reviews
    #: Accounts that churned unhappy (health below the at-risk threshold) since the last
    #: reputation update.
    model.unhappy_churners = 0
    #: Healthy active accounts (not advocates) this month: they may write good reviews.
    model.healthy_reviewers = 0


def reputation_utility(model: JourneyModel) -> float:
    """Decision utility from reviews: weight × (positive share - prior positive share)."""
    adv = model.params.advocacy
    rating = model.reviews_positive / model.reviews_total
    return adv.reputation_weight * (rating - adv.reputation_prior_rating)


def count_unhappy_churners(agent: PersonaAgent, idx: np.ndarray) -> None:
    """Paying spells of ``idx`` end: count the unhappy ones (they may write bad reviews)."""
    threshold = agent.model.params.health.at_risk_threshold
    agent.model.unhappy_churners += int(np.count_nonzero(agent.pop.health[idx] < threshold))


def advocate(model: JourneyModel) -> None:
    """Promoters ⇄ active, persona by persona (row by row: ``kernels.advocacy_moves``)."""
    par = model.params
    t = model.month
    threshold = par.health.promoter_threshold
    min_tenure = par.advocacy.min_tenure_months
    for agent in model.persona_agents:
        pop = agent.pop
        revert, new, healthy = kernels.advocacy_moves(
            agent.paying_rows(),
            pop.stage,
            pop.health,
            pop.cohort_month,
            t,
            threshold,
            min_tenure,
            agent.persona.advocacy.rate,
            agent.row_key("advocacy"),
        )
        agent.move(revert, Stage.ACTIVE, Stage.ADVOCATE)
        agent.move(new, Stage.ADVOCATE, Stage.ACTIVE)
        model.healthy_reviewers += healthy - new.size
        agent.add("new_advocates", new.size)


def update_reputation(model: JourneyModel) -> None:
    """This month's reviews: positive from advocates and healthy active accounts, negative from
    unhappy churners."""
    adv = model.params.advocacy
    gen = model.streams.generator("reputation", model.month)
    advocates = sum(int(a.counts[Stage.ADVOCATE]) for a in model.persona_agents)
    positive = gen.poisson(
        advocates * adv.review_rate + model.healthy_reviewers * adv.healthy_review_rate
    )
    negative = gen.poisson(model.unhappy_churners * adv.negative_review_rate)
    model.unhappy_churners = 0
    model.healthy_reviewers = 0
    model.reviews_positive += positive
    model.reviews_total += positive + negative


MECHANISM = Mechanism(
    name="advocacy",
    switch=SWITCH,
    config=(
        "advocacy.*",
        "personas.*.advocacy.rate",
        "health.promoter_threshold",
        "health.at_risk_threshold",
    ),
    population=("stage", "health", "cohort_month"),
    streams=("advocacy", "reputation"),
    outputs=("new_advocates",),
    setup=setup,
    on_paying_end=count_unhappy_churners,
)
