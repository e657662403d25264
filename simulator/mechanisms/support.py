"""Support: tickets, the support desk (a Mesa agent with finite capacity) and SLA breaches.

Paying accounts raise tickets (Poisson, ``personas.*.support.tickets_per_month`` per account,
after the knowledge base deflects ``support.knowledge_base_deflection``), spread over channels
by the persona's ``channel_mix``. The desk is a pooled M/M/c queue (Erlang C): tickets arrive
over the staffed hours of the month, ``agents`` servers each work one ticket at a time. The
probability a ticket waits longer than its channel's SLA is
P(wait > t) = C(c, a) · exp(-(c - a) · t / handle_time), with offered load a = arrivals/hour ×
handle time; at or above full load (a ≥ c) every ticket breaches. An account's tickets this
month either meet the SLA or breach (one queue experience per account-month): a breach costs
``health.sla_breach_penalty``, good service adds ``health.support_resolved_bonus``. The desk's
cost is allocated to personas by tickets.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import mesa
import numpy as np
from scipy import stats

from simulator.mechanisms.base import Mechanism
from simulator.mechanisms.health import moves_churn
from simulator.streams import rescale

if TYPE_CHECKING:
    from simulator.model import JourneyModel
    from simulator.personas import PersonaAgent

SWITCH = "support"
SUPPORT_CHANNELS: tuple[str, ...] = ("chat", "email", "phone")


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
        self.agents_on_desk: int = s.agents
        self.cost_per_agent: float = s.cost_per_agent
        self.hours_per_month: float = s.hours_per_month
        self.deflection: float = s.knowledge_base_deflection
        self.handle_hours: dict[str, float] = {
            c: s.channels[c].handle_minutes / 60.0 for c in SUPPORT_CHANNELS
        }
        self.sla_hours: dict[str, float] = {c: s.channels[c].sla_hours for c in SUPPORT_CHANNELS}
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


def setup(model: JourneyModel) -> None:
    """The desk, staffed as configured (events change its agents)."""
    model.support_desk = SupportDesk(model)


def raise_tickets(agent: PersonaAgent) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paying accounts of one persona raise tickets this month.

    Returns (rows, tickets per row, a fresh uniform per row for its SLA draw)."""
    m = agent.model
    rate = agent.persona.support.tickets_per_month * (1.0 - m.support_desk.deflection)
    idx = np.flatnonzero(agent.paying_mask())
    u = agent.uniform("support")[idx]
    tickets = np.zeros(idx.size, dtype=np.int32)
    if rate > 0 and idx.size:
        kmax = int(rate + 12 * np.sqrt(rate) + 12)
        cdf = stats.poisson.cdf(np.arange(kmax + 1), rate).astype(np.float32)
        # Inverse CDF; only accounts with at least one ticket (u >= P(0)) need a search.
        some = np.flatnonzero(u >= cdf[0])
        k = np.searchsorted(cdf, u[some], side="right").astype(np.int32)
        tickets[some] = k
        lower = cdf[k - 1]
        width = np.where(k <= kmax, cdf[np.minimum(k, kmax)], 1.0) - lower
        # Within its ticket count's band u is a fresh uniform for the SLA draw (the draws of
        # accounts without tickets are never used).
        u[some] = rescale(u[some], lower, width)
    agent.add("tickets", float(tickets.sum()))
    return idx, tickets, u


def receive_support(
    agent: PersonaAgent,
    raised: tuple[np.ndarray, np.ndarray, np.ndarray],
    breach_by_channel: dict[str, float],
) -> None:
    """Each account with tickets meets the SLA or breaches; breaches hurt health, good service
    helps."""
    rows, tickets, u = raised
    if rows.size == 0:
        return
    mix = agent.persona.support.channel_mix
    p_breach = sum(mix[c] * breach_by_channel[c] for c in SUPPORT_CHANNELS)
    has = tickets > 0
    breach = has & (u < p_breach)
    served = has & ~breach
    h = agent.model.params.health
    pop = agent.pop
    pop.health[rows[breach]] -= np.float32(h.sla_breach_penalty)
    pop.health[rows[served]] += np.float32(h.support_resolved_bonus)
    agent.add("sla_breaches", tickets[breach].sum())
    agent.add("accounts_breached", np.count_nonzero(breach))


def support(model: JourneyModel) -> None:
    """Tickets from every persona → the desk's queue → SLA breaches → health."""
    by_channel = dict.fromkeys(SUPPORT_CHANNELS, 0.0)
    raised = []
    for agent in model.persona_agents:
        rows, tickets, u = raise_tickets(agent)
        total = float(tickets.sum())
        for c in SUPPORT_CHANNELS:
            by_channel[c] += total * agent.persona.support.channel_mix[c]
        raised.append((rows, tickets, u))
    breach = model.support_desk.serve(by_channel)
    for agent, mine in zip(model.persona_agents, raised, strict=True):
        receive_support(agent, mine, breach)


def allocate_cost(model: JourneyModel, n_paying: list[int]) -> None:
    """Each persona's ``support_cost`` ($): the desk's cost by its share of tickets (of paying
    accounts when there were none)."""
    agents = model.persona_agents
    ticket_total = sum(a.flows.get("tickets", 0.0) for a in agents)
    paying_total = sum(n_paying)
    cost = model.support_desk.monthly_cost
    for agent, paying in zip(agents, n_paying, strict=True):
        share = (
            agent.flows.get("tickets", 0.0) / ticket_total
            if ticket_total > 0
            else (paying / paying_total if paying_total else 0.0)
        )
        agent.flows["support_cost"] = cost * share


MECHANISM = Mechanism(
    name="support",
    switch=SWITCH,
    config=(
        "support.*",
        "personas.*.support",
        "health.sla_breach_penalty",
        "health.support_resolved_bonus",
    ),
    population=("stage", "health"),
    streams=("support",),
    outputs=("tickets", "sla_breaches", "accounts_breached", "support_cost"),
    moves_churn=moves_churn,
    setup=setup,
)
