"""Speed and memory of the journey engine, against the targets of the project.

Run from the repository root (``make bench`` does this)::

    .venv/bin/python benchmarks/bench_engine.py            # full run, a few minutes
    .venv/bin/python benchmarks/bench_engine.py --quick    # small sizes, under a minute

It prints its figures and writes them, with the machine and package versions, to
``benchmarks/results/engine.json`` (``engine_quick.json`` with ``--quick``).

What is measured (one process pinned to one CPU core, so numpy and Python share that core):

A. The full engine: the default scenario (every mechanism on) with 1,000,000 customers over 36
   months, one replication, ``JourneyModel(params).run()``. Every customer is one row of the
   population arrays: ``market.size = initial.customers = 1,000,000``, so the whole population is
   the paying book at month 0. Support agents and CSMs are scaled with the book (default 6 agents
   and 4 CSMs for 3,000 customers) so that the scenario behaves per customer as the default one.
   - ns per customer-month = run wall time / (rows of the population arrays × months). Rows are
     every account the engine holds and steps (paying, churned and, in the funnel run,
     prospects); this is the denominator the engine's cost scales with.
   - ns per paying customer-month = run wall time / Σ over months of paying accounts at the end
     of the month (``customers`` column), printed for reference.
   - peak memory per customer = tracemalloc peak (numpy allocations are traced) over set-up and
     run / rows, measured in a child process so tracing does not slow the timed run. The rise of
     the process' peak RSS during the timed run is printed for reference.
   A second run with 1,000,000 customers plus 1,000,000 prospects (``market.size`` 2,000,000)
   shows the cost with acquisition, consideration and decision at work.

B. The yardstick: a simplified journey run by a straightforward one-Mesa-agent-per-customer model
   (``CustomerAgent.step`` in Python draws its own random numbers) and by the engine configured
   to the same journey, at the same size, in the same process. The simplified journey is what the
   engine does with only the acquisition, onboarding and reactivation mechanisms on,
   homogeneous base churn and no health effect on churn::

       unaware → consideration (Bass p + q·adopters/market + channel leads / unaware)
       lost → consideration (nurture); consideration → decision | lost
       decision → (after the trial / sales cycle) onboarding with the MNL buy probability | lost
       onboarding → active (after the onboarding path's months; activated with its quality)
       onboarding / active → churned with the persona's mean monthly churn
       churned (1..window months ago) → active (win-back)

   The comparison is made at the size of run A (1,000,000 accounts: 100,000 customers at month 0,
   the rest prospects) and repeated at 250,000 accounts, where the engine's fixed cost per month
   weighs four times more. With no health effect on churn and no failed payments, the engine
   draws each account's churn month once per paying spell (``JourneyModel.churn_is_scheduled``);
   nurture, consideration and win-back are always scheduled that way; the Mesa agents draw every
   month. Both are the same law.

   Outputs are checked for statistical agreement: per persona, the end-of-horizon stage counts
   and the cumulative flows of the Mesa run and of the mean of engine replications are compared
   with each other and with their expected value from a mean-field recursion of the same chain
   (exact up to the O(1/N) covariance of the Bass imitation term).
"""

from __future__ import annotations

import os

# One core means one thread too: keep BLAS / OpenMP pools (created when numpy is imported, before
# the process is pinned) from running work on other cores.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mesa
import numpy as np

from simulator import load_config
from simulator.config import params_of
from simulator.model import JourneyModel, split_by_share
from simulator.params import MECHANISMS, PersonaParams, ScenarioParams
from simulator.personas import PersonaAgent
from simulator.population import Population
from simulator.runner import git_revision, package_versions
from simulator.stages import DecisionPath, Stage
from simulator.streams import RandomStreams
from simulator.support import SuccessTeam, SupportDesk

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = Path(__file__).resolve().parent / "results"

TARGET_NS_PER_CUSTOMER_MONTH = 150.0
TARGET_BYTES_PER_CUSTOMER = 300.0
TARGET_SPEEDUP = 100.0
#: |z| above this fails the agreement check (about 130 comparisons are made).
Z_LIMIT = 4.0

#: Mechanisms left on in the simplified (yardstick) journey.
SIMPLE_MECHANISMS = ("acquisition", "onboarding", "reactivation")


# ---------------------------------------------------------------------------- helpers
def pin_to_one_core() -> int | None:
    """Restrict this process (and its children) to one CPU; the CPU, or None if unsupported."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def rss_bytes(field: str = "VmRSS") -> int | None:
    """Resident set size (``VmRSS``) or its peak (``VmHWM``) of this process, from /proc."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


# ---------------------------------------------------------------------------- A. full engine
def full_overrides(customers: int, market: int, months: int) -> list[str]:
    """The default scenario with ``customers`` paying accounts and ``market`` rows; support
    agents and CSMs scaled with the book so per-customer service matches the default."""
    base = load_config()
    scale = customers / base.initial.customers
    return [
        f"market.size={market}",
        f"initial.customers={customers}",
        f"months={months}",
        "replications=1",
        "progress=false",
        f"support.agents={max(1, round(base.support.agents * scale))}",
        f"success.csms={max(1, round(base.success.csms * scale))}",
    ]


def time_engine(params: ScenarioParams, repeat: int) -> dict[str, Any]:
    """Set-up and run times of ``repeat`` fresh models (one replication each)."""
    setup, wall, cpu = [], [], []
    paying_months = 0
    rows = params.market_size
    rss_before = rss_after = None
    for _ in range(repeat):
        gc.collect()
        rss0 = rss_bytes()
        t0 = time.perf_counter()
        model = JourneyModel(params)
        t1, c1 = time.perf_counter(), time.process_time()
        model.run()
        t2, c2 = time.perf_counter(), time.process_time()
        setup.append(t1 - t0)
        wall.append(t2 - t1)
        cpu.append(c2 - c1)
        paying_months = sum(int(r["customers"]) for r in model.records)
        if rss_before is None:
            rss_before, rss_after = rss0, rss_bytes("VmHWM")
        del model
    customer_months = rows * params.months
    run_median = statistics.median(wall)
    return {
        "rows": rows,
        "months": params.months,
        "repeat": repeat,
        "setup_s": statistics.median(setup),
        "run_s": wall,
        "run_median_s": run_median,
        "run_min_s": min(wall),
        "run_cpu_median_s": statistics.median(cpu),
        "customer_months": customer_months,
        "paying_customer_months": paying_months,
        "ns_per_customer_month": run_median / customer_months * 1e9,
        "ns_per_customer_month_min": min(wall) / customer_months * 1e9,
        "ns_per_customer_month_cpu": statistics.median(cpu) / customer_months * 1e9,
        "ns_per_paying_customer_month": run_median / max(paying_months, 1) * 1e9,
        "rss_before_bytes": rss_before,
        "rss_peak_bytes": rss_after,
    }


def memory_child(overrides: list[str]) -> dict[str, Any]:
    """Peak traced memory of set-up + run (runs in a child process; see ``--memory-child``)."""
    params = params_of(load_config(overrides))
    gc.collect()
    tracemalloc.start()
    model = JourneyModel(params)
    _, setup_peak = tracemalloc.get_traced_memory()
    model.run()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rows = len(model.population)
    history = sum(a.nbytes for month in model.mrr_history for a in month)
    calendars = sum(len(c) for agent in model.persona_agents for c in agent.due.values())
    return {
        "rows": rows,
        "traced_peak_bytes": peak,
        "traced_setup_peak_bytes": setup_peak,
        "traced_end_bytes": current,
        "population_bytes": model.population.nbytes,
        "mrr_history_bytes": history,
        "calendar_rows_at_end": calendars,
    }


def measure_memory(overrides: list[str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--memory-child", json.dumps(overrides)],
        capture_output=True,
        text=True,
        check=True,
    )
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    rows = out["rows"]
    out["peak_bytes_per_customer"] = out["traced_peak_bytes"] / rows
    out["population_bytes_per_row"] = out["population_bytes"] / rows
    out["mrr_history_bytes_per_row"] = out["mrr_history_bytes"] / rows
    return out


def population_row_bytes() -> dict[str, int]:
    """Bytes per row of each array of the population struct of arrays."""
    pop = Population.empty(1)
    return {f.name: int(getattr(pop, f.name).itemsize) for f in fields(pop)}


#: Methods timed by ``--phases`` (phase name, class, method); missing ones are skipped.
PHASES: tuple[tuple[str, type, str], ...] = (
    ("begin_month (start counts, MRR start)", PersonaAgent, "begin_month"),
    ("acquire", PersonaAgent, "acquire"),
    ("consider", PersonaAgent, "consider"),
    ("decide", PersonaAgent, "decide"),
    ("onboard", PersonaAgent, "onboard"),
    ("decay_health", PersonaAgent, "decay_health"),
    ("raise_tickets", PersonaAgent, "raise_tickets"),
    ("support desk (Erlang C)", SupportDesk, "serve"),
    ("receive_support", PersonaAgent, "receive_support"),
    ("success team", SuccessTeam, "step"),
    ("bill_and_renew", PersonaAgent, "bill_and_renew"),
    ("expand_and_contract", PersonaAgent, "expand_and_contract"),
    ("churn", PersonaAgent, "churn"),
    ("advocate", PersonaAgent, "advocate"),
    ("reputation", JourneyModel, "_update_reputation"),
    ("win_back", PersonaAgent, "win_back"),
    ("accounting (monthly records)", JourneyModel, "_account"),
    ("  of which inside phases: uniform draws", RandomStreams, "uniform"),
    ("  of which inside phases: per-row draws", RandomStreams, "row_uniform"),
    ("  of which inside phases: per-row draw pairs", RandomStreams, "row_uniform_pair"),
)


@contextmanager
def phase_timers() -> Iterator[dict[str, float]]:
    """Wrap the engine's phase methods with wall-clock timers (restored on exit)."""
    totals: dict[str, float] = {}
    saved = []

    def timed(label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                totals[label] = totals.get(label, 0.0) + time.perf_counter() - t0

        return wrapper

    for label, cls, name in PHASES:
        fn = cls.__dict__.get(name)
        if callable(fn):
            saved.append((cls, name, fn))
            setattr(cls, name, timed(label, fn))
    try:
        yield totals
    finally:
        for cls, name, fn in saved:
            setattr(cls, name, fn)


def time_phases(params: ScenarioParams) -> dict[str, Any]:
    """One run with every phase timed: seconds and ns per customer-month per phase."""
    model = JourneyModel(params)
    gc.collect()
    with phase_timers() as totals:
        t0 = time.perf_counter()
        model.run()
        total = time.perf_counter() - t0
    per = params.market_size * params.months
    phases = {k: {"s": v, "ns_per_customer_month": v / per * 1e9} for k, v in totals.items()}
    return {"run_s": total, "ns_per_customer_month": total / per * 1e9, "phases": phases}


# ---------------------------------------------------------------------------- B. yardstick
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


def _finite(x: Any) -> Any:
    """JSON-safe copy: non-finite floats become None."""
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


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


# ---------------------------------------------------------------------------- report
def machine_info(cpu: int | None) -> dict[str, Any]:
    versions = package_versions()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "pinned_cpu": cpu,
        "numpy": np.__version__,
        "mesa": mesa.__version__,
        "versions": versions,
        "git_revision": git_revision(short=True),
    }


def fmt_int(x: float) -> str:
    return f"{x:,.0f}"


def print_report(res: dict[str, Any]) -> None:
    m = res["machine"]
    a, mem, funnel, y = res["full"], res["memory"], res.get("funnel"), res["yardstick"]
    w = print
    w(
        f"journey-sim engine benchmark   {m['date']}   git {m['git_revision']}\n"
        f"Python {m['python']}, numpy {m['numpy']}, mesa {m['mesa']}, {m['platform']}\n"
        f"{m['cpu_model']}, {m['cpu_count']} CPUs, this process pinned to CPU {m['pinned_cpu']}"
    )
    w("")
    w(
        f"A. Full engine: default scenario, every mechanism on, {fmt_int(a['rows'])} customers, "
        f"{a['months']} months, 1 replication"
    )
    w("   overrides: " + " ".join(res["full_overrides"]))

    def line(label: str, value: str) -> None:
        w(f"   {label:<38}{value}")

    runs = ", ".join(f"{s:.2f}" for s in a["run_s"])
    line("set-up (population, initial book)", f"{a['setup_s']:.2f} s")
    line(f"run, {a['months']} months, wall", f"{a['run_median_s']:.2f} s (median of: {runs})")
    line(f"run, {a['months']} months, CPU", f"{a['run_cpu_median_s']:.2f} s")
    line(
        "customer-months = rows × months",
        f"{fmt_int(a['customer_months'])} → {a['ns_per_customer_month']:.1f} ns each "
        f"(fastest run {a['ns_per_customer_month_min']:.1f}, "
        f"CPU {a['ns_per_customer_month_cpu']:.1f})",
    )
    line(
        "paying customer-months",
        f"{fmt_int(a['paying_customer_months'])} → {a['ns_per_paying_customer_month']:.1f} ns each",
    )
    line(
        "traced peak memory (child process)",
        f"{mem['traced_peak_bytes'] / 2**20:.1f} MiB = {mem['peak_bytes_per_customer']:.1f} bytes "
        "per customer",
    )
    row_bytes = res["population_row_bytes"]
    line("population struct of arrays", f"{sum(row_bytes.values())} bytes per row:")
    w("      " + ", ".join(f"{k} {v}" for k, v in row_bytes.items()))
    line(
        "+ MRR history (12 monthly snapshots)",
        f"{mem['mrr_history_bytes_per_row']:.1f} bytes per row",
    )
    if a.get("rss_peak_bytes") and a.get("rss_before_bytes"):
        rise = (a["rss_peak_bytes"] - a["rss_before_bytes"]) / a["rows"]
        line("peak RSS rise in the timed run", f"{rise:.1f} bytes per customer")
    if "phases" in res:
        ph = res["phases"]
        w("")
        w(
            f"   where the time goes (one more run with timers: {ph['run_s']:.2f} s = "
            f"{ph['ns_per_customer_month']:.1f} ns per customer-month)"
        )
        items = ph["phases"].items()
        order = sorted(items, key=lambda kv: (kv[0].startswith(" "), -kv[1]["s"]))
        for name, v in order:
            w(f"      {name:<42}{v['s']:7.3f} s {v['ns_per_customer_month']:7.1f} ns")
    if funnel:
        w("")
        w(
            f"   with prospects: {fmt_int(funnel['rows'])} rows ({fmt_int(a['rows'])} customers + "
            f"{fmt_int(funnel['rows'] - a['rows'])} prospects), run {funnel['run_median_s']:.2f} s:"
            f" {funnel['ns_per_customer_month']:.1f} ns per row-month, "
            f"{funnel['ns_per_paying_customer_month']:.1f} ns per paying customer-month"
        )
    w("")
    e = y["engine"]
    w(
        f"B. Yardstick: simplified journey, {fmt_int(y['rows'])} accounts "
        f"({fmt_int(y['initial_customers'])} customers at month 0, the rest prospects), "
        f"{y['months']} months"
    )
    w(
        "   mechanisms on: " + ", ".join(SIMPLE_MECHANISMS) + " (all others off); "
        "health.churn_sensitivity=0; churn.concentration=null"
    )
    w(
        f"   Mesa, one CustomerAgent per account: set-up {y['mesa_setup_s']:6.2f} s, run "
        f"{y['mesa_run_s']:7.3f} s = {y['mesa_ns_per_customer_month']:7,.1f} ns per customer-month"
    )
    w(
        f"   engine, same journey and size:       set-up {e['setup_s']:6.2f} s, run "
        f"{e['run_median_s']:7.3f} s = {e['ns_per_customer_month']:7,.1f} ns per customer-month"
    )
    w(f"   speed-up (wall)  {y['speedup']:.1f}×     (CPU time: {y['speedup_cpu']:.1f}×)")
    w(
        f"   Mesa with shuffle_do (random activation order) instead: "
        f"{y['mesa_shuffle_ns_per_customer_month']:,.1f} ns per customer-month = "
        f"{y['mesa_shuffle_ns_per_customer_month'] / e['ns_per_customer_month']:.1f}× the engine"
    )
    if "small" in y:
        sm = y["small"]
        mesa_small = sm["mesa_ns_per_customer_month"]
        engine_small = sm["engine"]["ns_per_customer_month"]
        w(
            f"   at {fmt_int(sm['rows'])} accounts: Mesa {mesa_small:,.1f} ns, engine "
            f"{engine_small:.1f} ns per customer-month = {sm['speedup']:.1f}× "
            "(the engine's fixed cost per month weighs more)"
        )
        # Two sizes give the engine's cost per month as fixed + per account (a straight line).
        big_ms = e["ns_per_customer_month"] * y["rows"] * 1e-6
        small_ms = engine_small * sm["rows"] * 1e-6
        per_account = (big_ms - small_ms) / (y["rows"] - sm["rows"]) * 1e6
        fixed = small_ms - per_account * sm["rows"] * 1e-6
        w(
            f"   engine's cost per month from the two sizes: {fixed:.2f} ms fixed + "
            f"{per_account:.2f} ns per account"
        )
    w("")
    w(
        f"   Agreement at month {y['months']} (counts; flows summed over the run): expected "
        f"(mean-field), engine mean ± sd of {y['engine_replications']} replications, Mesa run; z"
    )
    w(
        f"   {'persona':<11}{'figure':<22}{'expected':>11}{'engine mean':>13}{'sd':>10}"
        f"{'Mesa':>13}{'z eng-E':>9}{'z Mesa-E':>9}{'z Mesa-eng':>11}"
    )

    def zf(z: float | None) -> str:
        return "" if z is None else f"{z:+.2f}"

    for r in y["agreement"]:
        if r["engine_mean"] == 0 and r["mesa"] == 0 and not r["expected"]:
            continue
        exp = "" if r["expected"] is None else f"{r['expected']:,.1f}"
        w(
            f"   {r['persona']:<11}{r['figure']:<22}{exp:>11}{r['engine_mean']:>13,.1f}"
            f"{r['engine_sd']:>10,.1f}{r['mesa']:>13,.1f}{zf(r['z_engine_vs_expected']):>9}"
            f"{zf(r['z_mesa_vs_expected']):>9}{zf(r['z_mesa_vs_engine']):>11}"
        )
    w(f"   largest |z| = {y['max_abs_z']:.2f} (limit {Z_LIMIT:g})")
    w("")
    w("Figures against targets")
    table = [
        (
            "ns per customer-month, full engine, 1 core",
            f"{a['ns_per_customer_month']:.1f}",
            f"≤ {TARGET_NS_PER_CUSTOMER_MONTH:g}",
            verdict(a["ns_per_customer_month"] <= TARGET_NS_PER_CUSTOMER_MONTH),
        ),
        (
            "  (per paying customer-month, reference)",
            f"{a['ns_per_paying_customer_month']:.1f}",
            "",
            "",
        ),
        (
            "peak bytes per customer (tracemalloc)",
            f"{mem['peak_bytes_per_customer']:.1f}",
            f"≤ {TARGET_BYTES_PER_CUSTOMER:g}",
            verdict(mem["peak_bytes_per_customer"] <= TARGET_BYTES_PER_CUSTOMER),
        ),
        (
            "speed-up over one Mesa agent per customer",
            f"{y['speedup']:.1f}×",
            f"≥ {TARGET_SPEEDUP:g}×",
            verdict(y["speedup"] >= TARGET_SPEEDUP),
        ),
        (
            "engine and Mesa agree (largest |z|)",
            f"{y['max_abs_z']:.2f}",
            f"≤ {Z_LIMIT:g}",
            verdict(y["agreement_ok"]),
        ),
    ]
    if res.get("quick"):
        w("   (--quick: small sizes, a smoke run; the targets are for the full run)")
    w(f"   {'figure':<44}{'value':>10}  {'target':<9}{'result'}")
    for name, value, target, ok in table:
        w(f"   {name:<44}{value:>10}  {target:<9}{ok}")


# ---------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run, < 1 min)")
    ap.add_argument("--customers", type=int, help="customers of the full-engine run")
    ap.add_argument("--months", type=int, default=36)
    ap.add_argument("--repeat", type=int, help="timed repetitions of the full-engine run")
    ap.add_argument("--yardstick-size", type=int, help="accounts in the Mesa comparison")
    ap.add_argument("--replications", type=int, help="engine replications for the agreement")
    ap.add_argument("--no-funnel", action="store_true", help="skip the run with prospects")
    ap.add_argument("--no-phases", action="store_true", help="skip the per-phase breakdown")
    ap.add_argument("--no-pin", action="store_true", help="do not pin to one CPU core")
    ap.add_argument("--json", type=Path, help="where to write the figures")
    ap.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.memory_child is not None:
        print(json.dumps(memory_child(json.loads(args.memory_child))))
        return 0

    quick = args.quick
    customers = args.customers or (100_000 if quick else 1_000_000)
    repeat = args.repeat or (1 if quick else 3)
    ysize = args.yardstick_size or (20_000 if quick else customers)
    small = None if quick else 250_000
    replications = args.replications or (20 if quick else 30)
    out_path = args.json or RESULTS_DIR / ("engine_quick.json" if quick else "engine.json")
    cpu = None if args.no_pin else pin_to_one_core()

    res: dict[str, Any] = {"machine": machine_info(cpu), "quick": quick}
    res["targets"] = {
        "ns_per_customer_month": TARGET_NS_PER_CUSTOMER_MONTH,
        "bytes_per_customer": TARGET_BYTES_PER_CUSTOMER,
        "speedup_over_mesa": TARGET_SPEEDUP,
        "agreement_max_abs_z": Z_LIMIT,
    }
    t_start = time.perf_counter()
    print(f"[A] full engine, {customers:,} customers × {args.months} months ...", flush=True)
    overrides = full_overrides(customers, customers, args.months)
    res["full_overrides"] = overrides
    res["full"] = time_engine(params_of(load_config(overrides)), repeat)
    print("[A] memory (tracemalloc, child process) ...", flush=True)
    res["memory"] = measure_memory(overrides)
    res["population_row_bytes"] = population_row_bytes()
    if not args.no_phases:
        print("[A] where the time goes (phases timed, one more run) ...", flush=True)
        res["phases"] = time_phases(params_of(load_config(overrides)))
    if not args.no_funnel:
        print(f"[A] with {customers:,} prospects as well ...", flush=True)
        funnel_overrides = full_overrides(customers, 2 * customers, args.months)
        res["funnel_overrides"] = funnel_overrides
        res["funnel"] = time_engine(params_of(load_config(funnel_overrides)), 1)
    print(f"[B] yardstick, {ysize:,} accounts: engine, then Mesa ...", flush=True)
    res["yardstick"] = run_yardstick(
        ysize, ysize // 10, args.months, replications, repeat=3, small=small
    )
    res["elapsed_s"] = time.perf_counter() - t_start
    print(flush=True)
    print_report(res)
    print(f"\n(total {res['elapsed_s']:.0f} s; figures written to {out_path})")

    a, mem, y = res["full"], res["memory"], res["yardstick"]
    res["figures"] = {
        "ns_per_customer_month": a["ns_per_customer_month"],
        "ns_per_paying_customer_month": a["ns_per_paying_customer_month"],
        "peak_bytes_per_customer": mem["peak_bytes_per_customer"],
        "population_bytes_per_row": sum(res["population_row_bytes"].values()),
        "mesa_ns_per_customer_month": y["mesa_ns_per_customer_month"],
        "engine_simple_ns_per_customer_month": y["engine"]["ns_per_customer_month"],
        "speedup_over_mesa": y["speedup"],
        "speedup_over_mesa_at_250k": y["small"]["speedup"] if "small" in y else None,
        "agreement_max_abs_z": y["max_abs_z"],
    }
    res["pass"] = {
        "ns_per_customer_month": a["ns_per_customer_month"] <= TARGET_NS_PER_CUSTOMER_MONTH,
        "bytes_per_customer": mem["peak_bytes_per_customer"] <= TARGET_BYTES_PER_CUSTOMER,
        "speedup_over_mesa": y["speedup"] >= TARGET_SPEEDUP,
        "agreement": y["agreement_ok"],
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(_finite(res), indent=2, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
