"""The study-sized workloads of issue 10: (C) Monte Carlo replications of a mid-sized company
through the package's public path, (D) the engine's fixed cost per month from a fit of run time
against rows over several market sizes, (E) a large market over a long horizon (time and peak
RSS, in a child process), and (F) what a parameter set costs (``load_config`` vs ``replace``).

Run as a script only as a child process of ``run_big`` or ``run_monte_carlo``::

    python benchmarks/workloads.py --big-child '["market.size=1000", ...]'
    python benchmarks/workloads.py --pool-child '["executor=local", ...]'
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from harness import full_overrides, market_mix, rss_bytes, time_engine, unpinned, usable_cpus

from simulator import ConfigError, load_config, simulate
from simulator.model import JourneyModel
from simulator.params import params_of

#: The Monte Carlo workload of issue 10: a company with 10,000 paying customers in a
#: 100,000-account market over 36 months (the default scenario otherwise).
MC_CUSTOMERS = 10_000
MC_MARKET = 100_000
MC_MONTHS = 36

#: Customers per account of the market in the fit (D) and the long run (E): the workload's.
BOOK_SHARE = MC_CUSTOMERS / MC_MARKET


# ---------------------------------------------------------------------------- C. Monte Carlo
def mc_overrides(replications: int, executor: str, workers: int | None = None) -> list[str]:
    """The workload's config: the default scenario with ``initial.customers`` and
    ``market.size`` set, plots off, ``replications`` on ``executor``. The default
    ``initial.mix`` is kept if the validator accepts it for this market; otherwise the book is
    split like the market (``harness.market_mix``)."""
    out = [
        f"initial.customers={MC_CUSTOMERS}",
        f"market.size={MC_MARKET}",
        f"months={MC_MONTHS}",
        f"replications={replications}",
        "progress=false",
        "output.plots=false",
        f"executor={executor}",
    ]
    if workers is not None:
        out.append(f"executor.workers={workers}")
    try:
        load_config(out)
    except ConfigError:
        out.append(market_mix(load_config()))
    return out


def _simulate(overrides: list[str]) -> tuple[float, float, int]:
    """Wall and CPU seconds (this process) of ``simulate(load_config(overrides))``
    (composition included) and the replications in its table."""
    gc.collect()
    t0, c0 = time.perf_counter(), time.process_time()
    res = simulate(load_config(overrides))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return wall, cpu, int(res.monthly["replication"].nunique())


def run_monte_carlo(replications: int, serial_replications: int) -> dict[str, Any]:
    """``replications`` on the local process pool with one worker per usable CPU (the process
    is unpinned for it), then ``serial_replications`` serially in this (pinned) process."""
    workers = usable_cpus()
    pool_overrides = mc_overrides(replications, "local", workers)
    load_before = os.getloadavg()
    with unpinned():
        pool_s, _, pool_done = _simulate(pool_overrides)
        # What the pool costs before its first results: one replication per worker, in a fresh
        # process (its fork server cold, as a user's first study has it).
        startup = _child("--pool-child", mc_overrides(workers, "local", workers))
    load_after_pool = os.getloadavg()
    serial_overrides = mc_overrides(serial_replications, "serial")
    serial_s, serial_cpu_s, serial_done = _simulate(serial_overrides)
    per_rep = serial_s / serial_done
    return {
        "customers": MC_CUSTOMERS,
        "market": MC_MARKET,
        "months": MC_MONTHS,
        "pool_overrides": pool_overrides,
        "default_mix": not any(o.startswith("initial.mix=") for o in pool_overrides),
        "workers": workers,
        "replications": pool_done,
        "pool_s": pool_s,
        "pool_s_per_replication": pool_s / pool_done,
        "pool_s_per_1000": pool_s / pool_done * 1000,
        "serial_overrides": serial_overrides,
        "serial_replications": serial_done,
        "serial_s": serial_s,
        "serial_s_per_replication": per_rep,
        "serial_s_per_1000": per_rep * 1000,
        "serial_cpu_s": serial_cpu_s,
        "serial_cpu_s_per_replication": serial_cpu_s / serial_done,
        "pool_speedup": per_rep * pool_done / pool_s,
        "pool_one_per_worker_s": startup["simulate_s"],
        "pool_one_per_worker_replications": startup["replications"],
        "loadavg_before": load_before,
        "loadavg_after_pool": load_after_pool,
    }


def pool_child(overrides: list[str]) -> dict[str, Any]:
    """Wall seconds of one ``simulate`` in a fresh process (see ``run_monte_carlo``)."""
    wall, _, done = _simulate(overrides)
    return {"simulate_s": wall, "replications": done}


def _child(flag: str, overrides: list[str]) -> dict[str, Any]:
    """Run this file with ``flag`` and the overrides in a child process; its JSON answer."""
    proc = subprocess.run(
        [sys.executable, __file__, flag, json.dumps(overrides)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------- D. fixed cost
def scaled_overrides(market: int, months: int) -> list[str]:
    """The Monte Carlo workload scaled to ``market`` accounts, so that every monthly flow is in
    proportion to the rows: the workload's share of them paying at month 0 (default
    ``initial.mix``), support agents and CSMs scaled with the book (``full_overrides``), and
    the acquisition channels' spend and saturation scaled with the market from the workload's
    (the default's at 100,000 accounts). Unscaled, the channels would bring the same leads a
    month at every size: work that does not grow with the rows, counted in the fit's intercept
    (spend / cost per lead: ~1,570 leads a month before saturation, more than a 12,500-account
    market can feed for a year)."""
    out = full_overrides(round(market * BOOK_SHARE), market, months, split_like_market=False)
    base = load_config()
    k = market / MC_MARKET
    for name, spend in base.initial.channel_spend.items():
        out.append(f"initial.channel_spend.{name}={spend * k:.10g}")
    for name, channel in base.acquisition.channels.items():
        if channel.saturation_leads is not None:
            out.append(
                f"acquisition.channels.{name}.saturation_leads={channel.saturation_leads * k:.10g}"
            )
    return out


def _line_fit(x: list[float], y: list[float]) -> dict[str, Any]:
    """Least squares y = a + b·x: a, b, their standard errors and the residuals."""
    xs, ys = np.asarray(x, float), np.asarray(y, float)
    design = np.column_stack([np.ones_like(xs), xs])
    coef, *_ = np.linalg.lstsq(design, ys, rcond=None)
    resid = ys - design @ coef
    dof = len(xs) - 2
    cov = (
        float(resid @ resid) / dof * np.linalg.inv(design.T @ design)
        if dof > 0
        else np.full((2, 2), np.nan)
    )
    return {
        "intercept": float(coef[0]),
        "slope": float(coef[1]),
        "intercept_se": float(np.sqrt(cov[0, 0])),
        "slope_se": float(np.sqrt(cov[1, 1])),
        "residuals": [float(r) for r in resid],
    }


def fit_fixed_cost(markets: tuple[int, ...], months: int, repeat: int) -> dict[str, Any]:
    """Run time per month of ``repeat`` fresh one-replication runs at each market size (set-up
    excluded, as in A; the sizes take turns, so a burst of load elsewhere on the machine falls
    on every size alike) and straight lines through the medians of the wall time (the headline:
    intercept = fixed ms per month, slope = ns per account-month), through the medians of the
    CPU time of this pinned, single-threaded process, and through the fastest runs."""
    params = {m: params_of(load_config(scaled_overrides(m, months))) for m in markets}
    timed: dict[int, list[dict[str, Any]]] = {m: [] for m in markets}
    for _ in range(repeat):
        for market in markets:
            timed[market].append(time_engine(params[market], 1))
    points = []
    for market, ts in timed.items():
        wall = [t["run_median_s"] for t in ts]
        cpu = [t["run_cpu_median_s"] for t in ts]
        points.append(
            {
                "market": market,
                "customers": round(market * BOOK_SHARE),
                "overrides": scaled_overrides(market, months),
                "setup_s": statistics.median(t["setup_s"] for t in ts),
                "run_s": wall,
                "run_cpu_s": cpu,
                "ms_per_month": statistics.median(wall) / months * 1e3,
                "ms_per_month_cpu": statistics.median(cpu) / months * 1e3,
                "ms_per_month_min": min(wall) / months * 1e3,
            }
        )
    x = [p["market"] for p in points]

    def summary(key: str) -> dict[str, Any]:
        fit = _line_fit(x, [p[key] for p in points])
        return {
            "fixed_ms_per_month": fit["intercept"],
            "fixed_ms_per_month_se": fit["intercept_se"],
            "ns_per_account_month": fit["slope"] * 1e6,
            "ns_per_account_month_se": fit["slope_se"] * 1e6,
            "residuals_ms": fit["residuals"],
        }

    return {
        "months": months,
        "repeat": repeat,
        "book_share": BOOK_SHARE,
        "points": points,
        "fit": summary("ms_per_month"),
        "fit_cpu": summary("ms_per_month_cpu"),
        "fit_fastest": summary("ms_per_month_min"),
    }


# ---------------------------------------------------------------------------- E. long run
def big_child(overrides: list[str]) -> dict[str, Any]:
    """Set-up and run of one model (runs in a child process; see ``run_big``): wall times and
    the process' RSS before set-up and at its peak (``VmHWM``)."""
    params = params_of(load_config(overrides))
    gc.collect()
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    model = JourneyModel(params)
    t1 = time.perf_counter()
    model.run()
    t2 = time.perf_counter()
    return {
        "rows": len(model.population),
        "months": params.months,
        "setup_s": t1 - t0,
        "run_s": t2 - t1,
        "paying_customer_months": sum(int(r["customers"]) for r in model.records),
        "customers_end": sum(int(r["customers"]) for r in model.records[-len(params.personas) :]),
        "rss_before_setup_bytes": rss0,
        "peak_rss_bytes": rss_bytes("VmHWM"),
    }


def mem_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def run_big(market: int, months: int, bytes_per_row_estimate: float | None) -> dict[str, Any]:
    """The default scenario scaled to ``market`` accounts (``scaled_overrides``) over ``months``
    months, one replication, in a child process (it inherits the pinning): time and peak RSS.
    Skipped (with the reason) when twice the estimated memory is not available."""
    overrides = scaled_overrides(market, months)
    available = mem_available()
    if bytes_per_row_estimate and available:
        need = 2 * bytes_per_row_estimate * market + 512 * 2**20
        if need > available:
            return {
                "skipped": f"needs ~{need / 2**30:.1f} GiB, {available / 2**30:.1f} GiB available",
                "overrides": overrides,
            }
    t0 = time.perf_counter()
    out = _child("--big-child", overrides)
    rows, months = out["rows"], out["months"]
    out.update(
        overrides=overrides,
        customers=round(market * BOOK_SHARE),
        child_wall_s=time.perf_counter() - t0,
        ns_per_account_month=out["run_s"] / (rows * months) * 1e9,
        ns_per_paying_customer_month=out["run_s"] / max(out["paying_customer_months"], 1) * 1e9,
        peak_rss_bytes_per_account=out["peak_rss_bytes"] / rows,
        rss_rise_bytes_per_account=(out["peak_rss_bytes"] - out["rss_before_setup_bytes"]) / rows,
    )
    return out


# ---------------------------------------------------------------------------- F. parameters
def time_parameters(repeat: int = 200) -> dict[str, float]:
    """What a study pays per parameter set: composing with Hydra (``load_config``, once per
    study) against a validated variant without Hydra (``replace``, once per evaluation), in ms
    (median of repeated calls)."""
    from simulator import replace

    def median_ms(call: Any, n: int) -> float:
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            call()
            times.append(time.perf_counter() - t0)
        return statistics.median(times) * 1e3

    params = params_of(load_config([]))
    change = {"pricing.plans.pro.price": 109.0, "personas.smb.churn.mean": 0.04}
    return {
        "load_config_ms": median_ms(lambda: load_config([]), 5),
        "replace_ms": median_ms(lambda: replace(params, change), repeat),
    }


CHILDREN = {"--big-child": big_child, "--pool-child": pool_child}

if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] in CHILDREN:
        print(json.dumps(CHILDREN[sys.argv[1]](json.loads(sys.argv[2]))))
    else:
        sys.exit("usage: workloads.py --big-child|--pool-child JSON (run bench_engine.py)")
