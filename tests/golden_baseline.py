"""Golden baseline: the exact monthly table of every scenario at a small size, as a digest.

A refactor must leave every digest unchanged (``tests/test_golden_baseline.py`` compares them
exactly). A change of numbers is made on purpose, in its own commit, by regenerating the file::

    make baseline          # = python tests/golden_baseline.py --update

The digest is SHA-256 over every column's name, dtype and raw bytes (strings as UTF-8), so a
difference in the last bit of any value in any row changes it. Key figures are stored beside it
to show what moved when a digest changes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

BASELINE_FILE = Path(__file__).with_name("golden_baseline.json")
CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"

#: Size of every case: small enough to run in seconds, big enough that every mechanism acts.
SIZE = ["market.size=20000", "initial.customers=600", "months=24", "replications=2"]

#: Cases beyond the scenario files: the other code paths of the engine.
EXTRA_CASES: dict[str, list[str]] = {
    "all_off": ["mechanisms=all_off"],
    "scheduled_churn": [
        "health.churn_sensitivity=0",
        "mechanisms.annual_contracts=false",
        "mechanisms.involuntary_churn=false",
    ],
    "freemium": [
        "personas.solo.decision.path=freemium",
        "personas.solo.decision.months=1",
        "personas.solo.decision.free_value=0.5",
        "personas.solo.decision.free_drop=0.2",
    ],
    "every_event": [
        "+events.hire={type: support_capacity, month: 3, agents: 2}",
        "+events.csm={type: success_capacity, month: 5, csms: 1}",
        "+events.ads={type: campaign, month: 4, months: 3, channel: paid_ads, spend: 40000}",
        "+events.onb={type: onboarding_quality, month: 6, path: self_serve, quality: 0.9}",
        "+events.cut={type: price_change, month: 8, plan: starter, price: 12, grandfather: true}",
        "+events.rise={type: price_change, month: 10, plan: enterprise, price: 99,"
        " grandfather: false}",
    ],
}


def cases() -> dict[str, list[str]]:
    """Case name -> Hydra overrides (on top of ``SIZE``)."""
    scenarios = sorted(p.stem for p in (CONFIG_DIR / "scenario").glob("*.yaml"))
    out = {f"scenario={s}": [f"scenario={s}"] for s in scenarios}
    out.update(EXTRA_CASES)
    return out


def table_digest(frame: pd.DataFrame) -> str:
    """SHA-256 of a table's column names, dtypes and raw values."""
    h = hashlib.sha256()
    for col in frame.columns:
        values = frame[col].to_numpy()
        h.update(f"{col}:{values.dtype}\n".encode())
        if values.dtype == object:
            h.update("\x1f".join(map(str, values)).encode())
        else:
            h.update(np.ascontiguousarray(values).tobytes())
    return h.hexdigest()


def key_figures(frame: pd.DataFrame) -> dict[str, float]:
    """A few readable totals (company, last month, mean over replications)."""
    last = frame[frame["month"] == frame["month"].max()]
    per_rep = last.groupby("replication")[["customers", "mrr_end"]].sum()
    return {
        "rows": len(frame),
        "customers_end": float(per_rep["customers"].mean()),
        "mrr_end": round(float(per_rep["mrr_end"].mean()), 4),
        "new_customers": float(frame["new_customers"].sum()),
        "churned_customers": float(frame["churned_customers"].sum()),
        "revenue": round(float(frame["revenue"].sum()), 4),
    }


def compute() -> dict[str, dict[str, object]]:
    """Run every case; its digest and key figures."""
    from simulator import load_config, simulate

    out: dict[str, dict[str, object]] = {}
    for name, overrides in cases().items():
        monthly = simulate(load_config([*SIZE, *overrides]), progress=False).monthly
        out[name] = {"digest": table_digest(monthly), **key_figures(monthly)}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--update", action="store_true", help="rewrite " + BASELINE_FILE.name)
    args = parser.parse_args(argv)
    current = compute()
    if args.update:
        BASELINE_FILE.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
        print(f"wrote {BASELINE_FILE} ({len(current)} cases)")
        return 0
    stored = json.loads(BASELINE_FILE.read_text())
    changed = [k for k in sorted(set(stored) | set(current)) if stored.get(k) != current.get(k)]
    for k in changed:
        print(f"changed: {k}\n  stored:  {stored.get(k)}\n  current: {current.get(k)}")
    print("golden baseline: " + ("identical" if not changed else f"{len(changed)} cases changed"))
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
