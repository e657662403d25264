"""The journey model: a Mesa model whose agents are personas and shared actors.

``JourneyModel`` owns the clock (one step = one month), the random streams, the ``STEPS`` table
and the monthly records. Customers are rows of a struct-of-arrays population; each
``PersonaAgent`` holds its own rows (``simulator.personas``), the ``SupportDesk`` and
``SuccessTeam`` are agents with finite capacity shared by all personas. Each mechanism is one
module of ``simulator.mechanisms``; a month runs their phases in the order of ``STEPS``, each
phase over every persona, and skips a phase whose mechanism is switched off. A month's work
follows the accounts that move (the aware prefix, transitions scheduled by waiting times,
running counters), not the size of the market.

Step order (one month), written into this docstring from ``STEPS`` at import:

{steps}
"""

from __future__ import annotations

import time
from collections.abc import Callable

import mesa
import numpy as np
from omegaconf import DictConfig

from simulator import attribution
from simulator.book import build_initial_state, split_by_share
from simulator.cohorts import record_cohorts
from simulator.mechanisms import (
    ALL,
    accounting,
    acquisition,
    advocacy,
    billing,
    churn,
    consideration,
    decision,
    events,
    expansion,
    health,
    onboarding,
    success,
    support,
    touchpoints,
    winback,
)
from simulator.mechanisms.base import Mechanism, PayingEndHook, PayingStartHook, Step
from simulator.params import ScenarioParams, params_of
from simulator.personas import PersonaAgent
from simulator.population import Population
from simulator.stages import Stage
from simulator.streams import RandomStreams

__all__ = ["STEPS", "JourneyModel", "describe_steps", "split_by_share"]

#: The one step order of a month. A step runs every persona before the next step starts; a
#: step whose mechanism's switch is off does not run.
STEPS: tuple[Step, ...] = (
    Step(
        "events",
        events.MECHANISM,
        events.apply_events,
        "scheduled events (price changes, capacity changes, campaigns, programmes)",
    ),
    Step(
        "acquisition",
        acquisition.MECHANISM,
        acquisition.acquire,
        "unaware → consideration (Bass p + q·adopters, channel leads, referrals)",
    ),
    Step(
        "consideration",
        consideration.MECHANISM,
        consideration.consider,
        "lost → consideration (nurture); consideration → decision | lost",
    ),
    Step(
        "decision",
        decision.MECHANISM,
        decision.decide,
        "trial / demo / free tier ends → plan (MNL) + billing term | lost",
    ),
    Step(
        "onboarding",
        onboarding.MECHANISM,
        onboarding.onboard,
        "onboarding → active, activated or not (health)",
    ),
    Step("health", health.MECHANISM, health.decay_health, "health decays towards neutral"),
    Step(
        "support",
        support.MECHANISM,
        support.support,
        "tickets → support desk queue → SLA breaches → health",
    ),
    Step(
        "success",
        success.MECHANISM,
        success.work_accounts,
        "customer success works at-risk accounts → health",
    ),
    Step(
        "billing",
        billing.MECHANISM,
        billing.bill_and_renew,
        "price changes reach the book, annual renewals (offers, cuts), failed payments",
    ),
    Step(
        "expansion",
        expansion.MECHANISM,
        expansion.expand_and_contract,
        "upgrades / seats, downgrades / seat cuts",
    ),
    Step("churn", churn.MECHANISM, churn.churn, "voluntary churn of monthly-billed accounts"),
    Step("advocacy", advocacy.MECHANISM, advocacy.advocate, "promoters ⇄ active"),
    Step(
        "reputation",
        advocacy.MECHANISM,
        advocacy.update_reputation,
        "reviews from advocates, healthy customers, unhappy churners → reputation",
    ),
    Step("winback", winback.MECHANISM, winback.win_back, "churned (earlier months) → active"),
    Step(
        "accounting",
        accounting.MECHANISM,
        accounting.close_month,
        "stage counts, MRR bridge, costs → one row per persona",
    ),
)


def describe_steps(steps: tuple[Step, ...] = STEPS) -> str:
    """The step order as text, one numbered line per step (the docstring and README list)."""
    return "\n".join(f"{i:2d}. {s.name:<15} {s.summary}" for i, s in enumerate(steps, 1))


__doc__ = (__doc__ or "").replace("{steps}", describe_steps())


def churn_is_scheduled(params: ScenarioParams, mechanisms: tuple[Mechanism, ...] = ALL) -> bool:
    """Whether churn months can be drawn once per paying spell: no mechanism that is on can
    change an account's churn probability or end its spell while it pays."""
    on = params.mechanisms
    return not any(m.moves_churn(params) for m in mechanisms if m.moves_churn and m.is_on(on))


class JourneyModel(mesa.Model):
    """SaaS customer-journey model for one scenario and one replication.

    Args:
        config: a composed Hydra config (``load_config``) or validated ``ScenarioParams``.
        replication: Monte Carlo replication index; with the config's ``seed`` it keys every
            random stream.

    Attributes:
        month: the last month simulated (0 before the first ``step``).
        population: per-account arrays (``Population``).
        persona_agents: one ``PersonaAgent`` per persona, in config order (and row order).
        support_desk, success_team: shared actors with capacity.
        active_steps: the rows of ``STEPS`` whose mechanism is on.
        churn_is_scheduled: churn months are drawn once per paying spell (see
            ``churn_is_scheduled``).
        records: one dict per (month, persona), the rows of the monthly table.
    """

    def __init__(self, config: DictConfig | ScenarioParams, replication: int = 0):
        params = params_of(config)
        super().__init__(
            rng=int(np.random.SeedSequence([params.seed, replication]).generate_state(1)[0])
        )
        # Mesa replaces ``step`` with a wrapper that advances its clock (``time``, ``steps``) and
        # calls the class's ``step`` without arguments: pass ``timings`` through it.
        self._timings: dict[str, float] | None = None
        mesa_step = self.step

        def step(timings: dict[str, float] | None = None) -> None:
            self._timings = timings
            try:
                mesa_step()
            finally:
                self._timings = None

        step.__doc__ = JourneyModel.step.__doc__
        self.step = step  # type: ignore[method-assign]
        self.params = params
        self.replication = int(replication)
        self.scenario_name = params.scenario_name
        self.mechanisms = dict(params.mechanisms)
        self.streams = RandomStreams(params.seed, replication, len(params.persona_list))
        self.month = 0
        self.records: list[dict] = []

        # Population: the whole market, persona by persona in contiguous slices.
        self.population = Population.empty(params.market.size)
        sizes = split_by_share(params.market.size, [p.share for p in params.persona_list])
        starts = np.concatenate([[0], np.cumsum(sizes)])
        calendars = tuple(c for m in ALL for c in m.calendars)
        self.persona_agents: list[PersonaAgent] = [
            PersonaAgent(self, p, slice(int(starts[i]), int(starts[i + 1])), calendars)
            for i, p in enumerate(params.persona_list)
        ]

        attribution.setup(self)  # each account's acquisition source (simulator.attribution)
        # Mechanisms: their state, the steps and hooks of those switched on (checked once).
        for mechanism in ALL:
            if mechanism.setup is not None:
                mechanism.setup(self)
        active = [m for m in ALL if m.is_on(self.mechanisms)]
        self.active_steps: tuple[Step, ...] = tuple(s for s in STEPS if s.mechanism in active)
        self.paying_start_hooks: list[PayingStartHook] = [
            m.on_paying_start for m in active if m.on_paying_start
        ]
        self.paying_end_hooks: list[PayingEndHook] = [
            m.on_paying_end for m in active if m.on_paying_end
        ]
        self.churn_is_scheduled = churn_is_scheduled(params)

        build_initial_state(self)
        accounting.start_history(self)
        #: (month, persona index, cohort months, accounts, MRR) at month 0 and after every
        #: month (``simulator.cohorts``: read-only, no draws).
        self.cohort_records: list[tuple] = []
        record_cohorts(self)

    # ------------------------------------------------------------------ the month
    def step(self, timings: dict[str, float] | None = None) -> None:
        """Simulate one month, in the order of ``STEPS``.

        Args:
            timings: when given, each step's elapsed seconds are added to
                ``timings[step.name]`` (steps switched off are not run and not timed).
        """
        if timings is None:
            timings = self._timings
        self.month += 1
        for agent in self.persona_agents:
            agent.begin_month()
        if timings is None:
            for s in self.active_steps:
                s.run(self)
        else:
            clock = time.perf_counter
            for s in self.active_steps:
                start = clock()
                s.run(self)
                timings[s.name] = timings.get(s.name, 0.0) + (clock() - start)
        record_cohorts(self)
        attribution.record(self)  # counts by acquisition source (no draws)
        touchpoints.log_contacts(self)  # sampled accounts' contacts (journey_log.share > 0)

    # ------------------------------------------------------------------ live view
    @property
    def stage_counts(self) -> dict[str, int]:
        """Accounts per stage right now, over all personas."""
        total = sum(a.counts for a in self.persona_agents)
        return {s.name.lower(): int(total[s]) for s in Stage}

    @property
    def mrr(self) -> float:
        """Current MRR over all personas ($/month)."""
        return sum(a.mrr_total for a in self.persona_agents)

    @property
    def reputation_utility(self) -> float:
        """Decision utility from reviews now (``simulator.mechanisms.advocacy``)."""
        return advocacy.reputation_utility(self)

    def run(self, months: int | None = None, on_month: Callable[[], object] | None = None) -> None:
        """Step ``months`` months (default: the scenario's horizon), calling ``on_month`` after
        each one (progress reporting)."""
        for _ in range(self.params.months if months is None else months):
            self.step()
            if on_month is not None:
                on_month()

    def record_contact(
        self, persona: PersonaAgent | int | str, rows: np.ndarray, touchpoint: str
    ) -> None:
        """Touchpoint ``touchpoint`` reached accounts ``rows`` (rows of ``persona``: its agent,
        index or name) this month: the sampled ones get a row in the journey event log
        (``simulator.journey``; nothing without ``journey_log.share``)."""
        if isinstance(persona, PersonaAgent):
            agent = persona
        elif isinstance(persona, str):
            agent = next(a for a in self.persona_agents if a.persona.name == persona)
        else:
            agent = self.persona_agents[int(persona)]
        agent.trace.contact(agent, np.asarray(rows), touchpoint)
