"""The journey model: a Mesa model whose agents are personas and shared actors.

``JourneyModel`` owns the clock (one step = one month), the random streams, the price book,
scheduled events and the monthly records. Customers are rows of a struct-of-arrays population;
each ``PersonaAgent`` moves its own rows, the ``SupportDesk`` and ``SuccessTeam`` are agents
with finite capacity shared by all personas. A month's work follows the accounts that move
(the aware prefix, transitions scheduled by waiting times, running counters: see
``simulator/personas.py``), not the size of the market.

Step order (one month), the same in the README:

 1. scheduled events (price changes, capacity changes, campaigns, programme changes)
 2. acquisition      unaware → consideration (Bass p + q·adopters, channel leads, referrals)
 3. consideration    lost → consideration (nurture); consideration → decision | lost
 4. decision         trial / demo / free tier ends → plan (MNL) + billing term | lost
 5. onboarding       onboarding → active, activated or not (health)
 6. active           health decay; tickets → support desk queue → SLA breaches → health;
                     customer success works at-risk accounts → health
 7. billing/renewal  price changes reach the book, annual renewals (offers), failed payments
 8. expansion        upgrades / seats, downgrades / seat cuts
 9. churn            voluntary churn of monthly-billed accounts
10. advocacy         promoters ⇄ active; reviews → reputation
11. win-back         churned (earlier months) → active
12. accounting       stage counts, MRR bridge, costs → one row per persona
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import mesa
import numpy as np
from omegaconf import DictConfig

from simulator.params import SUPPORT_CHANNELS, ScenarioParams, read_params
from simulator.personas import PersonaAgent
from simulator.population import Population
from simulator.pricing import PriceBook, annual_probability, choice_probabilities, choose
from simulator.results import FLOW_COLUMNS, STAGE_COLUMNS
from simulator.stages import Stage
from simulator.streams import RandomStreams
from simulator.support import SuccessTeam, SupportDesk


def split_by_share(total: int, shares: list[float]) -> list[int]:
    """Split ``total`` accounts by ``shares`` with the largest-remainder method (exact sum)."""
    raw = np.asarray(shares, dtype=np.float64) * total
    base = np.floor(raw).astype(np.int64)
    short = int(total - base.sum())
    order = np.argsort(-(raw - base), kind="stable")
    base[order[:short]] += 1
    return [int(x) for x in base]


class JourneyModel(mesa.Model):
    """SaaS customer-journey model for one scenario and one replication.

    Args:
        config: a composed Hydra config (``load_config``) or validated ``ScenarioParams``.
        replication: Monte Carlo replication index; with the config's ``seed`` it keys every
            random stream.

    Attributes:
        month: the last month simulated (0 before the first ``step``).
        population: per-account arrays (``Population``).
        persona_agents: one ``PersonaAgent`` per persona, in config order.
        support_desk, success_team: shared actors with capacity.
        records: one dict per (month, persona), the rows of the monthly table.
    """

    def __init__(self, config: DictConfig | ScenarioParams, replication: int = 0):
        params = config if isinstance(config, ScenarioParams) else read_params(config)
        super().__init__(
            rng=int(np.random.SeedSequence([params.seed, replication]).generate_state(1)[0])
        )
        self.params = params
        self.replication = int(replication)
        self.scenario_name = params.scenario_name
        self.mechanisms = dict(params.mechanisms)
        self.streams = RandomStreams(params.seed, replication)
        self.month = 0
        self.book = PriceBook(params.plans, params.annual_discount)
        self.onboarding_paths = params.onboarding_paths
        self.onboarding_quality = {n: p.quality for n, p in params.onboarding_paths.items()}
        self.repricing_due = False
        self.success_worked_rows = np.zeros(0, dtype=np.int64)
        self._campaigns: list[tuple[int, int, str, float]] = []
        self.records: list[dict[str, Any]] = []

        # Reputation: share of positive reviews, starting from a prior.
        adv = params.advocacy
        self.reviews_positive = adv["reputation_prior_reviews"] * adv["reputation_prior_rating"]
        self.reviews_total = adv["reputation_prior_reviews"]

        # Population: the whole market, persona by persona in contiguous slices.
        self.population = Population.empty(params.market_size)
        sizes = split_by_share(params.market_size, [p.share for p in params.personas])
        starts = np.concatenate([[0], np.cumsum(sizes)])
        self.persona_agents: list[PersonaAgent] = [
            PersonaAgent(self, p, slice(int(starts[i]), int(starts[i + 1])))
            for i, p in enumerate(params.personas)
        ]
        self.support_desk = SupportDesk(self)
        self.success_team = SuccessTeam(self)

        # Channel leads split across personas by their channel weights.
        self.channel_share: list[dict[str, float]] = []
        for p in params.personas:
            shares = {}
            for c in params.channels:
                total = sum(q.channel_weight[c] for q in params.personas)
                if total > 0 and p.channel_weight[c] > 0:
                    shares[c] = p.channel_weight[c] / total
            self.channel_share.append(shares)

        #: Churn is scheduled (a churn month drawn once per paying spell, ``PersonaAgent``) when
        #: an account's monthly churn probability cannot change while it pays: health does not
        #: move churn, and no other monthly risk (failed payments) or renewal ends a spell.
        self.churn_is_scheduled = (
            params.health["churn_sensitivity"] <= 0
            and not self.mechanisms["annual_contracts"]
            and not self.mechanisms["involuntary_churn"]
        )
        initial = split_by_share(params.initial_customers, [p.share for p in params.personas])
        for agent, n_initial in zip(self.persona_agents, initial, strict=True):
            self._init_persona(agent, n_initial)
            agent.recount()
            agent.schedule_churn(np.arange(n_initial), first_month=1)
        # MRR snapshots at the end of the last 12 months (month 0 = the initial book), one array
        # per persona over its aware rows (the other rows have MRR 0).
        self.mrr_history: deque[list[np.ndarray]] = deque(
            [[a.pop.mrr[: a.aware].copy() for a in self.persona_agents]], maxlen=12
        )

    # ------------------------------------------------------------------ set-up
    def _init_persona(self, agent: PersonaAgent, n_initial: int) -> None:
        """Draw seats and base churn for every account; make the first rows the current book."""
        p = agent.persona
        pop = agent.pop
        n = agent.size
        gen = self.streams.generator("init", 0, p.index)
        seats = 1.0 + (p.seats_mean - 1.0) * gen.standard_gamma(2.0, size=n) / 2.0
        pop.seats[:] = np.clip(np.rint(seats), 1, 2**31 - 1).astype(np.int32)
        if p.churn_concentration is None or p.churn_mean in (0.0, 1.0):
            pop.base_churn[:] = p.churn_mean
        else:
            a = p.churn_mean * p.churn_concentration
            b = (1.0 - p.churn_mean) * p.churn_concentration
            pop.base_churn[:] = gen.beta(a, b, size=n)
        u_plan = gen.random(n)
        u_term = gen.random(n)
        if n_initial == 0:
            return
        book = slice(0, n_initial)
        probs = choice_probabilities(p, self.book, pop.seats[book])[:, 1:]
        probs /= probs.sum(axis=1, keepdims=True)
        plan, v = choose(probs, u_plan[book])
        if self.mechanisms["annual_contracts"]:
            share = self.params.initial_annual_share
            p_annual = (
                share if share is not None else annual_probability(p, self.book.annual_discount)
            )
            annual = v < p_annual
        else:
            annual = np.zeros(n_initial, dtype=np.bool_)
        term = self.params.renewal["term_months"]
        pop.plan[book] = plan.astype(np.int8)
        pop.annual[book] = annual
        pop.mrr[book] = self.book.account_mrr(
            pop.plan[book], pop.seats[book], annual, p.price_multiplier
        )
        pop.term_end[book] = np.where(annual, 1 + np.floor(u_term[book] * term), 0)
        pop.stage[book] = Stage.ACTIVE
        pop.cohort_month[book] = 0
        pop.stage_month[book] = 0

    # ------------------------------------------------------------------ events
    def channel_spend(self, channel: str) -> float:
        """This month's spend on a channel ($), campaigns included."""
        spend = self.params.channels[channel][0]
        for start, months, c, extra in self._campaigns:
            if c == channel and start <= self.month < start + months:
                spend += extra
        return spend

    @property
    def reputation_utility(self) -> float:
        """Decision utility from reviews: weight × (positive share - prior positive share)."""
        adv = self.params.advocacy
        rating = self.reviews_positive / self.reviews_total
        return adv["reputation_weight"] * (rating - adv["reputation_prior_rating"])

    def _apply_events(self) -> None:
        self.repricing_due = False
        for ev in self.params.events:
            if ev.month != self.month:
                continue
            v = ev.values
            if ev.type == "price_change":
                plan = self.params.plan_names.index(v["plan"])
                self.book.list_price[plan] = v["price"]
                if v["grandfather"]:
                    pop = self.population
                    paying = (pop.stage >= Stage.ONBOARDING) & (pop.stage <= Stage.ADVOCATE)
                    pop.price_locked[paying & (pop.plan == plan)] = True
                self.repricing_due = True
            elif ev.type == "support_capacity":
                self.support_desk.agents_on_desk = int(v["agents"])
            elif ev.type == "success_capacity":
                self.success_team.csms = int(v["csms"])
            elif ev.type == "campaign":
                self._campaigns.append((ev.month, int(v["months"]), v["channel"], v["spend"]))
            elif ev.type == "onboarding_quality":
                self.onboarding_quality[v["path"]] = v["quality"]

    # ------------------------------------------------------------------ the month
    def step(self) -> None:
        """Simulate one month, in the step order of the module docstring."""
        self.month += 1
        personas = self.persona_agents
        for agent in personas:
            agent.begin_month()
        self._apply_events()
        for agent in personas:
            agent.acquire()
            agent.consider()
            agent.decide()
            agent.onboard()
        for agent in personas:
            agent.decay_health()
        self._support()
        self._success()
        for agent in personas:
            agent.bill_and_renew()
            agent.expand_and_contract()
            agent.churn()
            agent.advocate()
        self._update_reputation()
        for agent in personas:
            agent.win_back()
        self._account()

    def _support(self) -> None:
        desk = self.support_desk
        if not self.mechanisms["support"]:
            return
        by_channel = dict.fromkeys(SUPPORT_CHANNELS, 0.0)
        for agent in self.persona_agents:
            for c, x in agent.raise_tickets().items():
                by_channel[c] += x
        breach = desk.serve(by_channel)
        for agent in self.persona_agents:
            agent.receive_support(breach)

    def _success(self) -> None:
        if not self.mechanisms["success"]:
            self.success_worked_rows = np.zeros(0, dtype=np.int64)
            return
        self.success_team.step()

    def _update_reputation(self) -> None:
        if not self.mechanisms["referrals"]:
            return
        adv = self.params.advocacy
        gen = self.streams.generator("reputation", self.month)
        advocates = sum(int(a.counts[Stage.ADVOCATE]) for a in self.persona_agents)
        unhappy = sum(a.negative_churners for a in self.persona_agents)
        positive = gen.poisson(advocates * adv["review_rate"])
        negative = gen.poisson(unhappy * adv["negative_review_rate"])
        self.reviews_positive += positive
        self.reviews_total += positive + negative

    def _account(self) -> None:
        """Close the month: one record per persona (stage counts, MRR bridge, costs)."""
        par = self.params
        t = self.month
        mechanisms = self.mechanisms
        threshold = par.health["at_risk_threshold"]
        ticket_total = sum(a.flows.get("tickets", 0.0) for a in self.persona_agents)
        worked = self.success_worked_rows
        worked_total = int(worked.size)
        paying_total = sum(
            int(a.counts[Stage.ONBOARDING : Stage.ADVOCATE + 1].sum()) for a in self.persona_agents
        )
        # 12-month retention: MRR of accounts paying 12 months ago, then and now.
        year_ago = self.mrr_history[0] if len(self.mrr_history) == 12 else None
        for k, agent in enumerate(self.persona_agents):
            f = agent.flows
            sl = agent.rows
            counts = agent.counts
            row: dict[str, Any] = {
                "scenario": self.scenario_name,
                "replication": self.replication,
                "month": t,
                "persona": agent.persona.name,
            }
            for col, c in zip(STAGE_COLUMNS, counts, strict=True):
                row[col] = int(c)
            n_paying = int(counts[Stage.ONBOARDING] + counts[Stage.ACTIVE] + counts[Stage.ADVOCATE])
            mrr_end = agent.mrr_total
            seats = agent.paying_seats
            if mechanisms["support"]:
                share = (
                    f.get("tickets", 0.0) / ticket_total
                    if ticket_total > 0
                    else (n_paying / paying_total if paying_total else 0.0)
                )
                f["support_cost"] = self.support_desk.monthly_cost * share
            if mechanisms["success"]:
                mine = int(np.count_nonzero((worked >= sl.start) & (worked < sl.stop)))
                share = (
                    mine / worked_total
                    if worked_total
                    else (n_paying / paying_total if paying_total else 0.0)
                )
                f["success_cost"] = self.success_team.monthly_cost * share
                f["accounts_worked"] = mine
            f["cogs"] = (
                par.cogs_per_account * n_paying
                + par.cogs_per_seat * seats
                + par.payment_fee * f.get("revenue", 0.0)
            )
            f["seats"] = seats
            # Health is 0 on every account not paying, so one pass over the aware rows counts
            # the paying accounts below the threshold.
            health = agent.pop.health[: agent.aware]
            if threshold <= 0:
                f["at_risk"] = int(np.count_nonzero(health < threshold))
            else:
                f["at_risk"] = n_paying - int(np.count_nonzero(health >= threshold))
            f["mrr_end"] = mrr_end
            if year_ago is not None:
                # MRR is 0 on every row not paying, so no masks are needed: accounts paying a
                # year ago are those with MRR then > 0 (all among the aware rows then).
                then = year_ago[k]
                now = agent.pop.mrr[: then.size]
                f["mrr_12m_ago"] = float(then.sum(dtype=np.float64))
                f["retained_mrr_12m"] = float(
                    np.where(then > 0, now, np.float32(0)).sum(dtype=np.float64)
                )
                f["gross_retained_mrr_12m"] = float(np.minimum(now, then).sum(dtype=np.float64))
            for col in FLOW_COLUMNS:
                row[col] = f.get(col, 0.0)
            row["customers"] = n_paying
            row["arr"] = 12.0 * mrr_end
            self.records.append(row)
        self.mrr_history.append([a.pop.mrr[: a.aware].copy() for a in self.persona_agents])

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

    def run(self, months: int | None = None, on_month: Callable[[], object] | None = None) -> None:
        """Step ``months`` months (default: the scenario's horizon), calling ``on_month`` after
        each one (progress reporting)."""
        for _ in range(self.params.months if months is None else months):
            self.step()
            if on_month is not None:
                on_month()
