"""Benchmark report: the figures against the targets of issue 10 ("Speed for Monte Carlo,
sweeps and optimisation"), printed, and written with the machine to
``benchmarks/results/engine.json``. Targets are printed, never asserted."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import printout
from yardstick import Z_LIMIT

RESULTS_DIR = Path(__file__).resolve().parent / "results"

#: Issue 10's targets (``make bench`` prints each with PASS or MISS; none is asserted).
TARGETS: dict[str, float] = {
    # 1,000 replications × (10,000 customers, 100,000 accounts) × 36 months, local pool, s
    "mc_1000_replications_s": 30.0,
    "mc_1000_replications_s_stretch": 10.0,
    # the engine's fixed cost per simulated month (fit over market sizes), ms
    "fixed_ms_per_month": 0.3,
    # default scenario at 1,000,000 customers, one core
    "ns_per_customer_month": 60.0,
    "bytes_per_customer": 100.0,
    # simplified journey vs one Mesa agent per customer, same process (median of 3 pairs)
    "speedup_over_mesa_1m": 300.0,
    "speedup_over_mesa_100k": 100.0,
    # checks kept from before issue 10
    "agreement_max_abs_z": Z_LIMIT,
    "replace_ms": 10.0,
}


def verdict(ok: bool | None) -> str:
    return "" if ok is None else ("PASS" if ok else "MISS")


@dataclass(frozen=True)
class Row:
    """One line of the figures against targets (``key`` names it in ``engine.json``)."""

    key: str
    label: str
    value: float | None
    shown: str
    target: str = ""
    ok: bool | None = None


def at_most(key: str, label: str, value: float, fmt: str, target_key: str | None = None) -> Row:
    target = TARGETS[target_key or key]
    return Row(key, label, value, format(value, fmt), f"≤ {target:g}", value <= target)


def table_rows(res: dict[str, Any]) -> list[Row]:
    """Every figure of the report with its target, for the sections that ran."""
    rows: list[Row] = []
    mc = res.get("monte_carlo")
    if mc:
        n = mc["replications"]
        how = "measured" if n == 1000 else f"scaled from {n:,}"
        s = mc["pool_s_per_1000"]
        rows += [
            at_most(
                "mc_1000_replications_s", f"1,000 MC replications, local pool, s ({how})", s, ".1f"
            ),
            Row(
                "mc_1000_replications_s_stretch",
                "  stretch target",
                s,
                f"{s:.1f}",
                f"≤ {TARGETS['mc_1000_replications_s_stretch']:g}",
                s <= TARGETS["mc_1000_replications_s_stretch"],
            ),
            Row(
                "mc_1000_replications_serial_s",
                f"  serial, one core, s (from {mc['serial_replications']:,})",
                mc["serial_s_per_1000"],
                f"{mc['serial_s_per_1000']:.1f}",
            ),
        ]
    fit = res.get("fixed_cost")
    if fit:
        f = fit["fit"]
        rows += [
            at_most(
                "fixed_ms_per_month",
                f"fixed cost per month, ms (fit, {len(fit['points'])} sizes)",
                f["fixed_ms_per_month"],
                ".3f",
            ),
            Row(
                "ns_per_account_month",
                "  + per account-month, ns (slope)",
                f["ns_per_account_month"],
                f"{f['ns_per_account_month']:.2f}",
            ),
        ]
    a, mem = res["full"], res["memory"]
    rows += [
        at_most(
            "ns_per_customer_month",
            f"ns per customer-month, {a['rows']:,} customers",
            a["ns_per_customer_month"],
            ".1f",
        ),
        Row(
            "ns_per_paying_customer_month",
            "  (per paying customer-month, reference)",
            a["ns_per_paying_customer_month"],
            f"{a['ns_per_paying_customer_month']:.1f}",
        ),
        at_most(
            "bytes_per_customer",
            "peak bytes per account (tracemalloc)",
            mem["peak_bytes_per_customer"],
            ".1f",
        ),
    ]
    y = res["yardstick"]
    for c, key in ((y, "speedup_over_mesa_1m"), (y.get("small"), "speedup_over_mesa_100k")):
        if c:
            target = TARGETS[key]
            rows.append(
                Row(
                    key,
                    f"speed-up over Mesa at {c['rows']:,} accounts, median of {c['repeat']}",
                    c["speedup_median"],
                    f"{c['speedup_median']:.1f}×",
                    f"≥ {target:g}×",
                    c["speedup_median"] >= target,
                )
            )
            rows.append(Row(key + "_min", "  min", c["speedup_min"], f"{c['speedup_min']:.1f}×"))
    big = res.get("big")
    if big and "skipped" not in big:
        size = f"{big['rows']:,} accounts × {big['months']} months"
        rows += [
            Row("big_run_s", f"{size}: run, s", big["run_s"], f"{big['run_s']:.1f}"),
            Row("big_setup_s", "  set-up, s", big["setup_s"], f"{big['setup_s']:.1f}"),
            Row(
                "big_peak_rss_gib",
                "  peak RSS, GiB",
                big["peak_rss_bytes"] / 2**30,
                f"{big['peak_rss_bytes'] / 2**30:.2f}",
            ),
        ]
    elif big:
        rows.append(Row("big_run_s", "long run (E)", None, "skipped"))
    rows.append(
        Row(
            "agreement_max_abs_z",
            "engine and Mesa agree (largest |z|)",
            y["max_abs_z"],
            f"{y['max_abs_z']:.2f}",
            f"≤ {Z_LIMIT:g}",
            y["agreement_ok"],
        )
    )
    par = res.get("parameters")
    if par:
        rows += [
            Row(
                "load_config_ms",
                "load_config (Hydra compose + validation), ms",
                par["load_config_ms"],
                f"{par['load_config_ms']:.1f}",
            ),
            Row(
                "replace_ms",
                "replace(params, changes), ms",
                par["replace_ms"],
                f"{par['replace_ms']:.2f}",
                f"< {TARGETS['replace_ms']:g}",
                par["replace_ms"] < TARGETS["replace_ms"],
            ),
        ]
    return rows


def print_report(res: dict[str, Any]) -> None:
    m = res["machine"]
    w = print
    w(
        f"journey-sim engine benchmark   {m['date']}   git {m['git_revision']}\n"
        f"Python {m['python']}, numpy {m['numpy']}, mesa {m['mesa']}, {m['platform']}\n"
        f"{m['cpu_model']}, {m['cpu_count']} CPUs, this process pinned to CPU {m['pinned_cpu']}"
        " (unpinned for the local pool of C)"
    )
    if m.get("loadavg_start"):
        load = ", ".join(f"{x:.2f}" for x in m["loadavg_start"])
        w(f"machine load average (1, 5, 15 min) at the start: {load}")
    sections = (
        ("full", printout.print_full),
        ("yardstick", printout.print_yardstick),
        ("monte_carlo", printout.print_monte_carlo),
        ("fixed_cost", printout.print_fit),
        ("big", printout.print_big),
    )
    for key, section in sections:
        if key in res:
            w("")
            section(res if key == "full" else res[key])
    w("")
    w("Figures against targets (issue 10)")
    if res.get("quick"):
        w("   (--quick: small sizes, a smoke run; the targets are for the full run)")
    w(f"   {'figure':<54}{'value':>10}  {'target':<9}{'result'}")
    for r in table_rows(res):
        w(f"   {r.label:<54}{r.shown:>10}  {r.target:<9}{verdict(r.ok)}")


def figures(res: dict[str, Any]) -> tuple[dict[str, Any], dict[str, bool]]:
    """The headline figures and whether each target is met."""
    rows = table_rows(res)
    figs = {r.key: r.value for r in rows}
    figs["population_bytes_per_row"] = sum(res["population_row_bytes"].values())
    return figs, {r.key: r.ok for r in rows if r.ok is not None}


def _finite(x: Any) -> Any:
    """JSON-safe copy: non-finite floats become None."""
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def write_json(res: dict[str, Any], path: Path) -> None:
    """Write every figure (non-finite as null) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_finite(res), indent=2, default=float) + "\n")
