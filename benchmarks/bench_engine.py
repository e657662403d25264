"""Speed and memory of the journey engine, against the targets of the project.

Run from the repository root (``make bench`` does this)::

    .venv/bin/python benchmarks/bench_engine.py            # full run, a few minutes
    .venv/bin/python benchmarks/bench_engine.py --quick    # small sizes, under a minute

It prints its figures and writes them, with the machine and package versions, to
``benchmarks/results/engine.json`` (``engine_quick.json`` with ``--quick``). This file is the
entry; the work is in ``harness.py`` (machine, timing, memory, sizes, the full-engine run and its
per-step timing), ``yardstick.py`` (the one-Mesa-agent-per-customer model and the agreement
check) and ``report.py`` (figures against targets, the JSON file).

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
   - where the time goes: one more run with each row of ``simulator.model.STEPS`` timed by the
     model (``JourneyModel.step(timings=...)``), in ns per customer-month; skipped with a note
     when the engine has no ``STEPS`` table.
   A second run with 1,000,000 customers plus 1,000,000 prospects (``market.size`` 2,000,000)
   shows the cost with acquisition, consideration and decision at work.

B. The yardstick: a simplified journey run by a straightforward one-Mesa-agent-per-customer model
   (``CustomerAgent.step`` in Python draws its own random numbers) and by the engine configured
   to the same journey, at the same size, in the same process (the journey is described in
   ``yardstick.py``).

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
import yardstick

from simulator import load_config
from simulator.params import params_of


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run, < 1 min)")
    ap.add_argument("--customers", type=int, help="customers of the full-engine run")
    ap.add_argument("--months", type=int, default=36)
    ap.add_argument("--repeat", type=int, help="timed repetitions of the full-engine run")
    ap.add_argument("--yardstick-size", type=int, help="accounts in the Mesa comparison")
    ap.add_argument("--replications", type=int, help="engine replications for the agreement")
    ap.add_argument("--no-funnel", action="store_true", help="skip the run with prospects")
    ap.add_argument("--no-steps", action="store_true", help="skip the per-step breakdown")
    ap.add_argument("--no-pin", action="store_true", help="do not pin to one CPU core")
    ap.add_argument("--json", type=Path, help="where to write the figures")
    args = ap.parse_args(argv)

    quick = args.quick
    size = harness.sizes(
        quick, args.customers, args.months, args.repeat, args.yardstick_size, args.replications
    )
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
    print(f"[B] yardstick, {size.yardstick:,} accounts: engine, then Mesa ...", flush=True)
    res["yardstick"] = yardstick.run_yardstick(
        size.yardstick, size.yardstick // 10, months, size.replications, repeat=3, small=size.small
    )
    print("[C] parameters: load_config (Hydra) vs replace (no Hydra) ...", flush=True)
    res["parameters"] = harness.time_parameters()
    res["elapsed_s"] = time.perf_counter() - t_start
    print(flush=True)
    report.print_report(res)
    print(f"\n(total {res['elapsed_s']:.0f} s; figures written to {out_path})")
    res["figures"], res["pass"] = report.figures(res)
    report.write_json(res, out_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
