"""What the journey event log costs the engine: engine time with ``journey_log.share`` 0, 0.01
and 0.1 in one run.

Run from the repository root::

    .venv/bin/python benchmarks/bench_journey_log.py              # default scenario, ~1 minute
    .venv/bin/python benchmarks/bench_journey_log.py --repeat 5 --market 400000

Each timing is one replication of the default scenario (every mechanism on; ``--market``
accounts, ``--months`` months), in two figures: the engine, ``JourneyModel(params).run()``
(the simulation, with the log's recording inside it), and the engine plus the tables it hands
back (``records_to_frame``, ``flows_frame``, ``stays_frame``, ``log_frame``: what
``run_replication_tables`` does; the event log's table grows with the events it holds). The
shares are run in turn, ``--repeat`` rounds, after one warm-up run of each share (it compiles
or loads its kernels); the medians and their ratios to share 0 are printed.
The stage flows and stays are recorded at every share (they are part of every run); the ratios
are the cost of the sampled event log on top. A timing, never asserted on.
"""

from __future__ import annotations

import argparse
import statistics
import time

from simulator import load_config
from simulator.experiments.montecarlo import records_to_frame
from simulator.journey import flows_frame, log_frame, stays_frame
from simulator.model import JourneyModel
from simulator.params import params_of, replace

SHARES: tuple[float, ...] = (0.0, 0.01, 0.1)


def one_run(params: object) -> tuple[float, float, int]:
    """Seconds for one replication's engine, and with its tables; the number of logged
    events."""
    start = time.perf_counter()
    model = JourneyModel(params)
    model.run()
    engine = time.perf_counter() - start
    records_to_frame(model.records)
    flows_frame(model)
    stays_frame(model)
    log = log_frame(model)
    return engine, time.perf_counter() - start, len(log)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--market", type=int, default=200_000, help="market.size (accounts)")
    parser.add_argument("--initial", type=int, default=3_000, help="initial.customers")
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--repeat", type=int, default=3, help="rounds over the shares")
    args = parser.parse_args()
    base = params_of(
        load_config(
            [
                f"market.size={args.market}",
                f"initial.customers={args.initial}",
                f"months={args.months}",
                "replications=1",
            ]
        )
    )
    variants = {s: replace(base, {"journey_log.share": s}) for s in SHARES}
    for s in SHARES:  # compile (or load) the kernels of every share: the log has its own
        one_run(variants[s])
    engine: dict[float, list[float]] = {s: [] for s in SHARES}
    total: dict[float, list[float]] = {s: [] for s in SHARES}
    events: dict[float, int] = {}
    for _ in range(args.repeat):
        for s in SHARES:
            e, t, n = one_run(variants[s])
            engine[s].append(e)
            total[s].append(t)
            events[s] = n
    print(
        f"journey log: default scenario, {args.market:,} accounts, {args.initial:,} customers at "
        f"month 0, {args.months} months, 1 replication; median of {args.repeat} runs each"
    )
    print(
        f"  {'share':>6}  {'events':>9}  {'engine s':>8}  {'vs share 0':>10}"
        f"  {'+ tables s':>10}  {'vs share 0':>10}   engine runs"
    )
    zero_e, zero_t = statistics.median(engine[0.0]), statistics.median(total[0.0])
    for s in SHARES:
        e, t = statistics.median(engine[s]), statistics.median(total[s])
        runs = ", ".join(f"{x:.3f}" for x in engine[s])
        print(
            f"  {s:>6g}  {events[s]:>9,}  {e:>8.3f}  {e / zero_e:>10.3f}"
            f"  {t:>10.3f}  {t / zero_t:>10.3f}   {runs}"
        )


if __name__ == "__main__":
    main()
