"""The simplified journey as a one-Mesa-agent-per-customer model (the yardstick of
``yardstick.py``): each persona's constants (``Rules``), read from the engine's validated
parameters, and ``CustomerAgent`` / ``MesaJourney``. ``CustomerAgent.step`` walks the journey in
Python and draws its own random numbers every month, as in Mesa's examples.

The book at month 0 is aged as the engine's warm start (``simulator.book``) has it in this
journey (homogeneous churn θ, annual contracts off, no pipeline): a book customer has survived
τ = 1 … A = ``initial.age_months`` monthly churn draws, with p(τ) ∝ (1 − θ)^τ; it bought in
month 1 − τ, and while τ ≤ the onboarding path's months it is still onboarding and activates (with
the path's quality) in month 1 − τ + months, like a new customer."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import mesa

from simulator.model import split_by_share
from simulator.params import Persona, ScenarioParams
from simulator.stages import DecisionPath, Stage


@dataclass(frozen=True)
class Rules:
    """One persona's constants of the simplified journey, read from the same parameters."""

    index: int
    name: str
    size: int
    initial: int
    leads: float  # channel leads per month
    advance: float
    drop: float
    nurture: float
    decision_months: int
    buy_cdf: tuple[float, ...]  # cumulative [no purchase, plan 0, plan 1, ...]
    book_cdf: tuple[float, ...]  # cumulative [plan 0, plan 1, ...] of the initial book
    tenure: tuple[float, ...]  # p(τ), τ = 1 … A: the book's months since purchase
    tenure_cdf: tuple[float, ...]
    onboarding_months: int
    quality: float
    churn: float
    winback_rate: float
    window: int
    seat_price: tuple[float, ...]  # $ per seat per month, per plan, after the multiplier
    seats_mean: float


def _logit(utils: list[float]) -> list[float]:
    top = max(utils)
    w = [math.exp(u - top) for u in utils]
    s = sum(w)
    return [x / s for x in w]


def _cumulative(p: list[float]) -> tuple[float, ...]:
    out, acc = [], 0.0
    for x in p:
        acc += x
        out.append(acc)
    out[-1] = 1.0
    return tuple(out)


def persona_leads(params: ScenarioParams, persona: Persona) -> float:
    """Channel leads a persona receives per month: spend split by channel weight / cost per
    lead."""
    leads = 0.0
    for c, channel in params.acquisition.channels.items():
        spend, cost_per_lead = channel.spend, channel.cost_per_lead
        total = sum(q.channels[c] for q in params.persona_list)
        w = persona.channels[c]
        if total > 0 and w > 0:
            leads += spend * (w / total) / cost_per_lead
    return leads


def tenure_weights(churn: float, age: int) -> list[float]:
    """p(τ) ∝ (1 − churn)^τ, τ = 1 … age: the tenure of a steady inflow's survivors (all on
    τ = 1 when nobody survives)."""
    w = [(1.0 - churn) ** tau for tau in range(1, age + 1)]
    total = sum(w)
    return [x / total for x in w] if total > 0 else [1.0] + [0.0] * (age - 1)


def build_rules(params: ScenarioParams) -> list[Rules]:
    plans = [params.pricing.plans[name] for name in params.pricing.ranked]
    if not all(plan.per_seat for plan in plans):
        raise SystemExit("the yardstick assumes per-seat plans (as in the default config)")
    sizes = split_by_share(params.market.size, [p.share for p in params.persona_list])
    initial = split_by_share(params.initial.customers, [p.share for p in params.persona_list])
    rules = []
    for p, size, n0 in zip(params.persona_list, sizes, initial, strict=True):
        if p.decision.path == DecisionPath.FREEMIUM:
            raise SystemExit("the yardstick does not model the freemium path")
        card = p.decision.path == DecisionPath.TRIAL and p.decision.card_required
        seat_price = [plan.price * p.price_multiplier for plan in plans]
        plan_u = [
            v - p.price_sensitivity * price / p.willingness_to_pay
            for v, price in zip(
                [p.plan_value[n] for n in params.pricing.ranked], seat_price, strict=True
            )
        ]
        buy = _logit([p.outside_utility, *plan_u])
        book = _logit(plan_u)
        if card:  # opt-out default: a share of non-buyers is billed anyway (no early churn here)
            forgot = buy[0] * p.decision.forgot_to_cancel
            buy = [buy[0] - forgot, *(b + forgot * w for b, w in zip(buy[1:], book, strict=True))]
        path = params.onboarding.paths[p.onboarding]
        tenure = tenure_weights(p.churn.mean, params.initial.age_months)
        rules.append(
            Rules(
                index=p.index,
                name=p.name,
                size=size,
                initial=n0,
                leads=persona_leads(params, p),
                advance=p.consideration.advance * (p.decision.card_start_factor if card else 1.0),
                drop=p.consideration.drop
                + p.consideration.advance * (1.0 - p.decision.card_start_factor if card else 0.0),
                nurture=p.consideration.nurture,
                decision_months=p.decision.months,
                buy_cdf=_cumulative(buy),
                book_cdf=_cumulative(book),
                tenure=tuple(tenure),
                tenure_cdf=_cumulative(tenure),
                onboarding_months=path.months,
                quality=path.quality,
                churn=p.churn.mean,
                winback_rate=p.winback.rate,
                window=p.winback.window_months,
                seat_price=tuple(seat_price),
                seats_mean=p.seats.mean,
            )
        )
    return rules


def acquisition_hazard(params: ScenarioParams, r: Rules, unaware: float, adopters: float) -> float:
    """Monthly probability an unaware account starts evaluating (Bass + channel leads)."""
    h_bass = min(1.0, params.acquisition.bass.p + params.acquisition.bass.q * adopters / r.size)
    h_channel = min(1.0 - h_bass, r.leads / unaware) if unaware > 0 else 0.0
    return h_bass + h_channel


def _pick(cdf: tuple[float, ...], u: float) -> int:
    for i, c in enumerate(cdf):
        if u < c:
            return i
    return len(cdf) - 1


# Plain ints (not IntEnum members) on the Mesa agents' hot path, as a Python modeller would.
UNAWARE, CONSIDERATION, DECISION = int(Stage.UNAWARE), int(Stage.CONSIDERATION), int(Stage.DECISION)
ONBOARDING, ACTIVE, ADVOCATE = int(Stage.ONBOARDING), int(Stage.ACTIVE), int(Stage.ADVOCATE)
CHURNED, LOST = int(Stage.CHURNED), int(Stage.LOST)
FLOWS = ("new_customers", "churned_customers", "reactivated_customers", "activations")
NEW, CHURN, REACT, ACTIVATED = range(len(FLOWS))


class CustomerAgent(mesa.Agent):
    """One customer (account) as a Mesa agent: it walks the simplified journey itself."""

    def __init__(self, model: MesaJourney, rules: Rules, in_book: bool):
        super().__init__(model)
        rnd = self.random
        self.rules = rules
        seats = 1.0 + (rules.seats_mean - 1.0) * rnd.gammavariate(2.0, 1.0) / 2.0
        self.seats = max(1, round(seats))
        self.base_churn = rules.churn
        self.stage_month = 0
        self.cohort: int | None = None  # month of the first purchase
        if in_book:
            self.plan = _pick(rules.book_cdf, rnd.random())
            self.mrr = rules.seat_price[self.plan] * self.seats
            # Aged book: bought τ months ago, still onboarding if τ ≤ the path's months.
            tenure = 1 + _pick(rules.tenure_cdf, rnd.random())
            self.cohort = 1 - tenure
            if tenure <= rules.onboarding_months:
                self.stage = ONBOARDING
                self.stage_month = self.cohort  # activates in month 1 − τ + months
            else:
                self.stage = ACTIVE
                self.stage_month = self.cohort + rules.onboarding_months
        else:
            self.plan = -1
            self.mrr = 0.0
            self.stage = UNAWARE

    def step(self) -> None:
        model = self.model
        t = model.month
        r = self.rules
        flows = model.flows[r.index]
        draw = self.random.random
        stage = self.stage
        if stage == UNAWARE:
            if draw() >= model.hazard[r.index]:
                return
            self.stage = stage = CONSIDERATION
            self.stage_month = t
        elif stage == LOST:
            if draw() >= r.nurture:
                return
            self.stage = stage = CONSIDERATION
            self.stage_month = t
        elif stage == CHURNED:
            since = t - self.stage_month
            if 1 <= since <= r.window and self.plan >= 0 and draw() < r.winback_rate:
                self.stage = ACTIVE
                self.stage_month = t
                self.mrr = r.seat_price[self.plan] * self.seats
                flows[REACT] += 1
            return

        if stage == CONSIDERATION:
            u = draw()
            if u < r.advance:
                self.stage = stage = DECISION
                self.stage_month = t
            else:
                if u < r.advance + r.drop:
                    self.stage = LOST
                    self.stage_month = t
                return
        if stage == DECISION:
            if t - self.stage_month < r.decision_months:
                return
            choice = _pick(r.buy_cdf, draw())
            if choice == 0:
                self.stage = LOST
                self.stage_month = t
                return
            self.plan = choice - 1
            self.mrr = r.seat_price[self.plan] * self.seats
            if self.cohort is None:
                self.cohort = t
            self.stage = stage = ONBOARDING
            self.stage_month = t
            flows[NEW] += 1
        if stage == ONBOARDING and t - self.stage_month >= r.onboarding_months:
            if draw() < r.quality:
                flows[ACTIVATED] += 1
            self.stage = ACTIVE
            self.stage_month = t
        # onboarding or active: monthly churn
        if draw() < self.base_churn:
            self.stage = CHURNED
            self.stage_month = t
            self.mrr = 0.0
            flows[CHURN] += 1


class MesaJourney(mesa.Model):
    """The simplified journey with one ``CustomerAgent`` per account of the market.

    Agents step in creation order (``agents.do``), the cheapest Mesa activation; with
    ``shuffle=True`` in a fresh random order each month (``agents.shuffle_do``, the idiom of
    Mesa's examples). Order does not matter here: agents only read start-of-month counts.
    """

    def __init__(self, params: ScenarioParams, seed: int, shuffle: bool = False):
        super().__init__(rng=seed)
        self.params = params
        self.shuffle = shuffle
        self.month = 0
        self.rules = build_rules(params)
        for r in self.rules:
            for i in range(r.size):
                CustomerAgent(self, r, in_book=i < r.initial)
        self.hazard = [0.0] * len(self.rules)
        self.flows = [[0] * len(FLOWS) for _ in self.rules]
        self.counts, self.mrr_by_persona = self._count()
        self.records: list[dict[str, Any]] = []

    def _count(self) -> tuple[list[list[int]], list[float]]:
        counts = [[0] * len(Stage) for _ in self.rules]
        mrr = [0.0] * len(self.rules)
        for a in self.agents:
            i = a.rules.index
            counts[i][a.stage] += 1
            mrr[i] += a.mrr
        return counts, mrr

    def step(self) -> None:
        self.month += 1
        for r in self.rules:
            c = self.counts[r.index]
            adopters = (
                c[ONBOARDING] + c[ACTIVE] + self.params.acquisition.advocate_weight * c[ADVOCATE]
            )
            self.hazard[r.index] = acquisition_hazard(self.params, r, c[UNAWARE], adopters)
        self.flows = [[0] * len(FLOWS) for _ in self.rules]
        if self.shuffle:
            self.agents.shuffle_do("step")
        else:
            self.agents.do("step")
        self.counts, self.mrr_by_persona = self._count()
        for r in self.rules:
            row: dict[str, Any] = {"month": self.month, "persona": r.name}
            row.update({f"n_{s.name.lower()}": self.counts[r.index][s] for s in Stage})
            row.update(dict(zip(FLOWS, self.flows[r.index], strict=True)))
            row["mrr_end"] = self.mrr_by_persona[r.index]
            self.records.append(row)
