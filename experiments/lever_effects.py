"""Paired effect of every lever of the model against the default scenario (issue 9, fidelity).

Each lever is a list of Hydra overrides on top of the default config, spelled from the engine's
own default values (e.g. support agents = default + 2). The lever and the default run with
common random numbers: the same seed and the same replication indices, so each replication
gives one paired difference (lever - default); the table shows the median and P10-P90 of
those differences across replications, and the default's own levels in its first row.

The script imports ``simulator`` from whatever is first on ``sys.path``, so one script measures
any engine (the header names the package directory and its git commit)::

    git worktree add --detach ../wt-old 8a0a52a      # the engine before the fidelity issue
    cd /tmp && PYTHONPATH=<repo>/../wt-old <repo>/.venv/bin/python \
        <repo>/experiments/lever_effects.py --check --market 200000 --out before.md
    cd /tmp && PYTHONPATH=<repo> <repo>/.venv/bin/python <repo>/experiments/lever_effects.py \
        --check --market 200000 --out after.md

(run from outside the repo: ``python`` puts the current directory first on ``sys.path``).
``experiments/results/levers_before.md`` and ``levers_after.md`` are those two tables for the
issue-9 closing note (8a0a52a against the warm-started, recalibrated engine).

A lever whose key the engine refuses (unknown key, no such scenario) is shown as n/a; so is a
metric whose column the engine's monthly table lacks. Replications run serially in this
process (one replication of the default size takes ~0.3 s), each exactly as
``simulator.experiments.montecarlo.run_replication`` runs it, keeping the model so that the
review rating (not a column of the monthly table) can be read; ``--check`` verifies that the
default's first replication equals ``simulate``'s.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

import simulator
from simulator import ConfigError, load_config, simulate
from simulator.experiments.montecarlo import records_to_frame
from simulator.model import JourneyModel
from simulator.params import read_config

Tree = dict[str, Any]

# --------------------------------------------------------------------------------------------
# Levers: each one builds its overrides from the engine's resolved default config.
# --------------------------------------------------------------------------------------------


def _trial_personas(d: Tree) -> list[str]:
    return [n for n, p in d["personas"].items() if p["decision"]["path"] == "trial"]


def _num(x: float) -> str:
    """A number as an override value: integers without a decimal point."""
    return str(int(x)) if float(x).is_integer() else f"{x:.4g}"


@dataclass(frozen=True)
class Lever:
    name: str
    overrides: Callable[[Tree], list[str]]


def _scenario(name: str) -> Lever:
    return Lever(f"scenario={name}", lambda d: [f"scenario={name}"])


LEVERS: list[Lever] = [
    Lever(
        "Pro price +25%",
        lambda d: [f"pricing.plans.pro.price={_num(d['pricing']['plans']['pro']['price'] * 1.25)}"],
    ),
    Lever("annual discount 0.30", lambda d: ["pricing.annual_discount=0.30"]),
    _scenario("annual_push"),
    _scenario("price_increase"),
    _scenario("price_increase_grandfathered"),
    _scenario("support_cut"),
    _scenario("better_onboarding"),
    Lever(
        "onboarding quality 0.95 (every path)",
        lambda d: [f"onboarding.paths.{p}.quality=0.95" for p in d["onboarding"]["paths"]],
    ),
    Lever("referral reward 0", lambda d: ["acquisition.referral_reward=0"]),
    Lever("referral reward 500", lambda d: ["acquisition.referral_reward=500"]),
    Lever("reputation off (reputation_weight 0)", lambda d: ["advocacy.reputation_weight=0"]),
    Lever("advocacy + referrals off", lambda d: ["mechanisms.referrals=false"]),
    Lever(
        "card-required trial, every trial persona",
        lambda d: [f"personas.{p}.decision.card_required=true" for p in _trial_personas(d)],
    ),
    Lever(
        "no card on any trial",
        lambda d: [f"personas.{p}.decision.card_required=false" for p in _trial_personas(d)],
    ),
    Lever(
        "trial +1 month",
        lambda d: [
            f"personas.{p}.decision.months={d['personas'][p]['decision']['months'] + 1}"
            for p in _trial_personas(d)
        ],
    ),
    Lever("support +2 agents", lambda d: [f"support.agents={d['support']['agents'] + 2}"]),
    Lever("support -2 agents", lambda d: [f"support.agents={d['support']['agents'] - 2}"]),
    Lever(
        "paid_ads spend x2",
        lambda d: [
            "acquisition.channels.paid_ads.spend="
            + _num(2 * d["acquisition"]["channels"]["paid_ads"]["spend"])
        ],
    ),
    Lever(
        "every channel's spend x2",
        lambda d: [
            f"acquisition.channels.{c}.spend={_num(2 * v['spend'])}"
            for c, v in d["acquisition"]["channels"].items()
        ],
    ),
    Lever("success team x2 (csms)", lambda d: [f"success.csms={d['success']['csms'] * 2}"]),
    Lever("success team off", lambda d: ["mechanisms.success=false"]),
    Lever("win-back off", lambda d: ["mechanisms.reactivation=false"]),
    Lever("win-back offer without discount", lambda d: ["winback.discount=0"]),
]

# --------------------------------------------------------------------------------------------
# Metrics per replication (company total) and how a paired difference is shown.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricSpec:
    key: str
    label: str
    diff: str  # "usd": lever - default in $; "rel": % change; "pp": percentage points
    level: str  # how the default's level is shown: "usd", "musd", "count", "share"


METRICS = [
    MetricSpec("mrr_start_m1", "MRR start, month 1 (Δ $)", "usd", "usd"),
    MetricSpec("ending_arr", "ending ARR", "rel", "musd"),
    MetricSpec("ending_customers", "customers, end", "rel", "count"),
    MetricSpec("new_customers", "new customers", "rel", "count"),
    MetricSpec("logo_churn", "logo churn /month", "pp", "share"),
    MetricSpec("trial_starts", "trial starts", "rel", "count"),
    MetricSpec("referrals", "referrals", "rel", "count"),
    MetricSpec("annual_non_renewal", "annual non-renewal, m7-18", "pp", "share"),
    MetricSpec("sla_breach_share", "SLA breach share", "pp", "share"),
    MetricSpec("advocate_share", "advocates / customers, end", "pp", "share"),
    MetricSpec("review_rating", "review rating, end", "pp", "share"),
]


def _col(frame: pd.DataFrame, name: str) -> pd.Series | None:
    return frame[name] if name in frame.columns else None


def _ratio(num: float, den: float) -> float:
    return num / den if den else math.nan


def replication_metrics(
    frame: pd.DataFrame, rating: float, trial_personas: list[str], horizon: int
) -> dict[str, float]:
    """The metrics of one replication's monthly table (every persona), NaN where a column is
    missing."""
    nan = math.nan

    def total(name: str, rows: pd.Series | None = None) -> float:
        c = _col(frame, name)
        if c is None:
            return nan
        return float(c.sum() if rows is None else c[rows].sum())

    month = frame["month"]
    first, last = month == 1, month == horizon
    customers_start = (
        frame["customers"]
        - frame["new_customers"]
        - frame["reactivated_customers"]
        + frame["churned_customers"]
    )
    window = (month >= 7) & (month <= 18)
    due = total("renewals_due", window)
    renewed = total("renewals", window)
    end_customers = total("customers", last)
    return {
        "mrr_start_m1": total("mrr_start", first),
        "ending_arr": total("arr", last),
        "ending_customers": end_customers,
        "new_customers": total("new_customers"),
        "logo_churn": _ratio(total("churned_customers"), float(customers_start.sum())),
        "trial_starts": total("decisions_started", frame["persona"].isin(trial_personas)),
        "referrals": total("referrals"),
        "annual_non_renewal": 1.0 - renewed / due if due > 0 else nan,
        "sla_breach_share": _ratio(total("sla_breaches"), total("tickets")),
        "advocate_share": _ratio(total("n_advocate", last), end_customers),
        "review_rating": rating,
    }


def run_one(params: Any, replication: int) -> tuple[pd.DataFrame, float]:
    """One replication as ``montecarlo.run_replication`` runs it, plus the review rating."""
    model = JourneyModel(params, replication=replication)
    model.run()
    positive = getattr(model, "reviews_positive", None)
    reviews = getattr(model, "reviews_total", None)
    rating = positive / reviews if positive is not None and reviews else math.nan
    return records_to_frame(model.records), rating


# --------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------


def _fmt_level(x: float, kind: str) -> str:
    if not math.isfinite(x):
        return "n/a"
    if kind == "usd":
        return f"${x:,.0f}"
    if kind == "musd":
        return f"${x / 1e6:,.2f}M"
    if kind == "count":
        return f"{x:,.0f}"
    return f"{100 * x:.2f}%"


def _fmt_diff(x: float, kind: str) -> str:
    if not math.isfinite(x):
        return "n/a"
    if kind == "usd":
        return "0" if x == 0 else f"{x:+,.0f}"
    if kind == "rel":
        return f"{round(x, 1) + 0.0:+.1f}%"  # + 0.0: no "-0.0"
    return f"{round(x, 2) + 0.0:+.2f}"


def _cell(values: np.ndarray, fmt: Callable[[float], str]) -> str:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return "n/a"
    p10, med, p90 = np.percentile(values, [10, 50, 90])
    return f"{fmt(med)} [{fmt(p10)}, {fmt(p90)}]"


def paired(lever: pd.DataFrame, default: pd.DataFrame, spec: MetricSpec) -> np.ndarray:
    a = lever[spec.key].to_numpy(dtype=float)
    b = default[spec.key].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if spec.diff == "rel":
            return np.where(b != 0, 100.0 * (a / b - 1.0), np.nan)
        if spec.diff == "pp":
            return 100.0 * (a - b)
        return a - b


def _git(directory: Path, *args: str) -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(directory), *args], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return out.stdout.strip()


def engine_line(directory: Path) -> str:
    commit = _git(directory, "rev-parse", "--short", "HEAD")
    branch = _git(directory, "rev-parse", "--abbrev-ref", "HEAD")
    dirty = _git(directory, "status", "--porcelain", "--untracked-files=no")
    state = " +uncommitted changes" if dirty not in ("", "?") else ""
    where = "detached" if branch == "HEAD" else branch
    return f"engine `{directory}` at {commit} ({where}){state}"


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    lever: str
    overrides: list[str]
    metrics: pd.DataFrame | None  # one row per replication
    note: str = ""


def _params(overrides: list[str]) -> Any:
    return read_config(load_config(overrides))[0]


def _same(a: Any, b: Any) -> bool:
    skip = {"scenario_name"}
    return a.model_dump(mode="json", exclude=skip) == b.model_dump(mode="json", exclude=skip)


def measure(params: Any, reps: list[int], trial_personas: list[str]) -> pd.DataFrame:
    rows = []
    for r in reps:
        frame, rating = run_one(params, r)
        rows.append(replication_metrics(frame, rating, trial_personas, params.months))
    return pd.DataFrame(rows, index=reps)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--replications", type=int, default=20)
    ap.add_argument("--months", type=int, default=36)
    ap.add_argument("--market", type=int, default=100_000, help="market.size (accounts)")
    ap.add_argument("--seed", type=int, default=None, help="default: the config's seed")
    ap.add_argument("--only", default=None, help="run only levers whose name contains this")
    ap.add_argument("--out", type=Path, default=None, help="also write the table to this file")
    ap.add_argument(
        "--check", action="store_true", help="check replication 0 against simulate() first"
    )
    args = ap.parse_args(argv)

    engine = Path(simulator.__file__).resolve().parent.parent
    print(f"simulator imported from {simulator.__file__}", file=sys.stderr)
    t0 = time.perf_counter()
    base = [
        f"market.size={args.market}",
        f"months={args.months}",
        f"replications={args.replications}",
        "output.plots=false",
        "progress=false",
    ]
    if args.seed is not None:
        base.append(f"seed={args.seed}")
    default_cfg = load_config(base)
    tree: Tree = OmegaConf.to_container(default_cfg, resolve=True)  # type: ignore[assignment]
    default = read_config(default_cfg)[0]
    trials = _trial_personas(tree)
    reps = list(range(default.replications))

    if args.check:
        frame, _ = run_one(default, 0)
        ref = simulate(default, replications=[0], progress=False).monthly
        pd.testing.assert_frame_equal(frame.reset_index(drop=True), ref.reset_index(drop=True))
        print("check: replication 0 identical to simulate()", file=sys.stderr)

    base_metrics = measure(default, reps, trials)
    print(f"default: {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    outcomes = []
    levers = [lv for lv in LEVERS if args.only is None or args.only in lv.name]
    for i, lever in enumerate(levers, 1):
        t1 = time.perf_counter()
        try:
            overrides = lever.overrides(tree)
        except KeyError as e:
            outcomes.append(Outcome(lever.name, [], None, f"no key {e} in this engine's config"))
            continue
        try:
            params = _params(base + overrides)
        except ConfigError as e:
            reason = "; ".join(s.strip() for s in str(e).splitlines()[1:]) or str(e)
            outcomes.append(Outcome(lever.name, overrides, None, f"refused: {reason}"))
            print(f"[{i}/{len(levers)}] {lever.name}: n/a", file=sys.stderr)
            continue
        note = "identical parameters to the default" if _same(params, default) else ""
        outcomes.append(Outcome(lever.name, overrides, measure(params, reps, trials), note))
        dt = time.perf_counter() - t1
        print(f"[{i}/{len(levers)}] {lever.name}: {dt:.1f}s", file=sys.stderr)
    elapsed = time.perf_counter() - t0

    lines = [
        f"Lever effects: {engine_line(engine)}; {len(reps)} replications × {default.months} "
        f"months, market {args.market:,} accounts, seed {default.seed}; trial personas: "
        f"{', '.join(trials) or 'none'}; run time {elapsed:.0f} s (serial, one process)",
        "",
        "| lever | " + " | ".join(m.label for m in METRICS) + " |",
        "|---|" + "---|" * len(METRICS),
    ]
    cells = [
        _cell(base_metrics[m.key].to_numpy(dtype=float), lambda x, k=m.level: _fmt_level(x, k))
        for m in METRICS
    ]
    lines.append("| **default (level)** | " + " | ".join(cells) + " |")
    for o in outcomes:
        if o.metrics is None:
            cells = ["n/a"] * len(METRICS)
        else:
            cells = [
                _cell(paired(o.metrics, base_metrics, m), lambda x, k=m.diff: _fmt_diff(x, k))
                for m in METRICS
            ]
        lines.append(f"| {o.lever} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Cells: median [P10, P90] across replications of the paired difference lever − default "
        "(same seed, same replication indices); the first row is the default's level. ARR, "
        "customers, new customers, trial starts and referrals: % change; shares and rates: "
        "percentage points; MRR start of month 1: $ (0 = the lever leaves month 0 alone). Logo "
        "churn = Σ churned / Σ customers at the start of each month (pooled over the horizon); "
        "trial starts = decisions started by the trial personas; annual non-renewal = 1 − Σ "
        "renewals / Σ renewals due over months 7–18; SLA breach share = Σ breaches / Σ tickets; "
        "review rating = positive share of all reviews (prior included) at the horizon.",
        "",
        "Levers (overrides on top of the default):",
        "",
    ]
    for o in outcomes:
        spelled = " ".join(f"`{s}`" for s in o.overrides) or "—"
        note = f" — {o.note}" if o.note else ""
        lines.append(f"- {o.lever}: {spelled}{note}")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
