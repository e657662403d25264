"""Shared actors with finite capacity: the support desk and the customer-success team.

The support desk is a pooled M/M/c queue (Erlang C): tickets arrive over the staffed hours of
the month, ``agents`` servers each work one ticket at a time. The probability a ticket waits
longer than its channel's SLA is P(wait > t) = C(c, a) · exp(-(c - a) · t / handle_time), with
offered load a = arrivals/hour × handle time. At or above full load (a ≥ c) every ticket
breaches. The breach probability per persona feeds its customers' health.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import mesa
import numpy as np

from simulator.params import SUPPORT_CHANNELS
from simulator.stages import Stage

if TYPE_CHECKING:
    from simulator.model import JourneyModel


def erlang_c(servers: int, offered_load: float) -> float:
    """Probability an arrival waits in an M/M/c queue (Erlang C); 1.0 when overloaded."""
    if offered_load <= 0.0:
        return 0.0
    if servers <= 0 or offered_load >= servers:
        return 1.0
    # Erlang B by the stable recursion, then C from B.
    b = 1.0
    for k in range(1, servers + 1):
        b = offered_load * b / (k + offered_load * b)
    rho = offered_load / servers
    return b / (1.0 - rho + rho * b)


def sla_breach_probability(
    servers: int, arrivals_per_hour: float, handle_hours: float, sla_hours: float
) -> float:
    """P(first response later than the SLA) for one channel on a pooled M/M/c desk."""
    load = arrivals_per_hour * handle_hours
    if load <= 0.0:
        return 0.0
    if servers <= 0 or load >= servers:
        return 1.0
    c = erlang_c(servers, load)
    return float(c * math.exp(-(servers - load) * sla_hours / handle_hours))


class SupportDesk(mesa.Agent):
    """The support desk: finite agents; load → waiting → SLA breaches per channel."""

    def __init__(self, model: JourneyModel):
        super().__init__(model)
        s = model.params.support
        self.agents_on_desk: int = int(s["agents"])
        self.cost_per_agent: float = s["cost_per_agent"]
        self.hours_per_month: float = s["hours_per_month"]
        self.deflection: float = s["deflection"]
        self.handle_hours: dict[str, float] = s["handle_hours"]
        self.sla_hours: dict[str, float] = s["sla_hours"]
        self.tickets_by_channel: dict[str, float] = dict.fromkeys(SUPPORT_CHANNELS, 0.0)
        self.breach_probability: dict[str, float] = dict.fromkeys(SUPPORT_CHANNELS, 0.0)
        self.utilisation: float = 0.0

    def serve(self, tickets_by_channel: dict[str, float]) -> dict[str, float]:
        """Queue this month's tickets; return the SLA-breach probability per channel."""
        self.tickets_by_channel = tickets_by_channel
        hours = self.hours_per_month
        workload = sum(tickets_by_channel[c] * self.handle_hours[c] for c in SUPPORT_CHANNELS)
        total = sum(tickets_by_channel.values())
        self.utilisation = (
            workload / (hours * self.agents_on_desk) if self.agents_on_desk else float(total > 0)
        )
        if total <= 0:
            self.breach_probability = dict.fromkeys(SUPPORT_CHANNELS, 0.0)
            return self.breach_probability
        # Pooled desk: one queue with the ticket-weighted mean handle time.
        mean_handle = workload / total
        arrivals = total / hours
        servers = self.agents_on_desk
        self.breach_probability = {
            c: sla_breach_probability(servers, arrivals, mean_handle, self.sla_hours[c])
            for c in SUPPORT_CHANNELS
        }
        return self.breach_probability

    @property
    def monthly_cost(self) -> float:
        """Desk cost, $ per month."""
        return self.agents_on_desk * self.cost_per_agent


class SuccessTeam(mesa.Agent):
    """Customer-success managers working at-risk accounts, largest MRR first."""

    def __init__(self, model: JourneyModel):
        super().__init__(model)
        s = model.params.success
        self.csms: int = int(s["csms"])
        self.accounts_per_csm: int = int(s["accounts_per_csm"])
        self.cost_per_csm: float = s["cost_per_csm"]
        self.min_mrr: float = s["min_mrr"]
        self.health_boost: float = s["health_boost"]
        self.worked_last_month: int = 0
        self.at_risk_last_month: int = 0

    @property
    def capacity(self) -> int:
        """Accounts the team can work this month."""
        return self.csms * self.accounts_per_csm

    @property
    def monthly_cost(self) -> float:
        """Team cost, $ per month."""
        return self.csms * self.cost_per_csm

    def step(self) -> None:
        """Work the at-risk accounts: the top-MRR ones up to capacity get a health boost."""
        model = self.model
        pop = model.population
        threshold = model.params.health["at_risk_threshold"]
        candidates = np.flatnonzero(
            ((pop.stage >= Stage.ONBOARDING) & (pop.stage <= Stage.ADVOCATE))
            & (pop.health < threshold)
            & (pop.mrr >= self.min_mrr)
        )
        self.at_risk_last_month = int(candidates.size)
        cap = self.capacity
        if candidates.size > cap:
            mrr = pop.mrr[candidates]
            # Largest MRR first; ties broken by row (deterministic).
            top = np.argpartition(-mrr, cap - 1)[:cap] if cap > 0 else np.array([], dtype=int)
            candidates = candidates[top]
        pop.health[candidates] += self.health_boost
        self.worked_last_month = int(candidates.size)
        model.success_worked_rows = candidates
