"""Trials per second of ``simulator.optimize``, serial against a local process pool.

Run from the repository root::

    PYTHONPATH=. .venv/bin/python benchmarks/bench_optimize.py [--workers 2] [--trials 12]

The same study (default scenario, 24 months, 4 replications per trial, the Pro price and the
annual discount searched, batches of 4 trials) runs once serially and once on a local pool
kept open for the study; it prints the search's trials per second of each and checks that the
two histories are identical. Kernels are compiled (or loaded) by a warm-up first. The figures
are printed, never asserted: they depend on the machine and its load (printed too).
"""

from __future__ import annotations

import argparse
import os
import time

import pandas as pd

from simulator import load_config, optimize
from simulator.experiments.executors import LocalExecutor, SerialExecutor

SPACE = {
    "pro_price": {"key": "pricing.plans.pro.price", "low": 59, "high": 149},
    "discount": {"key": "pricing.annual_discount", "low": 0.1, "high": 0.3},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--trials", type=int, default=12)
    args = parser.parse_args()
    cfg = load_config(["months=24", "replications=4"])
    optimize(cfg, SPACE, trials=1, top=1, fresh_replications=2)  # warm-up: kernels
    results = {}
    for name, executor in (
        ("serial", SerialExecutor()),
        (f"local pool ({args.workers} workers)", LocalExecutor(args.workers)),
    ):
        start = time.perf_counter()
        res = optimize(cfg, SPACE, trials=args.trials, batch=4, executor=executor)
        total = time.perf_counter() - start
        results[name] = res
        print(
            f"{name:<24} {res.timings['trials_per_second']:.2f} trials/s "
            f"(search {res.timings['search_seconds']:.1f} s for {args.trials} trials of 4 "
            f"replications; re-evaluation {res.timings['reevaluation_seconds']:.1f} s; "
            f"total {total:.1f} s)"
        )
    first, *others = results.values()
    for other in others:
        pd.testing.assert_frame_equal(first.trials, other.trials)
    print("identical histories: yes")
    print(f"cpus: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
