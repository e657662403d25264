"""One engine against another, timed in turn in one session: is a change faster, or noise?

A full ``make bench`` run moves by a few percent from one run to the next with the shared
machine's load, more than most single changes. This script times the engine of a git revision
(``REV``: checked out into a temporary worktree) and this tree's, in alternating child
processes pinned to the same core, on one workload, and prints each one's times and the ratio
of their medians with a bootstrap interval::

    .venv/bin/python benchmarks/ab.py HEAD~1                  # the Monte Carlo replication
    .venv/bin/python benchmarks/ab.py 0125102 --workload fit --market 1000000 --runs 3
    .venv/bin/python benchmarks/ab.py HEAD --workload full --customers 1000000

Workloads (the definitions of ``workloads.py`` and ``harness.py``, built here and handed to the
children as Hydra overrides, so any revision with ``JourneyModel`` and ``params_of`` can run):

- ``mc``: one replication of C's Monte Carlo workload (10,000 customers, 100,000 accounts, 36
  months), set-up and run, ms per replication;
- ``fit``: D's workload at ``--market`` accounts, the run only, ms per month;
- ``full``: A's full engine at ``--customers`` customers, the run only, ms per month.

Each round starts one child per engine (old first on odd rounds, new first on even ones); a
child builds the workload, runs one replication to warm up (the first child of a revision
compiles its kernels into its own cache folder: tens of seconds once), then times ``--runs``
replications (numbers 1, 2, ...: the same ones for both engines). The interval is the 2.5 and
97.5 percentiles of the ratio of medians over 2,000 resamples of each engine's times. An
interval that holds 1 is a difference within the machine's noise.

This tree is its working tree, uncommitted edits included (the printout says so).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

#: Resamples of the bootstrap interval of the ratio of medians.
RESAMPLES = 2000


# ---------------------------------------------------------------------------- the child
def child(tree: str, overrides: list[str], runs: int, per_month: bool, cpu: int) -> None:
    """Time ``runs`` replications of the workload with the ``simulator`` of ``tree`` (first
    on ``sys.path``); print one JSON line: seconds per replication (the run, or set-up and
    run), and where ``simulator`` was imported from."""
    os.sched_setaffinity(0, {cpu})
    sys.path.insert(0, tree)
    import simulator
    from simulator import load_config
    from simulator.model import JourneyModel
    from simulator.params import params_of

    params = params_of(load_config(overrides))
    JourneyModel(params, replication=0).run()  # warm-up (and the kernels' first compilation)
    seconds = []
    for replication in range(1, runs + 1):
        start = time.perf_counter()
        model = JourneyModel(params, replication=replication)
        if per_month:
            start = time.perf_counter()
        model.run()
        seconds.append(time.perf_counter() - start)
    print(json.dumps({"seconds": seconds, "module": simulator.__file__}))


def _run_child(
    tree: Path, overrides: list[str], runs: int, per_month: bool, cpu: int
) -> list[float]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(tree)
    args = [sys.executable, str(HERE / "ab.py"), "--child", str(tree), json.dumps(overrides)]
    args += ["--runs", str(runs), "--cpu", str(cpu)] + (["--per-month"] if per_month else [])
    proc = subprocess.run(args, capture_output=True, text=True, env=env, cwd=tempfile.gettempdir())
    if proc.returncode != 0:
        sys.exit(f"ab.py: the child of {tree} failed:\n{proc.stderr[-3000:]}")
    answer = json.loads(proc.stdout.strip().splitlines()[-1])
    expected = (tree / "simulator" / "__init__.py").resolve()
    if Path(answer["module"]).resolve() != expected:
        sys.exit(f"ab.py: the child of {tree} imported {answer['module']}, not {expected}")
    return answer["seconds"]


# ---------------------------------------------------------------------------- the comparison
def ratio_interval(
    old: list[float], new: list[float], resamples: int = RESAMPLES, seed: int = 0
) -> tuple[float, float, float]:
    """median(new) / median(old), and the 2.5 and 97.5 percentiles of that ratio over
    ``resamples`` bootstrap resamples of each list."""
    rng = np.random.default_rng(seed)
    a, b = np.asarray(old, dtype=float), np.asarray(new, dtype=float)
    ratio = float(np.median(b) / np.median(a))
    ra = np.median(rng.choice(a, (resamples, a.size)), axis=1)
    rb = np.median(rng.choice(b, (resamples, b.size)), axis=1)
    low, high = np.percentile(rb / ra, [2.5, 97.5])
    return ratio, float(low), float(high)


def verdict(low: float, high: float) -> str:
    """What an interval of new / old says."""
    if high < 1.0:
        return f"new is faster by {100 * (1 - high):.1f}–{100 * (1 - low):.1f}%"
    if low > 1.0:
        return f"new is slower by {100 * (low - 1):.1f}–{100 * (high - 1):.1f}%"
    return "within the machine's noise"


def workload(args: argparse.Namespace) -> tuple[list[str], bool, str, float]:
    """(overrides, time the run only, what it is, months per replication to divide by)."""
    sys.path.insert(0, str(HERE))
    from harness import full_overrides
    from workloads import MC_CUSTOMERS, MC_MARKET, MC_MONTHS, mc_overrides, scaled_overrides

    if args.workload == "mc":
        what = (
            f"C's replication: {MC_CUSTOMERS:,} customers, {MC_MARKET:,} accounts, "
            f"{MC_MONTHS} months, set-up and run, ms per replication"
        )
        return mc_overrides(1, "serial"), False, what, 1.0
    if args.workload == "fit":
        what = f"D's workload at {args.market:,} accounts, {args.months} months, ms per month"
        return scaled_overrides(args.market, args.months), True, what, float(args.months)
    what = f"A's full engine, {args.customers:,} customers, {args.months} months, ms per month"
    overrides = full_overrides(args.customers, args.customers, args.months)
    return overrides, True, what, float(args.months)


def _revision(tree: Path, rev: str = "HEAD") -> str:
    out = subprocess.run(
        ["git", "-C", str(tree), "rev-parse", "--short", rev], capture_output=True, text=True
    )
    return out.stdout.strip() or rev


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rev", nargs="?", help="the old engine: a git revision")
    parser.add_argument("--workload", choices=("mc", "fit", "full"), default="mc")
    parser.add_argument("--market", type=int, default=200_000, help="accounts (fit)")
    parser.add_argument("--customers", type=int, default=1_000_000, help="customers (full)")
    parser.add_argument("--months", type=int, default=36, help="months (fit, full)")
    parser.add_argument("--rounds", type=int, default=3, help="child pairs (default 3)")
    parser.add_argument("--runs", type=int, default=None, help="timed runs per child")
    parser.add_argument("--cpu", type=int, default=None, help="core to pin to (default last)")
    parser.add_argument("--child", nargs=2, metavar=("TREE", "OVERRIDES"), help=argparse.SUPPRESS)
    parser.add_argument("--per-month", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    cpu = args.cpu if args.cpu is not None else max(os.sched_getaffinity(0))
    if args.child:
        tree, overrides = args.child
        child(tree, json.loads(overrides), args.runs or 5, args.per_month, cpu)
        return
    if not args.rev:
        parser.error("give the old engine's revision (e.g. HEAD~1)")
    if args.runs is None:
        args.runs = {"mc": 10, "fit": 5, "full": 3}[args.workload]
    overrides, per_month, what, months = workload(args)
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    new_name = _revision(REPO) + (" + uncommitted edits" if dirty else "")
    with tempfile.TemporaryDirectory(prefix="journey-sim-ab-") as tmp:
        old_tree = Path(tmp) / "old"
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(old_tree), args.rev],
            check=True,
        )
        try:
            old_name = _revision(old_tree)
            print(f"A/B: {what}; old {old_name} ({args.rev}), new {new_name}")
            print(f"   {args.rounds} rounds x {args.runs} runs per engine, pinned to CPU {cpu}")
            times: dict[str, list[float]] = {"old": [], "new": []}
            trees = {"old": old_tree, "new": REPO}
            for k in range(args.rounds):
                order = ("old", "new") if k % 2 == 0 else ("new", "old")
                for name in order:
                    got = _run_child(trees[name], overrides, args.runs, per_month, cpu)
                    times[name] += [s / months for s in got]
                    shown = ", ".join(f"{1e3 * s / months:.1f}" for s in got)
                    print(f"   round {k + 1} {name}: {shown}", flush=True)
        finally:
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "remove", "--force", str(old_tree)],
                check=False,
            )
    for name, label in (("old", old_name), ("new", new_name)):
        t = times[name]
        print(
            f"   {name}: median {1e3 * statistics.median(t):8.2f} ms, "
            f"min {1e3 * min(t):8.2f} ms ({len(t)} runs; {label})"
        )
    ratio, low, high = ratio_interval(times["old"], times["new"])
    print(f"   new / old {ratio:.3f} (95% bootstrap interval {low:.3f}–{high:.3f}): ", end="")
    print(verdict(low, high))


if __name__ == "__main__":
    main()
