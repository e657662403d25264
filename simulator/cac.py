"""CAC by acquisition channel, with every line of a fully loaded CAC.

The lines of acquisition cost, per scenario, replication and persona over the horizon:

- ``channel_spend``: each channel's spend on the persona (its monthly spend × the persona's share
  of the channel's leads; ``acquisition.channels``);
- ``sales_cost``: ``decision.sales_cost`` per prospect that comes to a decision (demo, sales
  cycle, sales-assisted trial);
- ``referral_cost``: referral rewards paid per referred new customer;
- ``programmes``: the cost of the touchpoints acting in the acquisition stages
  (``touchpoints.<name>`` with ``stage: consideration`` or ``decision``: fixed + per-account cost,
  ``simulator.mechanisms.touchpoints.activity``);
- and, as its own line (not in CAC), ``onboarding``: onboarding cost plus the cost of the
  touchpoints of the onboarding stage (``onboarding_programmes``).

``cac`` = (channel spend + sales + referral rewards) / new customers is the headline CAC of
``simulator.metrics``; ``cac_loaded`` = (channel spend + sales + referral rewards + programmes) /
new customers adds the programmes.

**By channel** (``cac_by_channel``), each new customer is counted once, under the source that
brought it (``simulator.attribution``: ``initial``, ``organic``, ``referral`` or a channel of
``acquisition.channels``). A source's cost is what it caused: its own channel spend, the sales
cost of its own prospects' decisions, the referral rewards of its referred customers (all three
counted by the engine per source), plus the persona's programmes allocated by the source's share
of the persona's new customers over the horizon (programmes reach every prospect of a stage,
whatever brought it). Then for source c of persona p:

    CAC_c = (spend_c + sales_c + referral_c + programmes_p × new_c / new_p) / new_c

and the company row (persona ``total``) sums spend, sales, rewards and new customers over
personas and allocates the company's programmes by the source's share of the company's new
customers (so a persona that bought nothing still has its programmes in the company's CAC).
Summed over sources, the costs and new customers are the persona's (or the company's), so the
new-customer-weighted mean of the sources' ``cac_loaded`` is the persona's ``cac_loaded`` (and
with one source only, they are equal).
``initial`` is the pipeline already in flight at month 0 (its channel spend was before the run:
its CAC holds only the sales cost it still incurs); ``organic`` has no channel spend.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from simulator.metrics import TOTAL

#: Touchpoint stages whose cost is the ``programmes`` line of CAC.
ACQUISITION_STAGES: tuple[str, ...] = ("consideration", "decision")
#: Touchpoint stages whose cost joins the onboarding line.
ONBOARDING_STAGES: tuple[str, ...] = ("onboarding",)

#: Columns of ``cac_lines`` after the keys.
LINE_COLUMNS: tuple[str, ...] = (
    "new_customers",
    "acquisition_cost",
    "referral_cost",
    "programmes",
    "onboarding_cost",
    "onboarding_programmes",
    "cac",
    "cac_loaded",
    "onboarding_per_new",
)

#: Columns of ``cac_by_channel`` after the keys.
CHANNEL_COLUMNS: tuple[str, ...] = (
    "new_customers",
    "new_mrr",
    "channel_spend",
    "sales_cost",
    "referral_cost",
    "programmes",
    "cost",
    "cost_loaded",
    "cac",
    "cac_loaded",
)

#: Columns of ``channel_summary``.
SUMMARY_COLUMNS: tuple[str, ...] = (
    "scenario",
    "persona",
    "channel",
    "metric",
    "p10",
    "median",
    "p90",
    "replications",
)

_KEYS = ["scenario", "replication", "persona"]


def programme_costs(monthly: pd.DataFrame, params: Any) -> pd.DataFrame:
    """Touchpoint cost per scenario, replication, month and persona: ``programmes`` (stages
    consideration and decision) and ``onboarding_programmes`` (onboarding); 0 without
    touchpoints."""
    keys = ["scenario", "replication", "month", "persona"]
    out = monthly[keys].copy()
    out["programmes"] = 0.0
    out["onboarding_programmes"] = 0.0
    if not getattr(params, "touchpoints", None) or monthly.empty:
        return out
    from simulator.mechanisms.touchpoints import activity

    act = activity(monthly, params)
    for column, stages in (
        ("programmes", ACQUISITION_STAGES),
        ("onboarding_programmes", ONBOARDING_STAGES),
    ):
        part = act[act["stage"].isin(stages)].groupby(keys, sort=False)["cost"].sum()
        idx = pd.MultiIndex.from_frame(out[keys])
        out[column] = part.reindex(idx).fillna(0.0).to_numpy(dtype=float)
    return out


def _ratio(num: pd.Series, den: pd.Series) -> np.ndarray:
    n, d = num.to_numpy(dtype=float), den.to_numpy(dtype=float)
    return np.divide(n, d, out=np.full(n.shape, np.nan), where=d > 0)


def _with_total(frame: pd.DataFrame, sums: Sequence[str], by: Sequence[str]) -> pd.DataFrame:
    """``frame`` with company rows (persona ``total``, the sum over personas) first."""
    total = frame.groupby(list(by), as_index=False, sort=False)[list(sums)].sum()
    total["persona"] = TOTAL
    return pd.concat([total, frame], ignore_index=True)


def cac_lines(monthly: pd.DataFrame, params: Any) -> pd.DataFrame:
    """The lines of acquisition and onboarding cost over the horizon, per scenario, replication
    and persona (``total`` first): columns scenario, replication, persona, ``LINE_COLUMNS``
    (``acquisition_cost`` is channel spend + sales cost; ``cac_by_channel`` splits them)."""
    cost = programme_costs(monthly, params)
    table = monthly[
        [*_KEYS, "new_customers", "acquisition_cost", "referral_cost", "onboarding_cost"]
    ].copy()
    table["programmes"] = cost["programmes"].to_numpy()
    table["onboarding_programmes"] = cost["onboarding_programmes"].to_numpy()
    sums = [c for c in table.columns if c not in _KEYS]
    per = table.groupby(_KEYS, as_index=False, sort=False)[sums].sum()
    per = _with_total(per, sums, ["scenario", "replication"])
    acquisition = per["acquisition_cost"] + per["referral_cost"]
    per["cac"] = _ratio(acquisition, per["new_customers"])
    per["cac_loaded"] = _ratio(acquisition + per["programmes"], per["new_customers"])
    onboarding = per["onboarding_cost"] + per["onboarding_programmes"]
    per["onboarding_per_new"] = _ratio(onboarding, per["new_customers"])
    return per[[*_KEYS, *LINE_COLUMNS]]


def cac_by_channel(
    channels: Any, monthly: pd.DataFrame | None = None, params: Any = None
) -> pd.DataFrame:
    """CAC by acquisition source over the horizon, per scenario, replication, persona (``total``
    first) and source (module docstring): columns scenario, replication, persona, channel,
    ``CHANNEL_COLUMNS``.

    Args:
        channels: the ``channels`` table (``SimulationResult.channels``, ``channels.parquet``),
            or a ``SimulationResult`` (its channels, monthly table and parameters).
        monthly, params: the run's monthly table and parameters, for the programmes line (the
            touchpoints of the acquisition stages); without them programmes are 0.

    Raises:
        ValueError: a result without a channels table (saved before it existed).
    """
    if hasattr(channels, "channels"):
        result = channels
        monthly = result.monthly if monthly is None else monthly
        params = result.params if params is None else params
        channels = result.channels
        if channels is None:
            raise ValueError("this result has no channels table (a run saved before it existed)")
    by = [*_KEYS, "channel"]
    counted = ["new_customers", "new_mrr", "channel_spend", "sales_cost", "referral_cost"]
    per = channels.groupby(by, as_index=False, sort=False)[counted].sum()
    per = _with_total(per, counted, ["scenario", "replication", "channel"])
    per["programmes"] = 0.0
    if monthly is not None and params is not None:
        cost = programme_costs(monthly, params)
        cost = _with_total(cost, ["programmes"], ["scenario", "replication", "month"])
        programmes = cost.groupby(_KEYS, sort=False)["programmes"].sum()
        new_p = per.groupby(_KEYS, sort=False)["new_customers"].transform("sum")
        idx = pd.MultiIndex.from_frame(per[_KEYS])
        persona_programmes = programmes.reindex(idx).fillna(0.0).to_numpy(dtype=float)
        share = _ratio(per["new_customers"], new_p)
        per["programmes"] = np.nan_to_num(persona_programmes * share)
    per["cost"] = per["channel_spend"] + per["sales_cost"] + per["referral_cost"]
    per["cost_loaded"] = per["cost"] + per["programmes"]
    per["cac"] = _ratio(per["cost"], per["new_customers"])
    per["cac_loaded"] = _ratio(per["cost_loaded"], per["new_customers"])
    return per[[*by, *CHANNEL_COLUMNS]]


def _bands(values: np.ndarray) -> tuple[float, float, float]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan"), float("nan")
    p10, p50, p90 = np.percentile(values, [10, 50, 90])
    return float(p10), float(p50), float(p90)


def channel_summary(
    per_replication: pd.DataFrame, metrics: Sequence[str] = ("new_customers", "cac", "cac_loaded")
) -> pd.DataFrame:
    """P10, median and P90 across replications (numpy's percentiles; replications where a
    source brought no customer have no CAC and are left out of its CAC bands) of ``metrics``
    of ``cac_by_channel``, per scenario, persona and source: columns scenario, persona,
    channel, metric, p10, median, p90, and ``replications`` (how many had a value)."""
    rows = []
    for (scenario, persona, channel), g in per_replication.groupby(
        ["scenario", "persona", "channel"], sort=False
    ):
        for name in metrics:
            values = g[name].to_numpy(dtype=float)
            p10, p50, p90 = _bands(values)
            rows.append(
                {
                    "scenario": scenario,
                    "persona": persona,
                    "channel": channel,
                    "metric": name,
                    "p10": p10,
                    "median": p50,
                    "p90": p90,
                    "replications": int(np.isfinite(values).sum()),
                }
            )
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def format_channel_table(summary: pd.DataFrame, persona: str = TOTAL) -> str:
    """The company's (or one persona's) CAC by source as printed text: new customers, CAC
    (spend, sales, referral rewards) and fully loaded CAC (with programmes), median [P10, P90]."""
    from simulator.formatting import format_value

    part = summary[summary["persona"] == persona]
    lines = [
        f"CAC by acquisition source ({persona}; median [P10, P90] across replications; "
        "loaded = with programmes):",
        f"  {'source':<14}{'new customers':>26}{'CAC':>30}{'CAC loaded':>30}",
    ]
    for channel, g in part.groupby("channel", sort=False):
        g = g.set_index("metric")
        cells = []
        for name, kind in (("new_customers", "count"), ("cac", "money"), ("cac_loaded", "money")):
            r = g.loc[name]
            if not np.isfinite(r["median"]):
                cells.append("n/a")
                continue
            mid, lo, hi = (format_value(r[k], kind) for k in ("median", "p10", "p90"))
            cells.append(f"{mid} [{lo}, {hi}]")
        widths = (26, 30, 30)
        lines.append(
            f"  {channel:<14}" + "".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True))
        )
    return "\n".join(lines)
