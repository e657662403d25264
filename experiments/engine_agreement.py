"""Do two engines agree? Totals of every shipped scenario, compared across engines.

A change that draws new random numbers (compiled kernels, new streams) cannot keep the golden
baseline; it must show instead that the old and new engines simulate the same model: for the
default scenario and every scenario in ``configs/scenario/``, the per-replication totals of the
monthly table have the same distribution. This script does it in two steps:

    # 1. each engine's totals, one file per engine (run from outside the repo, so that
    #    PYTHONPATH decides which ``simulator`` is imported)
    cd /tmp && PYTHONPATH=<old tree> <repo>/.venv/bin/python \\
        <repo>/experiments/engine_agreement.py run --out old.parquet --replications 100
    cd /tmp && PYTHONPATH=<new tree> <repo>/.venv/bin/python \\
        <repo>/experiments/engine_agreement.py run --out new.parquet --replications 100
    # 2. the comparison: one row per scenario and total, the two means, their difference in
    #    standard errors (Welch z) and the ratio of standard deviations
    <repo>/.venv/bin/python <repo>/experiments/engine_agreement.py compare old.parquet new.parquet

The replications of the two engines are independent samples (their random draws differ), so the
test is a two-sample z on the means, z = (mean_new − mean_old) / sqrt(var_old/n + var_new/n); the
streams a change leaves alone are shared, so the same replication of the two engines is
correlated and a paired z (mean difference over its standard error) is printed too. With about a
hundred comparisons, |z| above 4 is beyond noise; ``compare`` exits 1 if either is.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

import simulator
from simulator import load_config, simulate

#: Totals over the horizon (sums of monthly flows) and stocks at the horizon, per replication.
FLOW_TOTALS = (
    "new_customers",
    "churned_customers",
    "churned_involuntary",
    "reactivated_customers",
    "new_mrr",
    "expansion_mrr",
    "contraction_mrr",
    "churned_mrr",
    "revenue",
    "acquisition_cost",
    "tickets",
    "sla_breaches",
    "prospects",
    "referrals",
    "decisions_started",
    "activations",
    "renewals_due",
    "renewals",
    "new_advocates",
)
END_STOCKS = ("customers", "mrr_end", "n_advocate", "seats")
Z_LIMIT = 4.0


def scenarios() -> list[str]:
    """The shipped scenarios (configs/scenario/*.yaml of the imported package's tree)."""
    folder = Path(simulator.__file__).resolve().parents[1] / "configs" / "scenario"
    return sorted(p.stem for p in folder.glob("*.yaml"))


def totals(scenario: str, replications: int, extra: list[str]) -> pd.DataFrame:
    """One row per replication: the horizon totals and end stocks of ``scenario``."""
    cfg = load_config(
        [f"scenario={scenario}", f"replications={replications}", "output.plots=false", *extra]
    )
    m = simulate(cfg, progress=False).monthly
    flows = m.groupby("replication")[list(FLOW_TOTALS)].sum()
    last = m[m["month"] == m["month"].max()].groupby("replication")[list(END_STOCKS)].sum()
    out = flows.join(last.add_prefix("end_")).reset_index()
    out.insert(0, "scenario", scenario)
    return out


def run(args: argparse.Namespace) -> int:
    commit = subprocess.run(
        ["git", "-C", str(Path(simulator.__file__).parent), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    print(f"engine {simulator.__file__} at {commit or '?'}", file=sys.stderr)
    frames = []
    for s in args.scenarios or scenarios():
        t0 = time.perf_counter()
        frames.append(totals(s, args.replications, args.override))
        print(f"{s}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    table = pd.concat(frames, ignore_index=True)
    table.attrs["engine"] = f"{simulator.__file__} {commit}"
    table.to_parquet(args.out)
    print(f"wrote {args.out} ({len(table)} rows)", file=sys.stderr)
    return 0


def compare(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Welch z of the mean of every total, per scenario (new − old)."""
    rows = []
    columns = [c for c in old.columns if c not in ("scenario", "replication")]
    for scenario, a in old.groupby("scenario"):
        b = new[new["scenario"] == scenario]
        if b.empty:
            continue
        for c in columns:
            ma, mb = a[c].mean(), b[c].mean()
            se = math.sqrt(a[c].var(ddof=1) / len(a) + b[c].var(ddof=1) / len(b))
            z = (mb - ma) / se if se > 0 else (0.0 if ma == mb else math.inf)
            sd_ratio = b[c].std(ddof=1) / a[c].std(ddof=1) if a[c].std(ddof=1) > 0 else math.nan
            # Paired by replication: the engines share the streams a change did not touch
            # (set-up, acquisition, decisions), so their replications are correlated and the
            # paired z is the sharper test.
            d = (b.set_index("replication")[c] - a.set_index("replication")[c]).dropna()
            sd = d.std(ddof=1)
            z_paired = d.mean() / (sd / math.sqrt(len(d))) if sd > 0 else 0.0
            rows.append(
                {
                    "scenario": scenario,
                    "total": c,
                    "old_mean": ma,
                    "new_mean": mb,
                    "rel_diff_%": 100 * (mb - ma) / ma if ma else math.nan,
                    "z": z,
                    "z_paired": z_paired,
                    "sd_ratio": sd_ratio,
                }
            )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="totals of every shipped scenario with the imported engine")
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--replications", type=int, default=100)
    r.add_argument("--scenarios", nargs="*", help="default: every scenario in configs/scenario")
    r.add_argument("--override", nargs="*", default=[], help="extra Hydra overrides")
    c = sub.add_parser("compare", help="Welch z of every total: new vs old")
    c.add_argument("old", type=Path)
    c.add_argument("new", type=Path)
    c.add_argument("--out", type=Path, help="also write the table as CSV")
    args = ap.parse_args(argv)
    if args.command == "run":
        return run(args)
    table = compare(pd.read_parquet(args.old), pd.read_parquet(args.new))
    worst = table.loc[table["z"].abs().idxmax()]
    worst_paired = table.loc[table["z_paired"].abs().idxmax()]
    pd.set_option("display.width", 200)
    pd.set_option("display.max_rows", None)
    rounding = {"old_mean": 1, "new_mean": 1, "rel_diff_%": 2, "z": 2, "z_paired": 2, "sd_ratio": 2}
    print(table.round(rounding))
    print(
        f"\n{len(table)} comparisons; largest |z| = {abs(worst['z']):.2f} "
        f"({worst['scenario']}, {worst['total']}); largest paired |z| = "
        f"{abs(worst_paired['z_paired']):.2f} ({worst_paired['scenario']}, "
        f"{worst_paired['total']}); limit {Z_LIMIT}"
    )
    if args.out:
        table.to_csv(args.out, index=False)
    return 0 if table[["z", "z_paired"]].abs().max().max() <= Z_LIMIT else 1


if __name__ == "__main__":
    raise SystemExit(main())
