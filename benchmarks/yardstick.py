"""The Mesa yardstick (B): the simplified journey with one Mesa agent per customer, against the
engine configured to the same journey, at the same size, with a statistical agreement check.

The Mesa model is in ``mesa_journey.py``. The simplified journey is what the engine does with
only the acquisition, onboarding and reactivation mechanisms on, homogeneous base churn and no
health effect on churn::

    unaware → consideration (Bass p + q·adopters/market + channel leads / unaware)
    lost → consideration (nurture); consideration → decision | lost
    decision → (after the trial / sales cycle) onboarding with the MNL buy probability | lost
    onboarding → active (after the onboarding path's months; activated with its quality)
    onboarding / active → churned with the persona's mean monthly churn
    churned (1..window months ago) → active (win-back)

The book at month 0 is aged as in the engine's warm start (``simulator.book``; see
``mesa_journey.py``): tenure τ with p(τ) ∝ (1 − churn)^τ, onboarding until month 1 − τ + the
path's months while τ ≤ them, active otherwise; the pipeline is empty.

``CustomerAgent.step`` (Python, one agent per account) draws its own random numbers every month;
the engine draws waiting times and files accounts in calendars. Both are the same law: per
persona, the end-of-horizon stage counts and the cumulative flows of the Mesa runs and of the
engine replications are compared with each other and with their expected value from a
mean-field recursion of the same chain (exact up to the O(1/N) covariance of the Bass imitation
term). The Mesa side is the mean of several runs (the full benchmark's 3 timed ones; 10 with
``--quick``, where one run of a 20,000-account market is too noisy a draw for ~130 comparisons
at |z| ≤ 4); each z divides by the standard deviation of one run pooled over the engine
replications and the Mesa runs (under the hypothesis checked, both draw from the same law),
which with one Mesa run is the engine replications' own. ``dispersion`` then asks whether the
two spread alike (variance ratios).
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from typing import Any

from harness import market_mix, time_engine
from mesa_journey import FLOWS, MesaJourney, acquisition_hazard, build_rules

from simulator import load_config
from simulator.mechanisms import MECHANISMS
from simulator.model import JourneyModel
from simulator.params import ScenarioParams, params_of
from simulator.stages import Stage

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
        market_mix(base),  # the Mesa model splits its customers like the market
        "initial.pipeline=false",  # and starts with an empty pipeline
        f"months={months}",
        "replications=1",
        "progress=false",
        "health.churn_sensitivity=0",
    ]
    out += [f"mechanisms.{m}={str(m in SIMPLE_MECHANISMS).lower()}" for m in MECHANISMS]
    out += [f"personas.{p}.churn.concentration=null" for p in base.personas]
    # Homogeneous churn: no extra early churn for accounts billed after a forgotten card trial
    # (they still convert, as the Mesa model does).
    out += [f"personas.{p}.decision.forgot_churn=0" for p in base.personas]
    # Linear channel leads (spend / cost per lead) and win-backs at list price, as the Mesa model.
    out += [f"acquisition.channels.{c}.saturation_leads=null" for c in base.acquisition.channels]
    out += ["winback.discount=0"]
    return out


def expected_simple_journey(params: ScenarioParams) -> dict[str, dict[str, float]]:
    """Expected end-of-horizon stage counts and cumulative flows per persona, by a mean-field
    recursion of the simplified journey in the engine's step order."""
    out = {}
    for r in build_rules(params):
        unaware, consid, lost = float(r.size - r.initial), 0.0, 0.0
        decision: dict[int, float] = {}  # entry month -> mass
        # The aged book: bought in month 1 − τ, onboarding while τ ≤ the path's months.
        onboarding = {
            1 - tau: r.initial * w
            for tau, w in enumerate(r.tenure, start=1)
            if tau <= r.onboarding_months
        }
        active = r.initial - sum(onboarding.values())
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


def pooled_sd(a: list[float], b: list[float]) -> float:
    """Standard deviation of one run (in the figure's units: accounts, or $ per month for MRR)
    from two samples of the same law, each about its own mean:
    √((Σ(a − ā)² + Σ(b − b̄)²) / (len(a) + len(b) − 2)). With one value in ``b`` it is the
    sample sd of ``a``."""
    df = len(a) + len(b) - 2
    if df < 1:
        return 0.0
    ss = 0.0
    for sample in (a, b):
        if not sample:
            continue
        mean = statistics.fmean(sample)
        ss += sum((x - mean) ** 2 for x in sample)
    return math.sqrt(ss / df)


def _mesa_run(params: ScenarioParams, seed: int, shuffle: bool = False) -> dict[str, Any]:
    """One fresh ``MesaJourney`` run: set-up and run times and its horizon figures."""
    gc.collect()
    t0 = time.perf_counter()
    model = MesaJourney(params, seed=seed, shuffle=shuffle)
    t1, c1 = time.perf_counter(), time.process_time()
    for _ in range(params.months):
        model.step()
    t2, c2 = time.perf_counter(), time.process_time()
    out = {
        "setup_s": t1 - t0,
        "run_s": t2 - t1,
        "run_cpu_s": c2 - c1,
        "agents": len(model.agents),
        "figures": horizon_figures(model.records, params.months),
    }
    del model
    gc.collect()
    return out


def compare(params: ScenarioParams, repeat: int, seed: int) -> dict[str, Any]:
    """``repeat`` pairs of runs (a fresh engine model, then a fresh Mesa model; set-up
    excluded) in this process; the speed-up of each pair = Mesa's run time / the engine's, and
    their min and median."""
    engine, mesa, ratios, ratios_cpu = [], [], [], []
    for i in range(repeat):
        eng = time_engine(params, 1)
        mes = _mesa_run(params, seed + i)
        engine.append(eng)
        mesa.append(mes)
        ratios.append(mes["run_s"] / eng["run_median_s"])
        ratios_cpu.append(mes["run_cpu_s"] / eng["run_cpu_median_s"])
    per = params.market.size * params.months
    eng_runs = [e["run_median_s"] for e in engine]
    mesa_runs = [m["run_s"] for m in mesa]
    return {
        "rows": params.market.size,
        "initial_customers": params.initial.customers,
        "months": params.months,
        "repeat": repeat,
        "engine_setup_s": statistics.median(e["setup_s"] for e in engine),
        "engine_run_s": eng_runs,
        "engine_ns_per_customer_month": statistics.median(eng_runs) / per * 1e9,
        "mesa_agents": mesa[0]["agents"],
        "mesa_setup_s": statistics.median(m["setup_s"] for m in mesa),
        "mesa_run_s": mesa_runs,
        "mesa_ns_per_customer_month": statistics.median(mesa_runs) / per * 1e9,
        "speedups": ratios,
        "speedup_min": min(ratios),
        "speedup_median": statistics.median(ratios),
        "speedup_cpu_median": statistics.median(ratios_cpu),
        "mesa_figures": [m["figures"] for m in mesa],
    }


def agreement(
    params: ScenarioParams, replications: int, mesa_runs: list[dict[str, dict[str, float]]]
) -> list[dict[str, Any]]:
    """Per persona and figure: expected (mean-field), engine mean and sd over ``replications``,
    the mean (and, from two runs on, the sd) of the Mesa runs, the sd of one run pooled over
    both, and the three z: engine mean − expected, Mesa mean − expected and Mesa mean − engine
    mean, each divided by the pooled sd × √(1/n), √(1/k) and √(1/n + 1/k) (n engine
    replications, k Mesa runs). With k = 1 the pooled sd is the engine's: z Mesa − engine =
    difference / (sd × √(1 + 1/n)), z Mesa − expected = difference / sd."""
    months = params.months
    engine_runs = []
    for rep in range(replications):
        model = JourneyModel(params, replication=rep)
        model.run()
        engine_runs.append(horizon_figures(model.records, months))
    expected = expected_simple_journey(params)
    n, k = len(engine_runs), len(mesa_runs)
    rows = []
    for persona in expected:
        for col in COMPARED:
            values = [run[persona][col] for run in engine_runs]
            mesa_values = [run[persona][col] for run in mesa_runs]
            mean = statistics.fmean(values)
            sd = statistics.stdev(values) if n > 1 else 0.0
            m = statistics.fmean(mesa_values)
            sd_one = pooled_sd(values, mesa_values)
            e = expected[persona].get(col)
            rows.append(
                {
                    "persona": persona,
                    "figure": col,
                    "expected": e,
                    "engine_mean": mean,
                    "engine_sd": sd,
                    "mesa": m,
                    "mesa_sd": statistics.stdev(mesa_values) if k > 1 else None,
                    "pooled_sd": sd_one,
                    "z_engine_vs_expected": None
                    if e is None
                    else _z(mean - e, sd_one / math.sqrt(n)),
                    "z_mesa_vs_expected": None if e is None else _z(m - e, sd_one / math.sqrt(k)),
                    "z_mesa_vs_engine": _z(m - mean, sd_one * math.sqrt(1.0 / n + 1.0 / k)),
                }
            )
    return rows


def dispersion(rows: list[dict[str, Any]], replications: int, mesa_runs: int) -> dict[str, Any]:
    """Whether Mesa's runs and the engine's replications spread alike, from the ``agreement``
    rows (``mesa_runs`` ≥ 2 and ``replications`` ≥ 2; else empty): per row the variance ratio
    F = (Mesa sd / engine sd)², two-sided p under F(k − 1, n − 1); the median F and what it
    is under the same law; how many rows have the larger variance on Mesa's side, with the
    binomial test's two-sided p (under the same law a row has it with P(F > 1), below one half
    when k < n); the row of smallest p, and the Bonferroni limit 0.05 / rows for it."""
    from scipy import stats

    k, n = mesa_runs, replications
    if k < 2 or n < 2:
        return {}
    tests = []
    for r in rows:
        if not r["mesa_sd"] or not r["engine_sd"]:
            continue
        f = (r["mesa_sd"] / r["engine_sd"]) ** 2
        p = 2.0 * min(stats.f.cdf(f, k - 1, n - 1), stats.f.sf(f, k - 1, n - 1))
        tests.append((min(p, 1.0), f, r["persona"], r["figure"]))
    if not tests:
        return {}
    above = sum(f > 1.0 for _, f, _, _ in tests)
    p_min, f_min, persona, figure = min(tests)
    p_above = float(stats.f.sf(1.0, k - 1, n - 1))
    return {
        "rows": len(tests),
        "mesa_above": above,
        "expected_above": p_above * len(tests),
        "binomial_p": float(stats.binomtest(above, len(tests), p_above).pvalue),
        "median_f": statistics.median(f for _, f, _, _ in tests),
        "null_median_f": float(stats.f.median(k - 1, n - 1)),
        "smallest_p": float(p_min),
        "smallest_p_f": f_min,
        "smallest_p_row": f"{persona} {figure}",
        "bonferroni": 0.05 / len(tests),
    }


def run_yardstick(
    market: int,
    customers: int,
    months: int,
    replications: int,
    repeat: int,
    small: int | None,
    mesa_runs: int = 1,
) -> dict[str, Any]:
    """The comparison at ``market`` accounts (``repeat`` engine/Mesa pairs, one more Mesa run
    with random activation order, the agreement check of ``replications`` engine replications
    against ``mesa_runs`` Mesa runs: the timed ones first, then untimed ones with the next
    seeds) and at ``small`` accounts (pairs only)."""
    overrides = simple_overrides(market, customers, months)
    params = params_of(load_config(overrides))
    mesa_seed = params.seed + 1_000_003
    result: dict[str, Any] = {
        "overrides": overrides,
        **compare(params, repeat, mesa_seed),
    }
    # The same with random activation order (not used for the ratio).
    shuffled = _mesa_run(params, params.seed + 2_000_003, shuffle=True)
    result["mesa_shuffle_ns_per_customer_month"] = shuffled["run_s"] / (market * months) * 1e9
    mesa_figs = result.pop("mesa_figures")[:mesa_runs]
    for i in range(len(mesa_figs), mesa_runs):
        mesa_figs.append(_mesa_run(params, mesa_seed + i)["figures"])
    rows = agreement(params, replications, mesa_figs)
    zs = [
        abs(r[k])
        for r in rows
        for k in ("z_engine_vs_expected", "z_mesa_vs_expected", "z_mesa_vs_engine")
        if r[k] is not None
    ]
    result.update(
        engine_replications=replications,
        mesa_runs=mesa_runs,
        agreement=rows,
        max_abs_z=max(zs),
        agreement_ok=max(zs) <= Z_LIMIT,
    )
    if small:
        # The same comparison at a smaller size: the engine's fixed cost per month (Python calls
        # per persona and phase) weighs more when there are fewer accounts.
        small_params = params_of(load_config(simple_overrides(small, small // 10, months)))
        result["small"] = compare(small_params, repeat, small_params.seed + 3_000_003)
        result["small"].pop("mesa_figures")
    return result
