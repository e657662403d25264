"""Benchmark harness: the machine, timing, memory tracing, sizes, and the full-engine run (A).

Used by ``bench_engine.py`` (the entry), ``yardstick.py`` and ``workloads.py``. Run as a script
only as the memory child of ``measure_memory``::

    python benchmarks/harness.py --memory-child '["market.size=1000", ...]'
"""

from __future__ import annotations

import gc
import inspect
import json
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

import simulator.model
from simulator import load_config
from simulator.experiments.provenance import git_revision, package_versions
from simulator.model import JourneyModel
from simulator.params import ScenarioParams, params_of
from simulator.population import Population
from simulator.streams import RandomStreams


@dataclass(frozen=True)
class Sizes:
    """Sizes of one benchmark run."""

    customers: int  # paying accounts of the full-engine run (A), = its rows
    months: int
    repeat: int  # timed repetitions of each engine run (and of each Mesa run in B)
    yardstick: int  # accounts of the Mesa comparison (B); a tenth are customers at month 0
    small: int | None  # second, smaller size of the comparison (None: skipped)
    replications: int  # engine replications for the agreement check
    mesa_runs: int  # Mesa runs for the agreement check (the timed ones first)
    mc_replications: int  # replications of the Monte Carlo workload on the pool (C); 0: skip
    mc_serial: int  # replications of the same workload run serially, one core (C)
    fit_sizes: tuple[int, ...]  # market sizes of the fixed-cost fit (D)
    fit_repeat: int  # runs per size in D
    big_accounts: int  # accounts (market.size) of the long run (E); 0: skip
    big_months: int


def sizes(
    quick: bool,
    customers: int | None = None,
    months: int = 36,
    repeat: int | None = None,
    yardstick: int | None = None,
    replications: int | None = None,
    mesa_runs: int | None = None,
) -> Sizes:
    """The full run's sizes (the project's targets are set for them), or ``--quick``'s."""
    customers = customers or (100_000 if quick else 1_000_000)
    runs = repeat or (1 if quick else 3)
    return Sizes(
        customers=customers,
        months=months,
        repeat=runs,
        yardstick=yardstick or (20_000 if quick else customers),
        small=10_000 if quick else 100_000,
        # The quick check compares the mean of 10 Mesa runs with 50 engine replications: one
        # Mesa run of a 20,000-account market against 20 replications gave |z| > 4 in about
        # 7% of seed sets (and did with the fixed seeds: smb n_active 324 against 262.7 ± 14.2),
        # 10 and 50 in about 1%, the floor of ~130 comparisons of small, skewed counts. The
        # full run compares the mean of its timed Mesa runs (no extra run).
        replications=replications or (50 if quick else 30),
        mesa_runs=mesa_runs or (10 if quick else runs),
        mc_replications=10 if quick else 1_000,
        mc_serial=3 if quick else 50,
        fit_sizes=(
            (12_500, 25_000, 50_000, 100_000)
            if quick
            else (12_500, 25_000, 50_000, 100_000, 200_000)
        ),
        fit_repeat=repeat or (3 if quick else 5),
        big_accounts=200_000 if quick else 10_000_000,
        big_months=60,
    )


# ---------------------------------------------------------------------------- the machine
#: The CPUs this process could use before ``pin_to_one_core`` (None: not pinned).
ALL_CPUS: set[int] | None = None


def pin_to_one_core() -> int | None:
    """Restrict this process (and its children) to one CPU; the CPU, or None if unsupported."""
    global ALL_CPUS
    if not hasattr(os, "sched_setaffinity"):
        return None
    ALL_CPUS = set(os.sched_getaffinity(0))
    cpu = min(ALL_CPUS)
    os.sched_setaffinity(0, {cpu})
    return cpu


def usable_cpus() -> int:
    """CPUs this process may use once unpinned (what the local pool is given)."""
    if ALL_CPUS is not None:
        return len(ALL_CPUS)
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@contextmanager
def unpinned() -> Iterator[None]:
    """Every CPU the process had before pinning, for the duration (the pool's workers and its
    fork server inherit it); pinned again on exit."""
    if ALL_CPUS is None:
        yield
        return
    pinned = os.sched_getaffinity(0)
    os.sched_setaffinity(0, ALL_CPUS)
    try:
        yield
    finally:
        os.sched_setaffinity(0, pinned)


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


def machine_info(cpu: int | None) -> dict[str, Any]:
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
        "versions": package_versions(),
        "git_revision": git_revision(short=True),
        "loadavg_start": os.getloadavg(),
    }


# ---------------------------------------------------------------------------- A. full engine
def market_mix(base: ScenarioParams) -> str:
    """``initial.mix`` equal to the market shares (a book that may fill the whole market)."""
    shares = ", ".join(f"{name}: {p.share}" for name, p in base.personas.items())
    return f"initial.mix={{{shares}}}"


def full_overrides(
    customers: int, market: int, months: int, split_like_market: bool = True
) -> list[str]:
    """The default scenario with ``customers`` paying accounts and ``market`` rows; support
    agents and CSMs scaled with the book so per-customer service matches the default. The book
    is split like the market (it may fill it), or by the default ``initial.mix`` when
    ``split_like_market`` is false."""
    base = load_config()
    scale = customers / base.initial.customers
    return [
        f"market.size={market}",
        f"initial.customers={customers}",
        *([market_mix(base)] if split_like_market else []),
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
    rows = params.market.size
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
    """Peak traced memory of set-up + run (runs in a child process; see ``measure_memory``)."""
    params = params_of(load_config(overrides))
    gc.collect()
    tracemalloc.start()
    model = JourneyModel(params)
    _, setup_peak = tracemalloc.get_traced_memory()
    model.run()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rows = len(model.population)
    history = sum(log.nbytes for log in model.mrr_history)
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
    """``memory_child`` in a child process (it inherits the CPU pinning), per row."""
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


# ---------------------------------------------------------------------------- per-step timing
#: Random-draw methods timed inside the steps that call them (label, class, method).
DRAWS: tuple[tuple[str, type, str], ...] = (
    ("uniform draws", RandomStreams, "uniform"),
    ("per-row draws", RandomStreams, "row_uniform"),
    ("per-row draw pairs", RandomStreams, "row_uniform_pair"),
)


def steps_table() -> tuple[Any, ...] | None:
    """The engine's ``STEPS`` if the model times its steps (``step(timings=...)``), else None."""
    steps = getattr(simulator.model, "STEPS", None)
    if not steps or not _takes_timings(JourneyModel.step):
        return None
    return tuple(steps)


def _takes_timings(fn: Callable[..., Any]) -> bool:
    try:
        return "timings" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def run_timed(model: JourneyModel, months: int, timings: dict[str, float]) -> str:
    """Run ``months`` months adding each step's seconds into ``timings``; how it was called.

    Mesa's ``Model.__init__`` replaces the instance's ``step`` with a wrapper that takes no
    arguments (it advances Mesa's clock, then calls the class's ``step``), so the model is
    driven by ``run(timings=...)`` when it has one, else by its own ``step(timings=...)``, else
    by the class's ``step`` called directly (Mesa's clock then stays at 0; the engine keeps its
    own month)."""
    if _takes_timings(model.run):
        model.run(months, timings=timings)  # type: ignore[call-arg]
        return "JourneyModel.run(timings=...)"
    if _takes_timings(model.step):
        for _ in range(months):
            model.step(timings=timings)  # type: ignore[call-arg]
        return "model.step(timings=...)"
    for _ in range(months):
        type(model).step(model, timings=timings)  # type: ignore[call-arg]
    return "JourneyModel.step(model, timings=...), past Mesa's step wrapper"


@contextmanager
def draw_timers() -> Iterator[dict[str, float]]:
    """Wrap the random-draw methods with wall-clock timers (restored on exit)."""
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

    for label, cls, name in DRAWS:
        fn = cls.__dict__.get(name)
        if callable(fn):
            saved.append((cls, name, fn))
            setattr(cls, name, timed(label, fn))
    try:
        yield totals
    finally:
        for cls, name, fn in saved:
            setattr(cls, name, fn)


def time_steps(params: ScenarioParams) -> dict[str, Any]:
    """One more run with each row of ``STEPS`` timed by the model (``step(timings=...)``) and
    the random draws timed inside them: seconds and ns per customer-month per step, in step
    order. ``{"skipped": reason}`` when the engine has no ``STEPS`` table yet."""
    steps = steps_table()
    if steps is None:
        return {"skipped": "simulator.model has no STEPS table with JourneyModel.step(timings=...)"}
    model = JourneyModel(params)
    timings: dict[str, float] = {}
    gc.collect()
    with draw_timers() as draws:
        t0 = time.perf_counter()
        how = run_timed(model, params.months, timings)
        total = time.perf_counter() - t0
    per = params.market.size * params.months

    def entry(seconds: float) -> dict[str, float]:
        return {"s": seconds, "ns_per_customer_month": seconds / per * 1e9}

    order = [s.name for s in steps]
    order += [name for name in timings if name not in order]  # anything timed outside STEPS
    return {
        "run_s": total,
        "called_as": how,
        "ns_per_customer_month": total / per * 1e9,
        "steps": {name: entry(timings.get(name, 0.0)) for name in order},
        "outside_steps": entry(max(0.0, total - sum(timings.values()))),
        "draws": {label: entry(s) for label, s in draws.items()},
    }


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--memory-child":
        print(json.dumps(memory_child(json.loads(sys.argv[2]))))
    else:
        sys.exit("usage: harness.py --memory-child JSON (run benchmarks/bench_engine.py)")
