"""The Mesa yardstick (B): the simplified journey with one Mesa agent per customer, against the
engine configured to the same journey, at the same size, with a statistical agreement check.

The simplified journey is what the engine does with only the acquisition, onboarding and
reactivation mechanisms on, homogeneous base churn and no health effect on churn::

    unaware → consideration (Bass p + q·adopters/market + channel leads / unaware)
    lost → consideration (nurture); consideration → decision | lost
    decision → (after the trial / sales cycle) onboarding with the MNL buy probability | lost
    onboarding → active (after the onboarding path's months; activated with its quality)
    onboarding / active → churned with the persona's mean monthly churn
    churned (1..window months ago) → active (win-back)

``CustomerAgent.step`` (Python, one agent per account) draws its own random numbers every month;
the engine draws waiting times and files accounts in calendars. Both are the same law: per
persona, the end-of-horizon stage counts and the cumulative flows of the Mesa run and of the
mean of engine replications are compared with each other and with their expected value from a
mean-field recursion of the same chain (exact up to the O(1/N) covariance of the Bass imitation
term).
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from dataclasses import dataclass
from typing import Any

import mesa
from harness import time_engine

from simulator import load_config
from simulator.config import params_of
from simulator.model import JourneyModel, split_by_share
from simulator.params import MECHANISMS, PersonaParams, ScenarioParams
from simulator.stages import DecisionPath, Stage

#: |z| above this fails the agreement check (about 130 comparisons are made).
Z_LIMIT = 4.0

#: Mechanisms left on in the simplified (yardstick) journey.
SIMPLE_MECHANISMS = ("acquisition", "onboarding", "reactivation")


def simple_overrides(market: int, customers: int, months: int) -> list[str]:
    """Config of the simplified journey (see the module docstring)."""
    base = load_config()
    out = [
        f"market.size={market}",
        f"initial.customers={customers}",
        f"months={months}",
        "replications=1",
        "progress=false",
        "health.churn_sensitivity=0",
    ]
    out += [f"mechanisms.{m}={str(m in SIMPLE_MECHANISMS).lower()}" for m in MECHANISMS]
    out += [f"personas.{p}.churn.concentration=null" for p in base.personas]
    return out


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


def persona_leads(params: ScenarioParams, persona: PersonaParams) -> float:
    """Channel leads a persona receives per month: spend split by channel weight / cost per
    lead."""
    leads = 0.0
    for c, (spend, cost_per_lead) in params.channels.items():
        total = sum(q.channel_weight[c] for q in params.personas)
        w = persona.channel_weight[c]
        if total > 0 and w > 0:
            leads += spend * (w / total) / cost_per_lead
    return leads


def build_rules(params: ScenarioParams) -> list[Rules]:
    if not all(plan.per_seat for plan in params.plans):
        raise SystemExit("the yardstick assumes per-seat plans (as in the default config)")
    sizes = split_by_share(params.market_size, [p.share for p in params.personas])
    initial = split_by_share(params.initial_customers, [p.share for p in params.personas])
    rules = []
    for p, size, n0 in zip(params.personas, sizes, initial, strict=True):
        if p.decision_path == DecisionPath.FREEMIUM:
            raise SystemExit("the yardstick does not model the freemium path")
        card = p.decision_path == DecisionPath.TRIAL and p.card_required
        seat_price = [plan.price * p.price_multiplier for plan in params.plans]
        plan_u = [
            v - p.price_sensitivity * price / p.willingness_to_pay
            for v, price in zip(p.plan_value, seat_price, strict=True)
        ]
        extra = p.card_utility if card else 0.0
        buy = _logit([p.outside_utility] + [u + extra for u in plan_u])
        book = _logit(plan_u)
        path = params.onboarding_paths[p.onboarding_path]
        rules.append(
            Rules(
                index=p.index,
                name=p.name,
                size=size,
                initial=n0,
                leads=persona_leads(params, p),
                advance=p.consider_advance * (p.card_start_factor if card else 1.0),
                drop=p.consider_drop,
                nurture=p.nurture,
                decision_months=p.decision_months,
                buy_cdf=_cumulative(buy),
                book_cdf=_cumulative(book),
                onboarding_months=path.months,
                quality=path.quality,
                churn=p.churn_mean,
                winback_rate=p.winback_rate,
                window=p.winback_window_months,
                seat_price=tuple(seat_price),
                seats_mean=p.seats_mean,
            )
        )
    return rules


def acquisition_hazard(params: ScenarioParams, r: Rules, unaware: float, adopters: float) -> float:
    """Monthly probability an unaware account starts evaluating (Bass + channel leads)."""
    h_bass = min(1.0, params.bass_p + params.bass_q * adopters / r.size)
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
        if in_book:
            self.plan = _pick(rules.book_cdf, rnd.random())
            self.mrr = rules.seat_price[self.plan] * self.seats
            self.stage = ACTIVE
            self.cohort = 0
        else:
            self.plan = -1
            self.mrr = 0.0
            self.stage = UNAWARE
            self.cohort = -1

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
            if self.cohort < 0:
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
            adopters = c[ONBOARDING] + c[ACTIVE] + self.params.advocate_weight * c[ADVOCATE]
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


def expected_simple_journey(params: ScenarioParams) -> dict[str, dict[str, float]]:
    """Expected end-of-horizon stage counts and cumulative flows per persona, by a mean-field
    recursion of the simplified journey in the engine's step order."""
    out = {}
    for r in build_rules(params):
        unaware, consid, lost, active = float(r.size - r.initial), 0.0, 0.0, float(r.initial)
        decision: dict[int, float] = {}  # entry month -> mass
        onboarding: dict[int, float] = {}
        churned: dict[int, float] = {}
        cum = dict.fromkeys(FLOWS, 0.0)
        p_buy = 1.0 - r.buy_cdf[0]
        for t in range(1, params.months + 1):
            adopters = sum(onboarding.values()) + active
            acquired = unaware * acquisition_hazard(params, r, unaware, adopters)
            unaware -= acquired
            nurtured = lost * r.nurture
            lost -= nurtured
            consid += acquired + nurtured
            to_decision, to_lost = consid * r.advance, consid * r.drop
            consid -= to_decision + to_lost
            lost += to_lost
            decision[t] = to_decision
            deciding = sum(decision.pop(e) for e in list(decision) if t - e >= r.decision_months)
            onboarding[t] = deciding * p_buy
            lost += deciding * (1.0 - p_buy)
            cum["new_customers"] += deciding * p_buy
            done = sum(onboarding.pop(e) for e in list(onboarding) if t - e >= r.onboarding_months)
            active += done
            cum["activations"] += done * r.quality
            leaving = (sum(onboarding.values()) + active) * r.churn
            onboarding = {e: m * (1.0 - r.churn) for e, m in onboarding.items()}
            active *= 1.0 - r.churn
            cum["churned_customers"] += leaving
            for e in list(churned):
                if 1 <= t - e <= r.window:
                    back = churned[e] * r.winback_rate
                    churned[e] -= back
                    active += back
                    cum["reactivated_customers"] += back
            churned[t] = leaving
        stages = {
            "n_unaware": unaware,
            "n_consideration": consid,
            "n_decision": sum(decision.values()),
            "n_onboarding": sum(onboarding.values()),
            "n_active": active,
            "n_advocate": 0.0,
            "n_churned": sum(churned.values()),
            "n_lost": lost,
        }
        out[r.name] = {**stages, **cum}
    return out


COMPARED = (
    "n_unaware",
    "n_consideration",
    "n_decision",
    "n_onboarding",
    "n_active",
    "n_churned",
    "n_lost",
    "new_customers",
    "churned_customers",
    "reactivated_customers",
    "activations",
    "mrr_end",
)


def horizon_figures(records: list[dict[str, Any]], months: int) -> dict[str, dict[str, float]]:
    """Per persona: stage counts and MRR at the horizon, flows summed over the run."""
    out: dict[str, dict[str, float]] = {}
    for row in records:
        d = out.setdefault(row["persona"], dict.fromkeys(FLOWS, 0.0))
        for f in FLOWS:
            d[f] += float(row.get(f, 0.0))
        if row["month"] == months:
            for s in Stage:
                d[f"n_{s.name.lower()}"] = float(row[f"n_{s.name.lower()}"])
            d["mrr_end"] = float(row["mrr_end"])
    return out


def _z(diff: float, sd: float) -> float:
    if sd > 0:
        return diff / sd
    return 0.0 if abs(diff) < 1e-9 else math.inf


def run_yardstick(
    market: int, customers: int, months: int, replications: int, repeat: int, small: int | None
) -> dict[str, Any]:
    overrides = simple_overrides(market, customers, months)
    params = params_of(load_config(overrides))
    agent_months = market * months

    # Engine, same size: timing (fresh model each time), then replications for the statistics.
    eng = time_engine(params, repeat)
    engine_runs = []
    for rep in range(replications):
        model = JourneyModel(params, replication=rep)
        model.run()
        engine_runs.append(horizon_figures(model.records, months))

    # Mesa, same size, one run.
    gc.collect()
    t0 = time.perf_counter()
    mesa_model = MesaJourney(params, seed=params.seed + 1_000_003)
    t1 = time.perf_counter()
    c1 = time.process_time()
    for _ in range(months):
        mesa_model.step()
    t2, c2 = time.perf_counter(), time.process_time()
    mesa_figs = horizon_figures(mesa_model.records, months)
    n_agents = len(mesa_model.agents)
    del mesa_model
    gc.collect()
    mesa_ns = (t2 - t1) / agent_months * 1e9
    # The same with random activation order (not used for the ratio).
    shuffled = MesaJourney(params, seed=params.seed + 2_000_003, shuffle=True)
    gc.collect()
    t3 = time.perf_counter()
    for _ in range(months):
        shuffled.step()
    shuffle_ns = (time.perf_counter() - t3) / agent_months * 1e9
    del shuffled
    gc.collect()

    # Agreement.
    expected = expected_simple_journey(params)
    rows = []
    for persona in expected:
        for col in COMPARED:
            values = [run[persona][col] for run in engine_runs]
            mean = statistics.fmean(values)
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            m = mesa_figs[persona][col]
            e = expected[persona].get(col)
            rows.append(
                {
                    "persona": persona,
                    "figure": col,
                    "expected": e,
                    "engine_mean": mean,
                    "engine_sd": sd,
                    "mesa": m,
                    "z_engine_vs_expected": None
                    if e is None
                    else _z(mean - e, sd / math.sqrt(len(values))),
                    "z_mesa_vs_expected": None if e is None else _z(m - e, sd),
                    "z_mesa_vs_engine": _z(m - mean, sd * math.sqrt(1.0 + 1.0 / len(values))),
                }
            )
    zs = [
        abs(r[k])
        for r in rows
        for k in ("z_engine_vs_expected", "z_mesa_vs_expected", "z_mesa_vs_engine")
        if r[k] is not None
    ]
    result = {
        "overrides": overrides,
        "rows": market,
        "initial_customers": customers,
        "months": months,
        "mesa_agents": n_agents,
        "mesa_setup_s": t1 - t0,
        "mesa_run_s": t2 - t1,
        "mesa_run_cpu_s": c2 - c1,
        "mesa_ns_per_customer_month": mesa_ns,
        "mesa_shuffle_ns_per_customer_month": shuffle_ns,
        "engine": eng,
        "speedup": mesa_ns / eng["ns_per_customer_month"],
        "speedup_cpu": ((c2 - c1) / agent_months * 1e9) / eng["ns_per_customer_month_cpu"],
        "engine_replications": replications,
        "agreement": rows,
        "max_abs_z": max(zs),
        "agreement_ok": max(zs) <= Z_LIMIT,
    }
    if small:
        # The same comparison at a smaller size: the engine's fixed cost per month (Python calls
        # per persona and phase) weighs more when there are fewer accounts.
        small_params = params_of(load_config(simple_overrides(small, small // 10, months)))
        small_eng = time_engine(small_params, repeat)
        gc.collect()
        small_mesa = MesaJourney(small_params, seed=small_params.seed + 3_000_003)
        t4 = time.perf_counter()
        for _ in range(months):
            small_mesa.step()
        small_mesa_ns = (time.perf_counter() - t4) / (small * months) * 1e9
        del small_mesa
        gc.collect()
        result["small"] = {
            "rows": small,
            "engine": small_eng,
            "mesa_ns_per_customer_month": small_mesa_ns,
            "speedup": small_mesa_ns / small_eng["ns_per_customer_month"],
        }
    return result
