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


def bridge_net_median(monthly: pd.DataFrame) -> pd.Series:
    """The median across replications of each month's net MRR movement (new + expansion +
    reactivation − contraction − churned = MRR end − MRR start, company totals), by month:
    the net line of ``plot_mrr_bridge`` (not the median end less the median start)."""
    tot = company_totals(monthly)
    net = tot["mrr_end"] - tot["mrr_start"]
    return net.groupby(tot["month"]).median()


def plot_mrr_bridge(monthly: pd.DataFrame, ax: Axes | None = None) -> Figure:
    """The MRR bridge per month: new, expansion, reactivation up; contraction, churn down
    (each the median across replications); the line is the median of the net movement."""
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
    net = bridge_net_median(monthly).reindex(med.index)
    ax.plot(x, net.to_numpy(), "k-", lw=1.5, label="net new MRR (median of the net)")
    ax.axhline(0, color="0.2", lw=0.8)
    money_axis(ax)
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
    """MRR fan chart from month 0 (the book's MRR): median with P10–P90 and P25–P75 bands
    across replications, in $ (``fan_quantiles``)."""
    return _fan(monthly, "mrr", ax)


def plot_arr_fan(monthly: pd.DataFrame, ax: Axes | None = None, band_note: str = "") -> Figure:
    """ARR fan chart from month 0 (12 × the book's MRR): median with P10–P90 and P25–P75
    bands across replications, in $ with readable ticks ($1.2M); ``band_note`` (e.g. which
    uncertainty the bands show) goes under the title."""
    return _fan(monthly, "arr", ax, band_note)


STANDARD_PLOTS = {
    "customers_by_stage": plot_customers_by_stage,
    "mrr_bridge": plot_mrr_bridge,
    "churn": plot_churn,
    "mrr_fan": plot_mrr_fan,
    "arr_fan": plot_arr_fan,
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


def _objective_label(objective: str) -> str:
    known = METRIC_BY_NAME.get(objective)
    return known.label if known else objective.replace("_", " ")


def plot_optimization_history(
    trials: pd.DataFrame, objective: str, ax: Axes | None = None
) -> Figure:
    """An optimisation's history (``simulator.optimize``'s ``trials``): each trial's objective
    (mean over its replications; feasible filled, infeasible hollow, failed trials left out)
    and the best feasible value so far as a step line."""
    fig, ax = _axes(ax, (8, 4.5))
    done = trials[trials["state"] == "complete"]
    ok = done[done["feasible"]]
    bad = done[~done["feasible"]]
    ax.scatter(ok["trial"], ok["objective"], s=22, color="tab:blue", label="feasible trial")
    if len(bad):
        ax.scatter(
            bad["trial"], bad["objective"], s=22, facecolors="none", edgecolors="tab:red",
            label="infeasible trial",
        )  # fmt: skip
    best = trials["best_so_far"]
    ax.step(trials["trial"], best, where="post", color="black", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(_objective_label(objective))
    ax.set_title(f"optimisation history: {_objective_label(objective)} (maximised)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def plot_slices(
    trials: pd.DataFrame,
    params: Sequence[str],
    objective: str,
    axes: Sequence[Axes] | None = None,
) -> Figure:
    """Slice plots of an optimisation (``simulator.optimize``'s ``trials``): one panel per
    searched setting (on ``axes``, one per setting, if given), each trial's objective against
    that setting's value, coloured by trial number; infeasible trials hollow."""
    done = trials[trials["state"] == "complete"]
    if axes is None:
        fig, grid = plt.subplots(1, len(params), figsize=(4.2 * len(params), 3.8), squeeze=False)
        axes = list(grid[0])
    else:
        axes = list(axes)
        fig = axes[0].figure
    last = max(int(trials["trial"].max()), 1) if len(trials) else 1
    points = None
    for ax, name in zip(axes, params, strict=True):
        ok = done[done["feasible"]]
        bad = done[~done["feasible"]]
        points = ax.scatter(
            ok[name], ok["objective"], c=ok["trial"], cmap="viridis", vmin=0, vmax=last, s=24,
        )  # fmt: skip
        if len(bad):
            ax.scatter(
                bad[name], bad["objective"], s=24, facecolors="none", edgecolors="tab:red",
                label="infeasible",
            )  # fmt: skip
            ax.legend(fontsize=8)
        ax.set_xlabel(name)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(_objective_label(objective))
    if points is not None:
        fig.colorbar(points, ax=axes, label="trial", fraction=0.04)
    fig.suptitle(f"{_objective_label(objective)} against each searched setting")
    return fig


def plot_calibration(
    survival: pd.DataFrame, holdout: int | None = None, ax: Axes | None = None
) -> Figure:
    """Observed against fitted survival per persona (``simulator.calibrate.survival_table``:
    ``persona, period, observed, fitted``): observed shares as markers, the sBG fit as a line
    of the same colour; ``holdout=K`` marks the end of a backtest's fitting periods."""
    fig, ax = _axes(ax)
    for i, (persona, g) in enumerate(survival.groupby("persona", sort=False)):
        color = f"C{i}"
        ax.plot(g["period"], g["observed"], "o", ms=4, color=color, label=f"{persona} observed")
        ax.plot(g["period"], g["fitted"], "-", color=color, label=f"{persona} sBG fit")
    if holdout is not None:
        ax.axvline(holdout, color="grey", linestyle="--", linewidth=1, label="backtest: fit ends")
    ax.set_ylim(0, 1.02)
    _finish(ax, "share of the cohort still active", "observed vs fitted survival")
    ax.set_xlabel("periods since acquisition")
    return fig


# ---------------------------------------------------------------------------- dashboard views
def _totals_median(monthly: pd.DataFrame) -> pd.DataFrame:
    """Company totals per month, median across replications."""
    return company_totals(monthly).groupby("month").median(numeric_only=True)


def plot_mrr_by_persona(
    monthly: pd.DataFrame, ax: Axes | None = None, baseline: pd.DataFrame | None = None
) -> Figure:
    """MRR at the end of each month by persona (median across replications): one line per
    persona; with ``baseline`` (same personas), its lines dashed in the same colours."""
    fig, ax = _axes(ax)
    mrr = MONTHLY["mrr_end"]
    for i, (persona, g) in enumerate(monthly.groupby("persona", sort=False)):
        med = g.groupby("month")["mrr_end"].median()
        color = f"C{i}"
        ax.plot(med.index, med, color=color, lw=1.8, label=str(persona))
        if baseline is not None:
            b = baseline[baseline["persona"] == persona].groupby("month")["mrr_end"].median()
            ax.plot(b.index, b, "--", color=color, lw=1.0, label=f"{persona} (baseline)")
    _finish(ax, f"{mrr.title} ({mrr.unit})", "MRR by persona", loc="upper left", ncol=2)
    return fig


def plot_funnel(
    monthly: pd.DataFrame, ax: Axes | None = None, baseline: pd.DataFrame | None = None
) -> Figure:
    """Accounts in each journey stage at the last month (company totals, median across
    replications), on a log scale (the lost prospects outnumber the paying stages), the
    unaware market left out (the title gives it); with ``baseline``, its counts as outlined
    bars."""
    from simulator.results import STAGE_COLUMNS

    fig, ax = _axes(ax)
    last = _totals_median(monthly).iloc[-1]
    stages = [c for c in STAGE_COLUMNS if c != "n_unaware"]
    y = np.arange(len(stages))[::-1]
    counts = np.array([last[c] for c in stages], dtype=float)
    ax.barh(y, np.maximum(counts, 0.5), color="#2a9d8f", label="these settings")
    if baseline is not None:
        b = _totals_median(baseline).iloc[-1]
        base = np.array([b[c] for c in stages], dtype=float)
        ax.barh(y, np.maximum(base, 0.5), fill=False, edgecolor="black", lw=1.2, label="baseline")
    for yi, n in zip(y, counts, strict=True):
        ax.text(max(n, 0.5) * 1.1, yi, f"{n:,.0f}", va="center", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlim(0.5, max(10.0, float(counts.max())) * 8)
    ax.set_yticks(y, [MONTHLY[c].title for c in stages])
    ax.set_xlabel(f"{MONTHLY['n_active'].unit} (log scale)")
    unaware = int(last["n_unaware"])
    ax.set_title(f"Accounts by stage, month {int(last.name)} (unaware: {unaware:,})")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3, axis="x")
    return fig


def plot_support(monthly: pd.DataFrame, ax: Axes | None = None) -> Figure:
    """The support desk month by month (company totals, median across replications): tickets
    arriving, tickets worked and the backlog carried over (left axis), and the share of
    tickets breaching the SLA (right axis, %)."""
    fig, ax = _axes(ax)
    med = _totals_median(monthly)
    for col, style in (("tickets", "-"), ("tickets_worked", ":"), ("support_backlog", "--")):
        ax.plot(med.index, med[col], style, lw=1.5, label=MONTHLY[col].title)
    breach = _monthly_share(med["sla_breaches"], med["tickets"])
    right = ax.twinx()
    right.plot(med.index, breach, color="#e76f51", lw=2, label="SLA breaches (%)")
    right.set_ylabel("% of tickets breaching the SLA", color="#e76f51")
    right.set_ylim(0, max(5.0, float(np.nanmax(breach, initial=0.0)) * 1.2))
    _finish(ax, MONTHLY["tickets"].unit, "Support queue and SLA", loc="upper left")
    right.legend(fontsize=8, loc="upper right")
    return fig


def _monthly_share(num: pd.Series, den: pd.Series) -> np.ndarray:
    """100 × num / den month by month, 0 where den is 0."""
    n, d = num.to_numpy(dtype=float), den.to_numpy(dtype=float)
    return 100 * np.divide(n, d, out=np.zeros(len(d)), where=d > 0)


def paired_difference(monthly: pd.DataFrame, baseline: pd.DataFrame, column: str) -> pd.DataFrame:
    """Company total of ``column`` minus the baseline's, per replication and month (the two
    tables share replications: common random numbers); P10, median and P90 per month."""
    a = company_totals(monthly).set_index(["replication", "month"])[column]
    b = company_totals(baseline).set_index(["replication", "month"])[column]
    diff = (a - b).dropna()
    return diff.groupby(level="month").quantile([0.1, 0.5, 0.9]).unstack()


def plot_difference(
    monthly: pd.DataFrame, baseline: pd.DataFrame, column: str, ax: Axes | None = None
) -> Figure:
    """The paired difference of a company total (these settings − the baseline, same random
    numbers) month by month: the median as bars, its P10-P90 as error bars."""
    fig, ax = _axes(ax)
    q = paired_difference(monthly, baseline, column)
    mid = q[0.5].to_numpy(dtype=float)
    err = np.vstack([mid - q[0.1].to_numpy(float), q[0.9].to_numpy(float) - mid])
    colors = np.where(mid >= 0, "#2a9d8f", "#e76f51")
    ax.bar(q.index, mid, yerr=err, color=colors, capsize=2)
    ax.axhline(0.0, color="0.2", lw=0.8)
    col = MONTHLY[column]
    ax.set_xlabel("month")
    ax.set_ylabel(col.unit)
    ax.set_title(f"{col.title}: these settings − baseline")
    ax.grid(alpha=0.3)
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


# ---------------------------------------------------------------------------- cohorts
#: Titles of the cohort heatmap, by kind of retention.
COHORT_TITLES: dict[str, str] = {
    "logo": "logo retention by cohort (share of the cohort's accounts still paying)",
    "revenue": "revenue retention by cohort (cohort MRR / its MRR in its first month)",
}


def plot_cohort_heatmap(
    source: Any,
    kind: str = "logo",
    persona: str | None = None,
    ax: Axes | None = None,
    book_cohorts: bool = True,
) -> Figure:
    """Retention matrix as a heatmap: one row per cohort month (acquisition month; 0 or less:
    the book, by signup month), one column per month since acquisition, the colour the logo
    or revenue retention share (``simulator.cohorts.cohort_matrix``), pooled over
    replications. ``source`` is a ``SimulationResult`` or its ``cohorts`` table;
    ``book_cohorts=False`` leaves the book's cohorts out (new customers only)."""
    from simulator.cohorts import cohort_matrix

    matrix = cohort_matrix(source, kind, persona)  # type: ignore[arg-type]
    if not book_cohorts:
        matrix = matrix[matrix.index >= 1].dropna(axis=1, how="all")
    fig, ax = _axes(ax, (10, max(4.0, 0.16 * len(matrix) + 2.0)))
    values = matrix.to_numpy(dtype=float)
    top = max(1.0, float(np.nanmax(values))) if np.isfinite(values).any() else 1.0
    image = ax.imshow(
        np.ma.masked_invalid(values),
        aspect="auto",
        cmap="viridis",
        vmin=0.0,
        vmax=top,
        interpolation="nearest",
        extent=(
            matrix.columns.min() - 0.5,
            matrix.columns.max() + 0.5,
            matrix.index.max() + 0.5,
            matrix.index.min() - 0.5,
        ),
    )
    if matrix.index.min() <= 0 < matrix.index.max():
        ax.axhline(0.5, color="white", linewidth=1.0, linestyle="--")
        ax.text(
            matrix.columns.max(),
            0.5,
            "the book above · new customers below ",
            ha="right",
            va="center",
            fontsize=8,
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8},
        )
    fig.colorbar(image, ax=ax, label="retained share", fraction=0.04, pad=0.02)
    ax.set_xlabel("months since acquisition")
    ax.set_ylabel("cohort month (0 or less: the book's signup month)")
    who = f" · {persona}" if persona else ""
    ax.set_title(COHORT_TITLES.get(kind, kind) + who, fontsize=10)
    return fig


# ------------------------------------------------------------------------- finance views
#: Quantiles of the fan charts (``fan_quantiles``).
FAN_QUANTILES: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 0.9)


def money_label(value: float, _pos: object = None) -> str:
    """A short $ tick label: $1.2M, $850k, $2.5B, $40 (minus sign for negatives)."""
    sign = "−" if value < 0 else ""
    v = abs(value)
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if v >= scale:
            return f"{sign}${v / scale:.3g}{unit}"
    return f"{sign}${v:.3g}" if v else "$0"


def money_axis(ax: Axes, axis: str = "y") -> None:
    """Format an axis's ticks as short $ amounts (``money_label``)."""
    from matplotlib.ticker import FuncFormatter

    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(FuncFormatter(money_label))


def fan_quantiles(monthly: pd.DataFrame, metric: str = "arr") -> pd.DataFrame:
    """Quantiles (``FAN_QUANTILES``, numpy's linear percentiles) across replications of the
    company's MRR (``metric="mrr"``) or ARR (``"arr"``) by month, from month 0: month 0 is
    the book at the start (MRR at the start of month 1). Index month, one column per quantile."""
    tot = company_totals(monthly)
    scale = 12.0 if metric == "arr" else 1.0
    first = tot[tot["month"] == tot["month"].min()]
    anchor = pd.DataFrame({"month": 0, "value": scale * first["mrr_start"].to_numpy(float)})
    rest = pd.DataFrame({"month": tot["month"], "value": scale * tot["mrr_end"].to_numpy(float)})
    values = pd.concat([anchor, rest], ignore_index=True)
    q = values.groupby("month")["value"].quantile(list(FAN_QUANTILES)).unstack()
    return q


def _fan(monthly: pd.DataFrame, metric: str, ax: Axes | None, note: str = "") -> Figure:
    fig, ax = _axes(ax)
    q = fan_quantiles(monthly, metric)
    x = q.index.to_numpy()
    ax.fill_between(x, q[0.1], q[0.9], alpha=0.2, color="#264653", label="P10–P90")
    ax.fill_between(x, q[0.25], q[0.75], alpha=0.35, color="#264653", label="P25–P75")
    ax.plot(x, q[0.5], color="#264653", lw=2, label="median")
    ax.set_xlim(0, x.max())
    ax.set_ylim(0, None)
    money_axis(ax)
    name = "ARR" if metric == "arr" else "MRR"
    unit = "$/year" if metric == "arr" else "$/month"
    title = f"{name} forecast from month 0"
    _finish(ax, f"{name} ({unit})", title + (f"\n{note}" if note else ""), loc="upper left")
    return fig


def bridge_movements(monthly: pd.DataFrame) -> pd.DataFrame:
    """The MRR bridge over the whole horizon, per replication (company totals): MRR at the
    start, Σ of each movement (``BRIDGE_PLUS`` up, ``BRIDGE_MINUS`` down), the net movement
    and MRR at the end; one row per replication."""
    tot = company_totals(monthly).sort_values(["replication", "month"])
    g = tot.groupby("replication")
    out = pd.DataFrame(
        {
            "mrr_start": g["mrr_start"].first(),
            **{c: g[c].sum() for c in (*BRIDGE_PLUS, *BRIDGE_MINUS)},
            "mrr_end": g["mrr_end"].last(),
        }
    )
    out["net"] = out["mrr_end"] - out["mrr_start"]
    return out


def plot_mrr_waterfall(monthly: pd.DataFrame, ax: Axes | None = None) -> Figure:
    """MRR-bridge waterfall over the horizon: MRR at month 0, each movement (median across
    replications of its sum over the horizon) as a floating bar, the net movement (median of
    the net, which need not equal the sum of the medians) and MRR at the end (median)."""
    fig, ax = _axes(ax, (9, 4.8))
    b = bridge_movements(monthly).median()
    labels = ["MRR month 0"]
    bottoms, heights, colours = [0.0], [b["mrr_start"]], ["#264653"]
    level = b["mrr_start"]
    for col in BRIDGE_PLUS:
        labels.append(MONTHLY[col].title)
        bottoms.append(level)
        heights.append(b[col])
        colours.append(BRIDGE_COLORS[col])
        level += b[col]
    for col in BRIDGE_MINUS:
        labels.append(MONTHLY[col].title)
        bottoms.append(level - b[col])
        heights.append(b[col])
        colours.append(BRIDGE_COLORS[col])
        level -= b[col]
    labels += ["net new MRR", "MRR end"]
    net = b["net"]
    bottoms += [min(b["mrr_start"], b["mrr_start"] + net), 0.0]
    heights += [abs(net), b["mrr_end"]]
    colours += ["#2a9d8f" if net >= 0 else "#e76f51", "#264653"]
    x = np.arange(len(labels))
    ax.bar(x, heights, bottom=bottoms, color=colours, edgecolor="0.2", lw=0.5)
    signs = ["", *["+"] * len(BRIDGE_PLUS), *["−"] * len(BRIDGE_MINUS), "+" if net >= 0 else "−"]
    for xi, h, bot, sign in zip(x, heights, bottoms, [*signs, ""], strict=True):
        ax.text(xi, bot + h, f"{sign}{money_label(h)}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, labels, rotation=20, ha="right", fontsize=8)
    money_axis(ax)
    ax.set_ylabel("$/month")
    ax.set_title("MRR bridge over the horizon (medians across replications; net = median net)")
    ax.grid(alpha=0.3, axis="y")
    return fig


# ---------------------------------------------------------------------------- journey map
#: Where each stage sits in the journey map's flow diagram: (column, row); row 0 is the journey,
#: row 1 where accounts leave it.
JOURNEY_LAYOUT: dict[str, tuple[float, int]] = {
    "unaware": (0.0, 0),
    "consideration": (1.0, 0),
    "decision": (2.0, 0),
    "onboarding": (3.0, 0),
    "active": (4.0, 0),
    "advocate": (5.0, 0),
    "lost": (2.4, 1),
    "churned": (5.3, 1),
}

#: Names of the transitions that go back in the journey (dashed arrows in the journey map).
BACK_NAMES: dict[tuple[str, str], str] = {
    ("lost", "consideration"): "nurture",
    ("churned", "active"): "win-back",
    ("advocate", "active"): "promoters lapse",
}

#: Colours of the stages in the journey map.
STAGE_COLORS: dict[str, str] = {
    "unaware": "#adb5bd",
    "consideration": "#8ecae6",
    "decision": "#219ebc",
    "onboarding": "#90be6d",
    "active": "#2a9d8f",
    "advocate": "#264653",
    "churned": "#e76f51",
    "lost": "#f4a261",
}


def plot_journey_map(table: pd.DataFrame, persona: str = "total", ax: Axes | None = None) -> Figure:
    """The journey map as a Sankey-style flow diagram: one box per stage (height = the larger
    of the accounts that entered and left it over the run), one band per transition (width =
    accounts that moved, mean per replication); each box says its accounts at the horizon,
    conversion to the next stage and median months in stage.

    Args:
        table: ``simulator.journey_map(result)``.
        persona: a persona of the table, or ``total``.
        ax: axes to draw on (default: a new figure).
    """
    from matplotlib.patches import FancyArrowPatch, PathPatch, Rectangle
    from matplotlib.path import Path as MplPath

    fig, ax = _axes(ax, figsize=(13, 6.5))
    t = table[table["persona"] == persona].set_index("stage")
    stages = list(JOURNEY_LAYOUT)
    size = {s: max(float(t.at[s, "entries"]), float(t.at[s, "exits"])) for s in stages}
    top = max((size[s] for s in stages if JOURNEY_LAYOUT[s][1] == 0), default=0.0)
    low = max((size[s] for s in stages if JOURNEY_LAYOUT[s][1] == 1), default=0.0)
    scale = min(0.5 / top if top > 0 else 1.0, 0.22 / low if low > 0 else 1.0)
    width = 0.14
    centre = {0: 0.68, 1: 0.16}
    box: dict[str, tuple[float, float]] = {}  # stage -> (x, y bottom)
    for s in stages:
        x, row = JOURNEY_LAYOUT[s]
        h = size[s] * scale
        box[s] = (x, centre[row] - h / 2)
    out_used = dict.fromkeys(stages, 0.0)
    in_used = dict.fromkeys(stages, 0.0)
    flows = [
        (a, b, float(t.at[a, f"to_{b}"]))
        for a in stages
        for b in stages
        if a != b and float(t.at[a, f"to_{b}"]) > 0
    ]
    flows.sort(key=lambda f: (JOURNEY_LAYOUT[f[1]][1], JOURNEY_LAYOUT[f[1]][0]))
    forward = [
        f
        for f in flows
        if JOURNEY_LAYOUT[f[1]][0] > JOURNEY_LAYOUT[f[0]][0] or JOURNEY_LAYOUT[f[1]][1] == 1
    ]
    back = [f for f in flows if f not in forward]
    for a, b, v in forward:  # bands, stacked on each box's right (out) and left (in) edge
        h = v * scale
        xa, ya = box[a]
        xb, yb = box[b]
        top_a = ya + size[a] * scale - out_used[a]
        top_b = yb + size[b] * scale - in_used[b]
        out_used[a] += h
        in_used[b] += h
        x0, x1 = xa + width, xb
        bend = max(abs(x1 - x0) / 2, 0.35)
        c0, c1 = x0 + bend, x1 - bend
        verts = [
            (x0, top_a),
            (c0, top_a),
            (c1, top_b),
            (x1, top_b),
            (x1, top_b - h),
            (c1, top_b - h),
            (c0, top_a - h),
            (x0, top_a - h),
            (x0, top_a),
        ]
        codes = [MplPath.MOVETO, *[MplPath.CURVE4] * 3, MplPath.LINETO, *[MplPath.CURVE4] * 3]
        codes.append(MplPath.CLOSEPOLY)
        ax.add_patch(
            PathPatch(
                MplPath(verts, codes), facecolor=STAGE_COLORS[b], edgecolor="none", alpha=0.35
            )
        )
    biggest = max((v for _, _, v in flows), default=1.0)
    for a, b, v in back:  # accounts going back (nurture, win-back, promoters lapsing): arrows
        xa, ya = box[a]
        xb, yb = box[b]
        start = (xa + width / 2, ya + (size[a] * scale if JOURNEY_LAYOUT[a][1] == 0 else 0))
        end = (xb + width / 2, yb + (size[b] * scale if JOURNEY_LAYOUT[b][1] == 0 else 0))
        if JOURNEY_LAYOUT[a][1] == 1:  # from the drop row: leave from the top, enter below
            start = (xa + width / 2, ya + size[a] * scale)
            end = (xb + width / 2, yb)
        ax.add_patch(
            FancyArrowPatch(
                start,
                end,
                connectionstyle="arc3,rad=0.35",
                arrowstyle="-|>",
                mutation_scale=12,
                linewidth=1 + 5 * np.sqrt(v / biggest),
                color=STAGE_COLORS[b],
                alpha=0.8,
                linestyle="--",
            )
        )
        mid = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
        if JOURNEY_LAYOUT[a][1] == JOURNEY_LAYOUT[b][1]:  # an arc along the row: label below it
            mid = (mid[0], mid[1] - 0.12)
        name = BACK_NAMES.get((a, b), f"{a} → {b}")
        ax.text(*mid, f"{name}\n{v:,.0f}", fontsize=7, ha="center", color="#333333")
    for s in stages:
        x, y = box[s]
        h = max(size[s] * scale, 0.004)
        ax.add_patch(Rectangle((x, y), width, h, facecolor=STAGE_COLORS[s], edgecolor="black"))
        r = t.loc[s]
        lines = [s, f"{r['accounts_end']:,.0f} at end"]
        if r["next_stage"] and not np.isnan(r["conversion"]):
            lines.append(f"{100 * r['conversion']:.0f}% → {r['next_stage']}")
        if not np.isnan(r["drop_off"]):
            lines.append(f"{100 * r['drop_off']:.0f}% drop")
        if not np.isnan(r["median_months_in_stage"]):
            lines.append(f"median {r['median_months_in_stage']:.0f} mo")
        row = JOURNEY_LAYOUT[s][1]
        ytext = y + h + 0.015 if row == 0 else y - 0.015
        ax.text(
            x + width / 2,
            ytext,
            "\n".join(lines),
            ha="center",
            va="bottom" if row == 0 else "top",
            fontsize=8,
        )
    ax.set_xlim(-0.5, 6.0)
    ax.set_ylim(-0.12, 1.12)
    ax.axis("off")
    ax.set_title(
        f"Journey map ({persona}): accounts moving between stages over the run, mean per "
        "replication"
    )
    return fig


#: Bar colours of the audit chart, by the stage a touchpoint acts in.
AUDIT_STAGE_COLOURS: dict[str, str] = {
    "consideration": "tab:blue",
    "decision": "tab:orange",
    "onboarding": "tab:green",
    "active": "tab:purple",
    "advocate": "tab:red",
}


def plot_audit(ranking: pd.DataFrame, ax: Axes | None = None) -> Figure:
    """The touchpoint audit (``simulator.audit``'s ``ranking``): one horizontal bar per
    touchpoint at the median net value of its ablation (gross profit it adds over the horizon
    minus its cost, $), its P10-P90 as the error bar, coloured by the stage it acts in, ranked
    top down; zero marked."""
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter

    fig, ax = _axes(ax, figsize=(9, max(3.0, 0.32 * len(ranking) + 1.2)))
    r = ranking.iloc[::-1]
    y = np.arange(len(r))
    mid = r["net_value_median"].to_numpy(dtype=float)
    err = np.vstack(
        [mid - r["net_value_p10"].to_numpy(float), r["net_value_p90"].to_numpy(float) - mid]
    )
    colours = [AUDIT_STAGE_COLOURS.get(s, "tab:gray") for s in r["stage"]]
    ax.barh(y, mid, xerr=np.maximum(err, 0.0), color=colours, alpha=0.8, capsize=3)
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_yticks(y, r["touchpoint"].tolist(), fontsize=8)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1e6:,.1f}M" if x else "0"))
    ax.set_xlabel("net value over the horizon: gross profit added - cost ($)")
    handles = [
        Patch(color=c, label=s) for s, c in AUDIT_STAGE_COLOURS.items() if s in set(r["stage"])
    ]
    ax.legend(handles=handles, fontsize=8, title="stage", title_fontsize=8, loc="lower right")
    ax.set_title("touchpoint audit: value of each touchpoint (on vs off), median and P10-P90")
    return fig
