"""The population: every account of the addressable market as one row of a struct of arrays.

Rows are grouped by persona: persona ``k`` owns the contiguous slice ``slices[k]``, so a persona
agent works on views of these arrays and never loops over customers. Memory is 32 bytes
per account.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from simulator.stages import NO_COHORT, NO_PLAN, Source, Stage


@dataclass
class Population:
    """Per-account state (one entry per account in the market).

    Attributes:
        stage: journey stage code (``Stage``).
        stage_month: month the account entered its current stage (0 or less = before the run).
        cohort_month: month the account first became a paying customer (0 or less = the
            initial book, aged; ``NO_COHORT`` = never).
        source: how the prospect was acquired (``Source``).
        plan: plan index in rank order (``NO_PLAN`` when none).
        annual: billed on an annual contract (else monthly).
        price_locked: grandfathered at its current price through list-price changes.
        seats: seats the account has (or would buy).
        term_end: month the current annual term ends (renewal month).
        mrr: monthly recurring revenue of the account, $ per month (0 when not paying).
        base_churn: base monthly churn probability, drawn from Beta(mean, concentration).
        health: health score, 0 = neutral; churn is multiplied by exp(-sensitivity × health).
        early_churn_end: first month after the extra early-churn window of an account billed
            after a card-required trial it forgot to cancel (0 = none; reset when a spell ends).
        term_health: sum of the monthly health of an annual account over its current term so
            far (its renewal reads the term's mean; reset at each renewal).
        renewal_offer: the current annual term is on an at-risk renewal discount (it lasts
            one term: the next renewal starts again from list or the grandfathered price).
        offer_end: month a won-back account's discount ends (0 = no offer running).
    """

    stage: np.ndarray
    stage_month: np.ndarray
    cohort_month: np.ndarray
    source: np.ndarray
    plan: np.ndarray
    annual: np.ndarray
    price_locked: np.ndarray
    seats: np.ndarray
    term_end: np.ndarray
    mrr: np.ndarray
    base_churn: np.ndarray
    health: np.ndarray
    early_churn_end: np.ndarray
    term_health: np.ndarray
    renewal_offer: np.ndarray
    offer_end: np.ndarray

    @classmethod
    def empty(cls, n: int) -> Population:
        """A market of ``n`` unaware accounts."""
        return cls(
            stage=np.full(n, Stage.UNAWARE, dtype=np.int8),
            stage_month=np.zeros(n, dtype=np.int16),
            cohort_month=np.full(n, NO_COHORT, dtype=np.int16),
            source=np.full(n, Source.NONE, dtype=np.int8),
            plan=np.full(n, NO_PLAN, dtype=np.int8),
            annual=np.zeros(n, dtype=np.bool_),
            price_locked=np.zeros(n, dtype=np.bool_),
            seats=np.ones(n, dtype=np.int32),
            term_end=np.zeros(n, dtype=np.int16),
            mrr=np.zeros(n, dtype=np.float32),
            base_churn=np.zeros(n, dtype=np.float32),
            health=np.zeros(n, dtype=np.float32),
            early_churn_end=np.zeros(n, dtype=np.int16),
            term_health=np.zeros(n, dtype=np.float32),
            renewal_offer=np.zeros(n, dtype=np.bool_),
            offer_end=np.zeros(n, dtype=np.int16),
        )

    def __len__(self) -> int:
        return len(self.stage)

    @property
    def nbytes(self) -> int:
        """Bytes held by the per-account arrays."""
        return sum(getattr(self, f.name).nbytes for f in fields(self))

    def view(self, sl: slice) -> Population:
        """The same arrays restricted to a slice of rows (views, not copies)."""
        return Population(*[getattr(self, name)[sl] for name in _COLUMNS])


#: The per-account arrays, in field order.
_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Population))
