"""Customer success: a team of CSMs (a Mesa agent with finite capacity) works at-risk accounts.

Each month the team works up to ``csms`` × ``accounts_per_csm`` paying accounts with health
below ``health.at_risk_threshold`` and MRR at least ``success.min_mrr`` $/month, largest MRR
first; each worked account gains ``success.health_boost``. The team scans each persona's paying
accounts (the month's paying index), not the market. Its cost is allocated to personas by
accounts worked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

from simulator.kernels import accounts
from simulator.mechanisms.base import Mechanism
from simulator.mechanisms.health import moves_churn

if TYPE_CHECKING:
    from simulator.model import JourneyModel

SWITCH = "success"


class SuccessTeam(mesa.Agent):
    """Customer-success managers working at-risk accounts, largest MRR first.

    Attributes:
        worked_rows: population rows (global) worked this month.
    """

    def __init__(self, model: JourneyModel):
        super().__init__(model)
        s = model.params.success
        self.csms: int = s.csms
        self.accounts_per_csm: int = s.accounts_per_csm
        self.cost_per_csm: float = s.cost_per_csm
        self.min_mrr: float = s.min_mrr
        self.health_boost: float = s.health_boost
        self.worked_last_month: int = 0
        self.at_risk_last_month: int = 0
        self.worked_rows: np.ndarray = np.zeros(0, dtype=np.int64)
        #: The end (exclusive) of each persona's population rows, persona order.
        self.persona_ends: np.ndarray = np.array([a.rows.stop for a in model.persona_agents])
        #: Accounts worked this month by persona (persona order).
        self.worked_by_persona: np.ndarray = np.zeros(self.persona_ends.size, dtype=np.int64)

    @property
    def capacity(self) -> int:
        """Accounts the team can work this month."""
        return self.csms * self.accounts_per_csm

    @property
    def monthly_cost(self) -> float:
        """Team cost, $ per month."""
        return self.csms * self.cost_per_csm

    def candidates(self) -> np.ndarray:
        """At-risk paying accounts worth working, as global population rows in row order (each
        persona's paying accounts row by row: ``accounts.at_risk_rows``)."""
        model = self.model
        threshold = model.params.health.at_risk_threshold
        parts = [
            accounts.at_risk_rows(
                agent.paying_rows(),
                agent.pop.stage,
                agent.pop.health,
                agent.pop.mrr,
                threshold,
                self.min_mrr,
                agent.rows.start,
            )
            for agent in model.persona_agents
        ]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def step(self) -> None:
        """Work the at-risk accounts: the top-MRR ones up to capacity get a health boost."""
        pop = self.model.population
        candidates = self.candidates()
        self.at_risk_last_month = int(candidates.size)
        cap = self.capacity
        if candidates.size > cap:
            mrr = pop.mrr[candidates]
            # Largest MRR first; ties broken by row (deterministic).
            top = np.argpartition(-mrr, cap - 1)[:cap] if cap > 0 else np.array([], dtype=int)
            candidates = candidates[top]
        pop.health[candidates] += self.health_boost
        self.worked_last_month = int(candidates.size)
        self.worked_rows = candidates
        # Personas are consecutive row ranges: a row's persona is the number of ends at or
        # below it.
        ends = self.persona_ends
        self.worked_by_persona = np.bincount(
            np.searchsorted(ends, candidates, side="right"), minlength=ends.size
        )


def setup(model: JourneyModel) -> None:
    """The team, staffed as configured (events change its CSMs)."""
    model.success_team = SuccessTeam(model)


def work_accounts(model: JourneyModel) -> None:
    """The team works this month's at-risk accounts."""
    model.success_team.step()


def allocate_cost(model: JourneyModel, n_paying: list[int]) -> None:
    """Each persona's ``success_cost`` ($) by its share of accounts worked (of paying accounts
    when none were worked), and its ``accounts_worked``."""
    team = model.success_team
    worked_total = int(team.worked_rows.size)
    paying_total = sum(n_paying)
    by_persona = team.worked_by_persona.tolist()
    for agent, paying, mine in zip(model.persona_agents, n_paying, by_persona, strict=True):
        share = (
            mine / worked_total
            if worked_total
            else (paying / paying_total if paying_total else 0.0)
        )
        agent.flows["success_cost"] = team.monthly_cost * share
        agent.flows["accounts_worked"] = mine


MECHANISM = Mechanism(
    name="success",
    switch=SWITCH,
    config=("success.*", "health.at_risk_threshold"),
    population=("stage", "health", "mrr"),
    outputs=("success_cost", "accounts_worked"),
    moves_churn=moves_churn,
    setup=setup,
)
