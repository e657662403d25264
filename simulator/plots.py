"""Standard plots. Each function takes the tidy monthly table, draws on ``ax`` (or a new
figure) and returns the figure; ``save_standard_plots`` writes them as PNG.

Column names, legend labels and units come from ``simulator.results`` (``MONTHLY``) and metric
labels from ``simulator.metrics`` (``METRIC_BY_NAME``); this module only chooses colours and
layout."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from simulator.metrics import METRIC_BY_NAME, company_totals, customers_at_start
from simulator.results import BRIDGE_MINUS, BRIDGE_PLUS, MONTHLY, PAYING_COLUMNS

#: Bar colours of the MRR bridge, by column.
BRIDGE_COLORS: dict[str, str] = {
    "new_mrr": "#2a9d8f",
    "expansion_mrr": "#8ab17d",
    "reactivation_mrr": "#e9c46a",
    "contraction_mrr": "#f4a261",
    "churned_mrr": "#e76f51",
}


def _axes(ax: Axes | None, figsize: tuple[float, float] = (9, 5)) -> tuple[Figure, Axes]:
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax  # type: ignore[return-value]


def _finish(ax: Axes, ylabel: str, title: str, **legend: Any) -> None:
    """Common decoration: month on x, units on y, a title, a small legend and a light grid."""
    ax.set_xlabel("month")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8, **legend)
    ax.grid(alpha=0.3)


def _band(totals: pd.DataFrame, column: str) -> pd.DataFrame:
    return totals.groupby("month")[column].quantile([0.1, 0.5, 0.9]).unstack()


def plot_customers_by_stage(monthly: pd.DataFrame, ax: Axes | None = None) -> Figure:
    """Paying accounts by stage (median across replications), with the prospect pipeline."""
    fig, ax = _axes(ax)
    med = company_totals(monthly).groupby("month").median(numeric_only=True)
    ax.stackplot(
        med.index,
        *[med[c] for c in PAYING_COLUMNS],
        labels=[MONTHLY[c].title for c in PAYING_COLUMNS],
        alpha=0.85,
    )
    ax.plot(med.index, med["n_consideration"], "--", color="0.3", label="in consideration")
    ax.plot(med.index, med["n_decision"], ":", color="0.3", label="in decision (trial/demo/free)")
    title = "Customers by stage (median across replications)"
    _finish(ax, MONTHLY["n_active"].unit, title, loc="upper left")
    return fig


def plot_mrr_bridge(monthly: pd.DataFrame, ax: Axes | None = None) -> Figure:
    """The MRR bridge per month: new, expansion, reactivation up; contraction, churn down."""
    fig, ax = _axes(ax)
    med = company_totals(monthly).groupby("month").median(numeric_only=True)
    x = med.index.to_numpy()
    bottom = np.zeros(len(x))
    for col in BRIDGE_PLUS:
        ax.bar(x, med[col], bottom=bottom, label=MONTHLY[col].title, color=BRIDGE_COLORS[col])
        bottom += med[col].to_numpy()
    bottom = np.zeros(len(x))
    for col in BRIDGE_MINUS:
        ax.bar(x, -med[col], bottom=bottom, label=MONTHLY[col].title, color=BRIDGE_COLORS[col])
        bottom -= med[col].to_numpy()
    net = med["mrr_end"] - med["mrr_start"]
    ax.plot(x, net, "k-", lw=1.5, label="net new MRR")
    ax.axhline(0, color="0.2", lw=0.8)
    title = "MRR bridge (median across replications)"
    _finish(ax, MONTHLY["mrr_end"].unit, title, loc="upper left", ncol=3)
    return fig


def plot_churn(monthly: pd.DataFrame, ax: Axes | None = None) -> Figure:
    """Monthly logo churn by persona (median) and for the company (P10–P90 band)."""
    fig, ax = _axes(ax)
    df = monthly.copy()
    df["customers_start"] = customers_at_start(df)
    for persona, g in df.groupby("persona", sort=False):
        rate = g["churned_customers"] / g["customers_start"].where(g["customers_start"] > 0)
        med = rate.groupby(g["month"]).median()
        ax.plot(med.index, 100 * med, lw=1.2, label=str(persona))
    tot = company_totals(df.drop(columns=["customers_start"]))
    start = customers_at_start(tot)
    tot["rate"] = tot["churned_customers"] / start.where(start > 0)
    band = _band(tot, "rate")
    ax.fill_between(band.index, 100 * band[0.1], 100 * band[0.9], color="0.5", alpha=0.25)
    ax.plot(band.index, 100 * band[0.5], "k-", lw=2, label="all (P10–P90 band)")
    title = METRIC_BY_NAME["monthly_logo_churn"].label.capitalize()
    _finish(ax, "% of customers at start of month", title)
    return fig


def plot_mrr_fan(monthly: pd.DataFrame, ax: Axes | None = None) -> Figure:
    """MRR fan chart: median with P10–P90 and P25–P75 bands across replications."""
    fig, ax = _axes(ax)
    tot = company_totals(monthly)
    q = tot.groupby("month")["mrr_end"].quantile([0.1, 0.25, 0.5, 0.75, 0.9]).unstack()
    ax.fill_between(q.index, q[0.1], q[0.9], alpha=0.2, color="#264653", label="P10–P90")
    ax.fill_between(q.index, q[0.25], q[0.75], alpha=0.35, color="#264653", label="P25–P75")
    ax.plot(q.index, q[0.5], color="#264653", lw=2, label="median")
    mrr = MONTHLY["mrr_end"]
    _finish(ax, f"{mrr.title} ({mrr.unit})", "MRR forecast", loc="upper left")
    return fig


STANDARD_PLOTS = {
    "customers_by_stage": plot_customers_by_stage,
    "mrr_bridge": plot_mrr_bridge,
    "churn": plot_churn,
    "mrr_fan": plot_mrr_fan,
}


def save_standard_plots(monthly: pd.DataFrame, directory: str | Path) -> list[Path]:
    """Write every standard plot as ``<directory>/<name>.png``; returns the paths."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fn in STANDARD_PLOTS.items():
        fig = fn(monthly)
        path = out / f"{name}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


#: Metrics of the comparison chart (``plot_comparison``), one panel each.
COMPARISON_PANELS: tuple[str, ...] = (
    "ending_arr",
    "new_customers",
    "monthly_logo_churn",
    "gross_profit",
)


def plot_comparison(table: pd.DataFrame, persona: str = "total") -> Figure:
    """Paired differences of a comparison (``simulator.compare``'s ``table``), side by side:
    one panel per metric of ``COMPARISON_PANELS``, one bar per variant at the median paired
    difference, its P10-P90 as the error bar, zero marked."""
    rows = table[table["persona"] == persona]
    fig, axes = plt.subplots(1, len(COMPARISON_PANELS), figsize=(4 * len(COMPARISON_PANELS), 4))
    for ax, metric in zip(np.atleast_1d(axes), COMPARISON_PANELS, strict=True):
        m = rows[rows["metric"] == metric]
        x = np.arange(len(m))
        mid = m["diff_p50"].to_numpy(dtype=float)
        err = np.vstack([mid - m["diff_p10"].to_numpy(float), m["diff_p90"].to_numpy(float) - mid])
        ax.bar(x, mid, yerr=err, capsize=4, color="tab:blue", alpha=0.75)
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set_xticks(x, m["variant"].tolist(), rotation=20)
        known = METRIC_BY_NAME.get(metric)
        ax.set_title(known.label if known else metric.replace("_", " "), fontsize=10)
    fig.suptitle(f"paired difference vs the baseline ({persona}): median, P10-P90")
    return fig


def plot_response(table: pd.DataFrame, key: str, persona: str, metrics: Sequence[str]) -> Figure:
    """Response curves (``simulator.price_response``'s ``table``): one panel per metric, the
    median with its P10-P90 band over the grid of ``key``."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3.6))
    for ax, metric in zip(np.atleast_1d(axes), metrics, strict=True):
        t = table[(table["persona"] == persona) & (table["metric"] == metric)]
        x = t["grid_value"].to_numpy(dtype=float)
        ax.fill_between(x, t["p10"], t["p90"], alpha=0.25, label="P10-P90")
        ax.plot(x, t["median"], marker="o", label="median")
        ax.set_title(metric.replace("_", " "), fontsize=10)
        ax.set_xlabel(key)
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.suptitle(f"response to {key} ({persona}; paired across the grid)")
    fig.tight_layout()
    return fig


#: Bars of ``plot_sensitivity`` per method: (index, legend label, colour).
SENSITIVITY_BARS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "sobol": (("S1", "first order S1", "tab:blue"), ("ST", "total order ST", "tab:orange")),
    "morris": (
        ("mu_star", "μ* (importance)", "tab:blue"),
        ("sigma", "σ (interactions)", "tab:red"),
    ),
}


def plot_sensitivity(table: pd.DataFrame, metrics: Sequence[str] | None = None) -> Figure:
    """Global sensitivity indices (``simulator.sensitivity``'s ``table``): one panel per
    metric, two bars per parameter (Sobol: S1 and ST; Morris: μ* and σ) with their confidence
    intervals as whiskers."""
    metrics = list(dict.fromkeys(table["metric"])) if metrics is None else list(metrics)
    method = str(table["method"].iloc[0])
    bars = SENSITIVITY_BARS[method]
    params = list(dict.fromkeys(table["parameter"][table["index"] == bars[0][0]]))
    width = max(4.5, 0.9 * len(params) + 1.5)
    fig, axes = plt.subplots(1, len(metrics), figsize=(width * len(metrics), 4.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        t = table[table["metric"] == metric]
        x = np.arange(len(params))
        for k, (index, label, colour) in enumerate(bars):
            rows = t[t["index"] == index].set_index("parameter").reindex(params)
            mid = rows["value"].to_numpy(dtype=float)
            err = np.vstack(
                [mid - rows["ci_low"].to_numpy(float), rows["ci_high"].to_numpy(float) - mid]
            )
            err = np.where(np.isfinite(err), np.abs(err), 0.0)
            ax.bar(x + (k - 0.5) * 0.38, mid, 0.38, yerr=err, capsize=3, color=colour, label=label)
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set_xticks(x, params, rotation=25, ha="right", fontsize=8)
        known = METRIC_BY_NAME.get(metric)
        ax.set_title(known.label if known else metric.replace("_", " "), fontsize=10)
        ax.grid(alpha=0.3, axis="y")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"{method} sensitivity indices with confidence intervals")
    fig.tight_layout()
    return fig
