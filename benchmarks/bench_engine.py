"""Speed and memory of the journey engine, against the targets of issue 10.

Run from the repository root (``make bench`` does this)::

    .venv/bin/python benchmarks/bench_engine.py            # full run, about 10 minutes
    .venv/bin/python benchmarks/bench_engine.py --quick    # small sizes, under a minute

It prints its figures and writes them, with the machine and package versions, to
``benchmarks/results/engine.json`` (``engine_quick.json`` with ``--quick``). This file is the
entry; the work is in ``harness.py`` (machine, timing, memory, sizes, the full-engine run and its
per-step timing), ``yardstick.py`` and ``mesa_journey.py`` (the one-Mesa-agent-per-customer
model and the agreement check), ``workloads.py`` (the Monte Carlo workload, the fixed-cost fit,
the long run, parameter sets), ``printout.py`` (the printed sections) and ``report.py`` (figures
against targets, the JSON file).

The process is pinned to one CPU core (numpy and Python share it; children inherit it), except
for the local process pool of C, which gets every CPU the process had.

A. The full engine: the default scenario (every mechanism on) with 1,000,000 customers over 36
   months, one replication, ``JourneyModel(params).run()``, with ``market.size =
   initial.customers``: the whole population is the paying book at month 0; support agents and
   CSMs scaled with the book. ns per customer-month (rows × months), peak traced bytes per
   account (child process), time per step of ``STEPS``, and a run with as many prospects.

B. The yardstick: a simplified journey run by a one-Mesa-agent-per-customer model
   (``CustomerAgent.step`` in Python draws its own random numbers) and by the engine configured
   to the same journey, in the same process, at 1,000,000 accounts (100,000 customers at month
   0) and at 100,000: 3 pairs of runs at each size (engine, then Mesa), the speed-up of each pair,
   min and median. Outputs are checked for statistical agreement at the larger size (per persona,
   the mean of the 3 timed Mesa runs, or with ``--quick`` of 10, the mean of engine replications
   and a mean-field recursion of the same chain).

C. Monte Carlo: 1,000 replications of the default scenario with 10,000 paying customers in a
   100,000-account market over 36 months, plots off, through ``simulate(load_config([...]))`` on
   the local process pool (one worker per CPU); 50 more serially on the pinned core.

D. Fixed cost per month: run time per month against rows over five market sizes (12,500 to
   200,000 accounts: the Monte Carlo workload scaled, 10% paying, support, CSMs and channels
   scaled; 5 runs each, the sizes in turn), least squares through the medians: intercept = ms
   per month whatever the size, slope = ns per account-month.

E. Long run: 10,000,000 accounts × 60 months (1,000,000 customers at month 0, scaled as in D),
   one replication in a child process: time and peak RSS.

F. Parameters: ``load_config`` (Hydra) against ``replace`` (no Hydra).
"""

from __future__ import annotations

import os

# One core means one thread too: keep BLAS / OpenMP pools (created when numpy is imported, before
# the process is pinned) from running work on other cores. Set before anything imports numpy.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import harness
import report
import workloads
import yardstick

from simulator import load_config
from simulator.params import params_of


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run, < 1 min)")
    ap.add_argument("--customers", type=int, help="customers of the full-engine run (A)")
    ap.add_argument("--months", type=int, default=36)
    ap.add_argument("--repeat", type=int, help="runs per figure (A, B: 3; D: 5; --quick 1, 3)")
    ap.add_argument("--yardstick-size", type=int, help="accounts in the Mesa comparison (B)")
    ap.add_argument(
        "--replications", type=int, help="engine replications for the agreement (30, --quick 50)"
    )
    ap.add_argument(
        "--mesa-runs", type=int, help="Mesa runs for the agreement (3, --quick 10; ≥ 1)"
    )
    ap.add_argument("--no-funnel", action="store_true", help="skip the run with prospects (A)")
    ap.add_argument("--no-steps", action="store_true", help="skip the per-step breakdown (A)")
    ap.add_argument(
        "--mc-replications",
        type=int,
        help="replications on the pool (C; 1000, --quick 10; 0 skips)",
    )
    ap.add_argument("--mc-serial", type=int, help="replications run serially (C; 50, --quick 3)")
    ap.add_argument(
        "--fit-sizes", type=lambda v: tuple(int(x) for x in v.split(",")), help="D's market sizes"
    )
    ap.add_argument("--no-fit", action="store_true", help="skip the fixed-cost fit (D)")
    ap.add_argument("--big-accounts", type=int, help="accounts of the long run (E; 10,000,000)")
    ap.add_argument("--big-months", type=int, help="months of the long run (E; 60)")
    ap.add_argument("--no-10m", action="store_true", help="skip the long run (E)")
    ap.add_argument("--no-pin", action="store_true", help="do not pin to one CPU core")
    ap.add_argument("--json", type=Path, help="where to write the figures")
    args = ap.parse_args(argv)

    quick = args.quick
    if args.mesa_runs is not None and args.mesa_runs < 1:
        ap.error("--mesa-runs must be at least 1")
    size = harness.sizes(
        quick,
        args.customers,
        args.months,
        args.repeat,
        args.yardstick_size,
        args.replications,
        args.mesa_runs,
    )
    mc_reps = size.mc_replications if args.mc_replications is None else args.mc_replications
    mc_serial = args.mc_serial or size.mc_serial
    fit_sizes = args.fit_sizes or size.fit_sizes
    big_accounts = size.big_accounts if args.big_accounts is None else args.big_accounts
    big_months = args.big_months or size.big_months
    out_path = args.json or report.RESULTS_DIR / ("engine_quick.json" if quick else "engine.json")
    cpu = None if args.no_pin else harness.pin_to_one_core()

    res: dict[str, Any] = {"machine": harness.machine_info(cpu), "quick": quick}
    res["targets"] = report.TARGETS
    t_start = time.perf_counter()
    customers, months = size.customers, size.months
    print(f"[A] full engine, {customers:,} customers × {months} months ...", flush=True)
    overrides = harness.full_overrides(customers, customers, months)
    res["full_overrides"] = overrides
    res["full"] = harness.time_engine(params_of(load_config(overrides)), size.repeat)
    print("[A] memory (tracemalloc, child process) ...", flush=True)
    res["memory"] = harness.measure_memory(overrides)
    res["population_row_bytes"] = harness.population_row_bytes()
    if not args.no_steps:
        print("[A] where the time goes (steps timed, one more run) ...", flush=True)
        res["steps"] = harness.time_steps(params_of(load_config(overrides)))
    if not args.no_funnel:
        print(f"[A] with {customers:,} prospects as well ...", flush=True)
        funnel_overrides = harness.full_overrides(customers, 2 * customers, months)
        res["funnel_overrides"] = funnel_overrides
        res["funnel"] = harness.time_engine(params_of(load_config(funnel_overrides)), 1)
    print(
        f"[B] yardstick, {size.yardstick:,} and {size.small:,} accounts: "
        f"{size.repeat} engine/Mesa pairs each ...",
        flush=True,
    )
    res["yardstick"] = yardstick.run_yardstick(
        size.yardstick,
        size.yardstick // 10,
        months,
        size.replications,
        repeat=size.repeat,
        small=size.small,
        mesa_runs=size.mesa_runs,
    )
    if mc_reps > 0:
        print(
            f"[C] Monte Carlo, {mc_reps:,} replications on the local pool, "
            f"{mc_serial} serially ...",
            flush=True,
        )
        res["monte_carlo"] = workloads.run_monte_carlo(mc_reps, mc_serial)
    if not args.no_fit:
        print(f"[D] fixed cost per month, {len(fit_sizes)} market sizes ...", flush=True)
        res["fixed_cost"] = workloads.fit_fixed_cost(fit_sizes, months, size.fit_repeat)
    if big_accounts > 0 and not args.no_10m:
        print(
            f"[E] {big_accounts:,} accounts × {big_months} months (child process) ...", flush=True
        )
        res["big"] = workloads.run_big(
            big_accounts, big_months, res["memory"]["peak_bytes_per_customer"]
        )
    print("[F] parameters: load_config (Hydra) vs replace (no Hydra) ...", flush=True)
    res["parameters"] = workloads.time_parameters()
    res["elapsed_s"] = time.perf_counter() - t_start
    print(flush=True)
    report.print_report(res)
    print(f"\n(total {res['elapsed_s']:.0f} s; figures written to {out_path})")
    res["figures"], res["pass"] = report.figures(res)
    report.write_json(res, out_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
