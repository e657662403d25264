"""Persona agents: each moves its own accounts (a contiguous slice of the population) through
the journey, one mechanism at a time, on whole arrays.

Every method below is one phase of the monthly step (the order is written in
``JourneyModel.step``). No phase loops over customers in Python. Three devices keep a month's
work proportional to the accounts that act, not to the market:

- **Aware prefix.** Unaware accounts are exchangeable (their seats and base churn are drawn at
  set-up and used only once they buy), so the ``k`` accounts that start evaluating in a month are
  the next ``k`` unaware rows: rows ``[0, aware)`` of a persona are every account that has ever
  been reached, rows ``[aware, size)`` are unaware. ``k`` is binomial(unaware, hazard), the same
  law as one draw per account. Phases that act on most customers every month (support, billing,
  expansion, churn, advocacy) work on the prefix only.
- **Scheduled transitions** (``simulator.calendar``): constant monthly exit probabilities
  (nurture, consideration, win-back, and churn when health does not move it) become geometric
  waiting times drawn when an account enters the stage; fixed durations (trial, sales cycle,
  onboarding) are filed the same way. A phase then pops this month's rows.
- **Counters.** Stage counts, MRR and paying seats are updated where accounts move, so the
  monthly accounting reads them instead of recounting the population.

Random numbers come from named streams (``RandomStreams``): phases on the prefix draw one uniform
per row (``uniform``); scheduled transitions draw for their rows only, keyed by row
(``row_uniform``). Where one account needs a second independent choice from one uniform, the
uniform is rescaled within the interval it fell in, which is again uniform and independent of the
first choice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np
from scipy import stats

from simulator.calendar import Calendar, months_waiting
from simulator.params import SUPPORT_CHANNELS, PersonaParams
from simulator.pricing import annual_probability, choice_probabilities, choose
from simulator.stages import N_STAGES, DecisionPath, Source, Stage

if TYPE_CHECKING:
    from simulator.model import JourneyModel
    from simulator.population import Population

_ALMOST_ONE = np.float32(np.nextafter(np.float32(1.0), np.float32(0.0)))


def _rescale(u: np.ndarray, lo: np.ndarray | float, width: np.ndarray | float) -> np.ndarray:
    """The part of ``u`` within [lo, lo + width) as a fresh uniform on [0, 1)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        v = (u - lo) / width
    return np.clip(np.nan_to_num(v, nan=0.0), 0.0, _ALMOST_ONE).astype(np.float32)


class PersonaAgent(mesa.Agent):
    """One persona (segment) and its accounts.

    Attributes:
        persona: the persona's validated parameters.
        rows: the slice of population rows that belong to this persona.
        pop: views of the population arrays restricted to ``rows``.
        aware: accounts ever reached (rows ``[0, aware)``); the rest are unaware.
        counts: accounts per stage now (``Stage`` order), kept up to date by ``move``.
        mrr_total: MRR of the persona now, $/month, kept up to date where MRR changes.
        paying_seats: seats of paying accounts now.
        flows: this month's flows and money, by output column name (reset every month).
    """

    def __init__(self, model: JourneyModel, persona: PersonaParams, rows: slice):
        super().__init__(model)
        self.persona = persona
        self.rows = rows
        self.size = rows.stop - rows.start
        self.pop: Population = model.population.view(rows)
        self.aware = 0
        self.counts = np.zeros(N_STAGES, dtype=np.int64)
        self.mrr_total = 0.0
        self.paying_seats = 0
        self.flows: dict[str, float] = {}
        self.start_counts = np.zeros(N_STAGES, dtype=np.int64)
        #: Rows due to leave a stage, by month: one calendar per scheduled transition
        #: (lost → consideration; consideration → decision ("advance") or lost ("drop");
        #: decision ends; onboarding ends; scheduled churn; churned → active).
        self.due = {
            name: Calendar()
            for name in ("nurture", "advance", "drop", "decision", "onboarding", "churn", "winback")
        }
        self._tickets: np.ndarray = np.zeros(0, dtype=np.int32)
        self._ticket_rows: np.ndarray = np.zeros(0, dtype=np.int64)
        self._ticket_u: np.ndarray = np.zeros(0, dtype=np.float32)
        self.negative_churners = 0

    # ------------------------------------------------------------------ helpers
    @property
    def index(self) -> int:
        return self.persona.index

    def uniform(self, stream: str) -> np.ndarray:
        """One float32 uniform per account of the aware prefix from ``stream`` this month."""
        return self.model.streams.uniform(stream, self.model.month, self.index, self.aware)

    def row_uniform(self, stream: str, rows: np.ndarray, draw: int = 0) -> np.ndarray:
        """One float32 uniform per entry of ``rows`` from ``stream`` this month, keyed by row."""
        return self.model.streams.row_uniform(stream, self.model.month, self.index, rows, draw)

    def add(self, column: str, value: float) -> None:
        self.flows[column] = self.flows.get(column, 0.0) + float(value)

    def paying_mask(self) -> np.ndarray:
        """Paying accounts among the aware prefix (the rest of the rows are unaware)."""
        st = self.pop.stage[: self.aware]
        return (st >= Stage.ONBOARDING) & (st <= Stage.ADVOCATE)

    def recount(self) -> None:
        """Recompute the counters from the population (after set-up)."""
        pop = self.pop
        self.counts = np.bincount(pop.stage.view(np.uint8), minlength=N_STAGES).astype(np.int64)
        self.aware = self.size - int(self.counts[Stage.UNAWARE])
        if np.any(pop.stage[: self.aware] == Stage.UNAWARE):
            raise ValueError("unaware accounts must be the last rows of a persona")
        paying = self.paying_mask()
        self.mrr_total = float(pop.mrr.sum(dtype=np.float64))
        self.paying_seats = int(pop.seats[: self.aware][paying].sum(dtype=np.int64))

    def move(self, idx: np.ndarray, stage: Stage, source: Stage | None = None) -> None:
        """Accounts ``idx`` enter ``stage`` this month (all from ``source`` when given)."""
        if idx.size == 0:
            return
        pop = self.pop
        if source is None:
            self.counts -= np.bincount(pop.stage[idx].view(np.uint8), minlength=N_STAGES)
        else:
            self.counts[source] -= idx.size
        self.counts[stage] += idx.size
        pop.stage[idx] = stage
        pop.stage_month[idx] = self.model.month

    def churn_probability(self, idx: np.ndarray) -> np.ndarray:
        """Monthly voluntary churn probability of accounts ``idx`` (rows of this persona).

        base × exp(-churn_sensitivity × (health - price gap penalty)), clipped to [0, 1].
        With every mechanism off health stays 0 and this is the base probability exactly.
        """
        m = self.model
        h = m.params.health
        p = self.pop.base_churn[idx].astype(np.float64)
        if h["churn_sensitivity"] <= 0:
            return np.clip(p, 0.0, 1.0)
        health = self.pop.health[idx].astype(np.float64)
        if m.mechanisms["price_effect"] and h["price_gap_penalty"] > 0:
            seats = np.maximum(self.pop.seats[idx], 1)
            per_seat = self.pop.mrr[idx] / seats
            gap = np.maximum(per_seat / self.persona.willingness_to_pay - 1.0, 0.0)
            health = health - h["price_gap_penalty"] * gap
        p = p * np.exp(-h["churn_sensitivity"] * health)
        return np.clip(p, 0.0, 1.0)

    # ------------------------------------------------------------------ schedules
    def schedule_consideration(self, idx: np.ndarray) -> None:
        """Accounts ``idx`` start evaluating this month: draw when they leave and how.

        Each month in consideration an account advances with its advance probability ``a`` or
        drops out with ``d``: it stays K ~ geometric(a + d) months (K = 0: it leaves this
        month) and then advances with probability a / (a + d).
        """
        m = self.model
        p = self.persona
        advance: float | np.ndarray = p.consider_advance
        if p.decision_path == DecisionPath.TRIAL and p.card_required:
            advance *= p.card_start_factor
        if m.mechanisms["referrals"]:
            referred = self.pop.source[idx] == Source.REFERRAL
            boosted = min(advance * m.params.referral_advance_multiplier, 1.0 - p.consider_drop)
            if referred.any() and boosted > advance:
                advance = np.where(referred, boosted, advance)
        leave = advance + p.consider_drop
        u, v = m.streams.row_uniform_pair("consideration", m.month, self.index, idx)
        month = m.month + months_waiting(u, leave)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(leave > 0, advance / leave, 0.0)
        advances = v < share
        self.due["advance"].add(month[advances], idx[advances])
        self.due["drop"].add(month[~advances], idx[~advances])

    def schedule_nurture(self, idx: np.ndarray) -> None:
        """Accounts ``idx`` were lost this month: nurture brings each back after a geometric
        number of months (at the earliest next month)."""
        nurture = self.persona.nurture
        if nurture <= 0 or idx.size == 0:
            return
        wait = months_waiting(self.row_uniform("consideration", idx, draw=2), nurture)
        self.due["nurture"].add(self.model.month + 1 + wait, idx)

    def schedule_churn(self, idx: np.ndarray, first_month: int) -> None:
        """Paying spell of ``idx`` starts: draw the month it ends when churn is scheduled
        (``first_month`` is the first month churn can happen)."""
        if not self.model.churn_is_scheduled or idx.size == 0:
            return
        wait = months_waiting(self.row_uniform("churn", idx), self.churn_probability(idx))
        self.due["churn"].add(first_month + wait, idx)

    def schedule_win_back(self, idx: np.ndarray) -> None:
        """Accounts ``idx`` churned this month: win-back reactivates each with the persona's rate
        in each of the next ``window`` months; draw the month (if any) it happens."""
        m = self.model
        p = self.persona
        if not m.mechanisms["reactivation"] or p.winback_rate <= 0 or idx.size == 0:
            return
        wait = 1 + months_waiting(self.row_uniform("winback", idx), p.winback_rate)
        soon = wait <= p.winback_window_months
        self.due["winback"].add(m.month + wait[soon], idx[soon])

    # ------------------------------------------------------------------ paying spells
    def _start_paying(self, idx: np.ndarray, plan: np.ndarray, annual: np.ndarray) -> None:
        """Accounts ``idx`` buy ``plan`` today at list price (new customers)."""
        m = self.model
        pop = self.pop
        t = m.month
        pop.plan[idx] = plan
        pop.annual[idx] = annual
        pop.price_locked[idx] = False
        pop.mrr[idx] = m.book.account_mrr(
            plan, pop.seats[idx], annual, self.persona.price_multiplier
        )
        pop.term_end[idx] = np.where(annual, t + m.params.renewal["term_months"], 0)
        pop.health[idx] = 0.0
        first = pop.cohort_month[idx] < 0
        pop.cohort_month[idx[first]] = t
        onboarding = m.mechanisms["onboarding"]
        self.move(idx, Stage.ONBOARDING if onboarding else Stage.ACTIVE, Stage.DECISION)
        mrr = pop.mrr[idx].sum(dtype=np.float64)
        self.mrr_total += mrr
        self.paying_seats += int(pop.seats[idx].sum(dtype=np.int64))
        self.add("new_customers", idx.size)
        self.add("new_mrr", mrr)
        if onboarding:
            path = m.onboarding_paths[self.persona.onboarding_path]
            self.due["onboarding"].add(t + path.months, idx)
            self.add("onboarding_cost", idx.size * path.cost)
        self.schedule_churn(idx, t)
        if m.mechanisms["referrals"]:
            referred = int(np.count_nonzero(pop.source[idx] == Source.REFERRAL))
            self.add("referral_cost", referred * m.params.referral_reward)

    def _end_paying(self, idx: np.ndarray, column: str) -> None:
        """Accounts ``idx`` churn (``column`` says voluntary or involuntary)."""
        if idx.size == 0:
            return
        pop = self.pop
        mrr = pop.mrr[idx].sum(dtype=np.float64)
        self.add("churned_customers", idx.size)
        self.add(column, idx.size)
        self.add("churned_mrr", mrr)
        self.mrr_total -= mrr
        self.paying_seats -= int(pop.seats[idx].sum(dtype=np.int64))
        if self.model.mechanisms["referrals"]:
            threshold = self.model.params.health["at_risk_threshold"]
            self.negative_churners += int(np.count_nonzero(pop.health[idx] < threshold))
        self.move(idx, Stage.CHURNED)
        pop.mrr[idx] = 0.0
        pop.annual[idx] = False
        pop.price_locked[idx] = False
        # Health is only read on paying accounts; 0 elsewhere keeps the at-risk count one pass.
        pop.health[idx] = 0.0
        self.schedule_win_back(idx)

    def _reprice(self, idx: np.ndarray, new_mrr: np.ndarray) -> None:
        """Move accounts ``idx`` to ``new_mrr``; the change is expansion or contraction MRR."""
        pop = self.pop
        old = pop.mrr[idx].astype(np.float64)
        new32 = new_mrr.astype(np.float32)
        delta = new32.astype(np.float64) - old
        self.add("expansion_mrr", delta[delta > 0].sum())
        self.add("contraction_mrr", -delta[delta < 0].sum())
        self.mrr_total += float(delta.sum())
        m = self.model
        if m.mechanisms["price_effect"]:
            rise = np.where(old > 0, np.maximum(delta, 0.0) / np.maximum(old, 1e-9), 0.0)
            pop.health[idx] -= (m.params.health["price_increase_penalty"] * rise).astype(np.float32)
        pop.mrr[idx] = new32

    # ------------------------------------------------------------------ phases
    def begin_month(self) -> None:
        """Reset this month's flows; remember the stage counts and MRR at the start of the
        month."""
        self.flows = {"mrr_start": self.mrr_total}
        self.negative_churners = 0
        self.start_counts = self.counts.copy()

    def acquire(self) -> None:
        """Acquisition: unaware accounts start evaluating (Bass + channel leads + referrals).

        Monthly hazard per unaware account: Bass p + q × adopters / persona market, where
        adopters = paying customers + (advocate_weight - 1) × advocates at the start of the
        month; plus channel leads / unaware accounts; plus expected referrals / unaware accounts.
        The number reached is binomial(unaware, hazard); they are the next unaware rows, and each
        one's source (organic, channel, referral) is drawn in proportion to its part of the
        hazard.
        """
        m = self.model
        if not m.mechanisms["acquisition"]:
            return
        par = m.params
        counts = self.start_counts
        for channel, share in m.channel_share[self.index].items():
            self.add("acquisition_cost", m.channel_spend(channel) * share)
        n_unaware = int(counts[Stage.UNAWARE])
        if n_unaware == 0:
            return
        adopters = (
            counts[Stage.ONBOARDING]
            + counts[Stage.ACTIVE]
            + par.advocate_weight * counts[Stage.ADVOCATE]
        )
        h_bass = min(1.0, par.bass_p + par.bass_q * adopters / self.size)
        leads = sum(
            m.channel_spend(c) * share / par.channels[c][1]
            for c, share in m.channel_share[self.index].items()
        )
        h_channel = min(1.0 - h_bass, leads / n_unaware)
        h_referral = 0.0
        if m.mechanisms["referrals"]:
            expected = counts[Stage.ADVOCATE] * self.persona.referrals_per_advocate
            h_referral = min(1.0 - h_bass - h_channel, expected / n_unaware)
        hazard = min(1.0, h_bass + h_channel + h_referral)
        gen = m.streams.generator("acquisition", m.month, self.index)
        reached = int(gen.binomial(n_unaware, hazard))
        if reached == 0:
            return
        idx = np.arange(self.aware, self.aware + reached)
        self.aware += reached
        v = self.row_uniform("acquisition", idx) * np.float32(hazard)
        src = np.where(
            v < h_bass,
            Source.ORGANIC,
            np.where(v < h_bass + h_channel, Source.CHANNEL, Source.REFERRAL),
        ).astype(np.int8)
        self.pop.source[idx] = src
        self.move(idx, Stage.CONSIDERATION, Stage.UNAWARE)
        self.schedule_consideration(idx)
        self.add("prospects", idx.size)
        self.add("referrals", np.count_nonzero(src == Source.REFERRAL))

    def consider(self) -> None:
        """Consideration: nurture brings lost prospects back; evaluators whose time is up
        advance to a decision or drop out (lost)."""
        p = self.persona
        t = self.model.month
        back = self.due["nurture"].pop(t)
        if back.size:
            self.move(back, Stage.CONSIDERATION, Stage.LOST)
            self.schedule_consideration(back)
            self.add("nurtured", back.size)
        to_decision = self.due["advance"].pop(t)
        to_lost = self.due["drop"].pop(t)
        self.move(to_decision, Stage.DECISION, Stage.CONSIDERATION)
        self.due["decision"].add(t + p.decision_months, to_decision)
        self.move(to_lost, Stage.LOST, Stage.CONSIDERATION)
        self.schedule_nurture(to_lost)
        self.add("decisions_started", to_decision.size)
        self.add("prospects_lost", to_lost.size)
        if p.decision_path == DecisionPath.DEMO and p.sales_cost:
            self.add("acquisition_cost", to_decision.size * p.sales_cost)

    def decide(self) -> None:
        """Decision: at the end of a trial or sales cycle, choose a plan or no purchase (MNL).

        Buyers pick annual billing with the persona's annual probability (when annual contracts
        are on). Non-buyers are lost, except on a freemium path where they stay on the free tier
        (stage ``decision``), re-decide every month and leave with probability ``free_drop``.
        """
        m = self.model
        pop = self.pop
        p = self.persona
        t = m.month
        idx = self.due["decision"].pop(t)
        if idx.size == 0:
            return
        extra = np.zeros(idx.size)
        if m.mechanisms["referrals"]:
            extra += m.reputation_utility
            extra += np.where(pop.source[idx] == Source.REFERRAL, m.params.referral_utility, 0.0)
        if p.decision_path == DecisionPath.TRIAL and p.card_required:
            extra += p.card_utility
        freemium = p.decision_path == DecisionPath.FREEMIUM
        probs = choice_probabilities(
            p, m.book, pop.seats[idx], extra, outside_extra=p.free_value if freemium else 0.0
        )
        choice, v = choose(probs, self.row_uniform("decision", idx))
        buy = choice > 0
        buyers = idx[buy]
        self.add("decisions", idx.size)
        if buyers.size:
            if m.mechanisms["annual_contracts"]:
                annual = v[buy] < annual_probability(p, m.book.annual_discount)
            else:
                annual = np.zeros(buyers.size, dtype=np.bool_)
            self._start_paying(buyers, (choice[buy] - 1).astype(np.int8), annual)
        non_buyers = idx[~buy]
        if freemium:
            leaves = v[~buy] < p.free_drop
            self.due["decision"].add(t + 1, non_buyers[~leaves])
            non_buyers = non_buyers[leaves]
        self.move(non_buyers, Stage.LOST, Stage.DECISION)
        self.schedule_nurture(non_buyers)

    def onboard(self) -> None:
        """Onboarding: when the path's duration is over, the account activates or fails."""
        m = self.model
        if not m.mechanisms["onboarding"]:
            return
        pop = self.pop
        idx = self.due["onboarding"].pop(m.month)
        idx = idx[pop.stage[idx] == Stage.ONBOARDING]  # not those that churned meanwhile
        if idx.size == 0:
            return
        path = m.onboarding_paths[self.persona.onboarding_path]
        quality = m.onboarding_quality[path.name]
        activated = self.row_uniform("onboarding", idx) < quality
        h = m.params.health
        pop.health[idx] += np.where(
            activated, h["activation_bonus"], -h["activation_failure_penalty"]
        ).astype(np.float32)
        self.move(idx, Stage.ACTIVE, Stage.ONBOARDING)
        self.add("activations", np.count_nonzero(activated))
        self.add("activation_failures", np.count_nonzero(~activated))

    def decay_health(self) -> None:
        """Health drifts back towards neutral: health × decay each month."""
        decay = self.model.params.health["decay"]
        if decay < 1.0:
            # Only the aware prefix can have non-zero health (a full in-place pass over it is
            # cheaper than finding the paying rows).
            self.pop.health[: self.aware] *= np.float32(decay)

    def raise_tickets(self) -> dict[str, float]:
        """Support, part 1: paying accounts raise tickets (Poisson, after knowledge-base
        deflection); returns this persona's tickets per channel for the desk."""
        m = self.model
        if not m.mechanisms["support"]:
            return dict.fromkeys(SUPPORT_CHANNELS, 0.0)
        rate = self.persona.tickets_per_month * (1.0 - m.support_desk.deflection)
        idx = np.flatnonzero(self.paying_mask())
        u = self.uniform("support")[idx]
        if rate > 0 and idx.size:
            kmax = int(rate + 12 * np.sqrt(rate) + 12)
            cdf = stats.poisson.cdf(np.arange(kmax + 1), rate).astype(np.float32)
            # Inverse CDF; only accounts with at least one ticket (u >= P(0)) need a search.
            tickets = np.zeros(idx.size, dtype=np.int32)
            some = np.flatnonzero(u >= cdf[0])
            k = np.searchsorted(cdf, u[some], side="right").astype(np.int32)
            tickets[some] = k
            lower = cdf[k - 1]
            width = np.where(k <= kmax, cdf[np.minimum(k, kmax)], 1.0) - lower
            # Within its ticket count's band u is a fresh uniform for the SLA draw (the draws of
            # accounts without tickets are never used).
            u[some] = _rescale(u[some], lower, width)
            self._ticket_u = u
        else:
            tickets = np.zeros(idx.size, dtype=np.int32)
            self._ticket_u = u
        self._tickets = tickets
        self._ticket_rows = idx
        total = float(tickets.sum())
        self.add("tickets", total)
        return {c: total * self.persona.channel_mix[c] for c in SUPPORT_CHANNELS}

    def receive_support(self, breach_by_channel: dict[str, float]) -> None:
        """Support, part 2: an account's tickets this month either meet the SLA or breach
        (one queue experience per account-month); breaches hurt health, good service helps."""
        m = self.model
        if not m.mechanisms["support"] or self._ticket_rows.size == 0:
            return
        p_breach = sum(self.persona.channel_mix[c] * breach_by_channel[c] for c in SUPPORT_CHANNELS)
        has = self._tickets > 0
        breach = has & (self._ticket_u < p_breach)
        served = has & ~breach
        h = m.params.health
        pop = self.pop
        pop.health[self._ticket_rows[breach]] -= np.float32(h["sla_breach_penalty"])
        pop.health[self._ticket_rows[served]] += np.float32(h["support_resolved_bonus"])
        self.add("sla_breaches", self._tickets[breach].sum())
        self.add("accounts_breached", np.count_nonzero(breach))

    def bill_and_renew(self) -> None:
        """Billing and renewal.

        1. A list-price change this month reaches monthly customers now (unless grandfathered).
        2. Annual contracts at term end renew or churn: renewal churn = 1 - (1 - monthly)^term;
           at-risk accounts get a renewal discount that saves a share of would-be churners;
           renewals move to today's list price (unless grandfathered).
        3. Monthly charges fail at the payment-failure rate; dunning recovers a share; the rest
           churn involuntarily.
        4. Cash billed: monthly plans each month, annual plans the whole term up front.
        """
        m = self.model
        par = m.params
        t = m.month
        mult = self.persona.price_multiplier
        annual_on = m.mechanisms["annual_contracts"]
        p_invol = (
            par.payment_failure_rate * (1.0 - par.dunning_recovery)
            if m.mechanisms["involuntary_churn"]
            else 0.0
        )
        term = par.renewal["term_months"]
        if not (m.repricing_due or annual_on or p_invol > 0):
            # Nothing to bill but monthly plans: cash billed is this month's MRR.
            self.add("revenue", self.mrr_total)
            return
        pop = self.pop.view(slice(0, self.aware))
        u = self.uniform("billing") if annual_on or p_invol > 0 else None
        paying = self.paying_mask()
        monthly = np.flatnonzero(paying & ~pop.annual)

        if m.repricing_due and monthly.size:
            cand = monthly[~pop.price_locked[monthly]]
            target = m.book.account_mrr(pop.plan[cand], pop.seats[cand], pop.annual[cand], mult)
            changed = np.abs(target - pop.mrr[cand]) > 1e-3
            if changed.any():
                self._reprice(cand[changed], target[changed])

        if annual_on:
            due = np.flatnonzero(paying & pop.annual & (pop.term_end <= t))
            if due.size:
                p_month = self.churn_probability(due)
                p_churn = 1.0 - (1.0 - p_month) ** term
                at_risk = pop.health[due] < par.health["at_risk_threshold"]
                p_churn = np.where(
                    at_risk, p_churn * (1.0 - par.renewal["offer_save_rate"]), p_churn
                )
                ud = u[due]  # type: ignore[index]
                churn = ud < p_churn
                invol = ~churn & (_rescale(ud, p_churn, 1.0 - p_churn) < p_invol)
                self.add("renewals_due", due.size)
                self._end_paying(due[churn], "churned_voluntary")
                self._end_paying(due[invol], "churned_involuntary")
                keep = ~churn & ~invol
                renew = due[keep]
                list_mrr = m.book.account_mrr(pop.plan[renew], pop.seats[renew], True, mult)
                new_mrr = np.where(pop.price_locked[renew], pop.mrr[renew], list_mrr)
                offered = at_risk[keep]
                new_mrr = np.where(
                    offered, new_mrr * (1.0 - par.renewal["at_risk_discount"]), new_mrr
                )
                self._reprice(renew, new_mrr)
                pop.term_end[renew] = t + term
                self.add("renewals", renew.size)
                self.add("renewal_offers", np.count_nonzero(offered))

        if p_invol > 0 and monthly.size:
            fails = monthly[u[monthly] < p_invol]  # type: ignore[index]
            self._end_paying(fails, "churned_involuntary")

        if not annual_on:
            self.add("revenue", self.mrr_total)
            return
        # Cash billed: MRR of monthly accounts, a whole term of MRR for annual terms starting now
        # (non-paying rows have MRR 0, so the weights need no paying mask).
        weight = np.where(pop.annual, np.where(pop.term_end == t + term, float(term), 0.0), 1.0)
        # (no np.dot: BLAS would spread this over threads; the engine stays on one core)
        self.add("revenue", float((pop.mrr * weight).sum()))

    def expand_and_contract(self) -> None:
        """Expansion (upgrade a tier or add seats) and contraction (downgrade or drop seats).

        Monthly probabilities: expansion.rate × exp(health / 2) and contraction.rate ×
        exp(-health / 2), each capped at 0.5. Annual accounts expand mid-term (billed pro rata
        for the rest of the term) and contract only at renewal.
        """
        m = self.model
        if not m.mechanisms["expansion"]:
            return
        p = self.persona
        pop = self.pop
        t = m.month
        st = pop.stage[: self.aware]
        idx = np.flatnonzero((st == Stage.ACTIVE) | (st == Stage.ADVOCATE))
        if idx.size == 0:
            return
        u = self.uniform("expansion")[idx]
        health = pop.health[idx].astype(np.float64)
        e = np.minimum(p.expansion_rate * np.exp(health / 2.0), 0.5)
        c = np.minimum(p.contraction_rate * np.exp(-health / 2.0), 0.5)
        c = np.where(pop.annual[idx], 0.0, c)
        top = m.book.n_plans - 1
        mult = p.price_multiplier

        exp_mask = u < e
        if exp_mask.any():
            rows = idx[exp_mask]
            v = _rescale(u[exp_mask], 0.0, e[exp_mask])
            upgrade = (v < p.upgrade_share) & (pop.plan[rows] < top)
            up = rows[upgrade]
            old = pop.mrr[rows].astype(np.float64)
            pop.plan[up] += 1
            pop.price_locked[up] = False
            add = rows[~upgrade]
            seats_old = pop.seats[add].copy()
            step = np.maximum(1, np.rint(seats_old * p.seats_growth)).astype(np.int32)
            pop.seats[add] = seats_old + step
            self.paying_seats += int(step.sum(dtype=np.int64))
            new_mrr = pop.mrr[rows].astype(np.float64)
            new_mrr[upgrade] = m.book.account_mrr(pop.plan[up], pop.seats[up], pop.annual[up], mult)
            per_seat = m.book.per_seat[pop.plan[add]]
            scaled = pop.mrr[add] * (pop.seats[add] / np.maximum(seats_old, 1))
            new_mrr[~upgrade] = np.where(per_seat, scaled, pop.mrr[add])
            self._reprice(rows, new_mrr)
            delta = new_mrr - old
            remaining = np.where(pop.annual[rows], np.maximum(pop.term_end[rows] - t, 0), 0)
            self.add("revenue", float((delta * remaining).sum()))
            self.add("upgrades", up.size)
            self.add("seat_expansions", add.size)

        con_mask = (u >= e) & (u < e + c)
        if con_mask.any():
            rows = idx[con_mask]
            v = _rescale(u[con_mask], e[con_mask], c[con_mask])
            downgrade = (v < p.downgrade_share) & (pop.plan[rows] > 0)
            down = rows[downgrade]
            pop.plan[down] -= 1
            pop.price_locked[down] = False
            cut = rows[~downgrade]
            seats_old = pop.seats[cut].copy()
            step = np.maximum(1, np.rint(seats_old * p.seats_growth)).astype(np.int32)
            pop.seats[cut] = np.maximum(1, seats_old - step)
            self.paying_seats -= int((seats_old - pop.seats[cut]).sum(dtype=np.int64))
            new_mrr = pop.mrr[rows].astype(np.float64)
            new_mrr[downgrade] = m.book.account_mrr(
                pop.plan[down], pop.seats[down], pop.annual[down], mult
            )
            per_seat = m.book.per_seat[pop.plan[cut]]
            scaled = pop.mrr[cut] * (pop.seats[cut] / np.maximum(seats_old, 1))
            new_mrr[~downgrade] = np.where(per_seat, scaled, pop.mrr[cut])
            self._reprice(rows, new_mrr)
            self.add("downgrades", down.size)
            self.add("seat_contractions", cut.size)

    def churn(self) -> None:
        """Voluntary churn of monthly-billed paying accounts (annual ones churn at renewal).

        Scheduled churn (``JourneyModel.churn_is_scheduled``): the accounts whose drawn churn
        month is now. Otherwise one draw per monthly-billed paying account against its
        probability this month (health moves it).
        """
        pop = self.pop
        if self.model.churn_is_scheduled:
            idx = self.due["churn"].pop(self.model.month)
            st = pop.stage[idx]
            self._end_paying(
                idx[(st >= Stage.ONBOARDING) & (st <= Stage.ADVOCATE)], "churned_voluntary"
            )
            return
        idx = np.flatnonzero(self.paying_mask() & ~pop.annual[: self.aware])
        if idx.size == 0:
            return
        p = self.churn_probability(idx)
        u = self.uniform("churn")[idx]
        self._end_paying(idx[u < p], "churned_voluntary")

    def advocate(self) -> None:
        """Advocacy: healthy tenured customers become promoters; unhealthy advocates revert."""
        m = self.model
        if not m.mechanisms["referrals"]:
            return
        par = m.params
        pop = self.pop.view(slice(0, self.aware))
        t = m.month
        threshold = par.health["promoter_threshold"]
        adv = np.flatnonzero(pop.stage == Stage.ADVOCATE)
        revert = adv[pop.health[adv] < threshold]
        self.move(revert, Stage.ACTIVE, Stage.ADVOCATE)
        u = self.uniform("advocacy")
        tenure = t - pop.cohort_month.astype(np.int32)
        new = np.flatnonzero(
            (pop.stage == Stage.ACTIVE)
            & (pop.health >= threshold)
            & (tenure >= par.advocacy["min_tenure_months"])
            & (u < self.persona.advocacy_rate)
        )
        self.move(new, Stage.ADVOCATE, Stage.ACTIVE)
        self.add("new_advocates", new.size)

    def win_back(self) -> None:
        """Win-back: accounts churned in an earlier month (within the window) whose drawn
        reactivation month is now come back on their last plan, billed monthly at today's list
        price."""
        m = self.model
        if not m.mechanisms["reactivation"]:
            return
        pop = self.pop
        t = m.month
        idx = self.due["winback"].pop(t)
        if idx.size == 0:
            return
        annual = np.zeros(idx.size, dtype=np.bool_)
        pop.annual[idx] = False
        pop.price_locked[idx] = False
        pop.mrr[idx] = m.book.account_mrr(
            pop.plan[idx], pop.seats[idx], annual, self.persona.price_multiplier
        )
        pop.health[idx] = 0.0
        self.move(idx, Stage.ACTIVE, Stage.CHURNED)
        mrr = pop.mrr[idx].sum(dtype=np.float64)
        self.mrr_total += mrr
        self.paying_seats += int(pop.seats[idx].sum(dtype=np.int64))
        self.add("reactivated_customers", idx.size)
        self.add("reactivation_mrr", mrr)
        self.add("revenue", mrr)
        self.schedule_churn(idx, t + 1)
