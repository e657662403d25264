"""Support: tickets, the support desk (a Mesa agent with finite capacity), its backlog and SLA
breaches.

Paying accounts raise tickets (Poisson, ``personas.*.support.tickets_per_month`` per account,
after the knowledge base deflects ``support.knowledge_base_deflection``), spread over channels
by the persona's ``channel_mix``. The desk is one pooled first-come-first-served queue over
chat, email and phone, open ``hours_per_month`` hours; each of its ``agents`` works tickets for
a share ``1 - shrinkage`` of those hours (the rest goes to breaks, training, meetings and
absence), so it has ``agents × hours_per_month × (1 - shrinkage)`` hours of handling a month.

**Backlog.** Tickets the desk cannot work in a month are carried into the next: the desk works
last month's backlog first, then this month's arrivals, up to its hours,

    worked  = min(backlog_start + arrivals, capacity hours / handle time)   (per channel, FIFO)
    backlog_end = backlog_start + arrivals - worked   (≥ 0),

and ``support_backlog`` (tickets, a stock) is each persona's share of it.

**SLA breaches** (first response later than the channel's SLA t). A ticket arriving s hours into
the month waits for the work ahead of it, D(s), plus a random queueing delay V:

- D(s) = max(0, D₀ + (a - c)·s / c), with D₀ = backlog work (hours) / (c agents on the floor),
  a = arrivals per hour × h the offered load (h the mean handle time per productive hour,
  handle time / (1 - shrinkage)); D falls while the desk drains a backlog (a < c) and grows
  without bound in an overloaded month (a > c): the fluid limit of the queue.
- V is the Erlang C delay of the M/M/c queue: P(V > x) = C(c, min(a, c)) · exp(-θ x) with
  θ = max((c - a) / h, 1 / w*). Below saturation this is the textbook stationary law; near and
  above it a month is too short to reach that law (its mean wait grows without bound as a → c),
  so the delay is capped at w* = (4/3)·sqrt(H·h / (π c)), the mean wait a critically loaded desk
  builds over a month of H open hours (the queue at load 1 is a reflected Brownian motion with
  variance 2c/h per hour; E|B(s)| averaged over the month, divided by the service rate c/h).
  Below a ≈ c - h/w* (about 97% utilisation for the default desk) the cap does not bind.

P(breach) = (1/H) ∫₀ᴴ P(D(s) + V > t) ds, in closed form over the segments of D. It is
continuous and increasing in the load, the backlog and the handle time, decreasing in agents
and in the SLA: at load 1 a 6-minute chat SLA breaches about 96% of tickets and a 4-hour email
SLA about 20%; above it breaches rise smoothly towards 1 as the backlog grows. With H infinite
and no backlog it is the stationary Erlang C answer (every ticket breaches at a ≥ c).

An account's tickets this month either meet the SLA or breach (one queue experience per
account-month): a breach costs ``health.sla_breach_penalty``, good service adds
``health.support_resolved_bonus``. The desk's cost and hours are allocated to personas by
tickets.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import TYPE_CHECKING

import mesa
import numpy as np
from scipy import special

from simulator import kernels
from simulator.mechanisms.base import Mechanism
from simulator.mechanisms.health import moves_churn

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


def critical_wait(servers: int, handle_hours: float, open_hours: float) -> float:
    """w* = (4/3)·sqrt(H·h / (π c)): the mean wait a desk at load 1 builds over H open hours
    (hours; infinite for an infinite horizon)."""
    if math.isinf(open_hours):
        return math.inf
    return 4.0 / 3.0 * math.sqrt(open_hours * handle_hours / (math.pi * servers))


def _exp_segment(
    c_wait: float, theta: float, t: float, d_u: float, k: float, length: float
) -> float:
    """∫ C·exp(-θ (t - D(s))) ds over a segment of the given length on which D is linear,
    D = d_u at its start with slope k, and D ≤ t throughout (so every exponent is ≤ 0)."""
    if length <= 0.0:
        return 0.0
    x = theta * k * length
    grow = math.expm1(x) / x if abs(x) > 1e-12 else 1.0
    return c_wait * math.exp(-theta * (t - d_u)) * length * grow


def sla_breach_probability(
    servers: int,
    arrivals_per_hour: float,
    handle_hours: float,
    sla_hours: float,
    *,
    backlog_hours: float = 0.0,
    open_hours: float = math.inf,
) -> float:
    """P(first response later than the SLA) for a ticket arriving in the month, on a pooled
    FCFS desk of ``servers`` agents (see the module docstring for the formula).

    Args:
        servers: agents on the floor, c.
        arrivals_per_hour: tickets arriving per open hour, λ.
        handle_hours: mean handle time per productive hour, h (offered load a = λh).
        sla_hours: the channel's first-response target, t.
        backlog_hours: handling work carried from last month (hours at rate h per ticket).
        open_hours: open hours in the month, H; infinite: the stationary Erlang C answer.
    """
    load = arrivals_per_hour * handle_hours
    if load <= 0.0 and backlog_hours <= 0.0:
        return 0.0
    if servers <= 0:
        return 1.0
    c = servers
    w_star = critical_wait(c, handle_hours, open_hours)
    if math.isinf(w_star):  # stationary queue: the backlog is a transient of measure 0
        if load >= c:
            return 1.0
        return float(erlang_c(c, load) * math.exp(-(c - load) * sla_hours / handle_hours))
    c_wait = erlang_c(c, min(load, float(c)))
    theta = max(max(c - load, 0.0) / handle_hours, 1.0 / w_star)
    t, big_h = sla_hours, open_hours
    d0 = backlog_hours / c  # wait for the backlog ahead at the start of the month
    k = (load - c) / c  # dD/ds while the queue is not empty
    total = 0.0
    if k >= 0.0:
        # D rises from d0: below t until s_x, then every ticket breaches.
        s_x = big_h if k == 0.0 else min(big_h, max(0.0, (t - d0) / k))
        if d0 >= t:
            s_x = 0.0
        total += _exp_segment(c_wait, theta, t, d0, k, s_x) + (big_h - s_x)
    else:
        # D falls from d0 to 0 at s0 (the backlog is cleared), then stays at 0.
        s0 = min(big_h, d0 / -k)
        s_x = min(s0, max(0.0, (d0 - t) / -k))  # D > t before s_x
        d_x = d0 + k * s_x
        total += s_x + _exp_segment(c_wait, theta, t, d_x, k, s0 - s_x)
        total += (big_h - s0) * c_wait * math.exp(-theta * t)
    return float(min(1.0, max(0.0, total / big_h)))


class SupportDesk(mesa.Agent):
    """The support desk: finite agents; a FIFO queue with a backlog carried between months;
    load and backlog → waiting → SLA breaches per channel."""

    def __init__(self, model: JourneyModel):
        super().__init__(model)
        s = model.params.support
        self.agents_on_desk: int = s.agents
        self.cost_per_agent: float = s.cost_per_agent
        self.hours_per_month: float = s.hours_per_month
        self.productive_share: float = 1.0 - s.shrinkage
        self.deflection: float = s.knowledge_base_deflection
        #: Handle time per ticket by channel (hours), in SUPPORT_CHANNELS order.
        self.handle: np.ndarray = np.array(
            [s.channels[c].handle_minutes / 60.0 for c in SUPPORT_CHANNELS]
        )
        self.sla_hours: dict[str, float] = {c: s.channels[c].sla_hours for c in SUPPORT_CHANNELS}
        n = len(model.params.personas)
        #: Tickets waiting, by persona (rows, persona order) and channel (columns).
        self.backlog: np.ndarray = np.zeros((n, len(SUPPORT_CHANNELS)))
        self.worked: np.ndarray = np.zeros_like(self.backlog)
        self.hours_worked: np.ndarray = np.zeros(n)
        self.tickets_by_channel: dict[str, float] = dict.fromkeys(SUPPORT_CHANNELS, 0.0)
        self.breach_probability: dict[str, float] = dict.fromkeys(SUPPORT_CHANNELS, 0.0)
        self.utilisation: float = 0.0

    @property
    def capacity_hours(self) -> float:
        """Hours of ticket handling the desk has this month."""
        return self.agents_on_desk * self.hours_per_month * self.productive_share

    def serve(self, arrivals: np.ndarray) -> dict[str, float]:
        """Queue this month's tickets (persona × channel) behind the backlog; work them first
        come first served up to the desk's hours; return the SLA-breach probability per
        channel of this month's arrivals."""
        arrivals = np.asarray(arrivals, dtype=np.float64)
        backlog = self.backlog
        self.tickets_by_channel = dict(zip(SUPPORT_CHANNELS, arrivals.sum(axis=0), strict=True))
        capacity = self.capacity_hours
        backlog_work = float((backlog @ self.handle).sum())
        arrival_work = float((arrivals @ self.handle).sum())
        # FIFO: the backlog first, then this month's arrivals (each worked in the same share
        # whatever its persona or channel: they are spread evenly over the month).
        done_backlog = min(1.0, capacity / backlog_work) if backlog_work > 0 else 1.0
        left = max(0.0, capacity - backlog_work)
        done_arrivals = min(1.0, left / arrival_work) if arrival_work > 0 else 1.0
        self.worked = backlog * done_backlog + arrivals * done_arrivals
        self.backlog = backlog * (1.0 - done_backlog) + arrivals * (1.0 - done_arrivals)
        self.hours_worked = self.worked @ self.handle
        work = backlog_work * done_backlog + arrival_work * done_arrivals
        self.utilisation = work / capacity if capacity > 0 else float(work > 0)
        total = float(arrivals.sum())
        if total <= 0:
            self.breach_probability = dict.fromkeys(SUPPORT_CHANNELS, 0.0)
            return self.breach_probability
        # Pooled desk: one queue with the ticket-weighted mean handle time per productive hour.
        share = self.productive_share
        mean_handle = arrival_work / total / share if share > 0 else math.inf
        servers = self.agents_on_desk if share > 0 else 0
        open_hours = self.hours_per_month
        self.breach_probability = {
            c: sla_breach_probability(
                servers,
                total / open_hours,
                mean_handle,
                self.sla_hours[c],
                backlog_hours=backlog_work / share if share > 0 else 0.0,
                open_hours=open_hours,
            )
            for c in SUPPORT_CHANNELS
        }
        return self.breach_probability

    @property
    def monthly_cost(self) -> float:
        """Desk cost, $ per month."""
        return self.agents_on_desk * self.cost_per_agent


def setup(model: JourneyModel) -> None:
    """The desk, staffed as configured (events change its agents), with no backlog."""
    model.support_desk = SupportDesk(model)


@lru_cache(maxsize=256)
def poisson_cdf(rate: float) -> np.ndarray:
    """P(tickets <= k) for k = 0 … kmax of Poisson(``rate``) in float32 (read-only), kmax =
    rate + 12 sqrt(rate) + 12: the inverse-CDF table of ``raise_tickets``, built once per rate
    (a rate is fixed for a persona: events do not change it)."""
    kmax = int(rate + 12 * np.sqrt(rate) + 12)
    # (scipy.stats.poisson.cdf's own formula, without importing scipy.stats: a third of a second)
    cdf = special.pdtr(np.arange(kmax + 1), rate).astype(np.float32)
    cdf.flags.writeable = False
    return cdf


def raise_tickets(agent: PersonaAgent) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Paying accounts of one persona raise tickets this month (inverse Poisson CDF at one
    draw per account: ``kernels.raise_tickets``).

    Returns (rows with at least one ticket, their tickets, a fresh uniform per row for its SLA
    draw, the persona's tickets in all)."""
    m = agent.model
    rate = agent.persona.support.tickets_per_month * (1.0 - m.support_desk.deflection)
    rows = agent.paying_rows()
    if rate > 0 and rows.size:
        raised = kernels.raise_tickets(
            rows, agent.pop.stage, poisson_cdf(rate), agent.row_key("support")
        )
    else:
        raised = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32), np.zeros(0, np.float32))
    total = float(raised[1].sum())
    agent.add("tickets", total)
    return (*raised, total)


def receive_support(
    agent: PersonaAgent,
    raised: tuple[np.ndarray, np.ndarray, np.ndarray, float],
    breach_by_channel: dict[str, float],
) -> None:
    """Each account with tickets meets the SLA or breaches; breaches hurt health, good service
    helps."""
    rows, tickets, u, _ = raised
    if rows.size == 0:
        return
    mix = agent.persona.support.channel_mix
    p_breach = sum(mix[c] * breach_by_channel[c] for c in SUPPORT_CHANNELS)
    h = agent.model.params.health
    breaches, accounts = kernels.serve_tickets(
        rows,
        tickets,
        u,
        agent.pop.health,
        p_breach,
        h.sla_breach_penalty,
        h.support_resolved_bonus,
    )
    agent.add("sla_breaches", breaches)
    agent.add("accounts_breached", accounts)


def support(model: JourneyModel) -> None:
    """Tickets from every persona → the desk's queue (behind its backlog) → SLA breaches →
    health; each persona's tickets worked, hours and share of the backlog."""
    agents = model.persona_agents
    raised = [raise_tickets(agent) for agent in agents]
    # Arrivals by persona (rows) and channel (columns).
    arrivals = np.array(
        [
            [total * agent.persona.support.channel_mix[c] for c in SUPPORT_CHANNELS]
            for agent, (*_, total) in zip(agents, raised, strict=True)
        ]
    )
    desk = model.support_desk
    breach = desk.serve(arrivals)
    worked = desk.worked.sum(axis=1)
    backlog = desk.backlog.sum(axis=1)
    for k, (agent, mine) in enumerate(zip(agents, raised, strict=True)):
        receive_support(agent, mine, breach)
        agent.add("tickets_worked", worked[k])
        agent.add("support_hours", desk.hours_worked[k])
        agent.flows["support_backlog"] = float(backlog[k])


def allocate_cost(model: JourneyModel, n_paying: list[int]) -> None:
    """Each persona's ``support_cost`` ($) and ``support_capacity_hours``: the desk's cost and
    hours by its share of tickets (of paying accounts when there were none)."""
    agents = model.persona_agents
    ticket_total = sum(a.flows.get("tickets", 0.0) for a in agents)
    paying_total = sum(n_paying)
    desk = model.support_desk
    cost = desk.monthly_cost
    hours = desk.capacity_hours
    for agent, paying in zip(agents, n_paying, strict=True):
        share = (
            agent.flows.get("tickets", 0.0) / ticket_total
            if ticket_total > 0
            else (paying / paying_total if paying_total else 0.0)
        )
        agent.flows["support_cost"] = cost * share
        agent.flows["support_capacity_hours"] = hours * share


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
    outputs=(
        "tickets",
        "sla_breaches",
        "accounts_breached",
        "support_cost",
        "tickets_worked",
        "support_backlog",
        "support_hours",
        "support_capacity_hours",
    ),
    moves_churn=moves_churn,
    setup=setup,
)
